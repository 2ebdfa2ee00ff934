//! The OCI runtime behind a container, as a trait: [`Builtin`] (the
//! `oci_runtime` library, in-process) or [`External`] (a runc-compatible
//! binary given with `--runtime`: runc, crun, berth-oci). Everything the
//! engine asks of a runtime goes through [`OciRuntime`]; which one a
//! container uses is recorded at create ([`for_container`]).

mod builtin;
mod external;
pub(crate) mod helper;

pub(crate) use builtin::Builtin;
pub(crate) use external::External;

use crate::error::Result;
use crate::Engine;
use std::os::fd::OwnedFd;
use std::path::Path;

/// Descriptors an exec'd process uses as its stdin, stdout and stderr,
/// given by the caller (no copying: the process reads and writes them
/// directly); `None` is /dev/null.
#[derive(Debug, Default)]
pub struct ExecStdio {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

/// What the engine asks of an OCI runtime. Container ids are the engine's;
/// the runtime's state lives under the engine's run root.
pub(crate) trait OciRuntime {
    /// Creates and starts the container of `bundle` (its spec already
    /// read), with `console` the socket a tty's master goes to; the init's
    /// host pid.
    fn create_start(
        &self,
        e: &Engine,
        id: &str,
        bundle: &Path,
        spec: oci_spec::runtime::Spec,
        console: Option<OwnedFd>,
    ) -> Result<i32>;
    /// Sends `sig` to the init (`all`: to every process).
    fn kill(&self, e: &Engine, id: &str, sig: i32, all: bool) -> Result<()>;
    /// Kills and deletes whatever is left of the container. Best effort.
    fn delete_force(&self, e: &Engine, id: &str);
    /// Freezes (`on`) or thaws the container's processes.
    fn pause(&self, e: &Engine, id: &str, on: bool) -> Result<()>;
    /// Applies new resources to the running container's cgroup.
    fn update(&self, e: &Engine, id: &str, res: &oci_spec::runtime::LinuxResources) -> Result<()>;
    /// The host pids of the container's processes.
    fn pids(&self, e: &Engine, id: &str) -> Result<Vec<i32>>;
    /// Starts `process` in the running container. Called in the exec
    /// helper ([`helper`]), a process of its own whose descriptors 0-2 are
    /// the process's stdio (without a tty) and that is a child subreaper
    /// when [`OciRuntime::exec_needs_subreaper`]. Returns the process's
    /// host pid (the helper's child, or re-parented to it) and, with
    /// `process.terminal`, the pty master.
    fn exec_process(
        &self,
        e: &Engine,
        id: &str,
        process: &oci_spec::runtime::Process,
        log: &Path,
    ) -> Result<(i32, Option<OwnedFd>)>;
    /// Whether the exec'd process is not the helper's own child (the
    /// runtime runs it detached and exits) and is re-parented to it.
    fn exec_needs_subreaper(&self) -> bool {
        false
    }
}

/// The runtime a container was created with.
pub(crate) fn for_container(e: &Engine, id: &str) -> Box<dyn OciRuntime> {
    match e.load_config(id) {
        Ok(c) => for_record(&c),
        Err(_) => of(None),
    }
}

/// [`for_container`] of a record already read.
pub(crate) fn for_record(c: &crate::container::Container) -> Box<dyn OciRuntime> {
    of(c.options.runtime.as_deref())
}

/// The built-in runtime, or the binary at `path`.
pub(crate) fn of(path: Option<&Path>) -> Box<dyn OciRuntime> {
    match path {
        Some(p) => Box::new(External::new(p)),
        None => Box::new(Builtin),
    }
}

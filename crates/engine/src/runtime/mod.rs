//! The OCI runtime behind a container, as a trait: [`Builtin`] (the
//! `oci_runtime` library, in-process) or [`External`] (a runc-compatible
//! binary given with `--runtime`: runc, crun, berth-oci). Everything the
//! engine asks of a runtime goes through [`OciRuntime`]; which one a
//! container uses is recorded at create ([`for_container`]).

mod builtin;
mod external;

pub(crate) use builtin::Builtin;
pub(crate) use external::External;

use crate::error::Result;
use crate::Engine;
use std::os::fd::OwnedFd;
use std::path::Path;

/// Descriptors for an exec'd process; `None` inherits the caller's.
#[derive(Debug, Default)]
pub struct ExecStdio {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

/// A process to run in a running container.
pub(crate) struct RuntimeExec<'a> {
    pub process: oci_spec::runtime::Process,
    /// Return once the process runs (exit code 0).
    pub detach: bool,
    /// With a pty (when not detached), proxied to `stdio` or the caller's
    /// stdin/stdout.
    pub tty: bool,
    /// The pty's size (rows, cols).
    pub console_size: Option<(u16, u16)>,
    /// Where to write the process's host pid once it runs.
    pub pid_file: Option<&'a Path>,
    pub stdio: ExecStdio,
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
    /// Runs a process in the running container; its exit code.
    fn exec(&self, e: &Engine, id: &str, x: RuntimeExec) -> Result<i32>;
    /// Whether the runtime sizes a new pty from the process's
    /// `consoleSize` (an external one: it owns the pty until it hands the
    /// master over).
    fn sizes_console_from_spec(&self) -> bool {
        false
    }
}

/// The runtime a container was created with.
pub(crate) fn for_container(e: &Engine, id: &str) -> Box<dyn OciRuntime> {
    of(e.load_config(id)
        .ok()
        .and_then(|c| c.options.runtime)
        .as_deref())
}

/// The built-in runtime, or the binary at `path`.
pub(crate) fn of(path: Option<&Path>) -> Box<dyn OciRuntime> {
    match path {
        Some(p) => Box::new(External::new(p)),
        None => Box::new(Builtin),
    }
}

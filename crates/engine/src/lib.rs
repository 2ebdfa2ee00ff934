//! Berth's container engine: the container side of a daemonless,
//! docker-compatible engine, as a library a thin CLI calls.
//!
//! - [`Engine`]: a store root (`/var/lib/berth` by default) holding images
//!   (the `image` crate) and containers under `containers/<id>/`:
//!   `config.v2.json` ([`Container`]), `state.json` ([`State`]),
//!   `bundle/config.json` (the OCI spec), `userdata/` (hosts, hostname,
//!   resolv.conf), `<id>-json.log`, and the overlay `upper/`, `work/`,
//!   `rootfs/`. Writes are atomic (temp, fsync, rename, fsync dir) under
//!   file locks; names are unique through `names.json`.
//! - [`spec::generate`]: image config + [`CreateOptions`] → OCI spec with
//!   docker's defaults (capabilities, seccomp, masked paths, mounts...).
//! - The monitor: `start` forks a daemonized process per container that
//!   creates it through the `oci_runtime` library (or an external runtime),
//!   keeps its stdout/stderr pipes, writes the log ([`logs`]: json-file,
//!   local or none, rotated and compressed as docker), relays output
//!   to an attached caller, and records the exit.
//! - Operations: [`Engine::create`], [`Engine::start`], [`Engine::run`],
//!   [`Engine::stop`], [`Engine::kill`], [`Engine::remove`], [`Engine::list`],
//!   [`Engine::logs`], [`Engine::wait`], [`Engine::inspect`],
//!   [`Engine::pause`], [`Engine::unpause`], [`Engine::exec`],
//!   [`Engine::rename`], [`Engine::prune`], [`Engine::top`],
//!   [`Engine::cleanup`].
//!
//! Errors carry docker's CLI exit codes ([`Error::exit_code`]).
#![deny(unsafe_code)]

/// Docker Engine API request and result shapes.
pub mod api;
pub mod caps;
pub mod commit;
pub mod container;
pub mod cp;
pub mod diff;
pub mod error;
pub mod eventlog;
mod exec_tty;
mod exit;
pub mod export;
pub mod filters;
pub mod fscopy;
#[allow(unsafe_code)]
mod fssys;
pub mod fsutil;
pub mod health;
pub mod history;
pub mod images;
pub mod init;
mod internal;
pub mod inuse;
pub mod logs;
mod monitor;
mod netdefer;
pub mod network;
pub mod ops;
pub mod options;
mod runtime;
pub mod seccomp;
pub mod spec;
pub mod stats;
mod store;
pub mod stream;
#[allow(unsafe_code)]
mod sys;
pub mod system;
/// Docker's time formats (berth_util's), under the engine's old name.
pub use berth_util::time as timeutil;
pub mod user;
pub mod volumes;

pub use container::{Config, Container, HostConfig, MountPoint, State, Status};
pub use error::{Error, Result};
pub use eventlog::EventsOptions;
/// The event journal (crate `berth-events`): messages, filters, reader.
pub use events;
pub use internal::internal_main;
pub use logs::LogsOptions;
pub use monitor::Attached;
pub use ops::attach::AttachOptions;
pub use ops::exec::{
    ExecConfig, ExecInspect, ExecIo, ExecOptions, ExecStartOptions, ExecStream, ProcessConfig,
};
pub use ops::lifecycle::{Changed, WaitCondition};
pub use ops::{
    ContainerInspect, ContainersPruneReport, InspectObject, ListOptions, NetworksPruneReport,
    ObjectKind, Port, PruneOptions, Summary, SystemPruneOptions, SystemPruneReport, TopOutput,
    UpdateFlags, UpdateOptions, UpdateReport, VolumesPruneReport,
};
pub use options::{CreateFlags, CreateOptions};
pub use runtime::ExecStdio;
pub use stream::{Chunk, OutputStream, Resizer, Sent, StdinWriter, StreamKind};

/// Starts the kernel's wait that a container's first cgroup attach would
/// otherwise make on the critical path (see [`cgroups::prime_attach`]);
/// `run` and `start` call it first thing.
pub fn prime_cgroup_attach() {
    cgroups::prime_attach();
}

use std::path::{Path, PathBuf};

/// The engine over one store root.
#[derive(Debug, Clone)]
pub struct Engine {
    root: PathBuf,
    run_root: PathBuf,
    images: image::Store,
    monitor_exe: Option<PathBuf>,
    init_exe: Option<PathBuf>,
    helper: Option<PathBuf>,
    /// Exec helpers are forked from this process (see
    /// [`Engine::with_inline_exec_helper`]).
    inline_exec_helper: bool,
    /// Set in the monitor's exit command: network teardowns wait until the
    /// client has its exit code (see [`network::Deferral`]).
    net_deferral: Option<netdefer::Deferral>,
}

impl Engine {
    /// Opens (creating if needed) the engine at `root`. The runtime's
    /// volatile state goes to `/run/berth` for the default root, else
    /// `<root>/run`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Engine> {
        let root: PathBuf = root.into();
        let run_root = if root == Path::new(image::DEFAULT_ROOT) {
            PathBuf::from("/run/berth")
        } else {
            root.join("run")
        };
        Engine::open_with(root, run_root)
    }

    pub fn open_with(root: impl Into<PathBuf>, run_root: impl Into<PathBuf>) -> Result<Engine> {
        let root = root.into();
        let run_root = run_root.into();
        let images = image::Store::open(&root)?;
        std::fs::create_dir_all(root.join("containers"))
            .map_err(|e| Error::io(format!("cannot create {}/containers", root.display()), e))?;
        // Container states (with their specs) and network leases: root's only.
        image::private_dir(&run_root)?;
        // The monitor (crates/monitor) and init (crates/init) programs:
        // $BERTH_MONITOR / $BERTH_INIT, else next to this program. The
        // monitor runs `HELPER internal ...`: $BERTH_HELPER, else this
        // program (berth).
        let monitor_exe = helper_exe("BERTH_MONITOR", "berth-monitor");
        let helper = std::env::var_os("BERTH_HELPER")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::current_exe().ok());
        let init_exe = helper_exe("BERTH_INIT", "berth-init");
        Ok(Engine {
            root,
            run_root,
            images,
            monitor_exe,
            init_exe,
            helper,
            inline_exec_helper: false,
            net_deferral: None,
        })
    }

    /// Network teardowns of this engine are deferred until
    /// [`network::finish_deferred`] (the monitor's exit command).
    pub(crate) fn deferring_network_teardown(mut self) -> Engine {
        self.net_deferral = Some(netdefer::Deferral::default());
        self
    }

    pub(crate) fn net_deferral(&self) -> Option<&netdefer::Deferral> {
        self.net_deferral.as_ref()
    }

    /// Uses `exe` as the monitor (`berth-monitor`, crates/monitor).
    pub fn with_monitor_exe(mut self, exe: Option<PathBuf>) -> Engine {
        self.monitor_exe = exe;
        self
    }

    /// Uses `exe` (a program calling [`internal_main`] for `internal ...`)
    /// for the monitor's create-start, cleanup and healthcheck commands and
    /// the exec helper.
    pub fn with_helper_exe(mut self, exe: Option<PathBuf>) -> Engine {
        self.helper = exe;
        self
    }

    /// Declares that this process runs from a sealed copy of its binary
    /// ([`reexec_sealed`]) and has no other thread (none holding a lock)
    /// when it starts execs, as `berth exec` and the healthcheck probe: the
    /// exec helper is then forked from it, saving a program start. Without
    /// it, or if the process does not run from a sealed copy after all, the
    /// helper is `HELPER internal exec-helper`, a program of its own that
    /// re-executes from a sealed copy of itself (a multi-threaded library
    /// caller, such as an API service, is never forked).
    pub fn with_inline_exec_helper(mut self, on: bool) -> Engine {
        self.inline_exec_helper = on;
        self
    }

    pub(crate) fn inline_exec_helper(&self) -> bool {
        self.inline_exec_helper
    }

    /// The program that serves `internal ...` (the monitor's commands, the
    /// exec helper): [`Engine::with_helper_exe`], else `$BERTH_HELPER`, else
    /// this program.
    pub fn helper_exe(&self) -> Option<&Path> {
        self.helper.as_deref()
    }

    pub fn monitor_exe(&self) -> Option<&Path> {
        self.monitor_exe.as_deref()
    }

    /// berth-init, for `--init`: $BERTH_INIT, else next to this program.
    pub fn init_exe(&self) -> Option<&Path> {
        self.init_exe.as_deref()
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The OCI runtime's state root.
    pub fn run_root(&self) -> &Path {
        &self.run_root
    }

    pub fn images(&self) -> &image::Store {
        &self.images
    }

    /// `containers/<id>`.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.root.join("containers").join(id)
    }

    /// The json-file log of a container.
    pub fn log_path(&self, id: &str) -> PathBuf {
        self.container_dir(id).join(format!("{id}-json.log"))
    }

    /// Where the container's root filesystem is mounted while it runs.
    pub fn rootfs_path(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("rootfs")
    }
}

/// CVE-2019-5736: until it execs, a process that enters a container is a
/// copy of this program, and a container process that reaches its
/// /proc/PID/exe (an entrypoint of `#!/proc/self/exe` makes the runtime
/// itself run inside the container) could reopen the host's binary for
/// writing. Every verb that enters a container (`exec`, `internal
/// create-start`, `internal healthcheck`, `internal exec-helper`) first
/// re-executes from a read-only detached mount of the binary (or, where
/// mounts are not allowed, a sealed memfd copy), as berth-oci does. Returns
/// once running from such a copy; an error if no such copy can be made (the
/// caller must then refuse rather than go on from its file).
pub fn reexec_sealed() -> Result<()> {
    if oci_runtime::sys::running_from_sealed_copy() {
        return Ok(());
    }
    // /proc/self/exe will no longer name this file: hand the helpers' paths on.
    let exe = std::env::current_exe().ok();
    let helpers = [
        (
            "BERTH_MONITOR",
            helper_exe("BERTH_MONITOR", "berth-monitor"),
        ),
        ("BERTH_INIT", helper_exe("BERTH_INIT", "berth-init")),
        ("BERTH_HELPER", exe.clone()),
    ];
    for (var, path) in helpers {
        if let (None, Some(p)) = (std::env::var_os(var).filter(|v| !v.is_empty()), path) {
            std::env::set_var(var, p);
        }
    }
    oci_runtime::sys::reexec_from_sealed_copy().map_err(|e| {
        Error::msg(format!(
            "cannot re-execute from a read-only copy of {}: {e}",
            exe.as_deref()
                .unwrap_or(std::path::Path::new("/proc/self/exe"))
                .display()
        ))
    })
}

/// A helper program: `$var`, else `name` next to the running executable.
fn helper_exe(var: &str, name: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|p| p.parent().map(|d| d.join(name)))
                .filter(|p| p.is_file())
        })
}

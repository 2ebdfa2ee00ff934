//! Container operations: create, start, run, stop, kill, rm, ps, logs,
//! wait, inspect, pause/unpause, exec, rename, prune, top, cleanup.

use crate::container::{Container, State, Status};
use crate::error::{Context, Error, Result};
use crate::fsutil::{self, Durability};
use crate::logs::{self, LogsOptions};
use crate::monitor::{self, Attached, Launch};
use crate::options::CreateOptions;
use crate::spec::{self, SpecContext};
use crate::store::{monitor_alive, CreateGuard, CONFIG};
use crate::user::LayerView;
use crate::{sys, timeutil, Engine};
use serde_json::{json, Value};
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How the container's processes are driven: the built-in runtime library
/// or an external OCI runtime binary (`--runtime`).
pub(crate) enum Runtime {
    Builtin,
    External(PathBuf),
}

pub(crate) fn runtime_for(e: &Engine, id: &str) -> Runtime {
    match e.load_config(id).ok().and_then(|c| c.options.runtime) {
        Some(p) => Runtime::External(p),
        None => Runtime::Builtin,
    }
}

impl Runtime {
    fn external(&self, e: &Engine, args: &[&str]) -> Result<Vec<u8>> {
        let Runtime::External(rt) = self else {
            return Ok(vec![]);
        };
        let out = std::process::Command::new(rt)
            .arg("--root")
            .arg(e.run_root())
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .ctx(|| format!("cannot run {}", rt.display()))?;
        if !out.status.success() {
            let msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
            return Err(Error::msg(format!("{} {}: {msg}", rt.display(), args[0])));
        }
        Ok(out.stdout)
    }

    pub(crate) fn kill(&self, e: &Engine, id: &str, sig: i32, all: bool) -> Result<()> {
        match self {
            Runtime::Builtin => Ok(oci_runtime::ops::kill(e.run_root(), id, sig, all)?),
            Runtime::External(_) => {
                let s = sig.to_string();
                let mut a = vec!["kill"];
                if all {
                    a.push("--all");
                }
                a.extend([id, s.as_str()]);
                self.external(e, &a).map(|_| ())
            }
        }
    }

    pub(crate) fn delete_force(&self, e: &Engine, id: &str) {
        match self {
            Runtime::Builtin => {
                let _ = oci_runtime::ops::delete(e.run_root(), id, true);
            }
            Runtime::External(_) => {
                let _ = self.external(e, &["delete", "--force", id]);
            }
        }
    }

    fn pause(&self, e: &Engine, id: &str, on: bool) -> Result<()> {
        match self {
            Runtime::Builtin if on => Ok(oci_runtime::ops::pause(e.run_root(), id)?),
            Runtime::Builtin => Ok(oci_runtime::ops::resume(e.run_root(), id)?),
            Runtime::External(_) => self
                .external(e, &[if on { "pause" } else { "resume" }, id])
                .map(|_| ()),
        }
    }

    fn pids(&self, e: &Engine, id: &str) -> Result<Vec<i32>> {
        match self {
            Runtime::Builtin => Ok(oci_runtime::ops::pids(e.run_root(), id)?),
            Runtime::External(_) => {
                let out = self.external(e, &["ps", "--format", "json", id])?;
                serde_json::from_slice(&out).map_err(|e| Error::msg(format!("runtime ps: {e}")))
            }
        }
    }
}

/// One row of `ps`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Summary {
    pub id: String,
    /// The image as the user named it.
    pub image: String,
    /// Path and arguments joined by spaces (the CLI quotes and truncates).
    pub command: String,
    pub created: String,
    /// `Up 3 seconds`, `Exited (0) 5 seconds ago`, `Created`...
    pub status: String,
    pub state: Status,
    pub exit_code: i32,
    /// The name, without docker's leading `/`.
    pub names: String,
    pub labels: std::collections::BTreeMap<String, String>,
    /// Docker's `Mounts`: each mount's volume name, else its source.
    pub mounts: Vec<String>,
    /// How many of those are `local` volumes.
    pub local_volumes: usize,
    /// The networks it is attached to (or configured for), sorted.
    pub networks: Vec<String>,
}

/// Options of `exec`.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub cmd: Vec<String>,
    /// `-e` (added to the container's environment).
    pub env: Vec<String>,
    /// `-u` (default: the container's user).
    pub user: Option<String>,
    /// `-w` (default: the container's working directory).
    pub workdir: Option<String>,
    pub privileged: bool,
    /// `-d`: return once the process runs (exit code 0).
    pub detach: bool,
    /// `-t`: a pty, proxied to the caller's stdin/stdout.
    pub tty: bool,
    /// With `-t`: the pty's size (rows, cols).
    pub console_size: Option<(u16, u16)>,
    /// Where to write the process's host pid once it runs (the
    /// healthcheck kills a probe past its timeout).
    pub pid_file: Option<PathBuf>,
}

/// Descriptors for an exec'd process; `None` inherits the caller's.
#[derive(Debug, Default)]
pub struct ExecStdio {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

/// `top`: column titles and one row per process.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TopOutput {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

fn is_mounted(p: &Path) -> bool {
    let Ok(mi) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = p.to_string_lossy();
    mi.lines()
        .any(|l| l.split(' ').nth(4).is_some_and(|m| m == want))
}

impl Engine {
    // ---- create / start / run ------------------------------------------

    /// `create`: records a new container; returns its id.
    pub fn create(&self, opts: &CreateOptions) -> Result<String> {
        self.create_guarded(opts).map(|(id, _)| id)
    }

    /// `create`, the container marked as being created (never pruned) until
    /// the guard is dropped.
    fn create_guarded(&self, opts: &CreateOptions) -> Result<(String, CreateGuard)> {
        if opts.image.is_empty() {
            return Err(Error::invalid("an image is required"));
        }
        // A lease from resolving the image until the record is written:
        // `rmi` and `image prune` decide under the exclusive GC lock that
        // an image is unused, and GC keeps the layers of the containers it
        // sees; neither runs in between.
        let lease = self.images.lease()?;
        let info = self.images.resolve(&opts.image)?;
        let image_cfg = self.images.config(&info.record)?;
        let cc = image_cfg.config.clone().unwrap_or_default();
        let lowers = self.images.prepare_rootfs(&info.record)?;
        let id = fsutil::random_id()?;
        let dir = self.container_dir(&id);
        let view = LayerView {
            lowers: lowers.clone(),
        };
        let rootfs = dir.join("rootfs");
        let userdata = dir.join("userdata");
        let ctx = SpecContext {
            id: &id,
            rootfs: &rootfs,
            userdata: &userdata,
            layers: &view,
            host_resolv_conf: Path::new("/etc/resolv.conf"),
            host_hosts: Path::new("/etc/hosts"),
            volumes_dir: &self.volumes_dir(),
        };
        let mut gen = spec::generate(opts, &cc, &ctx)?;
        let net = crate::network::prepare(self, opts, &id)?;
        crate::network::apply_to_spec(&net, &mut gen.spec);
        gen.container.host_config.network_mode = net.mode.name();
        if opts.init {
            crate::init::apply(&mut gen.spec, self.init_exe())?;
            gen.container.host_config.init = Some(true);
        }
        crate::health::apply(opts.healthcheck.as_ref(), &cc, &mut gen.container)?;
        // As docker's -v: a missing host directory is created.
        for m in gen.container.mounts.iter().filter(|m| m.kind == "bind") {
            let p = Path::new(&m.source);
            if !p.exists() {
                std::fs::create_dir_all(p).map_err(|e| {
                    Error::flag(
                        "--volume",
                        &m.source,
                        format!("cannot create the source: {e}"),
                    )
                })?;
            }
        }
        let _l = self.lock_store()?;
        // Networks are removed under the store lock: the one prepared above
        // is checked again under it (from here on the container record
        // keeps `network rm` and `prune` away, see `prune_networks`).
        if let crate::network::Mode::Bridge(n) = &net.mode {
            if n != crate::network::DEFAULT_NETWORK {
                crate::network::manager(self)
                    .get(n)
                    .map_err(|e| Error::msg(e.to_string()))?;
            }
        }
        let durability = Durability::for_container(gen.container.host_config.auto_remove);
        let name = self.reserve_name(opts.name.as_deref(), &id, durability)?;
        let mut c = gen.container.clone();
        c.id = id.clone();
        c.name = name.clone();
        c.created = timeutil::now();
        c.image_ref = opts.image.clone();
        c.image = info.record.id.to_string();
        c.lowers = lowers;
        let mut guard = None;
        let r = (|| -> Result<()> {
            for d in ["", "upper", "work", "rootfs", "userdata", "bundle"] {
                let p = if d.is_empty() {
                    dir.clone()
                } else {
                    dir.join(d)
                };
                std::fs::create_dir(&p).ctx(|| format!("cannot create {}", p.display()))?;
                if d.is_empty() {
                    guard = Some(self.creating(&id)?);
                }
                if d.is_empty() && durability == Durability::Atomic {
                    let v = dir.join(crate::store::VOLATILE);
                    std::fs::write(&v, image::boot_id())
                        .ctx(|| format!("cannot create {}", v.display()))?;
                }
            }
            // Made again from the records should they be lost: as docker,
            // written without fsync.
            for (f, data) in [
                ("hosts", &gen.hosts),
                ("hostname", &gen.hostname),
                ("resolv.conf", &gen.resolv_conf),
            ] {
                fsutil::write_atomic_with(&userdata.join(f), data.as_bytes(), Durability::Atomic)?;
            }
            fsutil::write_json_with(&dir.join("bundle/config.json"), &gen.spec, durability)?;
            // (No state.json yet: a missing one reads as the created state.)
            self.ensure_volumes(&c, &gen.mount_specs)?;
            // Last: its presence makes the container exist.
            self.save_config(&c)
        })();
        let guard = match (r, guard) {
            (Ok(()), Some(g)) => g,
            (r, _) => {
                let _ = std::fs::remove_dir_all(&dir);
                if let Ok(mut names) = self.load_names() {
                    names.remove(&name);
                    let _ = self.save_names_with(&names, durability);
                }
                drop(_l);
                drop(lease);
                let _ = self.remove_anonymous_volumes(&c.mounts);
                return Err(r.err().unwrap_or_else(|| Error::msg("create: no lock")));
            }
        };
        drop(_l);
        drop(lease);
        // New volumes are filled from the image now, as docker does.
        if let Err(e) = self.fill_volumes(&c) {
            let _ = self.remove_auto(&id);
            return Err(e);
        }
        Ok((id, guard))
    }

    pub(crate) fn mount_rootfs(&self, c: &Container) -> Result<()> {
        let dir = self.container_dir(&c.id);
        let target = dir.join("rootfs");
        if is_mounted(&target) {
            sys::unmount(&target).ctx(|| format!("unmount {}", target.display()))?;
        }
        let upper = dir.join("upper");
        let work = dir.join("work");
        // Layers left stale by a restart of the machine are unpacked again.
        self.images.revalidate_lowers(&c.lowers)?;
        let opts = image::overlay_options(&c.lowers, Some(&upper), Some(&work))?;
        if c.host_config.auto_remove {
            // No sync of the host filesystem at unmount (it costs a syncfs of
            // everything dirty there). The kernel leaves a marker that
            // refuses a later volatile mount, as the upper directory may be
            // incomplete after a crash: within the boot that made the
            // container (recorded in its `volatile` file) it is not.
            let marker = work.join("work/incompat/volatile");
            if marker.exists() {
                let made =
                    std::fs::read_to_string(dir.join(crate::store::VOLATILE)).unwrap_or_default();
                if made.trim() != image::boot_id() {
                    return Err(Error::msg(format!(
                        "container {}: its filesystem did not survive the restart of the machine (--rm containers are volatile); remove it",
                        fsutil::short_id(&c.id)
                    )));
                }
                std::fs::remove_dir_all(&marker)
                    .ctx(|| format!("cannot remove {}", marker.display()))?;
            }
            // Kernels before 5.10 do not know the option: mount as usual there.
            if sys::mount_overlay(&target, &format!("{opts},volatile")).is_ok() {
                return Ok(());
            }
        }
        sys::mount_overlay(&target, &opts)
            .ctx(|| format!("cannot mount the overlay at {}", target.display()))
    }

    pub(crate) fn start_inner(&self, id: &str, attach: Option<OwnedFd>) -> Result<i32> {
        self.start_as(id, attach, false)
    }

    /// Starts the container; `policy` is a restart policy's start, which a
    /// `stop` (or `rm -f`) since the exit cancels. A user's start clears
    /// that mark. Returns the init pid (0 when cancelled).
    pub(crate) fn start_as(&self, id: &str, attach: Option<OwnedFd>, policy: bool) -> Result<i32> {
        // A restart policy's start finds the container "Restarting".
        let restarting = |st: &State| policy && st.status == Status::Restarting;
        let st = self.state(id)?;
        if st.running() && !restarting(&st) {
            if st.status == Status::Paused {
                return Err(Error::Conflict(
                    "cannot start a paused container, try unpause instead".into(),
                ));
            }
            return Ok(st.pid);
        }
        let c = self.load_config(id)?;
        let lock = self.lock_container(id)?;
        let mut st = self.load_state_raw(id)?;
        if st.running() && monitor_alive(&st) && !restarting(&st) {
            return Ok(st.pid);
        }
        if st.stopped_by_user {
            if policy {
                return Ok(0);
            }
            st.stopped_by_user = false;
            self.save_state(id, &st)?;
        }
        // A start whose caller was killed goes on in its monitor: not a
        // leftover to delete, and not to start twice.
        if self.start_in_progress(id) {
            return Err(Error::Conflict(format!(
                "container {} is being started by its monitor",
                crate::fsutil::short_id(id)
            )));
        }
        // Leftovers of an earlier run.
        runtime_for(self, id).delete_force(self, id);
        self.mount_rootfs(&c)?;
        let launch = Launch {
            id: id.to_string(),
            stdin: c.config.open_stdin,
            tty: c.config.tty,
            volatile: c.host_config.auto_remove,
            health_ms: self
                .health_interval(id)
                .map(|d| d.as_millis().max(1) as u64)
                .unwrap_or(0),
        };
        // Volumes with mount options are mounted once the rootfs is up.
        match self
            .populate_volumes(&c, false)
            .and_then(|()| crate::network::setup(self, &c).map(|_| ()))
            .and_then(|()| monitor::spawn(self, &launch, attach))
        {
            Ok(pid) => Ok(pid),
            Err(e) => {
                let _ = crate::network::teardown(self, id);
                let _ = sys::unmount(&self.rootfs_path(id));
                self.release_volumes(id);
                let mut st = self.load_state_raw(id).unwrap_or_default();
                st.status = if st.started_at == timeutil::ZERO_TIME {
                    Status::Created
                } else {
                    Status::Exited
                };
                st.exit_code = match e.exit_code() {
                    126 => 126,
                    127 => 127,
                    _ => 128,
                };
                st.error = e.to_string();
                st.pid = 0;
                st.monitor_pid = 0;
                let _ = self.save_state(id, &st);
                drop(lock);
                if c.host_config.auto_remove {
                    let _ = self.remove_auto(id);
                }
                Err(e)
            }
        }
    }

    /// `start` (detached): returns once the container's process runs.
    pub fn start(&self, container: &str) -> Result<()> {
        let id = self.lookup(container)?;
        self.start_inner(&id, None).map(|_| ())
    }

    /// `start -a`: starts and attaches to the container's output (a
    /// running container is attached to).
    pub fn start_attached(&self, container: &str) -> Result<Attached> {
        let id = self.lookup(container)?;
        let st = self.state(&id)?;
        if st.running() {
            return self.attach(&id);
        }
        let tty = self.load_config(&id)?.config.tty;
        let (mine, theirs) = sys::socketpair().map_err(|e| Error::io("socketpair", e))?;
        self.start_inner(&id, Some(theirs))?;
        Ok(Attached {
            engine: self.clone(),
            id,
            sock: std::os::unix::net::UnixStream::from(mine),
            tty,
        })
    }

    /// `attach`: connects to a running container's monitor.
    pub fn attach(&self, container: &str) -> Result<Attached> {
        let id = self.lookup(container)?;
        let st = self.state(&id)?;
        if !st.running() {
            return Err(Error::Conflict(
                "You cannot attach to a stopped container, start it first".into(),
            ));
        }
        if st.status == Status::Paused {
            return Err(Error::Conflict(
                "You cannot attach to a paused container, unpause it first".into(),
            ));
        }
        let tty = self.load_config(&id)?.config.tty;
        let sock = monitor::connect(self, &id)?;
        Ok(Attached {
            engine: self.clone(),
            id,
            sock,
            tty,
        })
    }

    /// `run` attached: create + start; read the output and exit code from
    /// the returned handle. A failed start of a `--rm` container removes it.
    /// (Not pruned before it runs.)
    pub fn run(&self, opts: &CreateOptions) -> Result<Attached> {
        let (id, _creating) = self.create_guarded(opts)?;
        self.start_attached(&id)
    }

    /// `run -d`: create + start; returns the id once the process runs
    /// (not pruned before).
    pub fn run_detached(&self, opts: &CreateOptions) -> Result<String> {
        let (id, _creating) = self.create_guarded(opts)?;
        self.start(&id)?;
        Ok(id)
    }

    // ---- stop / kill / wait ---------------------------------------------

    /// Waits until the container is not running; false on timeout.
    fn wait_exit(&self, id: &str, timeout: Option<Duration>) -> bool {
        let t = Instant::now();
        loop {
            match self.state(id) {
                Ok(st) if st.running() => {}
                _ => return true,
            }
            if timeout.is_some_and(|d| t.elapsed() >= d) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn mark_stopped_by_user(&self, id: &str) {
        if let Ok(_l) = self.lock_container(id) {
            if let Ok(mut st) = self.load_state_raw(id) {
                st.stopped_by_user = true;
                let _ = self.save_state(id, &st);
            }
        }
    }

    /// `stop`: the stop signal, then SIGKILL after `timeout` seconds
    /// (default: the container's `--stop-timeout`, else 10; -1 waits forever).
    pub fn stop(&self, container: &str, timeout: Option<i64>) -> Result<()> {
        let id = self.lookup(container)?;
        // First, so a restart policy between two runs does not start it again.
        self.mark_stopped_by_user(&id);
        let st = self.state(&id)?;
        if !st.running() {
            return Ok(());
        }
        let c = self.load_config(&id)?;
        let sig = match &c.config.stop_signal {
            Some(s) => crate::options::parse_signal("--stop-signal", s)?,
            None => libc::SIGTERM,
        };
        let t = timeout.or(c.config.stop_timeout).unwrap_or(10);
        let rt = runtime_for(self, &id);
        let _ = rt.kill(self, &id, sig, false);
        if st.status == Status::Paused {
            let _ = rt.pause(self, &id, false);
        }
        let limit = (t >= 0).then(|| Duration::from_secs(t as u64));
        if self.wait_exit(&id, limit) {
            return Ok(());
        }
        let _ = rt.kill(self, &id, libc::SIGKILL, true);
        if self.wait_exit(&id, Some(Duration::from_secs(30))) {
            return Ok(());
        }
        Err(Error::msg(format!(
            "cannot stop container {}: it did not exit after SIGKILL",
            fsutil::short_id(&id)
        )))
    }

    /// `kill -s SIGNAL` (default KILL).
    pub fn kill(&self, container: &str, signal: Option<&str>) -> Result<()> {
        let id = self.lookup(container)?;
        let sig = match signal {
            Some(s) => crate::options::parse_signal("--signal", s)?,
            None => libc::SIGKILL,
        };
        let st = self.state(&id)?;
        if !st.running() {
            return Err(Error::Conflict(format!(
                "cannot kill container {container}: container {id} is not running"
            )));
        }
        // Docker (daemon/kill.go): SIGKILL, the container's stop signal,
        // or any signal when none is configured makes the container exit
        // on its next exit (restart policies do not apply); other signals
        // leave the policy alone.
        let c = self.load_config(&id)?;
        let stop_signal = match &c.config.stop_signal {
            Some(s) => Some(crate::options::parse_signal("--stop-signal", s)?),
            None => None,
        };
        if sig == libc::SIGKILL || stop_signal.map_or(true, |s| s == sig) {
            self.mark_stopped_by_user(&id);
        }
        if st.status == Status::Restarting {
            // No process to signal; the mark keeps it from starting again.
            return Ok(());
        }
        let rt = runtime_for(self, &id);
        rt.kill(self, &id, sig, sig == libc::SIGKILL)?;
        if st.status == Status::Paused && sig == libc::SIGKILL {
            let _ = rt.pause(self, &id, false);
        }
        if sig == libc::SIGKILL {
            // As docker's kill: returns once the container has exited.
            self.wait_exit(&id, Some(Duration::from_secs(10)));
        }
        Ok(())
    }

    /// `wait`: blocks until the container's current run exits (docker's
    /// `not-running` condition: a restart policy starting it again does
    /// not keep it waiting); that run's exit code.
    pub fn wait(&self, container: &str) -> Result<i32> {
        let id = self.lookup(container)?;
        let first = self.state(&id)?;
        if !first.running() {
            return Ok(first.exit_code);
        }
        // As an attached client, the monitor's exit command sends us the
        // code once the container is torn down: a --rm container is gone
        // by then, and docker's wait still prints its code.
        if let Some(code) = monitor::connect(self, &id)
            .ok()
            .and_then(monitor::exit_frame)
        {
            return Ok(code);
        }
        loop {
            std::thread::sleep(Duration::from_millis(20));
            let st = self.state(&id)?;
            if st.exits > first.exits {
                return Ok(st.last_exit_code);
            }
            if !st.running() {
                return Ok(st.exit_code);
            }
        }
    }

    // ---- rm / prune / cleanup -------------------------------------------

    /// `rm [-f]`.
    pub fn remove(&self, container: &str, force: bool) -> Result<()> {
        let id = self.lookup(container)?;
        // A container whose records are unreadable is dead: removed as is.
        let st = match self.state(&id) {
            Err(Error::NoSuchContainer(_)) => return Err(Error::NoSuchContainer(container.into())),
            Err(_) => self.readable_state(&id)?,
            Ok(st) => st,
        };
        if st.running() {
            if !force {
                let what = if st.status == Status::Paused {
                    "paused"
                } else {
                    "running"
                };
                return Err(Error::Conflict(format!(
                    "cannot remove container {container}: container is {what}: stop the container before removing or force remove"
                )));
            }
            self.mark_stopped_by_user(&id);
            let rt = runtime_for(self, &id);
            let _ = rt.kill(self, &id, libc::SIGKILL, true);
            let _ = rt.pause(self, &id, false);
            if !self.wait_exit(&id, Some(Duration::from_secs(10))) {
                return Err(Error::msg(format!(
                    "cannot remove container {container}: it did not exit after SIGKILL"
                )));
            }
        }
        self.remove_stopped(&id)
    }

    /// Removes a container that is not running: runtime state, cgroup,
    /// mounts, directory, name. Already gone is fine.
    pub(crate) fn remove_stopped(&self, id: &str) -> Result<()> {
        self.remove_stopped_unless(id, false).map(|_| ())
    }

    /// [`Engine::remove_stopped`]; with `pruning`, a container being
    /// created (or started by `run`) stays: false then. A removal killed
    /// half way leaves the container dead (its directory and name kept)
    /// or gone (its directory moved aside, reclaimed later), never in
    /// between.
    fn remove_stopped_unless(&self, id: &str, pruning: bool) -> Result<bool> {
        let _s = self.lock_store()?;
        let dir = self.container_dir(id);
        if !dir.exists() {
            return Ok(!pruning);
        }
        if pruning && self.being_created(id) {
            return Ok(false);
        }
        let durability = self.durability(id);
        let trash = {
            let _c = self.lock_container(id)?;
            // (Unreadable: a dead container.)
            let st = self.load_state_raw(id).unwrap_or_default();
            if st.running() && monitor_alive(&st) {
                return Err(Error::Conflict(format!(
                    "container {} is running",
                    fsutil::short_id(id)
                )));
            }
            if self.start_in_progress(id) {
                if pruning {
                    return Ok(false);
                }
                return Err(Error::Conflict(format!(
                    "container {} is being started by its monitor; try again",
                    fsutil::short_id(id)
                )));
            }
            // (A --rm container's records are not kept over a crash.)
            if durability == Durability::Durable {
                let mut st2 = st.clone();
                st2.status = Status::Removing;
                let _ = self.save_state(id, &st2);
            }
            self.release_runtime(id);
            let rootfs = self.rootfs_path(id);
            if is_mounted(&rootfs) {
                return Err(Error::msg(format!(
                    "cannot remove container {}: {} is still mounted",
                    fsutil::short_id(id),
                    rootfs.display()
                )));
            }
            // From here the container is gone, whatever happens to us.
            self.retire_dir(id)?
        };
        let mut names = self.load_names()?;
        let before = names.len();
        names.retain(|_, v| v != id);
        if names.len() != before {
            self.save_names_with(&names, durability)?;
        }
        std::fs::remove_dir_all(&trash).ctx(|| format!("cannot remove {}", trash.display()))?;
        Ok(true)
    }

    /// Whether a monitor is starting the container (call with its lock
    /// held, the state not running): a start whose caller was killed goes
    /// on in the monitor it launched, without the lock. Its mounted rootfs
    /// and network are then no leftovers.
    pub(crate) fn start_in_progress(&self, id: &str) -> bool {
        is_mounted(&self.rootfs_path(id)) && crate::store::monitor_process(id)
    }

    /// `container prune`: removes every container that is not running
    /// (dead ones included); returns their ids. Containers that vanish,
    /// start or are being created meanwhile are left alone; an error on
    /// one does not stop the others (the first is returned at the end).
    pub fn prune(&self) -> Result<Vec<String>> {
        let (ids, errs) = self.prune_containers();
        match errs.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(ids),
        }
    }

    /// [`Engine::prune`]: the ids removed and the errors met on the way.
    pub fn prune_containers(&self) -> (Vec<String>, Vec<Error>) {
        let (mut out, mut errs) = (Vec::new(), Vec::new());
        let ids = match self.ids() {
            Ok(ids) => ids,
            Err(e) => return (out, vec![e]),
        };
        for id in ids {
            match self.readable_state(&id) {
                Ok(st) if st.running() => continue,
                Ok(_) => {}
                Err(Error::NoSuchContainer(_)) => continue,
                Err(e) => {
                    errs.push(e);
                    continue;
                }
            }
            match self.remove_stopped_unless(&id, true) {
                Ok(true) => out.push(id),
                // Being created, started meanwhile, or gone.
                Ok(false) | Err(Error::Conflict(_)) | Err(Error::NoSuchContainer(_)) => {}
                Err(e) => errs.push(e),
            }
        }
        (out, errs)
    }

    /// Networks that containers being created will attach to.
    fn networks_being_attached(&self) -> std::collections::HashSet<String> {
        self.ids()
            .unwrap_or_default()
            .iter()
            .filter(|id| self.being_created(id))
            .filter_map(|id| self.load_config(id).ok())
            .map(|c| c.host_config.network_mode)
            .collect()
    }

    /// `network rm`: as the network manager's, but a network a container
    /// being created is about to attach to is in use too.
    pub fn remove_network(&self, name_or_id: &str) -> Result<network::Network> {
        let _s = self.lock_store()?;
        let mut m = crate::network::manager(self);
        let n = m.get(name_or_id).map_err(|e| Error::msg(e.to_string()))?;
        if self.networks_being_attached().contains(&n.name) {
            return Err(Error::Conflict(format!(
                "error while removing network: network {} id {} has active endpoints",
                n.name, n.id
            )));
        }
        m.remove(&n.name).map_err(|e| match e {
            network::Error::Conflict(m) => Error::Conflict(m),
            network::Error::Invalid(m) => Error::InvalidArgument(m),
            e => Error::msg(e.to_string()),
        })
    }

    /// `network prune`: the user networks no container uses or is about
    /// to (one being created); a network that vanishes or gets a user
    /// meanwhile is skipped. The names removed and the errors met.
    pub fn prune_networks(&self) -> (Vec<String>, Vec<String>) {
        let (mut out, mut errs) = (Vec::new(), Vec::new());
        let _s = match self.lock_store() {
            Ok(l) => l,
            Err(e) => return (out, vec![e.to_string()]),
        };
        let busy = self.networks_being_attached();
        let mut m = crate::network::manager(self);
        let list = match m.list() {
            Ok(l) => l,
            Err(e) => return (out, vec![e.to_string()]),
        };
        for n in list {
            if n.name == crate::network::DEFAULT_NETWORK || busy.contains(&n.name) {
                continue;
            }
            if !m.users(&n).is_ok_and(|u| u.is_empty()) {
                continue;
            }
            match m.remove(&n.name) {
                Ok(_) => out.push(n.name),
                Err(network::Error::NotFound(_)) | Err(network::Error::Conflict(_)) => {}
                Err(e) => errs.push(e.to_string()),
            }
        }
        (out, errs)
    }

    /// Recovers after crashes: containers whose monitor died are marked
    /// exited, rootfs mounts of containers not running are unmounted,
    /// half-created directories and dangling names are removed. Returns
    /// the ids it changed.
    pub fn cleanup(&self) -> Result<Vec<String>> {
        let mut changed = Vec::new();
        for id in self.ids()? {
            // Gone meanwhile, or unreadable (dead, for `rm` and prune).
            let (Ok(before), Ok(st)) = (self.load_state_raw(&id), self.state(&id)) else {
                continue;
            };
            if st.running() {
                continue;
            }
            let rootfs = self.rootfs_path(&id);
            let mounted = is_mounted(&rootfs);
            let rt_state = self.run_root().join(&id).exists();
            if !(mounted || rt_state || before.status != st.status) {
                continue;
            }
            // A start (and a create filling volumes) holds the container
            // lock while the rootfs is mounted and the container not yet
            // running: not a leftover. Checked again under it.
            let Ok(_l) = self.lock_container(&id) else {
                continue;
            };
            if self.load_state_raw(&id).is_ok_and(|s| !s.running()) && !self.start_in_progress(&id)
            {
                self.release_runtime(&id);
                changed.push(id);
            }
        }
        let _s = self.lock_store()?;
        changed.extend(self.reclaim_leftovers());
        // The names are written under the store lock: a temp file of
        // theirs is what a killed writer left.
        if let Ok(rd) = std::fs::read_dir(&self.root) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.starts_with(".container-names.json.tmp-")
                    && std::fs::remove_file(e.path()).is_ok()
                {
                    changed.push(n);
                }
            }
        }
        let mut names = self.load_names()?;
        let before = names.len();
        names.retain(|_, id| self.container_dir(id).join(CONFIG).exists());
        if names.len() != before {
            self.save_names(&names)?;
        }
        drop(_s);
        changed.extend(self.cleanup_volumes()?);
        Ok(changed)
    }

    // ---- ps / inspect / logs / top --------------------------------------

    /// `ps [-a]`, newest first.
    pub fn list(&self, all: bool) -> Result<Vec<Summary>> {
        let mut out = Vec::new();
        let mut names = None;
        for id in self.ids()? {
            let (c, st) = match (self.load_config(&id), self.state(&id)) {
                (Ok(c), Ok(st)) => (c, st),
                (Err(Error::NoSuchContainer(_)), _) | (_, Err(Error::NoSuchContainer(_))) => {
                    continue
                }
                // Unreadable records: shown dead (docker's state for a
                // container it cannot use), for `rm` to remove.
                _ => {
                    if all {
                        let names =
                            names.get_or_insert_with(|| self.load_names().unwrap_or_default());
                        out.push(self.dead_summary(&id, names));
                    }
                    continue;
                }
            };
            if !all && !st.running() {
                continue;
            }
            out.push(Summary {
                id: id.clone(),
                image: c.image_ref.clone(),
                command: std::iter::once(c.path.clone())
                    .chain(c.args.iter().cloned())
                    .collect::<Vec<_>>()
                    .join(" "),
                created: c.created.clone(),
                status: crate::health::with_health(status_text(&st), &st, self.health(&id)),
                state: st.status,
                exit_code: st.exit_code,
                names: c.name.clone(),
                labels: c.config.labels.clone(),
                mounts: c
                    .mounts
                    .iter()
                    .map(|m| {
                        if m.name.is_empty() {
                            m.source.clone()
                        } else {
                            m.name.clone()
                        }
                    })
                    .collect(),
                local_volumes: c.mounts.iter().filter(|m| m.driver == "local").count(),
                networks: crate::network::network_names(self, &c),
            });
        }
        out.sort_by(|a, b| b.created.cmp(&a.created));
        Ok(out)
    }

    /// The `ps` row of a container whose records cannot be read.
    fn dead_summary(
        &self,
        id: &str,
        names: &std::collections::BTreeMap<String, String>,
    ) -> Summary {
        let created = std::fs::metadata(self.container_dir(id))
            .and_then(|m| m.modified())
            .map(timeutil::format)
            .unwrap_or_default();
        Summary {
            id: id.to_string(),
            image: String::new(),
            command: String::new(),
            created,
            status: status_text(&State {
                status: Status::Dead,
                ..State::default()
            }),
            state: Status::Dead,
            exit_code: 0,
            names: names
                .iter()
                .find(|(_, v)| *v == id)
                .map(|(k, _)| k.clone())
                .unwrap_or_default(),
            labels: Default::default(),
            mounts: Vec::new(),
            local_volumes: 0,
            networks: Vec::new(),
        }
    }

    /// `ps --size`: (bytes written in the container's layer, that plus
    /// the image's layers), docker's SizeRw and SizeRootFs.
    pub fn size(&self, container: &str) -> Result<(u64, u64)> {
        let id = self.lookup(container)?;
        let c = self.load_config(&id)?;
        let rw = crate::volumes::dir_size(&self.container_dir(&id).join("upper"));
        let image: u64 = c.lowers.iter().map(|l| crate::volumes::dir_size(l)).sum();
        Ok((rw, rw + image))
    }

    /// The stored record of a container. One whose records cannot be read
    /// is an error that says so, in one line.
    pub fn container(&self, container: &str) -> Result<(Container, State)> {
        let id = self.lookup(container)?;
        let unreadable = |e: Error| match e {
            e @ Error::NoSuchContainer(_) => e,
            e => Error::msg(format!(
                "container {} is dead: its record is unreadable ({e}); remove it with rm -f",
                fsutil::short_id(&id)
            )),
        };
        let c = self.load_config(&id).map_err(unreadable)?;
        let st = self.state(&id).map_err(unreadable)?;
        Ok((c, st))
    }

    /// `inspect`, in docker's JSON shape.
    pub fn inspect(&self, container: &str) -> Result<Value> {
        let (c, st) = self.container(container)?;
        let dir = self.container_dir(&c.id);
        let lower = c
            .lowers
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(":");
        Ok(json!({
            "Id": c.id,
            "Created": c.created,
            "Path": c.path,
            "Args": c.args,
            "State": {
                "Status": st.status,
                "Running": matches!(st.status, Status::Running | Status::Paused),
                "Paused": st.status == Status::Paused,
                "Restarting": st.status == Status::Restarting,
                "OOMKilled": st.oom_killed,
                "Dead": st.status == Status::Dead,
                "Pid": if st.running() { st.pid } else { 0 },
                "ExitCode": st.exit_code,
                "Error": st.error,
                "StartedAt": st.started_at,
                "FinishedAt": st.finished_at,
                "Health": self.health(&c.id).filter(|_| crate::health::check_of(&c).is_some()),
            },
            "Image": c.image,
            "ResolvConfPath": dir.join("userdata/resolv.conf"),
            "HostnamePath": dir.join("userdata/hostname"),
            "HostsPath": dir.join("userdata/hosts"),
            "LogPath": self.log_path(&c.id),
            "Name": format!("/{}", c.name),
            "RestartCount": st.restart_count,
            "Driver": "overlay",
            "Platform": "linux",
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": "",
            "ExecIDs": Value::Null,
            "HostConfig": crate::network::host_config_json(&c),
            "GraphDriver": {
                "Name": "overlay",
                "Data": {
                    "LowerDir": lower,
                    "MergedDir": dir.join("rootfs"),
                    "UpperDir": dir.join("upper"),
                    "WorkDir": dir.join("work"),
                },
            },
            "Mounts": c.mounts,
            "Config": c.config,
            "NetworkSettings": crate::network::settings(self, &c),
        }))
    }

    /// `logs`: writes the selected entries; with `follow`, keeps going
    /// until the container stops.
    pub fn logs(
        &self,
        container: &str,
        opts: &LogsOptions,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<()> {
        let id = self.lookup(container)?;
        let path = self.log_path(&id);
        let filter = logs::Filter::new(opts)?;
        let (entries, mut pos) = logs::read_from(&path, 0)?;
        // --tail counts the entries of the selected streams.
        let entries: Vec<logs::Entry> = entries.into_iter().filter(|e| filter.keep(e)).collect();
        let start = opts
            .tail
            .map(|n| entries.len().saturating_sub(n))
            .unwrap_or(0);
        let io = |e: std::io::Error| Error::io("write logs", e);
        for e in &entries[start..] {
            filter.write(e, out, err).map_err(io)?;
        }
        if !opts.follow {
            return Ok(());
        }
        loop {
            let running = self.state(&id).map(|s| s.running()).unwrap_or(false);
            let (more, p) = logs::read_from(&path, pos)?;
            pos = p;
            for e in &more {
                filter.write(e, out, err).map_err(io)?;
            }
            let _ = out.flush();
            if !running {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `top`: the container's processes (UID, PID, PPID, CMD).
    pub fn top(&self, container: &str) -> Result<TopOutput> {
        let id = self.lookup(container)?;
        let st = self.state(&id)?;
        if !st.running() {
            return Err(Error::Conflict(format!(
                "container {container} is not running"
            )));
        }
        let mut pids = runtime_for(self, &id).pids(self, &id)?;
        pids.sort_unstable();
        let mut rows = Vec::new();
        for p in pids {
            let status = std::fs::read_to_string(format!("/proc/{p}/status")).unwrap_or_default();
            let field = |k: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(k))
                    .and_then(|v| v.split_whitespace().next())
                    .unwrap_or("?")
                    .to_string()
            };
            let cmd = std::fs::read(format!("/proc/{p}/cmdline"))
                .map(|b| {
                    b.split(|c| *c == 0)
                        .filter(|s| !s.is_empty())
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            rows.push(vec![field("Uid:"), p.to_string(), field("PPid:"), cmd]);
        }
        Ok(TopOutput {
            titles: ["UID", "PID", "PPID", "CMD"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            processes: rows,
        })
    }

    // ---- pause / rename ---------------------------------------------------

    pub fn pause(&self, container: &str) -> Result<()> {
        let id = self.lookup(container)?;
        let st = self.state(&id)?;
        match st.status {
            Status::Running => {}
            Status::Paused => {
                return Err(Error::Conflict(format!("container {id} is already paused")))
            }
            _ => return Err(Error::Conflict(format!("container {id} is not running"))),
        }
        runtime_for(self, &id).pause(self, &id, true)?;
        let _l = self.lock_container(&id)?;
        let mut st = self.load_state_raw(&id)?;
        if st.status == Status::Running {
            st.status = Status::Paused;
            self.save_state(&id, &st)?;
        }
        Ok(())
    }

    pub fn unpause(&self, container: &str) -> Result<()> {
        let id = self.lookup(container)?;
        let st = self.state(&id)?;
        if st.status != Status::Paused {
            return Err(Error::Conflict(format!("container {id} is not paused")));
        }
        runtime_for(self, &id).pause(self, &id, false)?;
        let _l = self.lock_container(&id)?;
        let mut st = self.load_state_raw(&id)?;
        if st.status == Status::Paused {
            st.status = Status::Running;
            self.save_state(&id, &st)?;
        }
        Ok(())
    }

    /// `rename OLD NEW`.
    pub fn rename(&self, container: &str, new_name: &str) -> Result<()> {
        let id = self.lookup(container)?;
        let new = crate::store::validate_name(new_name)?;
        let _s = self.lock_store()?;
        let mut c = self.load_config(&id)?;
        if c.name == new {
            return Err(Error::Conflict(format!(
                "renaming a container with the same name as its current name: {new}"
            )));
        }
        let mut names = self.load_names()?;
        if let Some(other) = names.get(&new) {
            if self.container_dir(other).join(CONFIG).exists() {
                return Err(Error::Conflict(format!(
                    "Conflict. The container name \"/{new}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
                )));
            }
        }
        names.retain(|_, v| *v != id);
        names.insert(new.clone(), id.clone());
        self.save_names(&names)?;
        let old = std::mem::replace(&mut c.name, new.clone());
        self.save_config(&c)?;
        // As docker's: the user networks' DNS records follow the name.
        crate::network::rename(self, &id, &old, &new)
    }

    // ---- exec -------------------------------------------------------------

    /// `exec`: runs a process in a running container with docker's defaults
    /// (the container's env, user and working directory); returns its exit
    /// code (0 with `detach` once it runs).
    pub fn exec(&self, container: &str, opts: &ExecOptions, stdio: ExecStdio) -> Result<i32> {
        if opts.cmd.is_empty() {
            return Err(Error::invalid("exec: no command specified"));
        }
        let id = self.lookup(container)?;
        let st = self.state(&id)?;
        match st.status {
            Status::Running => {}
            Status::Paused => {
                return Err(Error::Conflict(format!(
                    "container {id} is paused, unpause the container before exec"
                )))
            }
            _ => return Err(Error::Conflict(format!("container {id} is not running"))),
        }
        let c = self.load_config(&id)?;
        let spec: Value = fsutil::read_json(&self.container_dir(&id).join("bundle/config.json"))?;
        let mut p = spec["process"].clone();
        p["args"] = json!(opts.cmd);
        p["terminal"] = json!(opts.tty && !opts.detach);
        p.as_object_mut().map(|o| o.remove("consoleSize"));
        let external = matches!(runtime_for(self, &id), Runtime::External(_));
        if let (true, true, Some((rows, cols))) = (external, opts.tty, opts.console_size) {
            // The runtime sizes the pty before the process runs.
            p["consoleSize"] = json!({"height": rows, "width": cols});
        }
        let env = crate::options::parse_env(&opts.env)?;
        let base: Vec<String> = c.process_env.clone();
        p["env"] = json!(spec::replace_or_append_env(&base, &env));
        if let Some(u) = &opts.user {
            let view = LayerView {
                lowers: vec![self.rootfs_path(&id)],
            };
            let eu = crate::user::resolve(u, &[], &view)?;
            p["user"] = json!({"uid": eu.uid, "gid": eu.gid});
            if !eu.additional_gids.is_empty() {
                p["user"]["additionalGids"] = json!(eu.additional_gids);
            }
        }
        if let Some(w) = opts.workdir.as_ref().filter(|w| !w.is_empty()) {
            if !w.starts_with('/') {
                return Err(Error::flag(
                    "--workdir",
                    w,
                    "the working directory needs to be an absolute path",
                ));
            }
            p["cwd"] = json!(w);
        }
        if opts.privileged {
            let all = crate::caps::host_all();
            p["capabilities"] = json!({"bounding": all, "effective": all, "permitted": all});
        }
        let process: oci_spec::runtime::Process =
            serde_json::from_value(p).map_err(|e| Error::msg(format!("exec process: {e}")))?;
        match runtime_for(self, &id) {
            Runtime::Builtin => self.exec_builtin(&id, process, opts, stdio),
            Runtime::External(rt) if opts.tty && !opts.detach => {
                self.exec_external_tty(&id, &rt, &process, opts, stdio)
            }
            Runtime::External(rt) => {
                let pf = self
                    .container_dir(&id)
                    .join(format!("exec-{}.json", std::process::id()));
                fsutil::write_json(&pf, &process)?;
                let mut cmd = std::process::Command::new(&rt);
                cmd.arg("--root").arg(self.run_root()).arg("exec");
                if opts.detach {
                    cmd.arg("--detach");
                }
                if let Some(p) = &opts.pid_file {
                    cmd.arg("--pid-file").arg(p);
                }
                cmd.arg("--process").arg(&pf).arg(&id);
                if let Some(f) = stdio.stdin {
                    cmd.stdin(f);
                }
                if let Some(f) = stdio.stdout {
                    cmd.stdout(f);
                }
                if let Some(f) = stdio.stderr {
                    cmd.stderr(f);
                }
                let s = cmd.status().ctx(|| format!("cannot run {}", rt.display()));
                let _ = std::fs::remove_file(&pf);
                Ok(s?.code().unwrap_or(255))
            }
        }
    }

    /// `exec -t` with an external runtime: it runs the process detached
    /// with a console socket of ours, and exits; we (its subreaper) proxy
    /// the master it sent and reap the process for its status.
    fn exec_external_tty(
        &self,
        id: &str,
        rt: &Path,
        process: &oci_spec::runtime::Process,
        opts: &ExecOptions,
        stdio: ExecStdio,
    ) -> Result<i32> {
        let dir = self.container_dir(id);
        let tag = format!("{}-{:x}", std::process::id(), crate::fsutil::random_u64());
        let pf = dir.join(format!("exec-{tag}.json"));
        let pidf = dir.join(format!("exec-{tag}.pid"));
        fsutil::write_json(&pf, process)?;
        let relay = crate::internal::ConsoleRelay::new();
        let relay = match relay {
            Ok(r) => r,
            Err(e) => {
                let _ = std::fs::remove_file(&pf);
                return Err(e);
            }
        };
        // The runtime exits once the process runs; it is re-parented to us.
        let _ = oci_runtime::sys::set_child_subreaper();
        let out = std::process::Command::new(rt)
            .arg("--root")
            .arg(self.run_root())
            .args(["exec", "--detach", "--tty", "--console-socket"])
            .arg(relay.path())
            .arg("--pid-file")
            .arg(&pidf)
            .arg("--process")
            .arg(&pf)
            .arg(id)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .output()
            .ctx(|| format!("cannot run {}", rt.display()));
        let _ = std::fs::remove_file(&pf);
        let pid = std::fs::read_to_string(&pidf)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok());
        let _ = std::fs::remove_file(&pidf);
        let out = out?;
        if !out.status.success() {
            let msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
            return Err(crate::error::classify(format!(
                "{} exec: {msg}",
                rt.display()
            )));
        }
        let Some(pid) = pid else {
            return Err(Error::msg(format!(
                "{} exec wrote no pid file",
                rt.display()
            )));
        };
        let master = relay.take_master().inspect_err(|_| {
            // The process runs (our child: we are its subreaper) but
            // cannot be attached: not left behind.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = sys::waitpid(pid, false);
        })?;
        let ExecStdio { stdin, stdout, .. } = stdio;
        let pump = stdin.is_none();
        drop(stdin);
        let mut w: Box<dyn Write> = match stdout {
            Some(f) => Box::new(std::fs::File::from(f)),
            None => Box::new(std::io::stdout()),
        };
        crate::exec_tty::proxy(master, opts.console_size, pump, &mut w);
        loop {
            match sys::waitpid(pid, false) {
                Ok(Some((_, s))) => return Ok(sys::exit_code(s)),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                _ => return Ok(255),
            }
        }
    }

    fn exec_builtin(
        &self,
        id: &str,
        process: oci_spec::runtime::Process,
        opts: &ExecOptions,
        stdio: ExecStdio,
    ) -> Result<i32> {
        let detach = opts.detach;
        let tty = opts.tty && !detach;
        let (rep_r, rep_w) = sys::pipe().map_err(|e| Error::io("pipe", e))?;
        let (con_mine, con_theirs) = if tty {
            let (a, b) = sys::socketpair().map_err(|e| Error::io("socketpair", e))?;
            (Some(a), Some(b))
        } else {
            (None, None)
        };
        let fds = [
            stdio.stdin.as_ref().map(|f| f.as_raw_fd()),
            stdio.stdout.as_ref().map(|f| f.as_raw_fd()),
            stdio.stderr.as_ref().map(|f| f.as_raw_fd()),
        ];
        let run_root = self.run_root().to_path_buf();
        match sys::fork().map_err(|e| Error::io("fork", e))? {
            sys::Forked::Child => {
                // Move the report pipe and the given descriptors above 2 first.
                let mut keep = vec![rep_w.as_raw_fd()];
                keep.extend(fds.iter().flatten());
                keep.extend(con_theirs.as_ref().map(|c| c.as_raw_fd()));
                sys::close_fds_except(&keep);
                let devnull = std::fs::File::open("/dev/null").ok();
                for (i, f) in fds.iter().enumerate() {
                    match f {
                        Some(fd) => {
                            let _ = sys::dup_to(*fd, i as i32);
                        }
                        None if i == 0 && detach => {
                            if let Some(n) = &devnull {
                                let _ = sys::dup_to(n.as_raw_fd(), 0);
                            }
                        }
                        None => {}
                    }
                }
                let r = oci_runtime::exec::exec(oci_runtime::exec::ExecOptions {
                    id: id.to_string(),
                    root: run_root,
                    process,
                    console: con_theirs,
                    pid_file: opts.pid_file.clone(),
                    preserve_fds: 0,
                });
                let code = match r {
                    Ok(pid) => {
                        let _ = nix::unistd::write(&rep_w, b"ok\n");
                        if detach {
                            0
                        } else {
                            match sys::waitpid(pid, false) {
                                Ok(Some((_, s))) => sys::exit_code(s),
                                _ => 255,
                            }
                        }
                    }
                    Err(e) => {
                        let _ = nix::unistd::write(&rep_w, format!("{e}\n").as_bytes());
                        125
                    }
                };
                sys::exit_now(code)
            }
            sys::Forked::Parent(pid) => {
                drop(rep_w);
                drop(con_theirs);
                let ExecStdio {
                    stdin,
                    stdout,
                    stderr,
                } = stdio;
                let pump = stdin.is_none();
                drop(stdin);
                drop(stderr);
                let mut line = String::new();
                let _ = std::io::BufRead::read_line(
                    &mut std::io::BufReader::new(std::fs::File::from(rep_r)),
                    &mut line,
                );
                let line = line.trim();
                if line == "ok" {
                    if let Some(sock) = &con_mine {
                        match crate::exec_tty::recv_master(sock) {
                            Ok(m) => {
                                let mut out: Box<dyn Write> = match stdout {
                                    Some(f) => Box::new(std::fs::File::from(f)),
                                    None => Box::new(std::io::stdout()),
                                };
                                crate::exec_tty::proxy(m, opts.console_size, pump, &mut out);
                            }
                            Err(e) => {
                                let _ = oci_runtime::sys::kill(pid, libc::SIGKILL);
                                let _ = sys::waitpid(pid, false);
                                return Err(e);
                            }
                        }
                    }
                }
                let status = sys::waitpid(pid, false)
                    .map_err(|e| Error::io("waitpid", e))?
                    .map(|(_, s)| sys::exit_code(s))
                    .unwrap_or(255);
                if line != "ok" {
                    if line.is_empty() {
                        return Err(Error::msg("exec: the helper process died"));
                    }
                    return Err(crate::error::classify(line.to_string()));
                }
                Ok(status)
            }
        }
    }
}

/// The STATUS column of `ps`.
pub fn status_text(st: &State) -> String {
    match st.status {
        Status::Created => "Created".into(),
        Status::Running => format!(
            "Up {}",
            timeutil::human_duration(timeutil::since(&st.started_at))
        ),
        Status::Paused => format!(
            "Up {} (Paused)",
            timeutil::human_duration(timeutil::since(&st.started_at))
        ),
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            st.exit_code,
            timeutil::human_duration(timeutil::since(&st.finished_at))
        ),
        Status::Removing => "Removal In Progress".into(),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            st.exit_code,
            timeutil::human_duration(timeutil::since(&st.finished_at))
        ),
        Status::Dead => "Dead".into(),
    }
}

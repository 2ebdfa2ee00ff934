//! `create`: from a bundle to a container whose init waits for `start`.
//!
//! Process layout: the runtime (P) forks an intermediate (C) that joins and
//! creates namespaces; when a pid or time namespace needs it, C forks the
//! container's init as P's child (CLONE_PARENT) and exits. Init sets up the
//! rootfs, pivots, and blocks on `exec.fifo` until `start` opens it.

use crate::error::{Context, Error, Result};
use crate::namespaces::{self, Plan};
use crate::rootfs::{self, RootfsContext};
use crate::state::{self, ContainerState, Status, EXEC_FIFO};
use crate::sync::{Channel, Msg};
use crate::{config, hooks, process, sys};
use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

pub struct CreateOptions {
    pub id: String,
    pub bundle: PathBuf,
    /// The runtime's state root (`--root`).
    pub root: PathBuf,
    pub pid_file: Option<PathBuf>,
    /// A connected unix socket that receives the pty master when `process.terminal` is set.
    pub console: Option<OwnedFd>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    pub systemd_cgroup: bool,
    /// The bundle's config, if the caller has already loaded it.
    pub spec: Option<Spec>,
}

static READY_SENT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether a foreground `run` must re-execute from a protected copy of the
/// runtime (CVE-2019-5736). Not when init gets a pid namespace of its own:
/// no other process can enter it between create and start, so only the
/// host, which can reach the runtime process itself anyway, sees init before
/// it execs. `create` and `exec` always protect the binary.
pub fn run_needs_protected_binary(spec: &Spec) -> bool {
    !Plan::from_spec(spec).creates(LinuxNamespaceType::Pid)
}

/// Creates the container; on any failure nothing is left behind.
pub fn create(opts: CreateOptions) -> Result<ContainerState> {
    state::validate_id(&opts.id)?;
    let bundle =
        std::fs::canonicalize(&opts.bundle).ctx(|| format!("bundle {}", opts.bundle.display()))?;
    let spec = match opts.spec.clone() {
        Some(s) => s,
        None => config::load(&bundle)?,
    };
    let rootfs = config::rootfs_path(&spec, &bundle)?;
    let process = spec
        .process()
        .clone()
        .ok_or_else(|| Error::config("config.json", "process", "missing: nothing to run"))?;
    if process.terminal().unwrap_or(false) && opts.console.is_none() {
        return Err(Error::config(
            "config.json",
            "process.terminal",
            "true, but no --console-socket was given",
        ));
    }
    // The states hold each container's config.json (its environment
    // included): root's only, and an existing looser root is tightened.
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
        .create(&opts.root)
        .ctx(|| format!("cannot create state root {}", opts.root.display()))?;
    let mode = std::fs::metadata(&opts.root)
        .map(|m| std::os::unix::fs::MetadataExt::mode(&m) & 0o777)
        .unwrap_or(0);
    if mode & 0o077 != 0 && nix::unistd::geteuid().is_root() {
        let private = std::os::unix::fs::PermissionsExt::from_mode(0o700);
        std::fs::set_permissions(&opts.root, private)
            .ctx(|| format!("cannot make state root {} private", opts.root.display()))?;
    }
    let dir = ContainerState::dir(&opts.root, &opts.id);
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Error::Exists(opts.id.clone()))
        }
        Err(e) => return Err(e).ctx(|| format!("cannot create {}", dir.display())),
    }
    let mut cleanup = Cleanup {
        dir: Some(dir.clone()),
        cgroup: None,
        pids: vec![],
    };
    let st = create_inner(&opts, spec, bundle, rootfs, &dir, &mut cleanup)?;
    cleanup.disarm();
    Ok(st)
}

/// Undoes a half-made container: processes, cgroup, state directory.
struct Cleanup {
    dir: Option<PathBuf>,
    cgroup: Option<cgroups::Manager>,
    pids: Vec<i32>,
}

impl Cleanup {
    fn disarm(&mut self) {
        self.dir = None;
        self.cgroup = None;
        self.pids.clear();
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for pid in &self.pids {
            let _ = sys::kill(*pid, libc::SIGKILL);
            let _ = sys::waitpid(*pid, false);
        }
        if let Some(cg) = self.cgroup.take() {
            let _ = cg.kill_all(libc::SIGKILL);
            if let Err(e) = cg.destroy() {
                crate::log::warn(&format!("cleanup: {e}"));
            }
        }
        if let Some(d) = self.dir.take() {
            if let Err(e) = std::fs::remove_dir_all(&d) {
                crate::log::warn(&format!("cleanup: cannot remove {}: {e}", d.display()));
            }
        }
    }
}

fn is_rootless() -> bool {
    sys::geteuid() != 0
}

fn create_inner(
    opts: &CreateOptions,
    spec: Spec,
    bundle: PathBuf,
    rootfs: PathBuf,
    dir: &Path,
    cleanup: &mut Cleanup,
) -> Result<ContainerState> {
    let linux = spec.linux().clone().unwrap_or_default();
    let plan = Plan::from_spec(&spec);

    // cgroup: created and limited before any container process exists.
    let cg_path = linux
        .cgroups_path()
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned());
    // Rootless without delegation: cgroups are skipped, as crun does, unless
    // the config asks for limits, which then fail naming linux.resources.
    let wants_limits = linux.resources().as_ref().is_some_and(|r| {
        serde_json::to_value(r)
            .ok()
            .and_then(|v| {
                v.as_object()
                    .map(|o| o.iter().any(|(k, v)| k != "devices" && !v.is_null()))
            })
            .unwrap_or(false)
    });
    let rootless_err = |e: cgroups::Error| {
        Error::msg(format!(
            "linux.resources: cannot create the container's cgroup as an unprivileged user ({e}); \
             delegate a cgroup to this user or remove the limits"
        ))
    };
    let cgroup = match cgroups::Manager::new(cg_path.as_deref(), &opts.id, opts.systemd_cgroup) {
        Ok(m) => Some(m),
        Err(e) if is_rootless() && !wants_limits => {
            crate::log::debug(&format!("rootless: cgroups skipped: {e}"));
            None
        }
        Err(e) if is_rootless() => return Err(rootless_err(e)),
        Err(e) => return Err(e.into()),
    };
    // Unprivileged: create the cgroup now, to know whether to skip it.
    // Root: the cgroup is made after the fork, while the intermediate
    // process creates the namespaces (the two run on different cores).
    let cgroup = match cgroup {
        Some(m) if is_rootless() => {
            cleanup.cgroup = Some(m.clone());
            match m.create() {
                Ok(()) => {
                    m.set(&effective_resources(&linux))?;
                    Some(m)
                }
                Err(e) if !wants_limits => {
                    crate::log::debug(&format!("rootless: cgroups skipped: {e}"));
                    if let Some(cg) = cleanup.cgroup.take() {
                        let _ = cg.destroy();
                    }
                    None
                }
                Err(e) => return Err(rootless_err(e)),
            }
        }
        other => other,
    };
    let cgroup_pending = cgroup.is_some() && !is_rootless();

    let fifo = dir.join(EXEC_FIFO);
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o622))
        .ctx(|| format!("mkfifo {}", fifo.display()))?;
    // mkfifo honours the umask; init (maybe an unprivileged id in a user
    // namespace) must be able to open it for writing.
    std::fs::set_permissions(&fifo, std::os::unix::fs::PermissionsExt::from_mode(0o622))
        .ctx(|| "chmod exec.fifo")?;
    let (ruid, rgid) = root_ids(&linux);
    std::os::unix::fs::chown(&fifo, Some(ruid), Some(rgid)).ctx(|| "chown exec.fifo")?;
    // Init reaches the fifo through a descriptor of the state directory: it
    // works after pivot_root, with or without /proc in the container.
    let fifo_fd = sys::openat2(libc::AT_FDCWD, dir, libc::O_PATH | libc::O_DIRECTORY, 0, 0)
        .ctx(|| format!("open {}", dir.display()))?;

    // Id-mapped mounts need the host's privileges: made here, moved into
    // place by init.
    let idmapped = crate::idmap::prepare(&spec, &bundle)?;
    // The seccomp program, compiled (or found in the cache under the state
    // root) here on the host; init installs it.
    if let Some(s) = linux.seccomp() {
        crate::seccomp::prepare(s, Some(&opts.root.join(crate::seccomp::CACHE_DIR)))?;
    }
    let (parent_ch, child_ch) = Channel::pair()?;
    let ctx = ChildContext {
        idmapped: &idmapped,
        spec: &spec,
        plan: &plan,
        rootfs: &rootfs,
        bundle: &bundle,
        id: &opts.id,
        cgroup: cgroup.as_ref(),
        console: opts.console.as_ref(),
        fifo: &fifo_fd,
        no_pivot: opts.no_pivot,
        no_new_keyring: opts.no_new_keyring,
        preserve_fds: opts.preserve_fds,
    };
    let child = match sys::fork().ctx(|| "fork")? {
        sys::Forked::Child => {
            drop(parent_ch);
            let code = match child_main(&ctx, &child_ch) {
                Ok(()) => 0,
                Err(e) => {
                    // Once Ready is sent nobody reads the channel: use stderr.
                    // Before, a failed send means the runtime gave up (and
                    // reports its own error, e.g. a cgroup write): say nothing,
                    // or its one-line error gets a second line.
                    if READY_SENT.load(std::sync::atomic::Ordering::Relaxed) {
                        eprintln!("berth-oci: {e}");
                    } else {
                        let _ = child_ch.send(&Msg::Error(e.to_string()));
                    }
                    1
                }
            };
            sys::exit_now(code);
        }
        sys::Forked::Parent(pid) => pid,
    };
    drop(child_ch);
    cleanup.pids.push(child);
    send_or_child_error(&parent_ch, &Msg::Go)?;
    // The cgroup is made while the intermediate process creates the
    // namespaces and forks init, and init mounts the rootfs (they run on
    // the other core); init is moved into it once its pid is known, and
    // waits for that before its first cgroup mount.
    if let Some(cg) = cgroup.as_ref().filter(|_| cgroup_pending) {
        // Armed before create: a half-made cgroup is removed too.
        cleanup.cgroup = Some(cg.clone());
        // The limits too before init joins: on v1 the device rules are a
        // deny-all then allows, which would fail init's mknods meanwhile.
        let made = cg
            .create()
            .and_then(|()| cg.set(&effective_resources(&linux)));
        if let Err(e) = made {
            note_init_pid(&parent_ch, cleanup);
            return Err(e.into());
        }
    }
    if plan.new_user {
        match parent_ch.recv()? {
            Some(Msg::MapsRequest) => {
                write_id_maps(
                    child,
                    &linux.uid_mappings().clone().unwrap_or_default(),
                    &linux.gid_mappings().clone().unwrap_or_default(),
                )?;
                send_or_child_error(&parent_ch, &Msg::Go)?;
            }
            Some(Msg::Error(e)) => return Err(Error::Msg(e)),
            _ => return Err(Error::msg("container init exited during setup")),
        }
    }

    let mut init_pid = child;
    let created = berth_util::time::now();
    let owner = String::new();
    let mut st = ContainerState {
        id: opts.id.clone(),
        pid: 0,
        start_time: 0,
        bundle: bundle.clone(),
        rootfs: rootfs.clone(),
        created,
        owner,
        cgroup: cgroup.clone(),
        config: spec.clone(),
    };
    loop {
        match parent_ch.recv()? {
            Some(Msg::Pid(p)) => {
                init_pid = p;
                cleanup.pids.insert(0, p);
                if let Some(cg) = &cgroup {
                    cg.apply(p)?;
                }
                // In its cgroup (if any): init may mount cgroups now.
                send_or_child_error(&parent_ch, &Msg::Go)?;
            }
            Some(Msg::HooksRequest) => {
                st.pid = init_pid;
                let h = spec.hooks().clone().unwrap_or_default();
                let state_json = st.hook_state(Status::Created);
                #[allow(deprecated)]
                hooks::run_hooks(h.prestart().as_ref(), &state_json, "prestart")?;
                hooks::run_hooks(h.create_runtime().as_ref(), &state_json, "createRuntime")?;
                send_or_child_error(&parent_ch, &Msg::Go)?;
            }
            Some(Msg::Ready) => break,
            Some(Msg::Error(e)) => return Err(Error::Msg(e)),
            Some(Msg::Go) | Some(Msg::MapsRequest) => {
                return Err(Error::msg("sync: unexpected message from init"))
            }
            None => {
                return Err(Error::msg("container init exited during setup"));
            }
        }
    }
    if init_pid != child {
        // The intermediate process has done its work.
        let _ = sys::waitpid(child, false);
        cleanup.pids.retain(|p| *p != child);
    }
    st.pid = init_pid;
    st.start_time = berth_util::proc::stat(init_pid)
        .map(|(_, t)| t)
        .ok_or_else(|| Error::msg("container init died during setup"))?;
    st.save(&opts.root)?;
    if let Some(pf) = &opts.pid_file {
        berth_util::fs::write_atomic_with(pf, init_pid.to_string().as_bytes(), state::WRITES)?;
    }
    Ok(st)
}

/// The spec's resources, with the device rules every container needs (as
/// runc adds them): mknod of anything, the standard nodes, ptys, and the
/// devices listed in linux.devices that no spec rule names: a rule the
/// spec gives for a device (docker's `--device /dev/x:/dev/y:r`) is its
/// access, not widened to "rwm" (allow rules add up, on v1 and in the
/// eBPF filter alike).
pub fn effective_resources(linux: &oci_spec::runtime::Linux) -> oci_spec::runtime::LinuxResources {
    let mut res = linux.resources().clone().unwrap_or_default();
    let Some(spec_rules) = res.devices().clone() else {
        return res;
    };
    let mut rules: Vec<serde_json::Value> = spec_rules
        .iter()
        .filter_map(|r| serde_json::to_value(r).ok())
        .collect();
    let dev = |t: &str, major: Option<i64>, minor: Option<i64>, access: &str| serde_json::json!({"allow": true, "type": t, "major": major, "minor": minor, "access": access});
    rules.push(dev("c", None, None, "m"));
    rules.push(dev("b", None, None, "m"));
    for (ma, mi) in [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
        (10, 200),
    ] {
        rules.push(dev("c", Some(ma), Some(mi), "rwm"));
    }
    rules.push(dev("c", Some(136), None, "rwm"));
    use oci_spec::runtime::LinuxDeviceType as T;
    let char_like = |t: T| if t == T::U { T::C } else { t };
    for d in linux.devices().iter().flatten() {
        // Fifos need no cgroup permission; "u" (unbuffered) is a char device.
        let t = match d.typ() {
            T::B => "b",
            T::C | T::U => "c",
            _ => continue,
        };
        let named = spec_rules.iter().any(|r| {
            r.typ().map(char_like) == Some(char_like(d.typ()))
                && r.major() == Some(d.major())
                && r.minor() == Some(d.minor())
        });
        if !named {
            rules.push(dev(t, Some(d.major()), Some(d.minor()), "rwm"));
        }
    }
    if let Ok(r) = serde_json::from_value(serde_json::Value::Array(rules)) {
        res.set_devices(Some(r));
    }
    res
}

/// Host ids of the container's root (for files init must open).
fn root_ids(linux: &oci_spec::runtime::Linux) -> (u32, u32) {
    let host = |m: &Option<Vec<LinuxIdMapping>>, me: u32| {
        m.iter()
            .flatten()
            .find(|x| x.container_id() == 0)
            .map(|x| x.host_id())
            .unwrap_or(me)
    };
    (
        host(linux.uid_mappings(), sys::geteuid()),
        host(linux.gid_mappings(), sys::getegid()),
    )
}

fn format_map(m: &[LinuxIdMapping]) -> String {
    m.iter()
        .map(|x| format!("{} {} {}\n", x.container_id(), x.host_id(), x.size()))
        .collect()
}

/// Writes uid_map/gid_map of `pid`; unprivileged callers go through
/// newuidmap/newgidmap for anything but their own single id.
fn write_id_maps(pid: i32, uids: &[LinuxIdMapping], gids: &[LinuxIdMapping]) -> Result<()> {
    let single_self =
        |m: &[LinuxIdMapping], me: u32| m.len() == 1 && m[0].size() == 1 && m[0].host_id() == me;
    if is_rootless() {
        if single_self(gids, sys::getegid()) {
            std::fs::write(format!("/proc/{pid}/setgroups"), "deny").ctx(|| "write setgroups")?;
        }
        for (m, file, helper, me) in [
            (uids, "uid_map", "newuidmap", sys::geteuid()),
            (gids, "gid_map", "newgidmap", sys::getegid()),
        ] {
            if single_self(m, me) {
                std::fs::write(format!("/proc/{pid}/{file}"), format_map(m))
                    .ctx(|| format!("linux.{file}: write"))?;
            } else {
                let mut cmd = std::process::Command::new(helper);
                cmd.arg(pid.to_string());
                for x in m {
                    cmd.args([
                        x.container_id().to_string(),
                        x.host_id().to_string(),
                        x.size().to_string(),
                    ]);
                }
                let out = cmd
                    .output()
                    .ctx(|| format!("cannot run {helper} (install the uidmap package)"))?;
                if !out.status.success() {
                    return Err(Error::msg(format!(
                        "{helper}: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    )));
                }
            }
        }
        return Ok(());
    }
    if !uids.is_empty() {
        std::fs::write(format!("/proc/{pid}/uid_map"), format_map(uids))
            .ctx(|| "linux.uidMappings: cannot write uid_map")?;
    }
    if !gids.is_empty() {
        std::fs::write(format!("/proc/{pid}/gid_map"), format_map(gids))
            .ctx(|| "linux.gidMappings: cannot write gid_map")?;
    }
    Ok(())
}

struct ChildContext<'a> {
    spec: &'a Spec,
    plan: &'a Plan,
    rootfs: &'a Path,
    bundle: &'a Path,
    id: &'a str,
    cgroup: Option<&'a cgroups::Manager>,
    console: Option<&'a OwnedFd>,
    fifo: &'a OwnedFd,
    no_pivot: bool,
    no_new_keyring: bool,
    preserve_fds: u32,
    idmapped: &'a [crate::idmap::IdmappedMount],
}

/// Sends to the child; if it is gone, reports the error it left instead.
/// After a failure before init's pid arrived: read it if the intermediate
/// process sent it, so that the cleanup kills init too.
fn note_init_pid(ch: &Channel, cleanup: &mut Cleanup) {
    if let Ok(Some(Msg::Pid(p))) = ch.recv() {
        cleanup.pids.insert(0, p);
    }
}

fn send_or_child_error(ch: &Channel, m: &Msg) -> Result<()> {
    match ch.send(m) {
        Ok(()) => Ok(()),
        Err(e) => match ch.recv() {
            Ok(Some(Msg::Error(msg))) => Err(Error::Msg(msg)),
            _ => Err(e),
        },
    }
}

fn expect_go(ch: &Channel) -> Result<()> {
    match ch.recv()? {
        Some(Msg::Go) => Ok(()),
        Some(Msg::Error(e)) => Err(Error::Msg(e)),
        _ => Err(Error::msg("runtime went away during setup")),
    }
}

/// The intermediate process: namespaces, then (maybe) fork init.
fn child_main(ctx: &ChildContext, ch: &Channel) -> Result<()> {
    sys::clean_signals();
    sys::set_parent_death_signal(libc::SIGKILL).ctx(|| "prctl(PR_SET_PDEATHSIG)")?;
    expect_go(ch)?;
    let joins = namespaces::open_joins(ctx.plan)?;
    for (t, fd) in &joins {
        namespaces::setns(*t, fd)?;
    }
    if ctx.plan.new_user {
        nix::sched::unshare(CloneFlags::CLONE_NEWUSER).ctx(|| "cannot create a user namespace")?;
        ch.send(&Msg::MapsRequest)?;
        expect_go(ch)?;
        // Become root of the new namespace where the mapping allows it.
        let _ = sys::setresgid(0);
        let _ = sys::setresuid(0);
    }
    // Until it execs, this process is the runtime's binary: keep container
    // processes from reaching it through /proc/PID/exe (CVE-2019-5736).
    // (Not earlier: an unprivileged parent must write our id maps first.)
    sys::set_dumpable(false).ctx(|| "prctl(PR_SET_DUMPABLE)")?;
    let time_flag = namespaces::flag(LinuxNamespaceType::Time);
    // Everything but the cgroup namespace, which must be rooted at the
    // container's cgroup: init makes it once the runtime has moved it there.
    let not_yet = CloneFlags::CLONE_NEWCGROUP;
    // (By bits: `!` on the flags type would drop CLONE_NEWTIME, unknown to it.)
    let first = CloneFlags::from_bits_retain(ctx.plan.new.bits() & !not_yet.bits());
    if !first.is_empty() {
        nix::sched::unshare(first).ctx(|| format!("cannot create namespaces {first:?}"))?;
    }
    if ctx.plan.new.contains(time_flag) {
        write_time_offsets(ctx.spec)?;
    }
    if ctx.plan.needs_fork() {
        match sys::fork_sibling().ctx(|| "fork init")? {
            sys::Forked::Parent(pid) => {
                ch.send(&Msg::Pid(pid))?;
                sys::exit_now(0);
            }
            sys::Forked::Child => {}
        }
    } else {
        ch.send(&Msg::Pid(std::process::id() as i32))?;
    }
    init_main(ctx, ch)
}

fn write_time_offsets(spec: &Spec) -> Result<()> {
    let offsets = spec
        .linux()
        .as_ref()
        .and_then(|l| l.time_offsets().clone())
        .unwrap_or_default();
    let mut s = String::new();
    for (clock, off) in offsets {
        s.push_str(&format!(
            "{clock} {} {}\n",
            off.secs().unwrap_or(0),
            off.nanosecs().unwrap_or(0)
        ));
    }
    if !s.is_empty() {
        std::fs::write("/proc/self/timens_offsets", &s)
            .ctx(|| "linux.timeOffsets: cannot write timens_offsets")?;
    }
    Ok(())
}

/// Host pid of the calling process, read before the container's /proc hides it.
fn host_pid() -> i32 {
    std::fs::read_link("/proc/self")
        .ok()
        .and_then(|p| p.to_str()?.parse().ok())
        .unwrap_or(0)
}

/// The container's init: rootfs, hooks, pivot, then wait for start and exec.
fn init_main(ctx: &ChildContext, ch: &Channel) -> Result<()> {
    sys::set_parent_death_signal(libc::SIGKILL).ctx(|| "prctl(PR_SET_PDEATHSIG)")?;
    let spec = ctx.spec;
    let process = spec.process().clone().unwrap_or_default();
    let pid = host_pid();
    nix::unistd::setsid().ctx(|| "setsid")?;
    if ctx.plan.creates(LinuxNamespaceType::Network) {
        // A new network namespace has only `lo`, down: bring it up, as runc does.
        sys::loopback_up().ctx(|| "cannot bring up lo in the new network namespace")?;
    }
    // As runc: the rootfs is set up in a mount namespace of the container's,
    // new or joined; without one, init only chroots.
    let new_mnt = ctx.plan.has(LinuxNamespaceType::Mount);
    let sources = ctx.cgroup.map(|c| c.mount_sources()).unwrap_or_default();
    // The runtime moves us into the container's cgroup meanwhile (see
    // create_inner); wait for that before anything that needs it.
    let joined = std::cell::Cell::new(false);
    let join_cgroup = || -> Result<()> {
        if joined.replace(true) {
            return Ok(());
        }
        expect_go(ch)?;
        if ctx.plan.new.contains(CloneFlags::CLONE_NEWCGROUP) {
            nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP)
                .ctx(|| "cannot create a cgroup namespace")?;
        }
        Ok(())
    };
    let rctx = RootfsContext {
        spec,
        rootfs: ctx.rootfs,
        bundle: ctx.bundle,
        cgroup_v2_only: ctx
            .cgroup
            .is_some_and(|c| c.layout() == cgroups::Layout::V2),
        cgroup_sources: &sources,
        new_cgroupns: ctx.plan.creates(LinuxNamespaceType::Cgroup),
        userns: ctx.plan.has(LinuxNamespaceType::User),
        idmapped: ctx.idmapped,
        join_cgroup: &join_cgroup,
    };
    if new_mnt {
        rootfs::prepare(&rctx)?;
        rootfs::mount_all(&rctx)?;
    }
    join_cgroup()?;
    ch.send(&Msg::HooksRequest)?;
    expect_go(ch)?;
    let state_json = hook_state(spec, ctx, pid, "created");
    let h = spec.hooks().clone().unwrap_or_default();
    hooks::run_hooks(
        h.create_container().as_ref(),
        &state_json,
        "createContainer",
    )?;
    let notify_sock =
        process::connect_listener(spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()))?;
    if new_mnt {
        rootfs::pivot(ctx.rootfs, ctx.no_pivot)?;
    } else {
        nix::unistd::chdir(ctx.rootfs).ctx(|| "chdir rootfs")?;
        nix::unistd::chroot(".").ctx(|| "chroot")?;
        nix::unistd::chdir("/").ctx(|| "chdir /")?;
    }
    if process.terminal().unwrap_or(false) {
        setup_console(ctx.console, &process, new_mnt)?;
    }
    if new_mnt {
        // The cwd is created now, before the root may turn read-only.
        let cwd = process.cwd();
        if !cwd.exists() {
            std::fs::create_dir_all(cwd)
                .ctx(|| format!("process.cwd: cannot create {}", cwd.display()))?;
        }
        rootfs::finish(spec)?;
    }
    if let Some(h) = spec.hostname().as_ref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).ctx(|| format!("hostname: cannot set {h:?}"))?;
    }
    if let Some(d) = spec.domainname().as_ref().filter(|h| !h.is_empty()) {
        sys::setdomainname(d).ctx(|| format!("domainname: cannot set {d:?}"))?;
    }
    if let Some(p) = spec.linux().as_ref().and_then(|l| l.personality().clone()) {
        let dom = serde_json::to_value(p.domain())
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let persona = match dom.as_str() {
            "LINUX" => 0x0000,
            "LINUX32" => 0x0008,
            other => {
                return Err(Error::msg(format!(
                    "linux.personality.domain: unknown {other:?}"
                )))
            }
        };
        sys::personality(persona).ctx(|| "linux.personality")?;
    }
    if !ctx.no_new_keyring {
        // Best effort, as runc: some kernels or seccomp policies refuse keyrings.
        let _ = sys::join_session_keyring(&format!("_ses.{}", ctx.id));
    }
    let prep = process::prepare(&process, ctx.preserve_fds)?;
    let seccomp = spec.linux().as_ref().and_then(|l| l.seccomp().clone());
    let notify = notify_sock.map(|sock| process::NotifyTarget {
        sock,
        state: notify_state(spec, ctx, pid),
    });
    process::drop_privileges(&process, &prep, seccomp.as_ref(), notify.as_ref())?;
    // From here on the runtime exits; our parent may go away.
    sys::set_parent_death_signal(0).ctx(|| "prctl(PR_SET_PDEATHSIG)")?;
    ch.send(&Msg::Ready)?;
    READY_SENT.store(true, std::sync::atomic::Ordering::Relaxed);

    // Wait for `start`: opening the fifo for writing blocks until it is read.
    let f: std::fs::File = nix::fcntl::openat(
        ctx.fifo,
        EXEC_FIFO,
        nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map(std::fs::File::from)
    .ctx(|| "cannot open exec.fifo")?;
    use std::io::Write;
    (&f).write_all(b"0").ctx(|| "write exec.fifo")?;
    // `f` stays open (close-on-exec): `start` sees EOF once we exec, so it
    // returns only when the container's process really runs.
    hooks::run_hooks(
        h.start_container().as_ref(),
        &hook_state(spec, ctx, pid, "running"),
        "startContainer",
    )?;
    let e = process::exec(
        &process,
        prep,
        seccomp.as_ref(),
        notify.as_ref(),
        ctx.preserve_fds,
    );
    // The runtime is gone: report on stderr, which the caller collects.
    eprintln!("berth-oci: {e}");
    sys::exit_now(127);
}

fn hook_state(spec: &Spec, ctx: &ChildContext, pid: i32, status: &str) -> Vec<u8> {
    serde_json::json!({
        "ociVersion": spec.version(),
        "id": ctx.id,
        "status": status,
        "pid": pid,
        "bundle": ctx.bundle,
        "annotations": spec.annotations().clone().unwrap_or_default(),
    })
    .to_string()
    .into_bytes()
}

fn notify_state(spec: &Spec, ctx: &ChildContext, pid: i32) -> Vec<u8> {
    let meta = spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
        .and_then(|s| s.listener_metadata().clone());
    serde_json::json!({
        "ociVersion": spec.version(),
        "fds": ["seccompFd"],
        "pid": pid,
        "metadata": meta.unwrap_or_default(),
        "state": serde_json::from_slice::<serde_json::Value>(&hook_state(spec, ctx, pid, "creating")).unwrap_or_default(),
    })
    .to_string()
    .into_bytes()
}

/// Opens a pty in the container's devpts, sends the master to the console
/// socket and makes the slave our stdio, controlling tty and /dev/console.
pub fn setup_console(
    console: Option<&OwnedFd>,
    process: &oci_spec::runtime::Process,
    bind_console: bool,
) -> Result<()> {
    let sock = console.ok_or_else(|| Error::msg("process.terminal: no console socket"))?;
    let (master, _slave_path) = sys::open_pty(Path::new("/dev/pts/ptmx"))
        .or_else(|_| sys::open_pty(Path::new("/dev/ptmx")))
        .ctx(|| "process.terminal: cannot open /dev/ptmx")?;
    let slave = sys::open_pty_peer(master.as_raw_fd())
        .ctx(|| "process.terminal: cannot open the pty slave")?;
    if let Some(b) = process.console_size() {
        let _ = sys::set_winsize(slave.as_raw_fd(), b.height() as u16, b.width() as u16);
    }
    crate::sync::send_fd(sock.as_raw_fd(), master.as_raw_fd(), b"/dev/ptmx")?;
    drop(master);
    for fd in 0..3 {
        sys::dup_to(slave.as_raw_fd(), fd).ctx(|| "dup pty slave")?;
    }
    sys::set_controlling_tty(0).ctx(|| "TIOCSCTTY")?;
    if bind_console {
        let root = sys::openat2(
            libc::AT_FDCWD,
            Path::new("/"),
            libc::O_PATH | libc::O_DIRECTORY,
            0,
            0,
        )
        .ctx(|| "open /")?;
        rootfs::create_file_in_root(root.as_raw_fd(), Path::new("/dev/console"))
            .ctx(|| "create /dev/console")?;
        let t = rootfs::open_in_root(
            root.as_raw_fd(),
            Path::new("/dev/console"),
            libc::O_PATH | libc::O_NOFOLLOW,
        )
        .ctx(|| "open /dev/console")?;
        // CVE-2025-52565: the bind goes from our pty fd onto the file we
        // hold, and only onto a plain file or device node: never through a
        // path (or a link) that the container can swap meanwhile.
        let kind = nix::sys::stat::fstat(&t)
            .ctx(|| "stat /dev/console")?
            .st_mode
            & libc::S_IFMT;
        if kind != libc::S_IFREG && kind != libc::S_IFCHR {
            return Err(Error::msg(
                "process.terminal: /dev/console in the container is not a file or a device",
            ));
        }
        nix::mount::mount(
            Some(Path::new(&format!("/proc/self/fd/{}", slave.as_raw_fd()))),
            Path::new(&format!("/proc/self/fd/{}", t.as_raw_fd())),
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )
        .ctx(|| "bind mount /dev/console")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_protection_rule() {
        let spec = |ns: serde_json::Value| -> Spec {
            serde_json::from_value(serde_json::json!({
                "ociVersion": "1.0.2", "root": {"path": "r"}, "linux": {"namespaces": ns}
            }))
            .unwrap()
        };
        assert!(!run_needs_protected_binary(&spec(
            serde_json::json!([{"type": "pid"}])
        )));
        assert!(run_needs_protected_binary(&spec(
            serde_json::json!([{"type": "mount"}])
        )));
        assert!(run_needs_protected_binary(&spec(
            serde_json::json!([{"type": "pid", "path": "/proc/1/ns/pid"}])
        )));
    }

    /// The access of a device is the spec's rule for it (`--device
    /// /dev/kmsg:/dev/k:r`); a listed device without a rule gets "rwm".
    #[test]
    fn device_rules_keep_the_spec_access() {
        let linux: oci_spec::runtime::Linux = serde_json::from_value(serde_json::json!({
            "devices": [
                {"path": "/dev/k", "type": "c", "major": 1, "minor": 11},
                {"path": "/dev/u", "type": "u", "major": 10, "minor": 229},
                {"path": "/dev/f", "type": "c", "major": 1, "minor": 12}
            ],
            "resources": {"devices": [
                {"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "r"},
                {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"}
            ]}
        }))
        .unwrap();
        let res = effective_resources(&linux);
        let access = |maj: i64, min: i64| -> Vec<String> {
            res.devices()
                .iter()
                .flatten()
                .filter(|r| r.major() == Some(maj) && r.minor() == Some(min))
                .map(|r| r.access().clone().unwrap_or_default())
                .collect()
        };
        assert_eq!(access(1, 11), ["r"]);
        assert_eq!(access(10, 229), ["rw"]);
        // A listed node without a rule.
        assert_eq!(access(1, 12), ["rwm"]);
        // Without spec rules the resources are left alone.
        let bare: oci_spec::runtime::Linux = serde_json::from_value(serde_json::json!({
            "devices": [{"path": "/dev/k", "type": "c", "major": 1, "minor": 11}]
        }))
        .unwrap();
        assert!(effective_resources(&bare).devices().is_none());
    }
}

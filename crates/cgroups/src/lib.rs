//! cgroup management for Berth: v1, v2 and the hybrid layout.
//!
//! The layout of the host is discovered from `/proc/self/mountinfo` and
//! `/proc/self/cgroup` (or from a [`Host`] given explicitly, for tests on
//! fake trees). A [`Manager`] knows the directory of one container's cgroup
//! in every mounted hierarchy; it is plain data (serde) so that a runtime can
//! store it in its state file and rebuild it later.
//!
//! Controllers are looked up v1 first, then in the unified (cgroup2)
//! hierarchy if that hierarchy offers them: on a hybrid host where only
//! `hugetlb` is enabled in cgroup2, hugetlb limits go to cgroup2 and
//! everything else to the v1 hierarchies.
//!
//! Notes on behaviour (beyond the API contract):
//! - `linux.resources.devices`: `None` leaves device access untouched;
//!   `Some(rules)` replaces it (an empty list denies every device, as in
//!   runc). v1 gets `a *:* rwm` written to devices.deny (allow-list) or
//!   devices.allow (deny-list) first, then the normalised exceptions. Without
//!   a v1 devices hierarchy the rules become an eBPF program attached to the
//!   cgroup2 directory; a later `set` replaces the previous program.
//! - On cgroup2, memory kernel/kernelTCP/swappiness/disableOOMKiller/
//!   useHierarchy have no equivalent and are ignored, as runc does.
//! - [`Stats`] serialises with runc's field names (`throttledPeriods`,
//!   `kernelTCP`, `ioServiceBytesRecursive`, ...) and omitempty rules.
#![deny(unsafe_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use oci_spec::runtime::LinuxResources;

mod devices;
mod error;
mod fs;
mod host;
mod resources;
mod stats;
#[allow(unsafe_code)]
mod sys;
#[cfg(test)]
mod tests;

pub use devices::{attach_device_filter, DeviceRule};
pub use error::{Error, Result};
pub use host::Host;
pub use stats::*;

/// Which cgroup versions the host has mounted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layout {
    /// Only v1 hierarchies.
    V1,
    /// v1 hierarchies plus a cgroup2 mount (usually /sys/fs/cgroup/unified).
    Hybrid,
    /// Only the unified hierarchy.
    V2,
}

/// Freezer state of a cgroup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FreezerState {
    Thawed,
    Frozen,
}

/// Where to find one hierarchy, for bind-mounting cgroups into a container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountSource {
    /// v1 subsystems of the hierarchy (`["cpu"]`, `["name=systemd"]`); empty for cgroup2.
    pub controllers: Vec<String>,
    /// Host mount point of the hierarchy.
    pub mount_point: PathBuf,
    /// Host directory of this container's cgroup in the hierarchy.
    pub path: PathBuf,
    /// 1 or 2.
    pub version: u8,
}

/// One hierarchy and the container's directory in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Hierarchy {
    pub version: u8,
    /// v1: subsystems of the mount. v2: controllers available at the mount root.
    pub controllers: Vec<String>,
    pub mount_point: PathBuf,
    pub path: PathBuf,
}

impl Hierarchy {
    fn has(&self, c: &str) -> bool {
        self.controllers.iter().any(|x| x == c)
    }
}

/// The cgroup of one container across every mounted hierarchy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manager {
    layout: Layout,
    hierarchies: Vec<Hierarchy>,
}

const RMDIR_RETRIES: u32 = 10;
const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);

impl Manager {
    /// Resolve where the container's cgroup lives on this host; creates nothing.
    pub fn new(cgroups_path: Option<&str>, container_id: &str, systemd: bool) -> Result<Manager> {
        Manager::with_host(Host::current()?, cgroups_path, container_id, systemd)
    }

    /// Same as [`Manager::new`] for an explicitly described host.
    pub fn with_host(
        host: Host,
        cgroups_path: Option<&str>,
        container_id: &str,
        systemd: bool,
    ) -> Result<Manager> {
        let req = host::requested_path(cgroups_path, container_id, systemd)?;
        let mounts = host::parse_mountinfo(&host.proc_self_mountinfo)?;
        let own = host::parse_proc_cgroup(&host.proc_self_cgroup)?;
        let mut hierarchies = Vec::new();
        let (mut has_v1, mut has_v2) = (false, false);
        for m in &mounts {
            if m.version == 2 {
                if has_v2 {
                    continue;
                }
                has_v2 = true;
                let mp = host.host_path(&m.mount_point);
                let ctrl_file = mp.join("cgroup.controllers");
                let controllers = fs::read_opt(&ctrl_file)?
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(str::to_string)
                    .collect();
                let path = host::resolve_dir(&host, m, own.v2.as_deref(), &req);
                hierarchies.push(Hierarchy {
                    version: 2,
                    controllers,
                    mount_point: mp,
                    path,
                });
            } else {
                has_v1 = true;
                let own_path = m.controllers.iter().find_map(|c| own.v1.get(c));
                let path = host::resolve_dir(&host, m, own_path.map(String::as_str), &req);
                hierarchies.push(Hierarchy {
                    version: 1,
                    controllers: m.controllers.clone(),
                    mount_point: host.host_path(&m.mount_point),
                    path,
                });
            }
        }
        let layout = match (has_v1, has_v2) {
            (true, true) => Layout::Hybrid,
            (true, false) => Layout::V1,
            (false, true) => Layout::V2,
            (false, false) => return Err(Error::NoCgroupMounts),
        };
        Ok(Manager {
            layout,
            hierarchies,
        })
    }

    /// The host's layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    pub(crate) fn unified(&self) -> Option<&Hierarchy> {
        self.hierarchies.iter().find(|h| h.version == 2)
    }

    pub(crate) fn v1(&self, subsystem: &str) -> Option<&Hierarchy> {
        self.hierarchies
            .iter()
            .find(|h| h.version == 1 && h.has(subsystem))
    }

    /// The hierarchy that hosts `controller`: a v1 one, else cgroup2 if it offers it.
    pub(crate) fn controller(&self, controller: &str) -> Option<&Hierarchy> {
        self.v1(controller)
            .or_else(|| self.unified().filter(|h| h.has(controller)))
    }

    /// The container's directory in the unified hierarchy, if any.
    pub fn unified_path(&self) -> Option<&Path> {
        self.unified().map(|h| h.path.as_path())
    }

    /// `mkdir -p` in every hierarchy. On cgroup2, enable the available
    /// controllers in every ancestor's cgroup.subtree_control. On v1 cpuset,
    /// copy cpuset.cpus/mems from the parent where they are empty.
    pub fn create(&self) -> Result<()> {
        for h in &self.hierarchies {
            std::fs::create_dir_all(&h.path).map_err(|source| Error::Mkdir {
                path: h.path.clone(),
                source,
            })?;
            if h.version == 2 {
                enable_subtree_controllers(h)?;
            } else if h.has("cpuset") {
                init_cpuset(&h.mount_point, &h.path)?;
            }
        }
        Ok(())
    }

    /// Move `pid` into the container's cgroup in every hierarchy.
    pub fn apply(&self, pid: i32) -> Result<()> {
        for h in &self.hierarchies {
            fs::write_file(&h.path.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// Write every resource in `resources`.
    pub fn set(&self, resources: &LinuxResources) -> Result<()> {
        let plan = resources::plan(self, resources)?;
        for w in &plan.writes {
            fs::write_file(&w.path, &w.value)?;
        }
        resources::verify(&plan)?;
        if let Some((dir, rules)) = &plan.bpf_devices {
            devices::attach_device_filter(dir, rules)?;
        }
        Ok(())
    }

    fn freezer(&self, op: &'static str) -> Result<(u8, &Path)> {
        if let Some(h) = self.v1("freezer") {
            return Ok((1, &h.path));
        }
        if let Some(h) = self.unified() {
            return Ok((2, &h.path));
        }
        Err(Error::NoController {
            controller: "freezer",
            op,
        })
    }

    /// Freeze every process in the cgroup and wait until it is frozen.
    pub fn freeze(&self) -> Result<()> {
        match self.freezer("freeze")? {
            (1, dir) => {
                let state = dir.join("freezer.state");
                let deadline = Instant::now() + FREEZE_TIMEOUT;
                let mut n = 0u32;
                loop {
                    // Re-writing FROZEN nudges a cgroup stuck in FREEZING (as runc does).
                    if n == 0 {
                        fs::write_file(&state, "FROZEN")?;
                        n = 50;
                    }
                    if fs::read_string(&state)?.trim() == "FROZEN" {
                        return Ok(());
                    }
                    if Instant::now() > deadline {
                        let _ = fs::write_file(&state, "THAWED");
                        return Err(Error::Timeout {
                            path: state,
                            state: "FROZEN",
                        });
                    }
                    n -= 1;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            (_, dir) => {
                fs::write_file(&dir.join("cgroup.freeze"), "1")?;
                let events = dir.join("cgroup.events");
                let deadline = Instant::now() + FREEZE_TIMEOUT;
                loop {
                    if events_frozen(&events)? {
                        return Ok(());
                    }
                    if Instant::now() > deadline {
                        let _ = fs::write_file(&dir.join("cgroup.freeze"), "0");
                        return Err(Error::Timeout {
                            path: events,
                            state: "frozen 1",
                        });
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }

    /// Thaw the cgroup.
    pub fn thaw(&self) -> Result<()> {
        match self.freezer("thaw")? {
            (1, dir) => fs::write_file(&dir.join("freezer.state"), "THAWED"),
            (_, dir) => fs::write_file(&dir.join("cgroup.freeze"), "0"),
        }
    }

    /// Current freezer state; FREEZING (v1) or a pending freeze (v2) reads as Thawed.
    pub fn freezer_state(&self) -> Result<FreezerState> {
        match self.freezer("freezer_state")? {
            (1, dir) => {
                let p = dir.join("freezer.state");
                match fs::read_string(&p)?.trim() {
                    "FROZEN" => Ok(FreezerState::Frozen),
                    "THAWED" | "FREEZING" => Ok(FreezerState::Thawed),
                    other => Err(Error::Parse {
                        path: p,
                        what: "freezer state",
                        content: other.to_string(),
                    }),
                }
            }
            (_, dir) => {
                let p = dir.join("cgroup.freeze");
                match fs::read_string(&p)?.trim() {
                    "0" => Ok(FreezerState::Thawed),
                    "1" if events_frozen(&dir.join("cgroup.events"))? => Ok(FreezerState::Frozen),
                    "1" => Ok(FreezerState::Thawed),
                    other => Err(Error::Parse {
                        path: p,
                        what: "cgroup.freeze value",
                        content: other.to_string(),
                    }),
                }
            }
        }
    }

    /// The hierarchy used to list processes: pids, freezer, cgroup2, else any.
    fn procs_dir(&self) -> Option<&Path> {
        self.v1("pids")
            .or_else(|| self.v1("freezer"))
            .or_else(|| self.unified())
            .or_else(|| self.hierarchies.first())
            .map(|h| h.path.as_path())
    }

    /// Every pid in the cgroup and its descendants.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let mut out = Vec::new();
        if let Some(dir) = self.procs_dir() {
            collect_pids(dir, &mut out)?;
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// Resource usage in the shape of runc's `events --stats` data.
    pub fn stats(&self) -> Result<Stats> {
        stats::collect(self)
    }

    /// How many of the cgroup's processes the OOM killer killed (docker's
    /// `oom` event and `State.OOMKilled`).
    pub fn oom_kills(&self) -> Result<u64> {
        stats::oom_kills(self)
    }

    /// Send `signal` to every process in the cgroup: freeze, signal, thaw
    /// (the freeze is skipped if no freezer is usable).
    pub fn kill_all(&self, signal: i32) -> Result<()> {
        let sig = nix::sys::signal::Signal::try_from(signal).map_err(|_| Error::InvalidValue {
            field: "signal",
            value: signal.to_string(),
            reason: "not a valid signal number".into(),
        })?;
        // cgroup2 can kill the whole tree atomically (Linux 5.14+).
        if signal == libc::SIGKILL && self.v1("freezer").is_none() {
            if let Some(u) = self.unified() {
                let kill = u.path.join("cgroup.kill");
                if kill.exists() && fs::write_file(&kill, "1").is_ok() {
                    return Ok(());
                }
            }
        }
        let frozen = self.freeze().is_ok();
        let result = (|| {
            for pid in self.pids()? {
                match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig) {
                    Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                    Err(source) => {
                        return Err(Error::Signal {
                            pid,
                            signal,
                            source,
                        })
                    }
                }
            }
            Ok(())
        })();
        if frozen {
            self.thaw()?;
        }
        result
    }

    /// Remove the cgroup (and any sub-cgroups) in every hierarchy, retrying
    /// briefly on EBUSY. Carries on past failures and reports them all.
    pub fn destroy(&self) -> Result<()> {
        let mut errors = Vec::new();
        for h in &self.hierarchies {
            if let Err(e) = remove_tree(&h.path) {
                errors.push(e.to_string());
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Destroy(errors.join("; ")))
        }
    }

    /// Per hierarchy: what to bind-mount into a container.
    pub fn mount_sources(&self) -> Vec<MountSource> {
        self.hierarchies
            .iter()
            .map(|h| MountSource {
                controllers: if h.version == 1 {
                    h.controllers.clone()
                } else {
                    Vec::new()
                },
                mount_point: h.mount_point.clone(),
                path: h.path.clone(),
                version: h.version,
            })
            .collect()
    }

    /// True if the container's cgroup directory exists in any hierarchy.
    pub fn exists(&self) -> bool {
        self.hierarchies.iter().any(|h| h.path.is_dir())
    }
}

fn events_frozen(events: &Path) -> Result<bool> {
    Ok(fs::read_string(events)?
        .lines()
        .any(|l| l.trim() == "frozen 1"))
}

/// Write `+c` for every available controller into the subtree_control of
/// each ancestor of the leaf (from the mount point down to its parent).
fn enable_subtree_controllers(h: &Hierarchy) -> Result<()> {
    if h.controllers.is_empty() {
        return Ok(());
    }
    let Ok(rel) = h.path.strip_prefix(&h.mount_point) else {
        return Ok(());
    };
    let value = h
        .controllers
        .iter()
        .map(|c| format!("+{c}"))
        .collect::<Vec<_>>()
        .join(" ");
    let mut dir = h.mount_point.clone();
    for comp in rel.components() {
        let file = dir.join("cgroup.subtree_control");
        // Below the root, a cgroup holding processes (the caller's own, for
        // a relative cgroupsPath) must enable nothing: it refuses domain
        // controllers (EBUSY), and threaded ones alone would make it a
        // thread root, whose children refuse processes (EOPNOTSUPP).
        if dir != h.mount_point && has_procs(&dir)? {
            dir.push(comp);
            continue;
        }
        if let Err(e) = fs::write_file(&file, &value) {
            // Not a cgroup2 directory at all: report it. (ENOENT from the
            // write itself only means that a controller is not available
            // here, as below a cgroup holding processes.)
            if !file.exists() {
                return Err(e);
            }
            // Otherwise enable what can be enabled, one by one, like runc; a
            // controller that ends up missing makes the resource write that
            // needs it fail later, naming its file.
            for c in &h.controllers {
                let _ = fs::write_file(&file, &format!("+{c}"));
            }
        }
        dir.push(comp);
    }
    Ok(())
}

/// True if `dir`'s cgroup.procs lists any process.
fn has_procs(dir: &Path) -> Result<bool> {
    Ok(fs::read_opt(&dir.join("cgroup.procs"))?.is_some_and(|s| !s.trim().is_empty()))
}

/// v1 cpuset: a new cgroup has empty cpus/mems and refuses tasks until they
/// are set; copy the parent's values down every level below the mount.
fn init_cpuset(mount_point: &Path, leaf: &Path) -> Result<()> {
    let Ok(rel) = leaf.strip_prefix(mount_point) else {
        return Ok(());
    };
    let mut parent = mount_point.to_path_buf();
    for comp in rel.components() {
        let dir = parent.join(comp);
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let own = dir.join(file);
            match fs::read_opt(&own)? {
                Some(v) if v.trim().is_empty() => {
                    let pv = fs::read_string(&parent.join(file))?;
                    fs::write_file(&own, pv.trim())?;
                }
                _ => {}
            }
        }
        parent = dir;
    }
    Ok(())
}

fn collect_pids(dir: &Path, out: &mut Vec<i32>) -> Result<()> {
    let procs = dir.join("cgroup.procs");
    if let Some(s) = fs::read_opt(&procs)? {
        for l in s.lines().map(str::trim).filter(|l| !l.is_empty()) {
            out.push(l.parse().map_err(|_| Error::Parse {
                path: procs.clone(),
                what: "pid",
                content: l.to_string(),
            })?);
        }
    }
    for sub in subdirs(dir)? {
        collect_pids(&sub, out)?;
    }
    Ok(())
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::Read {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    let mut v = Vec::new();
    for e in rd.flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            v.push(e.path());
        }
    }
    Ok(v)
}

/// rmdir the cgroup and its children, deepest first, retrying EBUSY.
fn remove_tree(dir: &Path) -> Result<()> {
    for sub in subdirs(dir)? {
        remove_tree(&sub)?;
    }
    let mut delay = Duration::from_millis(10);
    let mut attempt = 0;
    loop {
        let err = match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => e,
        };
        if err.raw_os_error() == Some(libc::EBUSY) && attempt < RMDIR_RETRIES {
            attempt += 1;
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(200));
            continue;
        }
        if err.raw_os_error() == Some(libc::ENOTEMPTY) && is_fake_tree(dir) {
            // Unit-test trees are ordinary directories holding plain files.
            return std::fs::remove_dir_all(dir).map_err(|source| Error::Rmdir {
                path: dir.to_path_buf(),
                source,
            });
        }
        return Err(Error::Rmdir {
            path: dir.to_path_buf(),
            source: err,
        });
    }
}

/// True if `dir` is not on a cgroup filesystem (a fake tree in tests).
fn is_fake_tree(dir: &Path) -> bool {
    match nix::sys::statfs::statfs(dir) {
        Ok(s) => {
            let t = s.filesystem_type();
            t != nix::sys::statfs::CGROUP_SUPER_MAGIC && t != nix::sys::statfs::CGROUP2_SUPER_MAGIC
        }
        Err(_) => false,
    }
}

/// Moving a process into a cgroup (a write to `cgroup.procs`) takes the
/// kernel's cgroup threadgroup lock for writing, and the first such write
/// after a quiet spell waits for an RCU grace period (5-20 ms here) before
/// it can; later writes within about one more grace period do not wait.
/// This starts that wait now, on a thread of its own, by "moving" the
/// calling process into the cgroup it is already in (no change), so that
/// the container's attach a few milliseconds later finds the lock ready.
/// Best effort; returns at once.
pub fn prime_attach() {
    let _ = std::thread::Builder::new()
        .name("cgroup-prime".into())
        .spawn(|| {
            let _ = prime_attach_now();
        });
}

/// The `cgroup.procs` of the calling process's own cgroup in the first
/// cgroup hierarchy mounted, written with its pid.
fn prime_attach_now() -> Option<()> {
    let h = host::Host::current().ok()?;
    let own = host::parse_proc_cgroup(&h.proc_self_cgroup).ok()?;
    let mounts = host::parse_mountinfo(&h.proc_self_mountinfo).ok()?;
    let (mount, path) = mounts.iter().find_map(|m| {
        let own = if m.version == 2 {
            own.v2.clone()
        } else {
            m.controllers.iter().find_map(|c| own.v1.get(c).cloned())
        }?;
        Some((m, own))
    })?;
    let req = host::CgPath::Relative(std::path::PathBuf::new());
    let dir = host::resolve_dir(&h, mount, Some(&path), &req);
    std::fs::write(dir.join("cgroup.procs"), std::process::id().to_string()).ok()
}

/// The cgroup part of the runtime-spec "features" document.
pub fn features() -> serde_json::Value {
    serde_json::json!({
        "v1": true,
        "v2": true,
        "systemd": false,
        "systemdUser": false,
        "rdma": true,
    })
}

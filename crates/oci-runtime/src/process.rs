//! The last steps before `execve`, shared by a container's init and by
//! processes started with `exec`: rlimits, scheduling, user, capabilities,
//! no_new_privs, seccomp, and the executable lookup.

use crate::capabilities::CapSets;
use crate::error::{Context, Error, Result};
use crate::sys;
use oci_spec::runtime::{LinuxSeccomp, PosixRlimitType, Process};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Everything `execve` needs, checked before the container is reported as created.
pub struct Prepared {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    caps: Option<CapSets>,
}

fn cstring(s: &str, field: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::msg(format!("{field}: contains a NUL byte: {s:?}")))
}

/// Finds `name` the way execvp would, in the container's PATH.
pub fn lookup(name: &str, env: &[String], cwd: &Path) -> Result<PathBuf> {
    let is_exec = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if name.contains('/') {
        let p = if Path::new(name).is_absolute() {
            PathBuf::from(name)
        } else {
            cwd.join(name)
        };
        if !p.exists() {
            return Err(Error::msg(format!(
                "exec: {name:?}: no such file or directory"
            )));
        }
        if !is_exec(&p) {
            return Err(Error::msg(format!("exec: {name:?}: permission denied")));
        }
        return Ok(PathBuf::from(name));
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let p = Path::new(dir).join(name);
        if is_exec(&p) {
            return Ok(p);
        }
    }
    Err(Error::msg(format!(
        "exec: {name:?}: executable file not found in $PATH"
    )))
}

/// HOME from /etc/passwd for `uid`, when the environment lacks it.
fn home_for(uid: u32) -> String {
    if let Ok(s) = std::fs::read_to_string("/etc/passwd") {
        for line in s.lines() {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() >= 6 && f[2].parse() == Ok(uid) {
                return f[5].to_string();
            }
        }
    }
    "/".to_string()
}

/// Applies what must happen while still privileged and checks the command.
/// Runs inside the container's root, before `start`.
pub fn prepare(p: &Process, preserve_fds: u32) -> Result<Prepared> {
    // No descriptor of the runtime's is inherited by the process: all but
    // stdio and the preserved ones are close-on-exec from here on, before
    // the chdir, as runc 1.1.12 does (CVE-2024-21626).
    sys::cloexec_from(3 + preserve_fds).ctx(|| "close_range")?;
    // cwd: created if missing, as runc does.
    let cwd = p.cwd();
    if nix::unistd::chdir(cwd).is_err() {
        std::fs::create_dir_all(cwd)
            .ctx(|| format!("process.cwd: cannot create {}", cwd.display()))?;
        nix::unistd::chdir(cwd)
            .ctx(|| format!("process.cwd: cannot chdir to {}", cwd.display()))?;
    }
    // A cwd reached through a magic link (/proc/self/fd/N of a descriptor
    // still open here) can be a directory outside the container's root
    // (CVE-2024-21626); no descriptor survives the exec (see `exec`).
    if !sys::cwd_in_root() {
        return Err(Error::msg(format!(
            "process.cwd: {} is outside the container's root filesystem",
            cwd.display()
        )));
    }
    let mut env: Vec<String> = p.env().clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", home_for(p.user().uid())));
    }
    let args = p.args().clone().unwrap_or_default();
    let first = args
        .first()
        .ok_or_else(|| Error::msg("process.args: empty"))?;
    let exe = lookup(first, &env, cwd)?;
    for rl in p.rlimits().iter().flatten() {
        set_rlimit(rl.typ(), rl.soft(), rl.hard())?;
    }
    if let Some(adj) = p.oom_score_adj() {
        let rel = format!("{}/oom_score_adj", crate::rootfs::proc_self());
        crate::rootfs::write_proc(&rel, &adj.to_string())
            .ctx(|| format!("process.oomScoreAdj: cannot set {adj}"))?;
    }
    if let Some(io) = p.io_priority() {
        let class = match serde_json::to_value(io.class())
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .as_deref()
        {
            Some("IOPRIO_CLASS_RT") => 1,
            Some("IOPRIO_CLASS_BE") => 2,
            Some("IOPRIO_CLASS_IDLE") => 3,
            other => {
                return Err(Error::msg(format!(
                    "process.ioPriority.class: unknown {other:?}"
                )))
            }
        };
        sys::ioprio_set(class, io.priority() as i32).ctx(|| "process.ioPriority: ioprio_set")?;
    }
    if let Some(s) = p.scheduler() {
        let policy = serde_json::to_value(s.policy())
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let pol = match policy.as_str() {
            "SCHED_OTHER" => 0,
            "SCHED_FIFO" => 1,
            "SCHED_RR" => 2,
            "SCHED_BATCH" => 3,
            "SCHED_ISO" => 4,
            "SCHED_IDLE" => 5,
            "SCHED_DEADLINE" => 6,
            other => {
                return Err(Error::msg(format!(
                    "process.scheduler.policy: unknown {other:?}"
                )))
            }
        };
        let mut flags = 0u64;
        for f in s.flags().iter().flatten() {
            let name = serde_json::to_value(f)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            flags |= match name.as_str() {
                "SCHED_FLAG_RESET_ON_FORK" => 0x01,
                "SCHED_FLAG_RECLAIM" => 0x02,
                "SCHED_FLAG_DL_OVERRUN" => 0x04,
                "SCHED_FLAG_KEEP_POLICY" => 0x08,
                "SCHED_FLAG_KEEP_PARAMS" => 0x10,
                "SCHED_FLAG_UTIL_CLAMP_MIN" => 0x20,
                "SCHED_FLAG_UTIL_CLAMP_MAX" => 0x40,
                other => {
                    return Err(Error::msg(format!(
                        "process.scheduler.flags: unknown {other:?}"
                    )))
                }
            };
        }
        let mut attr = sys::SchedAttr {
            sched_policy: pol,
            sched_flags: flags,
            sched_nice: s.nice().unwrap_or(0),
            sched_priority: s.priority().unwrap_or(0) as u32,
            sched_runtime: s.runtime().unwrap_or(0),
            sched_deadline: s.deadline().unwrap_or(0),
            sched_period: s.period().unwrap_or(0),
            ..Default::default()
        };
        sys::sched_setattr(&mut attr)
            .ctx(|| format!("process.scheduler: sched_setattr {policy}"))?;
    }
    if let Some(profile) = p.apparmor_profile().as_ref().filter(|s| !s.is_empty()) {
        apply_apparmor(profile)?;
    }
    if p.selinux_label().as_ref().is_some_and(|s| !s.is_empty())
        && Path::new("/sys/fs/selinux").exists()
    {
        let label = p.selinux_label().clone().unwrap_or_default();
        let rel = format!("{}/attr/exec", crate::rootfs::proc_self());
        crate::rootfs::write_proc(&rel, &label).ctx(|| format!("process.selinuxLabel: {label}"))?;
    } else if p.selinux_label().as_ref().is_some_and(|s| !s.is_empty()) {
        crate::log::warn("process.selinuxLabel ignored: SELinux is not enabled on this host");
    }
    let caps = p
        .capabilities()
        .as_ref()
        .map(CapSets::from_spec)
        .transpose()?;
    let argv = args
        .iter()
        .map(|a| cstring(a, "process.args"))
        .collect::<Result<Vec<_>>>()?;
    let envp = env
        .iter()
        .map(|e| cstring(e, "process.env"))
        .collect::<Result<Vec<_>>>()?;
    let path = CString::new(exe.as_os_str().as_bytes())
        .map_err(|_| Error::msg("process.args[0]: NUL byte"))?;
    Ok(Prepared {
        path,
        argv,
        envp,
        caps,
    })
}

fn apply_apparmor(profile: &str) -> Result<()> {
    let enabled = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .map(|s| s.trim() == "Y")
        .unwrap_or(false);
    if !enabled {
        crate::log::warn(&format!(
            "process.apparmorProfile {profile:?} ignored: AppArmor is not enabled on this host"
        ));
        return Ok(());
    }
    let me = crate::rootfs::proc_self();
    let attr = if Path::new(&format!("/proc/{me}/attr/apparmor/exec")).exists() {
        format!("{me}/attr/apparmor/exec")
    } else {
        format!("{me}/attr/exec")
    };
    crate::rootfs::write_proc(&attr, &format!("exec {profile}"))
        .ctx(|| format!("process.apparmorProfile: cannot apply {profile:?}"))
}

fn rlimit_resource(t: PosixRlimitType) -> Result<libc::__rlimit_resource_t> {
    use PosixRlimitType::*;
    Ok(match t {
        RlimitCpu => libc::RLIMIT_CPU,
        RlimitFsize => libc::RLIMIT_FSIZE,
        RlimitData => libc::RLIMIT_DATA,
        RlimitStack => libc::RLIMIT_STACK,
        RlimitCore => libc::RLIMIT_CORE,
        RlimitRss => libc::RLIMIT_RSS,
        RlimitNproc => libc::RLIMIT_NPROC,
        RlimitNofile => libc::RLIMIT_NOFILE,
        RlimitMemlock => libc::RLIMIT_MEMLOCK,
        RlimitAs => libc::RLIMIT_AS,
        RlimitLocks => libc::RLIMIT_LOCKS,
        RlimitSigpending => libc::RLIMIT_SIGPENDING,
        RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        RlimitNice => libc::RLIMIT_NICE,
        RlimitRtprio => libc::RLIMIT_RTPRIO,
        RlimitRttime => libc::RLIMIT_RTTIME,
    })
}

fn set_rlimit(t: PosixRlimitType, soft: u64, hard: u64) -> Result<()> {
    let res = rlimit_resource(t)?;
    sys::setrlimit(res, soft, hard)
        .ctx(|| format!("process.rlimits: cannot set {t:?} to soft {soft} hard {hard}"))
}

/// Connects to the seccomp listener if the profile notifies; call while the
/// runtime's filesystem is reachable (before pivot_root or setns).
pub fn connect_listener(s: Option<&LinuxSeccomp>) -> Result<Option<std::os::fd::OwnedFd>> {
    match s {
        Some(s) if crate::seccomp::uses_notify(s) => {
            let path = s.listener_path().clone().ok_or_else(|| {
                Error::msg("linux.seccomp: SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath")
            })?;
            crate::sync::connect(&path).map(Some)
        }
        _ => Ok(None),
    }
}

/// Where to send the seccomp notify fd, and the state that goes with it.
pub struct NotifyTarget {
    /// Connected to linux.seccomp.listenerPath while the runtime's mount
    /// namespace was still reachable.
    pub sock: std::os::fd::OwnedFd,
    pub state: Vec<u8>,
}

fn load_seccomp(s: &LinuxSeccomp, notify: Option<&NotifyTarget>) -> Result<()> {
    if let Some(fd) = crate::seccomp::load(s)? {
        let t = notify.ok_or_else(|| {
            Error::msg("linux.seccomp: SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath")
        })?;
        use std::os::fd::AsRawFd;
        crate::sync::send_fd(t.sock.as_raw_fd(), fd.as_raw_fd(), &t.state)?;
    }
    Ok(())
}

/// Switches to the container's user and capabilities (and, without
/// no_new_privs, loads seccomp while CAP_SYS_ADMIN is still held). Runs
/// before the container is reported created, so failures surface at create.
pub fn drop_privileges(
    p: &Process,
    prep: &Prepared,
    seccomp: Option<&LinuxSeccomp>,
    notify: Option<&NotifyTarget>,
) -> Result<()> {
    let nnp = p.no_new_privileges().unwrap_or(false);
    if let (false, Some(s)) = (nnp, seccomp) {
        load_seccomp(s, notify)?;
    }
    if let Some(c) = &prep.caps {
        c.apply_bounding()?;
    }
    let user = p.user();
    let gids = user.additional_gids().clone().unwrap_or_default();
    match sys::setgroups(&gids) {
        Ok(()) => {}
        // In a user namespace with setgroups denied, an empty list is fine.
        Err(e) if e.raw_os_error() == Some(libc::EPERM) && gids.is_empty() => {}
        Err(e) => return Err(e).ctx(|| format!("process.user.additionalGids: setgroups {gids:?}")),
    }
    sys::setresgid(user.gid()).ctx(|| format!("process.user.gid: setgid {}", user.gid()))?;
    sys::set_keep_caps(true).ctx(|| "prctl(PR_SET_KEEPCAPS)")?;
    sys::setresuid(user.uid()).ctx(|| format!("process.user.uid: setuid {}", user.uid()))?;
    sys::set_keep_caps(false).ctx(|| "prctl(PR_SET_KEEPCAPS)")?;
    if let Some(c) = &prep.caps {
        c.apply()?;
    }
    Ok(())
}

/// The last steps: no_new_privs and seccomp (then as close to execve as
/// possible), umask, close-on-exec for every fd past stdio and the preserved
/// ones, and execve. Returns only on failure.
pub fn exec(
    p: &Process,
    prep: Prepared,
    seccomp: Option<&LinuxSeccomp>,
    notify: Option<&NotifyTarget>,
    preserve_fds: u32,
) -> Error {
    let r = (|| -> Result<()> {
        if p.no_new_privileges().unwrap_or(false) {
            sys::set_no_new_privs().ctx(|| "process.noNewPrivileges: prctl")?;
            if let Some(s) = seccomp {
                load_seccomp(s, notify)?;
            }
        }
        sys::umask(p.user().umask().unwrap_or(0o022));
        // Nothing of the runtime's may reach the container (CVE-2024-21626).
        sys::cloexec_from(3 + preserve_fds).ctx(|| "close_range")
    })();
    if let Err(e) = r {
        return e;
    }
    let e = sys::execve(&prep.path, &prep.argv, &prep.envp);
    Error::msg(format!("exec {:?}: {e}", prep.path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_uses_path() {
        let env = vec!["PATH=/nonexistent:/bin:/usr/bin".to_string()];
        let p = lookup("sh", &env, Path::new("/")).unwrap();
        assert!(p.ends_with("sh"));
        let e = lookup("definitely-not-a-command", &env, Path::new("/"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("executable file not found"), "{e}");
        let e = lookup("/nonexistent/x", &env, Path::new("/"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no such file"), "{e}");
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("plain");
        std::fs::write(&f, "x").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = lookup(f.to_str().unwrap(), &env, Path::new("/"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("permission denied"), "{e}");
    }
}

//! Operations on an existing container: start, state, kill, delete, list,
//! pause, resume, ps, update, stats.

use crate::error::{Context, Error, Result};
use crate::hooks;
use crate::state::{ContainerState, Status, EXEC_FIFO};
use crate::sys;
use oci_spec::runtime::LinuxResources;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

/// `start`: releases init from the exec fifo and runs poststart hooks.
pub fn start(root: &Path, id: &str) -> Result<()> {
    let st = ContainerState::load(root, id)?;
    let status = st.status(root);
    if status != Status::Created {
        return Err(Error::msg(format!(
            "cannot start container {id:?}: it is {status}, not created"
        )));
    }
    let fifo = ContainerState::dir(root, id).join(EXEC_FIFO);
    // Non-blocking open: a dead init must not hang us.
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags_nonblock()
        .open(&fifo)
        .ctx(|| format!("cannot open {}", fifo.display()))?;
    let mut waited = 0;
    loop {
        if sys::poll_readable(f.as_raw_fd(), 100).ctx(|| "poll exec.fifo")? {
            break;
        }
        if !berth_util::proc::alive(st.pid, st.start_time) {
            return Err(Error::msg(format!(
                "cannot start container {id:?}: its init process died"
            )));
        }
        waited += 100;
        if waited > 30_000 {
            return Err(Error::msg(format!(
                "cannot start container {id:?}: init did not answer"
            )));
        }
    }
    let mut buf = [0u8; 1];
    let n = (&f).read(&mut buf).ctx(|| "read exec.fifo")?;
    let _ = std::fs::remove_file(&fifo);
    if n != 1 {
        return Err(Error::msg(format!(
            "cannot start container {id:?}: init exited before start"
        )));
    }
    // Init holds the fifo open until its execve: EOF means the container's
    // process runs (or init failed, which its exit shows).
    loop {
        sys::poll_readable(f.as_raw_fd(), -1).ctx(|| "poll exec.fifo")?;
        match (&f).read(&mut buf) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::Interrupted =>
            {
                continue
            }
            Err(e) => return Err(e).ctx(|| "read exec.fifo"),
        }
    }
    let h = st.config.hooks().clone().unwrap_or_default();
    if h.poststart().as_ref().is_some_and(|v| !v.is_empty()) {
        let_process_start(st.pid, st.start_time, Duration::from_millis(20));
    }
    hooks::run_hooks_warn(
        h.poststart().as_ref(),
        &st.hook_state(Status::Running),
        "poststart",
    );
    Ok(())
}

/// Gives the container's process, just executed, until it first sleeps
/// or exits (at most `cap`) before the poststart hooks run: a hook
/// started at once races the process's first steps, which hooks commonly
/// look for (the runtime-tools `poststart` program checks that the
/// process's first write comes before the hook's; crun and runc lose that
/// race now and then). Only paid when there are poststart hooks.
fn let_process_start(pid: i32, start_time: u64, cap: Duration) {
    let t = Instant::now();
    while t.elapsed() < cap {
        match berth_util::proc::stat(pid) {
            Some(('R' | 'D', st)) if st == start_time => {
                std::thread::sleep(Duration::from_micros(100))
            }
            _ => return,
        }
    }
}

trait NonBlock {
    fn custom_flags_nonblock(&mut self) -> &mut Self;
}

impl NonBlock for std::fs::OpenOptions {
    fn custom_flags_nonblock(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
    }
}

/// Parses a signal given as a number, `KILL` or `SIGKILL`.
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        return Err(Error::msg(format!("invalid signal {s:?}")));
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up.clone()
    } else {
        format!("SIG{up}")
    };
    if let Some(rest) = name.strip_prefix("SIGRTMIN+") {
        let n: i32 = rest
            .parse()
            .map_err(|_| Error::msg(format!("invalid signal {s:?}")))?;
        return Ok(libc::SIGRTMIN() + n);
    }
    name.parse::<nix::sys::signal::Signal>()
        .map(|s| s as i32)
        .map_err(|_| Error::msg(format!("invalid signal {s:?}")))
}

/// `kill`: signals init, or with `all` every process of the container.
pub fn kill(root: &Path, id: &str, sig: i32, all: bool) -> Result<()> {
    let st = ContainerState::load(root, id)?;
    let status = st.status(root);
    if status == Status::Stopped {
        return Err(Error::msg(format!(
            "cannot kill container {id:?}: container not running"
        )));
    }
    if all {
        if let Some(cg) = &st.cgroup {
            return cg.kill_all(sig).map_err(Into::into);
        }
    }
    signal_init(&st, sig)
}

fn signal_init(st: &ContainerState, sig: i32) -> Result<()> {
    let fd = sys::pidfd_open(st.pid).ctx(|| format!("container {:?}: init {}", st.id, st.pid))?;
    // The pidfd pins the process: check it is still ours before signalling.
    if !berth_util::proc::alive(st.pid, st.start_time) {
        return Err(Error::msg(format!(
            "cannot kill container {:?}: container not running",
            st.id
        )));
    }
    sys::pidfd_send_signal(&fd, sig).ctx(|| format!("cannot signal container {:?}", st.id))
}

/// Waits until the init process has exited (or is a zombie).
fn wait_gone(st: &ContainerState, timeout: Duration) -> bool {
    let t = Instant::now();
    while berth_util::proc::alive(st.pid, st.start_time) {
        if t.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// `delete`: removes a stopped (or, with `force`, any) container.
pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    let st = match ContainerState::load(root, id) {
        Ok(s) => s,
        Err(Error::NotFound(_)) if force => {
            // A half-removed container: drop whatever is left.
            let _ = std::fs::remove_dir_all(ContainerState::dir(root, id));
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let status = st.status(root);
    match status {
        Status::Stopped => {}
        Status::Created => {
            kill_everything(&st);
        }
        _ if force => {
            kill_everything(&st);
        }
        s => {
            return Err(Error::msg(format!(
                "cannot delete container {id:?} that is not stopped: {s}"
            )))
        }
    }
    destroy(root, &st)
}

fn kill_everything(st: &ContainerState) {
    if let Some(cg) = &st.cgroup {
        let _ = cg.thaw();
        let _ = cg.kill_all(libc::SIGKILL);
    }
    let _ = signal_init(st, libc::SIGKILL);
    if !wait_gone(st, Duration::from_secs(10)) {
        crate::log::warn(&format!(
            "container {:?}: init {} did not die",
            st.id, st.pid
        ));
    }
}

/// Releases everything a stopped container holds, carrying on past failures
/// and reporting all of them.
pub fn destroy(root: &Path, st: &ContainerState) -> Result<()> {
    let mut errors = Vec::new();
    if let Some(cg) = &st.cgroup {
        // Processes left without a pid namespace of their own.
        if cg.pids().map(|p| !p.is_empty()).unwrap_or(false) {
            let _ = cg.kill_all(libc::SIGKILL);
            let t = Instant::now();
            while cg.pids().map(|p| !p.is_empty()).unwrap_or(false)
                && t.elapsed() < Duration::from_secs(5)
            {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        if let Err(e) = cg.destroy() {
            errors.push(e.to_string());
        }
    }
    let h = st.config.hooks().clone().unwrap_or_default();
    hooks::run_hooks_warn(
        h.poststop().as_ref(),
        &st.hook_state(Status::Stopped),
        "poststop",
    );
    let dir = ContainerState::dir(root, &st.id);
    if let Err(e) = std::fs::remove_dir_all(&dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            errors.push(format!("cannot remove {}: {e}", dir.display()));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::msg(format!(
            "delete {:?}: {}",
            st.id,
            errors.join("; ")
        )))
    }
}

/// `list`: every container under the root, with its live status.
pub fn list(root: &Path) -> Result<Vec<(ContainerState, Status)>> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(root) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).ctx(|| format!("cannot read {}", root.display())),
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Ok(st) = ContainerState::load(root, &name) {
            let s = st.status(root);
            out.push((st, s));
        }
    }
    out.sort_by(|a, b| a.0.created.cmp(&b.0.created));
    Ok(out)
}

fn running_cgroup(root: &Path, id: &str) -> Result<(ContainerState, cgroups::Manager)> {
    let st = ContainerState::load(root, id)?;
    let cg = st
        .cgroup
        .clone()
        .ok_or_else(|| Error::msg(format!("container {id:?} has no cgroup")))?;
    Ok((st, cg))
}

pub fn pause(root: &Path, id: &str) -> Result<()> {
    let (st, cg) = running_cgroup(root, id)?;
    match st.status(root) {
        Status::Running => cg.freeze().map_err(Into::into),
        s => Err(Error::msg(format!(
            "cannot pause container {id:?}: it is {s}"
        ))),
    }
}

pub fn resume(root: &Path, id: &str) -> Result<()> {
    let (st, cg) = running_cgroup(root, id)?;
    match st.status(root) {
        Status::Paused => cg.thaw().map_err(Into::into),
        s => Err(Error::msg(format!(
            "cannot resume container {id:?}: it is {s}, not paused"
        ))),
    }
}

/// Pids of every process of the container.
pub fn pids(root: &Path, id: &str) -> Result<Vec<i32>> {
    let (st, cg) = running_cgroup(root, id)?;
    if st.status(root) == Status::Stopped {
        return Ok(vec![]);
    }
    Ok(cg.pids()?)
}

/// `update`: applies new resources and remembers them.
pub fn update(root: &Path, id: &str, res: &LinuxResources) -> Result<()> {
    let (mut st, cg) = running_cgroup(root, id)?;
    if st.status(root) == Status::Stopped {
        return Err(Error::msg(format!(
            "cannot update container {id:?}: container not running"
        )));
    }
    cg.set(res)?;
    let merged = merge_resources(
        st.config
            .linux()
            .as_ref()
            .and_then(|l| l.resources().clone()),
        res,
    );
    let mut linux = st.config.linux().clone().unwrap_or_default();
    linux.set_resources(Some(merged));
    st.config.set_linux(Some(linux));
    st.save(root)
}

/// Overlays the fields set in `new` on `old` (JSON-level merge).
pub fn merge_resources(old: Option<LinuxResources>, new: &LinuxResources) -> LinuxResources {
    fn merge(a: &mut serde_json::Value, b: &serde_json::Value) {
        match (a, b) {
            (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
                for (k, v) in b {
                    if v.is_null() {
                        continue;
                    }
                    merge(a.entry(k.clone()).or_insert(serde_json::Value::Null), v);
                }
            }
            (a, b) => *a = b.clone(),
        }
    }
    let mut a = serde_json::to_value(old.unwrap_or_default()).unwrap_or_default();
    let b = serde_json::to_value(new).unwrap_or_default();
    merge(&mut a, &b);
    serde_json::from_value(a).unwrap_or_else(|_| new.clone())
}

pub fn stats(root: &Path, id: &str) -> Result<serde_json::Value> {
    let (_, cg) = running_cgroup(root, id)?;
    let s = cg.stats()?;
    Ok(serde_json::json!({"type": "stats", "id": id, "data": s}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("sigterm").unwrap(), 15);
        assert_eq!(parse_signal("SIGRTMIN+1").unwrap(), libc::SIGRTMIN() + 1);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("0").is_err());
    }

    #[test]
    fn merge_keeps_old_fields() {
        let old: LinuxResources = serde_json::from_value(
            serde_json::json!({"memory": {"limit": 100, "swap": 200}, "pids": {"limit": 5}}),
        )
        .unwrap();
        let new: LinuxResources =
            serde_json::from_value(serde_json::json!({"memory": {"limit": 300}})).unwrap();
        let m = merge_resources(Some(old), &new);
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["memory"]["limit"], 300);
        assert_eq!(v["memory"]["swap"], 200);
        assert_eq!(v["pids"]["limit"], 5);
    }
}

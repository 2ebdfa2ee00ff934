//! The exec helper: a process of its own (never the caller's child, never
//! a zombie of it) that starts an exec'd process through the runtime,
//! records its pid, waits for it and reports on a socket:
//!
//! - `ok PID\n` once the process runs and its pid is recorded, with the pty
//!   master attached (SCM_RIGHTS) when it has a tty, or `err MESSAGE\n`;
//! - `exit CODE\n` once it has exited (and the exit is recorded).
//!
//! Until the runtime execs the process, the helper's process is what
//! enters the container: it must run from a copy of its binary that no
//! one can write (CVE-2019-5736), and it runs Rust code after a fork, so
//! what it was forked from must have been single-threaded. The helper is
//! therefore a program of its own, `HELPER internal exec-helper`
//! ([`Engine::helper_exe`]), spawned with the process's stdio as fds 0-2 and
//! the report socket (every other descriptor close-on-exec); it re-executes
//! from a sealed copy of itself first (or refuses), reads the process from
//! the socket, forks once (so that it is not the caller's child) and serves.
//! Only a caller that declared itself single-threaded and runs from a sealed
//! copy already ([`Engine::with_inline_exec_helper`]: `berth exec`, the
//! healthcheck probe) has the helper forked from itself, twice, saving a
//! program start.
//!
//! The helper keeps its own copy of the master, so a caller that goes away
//! (detached) does not hang the process up. With an external runtime, which
//! runs the process detached and exits, the helper is a child subreaper:
//! the caller never is.

use super::{ExecStdio, OciRuntime};
use crate::error::{Error, Result};
use crate::{sys, Engine};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// What the helper records, in the helper's process.
pub(crate) trait Recorder {
    /// The process runs with this host pid: recorded before the caller
    /// hears of it (an error kills the process).
    fn running(&self, pid: i32) -> Result<()>;
    /// The process exited with this code.
    fn exited(&self, code: i32);
}

/// An exec to start: the container, the exec's id, its OCI process and a
/// path the runtime may write its log to (removed after).
pub(crate) struct Job<'a> {
    pub cid: &'a str,
    pub exec_id: &'a str,
    pub process: &'a oci_spec::runtime::Process,
    pub log: &'a Path,
}

/// A started exec: the process's pid, the helper's report socket (the
/// `exit` line comes on it) and the master with a tty.
pub(crate) struct Started {
    pub pid: i32,
    pub report: Report,
    pub master: Option<OwnedFd>,
}

/// Starts `job` from a new helper; `rec` records in a forked helper (a
/// spawned one makes its own, see [`fork_and_serve`]).
pub(crate) fn start(
    e: &Engine,
    rt: &dyn OciRuntime,
    job: &Job,
    stdio: ExecStdio,
    rec: &dyn Recorder,
) -> Result<Started> {
    let sock = if e.inline_exec_helper() && oci_runtime::sys::running_from_sealed_copy() {
        fork_helper(e, rt, job, stdio, rec)?
    } else {
        spawn_helper(e, job, stdio)?
    };
    let mut report = Report::new(UnixStream::from(sock));
    let (line, mut fds) = report
        .line_with_fds()
        .map_err(|e| Error::io("exec helper", e))?;
    let line = line.unwrap_or_default();
    if let Some(p) = line.strip_prefix("ok ") {
        let pid = p
            .trim()
            .parse::<i32>()
            .map_err(|_| Error::msg(format!("exec helper: bad report {line:?}")))?;
        let master = if job.process.terminal().unwrap_or(false) {
            match fds.pop() {
                Some(m) => Some(m),
                None => {
                    abort(pid, &mut report);
                    return Err(Error::msg("exec: the helper sent no pty"));
                }
            }
        } else {
            None
        };
        return Ok(Started {
            pid,
            report,
            master,
        });
    }
    if let Some(m) = line.strip_prefix("err ") {
        return Err(crate::error::classify(m.to_string()));
    }
    Err(Error::msg("exec: the helper process died"))
}

/// Kills a started process whose start failed on the caller's side; its
/// exit code once the helper recorded it (`None`: the helper is gone).
pub(crate) fn abort(pid: i32, report: &mut Report) -> Option<i32> {
    let _ = oci_runtime::sys::kill(pid, libc::SIGKILL);
    report.exit_code()
}

/// The helper forked (twice) from the caller, which runs from a sealed
/// copy and has no other thread; our end of the report socket.
fn fork_helper(
    e: &Engine,
    rt: &dyn OciRuntime,
    job: &Job,
    stdio: ExecStdio,
    rec: &dyn Recorder,
) -> Result<OwnedFd> {
    let (mine, theirs) = sys::socketpair().map_err(|e| Error::io("socketpair", e))?;
    let fds = [
        stdio.stdin.as_ref().map(|f| f.as_raw_fd()),
        stdio.stdout.as_ref().map(|f| f.as_raw_fd()),
        stdio.stderr.as_ref().map(|f| f.as_raw_fd()),
    ];
    match sys::fork().map_err(|e| Error::io("fork", e))? {
        sys::Forked::Child => {
            drop(mine);
            match sys::fork() {
                Ok(sys::Forked::Child) => {
                    let code = serve(e, rt, job, fds, &theirs, rec);
                    sys::exit_now(code)
                }
                _ => sys::exit_now(0),
            }
        }
        sys::Forked::Parent(pid) => {
            drop(theirs);
            drop(stdio);
            let _ = sys::waitpid(pid, false);
            Ok(mine)
        }
    }
}

/// The helper as a program of its own: `HELPER internal exec-helper
/// --root R --run-root RR --report-fd N CID EXEC` with the process's stdio
/// as fds 0-2 (/dev/null where none) and the process, as JSON, the first
/// line on the report socket. Our end of the socket.
fn spawn_helper(e: &Engine, job: &Job, stdio: ExecStdio) -> Result<OwnedFd> {
    use std::process::{Command, Stdio};
    let exe = e.helper_exe().ok_or_else(|| {
        Error::msg("exec: cannot find the berth executable to run the exec helper ($BERTH_HELPER)")
    })?;
    let mut line =
        serde_json::to_vec(job.process).map_err(|e| Error::msg(format!("exec process: {e}")))?;
    line.push(b'\n');
    let (mine, theirs) = sys::socketpair().map_err(|e| Error::io("socketpair", e))?;
    let io = |f: Option<OwnedFd>| f.map_or_else(Stdio::null, Stdio::from);
    let mut cmd = Command::new(exe);
    cmd.arg("internal")
        .arg("exec-helper")
        .arg("--root")
        .arg(e.root())
        .arg("--run-root")
        .arg(e.run_root())
        .arg("--report-fd")
        .arg(theirs.as_raw_fd().to_string())
        .arg(job.cid)
        .arg(job.exec_id)
        .stdin(io(stdio.stdin))
        .stdout(io(stdio.stdout))
        .stderr(io(stdio.stderr));
    sys::keep_only_fd_across_exec(&mut cmd, theirs.as_raw_fd());
    let child = cmd.spawn();
    // Our copies of the process's descriptors and of the helper's end.
    drop(cmd);
    drop(theirs);
    let mut child = child
        .map_err(|err| Error::io(format!("cannot run the exec helper {}", exe.display()), err))?;
    // A helper that failed before reading it has reported why.
    let _ = sys::send_all(mine.as_raw_fd(), &line);
    // It forks once and exits: the helper is not our child.
    let _ = child.wait();
    Ok(mine)
}

/// Reports `err MESSAGE` on the report socket; the helper's exit code.
pub(crate) fn report_err(report: &OwnedFd, msg: &str) -> i32 {
    let msg = msg.replace('\n', " ");
    let _ = sys::send_all(report.as_raw_fd(), format!("err {msg}\n").as_bytes());
    125
}

/// `internal exec-helper`, once running from its sealed copy with the job
/// read ([`read_process`]): forks so that the helper is not the caller's
/// child (the parent returns 0 at once) and serves in the child with fds
/// 0-2 as the process's stdio (its exit code).
pub(crate) fn fork_and_serve(
    e: &Engine,
    rt: &dyn OciRuntime,
    job: &Job,
    report: &OwnedFd,
    rec: &dyn Recorder,
) -> i32 {
    match sys::fork() {
        Ok(sys::Forked::Child) => serve(e, rt, job, [Some(0), Some(1), Some(2)], report, rec),
        Ok(sys::Forked::Parent(_)) => 0,
        Err(err) => report_err(report, &format!("exec helper: fork: {err}")),
    }
}

/// The first line on the report socket: the process, as JSON.
pub(crate) fn read_process(sock: &OwnedFd) -> Result<oci_spec::runtime::Process> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    while !buf.ends_with(b"\n") {
        match nix::unistd::read(sock, &mut chunk) {
            Ok(0) => return Err(Error::msg("the caller sent no process")),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(Error::io("read", e.into())),
        }
    }
    serde_json::from_slice(&buf).map_err(|e| Error::msg(format!("bad process: {e}")))
}

/// The helper's body; its exit code. `fds` become the process's 0-2.
fn serve(
    e: &Engine,
    rt: &dyn OciRuntime,
    job: &Job,
    fds: [Option<RawFd>; 3],
    report: &OwnedFd,
    rec: &dyn Recorder,
) -> i32 {
    // The caller's blocked signals and handlers are not the process's.
    oci_runtime::sys::clean_signals();
    let _ = sys::setsid();
    // The given descriptors go to 0, 1, 2 (first above them all, so that
    // none is overwritten before it is moved); /dev/null for the others.
    let mut keep = vec![report.as_raw_fd()];
    keep.extend(fds.iter().flatten());
    sys::close_fds_except(&keep);
    let high: Vec<Option<RawFd>> = fds
        .iter()
        .map(|f| f.and_then(|fd| sys::dup_above(fd, 100).ok()))
        .collect();
    let devnull = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .ok();
    for (i, f) in high.iter().enumerate() {
        let src = f.or_else(|| devnull.as_ref().map(|n| n.as_raw_fd()));
        if let Some(fd) = src {
            let _ = sys::dup_to(fd, i as i32);
        }
    }
    for fd in high.iter().flatten() {
        drop(sys::own_fd(*fd));
    }
    for fd in fds.iter().flatten().filter(|fd| **fd > 2) {
        drop(sys::own_fd(*fd));
    }
    drop(devnull);
    if rt.exec_needs_subreaper() {
        let _ = oci_runtime::sys::set_child_subreaper();
    }
    let (pid, master) = match rt.exec_process(e, job.cid, job.process, job.log) {
        Ok(r) => r,
        Err(e) => return report_err(report, &e.to_string()),
    };
    // Recorded before the caller hears of it: an exec that runs has its pid.
    let recorded = rec.running(pid);
    let sent = match recorded {
        Err(_) => Err(std::io::Error::other("not recorded")),
        Ok(()) => {
            let ok = format!("ok {pid}\n");
            match &master {
                Some(m) => crate::exec_tty::send_fd(report, ok.as_bytes(), m.as_raw_fd()),
                None => sys::send_all(report.as_raw_fd(), ok.as_bytes()),
            }
        }
    };
    if sent.is_err() {
        // Not recorded, or the caller is gone before it had the process:
        // not left behind.
        let _ = oci_runtime::sys::kill(pid, libc::SIGKILL);
    }
    // Reap everything re-parented to us until the process itself exits.
    let code = loop {
        match sys::waitpid(-1, false) {
            Ok(Some((p, s))) if p == pid => break sys::exit_code(s),
            Ok(_) => {}
            Err(_) => break 255,
        }
    };
    rec.exited(code);
    if let Err(e) = recorded {
        return report_err(report, &format!("cannot record the exec's pid: {e}"));
    }
    let _ = sys::send_all(report.as_raw_fd(), format!("exit {code}\n").as_bytes());
    drop(master);
    0
}

/// The caller's end of the report socket: lines, with descriptors.
pub(crate) struct Report {
    sock: UnixStream,
    buf: Vec<u8>,
}

impl Report {
    fn new(sock: UnixStream) -> Report {
        Report {
            sock,
            buf: Vec::new(),
        }
    }

    pub(crate) fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.sock.as_fd()
    }

    /// The next line (`None` at end of file) and the descriptors that came
    /// with it.
    pub(crate) fn line_with_fds(&mut self) -> std::io::Result<(Option<String>, Vec<OwnedFd>)> {
        let mut fds = Vec::new();
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                let s = String::from_utf8_lossy(&line[..i]).into_owned();
                return Ok((Some(s), fds));
            }
            let (data, got) = crate::exec_tty::recv_with_fds(self.sock.as_raw_fd())?;
            fds.extend(got);
            if data.is_empty() {
                return Ok((None, fds));
            }
            self.buf.extend_from_slice(&data);
        }
    }

    /// The process's exit code from the `exit` line; `None` if the helper
    /// went away without one.
    pub(crate) fn exit_code(&mut self) -> Option<i32> {
        loop {
            match self.line_with_fds() {
                Ok((Some(l), _)) => {
                    if let Some(c) = l.strip_prefix("exit ") {
                        return c.trim().parse().ok();
                    }
                }
                _ => return None,
            }
        }
    }
}

//! The exec helper: a process of its own (forked twice, so never the
//! caller's child and never a zombie of it) that starts an exec'd process
//! through the runtime, waits for it and reports on a socket:
//!
//! - `ok PID\n` once the process runs, with the pty master attached
//!   (SCM_RIGHTS) when it has a tty, or `err MESSAGE\n`;
//! - `exit CODE\n` once it has exited.
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

/// What the helper calls back, in the helper's process.
pub(crate) struct Hooks<'a> {
    /// The process runs with this host pid.
    pub running: &'a dyn Fn(i32),
    /// The process exited with this code.
    pub exited: &'a dyn Fn(i32),
}

/// A started exec: the process's pid, the helper's report socket (the
/// `exit` line comes on it) and the master with a tty.
pub(crate) struct Started {
    pub pid: i32,
    pub report: Report,
    pub master: Option<OwnedFd>,
}

/// Starts `process` in container `id` from a new helper. `log` is a path
/// the runtime may write its log to (removed after).
pub(crate) fn start(
    e: &Engine,
    rt: &dyn OciRuntime,
    id: &str,
    process: &oci_spec::runtime::Process,
    stdio: ExecStdio,
    log: &Path,
    hooks: &Hooks,
) -> Result<Started> {
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
                    let code = helper(e, rt, id, process, fds, &theirs, log, hooks);
                    sys::exit_now(code)
                }
                _ => sys::exit_now(0),
            }
        }
        sys::Forked::Parent(pid) => {
            drop(theirs);
            drop(stdio);
            let _ = sys::waitpid(pid, false);
            let mut report = Report::new(UnixStream::from(mine));
            let (line, mut fds) = report
                .line_with_fds()
                .map_err(|e| Error::io("exec helper", e))?;
            let line = line.unwrap_or_default();
            if let Some(p) = line.strip_prefix("ok ") {
                let pid = p
                    .trim()
                    .parse::<i32>()
                    .map_err(|_| Error::msg(format!("exec helper: bad report {line:?}")))?;
                let master = if process.terminal().unwrap_or(false) {
                    Some(
                        fds.pop()
                            .ok_or_else(|| Error::msg("exec: the helper sent no pty"))?,
                    )
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
    }
}

/// The helper's body; its exit code.
#[allow(clippy::too_many_arguments)]
fn helper(
    e: &Engine,
    rt: &dyn OciRuntime,
    id: &str,
    process: &oci_spec::runtime::Process,
    fds: [Option<RawFd>; 3],
    report: &OwnedFd,
    log: &Path,
    hooks: &Hooks,
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
    let (pid, master) = match rt.exec_process(e, id, process, log) {
        Ok(r) => r,
        Err(err) => {
            let msg = err.to_string().replace('\n', " ");
            let _ = sys::send_all(report.as_raw_fd(), format!("err {msg}\n").as_bytes());
            return 125;
        }
    };
    let ok = format!("ok {pid}\n");
    let sent = match &master {
        Some(m) => crate::exec_tty::send_fd(report, ok.as_bytes(), m.as_raw_fd()),
        None => sys::send_all(report.as_raw_fd(), ok.as_bytes()),
    };
    if sent.is_err() {
        // The caller is gone before it had the process: not left behind.
        let _ = oci_runtime::sys::kill(pid, libc::SIGKILL);
    }
    // Recorded while the process runs, off the caller's path.
    (hooks.running)(pid);
    // Reap everything re-parented to us until the process itself exits.
    let code = loop {
        match sys::waitpid(-1, false) {
            Ok(Some((p, s))) if p == pid => break sys::exit_code(s),
            Ok(_) => {}
            Err(_) => break 255,
        }
    };
    (hooks.exited)(code);
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

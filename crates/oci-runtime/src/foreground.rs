//! Waiting for a foreground process: signal forwarding, and a terminal
//! proxy between the caller's stdio and the container's pty.

use crate::error::{Context, Result};
use crate::sys;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};

const FORWARDED: &[i32] = &[
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGPIPE,
    libc::SIGALRM,
    libc::SIGCONT,
    libc::SIGTSTP,
    libc::SIGTTIN,
    libc::SIGTTOU,
    libc::SIGWINCH,
    libc::SIGCHLD,
];

/// Blocks the forwarded signals; call before the process starts so none is lost.
pub struct SignalGuard {
    old: libc::sigset_t,
    fd: OwnedFd,
}

impl SignalGuard {
    pub fn new() -> Result<SignalGuard> {
        let old = sys::block_all_signals().ctx(|| "sigprocmask")?;
        let fd = sys::signalfd(FORWARDED).ctx(|| "signalfd")?;
        Ok(SignalGuard { old, fd })
    }

    /// The mask to restore in children before they exec.
    pub fn old_mask(&self) -> &libc::sigset_t {
        &self.old
    }
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        // Only the mask was changed (signals are read from the signalfd).
        sys::restore_mask(&self.old);
    }
}

/// Waits for `pid` to exit, forwarding signals to it and proxying the
/// terminal if `master` is given. Returns the shell-style exit code.
pub fn wait(pid: i32, guard: &SignalGuard, master: Option<OwnedFd>) -> Result<i32> {
    let stdin_tty = sys::isatty(0);
    let saved = match (&master, stdin_tty) {
        (Some(_), true) => sys::make_raw(0).ok(),
        _ => None,
    };
    if let (Some(m), true) = (&master, stdin_tty) {
        if let Ok((r, c)) = sys::get_winsize(0) {
            let _ = sys::set_winsize(m.as_raw_fd(), r, c);
        }
    }
    let result = wait_loop(pid, guard, master.as_ref());
    if let Some(t) = saved {
        sys::restore_term(0, &t);
    }
    result
}

fn wait_loop(pid: i32, guard: &SignalGuard, master: Option<&OwnedFd>) -> Result<i32> {
    let sfd = guard.fd.as_raw_fd();
    let mut stdin_open = master.is_some();
    let mut master_open = master.is_some();
    let mut buf = vec![0u8; 32 * 1024];
    let mut exit: Option<i32> = None;
    loop {
        if exit.is_none() {
            if let Some((_, status)) = sys::waitpid(pid, true).ctx(|| "waitpid")? {
                exit = Some(sys::exit_code(status));
            }
        }
        if let Some(code) = exit {
            if !master_open {
                return Ok(code);
            }
        }
        let mut fds = vec![sfd];
        let mi = master_open.then(|| {
            fds.push(master.map(|m| m.as_raw_fd()).unwrap_or(-1));
            fds.len() - 1
        });
        let si = (stdin_open && exit.is_none()).then(|| {
            fds.push(0);
            fds.len() - 1
        });
        // After exit, drain what the pty still holds, without blocking.
        let timeout = if exit.is_some() { 50 } else { -1 };
        let rev = sys::poll_many(&fds, timeout).ctx(|| "poll")?;
        if exit.is_some() && rev.iter().all(|r| *r == 0) {
            return Ok(exit.unwrap_or(0));
        }
        if rev[0] != 0 {
            let sig = sys::read_signalfd(sfd).ctx(|| "read signalfd")?;
            match sig {
                libc::SIGCHLD => {}
                libc::SIGWINCH => {
                    if let (Some(m), Ok((r, c))) = (master, sys::get_winsize(0)) {
                        let _ = sys::set_winsize(m.as_raw_fd(), r, c);
                    }
                }
                s => {
                    let _ = sys::kill(pid, s);
                }
            }
        }
        let Some(m) = master else { continue };
        if let Some(i) = mi {
            if rev[i] != 0 {
                match nix::unistd::read(m, &mut buf) {
                    Ok(0) | Err(_) => master_open = false,
                    Ok(n) => {
                        let mut out = std::io::stdout().lock();
                        let _ = out.write_all(&buf[..n]);
                        let _ = out.flush();
                    }
                }
            }
        }
        if let Some(i) = si {
            if rev[i] != 0 {
                match std::io::stdin().lock().read(&mut buf) {
                    Ok(0) | Err(_) => {
                        stdin_open = false;
                        // EOF on our stdin: send the terminal's EOF character.
                        let _ = nix::unistd::write(m, &[4u8]);
                    }
                    Ok(n) => {
                        let _ = nix::unistd::write(m, &buf[..n]);
                    }
                }
            }
        }
    }
}

//! `exec -t`: the process gets a pty through the runtime's console socket;
//! the caller (berth) receives the master and proxies its own stdin and
//! stdout to it until the process's side closes.

use crate::error::{Error, Result};
use crate::sys;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};

/// Receives the pty master sent over the console socket (SCM_RIGHTS).
pub(crate) fn recv_master(sock: &OwnedFd) -> Result<OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut buf = [0u8; 256];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|e| Error::msg(format!("exec: cannot receive the pty: {e}")))?;
    let cmsgs = msg
        .cmsgs()
        .map_err(|e| Error::msg(format!("exec: cannot receive the pty: {e}")))?;
    for c in cmsgs {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                return Ok(sys::own_fd(*fd));
            }
        }
    }
    Err(Error::msg("exec: the runtime sent no pty"))
}

/// Copies our stdin to the master (a thread) and the master to `out`
/// until the process's side of the pty is closed.
pub(crate) fn proxy(
    master: OwnedFd,
    size: Option<(u16, u16)>,
    pump_stdin: bool,
    out: &mut dyn Write,
) {
    if let Some((rows, cols)) = size {
        let _ = sys::set_winsize(master.as_raw_fd(), rows, cols);
    }
    if let Some(m2) = pump_stdin.then(|| master.try_clone().ok()).flatten() {
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                match nix::unistd::read(std::io::stdin(), &mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if sys::send_or_write_all(m2.as_raw_fd(), &buf[..n]).is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
    let mut buf = [0u8; 32 * 1024];
    loop {
        match nix::unistd::read(&master, &mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let _ = out.write_all(&buf[..n]);
                let _ = out.flush();
            }
            Err(nix::errno::Errno::EINTR) => {}
            // EIO: the last slave descriptor closed.
            Err(_) => break,
        }
    }
}

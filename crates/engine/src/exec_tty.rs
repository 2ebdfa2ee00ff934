//! Descriptors over unix sockets: a pty master from a runtime's console
//! socket, and the exec helper's report (lines with the master attached).

use crate::error::{Error, Result};
use crate::sys;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

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

/// Sends `data` with descriptor `fd` attached (SCM_RIGHTS).
pub(crate) fn send_fd(sock: &OwnedFd, data: &[u8], fd: RawFd) -> std::io::Result<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    let fds = [fd];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &[std::io::IoSlice::new(data)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map(|_| ())
    .map_err(std::io::Error::from)
}

/// One recvmsg: the bytes (empty at end of file) and any descriptors.
pub(crate) fn recv_with_fds(sock: RawFd) -> std::io::Result<(Vec<u8>, Vec<OwnedFd>)> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut buf = [0u8; 512];
    let mut space = nix::cmsg_space!([RawFd; 4]);
    loop {
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let msg = match recvmsg::<()>(sock, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
        {
            Ok(m) => m,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        };
        let mut fds = Vec::new();
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                if let ControlMessageOwned::ScmRights(got) = c {
                    fds.extend(got.into_iter().map(sys::own_fd));
                }
            }
        }
        let n = msg.bytes;
        return Ok((buf[..n].to_vec(), fds));
    }
}

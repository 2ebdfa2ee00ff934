//! Messages between the runtime and the container's init during `create`,
//! over a SOCK_SEQPACKET socketpair (message boundaries are kept).

use crate::error::{Context, Error, Result};
use nix::sys::socket::{
    self, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType,
};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    /// Parent → child: go on (cgroup joined, id maps written, hooks run).
    Go,
    /// Child → parent: I unshared a user namespace, write my id maps.
    MapsRequest,
    /// Child → parent: the container's init has this pid (in the parent's pid namespace).
    Pid(i32),
    /// Child → parent: namespaces and mounts ready; run prestart and createRuntime hooks.
    HooksRequest,
    /// Child → parent: setup finished, waiting for `start`.
    Ready,
    /// Child → parent: setup failed.
    Error(String),
}

impl Msg {
    fn encode(&self) -> Vec<u8> {
        match self {
            Msg::Go => b"G".to_vec(),
            Msg::MapsRequest => b"M".to_vec(),
            Msg::Pid(p) => format!("P{p}").into_bytes(),
            Msg::HooksRequest => b"H".to_vec(),
            Msg::Ready => b"R".to_vec(),
            Msg::Error(e) => {
                let mut v = b"E".to_vec();
                v.extend_from_slice(e.as_bytes());
                v
            }
        }
    }

    fn decode(b: &[u8]) -> Result<Msg> {
        let rest = || String::from_utf8_lossy(&b[1..]).into_owned();
        Ok(match b.first() {
            Some(b'G') => Msg::Go,
            Some(b'M') => Msg::MapsRequest,
            Some(b'P') => Msg::Pid(
                rest()
                    .parse()
                    .map_err(|_| Error::msg("sync: bad pid message"))?,
            ),
            Some(b'H') => Msg::HooksRequest,
            Some(b'R') => Msg::Ready,
            Some(b'E') => Msg::Error(rest()),
            _ => return Err(Error::msg("sync: unexpected message")),
        })
    }
}

pub struct Channel {
    fd: OwnedFd,
}

impl Channel {
    pub fn pair() -> Result<(Channel, Channel)> {
        let (a, b) = socket::socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .ctx(|| "socketpair")?;
        Ok((Channel { fd: a }, Channel { fd: b }))
    }

    pub fn send(&self, m: &Msg) -> Result<()> {
        let data = m.encode();
        socket::send(self.fd.as_raw_fd(), &data, MsgFlags::MSG_NOSIGNAL).ctx(|| "sync: send")?;
        Ok(())
    }

    /// Receives a message; `None` when the other side closed.
    pub fn recv(&self) -> Result<Option<Msg>> {
        let mut buf = vec![0u8; 65536];
        loop {
            match socket::recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                Ok(0) => return Ok(None),
                Ok(n) => return Msg::decode(&buf[..n]).map(Some),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e).ctx(|| "sync: recv"),
            }
        }
    }

    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Sends `fd` over the unix socket `sock` with SCM_RIGHTS and `payload` as data.
pub fn send_fd(sock: RawFd, fd: RawFd, payload: &[u8]) -> Result<()> {
    let iov = [IoSlice::new(if payload.is_empty() {
        b"\0"
    } else {
        payload
    })];
    let fds = [fd];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    socket::sendmsg::<()>(sock, &iov, &cmsg, MsgFlags::empty(), None)
        .ctx(|| "sendmsg SCM_RIGHTS")?;
    Ok(())
}

/// Receives one descriptor sent with [`send_fd`].
pub fn recv_fd(sock: RawFd) -> Result<OwnedFd> {
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = socket::recvmsg::<()>(sock, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
        .ctx(|| "recvmsg SCM_RIGHTS")?;
    for c in msg
        .cmsgs()
        .map_err(|e| Error::msg(format!("recvmsg: {e}")))?
    {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                return Ok(crate::sys::own_fd(*fd));
            }
        }
    }
    Err(Error::msg("recvmsg: no descriptor received"))
}

/// Connects to the unix socket at `path`.
pub fn connect(path: &std::path::Path) -> Result<OwnedFd> {
    let s = socket::socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .ctx(|| "socket")?;
    let addr = socket::UnixAddr::new(path).ctx(|| format!("socket path {}", path.display()))?;
    socket::connect(s.as_raw_fd(), &addr)
        .ctx(|| format!("cannot connect to {}", path.display()))?;
    Ok(s)
}

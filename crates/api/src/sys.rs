//! The one descriptor systemd passes (socket activation).

use std::os::fd::{FromRawFd, OwnedFd};

use crate::Listener;

/// Descriptor 3 as a listening socket (unix or TCP), taken over.
pub fn listen_fd3() -> std::io::Result<Listener> {
    use nix::sys::socket::{
        getsockname, getsockopt, sockopt, AddressFamily, SockaddrLike, SockaddrStorage,
    };
    let listening =
        getsockopt(&unsafe_borrow(), sockopt::AcceptConn).map_err(std::io::Error::from)?;
    if !listening {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not listening",
        ));
    }
    let addr: SockaddrStorage = getsockname(3).map_err(std::io::Error::from)?;
    // SAFETY: systemd hands descriptor 3 to this process (LISTEN_PID and
    // LISTEN_FDS were checked by the caller); nothing else owns it, and
    // it is taken once (the variables are removed first).
    let fd = unsafe { OwnedFd::from_raw_fd(3) };
    match addr.family() {
        Some(AddressFamily::Unix) => Ok(Listener::Unix {
            listener: fd.into(),
            path: None,
        }),
        Some(AddressFamily::Inet | AddressFamily::Inet6) => Ok(Listener::Tcp(fd.into())),
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a unix or TCP socket",
        )),
    }
}

fn unsafe_borrow() -> std::os::fd::BorrowedFd<'static> {
    // SAFETY: descriptor 3 is open (systemd passed it) and stays open for
    // the program's life: it becomes the listener.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(3) }
}

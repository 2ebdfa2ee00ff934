//! The engine's few raw system calls. All `unsafe` of the crate is here.

use std::ffi::CString;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::path::Path;

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

pub enum Forked {
    Parent(i32),
    Child,
}

/// `fork(2)`. The child must only use async-signal-safe code, or code that
/// is safe because the child is single-threaded (glibc's malloc resets its
/// locks at fork); it ends with [`exit_now`].
pub fn fork() -> io::Result<Forked> {
    // SAFETY: see above; callers run only the monitor / exec helper in the child.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        p => Ok(Forked::Parent(p)),
    }
}

pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and runs no handlers.
    unsafe { libc::_exit(code) }
}

pub fn setsid() -> io::Result<()> {
    // SAFETY: no arguments.
    cvt(unsafe { libc::setsid() }).map(|_| ())
}

/// A close-on-exec pipe: (read, write).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 returned two new descriptors we now own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Points fds 0, 1 and 2 at /dev/null (a daemon's stdio); best effort.
pub fn stdio_to_dev_null() {
    if let Ok(n) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        for fd in 0..3 {
            let _ = dup_to(std::os::fd::AsRawFd::as_raw_fd(&n), fd);
        }
    }
}

/// `dup2(old, new)` (the new descriptor is not close-on-exec).
pub fn dup_to(old: RawFd, new: RawFd) -> io::Result<()> {
    if old == new {
        // SAFETY: clearing FD_CLOEXEC on a descriptor number.
        cvt(unsafe { libc::fcntl(new, libc::F_SETFD, 0) })?;
        return Ok(());
    }
    // SAFETY: dup2 on descriptor numbers.
    cvt(unsafe { libc::dup2(old, new) }).map(|_| ())
}

/// Closes every descriptor >= 3 not in `keep` (forked children inherit the
/// caller's: other threads' pipes must not stay open in a monitor).
pub fn close_fds_except(keep: &[RawFd]) {
    let mut fds: Vec<RawFd> = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc/self/fd") {
        for e in rd.flatten() {
            if let Some(n) = e.file_name().to_str().and_then(|s| s.parse::<RawFd>().ok()) {
                fds.push(n);
            }
        }
    }
    for fd in fds {
        if fd >= 3 && !keep.contains(&fd) {
            // SAFETY: closing a descriptor number; the directory fd used for
            // listing is already closed, a stale number gives EBADF.
            unsafe { libc::close(fd) };
        }
    }
}

pub fn waitpid(pid: i32, nohang: bool) -> io::Result<Option<(i32, i32)>> {
    let mut status = 0;
    loop {
        // SAFETY: status is a valid out pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, if nohang { libc::WNOHANG } else { 0 }) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if r == 0 {
            return Ok(None);
        }
        return Ok(Some((r, status)));
    }
}

/// Shell-style exit code of a wait status.
pub fn exit_code(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        255
    }
}

/// `send(MSG_NOSIGNAL)` of the whole buffer (a gone peer is an error, not SIGPIPE).
pub fn send_all(fd: RawFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: buf is a valid slice.
        let r = unsafe {
            libc::send(
                fd,
                buf.as_ptr() as *const libc::c_void,
                buf.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        buf = &buf[r as usize..];
    }
    Ok(())
}

/// A connected `AF_UNIX` stream pair, close-on-exec.
pub fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints.
    cvt(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    // SAFETY: two new descriptors we own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn cpath(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))
}

/// `mount -t overlay overlay -o OPTS TARGET`.
pub fn mount_overlay(target: &Path, options: &str) -> io::Result<()> {
    let t = cpath(target)?;
    let o = CString::new(options)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "options contain NUL"))?;
    let ty = CString::new("overlay").unwrap_or_default();
    // SAFETY: valid C strings for the duration of the call.
    cvt(unsafe {
        libc::mount(
            ty.as_ptr(),
            t.as_ptr(),
            ty.as_ptr(),
            0,
            o.as_ptr() as *const libc::c_void,
        )
    })
    .map(|_| ())
}

/// `umount2(target, MNT_DETACH)`; not mounted is fine.
pub fn unmount(target: &Path) -> io::Result<()> {
    let t = cpath(target)?;
    // SAFETY: valid C string.
    let r = unsafe { libc::umount2(t.as_ptr(), libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EINVAL) || e.raw_os_error() == Some(libc::ENOENT) {
            return Ok(());
        }
        return Err(e);
    }
    Ok(())
}

/// Takes ownership of a descriptor number handed over by a parent.
pub fn own_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: the caller passes a descriptor it was given and nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// A close-on-exec duplicate numbered >= `min`.
pub fn dup_above(fd: RawFd, min: RawFd) -> io::Result<RawFd> {
    // SAFETY: fcntl on descriptor numbers.
    cvt(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) })
}

/// Makes `cmd`'s child keep descriptor `fd` (close-on-exec here) across
/// its exec, with every other descriptor above 2 close-on-exec (none of a
/// caller's stray descriptors reaches the program), in a session of its
/// own (the caller's terminal signals are not its).
pub fn keep_only_fd_across_exec(cmd: &mut std::process::Command, fd: RawFd) {
    use std::os::unix::process::CommandExt;
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: the closure runs in the forked child before exec and makes
    // only async-signal-safe system calls (close_range, fcntl, setsid),
    // with no allocation or lock: sound in a fork of a multi-threaded
    // process.
    unsafe {
        cmd.pre_exec(move || {
            // Best effort (kernels before 5.11): the helper closes what is left.
            libc::syscall(
                libc::SYS_close_range,
                3 as libc::c_uint,
                libc::c_uint::MAX,
                CLOSE_RANGE_CLOEXEC,
            );
            if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                return Err(io::Error::last_os_error());
            }
            libc::setsid();
            Ok(())
        })
    };
}

/// `execv(path, args)`; returns only on failure.
pub fn execv(path: &Path, args: &[String]) -> io::Error {
    let Ok(p) = cpath(path) else {
        return io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL");
    };
    let cargs: Vec<CString> = args
        .iter()
        .filter_map(|a| CString::new(a.as_bytes()).ok())
        .collect();
    let mut ptrs: Vec<*const libc::c_char> = cargs.iter().map(|c| c.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: NUL-terminated strings and a NULL-terminated array that outlive the call.
    unsafe { libc::execv(p.as_ptr(), ptrs.as_ptr()) };
    io::Error::last_os_error()
}

/// TIOCSWINSZ: sets a terminal's size.
pub fn set_winsize(fd: RawFd, rows: u16, cols: u16) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize we own.
    cvt(unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) }).map(|_| ())
}

/// write(2) everything to a non-socket descriptor.
pub fn send_or_write_all(fd: RawFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: buf is valid for reads of buf.len() bytes.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

/// The local time zone's offset from UTC in seconds (east positive) at
/// unix time `secs` (`localtime_r`, so `$TZ` and /etc/localtime apply).
pub fn utc_offset(secs: i64) -> i64 {
    let t = secs as libc::time_t;
    let mut tm = std::mem::MaybeUninit::<libc::tm>::uninit();
    // SAFETY: t and tm are valid for the call; tm is read only when
    // localtime_r filled it (non-null return).
    unsafe {
        if libc::localtime_r(&t, tm.as_mut_ptr()).is_null() {
            0
        } else {
            tm.assume_init().tm_gmtoff
        }
    }
}

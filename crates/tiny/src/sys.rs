//! Raw Linux syscalls (x86_64), without libc. Every `unsafe` block of the
//! crate's syscall layer is here. Errors are the kernel's errno values.

use core::arch::asm;
use core::ffi::CStr;

/// A failed syscall: the kernel's errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub i32);

pub type Res<T> = Result<T, Errno>;

pub const EINTR: i32 = 4;
pub const EAGAIN: i32 = 11;
pub const ECHILD: i32 = 10;

pub const SYS_READ: usize = 0;
pub const SYS_WRITE: usize = 1;
pub const SYS_CLOSE: usize = 3;
pub const SYS_LSEEK: usize = 8;
pub const SYS_POLL: usize = 7;
pub const SYS_RT_SIGPROCMASK: usize = 14;
pub const SYS_IOCTL: usize = 16;
pub const SYS_NANOSLEEP: usize = 35;
pub const SYS_GETPID: usize = 39;
pub const SYS_SOCKET: usize = 41;
pub const SYS_CONNECT: usize = 42;
pub const SYS_SENDTO: usize = 44;
pub const SYS_SENDMSG: usize = 46;
pub const SYS_RECVMSG: usize = 47;
pub const SYS_BIND: usize = 49;
pub const SYS_LISTEN: usize = 50;
pub const SYS_SOCKETPAIR: usize = 53;
pub const SYS_CLONE: usize = 56;
pub const SYS_EXECVE: usize = 59;
pub const SYS_WAIT4: usize = 61;
pub const SYS_KILL: usize = 62;
pub const SYS_FCNTL: usize = 72;
pub const SYS_FSYNC: usize = 74;
pub const SYS_CHDIR: usize = 80;
pub const SYS_SETPGID: usize = 109;
pub const SYS_GETPPID: usize = 110;
pub const SYS_SETSID: usize = 112;
pub const SYS_PRCTL: usize = 157;
pub const SYS_CLOCK_GETTIME: usize = 228;
pub const SYS_EXIT_GROUP: usize = 231;
pub const SYS_OPENAT: usize = 257;
pub const SYS_UNLINKAT: usize = 263;
pub const SYS_RENAMEAT: usize = 264;
pub const SYS_ACCEPT4: usize = 288;
pub const SYS_SIGNALFD4: usize = 289;
pub const SYS_DUP3: usize = 292;
pub const SYS_PIPE2: usize = 293;

pub const O_RDONLY: i32 = 0;
pub const O_WRONLY: i32 = 1;
pub const O_RDWR: i32 = 2;
pub const O_CREAT: i32 = 0o100;
pub const O_TRUNC: i32 = 0o1000;
pub const O_APPEND: i32 = 0o2000;
pub const O_NONBLOCK: i32 = 0o4000;
pub const O_DIRECTORY: i32 = 0o200000;
pub const O_CLOEXEC: i32 = 0o2000000;
pub const O_PATH: i32 = 0o10000000;
pub const AT_FDCWD: i32 = -100;

pub const SIGHUP: i32 = 1;
pub const SIGINT: i32 = 2;
pub const SIGQUIT: i32 = 3;
pub const SIGKILL: i32 = 9;
pub const SIGPIPE: i32 = 13;
pub const SIGALRM: i32 = 14;
pub const SIGTERM: i32 = 15;
pub const SIGCHLD: i32 = 17;
pub const SIGSTOP: i32 = 19;
pub const SIGTSTP: i32 = 20;
pub const SIGTTIN: i32 = 21;
pub const SIGTTOU: i32 = 22;
pub const SIGWINCH: i32 = 28;

pub const SIG_BLOCK: i32 = 0;
pub const SIG_SETMASK: i32 = 2;

pub const WNOHANG: i32 = 1;

pub const POLLIN: i16 = 1;
pub const POLLOUT: i16 = 4;
pub const POLLERR: i16 = 8;
pub const POLLHUP: i16 = 16;
pub const POLLNVAL: i16 = 32;

pub const AF_UNIX: i32 = 1;
pub const SOCK_STREAM: i32 = 1;
pub const SOCK_CLOEXEC: i32 = O_CLOEXEC;
pub const SOCK_NONBLOCK: i32 = O_NONBLOCK;
pub const MSG_NOSIGNAL: i32 = 0x4000;
pub const MSG_CMSG_CLOEXEC: i32 = 0x40000000;
pub const SOL_SOCKET: i32 = 1;
pub const SCM_RIGHTS: i32 = 1;

pub const F_GETFL: i32 = 3;
pub const F_SETFL: i32 = 4;
pub const F_SETFD: i32 = 2;

pub const PR_SET_CHILD_SUBREAPER: i32 = 36;
pub const PR_SET_PDEATHSIG: i32 = 1;

pub const TIOCSWINSZ: u64 = 0x5414;
pub const TIOCSPGRP: u64 = 0x5410;

pub const CLOCK_REALTIME: i32 = 0;
pub const CLOCK_MONOTONIC: i32 = 1;

fn ret(r: isize) -> Res<usize> {
    if (-4095..0).contains(&r) {
        Err(Errno(-r as i32))
    } else {
        Ok(r as usize)
    }
}

/// A raw syscall with up to six arguments.
///
/// # Safety
/// The arguments must be valid for syscall `n` (pointers to memory of the
/// size and lifetime the kernel expects).
#[inline(always)]
pub unsafe fn syscall6(n: usize, a: [usize; 6]) -> isize {
    let r: isize;
    // SAFETY: the x86_64 syscall convention; the caller vouches for the
    // arguments; rcx and r11 are clobbered by `syscall`.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") n as isize => r,
            in("rdi") a[0],
            in("rsi") a[1],
            in("rdx") a[2],
            in("r10") a[3],
            in("r8") a[4],
            in("r9") a[5],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    r
}

macro_rules! sc {
    ($n:expr $(, $a:expr)*) => {{
        let mut a = [0usize; 6];
        let v = [$($a as usize),*];
        a[..v.len()].copy_from_slice(&v);
        a
    }};
}

pub fn read(fd: i32, buf: &mut [u8]) -> Res<usize> {
    // SAFETY: buf is valid for writes of buf.len() bytes.
    ret(unsafe { syscall6(SYS_READ, sc!(0, fd, buf.as_mut_ptr(), buf.len())) })
}

pub fn write(fd: i32, buf: &[u8]) -> Res<usize> {
    // SAFETY: buf is valid for reads of buf.len() bytes.
    ret(unsafe { syscall6(SYS_WRITE, sc!(0, fd, buf.as_ptr(), buf.len())) })
}

/// Writes everything (retrying on EINTR/short writes; EAGAIN waits in poll).
pub fn write_all(fd: i32, mut buf: &[u8]) -> Res<()> {
    while !buf.is_empty() {
        match write(fd, buf) {
            Ok(0) => return Err(Errno(5)),
            Ok(n) => buf = &buf[n..],
            Err(Errno(EINTR)) => {}
            Err(Errno(EAGAIN)) => {
                let mut p = [PollFd::new(fd, POLLOUT)];
                let _ = poll(&mut p, 1000);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Sends on a socket without raising SIGPIPE.
pub fn send(fd: i32, buf: &[u8]) -> Res<usize> {
    // SAFETY: buf is valid for reads of buf.len() bytes; no address.
    ret(unsafe {
        syscall6(
            SYS_SENDTO,
            sc!(0, fd, buf.as_ptr(), buf.len(), MSG_NOSIGNAL, 0, 0),
        )
    })
}

pub fn send_all(fd: i32, mut buf: &[u8]) -> Res<()> {
    while !buf.is_empty() {
        match send(fd, buf) {
            Ok(n) => buf = &buf[n..],
            Err(Errno(EINTR)) => {}
            Err(Errno(EAGAIN)) => {
                let mut p = [PollFd::new(fd, POLLOUT)];
                let _ = poll(&mut p, 1000);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

pub fn close(fd: i32) {
    // SAFETY: closing a descriptor number has no memory-safety effect.
    let _ = unsafe { syscall6(SYS_CLOSE, sc!(0, fd)) };
}

pub fn openat(dir: i32, path: &CStr, flags: i32, mode: u32) -> Res<i32> {
    // SAFETY: path is NUL-terminated and outlives the call.
    ret(unsafe { syscall6(SYS_OPENAT, sc!(0, dir, path.as_ptr(), flags, mode)) }).map(|f| f as i32)
}

pub fn open(path: &CStr, flags: i32, mode: u32) -> Res<i32> {
    openat(AT_FDCWD, path, flags | O_CLOEXEC, mode)
}

pub fn pipe2(flags: i32) -> Res<(i32, i32)> {
    let mut fds = [0i32; 2];
    // SAFETY: fds has room for the two descriptors the kernel writes.
    ret(unsafe { syscall6(SYS_PIPE2, sc!(0, fds.as_mut_ptr(), flags)) })?;
    Ok((fds[0], fds[1]))
}

/// dup2 (a no-op when old == new, clearing nothing).
pub fn dup2(old: i32, new: i32) -> Res<()> {
    if old == new {
        return fcntl(old, F_SETFD, 0).map(|_| ());
    }
    // SAFETY: plain descriptor numbers.
    ret(unsafe { syscall6(SYS_DUP3, sc!(0, old, new, 0)) }).map(|_| ())
}

pub fn fcntl(fd: i32, cmd: i32, arg: usize) -> Res<usize> {
    // SAFETY: only integer-argument commands are used (GETFL/SETFL/SETFD).
    ret(unsafe { syscall6(SYS_FCNTL, sc!(0, fd, cmd, arg)) })
}

pub fn set_nonblock(fd: i32) -> Res<()> {
    let f = fcntl(fd, F_GETFL, 0)?;
    fcntl(fd, F_SETFL, f | O_NONBLOCK as usize).map(|_| ())
}

pub fn set_cloexec(fd: i32, on: bool) -> Res<()> {
    fcntl(fd, F_SETFD, on as usize).map(|_| ())
}

pub enum Fork {
    Child,
    Parent(i32),
}

/// fork(2) through clone(SIGCHLD). The program must be single-threaded.
pub fn fork() -> Res<Fork> {
    // SAFETY: without threads or locks the child's copy of the address
    // space is consistent; no stack is given, so the child uses a copy.
    let r = ret(unsafe { syscall6(SYS_CLONE, sc!(0, SIGCHLD, 0, 0, 0, 0)) })?;
    Ok(if r == 0 {
        Fork::Child
    } else {
        Fork::Parent(r as i32)
    })
}

/// execve; returns only on failure.
///
/// `argv` and `envp` are NULL-terminated arrays of NUL-terminated strings.
pub fn execve(path: &CStr, argv: &[*const u8], envp: &[*const u8]) -> Errno {
    if argv.last().is_some_and(|p| !p.is_null()) || envp.last().is_some_and(|p| !p.is_null()) {
        return Errno(22);
    }
    // SAFETY: the arrays end with NULL (checked) and their strings are the
    // caller's NUL-terminated strings, alive for the call.
    let r = unsafe {
        syscall6(
            SYS_EXECVE,
            sc!(0, path.as_ptr(), argv.as_ptr(), envp.as_ptr()),
        )
    };
    match ret(r) {
        Err(e) => e,
        Ok(_) => Errno(0),
    }
}

pub fn exit(code: i32) -> ! {
    loop {
        // SAFETY: exit_group does not return.
        unsafe {
            syscall6(SYS_EXIT_GROUP, sc!(0, code));
        }
    }
}

/// wait4: (pid, raw status); `Ok(None)` with WNOHANG and nothing to reap.
pub fn wait4(pid: i32, options: i32) -> Res<Option<(i32, i32)>> {
    let mut status: i32 = 0;
    // SAFETY: status is a valid int to write; no rusage.
    let r = ret(unsafe { syscall6(SYS_WAIT4, sc!(0, pid, &mut status as *mut i32, options, 0)) })?;
    Ok(if r == 0 {
        None
    } else {
        Some((r as i32, status))
    })
}

/// Docker's exit code of a wait status: the code, or 128 + the signal.
pub fn exit_code(status: i32) -> i32 {
    let sig = status & 0x7f;
    if sig == 0 {
        (status >> 8) & 0xff
    } else {
        128 + sig
    }
}

pub fn kill(pid: i32, sig: i32) -> Res<()> {
    // SAFETY: plain integers.
    ret(unsafe { syscall6(SYS_KILL, sc!(0, pid, sig)) }).map(|_| ())
}

pub fn getpid() -> i32 {
    // SAFETY: no arguments.
    unsafe { syscall6(SYS_GETPID, [0; 6]) as i32 }
}

pub fn getppid() -> i32 {
    // SAFETY: no arguments.
    unsafe { syscall6(SYS_GETPPID, [0; 6]) as i32 }
}

pub fn setsid() -> Res<()> {
    // SAFETY: no arguments.
    ret(unsafe { syscall6(SYS_SETSID, [0; 6]) }).map(|_| ())
}

pub fn setpgid(pid: i32, pgid: i32) -> Res<()> {
    // SAFETY: plain integers.
    ret(unsafe { syscall6(SYS_SETPGID, sc!(0, pid, pgid)) }).map(|_| ())
}

pub fn prctl(option: i32, arg: usize) -> Res<()> {
    // SAFETY: only integer-argument options are used.
    ret(unsafe { syscall6(SYS_PRCTL, sc!(0, option, arg, 0, 0, 0)) }).map(|_| ())
}

/// A kernel signal set (64 signals).
pub type SigSet = u64;

pub fn sig_bit(sig: i32) -> SigSet {
    1u64 << (sig - 1)
}

/// Every signal but SIGKILL and SIGSTOP (which cannot be blocked).
pub const ALL_SIGNALS: SigSet = !0;

pub fn sigprocmask(how: i32, set: SigSet) -> Res<SigSet> {
    let mut old: SigSet = 0;
    // SAFETY: set and old are 8-byte signal sets, the size passed.
    ret(unsafe {
        syscall6(
            SYS_RT_SIGPROCMASK,
            sc!(0, how, &set as *const u64, &mut old as *mut u64, 8),
        )
    })?;
    Ok(old)
}

/// A signalfd for `set` (which must be blocked), non-blocking, close-on-exec.
pub fn signalfd(set: SigSet) -> Res<i32> {
    // SAFETY: set is an 8-byte signal set, the size passed.
    ret(unsafe {
        syscall6(
            SYS_SIGNALFD4,
            sc!(
                0,
                -1i32 as usize,
                &set as *const u64,
                8,
                O_NONBLOCK | O_CLOEXEC
            ),
        )
    })
    .map(|f| f as i32)
}

/// Reads one signal number from a signalfd; None when none is pending.
pub fn read_signal(fd: i32) -> Option<i32> {
    let mut info = [0u8; 128];
    match read(fd, &mut info) {
        Ok(128) => Some(u32::from_ne_bytes([info[0], info[1], info[2], info[3]]) as i32),
        _ => None,
    }
}

pub fn ioctl(fd: i32, req: u64, arg: usize) -> Res<usize> {
    // SAFETY: callers pass requests whose argument is an integer or a
    // pointer to a live value of the type the request expects.
    ret(unsafe { syscall6(SYS_IOCTL, sc!(0, fd, req, arg)) })
}

/// TIOCSWINSZ: sets a terminal's size.
pub fn set_winsize(fd: i32, rows: u16, cols: u16) -> Res<()> {
    let ws: [u16; 4] = [rows, cols, 0, 0];
    ioctl(fd, TIOCSWINSZ, ws.as_ptr() as usize).map(|_| ())
}

/// TIOCSPGRP: makes `pgid` the terminal's foreground group.
pub fn tcsetpgrp(fd: i32, pgid: i32) -> Res<()> {
    let p: i32 = pgid;
    ioctl(fd, TIOCSPGRP, &p as *const i32 as usize).map(|_| ())
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct PollFd {
    pub fd: i32,
    pub events: i16,
    pub revents: i16,
}

impl PollFd {
    pub const fn new(fd: i32, events: i16) -> PollFd {
        PollFd {
            fd,
            events,
            revents: 0,
        }
    }
}

/// poll(2); EINTR is reported as zero ready descriptors.
pub fn poll(fds: &mut [PollFd], timeout_ms: i32) -> Res<usize> {
    // SAFETY: fds is a valid array of pollfd of the given length.
    match ret(unsafe { syscall6(SYS_POLL, sc!(0, fds.as_mut_ptr(), fds.len(), timeout_ms)) }) {
        Err(Errno(EINTR)) => Ok(0),
        r => r,
    }
}

pub const SEEK_END: i32 = 2;

/// `lseek(2)`: the new offset.
pub fn lseek(fd: i32, off: i64, whence: i32) -> Res<u64> {
    // SAFETY: plain integers.
    ret(unsafe { syscall6(SYS_LSEEK, sc!(0, fd, off, whence)) }).map(|v| v as u64)
}

pub fn fsync(fd: i32) -> Res<()> {
    // SAFETY: plain integer.
    ret(unsafe { syscall6(SYS_FSYNC, sc!(0, fd)) }).map(|_| ())
}

pub fn renameat(olddir: i32, old: &CStr, newdir: i32, new: &CStr) -> Res<()> {
    // SAFETY: both paths are NUL-terminated and outlive the call.
    ret(unsafe {
        syscall6(
            SYS_RENAMEAT,
            sc!(0, olddir, old.as_ptr(), newdir, new.as_ptr()),
        )
    })
    .map(|_| ())
}

pub fn unlinkat(dir: i32, path: &CStr, flags: i32) -> Res<()> {
    // SAFETY: path is NUL-terminated and outlives the call.
    ret(unsafe { syscall6(SYS_UNLINKAT, sc!(0, dir, path.as_ptr(), flags)) }).map(|_| ())
}

pub fn chdir(path: &CStr) -> Res<()> {
    // SAFETY: path is NUL-terminated and outlives the call.
    ret(unsafe { syscall6(SYS_CHDIR, sc!(0, path.as_ptr())) }).map(|_| ())
}

/// (seconds, nanoseconds) of a clock.
pub fn clock_gettime(clock: i32) -> (i64, u32) {
    let mut ts = [0i64; 2];
    // SAFETY: ts is a struct timespec (two 64-bit fields).
    let _ = unsafe { syscall6(SYS_CLOCK_GETTIME, sc!(0, clock, ts.as_mut_ptr())) };
    (ts[0], ts[1] as u32)
}

/// Milliseconds of the monotonic clock.
pub fn monotonic_ms() -> u64 {
    let (s, n) = clock_gettime(CLOCK_MONOTONIC);
    s as u64 * 1000 + n as u64 / 1_000_000
}

pub fn sleep_ms(ms: u64) {
    let ts = [(ms / 1000) as i64, ((ms % 1000) * 1_000_000) as i64];
    // SAFETY: ts is a struct timespec; no remainder is asked for.
    let _ = unsafe { syscall6(SYS_NANOSLEEP, sc!(0, ts.as_ptr(), 0)) };
}

// ---- unix sockets ----------------------------------------------------

#[repr(C)]
pub struct SockaddrUn {
    pub family: u16,
    pub path: [u8; 108],
}

impl SockaddrUn {
    /// None when the path does not fit.
    pub fn new(path: &[u8]) -> Option<SockaddrUn> {
        if path.len() >= 108 {
            return None;
        }
        let mut a = SockaddrUn {
            family: AF_UNIX as u16,
            path: [0; 108],
        };
        a.path[..path.len()].copy_from_slice(path);
        Some(a)
    }
}

pub fn socket(domain: i32, ty: i32) -> Res<i32> {
    // SAFETY: plain integers.
    ret(unsafe { syscall6(SYS_SOCKET, sc!(0, domain, ty, 0)) }).map(|f| f as i32)
}

pub fn socketpair(ty: i32) -> Res<(i32, i32)> {
    let mut fds = [0i32; 2];
    // SAFETY: fds has room for the two descriptors.
    ret(unsafe { syscall6(SYS_SOCKETPAIR, sc!(0, AF_UNIX, ty, 0, fds.as_mut_ptr())) })?;
    Ok((fds[0], fds[1]))
}

pub fn bind(fd: i32, a: &SockaddrUn) -> Res<()> {
    // SAFETY: a is a sockaddr_un of the size passed.
    ret(unsafe {
        syscall6(
            SYS_BIND,
            sc!(
                0,
                fd,
                a as *const SockaddrUn,
                core::mem::size_of::<SockaddrUn>()
            ),
        )
    })
    .map(|_| ())
}

pub fn connect(fd: i32, a: &SockaddrUn) -> Res<()> {
    // SAFETY: a is a sockaddr_un of the size passed.
    ret(unsafe {
        syscall6(
            SYS_CONNECT,
            sc!(
                0,
                fd,
                a as *const SockaddrUn,
                core::mem::size_of::<SockaddrUn>()
            ),
        )
    })
    .map(|_| ())
}

pub fn listen(fd: i32, backlog: i32) -> Res<()> {
    // SAFETY: plain integers.
    ret(unsafe { syscall6(SYS_LISTEN, sc!(0, fd, backlog)) }).map(|_| ())
}

pub fn accept4(fd: i32, flags: i32) -> Res<i32> {
    // SAFETY: no address is asked for.
    ret(unsafe { syscall6(SYS_ACCEPT4, sc!(0, fd, 0, 0, flags)) }).map(|f| f as i32)
}

#[repr(C)]
struct IoVec {
    base: *mut u8,
    len: usize,
}

#[repr(C)]
struct MsgHdr {
    name: *mut u8,
    namelen: u32,
    iov: *mut IoVec,
    iovlen: usize,
    control: *mut u8,
    controllen: usize,
    flags: i32,
}

/// Receives one byte of data and, if sent along (SCM_RIGHTS), a
/// descriptor (close-on-exec). Ok(None) when none came.
pub fn recv_fd(sock: i32) -> Res<Option<i32>> {
    let mut data = [0u8; 256];
    let mut iov = IoVec {
        base: data.as_mut_ptr(),
        len: data.len(),
    };
    // cmsghdr (len u64, level i32, type i32) + one int, 8-aligned.
    let mut control = [0u64; 4];
    let mut msg = MsgHdr {
        name: core::ptr::null_mut(),
        namelen: 0,
        iov: &mut iov,
        iovlen: 1,
        control: control.as_mut_ptr() as *mut u8,
        controllen: 32,
        flags: 0,
    };
    // SAFETY: msg points at live buffers of the sizes it states.
    ret(unsafe {
        syscall6(
            SYS_RECVMSG,
            sc!(0, sock, &mut msg as *mut MsgHdr, MSG_CMSG_CLOEXEC),
        )
    })?;
    if msg.controllen < 20 {
        return Ok(None);
    }
    let len = control[0] as usize;
    let level = control[1] as u32 as i32;
    let ty = (control[1] >> 32) as u32 as i32;
    if len >= 20 && level == SOL_SOCKET && ty == SCM_RIGHTS {
        return Ok(Some(control[2] as u32 as i32));
    }
    Ok(None)
}

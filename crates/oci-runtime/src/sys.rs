//! Thin wrappers over the raw syscalls that neither `nix` nor `std` cover the
//! way the runtime needs them. Every `unsafe` block of the crate lives here.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

fn cvt(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn cstr(p: &Path) -> io::Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// Result of a fork-like call.
pub enum Forked {
    Parent(i32),
    Child,
}

/// `fork(2)`. The runtime is single-threaded when it calls this.
pub fn fork() -> io::Result<Forked> {
    // SAFETY: the caller is single-threaded, so the child may run arbitrary code.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        p => Ok(Forked::Parent(p)),
    }
}

/// `clone(CLONE_PARENT | SIGCHLD)`: a fork whose child is a sibling of the
/// caller, so the runtime's parent (not the short-lived intermediate) reaps it.
pub fn fork_sibling() -> io::Result<Forked> {
    // SAFETY: raw clone with no new stack behaves as fork; the caller is single-threaded.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_PARENT | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    match cvt(pid)? {
        0 => Ok(Forked::Child),
        p => Ok(Forked::Parent(p as i32)),
    }
}

/// Terminates the calling process immediately, without running destructors
/// or atexit handlers (used by forked children).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and is async-signal-safe.
    unsafe { libc::_exit(code) }
}

#[repr(C)]
#[derive(Default)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
pub const RESOLVE_IN_ROOT: u64 = 0x10;
pub const RESOLVE_NO_XDEV: u64 = 0x01;
pub const RESOLVE_NO_SYMLINKS: u64 = 0x04;

/// `openat2(2)`: opens `path` relative to `dirfd` with the given resolve flags.
pub fn openat2(
    dirfd: RawFd,
    path: &Path,
    flags: i32,
    mode: u32,
    resolve: u64,
) -> io::Result<OwnedFd> {
    let c = cstr(path)?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: mode as u64,
        resolve,
    };
    loop {
        // SAFETY: `how` and `c` outlive the call; the kernel copies them.
        let r = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dirfd,
                c.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        match cvt(r) {
            // SAFETY: the kernel returned a new descriptor that we now own.
            Ok(fd) => return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }),
            Err(e)
                if e.raw_os_error() == Some(libc::EAGAIN)
                    || e.raw_os_error() == Some(libc::EINTR) =>
            {
                continue
            }
            Err(e) => return Err(e),
        }
    }
}

/// `mknodat(2)`.
pub fn mknodat(dirfd: RawFd, name: &Path, mode: u32, dev: u64) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let r = unsafe { libc::mknodat(dirfd, c.as_ptr(), mode as libc::mode_t, dev as libc::dev_t) };
    cvt(r as libc::c_long).map(|_| ())
}

/// `pidfd_open(2)`.
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    // SAFETY: the kernel returned a new descriptor that we now own.
    cvt(r).map(|fd| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `pidfd_send_signal(2)`.
pub fn pidfd_send_signal(pidfd: &OwnedFd, sig: i32) -> io::Result<()> {
    // SAFETY: plain syscall; a null siginfo is allowed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<u8>(),
            0,
        )
    };
    cvt(r).map(|_| ())
}

/// `close_range(first, ~0, CLOSE_RANGE_CLOEXEC)`: marks every descriptor from
/// `first` on close-on-exec, so nothing of the runtime's leaks into the container.
pub fn cloexec_from(first: u32) -> io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: u32 = 1 << 2;
    // SAFETY: plain syscall with integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    if cvt(r).is_ok() {
        return Ok(());
    }
    // Older kernels: walk /proc/self/fd.
    let fds: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd >= first as RawFd)
        .collect();
    for fd in fds {
        // SAFETY: setting FD_CLOEXEC on a descriptor number is harmless even if it was closed meanwhile.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}

/// Whether the working directory lies under this process's root: the raw
/// getcwd(2) starts the path with "(unreachable)" when it does not (a cwd
/// reached through a host fd, CVE-2024-21626), and fails for a removed one.
pub fn cwd_in_root() -> bool {
    let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
    // SAFETY: the kernel writes at most buf.len() bytes into our buffer.
    let n = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
    n > 0 && buf[0] == b'/'
}

/// Clears close-on-exec on `fd`.
pub fn clear_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on an integer descriptor.
    let r = unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
    cvt(r as libc::c_long).map(|_| ())
}

/// `dup3(old, new, 0)`: the result is inherited across exec.
pub fn dup_to(old: RawFd, new: RawFd) -> io::Result<()> {
    if old == new {
        return clear_cloexec(new);
    }
    // SAFETY: dup3 on integer descriptors.
    let r = unsafe { libc::dup3(old, new, 0) };
    cvt(r as libc::c_long).map(|_| ())
}

/// `personality(2)`.
pub fn personality(persona: libc::c_ulong) -> io::Result<()> {
    // SAFETY: plain syscall.
    let r = unsafe { libc::personality(persona) };
    cvt(r as libc::c_long).map(|_| ())
}

/// `ioprio_set(IOPRIO_WHO_PROCESS, 0, prio)`.
pub fn ioprio_set(class: i32, level: i32) -> io::Result<()> {
    let prio = (class << 13) | level;
    // SAFETY: plain syscall with integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_ioprio_set, 1, 0, prio) };
    cvt(r).map(|_| ())
}

#[repr(C)]
#[derive(Default)]
pub struct SchedAttr {
    pub size: u32,
    pub sched_policy: u32,
    pub sched_flags: u64,
    pub sched_nice: i32,
    pub sched_priority: u32,
    pub sched_runtime: u64,
    pub sched_deadline: u64,
    pub sched_period: u64,
    pub sched_util_min: u32,
    pub sched_util_max: u32,
}

/// `sched_setattr(0, attr, 0)`.
pub fn sched_setattr(attr: &mut SchedAttr) -> io::Result<()> {
    attr.size = std::mem::size_of::<SchedAttr>() as u32;
    // SAFETY: `attr` is a valid, initialised sched_attr for the duration of the call.
    let r = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, attr as *mut SchedAttr, 0) };
    cvt(r).map(|_| ())
}

/// `setdomainname(2)`.
pub fn setdomainname(name: &str) -> io::Result<()> {
    // SAFETY: pointer and length describe `name`'s bytes.
    let r = unsafe { libc::setdomainname(name.as_ptr() as *const libc::c_char, name.len()) };
    cvt(r as libc::c_long).map(|_| ())
}

/// `ioctl(fd, TIOCSCTTY, 0)`: makes the terminal the caller's controlling tty.
pub fn set_controlling_tty(fd: RawFd) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument.
    let r = unsafe { libc::ioctl(fd, libc::TIOCSCTTY, 0) };
    cvt(r as libc::c_long).map(|_| ())
}

/// `ioctl(fd, TIOCSWINSZ)`.
pub fn set_winsize(fd: RawFd, rows: u16, cols: u16) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: `ws` is a valid winsize.
    let r = unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
    cvt(r as libc::c_long).map(|_| ())
}

/// `ioctl(fd, TIOCGWINSZ)`.
pub fn get_winsize(fd: RawFd) -> io::Result<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: `ws` is a valid, writable winsize.
    let r = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) };
    cvt(r as libc::c_long).map(|_| (ws.ws_row, ws.ws_col))
}

/// Opens a new pty master from `ptmx` and returns (master, slave path).
pub fn open_pty(ptmx: &Path) -> io::Result<(OwnedFd, std::path::PathBuf)> {
    let c = cstr(ptmx)?;
    // SAFETY: `c` is a valid path string.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the descriptor was just opened and is ours.
    let master = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK takes a pointer to an int.
    if unsafe { libc::ioctl(fd, libc::TIOCSPTLCK, &mut unlock) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes an unsigned int.
    if unsafe { libc::ioctl(fd, libc::TIOCGPTN, &mut n) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let slave = ptmx
        .parent()
        .unwrap_or(Path::new("/dev/pts"))
        .join(n.to_string());
    Ok((master, slave))
}

/// `ioctl(master, TIOCGPTPEER)`: opens the slave of `master` without a path walk.
pub fn open_pty_peer(master: RawFd) -> io::Result<OwnedFd> {
    const TIOCGPTPEER: libc::c_ulong = 0x5441;
    // SAFETY: TIOCGPTPEER takes open flags and returns a new descriptor.
    let r = unsafe {
        libc::ioctl(
            master,
            TIOCGPTPEER as _,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    // SAFETY: the kernel returned a new descriptor that we now own.
    cvt(r as libc::c_long).map(|fd| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `execve(2)` with already-converted arguments; only returns on failure.
pub fn execve(path: &CString, argv: &[CString], envp: &[CString]) -> io::Error {
    let mut a: Vec<*const libc::c_char> = argv.iter().map(|s| s.as_ptr()).collect();
    a.push(std::ptr::null());
    let mut e: Vec<*const libc::c_char> = envp.iter().map(|s| s.as_ptr()).collect();
    e.push(std::ptr::null());
    // SAFETY: both arrays are NULL-terminated and point into CStrings that live across the call.
    unsafe { libc::execve(path.as_ptr(), a.as_ptr(), e.as_ptr()) };
    io::Error::last_os_error()
}

/// Installs a classic-BPF seccomp filter (`sock_filter` records, 8 bytes
/// each) with `seccomp(SECCOMP_SET_MODE_FILTER, flags, ...)`.
pub fn seccomp_set_filter(bpf: &[u8], flags: u32) -> io::Result<()> {
    if bpf.is_empty() || bpf.len() % 8 != 0 || bpf.len() / 8 > u16::MAX as usize {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // struct sock_fprog of linux/filter.h.
    #[repr(C)]
    struct SockFprog {
        len: u16,
        filter: *const u8,
    }
    let prog = SockFprog {
        len: (bpf.len() / 8) as u16,
        filter: bpf.as_ptr(),
    };
    // SAFETY: `prog` points at `len` sock_filter records in `bpf`, which
    // outlives the call; the kernel copies the program.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags as libc::c_ulong,
            &prog as *const SockFprog,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `prctl(PR_SET_NO_NEW_PRIVS, 1)`.
pub fn set_no_new_privs() -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    let r = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    cvt(r as libc::c_long).map(|_| ())
}

/// `prctl(PR_SET_KEEPCAPS, v)`.
pub fn set_keep_caps(v: bool) -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    let r = unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, v as libc::c_ulong, 0, 0, 0) };
    cvt(r as libc::c_long).map(|_| ())
}

/// `prctl(PR_SET_CHILD_SUBREAPER, 1)`.
pub fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    cvt(r as libc::c_long).map(|_| ())
}

/// `prctl(PR_SET_PDEATHSIG, sig)`.
pub fn set_parent_death_signal(sig: i32) -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    let r = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) };
    cvt(r as libc::c_long).map(|_| ())
}

/// Sets uid/gid of the calling thread with raw syscalls (glibc's wrappers
/// would broadcast to other threads, of which there are none).
pub fn setresuid(uid: u32) -> io::Result<()> {
    // SAFETY: plain syscall.
    cvt(unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) }).map(|_| ())
}

pub fn setresgid(gid: u32) -> io::Result<()> {
    // SAFETY: plain syscall.
    cvt(unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) }).map(|_| ())
}

pub fn setgroups(groups: &[u32]) -> io::Result<()> {
    // SAFETY: pointer and length describe `groups`.
    cvt(unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) }).map(|_| ())
}

/// `umask(2)`.
pub fn umask(mask: u32) {
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(mask as libc::mode_t) };
}

/// Blocks every signal, returning the previous mask.
pub fn block_all_signals() -> io::Result<libc::sigset_t> {
    // SAFETY: sigset_t is plain data; sigfillset/sigprocmask initialise and use it.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        if libc::sigprocmask(libc::SIG_SETMASK, &all, &mut old) < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(old)
    }
}

/// Restores a signal mask.
pub fn restore_mask(mask: &libc::sigset_t) {
    // SAFETY: `mask` is a valid sigset.
    unsafe { libc::sigprocmask(libc::SIG_SETMASK, mask, std::ptr::null_mut()) };
}

/// A signalfd over the given signals (which must be blocked).
pub fn signalfd(sigs: &[i32]) -> io::Result<OwnedFd> {
    // SAFETY: sigset_t is plain data initialised by sigemptyset.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in sigs {
            libc::sigaddset(&mut set, *s);
        }
        let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// Reads one signal number from a signalfd.
pub fn read_signalfd(fd: RawFd) -> io::Result<i32> {
    // SAFETY: signalfd_siginfo is plain data, read fills it.
    unsafe {
        let mut info: libc::signalfd_siginfo = std::mem::zeroed();
        let n = libc::read(
            fd,
            &mut info as *mut _ as *mut libc::c_void,
            std::mem::size_of::<libc::signalfd_siginfo>(),
        );
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(info.ssi_signo as i32)
    }
}

/// `waitpid(pid, WNOHANG?)` returning (pid, raw status).
pub fn waitpid(pid: i32, nohang: bool) -> io::Result<Option<(i32, i32)>> {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, if nohang { libc::WNOHANG } else { 0 }) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(e);
        }
        return Ok(if r == 0 { None } else { Some((r, status)) });
    }
}

/// Converts a raw wait status to a shell-style exit code (128+signal for signals).
pub fn exit_code(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        255
    }
}

/// `kill(2)`.
pub fn kill(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: plain syscall.
    cvt(unsafe { libc::kill(pid, sig) } as libc::c_long).map(|_| ())
}

/// `poll(2)` on a single descriptor for readability; returns true if ready.
pub fn poll_readable(fd: RawFd, timeout_ms: i32) -> io::Result<bool> {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: `p` is a valid pollfd array of length 1.
        let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(e);
        }
        return Ok(r > 0);
    }
}

/// `poll(2)` over several descriptors; returns the revents of each.
pub fn poll_many(fds: &[RawFd], timeout_ms: i32) -> io::Result<Vec<i16>> {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: *fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    loop {
        // SAFETY: `p` is a valid pollfd array of the given length.
        let r = unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, timeout_ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(e);
        }
        return Ok(p.iter().map(|x| x.revents).collect());
    }
}

/// Makes the terminal on `fd` raw, returning the previous settings.
pub fn make_raw(fd: RawFd) -> io::Result<libc::termios> {
    // SAFETY: termios is plain data filled by tcgetattr.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd, &mut t) < 0 {
            return Err(io::Error::last_os_error());
        }
        let old = t;
        libc::cfmakeraw(&mut t);
        if libc::tcsetattr(fd, libc::TCSANOW, &t) < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(old)
    }
}

/// Restores terminal settings saved by [`make_raw`].
pub fn restore_term(fd: RawFd, t: &libc::termios) {
    // SAFETY: `t` is a valid termios.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, t) };
}

/// `isatty(3)`.
pub fn isatty(fd: RawFd) -> bool {
    // SAFETY: isatty on an integer descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

/// Current effective uid.
pub fn geteuid() -> u32 {
    // SAFETY: cannot fail.
    unsafe { libc::geteuid() }
}

/// Current effective gid.
pub fn getegid() -> u32 {
    // SAFETY: cannot fail.
    unsafe { libc::getegid() }
}

/// Borrows a raw descriptor that the caller knows stays open for the process' life.
pub fn borrow_fd(fd: RawFd) -> std::os::fd::BorrowedFd<'static> {
    // SAFETY: callers pass descriptors owned by libraries that keep them open.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }
}

/// Takes ownership of a descriptor the kernel just gave us (recvmsg, etc.).
pub fn own_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: callers pass a descriptor that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// `setrlimit(2)`.
pub fn setrlimit(res: libc::__rlimit_resource_t, soft: u64, hard: u64) -> io::Result<()> {
    let rl = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `rl` is a valid rlimit.
    cvt(unsafe { libc::setrlimit(res, &rl) } as libc::c_long).map(|_| ())
}

/// `keyctl(KEYCTL_JOIN_SESSION_KEYRING, name)`: a fresh session keyring.
pub fn join_session_keyring(name: &str) -> io::Result<()> {
    let c = CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `c` outlives the call.
    cvt(unsafe { libc::syscall(libc::SYS_keyctl, 1, c.as_ptr()) }).map(|_| ())
}

/// Unblocks every signal and undoes the one disposition this runtime
/// changed (Rust ignores SIGPIPE): what a container process must start
/// with. Dispositions inherited from our caller pass through, as with runc.
pub fn clean_signals() {
    // SAFETY: an empty sigset is valid; SIG_DFL is always a valid disposition.
    unsafe {
        let mut s: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut s);
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::sigprocmask(libc::SIG_SETMASK, &s, std::ptr::null_mut());
    }
}

/// `prctl(PR_SET_DUMPABLE, v)`.
pub fn set_dumpable(v: bool) -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    let r = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, v as libc::c_ulong, 0, 0, 0) };
    cvt(r as libc::c_long).map(|_| ())
}

const F_ADD_SEALS: i32 = 1033;
const F_GET_SEALS: i32 = 1034;
const F_SEAL_SEAL: i32 = 0x0001;
const F_SEAL_SHRINK: i32 = 0x0002;
const F_SEAL_GROW: i32 = 0x0004;
const F_SEAL_WRITE: i32 = 0x0008;
const CLONE_SEALS: i32 = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;

/// Whether this process runs from a copy of its binary that no one can
/// write: a read-only (detached) mount, or a sealed memfd.
pub fn running_from_sealed_copy() -> bool {
    let Ok(f) = std::fs::File::open("/proc/self/exe") else {
        return false;
    };
    if nix::sys::statvfs::fstatvfs(&f)
        .is_ok_and(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
    {
        return true;
    }
    // SAFETY: fcntl on a descriptor we own.
    let seals = unsafe { libc::fcntl(f.as_raw_fd(), F_GET_SEALS) };
    seals >= 0 && seals & CLONE_SEALS == CLONE_SEALS
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// A read-only, detached bind mount of our own binary (open_tree +
/// mount_setattr): no copy, and gone once nothing uses it.
fn readonly_exe_mount() -> io::Result<OwnedFd> {
    const OPEN_TREE_CLONE: u32 = 1;
    const MOUNT_ATTR_RDONLY: u64 = 1;
    let path = CString::new("/proc/self/exe").expect("no NUL");
    // SAFETY: plain syscall; the path outlives it.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            path.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as u32,
        )
    };
    // SAFETY: the kernel returned a new descriptor that we now own.
    let tree = unsafe { OwnedFd::from_raw_fd(cvt(fd)? as RawFd) };
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let empty = CString::new("").expect("no NUL");
    // SAFETY: `attr` and `empty` outlive the call.
    cvt(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })?;
    Ok(tree)
}

/// An anonymous in-memory file (`memfd_create`, close-on-exec).
pub fn memfd(name: &std::ffi::CStr) -> io::Result<OwnedFd> {
    // SAFETY: memfd_create with a NUL-terminated name; the result is a new fd we own.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(own_fd(fd))
}

/// A sealed memfd copy of our binary (for when mounts are not allowed).
fn sealed_memfd_copy() -> io::Result<OwnedFd> {
    let exe = std::fs::File::open("/proc/self/exe")?;
    let len = exe.metadata()?.len() as usize;
    let name = CString::new("berth-oci").expect("no NUL");
    // SAFETY: plain syscall; the name outlives it.
    let fd =
        unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the descriptor was just created and is ours.
    let mem = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut done = 0usize;
    while done < len {
        // SAFETY: both descriptors are valid; a null offset uses the file position.
        let n = unsafe {
            libc::sendfile(
                mem.as_raw_fd(),
                exe.as_raw_fd(),
                std::ptr::null_mut(),
                len - done,
            )
        };
        if n <= 0 {
            return Err(if n == 0 {
                io::Error::from_raw_os_error(libc::EIO)
            } else {
                io::Error::last_os_error()
            });
        }
        done += n as usize;
    }
    // SAFETY: fcntl on a descriptor we own.
    if unsafe { libc::fcntl(mem.as_raw_fd(), F_ADD_SEALS, CLONE_SEALS) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(mem)
}

/// CVE-2019-5736: until a container process execs, it is a copy of the
/// runtime, and another container process that can reach /proc/PID/exe
/// could later reopen the runtime's binary for writing. Re-executing through
/// a read-only detached mount of the binary (or, unprivileged, a sealed
/// memfd copy) makes /proc/PID/exe point at something no one can write.
/// Returns only on failure (or if already running from a copy).
pub fn reexec_from_sealed_copy() -> io::Result<()> {
    if running_from_sealed_copy() {
        return Ok(());
    }
    let mem = match readonly_exe_mount() {
        Ok(fd) => fd,
        Err(_) => sealed_memfd_copy()?,
    };
    let args: Vec<CString> = std::env::args_os()
        .map(|a| {
            CString::new(std::os::unix::ffi::OsStrExt::as_bytes(a.as_os_str())).unwrap_or_default()
        })
        .collect();
    let env: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut b = std::os::unix::ffi::OsStrExt::as_bytes(k.as_os_str()).to_vec();
            b.push(b'=');
            b.extend_from_slice(std::os::unix::ffi::OsStrExt::as_bytes(v.as_os_str()));
            CString::new(b).unwrap_or_default()
        })
        .collect();
    let mut a: Vec<*const libc::c_char> = args.iter().map(|s| s.as_ptr()).collect();
    a.push(std::ptr::null());
    let mut e: Vec<*const libc::c_char> = env.iter().map(|s| s.as_ptr()).collect();
    e.push(std::ptr::null());
    let empty = CString::new("").expect("no NUL");
    // SAFETY: NULL-terminated arrays of pointers into CStrings that outlive the call.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            mem.as_raw_fd(),
            empty.as_ptr(),
            a.as_ptr(),
            e.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    Err(io::Error::last_os_error())
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, {set, clr})`.
pub fn mount_setattr_recursive(fd: RawFd, set: u64, clr: u64) -> io::Result<()> {
    const AT_RECURSIVE: libc::c_int = 0x8000;
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clr,
        propagation: 0,
        userns_fd: 0,
    };
    let empty = CString::new("").expect("no NUL");
    // SAFETY: `attr` and `empty` outlive the call.
    cvt(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd,
            empty.as_ptr(),
            libc::AT_EMPTY_PATH | AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(|_| ())
}

/// `open_tree(path, OPEN_TREE_CLONE [| AT_RECURSIVE])`: a detached copy of a mount.
pub fn open_tree_clone(path: &Path, recursive: bool) -> io::Result<OwnedFd> {
    const OPEN_TREE_CLONE: u32 = 1;
    const AT_RECURSIVE: u32 = 0x8000;
    let c = cstr(path)?;
    let flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as u32 | if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: plain syscall; the path outlives it.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c.as_ptr(), flags) };
    // SAFETY: the kernel returned a new descriptor that we now own.
    cvt(fd).map(|fd| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Marks a detached mount as id-mapped through the user namespace `userns`.
pub fn mount_setattr_idmap(tree: RawFd, userns: RawFd, recursive: bool) -> io::Result<()> {
    const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
    const AT_RECURSIVE: libc::c_int = 0x8000;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns as u64,
    };
    let empty = CString::new("").expect("no NUL");
    // SAFETY: `attr` and `empty` outlive the call.
    cvt(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree,
            empty.as_ptr(),
            libc::AT_EMPTY_PATH | if recursive { AT_RECURSIVE } else { 0 },
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(|_| ())
}

/// `move_mount(tree, "", target, "", F_EMPTY_PATH | T_EMPTY_PATH)`.
pub fn move_mount_fd(tree: RawFd, target: RawFd) -> io::Result<()> {
    const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x4;
    const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;
    let empty = CString::new("").expect("no NUL");
    // SAFETY: plain syscall; the empty path outlives it.
    cvt(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree,
            empty.as_ptr(),
            target,
            empty.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    })
    .map(|_| ())
}

/// Brings the loopback interface of the current network namespace up, as
/// runc does for a new network namespace (SIOCGIFFLAGS / SIOCSIFFLAGS).
pub fn loopback_up() -> io::Result<()> {
    // SAFETY: plain socket call.
    let s = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if s < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the descriptor was just created and is ours.
    let sock = unsafe { OwnedFd::from_raw_fd(s) };
    // SAFETY: ifreq is plain data; the name is NUL-terminated within IFNAMSIZ.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (i, b) in b"lo\0".iter().enumerate() {
        ifr.ifr_name[i] = *b as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS fills ifr_ifru with the flags.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the union member written by SIOCGIFFLAGS is ifru_flags.
    unsafe { ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: SIOCSIFFLAGS reads ifr.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &ifr) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

//! The few raw syscalls: setns, persistent network namespace files, locks.

use std::fs::File;
use std::io;
use std::os::fd::RawFd;
use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::CloneFlags;

/// Joins the network namespace open as `fd` (this thread only).
pub fn setns_net(fd: RawFd) -> io::Result<()> {
    // SAFETY: `fd` is an open descriptor the caller owns for the call.
    let b = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    nix::sched::setns(b, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)
}

/// Creates a new network namespace and bind-mounts it on `path` (made
/// as an empty file); the namespace lives as long as the mount.
pub fn create_netns(path: &Path) -> io::Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    File::create(path)?;
    let r = std::thread::scope(|s| {
        s.spawn(|| -> io::Result<()> {
            nix::sched::unshare(CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
            // SAFETY: gettid has no preconditions.
            let tid = unsafe { libc::syscall(libc::SYS_gettid) };
            let src = format!("/proc/self/task/{tid}/ns/net");
            mount(
                Some(src.as_str()),
                path,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(io::Error::from)
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("netns thread panicked")))
    });
    if r.is_err() {
        let _ = std::fs::remove_file(path);
    }
    r
}

/// Whether `path` is a mounted namespace file.
pub fn is_netns(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .map(|s| s.filesystem_type() == nix::sys::statfs::NSFS_MAGIC)
        .unwrap_or(false)
}

/// Unmounts and removes a namespace file; fine if it is gone.
pub fn remove_netns(path: &Path) -> io::Result<()> {
    if !path.exists() {
        return Ok(());
    }
    while is_netns(path) {
        umount2(path, MntFlags::MNT_DETACH).map_err(io::Error::from)?;
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Sets a sysctl by its /proc/sys path.
pub fn sysctl(key: &str, value: &str) -> io::Result<()> {
    let p = Path::new("/proc/sys").join(key.replace('.', "/"));
    if std::fs::read_to_string(&p).is_ok_and(|v| v.trim() == value) {
        return Ok(());
    }
    std::fs::write(&p, value)
}

/// Makes the child spawned by `cmd` a session leader (detached from the
/// caller's terminal and process group).
pub fn new_session_on_spawn(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setsid is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
}

//! The container's filesystem: mounts, devices, pivot_root, masked and
//! read-only paths. Runs inside the container's mount namespace.
//!
//! Every mount destination is resolved inside the rootfs with
//! `openat2(RESOLVE_IN_ROOT)` and mounted through `/proc/self/fd/N`, so a
//! symlink in the rootfs (even one swapped in during setup) can never send a
//! mount outside it (CVE-2021-30465).

use crate::error::{Context, Error, Result};
use crate::mountopts::{self, MountOptions};
use crate::sys;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount, Spec};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

/// What the mount setup needs besides the spec.
pub struct RootfsContext<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub cgroup_sources: &'a [cgroups::MountSource],
    pub cgroup_v2_only: bool,
    pub new_cgroupns: bool,
    /// Inside a new user namespace: device nodes are bind-mounted, not created.
    pub userns: bool,
    /// Id-mapped mounts the runtime prepared, by index in `mounts[]`.
    pub idmapped: &'a [crate::idmap::IdmappedMount],
    /// Called before the first cgroup mount: init is moved into the
    /// container's cgroup (and its cgroup namespace made) while it mounts
    /// everything before, and waits here until that is done.
    pub join_cgroup: &'a dyn Fn() -> Result<()>,
}

fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// A path relative to the rootfs (leading `/` and `.` dropped, `..` kept for
/// openat2 to contain).
fn rel(p: &Path) -> PathBuf {
    p.components()
        .filter(|c| !matches!(c, Component::RootDir | Component::CurDir))
        .collect()
}

/// Opens `path` inside `root` without ever leaving it.
pub fn open_in_root(root: RawFd, path: &Path, flags: i32) -> std::io::Result<OwnedFd> {
    let r = rel(path);
    let r = if r.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        r
    };
    sys::openat2(
        root,
        &r,
        flags,
        0,
        sys::RESOLVE_IN_ROOT | sys::RESOLVE_NO_MAGICLINKS,
    )
}

/// `mkdir -p` inside `root`, following symlinks the way the kernel's
/// RESOLVE_IN_ROOT does (absolute targets and `..` stay inside the root),
/// and creating the targets of dangling ones. Every directory is created
/// with mkdirat in a parent that was itself opened inside the root.
pub fn mkdir_all_in_root(root: RawFd, path: &Path, mode: u32) -> std::io::Result<OwnedFd> {
    use std::collections::VecDeque;
    // Fast paths: it exists already (the common case for images' mount
    // points), or only its last component is missing.
    if let Ok(fd) = open_in_root(root, path, libc::O_PATH | libc::O_DIRECTORY) {
        return Ok(fd);
    }
    let r = rel(path);
    if let (Some(parent), Some(Component::Normal(name))) = (r.parent(), r.components().next_back())
    {
        if !parent.as_os_str().is_empty() && !r.components().any(|c| c == Component::ParentDir) {
            if let Ok(dir) = mkdir_all_in_root(root, parent, mode) {
                match nix::sys::stat::mkdirat(
                    &dir,
                    name,
                    nix::sys::stat::Mode::from_bits_truncate(mode),
                ) {
                    Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
                    Err(e) => return Err(e.into()),
                }
                if let Ok(fd) = open_in_root(root, path, libc::O_PATH | libc::O_DIRECTORY) {
                    return Ok(fd);
                }
            }
        }
    }
    let mut todo: VecDeque<std::ffi::OsString> = rel(path)
        .components()
        .map(|c| c.as_os_str().to_os_string())
        .collect();
    let mut cur = PathBuf::new();
    let mut links = 0;
    while let Some(name) = todo.pop_front() {
        if name == ".." {
            cur.pop();
            continue;
        }
        if name == "." {
            continue;
        }
        let dir = open_in_root(root, &cur, libc::O_PATH | libc::O_DIRECTORY)?;
        match nix::fcntl::readlinkat(&dir, name.as_os_str()) {
            Ok(target) => {
                links += 1;
                if links > 40 {
                    return Err(std::io::Error::from_raw_os_error(libc::ELOOP));
                }
                let t = Path::new(&target);
                if t.is_absolute() {
                    cur = PathBuf::new();
                }
                for c in rel(t).components().rev() {
                    todo.push_front(c.as_os_str().to_os_string());
                }
            }
            Err(nix::errno::Errno::EINVAL) => cur.push(&name),
            Err(nix::errno::Errno::ENOENT) => {
                match nix::sys::stat::mkdirat(
                    &dir,
                    name.as_os_str(),
                    nix::sys::stat::Mode::from_bits_truncate(mode),
                ) {
                    Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
                    Err(e) => return Err(e.into()),
                }
                cur.push(&name);
            }
            Err(e) => return Err(e.into()),
        }
    }
    open_in_root(root, &cur, libc::O_PATH | libc::O_DIRECTORY)
}

/// Creates an empty file at `path` inside `root` (for file bind mounts).
pub fn create_file_in_root(root: RawFd, path: &Path) -> std::io::Result<OwnedFd> {
    if let Ok(fd) = open_in_root(root, path, libc::O_PATH) {
        return Ok(fd);
    }
    let r = rel(path);
    let parent = r.parent().unwrap_or(Path::new(""));
    let name = r
        .file_name()
        .ok_or_else(|| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    let dir = mkdir_all_in_root(root, parent, 0o755)?;
    // A dirfd opened with O_PATH can anchor openat.
    match nix::fcntl::openat(
        &dir,
        name,
        nix::fcntl::OFlag::O_CREAT
            | nix::fcntl::OFlag::O_WRONLY
            | nix::fcntl::OFlag::O_NOFOLLOW
            | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::from_bits_truncate(0o755),
    ) {
        Ok(_) | Err(nix::errno::Errno::EEXIST) | Err(nix::errno::Errno::ELOOP) => {}
        Err(e) => return Err(e.into()),
    }
    open_in_root(root, path, libc::O_PATH)
}

fn mnt(
    src: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> nix::Result<()> {
    mount(src, target, fstype, flags, data)
}

/// Flags of the mount at `path` that an unprivileged remount must keep.
fn locked_flags(path: &Path) -> MsFlags {
    let Ok(st) = nix::sys::statvfs::statvfs(path) else {
        return MsFlags::empty();
    };
    use nix::sys::statvfs::FsFlags;
    let f = st.flags();
    let mut out = MsFlags::empty();
    for (a, b) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(a) {
            out |= b;
        }
    }
    out
}

/// Remounts a bind mount with `flags`, retrying with the flags the kernel
/// locked on it (user namespaces) if a plain remount is refused.
fn remount_bind(target: &Path, flags: MsFlags) -> nix::Result<()> {
    let base = MsFlags::MS_REMOUNT | MsFlags::MS_BIND;
    match mnt(None, target, None, base | flags, None) {
        Err(nix::errno::Errno::EPERM) => {
            let keep = locked_flags(target) & !(MsFlags::MS_RDONLY);
            mnt(None, target, None, base | flags | keep, None)
        }
        r => r,
    }
}

/// Step 1, before any mount: make our copy of the host mounts stop
/// propagating back to the host, and make the rootfs a mount point.
pub fn prepare(ctx: &RootfsContext) -> Result<()> {
    let prop = ctx
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().clone())
        .unwrap_or_default();
    let initial = match prop.as_str() {
        "private" | "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        _ => MsFlags::MS_SLAVE | MsFlags::MS_REC,
    };
    mnt(None, Path::new("/"), None, initial, None).ctx(|| "cannot make / a slave mount")?;
    mnt(
        Some(ctx.rootfs),
        ctx.rootfs,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )
    .ctx(|| format!("cannot bind mount the rootfs {}", ctx.rootfs.display()))?;
    // The rootfs' parent must not be shared for pivot_root.
    let _ = mnt(None, ctx.rootfs, None, MsFlags::MS_PRIVATE, None);
    Ok(())
}

/// Step 2: every mount of config.json, then the device nodes.
pub fn mount_all(ctx: &RootfsContext) -> Result<()> {
    let root = sys::openat2(
        libc::AT_FDCWD,
        ctx.rootfs,
        libc::O_PATH | libc::O_DIRECTORY,
        0,
        0,
    )
    .ctx(|| format!("cannot open rootfs {}", ctx.rootfs.display()))?;
    let mounts = ctx.spec.mounts().clone().unwrap_or_default();
    let mut dev_is_mounted = false;
    for (i, m) in mounts.iter().enumerate() {
        let field = || format!("mounts[{i}] ({})", m.destination().display());
        mount_one(ctx, root.as_raw_fd(), m, i).map_err(|e| match e {
            Error::Io { context, source } => Error::Io {
                context: format!("{}: {context}", field()),
                source,
            },
            other => Error::msg(format!("{}: {other}", field())),
        })?;
        let o = mountopts::parse(
            m.options().as_deref().unwrap_or_default(),
            m.typ().as_deref(),
        );
        if rel(m.destination()) == Path::new("dev") && !o.bind {
            dev_is_mounted = true;
        }
    }
    if dev_is_mounted {
        create_default_devices(ctx, root.as_raw_fd())?;
    }
    let devices = ctx
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().clone())
        .unwrap_or_default();
    for (i, d) in devices.iter().enumerate() {
        create_device(ctx, root.as_raw_fd(), d)
            .map_err(|e| Error::msg(format!("linux.devices[{i}] ({}): {e}", d.path().display())))?;
    }
    if dev_is_mounted {
        setup_dev_symlinks(root.as_raw_fd())?;
    }
    Ok(())
}

/// Files under /proc that may be bind-mounted over (those lxcfs emulates),
/// as runc allows.
const PROC_FILES_ALLOWED: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
    "/proc/sys/crypto/fips_enabled",
];

/// Where `path` lands inside `root` (securejoin's semantics): symlinks are
/// followed inside the root, from the first missing component on the rest
/// is taken as it is. Nothing is created.
fn resolve_in_root(root: RawFd, path: &Path) -> PathBuf {
    use std::collections::VecDeque;
    let mut todo: VecDeque<std::ffi::OsString> = rel(path)
        .components()
        .map(|c| c.as_os_str().to_os_string())
        .collect();
    let mut cur = PathBuf::new();
    let mut links = 0;
    let mut missing = false;
    while let Some(name) = todo.pop_front() {
        if name == ".." {
            cur.pop();
            continue;
        }
        if name == "." {
            continue;
        }
        if !missing {
            let target = open_in_root(root, &cur, libc::O_PATH | libc::O_DIRECTORY)
                .ok()
                .and_then(|dir| nix::fcntl::readlinkat(&dir, name.as_os_str()).ok());
            match target {
                Some(t) if links < 40 => {
                    links += 1;
                    let t = Path::new(&t);
                    if t.is_absolute() {
                        cur = PathBuf::new();
                    }
                    for c in rel(t).components().rev() {
                        todo.push_front(c.as_os_str().to_os_string());
                    }
                    continue;
                }
                _ => {
                    missing = open_in_root(root, &cur.join(&name), libc::O_PATH).is_err();
                }
            }
        }
        cur.push(&name);
    }
    Path::new("/").join(cur)
}

/// The path inside the rootfs of a descriptor opened in it.
fn path_in_root(root: RawFd, fd: &OwnedFd) -> Option<PathBuf> {
    let r = std::fs::read_link(format!("/proc/self/fd/{root}")).ok()?;
    let p = std::fs::read_link(fd_path(fd)).ok()?;
    p.strip_prefix(&r).ok().map(|x| Path::new("/").join(x))
}

/// runc's checkProcMount, on the destination resolved inside the rootfs
/// (so a symlink in the image or swapped in cannot lead there): nothing is
/// mounted under /proc but a proc mount (or a bind of a procfs) on /proc
/// itself and binds over the files lxcfs emulates. A mount there would hide
/// or fake the kernel's files the runtime and the process rely on
/// (CVE-2019-16884, CVE-2019-19921).
fn check_proc_mount(in_root: &Path, typ: &str, bind_src: Option<&Path>) -> Result<()> {
    let Ok(below) = in_root.strip_prefix("/proc") else {
        return Ok(());
    };
    if below.as_os_str().is_empty() {
        let procfs = |p: &Path| {
            nix::sys::statfs::statfs(p)
                .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::PROC_SUPER_MAGIC)
        };
        if typ == "proc" || bind_src.is_some_and(procfs) {
            return Ok(());
        }
        return Err(Error::msg(format!(
            "{} cannot be mounted because it is not of type proc",
            in_root.display()
        )));
    }
    if PROC_FILES_ALLOWED.iter().any(|p| Path::new(p) == in_root) {
        return Ok(());
    }
    Err(Error::msg(format!(
        "{} cannot be mounted because it is inside /proc",
        in_root.display()
    )))
}

/// [`check_proc_mount`] on the target a mount is about to cover.
fn check_proc_target(root: RawFd, target: &OwnedFd, typ: &str, src: Option<&Path>) -> Result<()> {
    match path_in_root(root, target) {
        Some(p) => check_proc_mount(&p, typ, src),
        None => Err(Error::msg(
            "cannot tell where the mount point is in the rootfs",
        )),
    }
}

fn mount_one(ctx: &RootfsContext, root: RawFd, m: &Mount, index: usize) -> Result<()> {
    let typ = m.typ().as_deref().unwrap_or("");
    let opts = mountopts::parse(
        m.options().as_deref().unwrap_or_default(),
        Some(typ).filter(|t| !t.is_empty()),
    );
    let dest = m.destination();
    let bind_src = m.source().as_ref().filter(|_| opts.bind).map(|s| {
        if s.is_absolute() {
            s.clone()
        } else {
            ctx.bundle.join(s)
        }
    });
    // proc and sysfs are the kernel's own; everything else is checked
    // before a mount point is made and again on the one mounted over.
    let check_proc = !matches!(typ, "proc" | "sysfs");
    if check_proc {
        check_proc_mount(&resolve_in_root(root, dest), typ, bind_src.as_deref())?;
    }
    if typ == "cgroup" || typ == "cgroup2" {
        (ctx.join_cgroup)()?;
        return mount_cgroup(ctx, root, dest, &opts);
    }
    if opts.idmap {
        let im = ctx
            .idmapped
            .iter()
            .find(|x| x.index == index)
            .ok_or_else(|| Error::msg("idmapped mount was not prepared"))?;
        let target = if im.is_dir {
            mkdir_all_in_root(root, dest, 0o755)
        } else {
            create_file_in_root(root, dest)
        }
        .ctx(|| format!("cannot create mount point {}", dest.display()))?;
        check_proc_target(root, &target, typ, bind_src.as_deref())?;
        sys::move_mount_fd(im.tree.as_raw_fd(), target.as_raw_fd())
            .ctx(|| "move_mount of the id-mapped mount")?;
        let target =
            open_in_root(root, dest, libc::O_PATH).ctx(|| format!("reopen {}", dest.display()))?;
        let tp = fd_path(&target);
        if !opts.remount_flags().is_empty() {
            remount_bind(&tp, opts.remount_flags()).ctx(|| {
                format!(
                    "cannot remount {} with {:?}",
                    dest.display(),
                    opts.remount_flags()
                )
            })?;
        }
        apply_recursive_attrs(&target, &opts)?;
        return apply_propagation(&tp, &opts);
    }
    if opts.bind {
        let src = m
            .source()
            .as_ref()
            .ok_or_else(|| Error::msg("bind mount without a source"))?;
        let src = if src.is_absolute() {
            src.clone()
        } else {
            ctx.bundle.join(src)
        };
        let meta = std::fs::metadata(&src).ctx(|| format!("bind source {}", src.display()))?;
        let target = if meta.is_dir() {
            mkdir_all_in_root(root, dest, 0o755)
        } else {
            create_file_in_root(root, dest)
        }
        .ctx(|| format!("cannot create mount point {}", dest.display()))?;
        check_proc_target(root, &target, typ, Some(&src))?;
        let tp = fd_path(&target);
        let mut flags = MsFlags::MS_BIND;
        if opts.recursive {
            flags |= MsFlags::MS_REC;
        }
        mnt(Some(&src), &tp, None, flags, None)
            .ctx(|| format!("cannot bind mount {}", src.display()))?;
        // Re-resolve: the fd now points below the new mount.
        let target =
            open_in_root(root, dest, libc::O_PATH).ctx(|| format!("reopen {}", dest.display()))?;
        let tp = fd_path(&target);
        if !opts.remount_flags().is_empty() {
            remount_bind(&tp, opts.remount_flags()).ctx(|| {
                format!(
                    "cannot remount {} with {:?}",
                    dest.display(),
                    opts.remount_flags()
                )
            })?;
        }
        apply_recursive_attrs(&target, &opts)?;
        apply_propagation(&tp, &opts)?;
        return Ok(());
    }
    let target = mkdir_all_in_root(root, dest, 0o755)
        .ctx(|| format!("cannot create mount point {}", dest.display()))?;
    if check_proc {
        check_proc_target(root, &target, typ, None)?;
    }
    let tp = fd_path(&target);
    let src = m
        .source()
        .clone()
        .unwrap_or_else(|| PathBuf::from(if typ.is_empty() { "none" } else { typ }));
    let data = (!opts.data.is_empty()).then_some(opts.data.as_str());
    let old = if opts.tmpcopyup {
        Some(
            open_in_root(root, dest, libc::O_RDONLY | libc::O_DIRECTORY)
                .ctx(|| format!("open {}", dest.display()))?,
        )
    } else {
        None
    };
    let flags = opts.flags & !MsFlags::MS_REMOUNT;
    match mnt(Some(&src), &tp, Some(typ), flags, data) {
        Ok(()) => {}
        // sysfs cannot be mounted without our own network namespace in a
        // user namespace: bind the host's, read-only, as runc does.
        Err(nix::errno::Errno::EPERM) if typ == "sysfs" => {
            mnt(
                Some(Path::new("/sys")),
                &tp,
                None,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None,
            )
            .ctx(|| "cannot bind mount /sys")?;
            let t2 = open_in_root(root, dest, libc::O_PATH).ctx(|| "reopen /sys")?;
            remount_bind(&fd_path(&t2), flags | MsFlags::MS_RDONLY)
                .ctx(|| "cannot remount /sys read-only")?;
        }
        Err(e) => {
            return Err(Error::Io {
                context: format!(
                    "cannot mount {typ} ({}) with {:?} {:?}",
                    src.display(),
                    opts.flags,
                    opts.data
                ),
                source: e.into(),
            })
        }
    }
    let target =
        open_in_root(root, dest, libc::O_PATH).ctx(|| format!("reopen {}", dest.display()))?;
    let tp = fd_path(&target);
    if let Some(old) = old {
        let new = open_in_root(root, dest, libc::O_RDONLY | libc::O_DIRECTORY)
            .ctx(|| format!("reopen {}", dest.display()))?;
        copy_up(&old, &new).ctx(|| format!("tmpcopyup into {}", dest.display()))?;
    }
    apply_propagation(&tp, &opts)
}

/// `rro`, `rnosuid`…: attributes set on the mount and every mount below it
/// (mount_setattr with AT_RECURSIVE).
fn apply_recursive_attrs(target: &OwnedFd, opts: &MountOptions) -> Result<()> {
    if opts.recursive_attrs.is_empty() {
        return Ok(());
    }
    let (set, clr) = mountopts::recursive_attr_bits(&opts.recursive_attrs);
    sys::mount_setattr_recursive(target.as_raw_fd(), set, clr)
        .ctx(|| format!("cannot apply {:?} (mount_setattr)", opts.recursive_attrs))
}

fn apply_propagation(target: &Path, opts: &MountOptions) -> Result<()> {
    for p in &opts.propagation {
        mnt(None, target, None, *p, None).ctx(|| format!("cannot set propagation {p:?}"))?;
    }
    Ok(())
}

/// Copies the tree of the directory `from` into the directory `to` (for
/// `tmpcopyup`), by descriptors: each entry is reached from its parent's
/// descriptor without following a symlink, so a name swapped for one (by a
/// process sharing that directory) is copied as the link, never followed:
/// the runtime's root is still the host's here.
fn copy_up(from: &OwnedFd, to: &OwnedFd) -> std::io::Result<()> {
    use nix::fcntl::{openat, OFlag};
    use nix::sys::stat::{fchmod, fstat, fstatat, mkdirat, Mode, SFlag};
    use nix::unistd::{fchown, fchownat, Gid, Uid};
    let nofollow = nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW;
    let owner = |st: &libc::stat| {
        (
            Some(Uid::from_raw(st.st_uid)),
            Some(Gid::from_raw(st.st_gid)),
        )
    };
    let mode = |st: &libc::stat| Mode::from_bits_truncate(st.st_mode & 0o7777);
    let kind = |st: &libc::stat| SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
    // Listing through the descriptor's link names that directory, no path.
    for e in std::fs::read_dir(fd_path(from))? {
        let name = e?.file_name();
        let st = fstatat(from, name.as_os_str(), nofollow)?;
        match kind(&st) {
            SFlag::S_IFLNK => {
                let t = nix::fcntl::readlinkat(from, name.as_os_str())?;
                nix::unistd::symlinkat(t.as_os_str(), to, name.as_os_str())?;
                let (u, g) = owner(&st);
                let _ = fchownat(to, name.as_os_str(), u, g, nofollow);
            }
            SFlag::S_IFDIR => {
                mkdirat(to, name.as_os_str(), Mode::from_bits_truncate(0o700))?;
                let flags =
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
                let s = openat(from, name.as_os_str(), flags, Mode::empty())?;
                let d = openat(to, name.as_os_str(), flags, Mode::empty())?;
                copy_up(&s, &d)?;
            }
            SFlag::S_IFREG => {
                // Opened O_PATH and checked before reading: a FIFO or a
                // device node swapped in is not opened.
                let p = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
                let s = openat(from, name.as_os_str(), p, Mode::empty())?;
                let st = fstat(&s)?;
                if kind(&st) != SFlag::S_IFREG {
                    continue;
                }
                let mut src = std::fs::File::open(fd_path(&s))?;
                let w = OFlag::O_WRONLY
                    | OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC;
                let d = openat(to, name.as_os_str(), w, Mode::from_bits_truncate(0o600))?;
                let mut dst = std::fs::File::from(d);
                std::io::copy(&mut src, &mut dst)?;
                let (u, g) = owner(&st);
                let _ = fchown(&dst, u, g);
                fchmod(&dst, mode(&st))?;
            }
            _ => {}
        }
    }
    let st = fstat(from)?;
    let (u, g) = owner(&st);
    let _ = fchown(to, u, g);
    fchmod(to, mode(&st))?;
    Ok(())
}

fn mount_cgroup(ctx: &RootfsContext, root: RawFd, dest: &Path, opts: &MountOptions) -> Result<()> {
    let flags = opts.remount_flags()
        & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_RELATIME);
    let ro = opts.flags.contains(MsFlags::MS_RDONLY);
    if ctx.cgroup_v2_only {
        let target = mkdir_all_in_root(root, dest, 0o755)
            .ctx(|| format!("cannot create {}", dest.display()))?;
        let tp = fd_path(&target);
        let src = ctx.cgroup_sources.first();
        if ctx.new_cgroupns || src.is_none() {
            let f = flags
                | if ro {
                    MsFlags::MS_RDONLY
                } else {
                    MsFlags::empty()
                };
            mnt(Some(Path::new("cgroup2")), &tp, Some("cgroup2"), f, None)
                .ctx(|| "cannot mount cgroup2")?;
        } else if let Some(src) = src {
            mnt(
                Some(&src.path),
                &tp,
                None,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None,
            )
            .ctx(|| format!("cannot bind mount {}", src.path.display()))?;
            let t = open_in_root(root, dest, libc::O_PATH).ctx(|| "reopen cgroup mount")?;
            remount_bind(
                &fd_path(&t),
                flags
                    | if ro {
                        MsFlags::MS_RDONLY
                    } else {
                        MsFlags::empty()
                    },
            )
            .ctx(|| "cannot remount cgroup")?;
        }
        return apply_propagation(&tp, opts);
    }
    // v1 or hybrid: a tmpfs holding one directory per hierarchy.
    let target =
        mkdir_all_in_root(root, dest, 0o755).ctx(|| format!("cannot create {}", dest.display()))?;
    mnt(
        Some(Path::new("tmpfs")),
        &fd_path(&target),
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=755"),
    )
    .ctx(|| "cannot mount tmpfs for cgroups")?;
    for src in ctx.cgroup_sources {
        let name = if src.version == 2 {
            "unified".to_string()
        } else {
            src.controllers
                .iter()
                .map(|c| c.trim_start_matches("name="))
                .collect::<Vec<_>>()
                .join(",")
        };
        if name.is_empty() {
            continue;
        }
        let sub = dest.join(&name);
        let t = mkdir_all_in_root(root, &sub, 0o755)
            .ctx(|| format!("cannot create {}", sub.display()))?;
        let tp = fd_path(&t);
        let f = flags
            | if ro {
                MsFlags::MS_RDONLY
            } else {
                MsFlags::empty()
            };
        if ctx.new_cgroupns {
            let (fstype, data) = if src.version == 2 {
                ("cgroup2", String::new())
            } else {
                ("cgroup", src.controllers.join(","))
            };
            mnt(
                Some(Path::new("cgroup")),
                &tp,
                Some(fstype),
                f,
                (!data.is_empty()).then_some(data.as_str()),
            )
            .ctx(|| format!("cannot mount cgroup {name}"))?;
        } else {
            mnt(
                Some(&src.path),
                &tp,
                None,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None,
            )
            .ctx(|| format!("cannot bind mount {}", src.path.display()))?;
            let t2 = open_in_root(root, &sub, libc::O_PATH).ctx(|| "reopen cgroup mount")?;
            remount_bind(&fd_path(&t2), f).ctx(|| format!("cannot remount {}", sub.display()))?;
        }
        if name.contains(',') {
            let dir = open_in_root(root, dest, libc::O_PATH | libc::O_DIRECTORY)
                .ctx(|| "open cgroup tmpfs")?;
            for c in name.split(',') {
                let _ = nix::unistd::symlinkat(name.as_str(), &dir, c);
            }
        }
    }
    if ro {
        let t = open_in_root(root, dest, libc::O_PATH).ctx(|| "reopen cgroup tmpfs")?;
        mnt(
            None,
            &fd_path(&t),
            None,
            MsFlags::MS_REMOUNT
                | MsFlags::MS_RDONLY
                | MsFlags::MS_NOSUID
                | MsFlags::MS_NODEV
                | MsFlags::MS_NOEXEC,
            Some("mode=755"),
        )
        .ctx(|| "cannot remount cgroup tmpfs read-only")?;
    }
    Ok(())
}

/// The devices every container gets (as runc and docker give them).
fn default_devices() -> Vec<(&'static str, u64, u64)> {
    vec![
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ]
}

fn create_default_devices(ctx: &RootfsContext, root: RawFd) -> Result<()> {
    let listed: Vec<PathBuf> = ctx
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().clone())
        .unwrap_or_default()
        .iter()
        .map(|d| d.path().clone())
        .collect();
    for (name, major, minor) in default_devices() {
        let path = PathBuf::from("/dev").join(name);
        if listed.contains(&path) {
            continue;
        }
        make_node(ctx, root, &path, libc::S_IFCHR, major, minor, 0o666, 0, 0)
            .ctx(|| format!("cannot create device {}", path.display()))?;
    }
    Ok(())
}

fn create_device(ctx: &RootfsContext, root: RawFd, d: &LinuxDevice) -> Result<()> {
    let kind = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
        LinuxDeviceType::B => libc::S_IFBLK,
        LinuxDeviceType::P => libc::S_IFIFO,
        LinuxDeviceType::A => return Err(Error::msg("type \"a\" is not a device node type")),
    };
    let mode = d.file_mode().unwrap_or(0o666);
    make_node(
        ctx,
        root,
        d.path(),
        kind,
        d.major() as u64,
        d.minor() as u64,
        mode,
        d.uid().unwrap_or(0),
        d.gid().unwrap_or(0),
    )
    .ctx(|| "cannot create device node")
}

#[allow(clippy::too_many_arguments)]
fn make_node(
    ctx: &RootfsContext,
    root: RawFd,
    path: &Path,
    kind: u32,
    major: u64,
    minor: u64,
    mode: u32,
    uid: u32,
    gid: u32,
) -> std::io::Result<()> {
    let r = rel(path);
    let parent = r.parent().unwrap_or(Path::new(""));
    let name = Path::new(
        r.file_name()
            .ok_or_else(|| std::io::Error::from_raw_os_error(libc::EINVAL))?,
    );
    let dir = mkdir_all_in_root(root, parent, 0o755)?;
    if ctx.userns {
        // mknod is not allowed in a user namespace: bind the host's node.
        let t = create_file_in_root(root, path)?;
        let host = Path::new("/dev").join(path.strip_prefix("/dev").unwrap_or(path));
        return mnt(Some(&host), &fd_path(&t), None, MsFlags::MS_BIND, None).map_err(Into::into);
    }
    // Replace whatever was there (e.g. a file from the image).
    let _ = nix::unistd::unlinkat(&dir, name, nix::unistd::UnlinkatFlags::NoRemoveDir);
    let dev = nix::sys::stat::makedev(major, minor);
    let dirfd = open_in_root(root, parent, libc::O_PATH | libc::O_DIRECTORY)?;
    sys::mknodat(dirfd.as_raw_fd(), name, kind | (mode & 0o7777), dev)?;
    let f = open_in_root(root, path, libc::O_PATH)?;
    let fp = fd_path(&f);
    std::os::unix::fs::chown(&fp, Some(uid), Some(gid))?;
    // mknod is subject to the umask; set the exact mode.
    std::fs::set_permissions(&fp, std::fs::Permissions::from_mode(mode & 0o7777))?;
    Ok(())
}

fn setup_dev_symlinks(root: RawFd) -> Result<()> {
    let dev = open_in_root(root, Path::new("/dev"), libc::O_PATH | libc::O_DIRECTORY)
        .ctx(|| "open /dev")?;
    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    for (target, name) in links {
        match nix::unistd::symlinkat(target, &dev, name) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(e).ctx(|| format!("cannot create /dev/{name}")),
        }
    }
    // /dev/ptmx must be the container's devpts instance.
    if open_in_root(root, Path::new("/dev/pts/ptmx"), libc::O_PATH).is_ok() {
        let _ = nix::unistd::unlinkat(&dev, "ptmx", nix::unistd::UnlinkatFlags::NoRemoveDir);
        nix::unistd::symlinkat("pts/ptmx", &dev, "ptmx").ctx(|| "cannot create /dev/ptmx")?;
    }
    for d in ["shm", "mqueue"] {
        let _ = nix::sys::stat::mkdirat(&dev, d, nix::sys::stat::Mode::from_bits_truncate(0o755));
    }
    Ok(())
}

/// Step 3: make the rootfs `/`. With `no_pivot`, move it over / and chroot
/// (for ramfs roots where pivot_root is impossible).
pub fn pivot(rootfs: &Path, no_pivot: bool) -> Result<()> {
    nix::unistd::chdir(rootfs).ctx(|| format!("chdir {}", rootfs.display()))?;
    if no_pivot {
        mnt(Some(rootfs), Path::new("/"), None, MsFlags::MS_MOVE, None)
            .ctx(|| "cannot move the rootfs to /")?;
        nix::unistd::chroot(".").ctx(|| "chroot")?;
    } else {
        // pivot_root(".", ".") stacks the old root under the new one; detach it.
        nix::unistd::pivot_root(".", ".").ctx(|| format!("pivot_root {}", rootfs.display()))?;
        mnt(
            None,
            Path::new("."),
            None,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None,
        )
        .ctx(|| "make old root a slave")?;
        umount2(".", MntFlags::MNT_DETACH).ctx(|| "cannot detach the old root")?;
    }
    nix::unistd::chdir("/").ctx(|| "chdir /")?;
    Ok(())
}

/// Step 4, inside the new root: sysctls, masked and read-only paths,
/// rootfs propagation, read-only root.
pub fn finish(spec: &Spec) -> Result<()> {
    let linux = spec.linux().clone().unwrap_or_default();
    for (k, v) in linux.sysctl().iter().flatten() {
        write_proc(&format!("sys/{}", k.replace('.', "/")), v)
            .ctx(|| format!("linux.sysctl: cannot set {k}={v}"))?;
    }
    for p in linux.masked_paths().iter().flatten() {
        mask_path(Path::new(p)).map_err(|e| Error::msg(format!("linux.maskedPaths: {p}: {e}")))?;
    }
    for p in linux.readonly_paths().iter().flatten() {
        readonly_path(Path::new(p))
            .map_err(|e| Error::msg(format!("linux.readonlyPaths: {p}: {e}")))?;
    }
    if let Some(p) = linux
        .rootfs_propagation()
        .as_deref()
        .and_then(mountopts::propagation)
    {
        mnt(None, Path::new("/"), None, p, None)
            .ctx(|| "linux.rootfsPropagation: cannot set it on /")?;
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        remount_bind(Path::new("/"), MsFlags::MS_RDONLY)
            .ctx(|| "root.readonly: cannot remount / read-only")?;
    }
    Ok(())
}

/// Opens `p` inside the (new) root, or `None` if it does not exist: masked
/// and read-only paths that are missing are skipped, as runc does.
fn open_existing(p: &Path) -> Result<Option<(OwnedFd, OwnedFd)>> {
    let root = sys::openat2(
        libc::AT_FDCWD,
        Path::new("/"),
        libc::O_PATH | libc::O_DIRECTORY,
        0,
        0,
    )
    .ctx(|| "open /")?;
    match open_in_root(root.as_raw_fd(), p, libc::O_PATH) {
        Ok(fd) => Ok(Some((root, fd))),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e).ctx(|| "open"),
    }
}

/// Writes `value` to `/proc/<rel>` of the procfs mounted at the container's
/// /proc, never through anything mounted over or linked from it: a mount
/// raced onto a /proc file (CVE-2025-52881) would redirect the write, e.g.
/// to /proc/sysrq-trigger or a host file, or drop an LSM label. `rel` names
/// no link (`self`, `thread-self`): see [`proc_self`].
pub(crate) fn write_proc(rel: &str, value: &str) -> std::io::Result<()> {
    const PROC_SUPER_MAGIC: i64 = 0x9fa0;
    let proc = sys::openat2(
        libc::AT_FDCWD,
        Path::new("/proc"),
        libc::O_PATH | libc::O_DIRECTORY,
        0,
        sys::RESOLVE_NO_SYMLINKS,
    )?;
    let f = sys::openat2(
        proc.as_raw_fd(),
        Path::new(rel),
        libc::O_WRONLY | libc::O_NOFOLLOW,
        0,
        sys::RESOLVE_NO_XDEV | sys::RESOLVE_NO_MAGICLINKS | sys::RESOLVE_NO_SYMLINKS,
    )
    .map_err(|e| match e.raw_os_error() {
        Some(libc::EXDEV) | Some(libc::ELOOP) => std::io::Error::other(format!(
            "/proc/{rel} is not procfs's own file (a mount or a link is in its path)"
        )),
        _ => e,
    })?;
    if nix::sys::statfs::fstatfs(&f)?.filesystem_type().0 as i64 != PROC_SUPER_MAGIC {
        return Err(std::io::Error::other(format!(
            "/proc/{rel} is not on procfs"
        )));
    }
    std::io::Write::write_all(&mut std::fs::File::from(f), value.as_bytes())
}

/// `PID/task/TID`, this thread's directory under /proc without the
/// `thread-self` link that [`write_proc`] does not follow.
pub(crate) fn proc_self() -> String {
    format!("{}/task/{}", nix::unistd::getpid(), nix::unistd::gettid())
}

/// The container's /dev/null, which masks files: it must be the null
/// device itself, not a link to or a bind of anything else (CVE-2025-31133:
/// a /dev/null replaced by a symlink unmasked, e.g., core_pattern).
fn null_device(root: &OwnedFd) -> std::io::Result<OwnedFd> {
    let fd = open_in_root(
        root.as_raw_fd(),
        Path::new("/dev/null"),
        libc::O_PATH | libc::O_NOFOLLOW,
    )?;
    let st = nix::sys::stat::fstat(&fd)?;
    let is_char = st.st_mode & libc::S_IFMT == libc::S_IFCHR;
    if !is_char || st.st_rdev != libc::makedev(1, 3) {
        return Err(std::io::Error::other(
            "/dev/null in the container is not the null device (char 1:3)",
        ));
    }
    Ok(fd)
}

fn mask_path(p: &Path) -> Result<()> {
    let Some((root, fd)) = open_existing(p)? else {
        return Ok(());
    };
    let tp = fd_path(&fd);
    let md = std::fs::metadata(&tp).ctx(|| "stat")?;
    if md.is_dir() {
        mnt(
            Some(Path::new("tmpfs")),
            &tp,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            Some("size=0k"),
        )
        .ctx(|| "mount tmpfs")
    } else {
        let null = null_device(&root).ctx(|| "open /dev/null")?;
        mnt(Some(&fd_path(&null)), &tp, None, MsFlags::MS_BIND, None).ctx(|| "bind /dev/null")
    }
}

fn readonly_path(p: &Path) -> Result<()> {
    let Some((root, fd)) = open_existing(p)? else {
        return Ok(());
    };
    let tp = fd_path(&fd);
    mnt(
        Some(&tp),
        &tp,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )
    .ctx(|| "bind")?;
    let fd = open_in_root(root.as_raw_fd(), p, libc::O_PATH).ctx(|| "reopen")?;
    let tp = fd_path(&fd);
    let keep = locked_flags(&tp) & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
    remount_bind(&tp, MsFlags::MS_RDONLY | keep).ctx(|| "remount read-only")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rel_strips_root() {
        assert_eq!(rel(Path::new("/a/./b")), PathBuf::from("a/b"));
        assert_eq!(rel(Path::new("/")), PathBuf::from(""));
        assert_eq!(rel(Path::new("/a/../b")), PathBuf::from("a/../b"));
    }

    #[test]
    fn mkdir_all_stays_inside_root() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        let outside = d.path().join("outside");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        // A hostile absolute symlink and a `..` escape.
        std::os::unix::fs::symlink(&outside, root.join("evil")).unwrap();
        std::os::unix::fs::symlink("../../../..", root.join("up")).unwrap();
        let rfd = sys::openat2(
            libc::AT_FDCWD,
            &root,
            libc::O_PATH | libc::O_DIRECTORY,
            0,
            0,
        )
        .unwrap();
        mkdir_all_in_root(rfd.as_raw_fd(), Path::new("/evil/x/y"), 0o755).unwrap();
        mkdir_all_in_root(rfd.as_raw_fd(), Path::new("/up/z"), 0o755).unwrap();
        mkdir_all_in_root(rfd.as_raw_fd(), Path::new("/../../w"), 0o755).unwrap();
        create_file_in_root(rfd.as_raw_fd(), Path::new("/evil/f")).unwrap();
        assert_eq!(
            std::fs::read_dir(&outside).unwrap().count(),
            0,
            "nothing may be created outside the root"
        );
        // The symlink resolved inside the root: /evil -> <outside path> inside root.
        assert!(root
            .join(outside.strip_prefix("/").unwrap())
            .join("x/y")
            .is_dir());
        assert!(root.join("z").is_dir());
        assert!(root.join("w").is_dir());
        assert!(!d.path().join("w").exists());
    }

    fn dir_fd(p: &Path) -> OwnedFd {
        sys::openat2(
            libc::AT_FDCWD,
            p,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            0,
            0,
        )
        .unwrap()
    }

    /// tmpcopyup copies links as links and, while a racer swaps a file of
    /// the source for a symlink to a host file, never copies the host
    /// file's content (the runtime's root is still the host's then).
    #[test]
    fn tmpcopyup_does_not_follow_swapped_links() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let d = tempfile::tempdir().unwrap();
        let (from, secret) = (d.path().join("from"), d.path().join("secret"));
        std::fs::create_dir_all(from.join("sub")).unwrap();
        std::fs::write(from.join("sub/f"), "image").unwrap();
        std::fs::set_permissions(from.join("sub"), PermissionsExt::from_mode(0o750)).unwrap();
        std::os::unix::fs::symlink(&secret, from.join("link")).unwrap();
        std::fs::write(&secret, "host secret").unwrap();
        let to = d.path().join("to0");
        std::fs::create_dir(&to).unwrap();
        copy_up(&dir_fd(&from), &dir_fd(&to)).unwrap();
        assert_eq!(std::fs::read_to_string(to.join("sub/f")).unwrap(), "image");
        assert_eq!(std::fs::read_link(to.join("link")).unwrap(), secret);
        use std::os::unix::fs::MetadataExt;
        assert_eq!(
            std::fs::metadata(to.join("sub")).unwrap().mode() & 0o7777,
            0o750
        );

        let stop = Arc::new(AtomicBool::new(false));
        let racer = {
            let (stop, from, secret) = (stop.clone(), from.clone(), secret.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let _ = std::fs::write(from.join("f.new"), "image");
                    let _ = std::fs::rename(from.join("f.new"), from.join("f"));
                    let _ = std::os::unix::fs::symlink(&secret, from.join("f.lnk"));
                    let _ = std::fs::rename(from.join("f.lnk"), from.join("f"));
                }
            })
        };
        for i in 1..1500 {
            let to = d.path().join(format!("to{i}"));
            std::fs::create_dir(&to).unwrap();
            let _ = copy_up(&dir_fd(&from), &dir_fd(&to));
            if let Ok(m) = std::fs::symlink_metadata(to.join("f")) {
                if m.is_file() {
                    let c = std::fs::read_to_string(to.join("f")).unwrap();
                    assert_ne!(c, "host secret", "a swapped link was followed");
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        racer.join().unwrap();
    }
}

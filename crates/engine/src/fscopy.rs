//! Copying file trees safely between host directories, container root
//! filesystems and tar streams (volume copy-up, `cp`).
//!
//! Every path inside a container is resolved with `openat2(RESOLVE_IN_ROOT)`
//! against a descriptor of its root, so a symlink in the container (even
//! `/etc` → `/etc`) can never lead outside it; everything below a resolved
//! directory is reached with `*at` calls on names (`O_NOFOLLOW`). Written
//! entries are confined the same way to the destination directory.

use rustix::fs::{
    self as rfs, AtFlags, Dir, FileType, Mode, OFlags, ResolveFlags, Stat, Timestamps,
};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

fn ioe(e: rustix::io::Errno) -> io::Error {
    io::Error::from(e)
}

/// A relative form of `path` for `*at` calls ("." for the root itself).
fn rel(path: &str) -> String {
    let t = path.trim_start_matches('/');
    if t.is_empty() {
        ".".into()
    } else {
        t.to_string()
    }
}

/// Opens a directory to use as a root (`O_PATH`).
pub fn open_dir(p: &Path) -> io::Result<OwnedFd> {
    rfs::open(
        p,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(ioe)
}

/// `openat2(root, path, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`.
pub fn open_in_root(root: BorrowedFd, path: &str, flags: OFlags) -> io::Result<OwnedFd> {
    loop {
        match rfs::openat2(
            root,
            rel(path),
            flags | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        ) {
            Err(rustix::io::Errno::AGAIN) | Err(rustix::io::Errno::INTR) => continue,
            // No openat2 (kernels before 5.6, sandboxes that refuse it).
            Err(rustix::io::Errno::NOSYS) => return walk_in_root(root, path, flags),
            r => return r.map_err(ioe),
        }
    }
}

/// [`open_in_root`]'s resolution without openat2: a walk from `root` one
/// component at a time, each opened `O_PATH|O_NOFOLLOW` from its parent's
/// descriptor; a symlink's target is spliced into the rest (an absolute
/// one starting from `root` again), `..` never climbs above `root`, a
/// magic link is only its text, and the result is reopened through its
/// descriptor's link (the inode found, not a path).
pub fn walk_in_root(root: BorrowedFd, path: &str, flags: OFlags) -> io::Result<OwnedFd> {
    use std::collections::VecDeque;
    let errno = |e: rustix::io::Errno| Err(ioe(e));
    let step = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut todo: VecDeque<Vec<u8>> = path
        .as_bytes()
        .split(|b| *b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(<[u8]>::to_vec)
        .collect();
    // The directories below `root` walked so far.
    let mut stack: Vec<OwnedFd> = Vec::new();
    let mut links = 0;
    let mut found: Option<(OwnedFd, FileType)> = None;
    while let Some(c) = todo.pop_front() {
        if c == b".." {
            stack.pop();
            continue;
        }
        let cur = stack.last().map_or(root, |f| f.as_fd());
        let fd = rfs::openat(cur, OsStr::from_bytes(&c), step, Mode::empty()).map_err(ioe)?;
        let kind = FileType::from_raw_mode(rfs::fstat(&fd).map_err(ioe)?.st_mode);
        let last = todo.is_empty();
        if kind == FileType::Symlink && !(last && flags.contains(OFlags::NOFOLLOW)) {
            links += 1;
            if links > 40 {
                return errno(rustix::io::Errno::LOOP);
            }
            let t = rfs::readlinkat(&fd, "", Vec::new()).map_err(ioe)?;
            let t = t.as_bytes();
            if t.first() == Some(&b'/') {
                stack.clear();
            }
            for x in t.split(|b| *b == b'/').rev() {
                if !x.is_empty() && x != b"." {
                    todo.push_front(x.to_vec());
                }
            }
            continue;
        }
        if last {
            found = Some((fd, kind));
        } else if kind != FileType::Directory {
            return errno(rustix::io::Errno::NOTDIR);
        } else {
            stack.push(fd);
        }
    }
    let (fd, kind) = match (found, stack.pop()) {
        (Some(f), _) => f,
        (None, Some(d)) => (d, FileType::Directory),
        (None, None) => (
            rfs::openat(root, ".", step, Mode::empty()).map_err(ioe)?,
            FileType::Directory,
        ),
    };
    if flags.contains(OFlags::DIRECTORY) && kind != FileType::Directory {
        return errno(rustix::io::Errno::NOTDIR);
    }
    if flags.contains(OFlags::PATH) {
        return Ok(fd);
    }
    if kind == FileType::Symlink {
        return errno(rustix::io::Errno::LOOP);
    }
    rfs::open(
        fd_path(fd.as_fd()),
        (flags - OFlags::NOFOLLOW) | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(ioe)
}

/// Splits a cleaned relative path into (parent, name); name is never
/// empty, `.` or `..`.
fn split(path: &str) -> io::Result<(String, String)> {
    let p = path.trim_matches('/');
    let (parent, name) = match p.rfind('/') {
        Some(i) => (&p[..i], &p[i + 1..]),
        None => ("", p),
    };
    if name.is_empty() || name == "." || name == ".." {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid path {path:?}"),
        ));
    }
    Ok((parent.to_string(), name.to_string()))
}

/// Lexically cleans a path from an archive: no leading `/`, no `.`/`..`
/// (`..` cannot climb above the top).
pub fn clean_rel(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Symlink(PathBuf),
    /// A hard link to an earlier entry (its relative path).
    Hardlink(String),
    Fifo,
    Char(u64),
    Block(u64),
}

/// Ownership, permissions, times and extended attributes of an entry.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

fn meta_of(st: &Stat) -> Meta {
    Meta {
        mode: st.st_mode & 0o7777,
        uid: st.st_uid,
        gid: st.st_gid,
        mtime: st.st_mtime,
        xattrs: Vec::new(),
    }
}

fn kind_of(st: &Stat) -> Option<Kind> {
    Some(match FileType::from_raw_mode(st.st_mode) {
        FileType::Directory => Kind::Dir,
        FileType::RegularFile => Kind::File,
        FileType::Fifo => Kind::Fifo,
        FileType::CharacterDevice => Kind::Char(st.st_rdev),
        FileType::BlockDevice => Kind::Block(st.st_rdev),
        FileType::Symlink => Kind::Symlink(PathBuf::new()),
        _ => return None,
    })
}

/// The extended attributes of an open file or directory.
fn xattrs(fd: BorrowedFd) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    let mut names = vec![0u8; 4096];
    let Ok(n) = rfs::flistxattr(fd, &mut names[..]) else {
        return out;
    };
    for name in names[..n].split(|b| *b == 0).filter(|s| !s.is_empty()) {
        let mut val = vec![0u8; 65536];
        let Ok(name_s) = std::str::from_utf8(name) else {
            continue;
        };
        if let Ok(len) = rfs::fgetxattr(fd, name_s, &mut val[..]) {
            val.truncate(len);
            out.push((name.to_vec(), val));
        }
    }
    out
}

/// Called for each entry: relative name, kind, metadata, the open file.
pub type Visit<'a> = dyn FnMut(&str, &Kind, &Meta, Option<&mut File>) -> io::Result<()> + 'a;

/// Reads a tree. `visit` gets each entry's relative name (under `prefix`),
/// kind, metadata and, for regular files, the open file.
pub struct Walker<'a> {
    pub visit: &'a mut Visit<'a>,
    pub with_xattrs: bool,
    links: HashMap<(u64, u64), String>,
}

impl<'a> Walker<'a> {
    pub fn new(visit: &'a mut Visit<'a>, with_xattrs: bool) -> Walker<'a> {
        Walker {
            visit,
            with_xattrs,
            links: HashMap::new(),
        }
    }

    fn join(prefix: &str, name: &str) -> String {
        if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}/{name}")
        }
    }

    /// The children of the open directory `dir`, named under `prefix`.
    pub fn children(&mut self, dir: BorrowedFd, prefix: &str) -> io::Result<()> {
        let mut d = Dir::read_from(dir).map_err(ioe)?;
        let mut names: Vec<Vec<u8>> = Vec::new();
        while let Some(e) = d.read() {
            let e = e.map_err(ioe)?;
            let n = e.file_name().to_bytes();
            if n != b"." && n != b".." {
                names.push(n.to_vec());
            }
        }
        names.sort();
        for n in names {
            let name = OsStr::from_bytes(&n);
            self.entry(dir, name, &Self::join(prefix, &name.to_string_lossy()))?;
        }
        Ok(())
    }

    /// The entry `name` of `dir` (not following a symlink), as `path`.
    pub fn entry(&mut self, dir: BorrowedFd, name: &OsStr, path: &str) -> io::Result<()> {
        let st = rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).map_err(ioe)?;
        let Some(mut kind) = kind_of(&st) else {
            return Ok(()); // sockets
        };
        let mut meta = meta_of(&st);
        match &mut kind {
            Kind::Dir => {
                let fd = rfs::openat(
                    dir,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(ioe)?;
                if self.with_xattrs {
                    meta.xattrs = xattrs(fd.as_fd());
                }
                (self.visit)(path, &kind, &meta, None)?;
                return self.children(fd.as_fd(), path);
            }
            Kind::File => {
                if st.st_nlink > 1 {
                    let key = (st.st_dev, st.st_ino);
                    if let Some(first) = self.links.get(&key) {
                        let k = Kind::Hardlink(first.clone());
                        return (self.visit)(path, &k, &meta, None);
                    }
                    self.links.insert(key, path.to_string());
                }
                let fd = rfs::openat(
                    dir,
                    name,
                    OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(ioe)?;
                let (mut f, st) = open_regular(&fd)?;
                meta = meta_of(&st);
                if self.with_xattrs {
                    meta.xattrs = xattrs(f.as_fd());
                }
                return (self.visit)(path, &kind, &meta, Some(&mut f));
            }
            Kind::Symlink(t) => {
                let target = rfs::readlinkat(dir, name, Vec::new()).map_err(ioe)?;
                *t = PathBuf::from(OsStr::from_bytes(target.as_bytes()));
            }
            _ => {}
        }
        (self.visit)(path, &kind, &meta, None)
    }
}

/// Writes entries below a destination directory of a root: every path is
/// resolved inside the root (so a symlink in the destination, even one
/// swapped in by a running container, never leads out of it), and every
/// change after an entry is created goes through a descriptor of that very
/// entry (`fchmod`/`fchown`/`futimens` on an `O_NOFOLLOW` open, or the `*at`
/// calls that do not follow a symlink) — never through its name again.
pub struct Extractor {
    root: OwnedFd,
    /// The destination directory below `root` (cleaned, relative).
    base: String,
    /// Keep the entries' owners (else the caller's uid/gid).
    pub preserve_owner: bool,
    /// Give every entry this owner instead (with `preserve_owner`).
    pub owner: Option<(u32, u32)>,
    /// Refuse to replace an existing non-directory with a directory
    /// (docker's `noOverwriteDirNonDir`; a directory is never replaced by a
    /// non-directory).
    pub no_overwrite_non_dir: bool,
    dirs: Vec<(String, i64)>,
}

/// The entry that [`Extractor::apply`] sets the metadata of.
#[derive(Clone, Copy)]
enum Made<'a> {
    /// A file or directory, open (not through a symlink).
    Open(BorrowedFd<'a>),
    /// Anything else: `name` in `dir`.
    At(BorrowedFd<'a>, &'a str),
}

fn ts(secs: i64) -> Timestamps {
    let t = rustix::fs::Timespec {
        tv_sec: secs,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

impl Extractor {
    /// Writes into the directory `root` itself.
    pub fn new(root: OwnedFd, preserve_owner: bool) -> Extractor {
        Extractor::in_root(root, "", preserve_owner)
    }

    /// Writes into the directory `base` below `root`; symlinks met on the
    /// way (in `base` or in the entries' parents) resolve inside `root`,
    /// as they do in the container whose root it is.
    pub fn in_root(root: OwnedFd, base: &str, preserve_owner: bool) -> Extractor {
        Extractor {
            root,
            base: clean_rel(base),
            preserve_owner,
            owner: None,
            no_overwrite_non_dir: false,
            dirs: Vec::new(),
        }
    }

    /// `rel` below the base, as a path below the root.
    fn under_base(&self, rel_path: &str) -> String {
        Walker::join(&self.base, &clean_rel(rel_path))
    }

    /// The directory `rel` below the base, created (0755) as needed.
    fn dir(&self, rel_path: &str) -> io::Result<OwnedFd> {
        let flags = OFlags::PATH | OFlags::DIRECTORY;
        let full = self.under_base(rel_path);
        match open_in_root(self.root.as_fd(), &full, flags) {
            Ok(fd) => return Ok(fd),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut cur = open_in_root(self.root.as_fd(), &self.base, flags)?;
        let mut sofar = self.base.clone();
        for c in rel_path.split('/').filter(|c| !c.is_empty() && *c != ".") {
            sofar = Walker::join(&sofar, c);
            match rfs::mkdirat(&cur, c, Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(ioe(e)),
            }
            cur = open_in_root(self.root.as_fd(), &sofar, flags)?;
        }
        Ok(cur)
    }

    /// Creates (or replaces) one entry. `data` is the content of a file.
    pub fn add(
        &mut self,
        path: &str,
        kind: &Kind,
        meta: &Meta,
        data: Option<&mut dyn Read>,
    ) -> io::Result<()> {
        let path = clean_rel(path);
        if path.is_empty() {
            // The destination directory itself.
            if *kind == Kind::Dir {
                let fd = open_in_root(
                    self.root.as_fd(),
                    &self.base,
                    OFlags::RDONLY | OFlags::DIRECTORY,
                )?;
                self.apply(Made::Open(fd.as_fd()), kind, meta)?;
            }
            return Ok(());
        }
        let (parent, name) = split(&path)?;
        let dir = self.dir(&parent)?;
        let existing = rfs::statat(&dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW).ok();
        let is_dir = existing
            .as_ref()
            .is_some_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory);
        if existing.is_some() && !(is_dir && *kind == Kind::Dir) {
            if is_dir {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("cannot overwrite directory {path:?} with non-directory"),
                ));
            }
            if *kind == Kind::Dir && self.no_overwrite_non_dir {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("cannot overwrite non-directory {path:?} with directory"),
                ));
            }
            rfs::unlinkat(&dir, name.as_str(), AtFlags::empty()).map_err(ioe)?;
        }
        let n = name.as_str();
        match kind {
            Kind::Dir => {
                if !is_dir {
                    rfs::mkdirat(&dir, n, Mode::from_raw_mode(0o700)).map_err(ioe)?;
                }
                // What is there now, never through a symlink (a container
                // may have swapped one in since).
                let fd = rfs::openat(
                    &dir,
                    n,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(ioe)?;
                self.dirs.push((path.clone(), meta.mtime));
                return self.apply(Made::Open(fd.as_fd()), kind, meta);
            }
            Kind::File => {
                let fd = rfs::openat(
                    &dir,
                    n,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(ioe)?;
                let mut f = File::from(fd);
                if let Some(r) = data {
                    io::copy(r, &mut f)?;
                }
                f.flush()?;
                return self.apply(Made::Open(f.as_fd()), kind, meta);
            }
            Kind::Symlink(t) => {
                rfs::symlinkat(t.as_path(), &dir, n).map_err(ioe)?;
            }
            Kind::Hardlink(target) => {
                let t = clean_rel(target);
                let (tp, tn) = split(&t)?;
                let tdir = open_in_root(
                    self.root.as_fd(),
                    &self.under_base(&tp),
                    OFlags::PATH | OFlags::DIRECTORY,
                )?;
                // Without AT_SYMLINK_FOLLOW: a symlink is linked, not followed.
                rfs::linkat(&tdir, tn.as_str(), &dir, n, AtFlags::empty()).map_err(ioe)?;
                return Ok(());
            }
            Kind::Fifo => {
                rfs::mknodat(&dir, n, FileType::Fifo, Mode::from_raw_mode(0o600), 0).map_err(ioe)?
            }
            Kind::Char(dev) => rfs::mknodat(
                &dir,
                n,
                FileType::CharacterDevice,
                Mode::from_raw_mode(0o600),
                *dev,
            )
            .map_err(ioe)?,
            Kind::Block(dev) => rfs::mknodat(
                &dir,
                n,
                FileType::BlockDevice,
                Mode::from_raw_mode(0o600),
                *dev,
            )
            .map_err(ioe)?,
        }
        self.apply(Made::At(dir.as_fd(), n), kind, meta)
    }

    /// Owner, mode, xattrs and (but for directories, set at [`finish`])
    /// times of a new entry.
    ///
    /// [`finish`]: Extractor::finish
    fn apply(&self, made: Made, kind: &Kind, meta: &Meta) -> io::Result<()> {
        let nofollow = AtFlags::SYMLINK_NOFOLLOW;
        if self.preserve_owner {
            let (u, g) = self.owner.unwrap_or((meta.uid, meta.gid));
            let uid = Some(rfs::Uid::from_raw(u));
            let gid = Some(rfs::Gid::from_raw(g));
            match made {
                Made::Open(fd) => rfs::fchown(fd, uid, gid),
                Made::At(dir, name) => rfs::chownat(dir, name, uid, gid, nofollow),
            }
            .map_err(ioe)?;
        }
        let mode = Mode::from_raw_mode(meta.mode);
        match (made, kind) {
            (Made::At(dir, name), Kind::Symlink(_)) => {
                let _ = rfs::utimensat(dir, name, &ts(meta.mtime), nofollow);
                return Ok(());
            }
            // After chown, which clears set-id bits.
            (Made::Open(fd), _) => rfs::fchmod(fd, mode).map_err(ioe)?,
            (Made::At(dir, name), _) => chmod_nofollow(dir, name, mode)?,
        }
        if let (Made::Open(fd), false) = (made, meta.xattrs.is_empty()) {
            for (k, v) in &meta.xattrs {
                if let Ok(k) = std::str::from_utf8(k) {
                    // Best effort: security.* may be refused.
                    let _ = rfs::fsetxattr(fd, k, v, rfs::XattrFlags::empty());
                }
            }
        }
        if *kind != Kind::Dir {
            let _ = match made {
                Made::Open(fd) => rfs::futimens(fd, &ts(meta.mtime)),
                Made::At(dir, name) => rfs::utimensat(dir, name, &ts(meta.mtime), nofollow),
            };
        }
        Ok(())
    }

    /// Sets directory times last (adding entries changes them).
    pub fn finish(self) -> io::Result<()> {
        for (p, mtime) in self.dirs.iter().rev() {
            let full = self.under_base(p);
            if let Ok(fd) = open_in_root(self.root.as_fd(), &full, OFlags::PATH | OFlags::DIRECTORY)
            {
                let _ = rfs::utimensat(&fd, ".", &ts(*mtime), AtFlags::empty());
            }
        }
        Ok(())
    }
}

/// `chmod` of `name` in `dir` that never follows a symlink (the kernel's
/// fchmodat has no AT_SYMLINK_NOFOLLOW before fchmodat2): the entry is
/// opened `O_PATH|O_NOFOLLOW`, checked not to be a symlink, and changed
/// through its descriptor's `/proc/self/fd` link, which names that inode and
/// no path. A symlink is left alone (its mode means nothing).
pub fn chmod_nofollow(dir: BorrowedFd, name: &str, mode: Mode) -> io::Result<()> {
    let fd = rfs::openat(
        dir,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(ioe)?;
    let st = rfs::fstat(&fd).map_err(ioe)?;
    if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
        return Ok(());
    }
    rfs::chmod(fd_path(fd.as_fd()), mode).map_err(ioe)
}

/// The `/proc/self/fd` link of a descriptor.
fn fd_path(fd: BorrowedFd) -> String {
    format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd))
}

/// Opens for reading the regular file that the `O_PATH` descriptor `fd`
/// names (through its `/proc/self/fd` link: the same inode, no path lookup),
/// after checking that it is one: a name swapped for a FIFO or a device
/// node between a stat and the open is neither opened nor waited on.
pub fn open_regular(fd: &OwnedFd) -> io::Result<(File, Stat)> {
    let st = rfs::fstat(fd).map_err(ioe)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a regular file (changed while copying)",
        ));
    }
    let f = rfs::open(
        fd_path(fd.as_fd()),
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(ioe)?;
    Ok((File::from(f), st))
}
/// Whether the directory `fd` has no entries.
pub fn dir_is_empty(fd: BorrowedFd) -> io::Result<bool> {
    let mut d = Dir::read_from(fd).map_err(ioe)?;
    while let Some(e) = d.read() {
        let e = e.map_err(ioe)?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Docker's volume copy-up: if `dest` (a path in the container whose root
/// is `rootfs`, symlinks followed inside it) is a directory and the volume
/// directory `data` is empty, copy its content (owners, modes, symlinks,
/// xattrs, hard links) into `data`, and give `data` the source's owner and
/// mode.
pub fn copy_up(rootfs: &Path, dest: &str, data: &Path) -> io::Result<()> {
    let root = open_dir(rootfs)?;
    let src = match open_in_root(root.as_fd(), dest, OFlags::RDONLY | OFlags::DIRECTORY) {
        Ok(fd) => fd,
        Err(e)
            if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR) =>
        {
            return Ok(())
        }
        Err(e) => return Err(e),
    };
    let dst = rfs::open(
        data,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(ioe)?;
    if !dir_is_empty(dst.as_fd())? {
        return Ok(());
    }
    let st = rfs::fstat(&src).map_err(ioe)?;
    let mut ex = Extractor::new(dst, true);
    let mut err: Option<io::Error> = None;
    {
        let mut visit = |p: &str, k: &Kind, m: &Meta, f: Option<&mut File>| -> io::Result<()> {
            let r = ex.add(p, k, m, f.map(|f| f as &mut dyn Read));
            if let Err(e) = r {
                err.get_or_insert(io::Error::new(e.kind(), format!("{p}: {e}")));
            }
            Ok(())
        };
        let mut w = Walker::new(&mut visit, true);
        w.children(src.as_fd(), "")?;
    }
    if let Some(e) = err {
        return Err(e);
    }
    let mut meta = meta_of(&st);
    meta.xattrs = xattrs(src.as_fd());
    ex.add("", &Kind::Dir, &meta, None)?;
    ex.finish()
}

// ---- tar ----------------------------------------------------------------

/// A file's content that must be as long as its stat said (the size in its
/// tar header): a file that shrank while it was read (or whose stat lies,
/// as sysfs's) is an error, never a corrupt archive.
struct Exact<R> {
    r: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.r.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the file is {} bytes shorter than its size (changed while copying)",
                    self.left
                ),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Writes walked entries as a tar stream.
pub struct TarSink<W: Write> {
    pub builder: tar::Builder<W>,
}

impl<W: Write> TarSink<W> {
    pub fn new(w: W) -> TarSink<W> {
        let mut builder = tar::Builder::new(w);
        builder.follow_symlinks(false);
        TarSink { builder }
    }

    pub fn add(
        &mut self,
        path: &str,
        kind: &Kind,
        meta: &Meta,
        data: Option<&mut File>,
    ) -> io::Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_mode(meta.mode);
        h.set_uid(meta.uid as u64);
        h.set_gid(meta.gid as u64);
        h.set_mtime(meta.mtime.max(0) as u64);
        h.set_size(0);
        let b = &mut self.builder;
        match kind {
            Kind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                b.append_data(&mut h, format!("{path}/"), io::empty())
            }
            Kind::File => {
                let f = data.ok_or_else(|| io::Error::other("no data"))?;
                let len = f.metadata()?.len();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(len);
                b.append_data(
                    &mut h,
                    path,
                    Exact {
                        r: f.take(len),
                        left: len,
                    },
                )
            }
            Kind::Symlink(t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                b.append_link(&mut h, path, t)
            }
            Kind::Hardlink(t) => {
                h.set_entry_type(tar::EntryType::Link);
                b.append_link(&mut h, path, t)
            }
            Kind::Fifo => {
                h.set_entry_type(tar::EntryType::Fifo);
                b.append_data(&mut h, path, io::empty())
            }
            Kind::Char(d) | Kind::Block(d) => {
                h.set_entry_type(if matches!(kind, Kind::Char(_)) {
                    tar::EntryType::Char
                } else {
                    tar::EntryType::Block
                });
                h.set_device_major(rustix::fs::major(*d))?;
                h.set_device_minor(rustix::fs::minor(*d))?;
                b.append_data(&mut h, path, io::empty())
            }
        }
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.builder.finish()?;
        self.builder.into_inner()
    }
}

/// Extracts a tar stream through `ex`; `rebase` renames a leading path
/// component (docker's cp: the source's name becomes the destination's).
pub fn untar(r: &mut dyn Read, ex: &mut Extractor, rebase: Option<(&str, &str)>) -> io::Result<()> {
    let mut a = tar::Archive::new(r);
    for e in a.entries()? {
        let mut e = e?;
        let raw = e.path_bytes().into_owned();
        let mut path = clean_rel(&String::from_utf8_lossy(&raw));
        if let Some((from, to)) = rebase {
            let from = clean_rel(from);
            if path == from {
                path = to.to_string();
            } else if let Some(rest) = path.strip_prefix(&format!("{from}/")) {
                path = format!("{to}/{rest}");
            }
        }
        if path.is_empty() {
            // "./": the destination itself keeps its metadata (as docker).
            continue;
        }
        let h = e.header();
        let meta = Meta {
            mode: h.mode().unwrap_or(0o644) & 0o7777,
            uid: h.uid().unwrap_or(0) as u32,
            gid: h.gid().unwrap_or(0) as u32,
            mtime: h.mtime().unwrap_or(0) as i64,
            xattrs: Vec::new(),
        };
        let link = || -> io::Result<PathBuf> {
            e.link_name()?
                .map(|l| l.into_owned())
                .ok_or_else(|| io::Error::other(format!("{path}: link without a target")))
        };
        let dev = || {
            rustix::fs::makedev(
                h.device_major().ok().flatten().unwrap_or(0),
                h.device_minor().ok().flatten().unwrap_or(0),
            )
        };
        let kind = match h.entry_type() {
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::Regular | tar::EntryType::Continuous => Kind::File,
            tar::EntryType::Symlink => Kind::Symlink(link()?),
            tar::EntryType::Link => {
                let t = clean_rel(&link()?.to_string_lossy());
                let t = match rebase {
                    Some((from, to)) if t == clean_rel(from) => to.to_string(),
                    Some((from, to)) => match t.strip_prefix(&format!("{}/", clean_rel(from))) {
                        Some(rest) => format!("{to}/{rest}"),
                        None => t,
                    },
                    None => t,
                };
                Kind::Hardlink(t)
            }
            tar::EntryType::Fifo => Kind::Fifo,
            tar::EntryType::Char => Kind::Char(dev()),
            tar::EntryType::Block => Kind::Block(dev()),
            _ => continue,
        };
        ex.add(&path, &kind, &meta, Some(&mut e))
            .map_err(|err| io::Error::new(err.kind(), format!("{path}: {err}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean() {
        assert_eq!(clean_rel("./a/../../b/"), "b");
        assert_eq!(clean_rel("/etc/passwd"), "etc/passwd");
        assert_eq!(clean_rel("."), "");
    }

    #[test]
    fn copy_tree_and_tar_round_trip_stay_inside() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("src/sub")).unwrap();
        std::fs::write(root.join("src/sub/f"), b"hello").unwrap();
        std::os::unix::fs::symlink("/etc", root.join("src/etc")).unwrap();
        std::fs::hard_link(root.join("src/sub/f"), root.join("src/h")).unwrap();
        // user.* xattrs where the filesystem has them.
        let xattr_ok = rfs::setxattr(
            root.join("src/sub/f"),
            "user.berth",
            b"v",
            rfs::XattrFlags::empty(),
        )
        .is_ok();
        std::fs::set_permissions(
            root.join("src/sub"),
            std::os::unix::fs::PermissionsExt::from_mode(0o711),
        )
        .unwrap();
        let data = t.path().join("data");
        std::fs::create_dir(&data).unwrap();
        copy_up(&root, "/src", &data).unwrap();
        assert_eq!(std::fs::read(data.join("sub/f")).unwrap(), b"hello");
        use std::os::unix::fs::MetadataExt;
        let md = |p: &str| std::fs::symlink_metadata(data.join(p)).unwrap();
        assert_eq!(md("sub").mode() & 0o7777, 0o711);
        assert_eq!(md("h").ino(), md("sub/f").ino(), "hard links stay links");
        if xattr_ok {
            let mut v = [0u8; 8];
            let n = rfs::getxattr(data.join("sub/f"), "user.berth", &mut v[..]).unwrap();
            assert_eq!(&v[..n], b"v");
        }
        assert_eq!(
            std::fs::read_link(data.join("etc")).unwrap(),
            Path::new("/etc")
        );
        // A non-empty volume is left alone.
        std::fs::write(root.join("src/new"), b"x").unwrap();
        copy_up(&root, "/src", &data).unwrap();
        assert!(!data.join("new").exists());

        // A symlink to / in the destination resolves to the destination.
        std::os::unix::fs::symlink("/", data.join("up")).unwrap();
        let mut buf = Vec::new();
        {
            let mut b = tar::Builder::new(&mut buf);
            let mut h = tar::Header::new_gnu();
            h.set_size(3);
            h.set_mode(0o644);
            b.append_data(&mut h, "up/berth-fscopy-evil", &b"bad"[..])
                .unwrap();
            b.finish().unwrap();
        }
        let mut ex = Extractor::new(open_dir(&data).unwrap(), false);
        untar(&mut &buf[..], &mut ex, None).unwrap();
        assert!(!Path::new("/berth-fscopy-evil").exists());
        assert_eq!(
            std::fs::read(data.join("berth-fscopy-evil")).unwrap(),
            b"bad"
        );
    }

    /// A racer swaps the entries being written for symlinks to a file and
    /// a directory outside the root, as a container process can while `cp`
    /// writes into it (or a container sharing a volume during copy-up):
    /// nothing outside may change.
    #[test]
    fn extractor_symlink_swap_stays_in_root() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        let outside = t.path().join("outside");
        std::fs::create_dir_all(root.join("d")).unwrap();
        std::fs::create_dir_all(outside.join("sub")).unwrap();
        std::fs::write(outside.join("f"), b"host").unwrap();
        for p in ["f", "sub"] {
            let p = outside.join(p);
            std::fs::set_permissions(&p, PermissionsExt::from_mode(0o700)).unwrap();
            let past = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1000);
            let f = File::open(&p).unwrap();
            f.set_times(
                std::fs::FileTimes::new()
                    .set_modified(past)
                    .set_accessed(past),
            )
            .unwrap();
        }
        let before = |p: &str| {
            let m = std::fs::metadata(outside.join(p)).unwrap();
            (m.mode(), m.uid(), m.gid(), m.mtime())
        };
        let (f0, s0) = (before("f"), before("sub"));
        let stop = Arc::new(AtomicBool::new(false));
        let racer = {
            let (stop, d, outside) = (stop.clone(), root.join("d"), outside.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let _ = std::os::unix::fs::symlink(outside.join("f"), d.join(".l"));
                    let _ = std::fs::rename(d.join(".l"), d.join("x"));
                    let _ = std::fs::remove_dir(d.join("sub"));
                    let _ = std::os::unix::fs::symlink(outside.join("sub"), d.join("sub"));
                }
            })
        };
        let data = vec![7u8; 256 * 1024];
        let (uid, gid) = (nix::unistd::getuid(), nix::unistd::getgid());
        for _ in 0..300 {
            let mut ex = Extractor::in_root(open_dir(&root).unwrap(), "d", true);
            ex.owner = Some((uid.as_raw(), gid.as_raw()));
            let meta = Meta {
                mode: 0o4777,
                uid: 0,
                gid: 0,
                mtime: 5,
                xattrs: Vec::new(),
            };
            // Errors are fine (the racer pulls entries away); escapes are not.
            let _ = ex.add("x", &Kind::File, &meta, Some(&mut &data[..]));
            let _ = ex.add("sub", &Kind::Dir, &meta, None);
            let _ = ex.finish();
        }
        stop.store(true, Ordering::Relaxed);
        racer.join().unwrap();
        assert_eq!(before("f"), f0, "the host file's metadata changed");
        assert_eq!(before("sub"), s0, "the host directory's metadata changed");
        assert_eq!(std::fs::read(outside.join("f")).unwrap(), b"host");
        assert_eq!(std::fs::read_dir(outside.join("sub")).unwrap().count(), 0);
    }

    /// docker's cp resolves a symlink in the destination inside the
    /// container's root: `d/link` -> `/` sends entries to the root, not to
    /// the host's /.
    #[test]
    fn extractor_resolves_destination_links_in_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("d")).unwrap();
        std::os::unix::fs::symlink("/", root.join("d/link")).unwrap();
        let mut ex = Extractor::in_root(open_dir(&root).unwrap(), "/d", false);
        let meta = Meta {
            mode: 0o644,
            ..Meta::default()
        };
        ex.add(
            "link/berth-fscopy-in-root",
            &Kind::File,
            &meta,
            Some(&mut &b"x"[..]),
        )
        .unwrap();
        ex.finish().unwrap();
        assert!(!Path::new("/berth-fscopy-in-root").exists());
        assert_eq!(
            std::fs::read(root.join("berth-fscopy-in-root")).unwrap(),
            b"x"
        );
    }

    /// The fallback walk resolves every path as openat2(RESOLVE_IN_ROOT)
    /// does: same inode, or an error for the same paths.
    #[test]
    fn walk_in_root_matches_openat2() {
        use std::os::unix::fs::symlink;
        let t = tempfile::tempdir().unwrap();
        let r = t.path().join("root");
        std::fs::create_dir_all(r.join("a/b")).unwrap();
        std::fs::write(r.join("a/b/f"), "x").unwrap();
        std::fs::write(r.join("etc"), "in root").unwrap();
        symlink("/a", r.join("abs")).unwrap();
        symlink("../../../../a/b", r.join("a/climb")).unwrap();
        symlink("/etc", r.join("a/b/hostetc")).unwrap();
        symlink("/nope", r.join("dangling")).unwrap();
        symlink("loop", r.join("loop")).unwrap();
        symlink("b/f", r.join("a/tof")).unwrap();
        let root = open_dir(&r).unwrap();
        let id = |fd: &OwnedFd| {
            let st = rfs::fstat(fd).unwrap();
            (st.st_dev, st.st_ino)
        };
        let paths = [
            "",
            "/",
            "a",
            "/a/b/f",
            "abs/b",
            "a/climb/f",
            "a/b/hostetc",
            "/../../etc",
            "dangling",
            "loop",
            "a/tof",
            "a/b/f/x",
            "abs/../a/b/../b",
            "nope/x",
            "a/b/..",
            "/../..",
        ];
        let flagsets = [
            OFlags::PATH,
            OFlags::PATH | OFlags::NOFOLLOW,
            OFlags::PATH | OFlags::DIRECTORY,
            OFlags::RDONLY,
            OFlags::RDONLY | OFlags::NOFOLLOW,
            OFlags::RDONLY | OFlags::DIRECTORY,
        ];
        for p in paths {
            for f in flagsets {
                let a = open_in_root(root.as_fd(), p, f);
                let b = walk_in_root(root.as_fd(), p, f);
                match (&a, &b) {
                    (Ok(x), Ok(y)) => assert_eq!(id(x), id(y), "{p:?} {f:?}"),
                    (Err(x), Err(y)) => assert_eq!(x.kind(), y.kind(), "{p:?} {f:?}: {x} / {y}"),
                    _ => panic!("{p:?} {f:?}: openat2 {a:?}, walk {b:?}"),
                }
            }
        }
    }
}

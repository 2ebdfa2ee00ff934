//! `cp`: copying between a container's filesystem (running or stopped) and
//! the host or a tar stream, with docker's path rules:
//!
//! - `SRC` a file: to an existing directory → `DEST/basename(SRC)`; to an
//!   existing file → overwritten; to a missing path → created (a missing
//!   path ending in `/` is an error).
//! - `SRC` a directory: to a missing path → created with SRC's content;
//!   to an existing directory → `DEST/basename(SRC)`, or with `SRC/.` the
//!   content goes into `DEST` itself; to a file → error.
//! - `-` as DEST writes a tar of SRC to the output; `-` as SRC extracts a
//!   tar read from the input into the directory DEST.
//!
//! Container paths are resolved inside the container's root with
//! `RESOLVE_IN_ROOT` (see [`crate::fscopy`]); a path below a volume or bind
//! mount of the container is resolved inside that mount's source, so
//! copies reach volumes as docker's do. A stopped container's rootfs is
//! mounted for the copy (under its lock) and unmounted after.

use crate::container::Container;
use crate::error::{Error, Result};
use crate::fscopy::{self, Extractor, Kind, Meta, TarSink, Walker};
use crate::options::clean_path;
use crate::Engine;
use rustix::fs::{self as rfs, FileType, OFlags};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Flags of `cp`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyOptions {
    /// `-L`: follow a symlink given as SRC.
    pub follow_link: bool,
    /// `-a`: keep uid/gid (else files copied into a container belong to root).
    pub archive: bool,
}

/// docker's `PUT /containers/{id}/archive`: a tar extracted into the
/// existing directory `path` of the container.
#[derive(Debug, Clone, Default)]
pub struct ExtractRequest {
    pub container: String,
    pub path: String,
    /// `noOverwriteDirNonDir`: an entry may not replace a non-directory
    /// with a directory (nor, ever, a directory with a non-directory).
    pub no_overwrite_dir_non_dir: bool,
    /// `copyUIDGID`: the entries belong to the container's user (its
    /// `User`, resolved in its /etc/passwd); without it, or without a
    /// user, they keep the archive's uid/gid, as docker's daemon does.
    pub copy_uid_gid: bool,
}

/// docker's `ContainerPathStat`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    /// Go's `os.FileMode`: permission bits and type bits.
    pub mode: u32,
    pub mtime: String,
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

/// A `st_mode` as Go's `os.FileMode` (what docker's clients decode).
pub fn go_file_mode(st_mode: u32) -> u32 {
    let mut m = st_mode & 0o777;
    m |= match FileType::from_raw_mode(st_mode) {
        FileType::Directory => 1 << 31,
        FileType::Symlink => 1 << 27,
        FileType::Fifo => 1 << 25,
        FileType::Socket => 1 << 24,
        FileType::BlockDevice => 1 << 26,
        FileType::CharacterDevice => (1 << 26) | (1 << 21),
        _ => 0,
    };
    if st_mode & 0o4000 != 0 {
        m |= 1 << 23;
    }
    if st_mode & 0o2000 != 0 {
        m |= 1 << 22;
    }
    if st_mode & 0o1000 != 0 {
        m |= 1 << 20;
    }
    m
}

#[derive(Debug, Clone)]
struct PathArg {
    /// Cleaned, absolute, in the end's root.
    clean: String,
    /// Ends with `/` (or `/.`).
    trailing_slash: bool,
    /// Ends with `/.`: the content of a directory, not the directory.
    contents_only: bool,
    /// The last component of the path as the user sees it.
    base: String,
}

impl PathArg {
    fn new(raw: &str) -> PathArg {
        let clean = clean_path(raw);
        let contents_only = raw == "." || raw.ends_with("/.");
        let base = clean.rsplit('/').next().unwrap_or("").to_string();
        PathArg {
            clean,
            trailing_slash: raw.ends_with('/') || contents_only,
            contents_only,
            base,
        }
    }
}

/// One end of a copy: a root directory and a path resolved inside it.
struct End {
    root: OwnedFd,
    /// The path below `root` (cleaned, absolute).
    path: String,
    arg: PathArg,
    /// Why writing is refused (read-only mount or rootfs).
    read_only: Option<String>,
    /// How to name the path in errors.
    display: String,
}

fn io_err(what: &str, e: io::Error) -> Error {
    Error::io(what.to_string(), e)
}

fn stat(root: BorrowedFd, path: &str, follow: bool) -> io::Result<rfs::Stat> {
    let mut flags = OFlags::PATH;
    if !follow {
        flags |= OFlags::NOFOLLOW;
    }
    let fd = fscopy::open_in_root(root, path, flags)?;
    rfs::fstat(&fd).map_err(io::Error::from)
}

fn is_dir(st: &rfs::Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::Directory
}

fn parent_of(p: &str) -> String {
    match p.rfind('/') {
        Some(0) | None => "/".into(),
        Some(i) => p[..i].to_string(),
    }
}

/// SRC resolved and opened once (`O_PATH`; its last symlink followed only
/// with `follow`): its stat, its link target and every later read go
/// through this descriptor, never through the name again.
struct Opened {
    fd: OwnedFd,
    st: rfs::Stat,
}

fn open_source(src: &End, follow: bool) -> io::Result<Opened> {
    let mut flags = OFlags::PATH;
    if !follow {
        flags |= OFlags::NOFOLLOW;
    }
    let fd = fscopy::open_in_root(src.root.as_fd(), &src.path, flags)?;
    let st = rfs::fstat(&fd).map_err(io::Error::from)?;
    Ok(Opened { fd, st })
}

/// [`open_source`], a missing SRC as docker's "Could not find the file".
fn open_existing(src: &End, follow: bool) -> Result<Opened> {
    open_source(src, follow).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            Error::NoSuchObject(format!("Could not find the file {}", src.display))
        } else {
            io_err(&src.display, e)
        }
    })
}

/// Walks the opened SRC, calling `sink` with names under `prefix` (empty:
/// the directory's content only).
fn walk_source(
    src: &End,
    o: &Opened,
    prefix: &str,
    sink: &mut fscopy::Visit<'_>,
) -> io::Result<()> {
    let st = &o.st;
    let mut w = Walker::new(sink, false);
    let meta = Meta {
        mode: st.st_mode & 0o7777,
        uid: st.st_uid,
        gid: st.st_gid,
        mtime: st.st_mtime,
        xattrs: Vec::new(),
    };
    match FileType::from_raw_mode(st.st_mode) {
        FileType::Directory => {
            let d = rfs::openat(
                &o.fd,
                ".",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                rfs::Mode::empty(),
            )
            .map_err(io::Error::from)?;
            if !prefix.is_empty() {
                (w.visit)(prefix, &Kind::Dir, &meta, None)?;
            }
            w.children(d.as_fd(), prefix)
        }
        FileType::RegularFile => {
            let (mut f, st) = fscopy::open_regular(&o.fd)?;
            let meta = Meta {
                mode: st.st_mode & 0o7777,
                uid: st.st_uid,
                gid: st.st_gid,
                mtime: st.st_mtime,
                xattrs: Vec::new(),
            };
            (w.visit)(prefix, &Kind::File, &meta, Some(&mut f))
        }
        FileType::Symlink => {
            let t = rfs::readlinkat(&o.fd, "", Vec::new()).map_err(io::Error::from)?;
            let t = PathBuf::from(
                <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(t.as_bytes()),
            );
            (w.visit)(prefix, &Kind::Symlink(t), &meta, None)
        }
        _ => {
            let (parent, name) = (
                parent_of(&src.path),
                src.path.rsplit('/').next().unwrap_or(""),
            );
            let pfd =
                fscopy::open_in_root(src.root.as_fd(), &parent, OFlags::PATH | OFlags::DIRECTORY)?;
            w.entry(pfd.as_fd(), std::ffi::OsStr::new(name), prefix)
        }
    }
}

/// docker's stat of an opened path (`linkTarget` for a symlink).
fn path_stat_of(s: &End, o: &Opened) -> Result<PathStat> {
    let st = &o.st;
    let link_target = if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
        let t = rfs::readlinkat(&o.fd, "", Vec::new()).map_err(|e| io_err(&s.display, e.into()))?;
        t.to_string_lossy().into_owned()
    } else {
        String::new()
    };
    Ok(PathStat {
        name: if s.arg.base.is_empty() {
            "/".into()
        } else {
            s.arg.base.clone()
        },
        size: st.st_size,
        mode: go_file_mode(st.st_mode),
        mtime: berth_util::time::rfc3339_nanos(st.st_mtime, st.st_mtime_nsec as u32),
        link_target,
    })
}

/// Writes the opened SRC as a tar to `out` (a directory's content alone
/// for `/` or `DIR/.`). An entry that cannot be read whole fails the copy
/// (the archive is not finished).
fn tar_source(s: &End, o: &Opened, out: &mut dyn Write) -> Result<()> {
    let prefix = if is_dir(&o.st) && (s.arg.contents_only || s.arg.base.is_empty()) {
        String::new()
    } else {
        s.arg.base.clone()
    };
    let mut tar = TarSink::new(out);
    let mut failed: Option<io::Error> = None;
    {
        let mut sink = |p: &str, k: &Kind, m: &Meta, f: Option<&mut File>| -> io::Result<()> {
            tar.add(p, k, m, f).map_err(|e| {
                let e = io::Error::new(e.kind(), format!("{p}: {e}"));
                failed.get_or_insert(io::Error::new(e.kind(), e.to_string()));
                e
            })
        };
        walk_source(s, o, &prefix, &mut sink).map_err(|e| io_err(&s.display, e))?;
    }
    if let Some(e) = failed {
        return Err(io_err("write the archive", e));
    }
    tar.finish().map_err(|e| io_err("write the archive", e))?;
    Ok(())
}

/// Where entries go for DEST and under which name SRC lands:
/// (directory to extract into, prefix).
fn destination(src: &End, src_is_dir: bool, dst: &End) -> Result<(String, String)> {
    let src_name = if src.arg.base.is_empty() {
        String::new()
    } else {
        src.arg.base.clone()
    };
    match stat(dst.root.as_fd(), &dst.path, true) {
        Ok(st) if is_dir(&st) => {
            if src_is_dir && (src.arg.contents_only || src_name.is_empty()) {
                Ok((dst.path.clone(), String::new()))
            } else {
                Ok((dst.path.clone(), src_name))
            }
        }
        Ok(_) => {
            if src_is_dir {
                return Err(Error::msg(format!(
                    "cannot overwrite non-directory {:?} with directory {:?}",
                    dst.display, src.display
                )));
            }
            if dst.arg.trailing_slash {
                return Err(Error::msg(format!("{} is not a directory", dst.display)));
            }
            Ok((parent_of(&dst.path), dst.arg.base.clone()))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if dst.arg.trailing_slash && !src_is_dir {
                return Err(Error::msg(format!(
                    "destination directory {} does not exist",
                    dst.display
                )));
            }
            let parent = parent_of(&dst.path);
            match stat(dst.root.as_fd(), &parent, true) {
                Ok(st) if is_dir(&st) => Ok((parent, dst.arg.base.clone())),
                _ => Err(Error::msg(format!(
                    "the parent directory of {} does not exist",
                    dst.display
                ))),
            }
        }
        Err(e) => Err(io_err(&dst.display, e)),
    }
}

/// Extracts a tar from `input` into the existing directory `d` (entries
/// owned by `owner`, else as in the archive).
fn extract_into(
    d: &End,
    input: &mut dyn Read,
    owner: Option<(u32, u32)>,
    no_overwrite_non_dir: bool,
) -> Result<()> {
    if let Some(why) = &d.read_only {
        return Err(Error::msg(why.clone()));
    }
    match stat(d.root.as_fd(), &d.path, true) {
        Ok(st) if is_dir(&st) => {}
        Ok(_) => {
            return Err(Error::BadRequest(format!(
                "extraction point is not a directory: {} must be a directory",
                d.display
            )))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::NoSuchObject(format!(
                "Could not find the file {}",
                d.display
            )))
        }
        Err(e) => return Err(io_err(&d.display, e)),
    }
    let root = d.root.try_clone().map_err(|e| io_err(&d.display, e))?;
    let mut ex = Extractor::in_root(root, &d.path, true);
    ex.owner = owner;
    ex.no_overwrite_non_dir = no_overwrite_non_dir;
    fscopy::untar(input, &mut ex, None)
        .map_err(|e| io_err(&format!("extract into {}", d.display), e))?;
    ex.finish().map_err(|e| io_err(&d.display, e))
}

/// Copies SRC to DEST (both resolved ends).
fn copy_paths(src: &End, dst: &End, opts: CopyOptions, to_container: bool) -> Result<()> {
    if let Some(why) = &dst.read_only {
        return Err(Error::msg(why.clone()));
    }
    let opened = open_existing(src, opts.follow_link)?;
    let src_is_dir = is_dir(&opened.st);
    if src.arg.trailing_slash && !src_is_dir {
        return Err(Error::msg(format!("{} is not a directory", src.display)));
    }
    let (dir, prefix) = destination(src, src_is_dir, dst)?;
    fscopy::open_in_root(dst.root.as_fd(), &dir, OFlags::PATH | OFlags::DIRECTORY)
        .map_err(|e| io_err(&dst.display, e))?;
    let root = dst.root.try_clone().map_err(|e| io_err(&dst.display, e))?;
    // Into a container: root-owned unless -a; onto the host: the caller's.
    // Symlinks in the destination resolve inside its root, as docker's do.
    let mut ex = Extractor::in_root(root, &dir, to_container);
    if to_container && !opts.archive {
        ex.owner = Some((0, 0));
    }
    let mut failed: Option<io::Error> = None;
    {
        let mut sink = |p: &str, k: &Kind, m: &Meta, f: Option<&mut File>| -> io::Result<()> {
            if let Err(e) = ex.add(p, k, m, f.map(|f| f as &mut dyn Read)) {
                failed.get_or_insert(io::Error::new(e.kind(), format!("{p}: {e}")));
            }
            Ok(())
        };
        walk_source(src, &opened, &prefix, &mut sink).map_err(|e| io_err(&src.display, e))?;
    }
    if let Some(e) = failed {
        return Err(io_err(&format!("copy to {}", dst.display), e));
    }
    ex.finish().map_err(|e| io_err(&dst.display, e))
}

fn host_end(raw: &str) -> Result<End> {
    let abs = if raw.starts_with('/') {
        raw.to_string()
    } else {
        let cwd = std::env::current_dir().map_err(|e| io_err("current directory", e))?;
        format!("{}/{raw}", cwd.display())
    };
    let arg = PathArg::new(&abs);
    Ok(End {
        root: fscopy::open_dir(Path::new("/")).map_err(|e| io_err("/", e))?,
        path: arg.clean.clone(),
        arg,
        read_only: None,
        display: raw.to_string(),
    })
}

fn under_mount(c: &Container, p: &str) -> bool {
    c.mounts.iter().any(|m| {
        (m.kind == "volume" || m.kind == "bind")
            && (p == m.destination || p.starts_with(&format!("{}/", m.destination)))
    })
}

/// The container path `p` with the symlinks of its leading components
/// resolved inside the rootfs (the last one only with `follow_last`), up
/// to a volume or bind mount point: so `/link/f` with `/link` → `/data`
/// reaches the volume at `/data`, as in the container. Best effort: the
/// lexical path where resolution stops.
fn real_path(c: &Container, rootfs: &Path, p: &str, follow_last: bool) -> String {
    let comps: Vec<&str> = p.split('/').filter(|c| !c.is_empty()).collect();
    let Ok(root) = fscopy::open_dir(rootfs) else {
        return p.to_string();
    };
    let prefix = rootfs.to_string_lossy().trim_end_matches('/').to_string();
    let mut real = String::new();
    for (i, comp) in comps.iter().enumerate() {
        let rest = comps[i + 1..].join("/");
        let finish = |base: &str| {
            let mut r = format!("{base}/{comp}");
            if !rest.is_empty() {
                r = format!("{r}/{rest}");
            }
            r
        };
        let candidate = format!("{real}/{comp}");
        let last = i + 1 == comps.len();
        if under_mount(c, &candidate) || (last && !follow_last) {
            return finish(&real);
        }
        let Ok(fd) = fscopy::open_in_root(root.as_fd(), &candidate, OFlags::PATH) else {
            return finish(&real);
        };
        let Ok(host) = std::fs::read_link(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&fd)
        )) else {
            return finish(&real);
        };
        let host = host.to_string_lossy().into_owned();
        match host.strip_prefix(&prefix) {
            Some(r) if r.is_empty() || r.starts_with('/') => real = r.to_string(),
            _ => return finish(&real),
        }
    }
    if real.is_empty() {
        "/".into()
    } else {
        real
    }
}

impl Engine {
    /// Resolves a container path to (root on the host, path below it): the
    /// source of the deepest volume/bind mount covering it, else the rootfs.
    fn container_end(
        &self,
        c: &Container,
        rootfs: &Path,
        raw: &str,
        follow_last: bool,
        reading: bool,
    ) -> Result<End> {
        let arg = PathArg::new(raw);
        let p = real_path(c, rootfs, &arg.clean, follow_last);
        let best = c
            .mounts
            .iter()
            .filter(|m| m.kind == "volume" || m.kind == "bind")
            .filter(|m| p == m.destination || p.starts_with(&format!("{}/", m.destination)))
            .max_by_key(|m| m.destination.len());
        // /etc/hostname, /etc/hosts and /etc/resolv.conf are bind mounts of
        // the container's own files (unless a mount of the user's covers
        // them): read from those. (A copy into them writes the rootfs below,
        // as docker's cannot replace a mounted file either.)
        let userdata = self.container_dir(&c.id).join("userdata");
        let made = ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"].contains(&p.as_str())
            && reading
            && best.map_or(true, |m| m.destination != p)
            && userdata.join(&p["/etc/".len()..]).is_file();
        let made = made.then(|| (userdata, p["/etc".len()..].to_string()));
        let (root, path, read_only) = match (made, best) {
            (Some((dir, f)), _) => (dir, f, None),
            (None, Some(m)) => {
                let rest = &p[m.destination.len()..];
                let root = if m.kind == "volume" {
                    self.volume_data_path(&m.name)
                } else {
                    PathBuf::from(&m.source)
                };
                let ro = (!m.rw).then(|| "mounted volume is marked read-only".to_string());
                (
                    root,
                    if rest.is_empty() {
                        "/".into()
                    } else {
                        rest.to_string()
                    },
                    ro,
                )
            }
            (None, None) => {
                let ro = c
                    .host_config
                    .readonly_rootfs
                    .then(|| "container rootfs is marked read-only".to_string());
                (rootfs.to_path_buf(), p.clone(), ro)
            }
        };
        Ok(End {
            root: fscopy::open_dir(&root).map_err(|e| io_err(&root.to_string_lossy(), e))?,
            path,
            arg,
            read_only,
            display: format!("{raw} in container {}", crate::fsutil::short_id(&c.id)),
        })
    }

    /// Runs `f` with the container's rootfs mounted: as it is while the
    /// container runs, else mounted for the call (under the container's
    /// lock, so it cannot start meanwhile) and unmounted after.
    fn with_rootfs<T>(
        &self,
        container: &str,
        f: impl FnOnce(&Container, &Path) -> Result<T>,
    ) -> Result<T> {
        let id = self.lookup(container)?;
        let c = self.load_config(&id)?;
        let rootfs = self.rootfs_path(&id);
        if self.state(&id)?.running() && crate::fssys::is_mount_point(&rootfs) {
            return f(&c, &rootfs);
        }
        let _lock = self.lock_container(&id)?;
        if self.load_state_raw(&id)?.running() && crate::fssys::is_mount_point(&rootfs) {
            return f(&c, &rootfs);
        }
        let was_mounted = crate::fssys::is_mount_point(&rootfs);
        if !was_mounted {
            self.mount_rootfs(&c)?;
        }
        let r = f(&c, &rootfs);
        if !was_mounted {
            if let Err(e) = crate::sys::unmount(&rootfs) {
                let msg = format!("cannot unmount {}: {e}", rootfs.display());
                return match r {
                    Ok(_) => Err(Error::msg(msg)),
                    Err(prev) => Err(Error::msg(format!("{prev}; {msg}"))),
                };
            }
        }
        r
    }

    /// docker's `ContainerPathStat` of `path` in the container (not
    /// following a last symlink; its target in `linkTarget`): the
    /// `X-Docker-Container-Path-Stat` header of the archive endpoints.
    pub fn path_stat(&self, container: &str, path: &str) -> Result<PathStat> {
        self.with_rootfs(container, |c, rootfs| {
            let s = self.container_end(c, rootfs, path, false, true)?;
            path_stat_of(&s, &open_existing(&s, false)?)
        })
    }

    /// docker's `GET /containers/{id}/archive`: `path` resolved once (its
    /// last symlink not followed): `on_stat` gets its stat (the
    /// `X-Docker-Container-Path-Stat` header), then its tar goes to `out`
    /// from the same descriptor. An error after `on_stat` means a
    /// truncated archive: the caller must not end it as a success.
    pub fn archive_from_container(
        &self,
        container: &str,
        path: &str,
        on_stat: &mut dyn FnMut(&PathStat),
        out: &mut dyn Write,
    ) -> Result<()> {
        self.with_rootfs(container, |c, rootfs| {
            let s = self.container_end(c, rootfs, path, false, true)?;
            let o = open_existing(&s, false)?;
            on_stat(&path_stat_of(&s, &o)?);
            tar_source(&s, &o, out)
        })
    }

    /// `cp CONTAINER:SRC DEST` (`dest` None: a tar of SRC to `out`).
    pub fn copy_from_container(
        &self,
        container: &str,
        src: &str,
        dest: Option<&str>,
        out: &mut dyn Write,
        opts: CopyOptions,
    ) -> Result<()> {
        self.with_rootfs(container, |c, rootfs| {
            let s = self.container_end(c, rootfs, src, opts.follow_link, true)?;
            match dest {
                Some(d) => copy_paths(&s, &host_end(d)?, opts, false),
                None => tar_source(&s, &open_existing(&s, opts.follow_link)?, out),
            }
        })
    }

    /// `cp SRC CONTAINER:DEST` (`src` None: a tar read from `input`,
    /// extracted into the directory DEST).
    pub fn copy_to_container(
        &self,
        src: Option<&str>,
        input: &mut dyn Read,
        container: &str,
        dest: &str,
        opts: CopyOptions,
    ) -> Result<()> {
        self.with_rootfs(container, |c, rootfs| {
            let d = self.container_end(c, rootfs, dest, true, false)?;
            match src {
                Some(s) => copy_paths(&host_end(s)?, &d, opts, true),
                None => {
                    let owner = (!opts.archive).then_some((0, 0));
                    extract_into(&d, input, owner, false)
                }
            }
        })
    }

    /// docker's `PUT /containers/{id}/archive` (see [`ExtractRequest`]):
    /// the directory is resolved inside the container (its symlinks, even
    /// `..` or absolute ones, stay in its root), and so is every entry,
    /// through the in-root extractor. A missing path is docker's 404, one
    /// that is not a directory its 400.
    pub fn extract_to_container(&self, req: &ExtractRequest, input: &mut dyn Read) -> Result<()> {
        self.with_rootfs(&req.container, |c, rootfs| {
            let d = self.container_end(c, rootfs, &req.path, true, false)?;
            let owner = if req.copy_uid_gid && !c.config.user.is_empty() {
                let view = crate::user::LayerView {
                    lowers: vec![rootfs.to_path_buf()],
                };
                let u = crate::user::resolve(&c.config.user, &[], &view)?;
                Some((u.uid, u.gid))
            } else {
                None
            };
            extract_into(&d, input, owner, req.no_overwrite_dir_non_dir)
        })
    }
}

/// Removes `name` from the directory `dir` (a directory with what is in
/// it), never following a symlink; a missing entry is no error.
fn remove_tree_at(dir: BorrowedFd, name: &str) -> io::Result<()> {
    remove_tree_depth(dir, name, 0)
}

/// How deep [`remove_tree_at`] goes: a container can nest directories
/// without end, and each level holds a descriptor and a stack frame.
const MAX_REMOVE_DEPTH: usize = 512;

fn remove_tree_depth(dir: BorrowedFd, name: &str, depth: usize) -> io::Result<()> {
    if depth > MAX_REMOVE_DEPTH {
        return Err(io::Error::other(format!(
            "directories nested over {MAX_REMOVE_DEPTH} levels deep"
        )));
    }
    let st = match rfs::statat(dir, name, rfs::AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return match rfs::unlinkat(dir, name, rfs::AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
            Err(e) => Err(e.into()),
        };
    }
    let fd = rfs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        rfs::Mode::empty(),
    )?;
    let mut names = Vec::new();
    for ent in rfs::Dir::read_from(&fd)? {
        let ent = ent?;
        let n = ent.file_name().to_string_lossy().into_owned();
        if n != "." && n != ".." {
            names.push(n);
        }
    }
    for n in names {
        remove_tree_depth(fd.as_fd(), &n, depth + 1)?;
    }
    match rfs::unlinkat(dir, name, rfs::AtFlags::REMOVEDIR) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

impl Engine {
    /// Removes `path` (a directory with its content) from the container's
    /// filesystem, resolved inside its root (or the volume or bind mount
    /// below which it lies) as [`Engine::copy_to_container`] resolves its
    /// destination; a missing path is no error. Compose's `watch` deletes
    /// what was deleted on the host with it.
    pub fn remove_in_container(&self, container: &str, path: &str) -> Result<()> {
        self.with_rootfs(container, |c, rootfs| {
            let d = self.container_end(c, rootfs, path, false, false)?;
            if let Some(why) = &d.read_only {
                return Err(Error::msg(why.clone()));
            }
            let parent = parent_of(&d.path);
            let name = d.path.rsplit('/').next().unwrap_or("").to_string();
            if name.is_empty() || d.path == "/" {
                return Err(Error::msg(format!("cannot remove {}", d.display)));
            }
            let dir = match fscopy::open_in_root(
                d.root.as_fd(),
                &parent,
                OFlags::RDONLY | OFlags::DIRECTORY,
            ) {
                Ok(fd) => fd,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(io_err(&d.display, e)),
            };
            remove_tree_at(dir.as_fd(), &name).map_err(|e| io_err(&d.display, e))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_file_modes() {
        assert_eq!(go_file_mode(0o040755), (1 << 31) | 0o755);
        assert_eq!(go_file_mode(0o100644), 0o644);
        assert_eq!(go_file_mode(0o120777), (1 << 27) | 0o777);
        assert_eq!(go_file_mode(0o104755), (1 << 23) | 0o755);
    }

    #[test]
    fn path_args() {
        let a = PathArg::new("/a/b/.");
        assert!(a.contents_only && a.trailing_slash);
        assert_eq!((a.clean.as_str(), a.base.as_str()), ("/a/b", "b"));
        let a = PathArg::new("/a/b/");
        assert!(!a.contents_only && a.trailing_slash);
        let a = PathArg::new("/");
        assert_eq!(a.base, "");
        assert_eq!(parent_of("/a"), "/");
        assert_eq!(parent_of("/a/b"), "/a");
    }

    #[test]
    fn removal_stops_at_a_bottomless_tree() {
        let t = tempfile::tempdir().unwrap();
        let root = fscopy::open_dir(t.path()).unwrap();
        // Nested through descriptors (the path grows past PATH_MAX).
        let mut fds = vec![];
        let mut cur = rfs::openat(
            root.as_fd(),
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY,
            rfs::Mode::empty(),
        )
        .unwrap();
        rfs::mkdirat(cur.as_fd(), "deep", rfs::Mode::from_raw_mode(0o755)).unwrap();
        let top = cur;
        cur = rfs::openat(
            top.as_fd(),
            "deep",
            OFlags::RDONLY | OFlags::DIRECTORY,
            rfs::Mode::empty(),
        )
        .unwrap();
        for _ in 0..MAX_REMOVE_DEPTH + 10 {
            rfs::mkdirat(cur.as_fd(), "d", rfs::Mode::from_raw_mode(0o755)).unwrap();
            let next = rfs::openat(
                cur.as_fd(),
                "d",
                OFlags::RDONLY | OFlags::DIRECTORY,
                rfs::Mode::empty(),
            )
            .unwrap();
            fds.push(std::mem::replace(&mut cur, next));
        }
        let e = remove_tree_at(top.as_fd(), "deep").unwrap_err();
        assert!(e.to_string().contains("nested"), "{e}");
        // a tree of ordinary depth goes
        std::fs::create_dir_all(t.path().join("ok/a/b/c")).unwrap();
        std::fs::write(t.path().join("ok/a/b/c/f"), "x").unwrap();
        remove_tree_at(top.as_fd(), "ok").unwrap();
        assert!(!t.path().join("ok").exists());
    }

    fn end(root: &Path, p: &str) -> End {
        let arg = PathArg::new(p);
        End {
            root: fscopy::open_dir(root).unwrap(),
            path: arg.clean.clone(),
            arg,
            read_only: None,
            display: p.into(),
        }
    }

    #[test]
    fn docker_path_rules() {
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        std::fs::create_dir_all(a.join("dir/sub")).unwrap();
        std::fs::write(a.join("dir/sub/f"), "f").unwrap();
        std::fs::write(a.join("file"), "x").unwrap();
        std::fs::create_dir_all(b.join("exists")).unwrap();
        let o = CopyOptions::default();
        // file → existing dir
        copy_paths(&end(&a, "/file"), &end(&b, "/exists"), o, false).unwrap();
        assert_eq!(std::fs::read(b.join("exists/file")).unwrap(), b"x");
        // file → new name
        copy_paths(&end(&a, "/file"), &end(&b, "/renamed"), o, false).unwrap();
        assert!(b.join("renamed").is_file());
        // file → missing dir/ : error
        assert!(copy_paths(&end(&a, "/file"), &end(&b, "/nodir/"), o, false).is_err());
        // dir → missing: created with the content
        copy_paths(&end(&a, "/dir"), &end(&b, "/newdir"), o, false).unwrap();
        assert!(b.join("newdir/sub/f").is_file());
        // dir → existing dir: nested
        copy_paths(&end(&a, "/dir"), &end(&b, "/exists"), o, false).unwrap();
        assert!(b.join("exists/dir/sub/f").is_file());
        // dir/. → existing dir: the content
        copy_paths(&end(&a, "/dir/."), &end(&b, "/exists"), o, false).unwrap();
        assert!(b.join("exists/sub/f").is_file());
        // dir → file: error
        assert!(copy_paths(&end(&a, "/dir"), &end(&b, "/renamed"), o, false).is_err());
        // missing source
        let e = copy_paths(&end(&a, "/nope"), &end(&b, "/x"), o, false).unwrap_err();
        assert!(e.to_string().contains("Could not find the file"), "{e}");
    }
}

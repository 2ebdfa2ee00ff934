//! Layer decompression and safe unpacking into an overlayfs lower dir.
//!
//! Safety model: the destination is a fresh directory only this process
//! writes to, so the threat is the tar itself. Every entry path is cleaned
//! lexically (leading `/` stripped, `.` dropped, `..` resolved); a path
//! that climbs above the root is refused. Parent directories are then
//! opened one component at a time relative to the root with
//! `O_NOFOLLOW|O_DIRECTORY`, so a symlink (or any non-directory) in a
//! parent position is refused instead of followed. Final operations use
//! the `*at` syscalls on the parent fd and never follow a final symlink.
//! Hardlink targets are resolved the same way and must already exist.
//! `trusted.overlay.*` xattrs from the tar are dropped (they would let a
//! layer forge overlay metadata).

use std::cell::RefCell;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use nix::errno::Errno;
use nix::fcntl::{openat, AtFlags, OFlag};
use nix::sys::stat::{
    fchmod, fchmodat, fstatat, futimens, makedev, mkdirat, mknodat, utimensat, FchmodatFlags, Mode,
    SFlag, UtimensatFlags,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, fchownat, linkat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};

use crate::digest::{Digest, HashingReader};
use crate::error::{Error, Result};
use crate::manifest::{layer_compression, Compression};
use crate::sys;

/// Prefix marking an OCI whiteout file.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// OCI opaque-directory marker.
pub const WHITEOUT_OPAQUE: &str = ".wh..wh..opq";
/// xattr overlayfs reads to mark a directory opaque.
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// Options for [`unpack_layer`].
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    /// Apply uid/gid from the tar (needs CAP_CHOWN; default: when root).
    pub same_owner: bool,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions {
            same_owner: nix::unistd::geteuid().is_root(),
        }
    }
}

/// What unpacking a layer found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerStats {
    /// sha256 of the uncompressed tar stream.
    pub diff_id: Digest,
    /// Size of the uncompressed tar stream.
    pub uncompressed_size: u64,
    /// Compression actually used (from magic bytes).
    pub compression: Compression,
    /// Number of tar entries applied.
    pub entries: u64,
}

/// Compression detected from the first bytes of a stream (`None` when no
/// known magic matches: plain tar). Errors for bzip2 / xz.
pub fn detect_compression(head: &[u8]) -> std::result::Result<Compression, &'static str> {
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Compression::Gzip)
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Ok(Compression::Zstd)
    } else if head.starts_with(b"BZh") {
        Err("bzip2")
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Err("xz")
    } else {
        Ok(Compression::None)
    }
}

/// Wrap a layer blob in the right decompressor. The media type (if given)
/// must be a known layer type; the magic bytes decide the decoder, so a
/// mislabelled layer still unpacks.
pub fn decompress<'a, R: Read + 'a>(
    reader: R,
    media_type: Option<&str>,
    layer: &Digest,
) -> Result<(Compression, Box<dyn Read + 'a>)> {
    decompress_buffered(
        BufReader::with_capacity(64 * 1024, reader),
        media_type,
        layer,
    )
}

/// [`decompress`] for a reader that is already buffered (the decoders
/// take their input straight from its buffer: no copy in between).
pub fn decompress_buffered<'a, R: BufRead + 'a>(
    mut br: R,
    media_type: Option<&str>,
    layer: &Digest,
) -> Result<(Compression, Box<dyn Read + 'a>)> {
    let declared = match media_type {
        Some(mt) => Some(layer_compression(mt, layer)?),
        None => None,
    };
    let head = br
        .fill_buf()
        .map_err(|e| Error::io(format!("read layer {layer}"), e))?;
    let detected = if head.len() >= 6 || head.is_empty() {
        detect_compression(head).map_err(|name| Error::Layer {
            layer: layer.to_string(),
            reason: format!("unsupported compression {name}"),
        })?
    } else {
        declared.unwrap_or(Compression::None)
    };
    let r: Box<dyn Read + 'a> = match detected {
        Compression::None => Box::new(br),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(br)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(br)
                .map_err(|e| Error::io(format!("zstd decoder for layer {layer}"), e))?,
        ),
    };
    Ok((detected, r))
}

/// Decompress `blob`, unpack it into the existing directory `dest`
/// (converting OCI whiteouts to overlayfs form) and return the diff id
/// computed over the uncompressed stream.
pub fn unpack_layer<R: BufRead>(
    blob: R,
    media_type: Option<&str>,
    dest: &Path,
    layer: &Digest,
    opts: &UnpackOptions,
) -> Result<LayerStats> {
    let (compression, reader) = decompress_buffered(blob, media_type, layer)?;
    // The tar reader asks for 512-byte headers and small files; a buffer
    // in front of the hasher lets the decompressor and the hasher work on
    // large blocks. The hasher sees every byte in order, buffered or not,
    // and `finish` hashes what the tar reader left unread.
    let hashing = BufReader::with_capacity(256 << 10, HashingReader::new(reader));
    let mut archive = tar::Archive::new(hashing);
    let entries = unpack_archive(&mut archive, dest, &layer.to_string(), opts)?;
    let (diff_id, uncompressed_size, _) = archive
        .into_inner()
        .into_inner()
        .finish()
        .map_err(|e| Error::io(format!("read layer {layer}"), e))?;
    Ok(LayerStats {
        diff_id,
        uncompressed_size,
        compression,
        entries,
    })
}

/// Unpack an uncompressed tar stream into `dest` (see module docs).
/// `layer` names the layer in error messages.
pub fn unpack_tar<R: Read>(tar: R, dest: &Path, layer: &str, opts: &UnpackOptions) -> Result<u64> {
    let mut archive = tar::Archive::new(tar);
    unpack_archive(&mut archive, dest, layer, opts)
}

fn unpack_archive<R: Read>(
    archive: &mut tar::Archive<R>,
    dest: &Path,
    layer: &str,
    opts: &UnpackOptions,
) -> Result<u64> {
    let root = openat(
        nix::fcntl::AT_FDCWD,
        dest,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::nix(format!("open layer directory {}", dest.display()), e))?;
    let mut u = Unpacker {
        root: Rc::new(root),
        dirs: RefCell::new(Vec::new()),
        dest: dest.to_path_buf(),
        layer: layer.to_string(),
        opts: opts.clone(),
        dir_times: Vec::new(),
        buf: Vec::new(),
    };
    let mut n = 0u64;
    let entries = archive.entries().map_err(|e| u.tar_err(e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| u.tar_err(e))?;
        u.apply(&mut entry)?;
        n += 1;
    }
    u.finish()?;
    Ok(n)
}

struct Unpacker {
    root: Rc<OwnedFd>,
    /// The directories opened by the last lookup, outermost first, as
    /// (name, fd). Consecutive tar entries mostly share their parents, so
    /// most lookups reuse them instead of opening every component again.
    /// Only removing a directory (see [`Unpacker::clear`]) can make an
    /// entry stale, and it empties the cache.
    dirs: RefCell<Vec<(OsString, Rc<OwnedFd>)>>,
    dest: PathBuf,
    layer: String,
    opts: UnpackOptions,
    dir_times: Vec<(PathBuf, u64)>,
    /// Copy buffer for file contents, allocated on first use.
    buf: Vec<u8>,
}

/// Metadata gathered from a tar header and its PAX records.
struct Meta {
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    xattrs: Vec<(String, Vec<u8>)>,
}

/// Clean an entry path lexically. `Ok(None)` for the root itself; error if
/// it climbs out of the root.
pub fn clean_path(p: &Path) -> std::result::Result<Option<PathBuf>, String> {
    let mut out: Vec<&OsStr> = Vec::new();
    for c in p.components() {
        match c {
            Component::Prefix(_) | Component::RootDir | Component::CurDir => {}
            Component::ParentDir => {
                if out.pop().is_none() {
                    return Err(format!("path {:?} escapes the layer root", p));
                }
            }
            Component::Normal(s) => out.push(s),
        }
    }
    if out.is_empty() {
        Ok(None)
    } else {
        Ok(Some(out.iter().collect()))
    }
}

impl Unpacker {
    fn err(&self, reason: String) -> Error {
        Error::Layer {
            layer: self.layer.clone(),
            reason,
        }
    }

    fn tar_err(&self, e: io::Error) -> Error {
        self.err(format!("reading tar: {e}"))
    }

    fn sys_err(&self, what: &str, path: &Path, e: Errno) -> Error {
        self.err(format!("{what} {:?}: {e}", path))
    }

    /// Open the parent directory of `rel` without following symlinks,
    /// creating missing directories when `create` is set. Returns the
    /// parent fd and the final component. Components already open from the
    /// previous lookup are reused.
    fn open_parent(&self, rel: &Path, create: bool) -> Result<(Rc<OwnedFd>, OsString)> {
        let comps: Vec<&OsStr> = rel.iter().collect();
        let (last, parents) = comps.split_last().expect("cleaned path is non-empty");
        let mut dirs = self.dirs.borrow_mut();
        let keep = dirs
            .iter()
            .zip(parents.iter())
            .take_while(|((name, _), c)| name.as_os_str() == **c)
            .count();
        dirs.truncate(keep);
        let mut so_far: PathBuf = parents[..keep].iter().collect();
        for c in &parents[keep..] {
            so_far.push(c);
            let cur = dirs.last().map_or(&self.root, |(_, fd)| fd).clone();
            let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
            let next = match openat(cur.as_fd(), *c, flags, Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) if create => {
                    match mkdirat(cur.as_fd(), *c, Mode::from_bits_truncate(0o755)) {
                        Ok(()) | Err(Errno::EEXIST) => {}
                        Err(e) => return Err(self.sys_err("create directory", &so_far, e)),
                    }
                    openat(cur.as_fd(), *c, flags, Mode::empty())
                        .map_err(|e| self.sys_err("open directory", &so_far, e))?
                }
                Err(Errno::ELOOP) | Err(Errno::ENOTDIR) => {
                    return Err(self.err(format!(
                        "entry {:?}: parent {:?} is a symlink or not a directory; refusing to follow it",
                        rel, so_far
                    )))
                }
                Err(e) => return Err(self.sys_err("open directory", &so_far, e)),
            };
            dirs.push((c.to_os_string(), Rc::new(next)));
        }
        let dir = dirs.last().map_or(&self.root, |(_, fd)| fd).clone();
        Ok((dir, last.to_os_string()))
    }

    /// Create `name` with `create`; if the name is taken, remove what is
    /// there (as [`Unpacker::clear`]) and create again.
    fn create_replacing<T>(
        &self,
        dir: &OwnedFd,
        name: &OsStr,
        rel: &Path,
        what: &str,
        mut create: impl FnMut() -> nix::Result<T>,
    ) -> Result<T> {
        match create() {
            Err(Errno::EEXIST) => {
                self.clear(dir, name, rel, false)?;
                create().map_err(|e| self.sys_err(what, rel, e))
            }
            r => r.map_err(|e| self.sys_err(what, rel, e)),
        }
    }

    /// What exists at `name` in `dir` (without following symlinks).
    fn existing(&self, dir: &OwnedFd, name: &OsStr) -> Option<SFlag> {
        fstatat(dir.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW)
            .ok()
            .map(|st| SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()))
    }

    /// Remove whatever is at `name` unless it is a directory and
    /// `keep_dir` is set.
    fn clear(&self, dir: &OwnedFd, name: &OsStr, rel: &Path, keep_dir: bool) -> Result<()> {
        match self.existing(dir, name) {
            None => Ok(()),
            Some(SFlag::S_IFDIR) if keep_dir => Ok(()),
            Some(SFlag::S_IFDIR) => {
                // Open directories may be (inside) the one removed.
                self.dirs.borrow_mut().clear();
                // Every parent of `rel` was opened with O_NOFOLLOW, so this
                // path names a real directory inside the layer.
                std::fs::remove_dir_all(self.dest.join(rel))
                    .map_err(|e| self.err(format!("replace directory {:?}: {e}", rel)))
            }
            Some(_) => unlinkat(dir.as_fd(), name, UnlinkatFlags::NoRemoveDir)
                .map_err(|e| self.sys_err("replace", rel, e)),
        }
    }

    fn meta<R: Read>(&self, entry: &mut tar::Entry<'_, R>) -> Result<Meta> {
        let h = entry.header();
        let mut m = Meta {
            // Empty numeric fields read as 0, as Go's archive/tar does.
            mode: h.mode().unwrap_or(0),
            uid: h.uid().unwrap_or(0),
            gid: h.gid().unwrap_or(0),
            mtime: h.mtime().unwrap_or(0),
            xattrs: Vec::new(),
        };
        if let Some(pax) = entry.pax_extensions().map_err(|e| self.tar_err(e))? {
            for ext in pax {
                let ext = ext.map_err(|e| self.tar_err(e))?;
                let Ok(key) = ext.key() else { continue };
                let num = || {
                    ext.value()
                        .ok()
                        .and_then(|v| v.split('.').next())
                        .and_then(|v| v.parse::<u64>().ok())
                };
                match key {
                    "uid" => m.uid = num().unwrap_or(m.uid),
                    "gid" => m.gid = num().unwrap_or(m.gid),
                    "mtime" => m.mtime = num().unwrap_or(m.mtime),
                    _ => {
                        if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                            m.xattrs
                                .push((name.to_string(), ext.value_bytes().to_vec()));
                        }
                    }
                }
            }
        }
        Ok(m)
    }

    fn apply<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        use tar::EntryType as T;
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink
        ) {
            return Ok(());
        }
        let raw_path = entry.path().map_err(|e| self.tar_err(e))?.into_owned();
        let rel = match clean_path(&raw_path).map_err(|e| self.err(e))? {
            Some(r) => r,
            None => return Ok(()), // the root entry ("./"): nothing to create
        };
        let meta = self.meta(entry)?;
        let name = rel.file_name().expect("non-empty").to_os_string();
        let name_bytes = name.as_bytes();

        // OCI whiteouts.
        if name_bytes.starts_with(WHITEOUT_PREFIX.as_bytes()) {
            return self.whiteout(&rel, &name);
        }

        let (dir, last) = self.open_parent(&rel, true)?;
        match kind {
            T::Directory => {
                let mk = || {
                    mkdirat(
                        dir.as_fd(),
                        last.as_os_str(),
                        Mode::from_bits_truncate(0o700),
                    )
                };
                match mk() {
                    Ok(()) => {}
                    Err(Errno::EEXIST) if self.existing(&dir, &last) == Some(SFlag::S_IFDIR) => {}
                    Err(Errno::EEXIST) => {
                        self.clear(&dir, &last, &rel, false)?;
                        mk().map_err(|e| self.sys_err("create directory", &rel, e))?;
                    }
                    Err(e) => return Err(self.sys_err("create directory", &rel, e)),
                }
            }
            T::Regular | T::Continuous | T::GNUSparse => {
                let fd = self.create_replacing(&dir, &last, &rel, "create file", || {
                    openat(
                        dir.as_fd(),
                        last.as_os_str(),
                        OFlag::O_CREAT
                            | OFlag::O_EXCL
                            | OFlag::O_WRONLY
                            | OFlag::O_NOFOLLOW
                            | OFlag::O_CLOEXEC,
                        Mode::from_bits_truncate(0o600),
                    )
                })?;
                let f = File::from(fd);
                self.copy_file(entry, &f)
                    .map_err(|e| self.err(format!("write {:?}: {e}", rel)))?;
                // Metadata through the open file: no more path lookups.
                return self.set_meta(&dir, &last, &rel, kind, &meta, Some(&f));
            }
            T::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(|e| self.tar_err(e))?
                    .ok_or_else(|| self.err(format!("symlink {:?} has no target", rel)))?
                    .into_owned();
                // The target is stored verbatim: it is only ever resolved
                // inside the container's own mount namespace and root.
                self.create_replacing(&dir, &last, &rel, "create symlink", || {
                    symlinkat(target.as_os_str(), dir.as_fd(), last.as_os_str())
                })?;
            }
            T::Link => {
                let target = entry
                    .link_name()
                    .map_err(|e| self.tar_err(e))?
                    .ok_or_else(|| self.err(format!("hardlink {:?} has no target", rel)))?
                    .into_owned();
                let trel = clean_path(&target)
                    .map_err(|e| self.err(format!("hardlink {:?}: target {e}", rel)))?
                    .ok_or_else(|| {
                        self.err(format!("hardlink {:?} points at the layer root", rel))
                    })?;
                let (tdir, tlast) = self.open_parent(&trel, false).map_err(|e| match e {
                    Error::Layer { reason, .. } => {
                        self.err(format!("hardlink {:?}: {reason}", rel))
                    }
                    other => other,
                })?;
                match self.existing(&tdir, &tlast) {
                    None => {
                        return Err(self.err(format!(
                            "hardlink {:?}: target {:?} does not exist in this layer",
                            rel, trel
                        )))
                    }
                    Some(SFlag::S_IFDIR) => {
                        return Err(self.err(format!(
                            "hardlink {:?}: target {:?} is a directory",
                            rel, trel
                        )))
                    }
                    Some(_) => {}
                }
                if trel == rel {
                    return Ok(());
                }
                self.create_replacing(&dir, &last, &rel, "create hardlink", || {
                    linkat(
                        tdir.as_fd(),
                        tlast.as_os_str(),
                        dir.as_fd(),
                        last.as_os_str(),
                        AtFlags::empty(),
                    )
                })?;
                // A hardlink shares its target's metadata.
                return Ok(());
            }
            T::Char | T::Block | T::Fifo => {
                let h = entry.header();
                let major = h.device_major().ok().flatten().unwrap_or(0);
                let minor = h.device_minor().ok().flatten().unwrap_or(0);
                let sflag = match kind {
                    T::Char => SFlag::S_IFCHR,
                    T::Block => SFlag::S_IFBLK,
                    _ => SFlag::S_IFIFO,
                };
                self.create_replacing(&dir, &last, &rel, "create device node", || {
                    mknodat(
                        dir.as_fd(),
                        last.as_os_str(),
                        sflag,
                        Mode::from_bits_truncate(0o600),
                        makedev(major as u64, minor as u64),
                    )
                })?;
            }
            other => {
                return Err(self.err(format!("entry {:?} has unsupported type {:?}", rel, other)))
            }
        }
        self.set_meta(&dir, &last, &rel, kind, &meta, None)
    }

    /// Copy a file's contents in large writes (the decompressor hands out
    /// at most its input buffer per read; `io::copy` would write 8 KiB at
    /// a time). No writeback is started: a snapshot is not synced (see
    /// [`crate::snapshot`]), and the disk's bandwidth goes to the blobs.
    fn copy_file(&mut self, mut src: impl Read, f: &File) -> io::Result<()> {
        const BUF: usize = 1 << 20;
        if self.buf.len() < BUF {
            self.buf.resize(BUF, 0);
        }
        let mut out = f;
        loop {
            let mut n = 0;
            while n < BUF / 2 {
                match src.read(&mut self.buf[n..]) {
                    Ok(0) => break,
                    Ok(k) => n += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if n == 0 {
                break;
            }
            out.write_all(&self.buf[..n])?;
        }
        Ok(())
    }

    fn whiteout(&mut self, rel: &Path, name: &OsStr) -> Result<()> {
        let name_bytes = name.as_bytes();
        if name_bytes == WHITEOUT_OPAQUE.as_bytes() {
            // Mark the parent directory opaque (creating it if needed).
            let parent = rel.parent().unwrap_or(Path::new(""));
            if parent.as_os_str().is_empty() {
                // Opaque root: overlay has no way to express it; every
                // lower layer is still visible. Docker ignores it too.
                return Ok(());
            }
            // Open the directory itself (and so its parents) safely.
            let (_fd, _) = self.open_parent(&parent.join("x"), true)?;
            let p = self.dest.join(parent);
            sys::lsetxattr(&p, OVERLAY_OPAQUE_XATTR, b"y")
                .map_err(|e| self.err(format!("mark {:?} opaque: {e}", parent)))?;
            return Ok(());
        }
        let target = &name_bytes[WHITEOUT_PREFIX.len()..];
        if target.starts_with(WHITEOUT_PREFIX.as_bytes()) {
            // Other `.wh..wh.` metadata (aufs hardlink dirs): not content.
            return Ok(());
        }
        if target.is_empty() || target == b"." || target == b".." {
            return Err(self.err(format!("invalid whiteout {:?}", rel)));
        }
        let hidden = rel.with_file_name(OsStr::from_bytes(target));
        let (dir, last) = self.open_parent(&hidden, true)?;
        if self.existing(&dir, &last).is_some() {
            // Something of this layer already occupies the name, which
            // hides the lower entry anyway.
            return Ok(());
        }
        mknodat(
            dir.as_fd(),
            last.as_os_str(),
            SFlag::S_IFCHR,
            Mode::empty(),
            makedev(0, 0),
        )
        .map_err(|e| self.sys_err("create whiteout", &hidden, e))
    }

    fn set_meta(
        &mut self,
        dir: &OwnedFd,
        name: &OsStr,
        rel: &Path,
        kind: tar::EntryType,
        m: &Meta,
        file: Option<&File>,
    ) -> Result<()> {
        let is_link = kind == tar::EntryType::Symlink;
        if self.opts.same_owner {
            let uid = u32::try_from(m.uid)
                .map_err(|_| self.err(format!("{:?}: uid {} out of range", rel, m.uid)))?;
            let gid = u32::try_from(m.gid)
                .map_err(|_| self.err(format!("{:?}: gid {} out of range", rel, m.gid)))?;
            let (u, g) = (Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)));
            match file {
                Some(f) => fchown(f, u, g),
                None => fchownat(dir.as_fd(), name, u, g, AtFlags::AT_SYMLINK_NOFOLLOW),
            }
            .map_err(|e| self.sys_err("chown", rel, e))?;
        }
        if !is_link {
            // After chown, which clears set-id bits. The entry is known not
            // to be a symlink, so following is moot.
            let mode = Mode::from_bits_truncate(m.mode & 0o7777);
            match file {
                Some(f) => fchmod(f, mode),
                None => fchmodat(dir.as_fd(), name, mode, FchmodatFlags::FollowSymlink),
            }
            .map_err(|e| self.sys_err("chmod", rel, e))?;
        }
        // xattrs after chown (chown drops security.capability).
        for (k, v) in &m.xattrs {
            if k.starts_with("trusted.overlay.") {
                continue;
            }
            let p = self.dest.join(rel);
            if let Err(e) = sys::lsetxattr(&p, k, v) {
                let ignorable = matches!(e.raw_os_error(), Some(libc::ENOTSUP) | Some(libc::EPERM))
                    && (!self.opts.same_owner || is_link);
                if !ignorable {
                    return Err(self.err(format!("set xattr {k} on {:?}: {e}", rel)));
                }
            }
        }
        if kind == tar::EntryType::Directory {
            self.dir_times.push((rel.to_path_buf(), m.mtime));
        } else {
            let t = TimeSpec::new(m.mtime as i64, 0);
            match file {
                Some(f) => futimens(f, &t, &t),
                None => utimensat(dir.as_fd(), name, &t, &t, UtimensatFlags::NoFollowSymlink),
            }
            .map_err(|e| self.sys_err("set times", rel, e))?;
        }
        Ok(())
    }

    /// Set directory mtimes last, deepest first, so later entries do not
    /// disturb them.
    fn finish(&mut self) -> Result<()> {
        let mut times = std::mem::take(&mut self.dir_times);
        times.sort_by_key(|(p, _)| std::cmp::Reverse(p.components().count()));
        for (rel, mtime) in times {
            // A later entry may have replaced or removed the directory.
            let Ok((dir, name)) = self.open_parent(&rel, false) else {
                continue;
            };
            let t = TimeSpec::new(mtime as i64, 0);
            match utimensat(
                dir.as_fd(),
                name.as_os_str(),
                &t,
                &t,
                UtimensatFlags::NoFollowSymlink,
            ) {
                Ok(()) | Err(Errno::ENOENT) => {}
                Err(e) => return Err(self.sys_err("set times", &rel, e)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    use tar::{EntryType, Header};

    /// Append an entry with a raw (unsanitised) name and link name.
    fn raw(
        b: &mut tar::Builder<Vec<u8>>,
        path: &str,
        kind: EntryType,
        link: Option<&str>,
        data: &[u8],
        mode: u32,
    ) {
        let mut h = Header::new_gnu();
        {
            let old = h.as_old_mut();
            old.name[..path.len()].copy_from_slice(path.as_bytes());
            if let Some(l) = link {
                old.linkname[..l.len()].copy_from_slice(l.as_bytes());
            }
        }
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_mtime(1_600_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }

    fn tar_of(f: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        f(&mut b);
        b.into_inner().unwrap()
    }

    fn unpack(data: &[u8], dest: &Path) -> Result<LayerStats> {
        unpack_layer(
            data,
            None,
            dest,
            &Digest::of_bytes(data),
            &UnpackOptions::default(),
        )
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn clean_path_rules() {
        let c = |s: &str| clean_path(Path::new(s));
        assert_eq!(c("/abs/x").unwrap(), Some(PathBuf::from("abs/x")));
        assert_eq!(c("./a/./b/").unwrap(), Some(PathBuf::from("a/b")));
        assert_eq!(c("a/../b").unwrap(), Some(PathBuf::from("b")));
        assert_eq!(c("./").unwrap(), None);
        assert!(c("../x").is_err());
        assert!(c("a/../../x").is_err());
        assert!(c("/../x").is_err());
    }

    #[test]
    fn unpacks_common_entry_types() {
        let data = tar_of(|b| {
            raw(b, "dir/", EntryType::Directory, None, b"", 0o750);
            raw(b, "dir/file", EntryType::Regular, None, b"hello", 0o644);
            raw(b, "dir/suid", EntryType::Regular, None, b"#!", 0o4755);
            raw(b, "dir/link", EntryType::Symlink, Some("file"), b"", 0o777);
            raw(
                b,
                "dir/abs-link",
                EntryType::Symlink,
                Some("/etc/passwd"),
                b"",
                0o777,
            );
            raw(b, "dir/hard", EntryType::Link, Some("dir/file"), b"", 0o644);
            raw(b, "fifo", EntryType::Fifo, None, b"", 0o600);
            raw(
                b,
                "implicit/parent/file",
                EntryType::Regular,
                None,
                b"x",
                0o600,
            );
        });
        let dir = tempfile::tempdir().unwrap();
        let s = unpack(&data, dir.path()).unwrap();
        assert_eq!(s.diff_id, Digest::of_bytes(&data));
        assert_eq!(s.uncompressed_size, data.len() as u64);
        assert_eq!(s.compression, Compression::None);
        assert_eq!(s.entries, 8);
        let p = dir.path();
        assert_eq!(std::fs::read(p.join("dir/file")).unwrap(), b"hello");
        let m = std::fs::metadata(p.join("dir/suid")).unwrap();
        assert_eq!(m.permissions().mode() & 0o7777, 0o4755);
        assert_eq!(
            std::fs::read_link(p.join("dir/link")).unwrap(),
            Path::new("file")
        );
        assert_eq!(
            std::fs::read_link(p.join("dir/abs-link")).unwrap(),
            Path::new("/etc/passwd")
        );
        let a = std::fs::metadata(p.join("dir/file")).unwrap();
        let h = std::fs::metadata(p.join("dir/hard")).unwrap();
        assert_eq!(a.ino(), h.ino());
        assert_eq!(a.nlink(), 2);
        assert!(std::fs::symlink_metadata(p.join("fifo"))
            .unwrap()
            .file_type()
            .is_fifo());
        let dm = std::fs::metadata(p.join("dir")).unwrap();
        assert_eq!(dm.permissions().mode() & 0o7777, 0o750);
        assert_eq!(
            dm.mtime(),
            1_600_000_000,
            "dir mtime set after its contents"
        );
        assert_eq!(a.mtime(), 1_600_000_000);
        assert_eq!(std::fs::read(p.join("implicit/parent/file")).unwrap(), b"x");
    }

    #[test]
    fn detects_compression_by_magic() {
        let data = tar_of(|b| raw(b, "f", EntryType::Regular, None, b"content", 0o644));
        let want = Digest::of_bytes(&data);
        let gz = gzip(&data);
        let zs = zstd::encode_all(&data[..], 3).unwrap();
        for (blob, mt, comp) in [
            (
                &gz,
                Some(crate::manifest::media_type::OCI_LAYER_GZIP),
                Compression::Gzip,
            ),
            (
                &zs,
                Some(crate::manifest::media_type::OCI_LAYER_ZSTD),
                Compression::Zstd,
            ),
            // mislabelled: magic wins
            (
                &gz,
                Some(crate::manifest::media_type::OCI_LAYER_TAR),
                Compression::Gzip,
            ),
            (
                &data,
                Some(crate::manifest::media_type::DOCKER_LAYER_GZIP),
                Compression::None,
            ),
            (&zs, None, Compression::Zstd),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let s = unpack_layer(
                &blob[..],
                mt,
                dir.path(),
                &Digest::of_bytes(blob),
                &UnpackOptions::default(),
            )
            .unwrap();
            assert_eq!(s.diff_id, want);
            assert_eq!(s.compression, comp);
            assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), b"content");
        }
        let dir = tempfile::tempdir().unwrap();
        let e = unpack_layer(
            &gz[..],
            Some("application/x-weird"),
            dir.path(),
            &Digest::of_bytes(&gz),
            &UnpackOptions::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("application/x-weird"), "{e}");
        let bz = b"BZh91AY&SY..........";
        let e = unpack(bz, dir.path()).unwrap_err().to_string();
        assert!(e.contains("bzip2"), "{e}");
    }

    #[test]
    fn whiteouts_become_overlay_form() {
        if !berth_testkit::require_root("mknod and trusted xattrs") {
            return;
        }
        let data = tar_of(|b| {
            raw(b, "etc/", EntryType::Directory, None, b"", 0o755);
            raw(b, "etc/.wh.passwd", EntryType::Regular, None, b"", 0o644);
            raw(
                b,
                "opaque/.wh..wh..opq",
                EntryType::Regular,
                None,
                b"",
                0o644,
            );
            raw(b, "opaque/new", EntryType::Regular, None, b"n", 0o644);
            raw(b, "deep/er/.wh.gone", EntryType::Regular, None, b"", 0o644);
        });
        let dir = tempfile::tempdir().unwrap();
        unpack(&data, dir.path()).unwrap();
        let p = dir.path();
        let wh = std::fs::symlink_metadata(p.join("etc/passwd")).unwrap();
        assert!(wh.file_type().is_char_device());
        assert_eq!(wh.rdev(), 0);
        assert!(!p.join("etc/.wh.passwd").exists());
        assert!(std::fs::symlink_metadata(p.join("deep/er/gone"))
            .unwrap()
            .file_type()
            .is_char_device());
        assert_eq!(
            sys::lgetxattr(&p.join("opaque"), OVERLAY_OPAQUE_XATTR)
                .unwrap()
                .as_deref(),
            Some(&b"y"[..])
        );
        assert!(!p.join("opaque/.wh..wh..opq").exists());
        assert_eq!(std::fs::read(p.join("opaque/new")).unwrap(), b"n");
    }

    fn assert_refused(data: &[u8], what: &str) -> tempfile::TempDir {
        let outer = tempfile::tempdir().unwrap();
        let dest = outer.path().join("layer");
        std::fs::create_dir(&dest).unwrap();
        let e = unpack(data, &dest).expect_err(what).to_string();
        assert!(e.starts_with("layer sha256:"), "{what}: {e}");
        // nothing was written beside the layer dir
        let names: Vec<_> = std::fs::read_dir(outer.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![OsString::from("layer")], "{what}");
        outer
    }

    #[test]
    fn refuses_dotdot_escape() {
        let data = tar_of(|b| raw(b, "../../etc/x", EntryType::Regular, None, b"pwned", 0o644));
        assert_refused(&data, "../../etc/x");
        let data = tar_of(|b| raw(b, "a/../../x", EntryType::Regular, None, b"pwned", 0o644));
        assert_refused(&data, "a/../../x");
    }

    #[test]
    fn absolute_paths_are_contained() {
        let data = tar_of(|b| raw(b, "/abs/file", EntryType::Regular, None, b"in", 0o644));
        let outer = tempfile::tempdir().unwrap();
        let dest = outer.path().join("layer");
        std::fs::create_dir(&dest).unwrap();
        unpack(&data, &dest).unwrap();
        assert_eq!(std::fs::read(dest.join("abs/file")).unwrap(), b"in");
        assert!(!Path::new("/abs/file").exists());
    }

    #[test]
    fn refuses_writing_through_symlinked_parent() {
        let data = tar_of(|b| {
            raw(b, "evil", EntryType::Symlink, Some("/"), b"", 0o777);
            raw(
                b,
                "evil/etc/passwd",
                EntryType::Regular,
                None,
                b"pwned",
                0o644,
            );
        });
        assert_refused(&data, "evil -> / then evil/etc/passwd");
        let outer = tempfile::tempdir().unwrap();
        let data = tar_of(|b| {
            let target = outer.path().to_str().unwrap().to_string();
            raw(b, "up", EntryType::Symlink, Some(".."), b"", 0o777);
            raw(b, "up/escaped", EntryType::Regular, None, b"pwned", 0o644);
            let _ = target;
        });
        assert_refused(&data, "up -> .. then up/escaped");
        // a directory entry through a symlink, too
        let data = tar_of(|b| {
            raw(b, "evil", EntryType::Symlink, Some("/tmp"), b"", 0o777);
            raw(b, "evil/newdir/", EntryType::Directory, None, b"", 0o755);
        });
        assert_refused(&data, "dir through symlink");
    }

    #[test]
    fn refuses_hostile_hardlinks() {
        let data = tar_of(|b| raw(b, "h", EntryType::Link, Some("../outside"), b"", 0o644));
        assert_refused(&data, "hardlink to ../outside");
        let data = tar_of(|b| {
            raw(b, "etc", EntryType::Symlink, Some("/etc"), b"", 0o777);
            raw(b, "h", EntryType::Link, Some("etc/passwd"), b"", 0o644);
        });
        assert_refused(&data, "hardlink through symlink");
        let data = tar_of(|b| raw(b, "h", EntryType::Link, Some("/etc/passwd"), b"", 0o644));
        let e = assert_refused(&data, "hardlink to absolute missing target");
        drop(e);
    }

    #[test]
    fn later_entries_replace_earlier_ones() {
        let data = tar_of(|b| {
            raw(b, "x", EntryType::Symlink, Some("/etc/passwd"), b"", 0o777);
            raw(b, "x", EntryType::Regular, None, b"file now", 0o644);
            raw(b, "d/", EntryType::Directory, None, b"", 0o755);
            raw(b, "d/inner", EntryType::Regular, None, b"", 0o644);
            raw(b, "d", EntryType::Regular, None, b"not a dir", 0o644);
            raw(b, "e/sub/", EntryType::Directory, None, b"", 0o755);
            raw(b, "e", EntryType::Regular, None, b"file over dir", 0o644);
        });
        let dir = tempfile::tempdir().unwrap();
        unpack(&data, dir.path()).unwrap();
        assert_eq!(std::fs::read(dir.path().join("x")).unwrap(), b"file now");
        assert_eq!(std::fs::read(dir.path().join("d")).unwrap(), b"not a dir");
        assert_eq!(
            std::fs::read(dir.path().join("e")).unwrap(),
            b"file over dir"
        );
    }

    #[test]
    fn ownership_devices_and_xattrs() {
        if !berth_testkit::require_root("chown, mknod and xattrs") {
            return;
        }
        let mut b = tar::Builder::new(Vec::new());
        let mut h = Header::new_ustar();
        h.set_path("owned").unwrap();
        h.set_entry_type(EntryType::Regular);
        h.set_size(2);
        h.set_mode(0o2755);
        h.set_uid(1234);
        h.set_gid(5678);
        h.set_cksum();
        let cap = vec![
            1u8, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        b.append_pax_extensions([
            ("SCHILY.xattr.security.capability", &cap[..]),
            ("SCHILY.xattr.user.note", &b"hi"[..]),
            ("SCHILY.xattr.trusted.overlay.redirect", &b"/etc"[..]),
        ])
        .unwrap();
        b.append(&h, &b"ab"[..]).unwrap();
        let mut h = Header::new_ustar();
        h.set_path("null").unwrap();
        h.set_entry_type(EntryType::Char);
        h.set_device_major(1).unwrap();
        h.set_device_minor(3).unwrap();
        h.set_mode(0o666);
        h.set_size(0);
        h.set_cksum();
        b.append(&h, &b""[..]).unwrap();
        let mut h = Header::new_ustar();
        h.set_path("ln").unwrap();
        h.set_entry_type(EntryType::Symlink);
        h.set_link_name("owned").unwrap();
        h.set_uid(42);
        h.set_gid(43);
        h.set_size(0);
        h.set_cksum();
        b.append(&h, &b""[..]).unwrap();
        let data = b.into_inner().unwrap();
        let dir = tempfile::tempdir().unwrap();
        unpack(&data, dir.path()).unwrap();
        let p = dir.path();
        let m = std::fs::metadata(p.join("owned")).unwrap();
        assert_eq!((m.uid(), m.gid()), (1234, 5678));
        assert_eq!(m.permissions().mode() & 0o7777, 0o2755);
        assert_eq!(
            sys::lgetxattr(&p.join("owned"), "security.capability").unwrap(),
            Some(cap)
        );
        assert_eq!(
            sys::lgetxattr(&p.join("owned"), "trusted.overlay.redirect").unwrap(),
            None
        );
        if let Ok(Some(v)) = sys::lgetxattr(&p.join("owned"), "user.note") {
            assert_eq!(v, b"hi");
        }
        let n = std::fs::symlink_metadata(p.join("null")).unwrap();
        assert!(n.file_type().is_char_device());
        assert_eq!(n.rdev(), makedev(1, 3));
        let l = std::fs::symlink_metadata(p.join("ln")).unwrap();
        assert_eq!((l.uid(), l.gid()), (42, 43));
    }
}

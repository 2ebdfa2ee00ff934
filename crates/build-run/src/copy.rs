//! COPY/ADD payloads: the files a step takes from a context (the build
//! context or a stage's files extracted into a temp directory) as a tar
//! whose paths are the destinations in the image, with docker's directory
//! semantics (a directory source copies its contents; a file goes into a
//! destination directory under its name, or becomes the destination), the
//! owner and mode flags applied, and ADD's local archives unpacked.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;

use build::context::{Context, Kind};

/// Owner and mode rules of one COPY/ADD.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attrs {
    /// `--chown` resolved (None: root for context files, kept for files of
    /// a stage or image).
    pub owner: Option<(u32, u32)>,
    /// Keep the source's owner when `owner` is None.
    pub keep_owner: bool,
    /// `--chmod` (octal).
    pub mode: Option<u32>,
}

/// Which files of the sources a COPY/ADD takes and where.
#[derive(Default)]
pub struct Select<'a> {
    /// `--exclude` patterns, matched relative to each source.
    pub exclude: Option<&'a build::ignore::PatternMatcher>,
    /// `--parents`: keep each match's path under the destination.
    pub parents: bool,
}

/// One file to put in the image.
pub struct Payload {
    tar: tar::Builder<File>,
    /// Destinations already written (no duplicate directory entries).
    seen: BTreeSet<String>,
    /// Those that are directories.
    dirs: BTreeSet<String>,
    /// The time of what the step makes (directories, inline files).
    mtime: u64,
}

/// `p` cleaned inside `/`, without the leading slash (`""` for the root).
fn clean_abs(p: &str) -> String {
    berth_util::gostr::clean_path(&format!("/{p}"))
        .trim_start_matches('/')
        .to_string()
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    }
}

fn parent(p: &str) -> &str {
    p.rsplit_once('/').map_or("", |(d, _)| d)
}

fn base(p: &str) -> &str {
    p.rsplit_once('/').map_or(p, |(_, b)| b)
}

/// A source's matched roots: the entries `resolve` returned whose parent
/// it did not return (a directory brings its whole subtree), or the whole
/// context for `.`.
fn roots(resolved: &[String], src: &str) -> Vec<String> {
    if clean_abs(src).is_empty() {
        return vec![String::new()];
    }
    let set: BTreeSet<&str> = resolved.iter().map(|s| s.as_str()).collect();
    resolved
        .iter()
        .filter(|p| {
            let par = parent(p);
            par.is_empty() || !set.contains(par)
        })
        .cloned()
        .collect()
}

impl Payload {
    pub fn new(file: File, mtime: u64) -> Payload {
        let mut tar = tar::Builder::new(file);
        tar.follow_symlinks(false);
        Payload {
            tar,
            seen: BTreeSet::new(),
            dirs: BTreeSet::new(),
            mtime,
        }
    }

    /// Records a destination written (false: already written). A name
    /// of the layer format's whiteouts (`.wh.*`) is refused: in the layer
    /// it would delete files of the image below instead of being copied.
    fn note(&mut self, dest: &str) -> io::Result<bool> {
        let base = dest.rsplit('/').next().unwrap_or(dest);
        if base.starts_with(".wh.") {
            return Err(io::Error::other(format!(
                "{dest}: names starting with .wh. are reserved for layer whiteouts"
            )));
        }
        Ok(self.seen.insert(dest.to_string()))
    }

    /// A directory entry (for a missing parent of the destination).
    pub fn dir(&mut self, dest: &str, mode: u32, owner: (u32, u32)) -> io::Result<()> {
        if !self.note(dest)? {
            return Ok(());
        }
        self.dirs.insert(dest.to_string());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(mode & 0o7777);
        h.set_uid(owner.0 as u64);
        h.set_gid(owner.1 as u64);
        h.set_size(0);
        h.set_mtime(self.mtime);
        self.tar
            .append_data(&mut h, format!("{dest}/"), io::empty())
    }

    /// A regular file with `data`.
    pub fn bytes(
        &mut self,
        dest: &str,
        data: &[u8],
        mode: u32,
        owner: (u32, u32),
    ) -> io::Result<()> {
        self.note(dest)?;
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(mode & 0o7777);
        h.set_uid(owner.0 as u64);
        h.set_gid(owner.1 as u64);
        h.set_size(data.len() as u64);
        h.set_mtime(self.mtime);
        self.tar.append_data(&mut h, dest, data)
    }

    /// A regular file of `len` bytes read from `f` (ADD's URLs).
    pub fn file(
        &mut self,
        dest: &str,
        f: &mut File,
        len: u64,
        mode: u32,
        owner: (u32, u32),
        mtime: u64,
    ) -> io::Result<()> {
        self.note(dest)?;
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(mode & 0o7777);
        h.set_uid(owner.0 as u64);
        h.set_gid(owner.1 as u64);
        h.set_size(len);
        h.set_mtime(mtime);
        self.tar.append_data(&mut h, dest, f.take(len))
    }

    /// One context entry `rel` at `dest`.
    fn entry(&mut self, ctx: &Context, rel: &str, dest: &str, a: &Attrs) -> io::Result<()> {
        let e = &ctx.entries()[rel];
        let owner = a
            .owner
            .unwrap_or(if a.keep_owner { (e.uid, e.gid) } else { (0, 0) });
        let mode = a.mode.unwrap_or(e.mode & 0o7777);
        let mtime = std::fs::symlink_metadata(ctx.root().join(rel))
            .map(|m| std::os::unix::fs::MetadataExt::mtime(&m).max(0) as u64)
            .unwrap_or(0);
        let mut h = tar::Header::new_gnu();
        h.set_uid(owner.0 as u64);
        h.set_gid(owner.1 as u64);
        h.set_mtime(mtime);
        self.note(dest)?;
        match &e.kind {
            Kind::Dir => {
                self.dirs.insert(dest.to_string());
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(mode);
                h.set_size(0);
                self.tar
                    .append_data(&mut h, format!("{dest}/"), io::empty())
            }
            Kind::Symlink(t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                self.tar.append_link(&mut h, dest, t)
            }
            Kind::File => {
                // Never follow a link swapped in since the walk.
                let f = std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(ctx.root().join(rel))?;
                let len = f.metadata()?.len();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(mode);
                h.set_size(len);
                self.tar.append_data(&mut h, dest, f.take(len))
            }
            Kind::Other => Err(io::Error::other(format!(
                "{rel}: not a file, directory or symlink"
            ))),
        }
    }

    /// The sources of one COPY/ADD from `ctx` to `dest` (clean, relative
    /// to `/`); `dest_dir`: the destination is a directory. `unpack`: ADD's
    /// local archives are extracted into `dest`. `sel`: `--exclude` and
    /// `--parents`. Returns how many entries.
    #[allow(clippy::too_many_arguments)]
    pub fn sources(
        &mut self,
        ctx: &Context,
        sources: &[String],
        dest: &str,
        dest_dir: bool,
        a: &Attrs,
        unpack: bool,
        sel: &Select,
    ) -> Result<usize, String> {
        let mut n = 0;
        let excluded = |rel: &str| -> Result<bool, String> {
            match sel.exclude {
                Some(m) if !rel.is_empty() => m
                    .matches_or_parent_matches(rel)
                    .map_err(|e| format!("--exclude: {e}")),
                _ => Ok(false),
            }
        };
        for src in sources {
            // `--parents`: the path from the pivot (`/./`, else the
            // context's root) down to each match is kept.
            let (pivot, src) = match src.split_once("/./") {
                Some((p, rest)) if sel.parents => (clean_abs(p), format!("{p}/{rest}")),
                _ => (String::new(), src.clone()),
            };
            let kept = |r: &str| -> String {
                if pivot.is_empty() {
                    r.to_string()
                } else {
                    r.strip_prefix(&format!("{pivot}/"))
                        .unwrap_or(r)
                        .to_string()
                }
            };
            let resolved = ctx.resolve(&src).map_err(|e| e.to_string())?;
            for r in roots(&resolved, &src) {
                let is_dir =
                    r.is_empty() || ctx.entries().get(&r).is_some_and(|e| e.kind == Kind::Dir);
                // A match itself is tested by its name (BuildKit's
                // `COPY --exclude=*.txt hom* /d/`).
                if excluded(base(&r))? && !r.is_empty() {
                    continue;
                }
                let root_dest = if sel.parents {
                    // The match's parents as in the context.
                    let k = kept(&r);
                    let mut at = String::new();
                    let comps: Vec<&str> = k.split('/').filter(|c| !c.is_empty()).collect();
                    for c in comps.iter().take(comps.len().saturating_sub(1)) {
                        at = join(&at, c);
                        let rel = join(&pivot, &at);
                        if self.seen.contains(&join(dest, &at)) {
                            continue;
                        }
                        if ctx.entries().contains_key(&rel) {
                            self.entry(ctx, &rel, &join(dest, &at), a)
                                .map_err(|e| named(ctx, &rel, e))?;
                        }
                    }
                    join(dest, &k)
                } else if is_dir {
                    dest.to_string()
                } else if dest_dir {
                    join(dest, base(&r))
                } else {
                    dest.to_string()
                };
                if is_dir {
                    if sel.parents && !r.is_empty() && !self.seen.contains(&root_dest) {
                        self.entry(ctx, &r, &root_dest, a)
                            .map_err(|e| named(ctx, &r, e))?;
                        n += 1;
                    }
                    let prefix = if r.is_empty() {
                        String::new()
                    } else {
                        format!("{r}/")
                    };
                    for p in resolved.iter().filter(|p| p.starts_with(&prefix)) {
                        let rel = &p[prefix.len()..];
                        if excluded(rel)? {
                            continue;
                        }
                        let d = join(&root_dest, rel);
                        self.entry(ctx, p, &d, a).map_err(|e| named(ctx, p, e))?;
                        n += 1;
                    }
                    continue;
                }
                if unpack && ctx.entries()[&r].kind == Kind::File {
                    if let Some(k) = self
                        .archive(ctx, &r, dest, a)
                        .map_err(|e| named(ctx, &r, e))?
                    {
                        n += k;
                        continue;
                    }
                }
                self.entry(ctx, &r, &root_dest, a)
                    .map_err(|e| named(ctx, &r, e))?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// ADD's auto-extraction: a tar (plain, gzip, bzip2, xz or zstd)
    /// unpacked into `dest`;
    /// `None` when the file is no archive (then copied as a file).
    fn archive(
        &mut self,
        ctx: &Context,
        rel: &str,
        dest: &str,
        a: &Attrs,
    ) -> io::Result<Option<usize>> {
        // Never follow a link swapped in since the walk (as `entry`).
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(ctx.root().join(rel))?;
        let mut head = [0u8; 512];
        let mut got = 0;
        while got < head.len() {
            let k = f.read(&mut head[got..])?;
            if k == 0 {
                break;
            }
            got += k;
        }
        f.rewind()?;
        let mut src = Decompressed::new(f, &head[..got])?;
        // A tar (docker's archive sniffing, on the decompressed head);
        // anything else, compressed or not, and a compressed stream that
        // does not decode, is copied as it is (BuildKit).
        let mut head = Vec::with_capacity(512);
        let peeked = (&mut src.r).take(512).read_to_end(&mut head);
        if peeked.is_err() || head.len() < 262 || &head[257..262] != b"ustar" {
            let _ = src.finish();
            return Ok(None);
        }
        let extracted = self.extract(io::Cursor::new(head).chain(&mut src.r), dest, a);
        // The decoder's own error (a corrupt stream) before the tar's.
        src.finish()?;
        extracted.map(Some)
    }

    /// The entries of tar `r` added under `dest`; how many.
    fn extract(&mut self, r: impl Read, dest: &str, a: &Attrs) -> io::Result<usize> {
        let mut ar = tar::Archive::new(r);
        let mut n = 0;
        for e in ar.entries()? {
            let mut e = e?;
            let path = e.path()?.to_string_lossy().into_owned();
            let rel_in = clean_abs(&path);
            if rel_in.is_empty() {
                continue;
            }
            let d = join(dest, &rel_in);
            let mut h = e.header().clone();
            if let Some((u, g)) = a.owner {
                h.set_uid(u as u64);
                h.set_gid(g as u64);
            }
            self.note(&d)?;
            match h.entry_type() {
                tar::EntryType::Symlink => {
                    let t = e
                        .link_name()?
                        .map(|t| t.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    self.tar.append_link(&mut h, &d, t)?;
                }
                tar::EntryType::Link => {
                    let t = e
                        .link_name()?
                        .map(|t| join(dest, &clean_abs(&t.to_string_lossy())))
                        .unwrap_or_default();
                    self.tar.append_link(&mut h, &d, t)?;
                }
                tar::EntryType::Directory => {
                    self.dirs.insert(d.clone());
                    self.tar.append_data(&mut h, format!("{d}/"), io::empty())?
                }
                _ => {
                    let size = h.size()?;
                    self.tar.append_data(&mut h, &d, (&mut e).take(size))?;
                }
            }
            n += 1;
        }
        Ok(n)
    }

    /// Whether destination `p` was written as a directory.
    pub fn is_dir(&self, p: &str) -> bool {
        self.dirs.contains(p)
    }

    /// The destinations written so far.
    pub fn paths(&self) -> &BTreeSet<String> {
        &self.seen
    }

    /// The tar, rewound.
    pub fn finish(self) -> io::Result<File> {
        let mut f = self.tar.into_inner()?;
        f.flush()?;
        f.rewind()?;
        Ok(f)
    }
}

/// An ADD source as a stream, decompressed when its head is the magic of
/// gzip, bzip2, xz or zstd. xz (lzma-rs decodes into a writer) is decoded
/// by a thread into a bounded channel, and the decoding stops when the
/// reader goes. lzma-rs holds each decoded xz block whole in memory before
/// writing it (a file of one block: the whole file), with no limit: an
/// `.xz` in a context can ask for a lot of memory (left: a streaming xz
/// decoder with a memory limit would need liblzma).
struct Decompressed {
    r: Box<dyn Read>,
    xz: Option<std::thread::JoinHandle<io::Result<()>>>,
}

impl Decompressed {
    fn new(f: File, h: &[u8]) -> io::Result<Decompressed> {
        let r: Box<dyn Read> = if h.starts_with(&[0x1f, 0x8b]) {
            Box::new(flate2::read::GzDecoder::new(f))
        } else if h.starts_with(b"BZh") {
            Box::new(bzip2::read::BzDecoder::new(f))
        } else if h.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
            let xz = std::thread::Builder::new()
                .name("add-xz".into())
                .spawn(move || {
                    let mut w = io::BufWriter::with_capacity(64 << 10, ChanWriter(tx));
                    lzma_rs::xz_decompress(&mut io::BufReader::new(f), &mut w).map_err(
                        |e| match e {
                            lzma_rs::error::Error::IoError(e) => e,
                            e => io::Error::other(format!("xz: {e}")),
                        },
                    )?;
                    w.flush()
                })?;
            return Ok(Decompressed {
                r: Box::new(ChanReader {
                    rx,
                    buf: Vec::new(),
                    pos: 0,
                }),
                xz: Some(xz),
            });
        } else if h.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Box::new(zstd::stream::read::Decoder::new(f)?)
        } else {
            Box::new(f)
        };
        Ok(Decompressed { r, xz: None })
    }

    /// Ends the stream: the xz thread's error, other than the reader
    /// having gone (the tar ended before the stream did).
    fn finish(self) -> io::Result<()> {
        drop(self.r);
        match self.xz.map(|t| t.join()) {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
            Some(Ok(Err(e))) => Err(e),
            Some(Err(_)) => Err(io::Error::other("xz: the decoder failed")),
        }
    }
}

/// The writing end of a decoder thread's channel.
struct ChanWriter(std::sync::mpsc::SyncSender<Vec<u8>>);

impl Write for ChanWriter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        if b.is_empty() {
            return Ok(0);
        }
        // At most 64 KiB a message: lzma-rs hands over a whole decoded
        // block in one write, which must not be copied whole again.
        let n = b.len().min(64 << 10);
        self.0
            .send(b[..n].to_vec())
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The reading end: the chunks in order, EOF once the writer is gone.
struct ChanReader {
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for ChanReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            match self.rx.recv() {
                Ok(b) => {
                    self.buf = b;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// An error of context entry `rel`, naming it; a file gone since the
/// context was walked (the context changed or was removed while a step
/// ran) is named by its host path.
fn named(ctx: &Context, rel: &str, e: io::Error) -> String {
    if e.kind() != io::ErrorKind::NotFound {
        return format!("{rel}: {e}");
    }
    let p = ctx.root().join(rel);
    let p = std::path::absolute(&p).unwrap_or(p);
    format!(
        "the build context changed during the build: {}: no such file or directory",
        p.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_of_sources() {
        let r = vec!["a".to_string(), "a/b".into(), "a/b/c".into(), "x".into()];
        assert_eq!(roots(&r, "*"), vec!["a", "x"]);
        assert_eq!(roots(&r, "."), vec![""]);
        assert_eq!(roots(&r[1..3], "a/b"), vec!["a/b"]);
        assert_eq!(clean_abs("/a/./b/../c/"), "a/c");
    }

    /// xz is decoded as it is read: the reader gone after the head, the
    /// decoder stops; a stream cut short is the decoder's error.
    #[test]
    fn xz_streams_and_stops_with_its_reader() {
        let data = vec![7u8; 1 << 20];
        let mut xz = vec![];
        lzma_rs::xz_compress(&mut &data[..], &mut xz).unwrap();
        let file = |b: &[u8]| {
            let mut f = tempfile::tempfile().unwrap();
            f.write_all(b).unwrap();
            f.rewind().unwrap();
            f
        };
        let mut d = Decompressed::new(file(&xz), &xz[..6]).unwrap();
        let mut head = [0u8; 512];
        d.r.read_exact(&mut head).unwrap();
        assert_eq!(head, [7u8; 512]);
        d.finish().unwrap();
        let cut = &xz[..xz.len() / 2];
        let mut d = Decompressed::new(file(cut), &cut[..6]).unwrap();
        let mut all = vec![];
        d.r.read_to_end(&mut all).unwrap();
        assert!(all.len() < data.len());
        assert!(d.finish().is_err());
    }
}

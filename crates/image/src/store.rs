//! Content-addressed blob store: `<root>/blobs/sha256/<hex>`.
//!
//! Blobs are streamed into `<root>/tmp/` (same filesystem), hashed on the
//! way, verified, fsynced and renamed into place; the directory is then
//! fsynced. A blob is visible only once verified. Concurrent writers of the
//! same blob are harmless: rename is atomic and the content identical.
//! Temp files left by a killed process are never read and are removed by
//! garbage collection.
//!
//! Downloads that may be resumed write to `<root>/tmp/partial/<hex>`
//! instead (see [`ContentStore::resumable_writer`]): the bytes received so
//! far survive a failed or killed pull, and the next writer of that digest
//! re-hashes them and continues after them. A partial file is never read
//! as a blob; it is renamed into `blobs/` only once complete and verified,
//! removed on a digest or size mismatch, and cleaned by garbage collection.
//! A partial nobody came back for expires: each pull first removes those
//! last written more than [`PARTIAL_MAX_AGE`] ago that no writer holds
//! ([`ContentStore::expire_partials`]), as containerd expires stale ingests.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::digest::{Digest, Hasher};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{mkdir_all, tree_size, Writeback};
use berth_util::fs::{fsync_dir, temp_owner_alive, unique_name};
use berth_util::lock::{FileLock, LockKind};

/// Name of the lease lock file (see [`crate::images`]).
pub const GC_LOCK: &str = "gc.lock";

/// The prefixes of the temp entries processes make in `tmp/` (blobs being
/// written, snapshots being unpacked, snapshots being deleted).
pub(crate) const TEMP_PREFIXES: [&str; 3] = ["blob-", "snap-", "del-"];

/// Directory under the temp area that holds resumable partial blobs.
pub const PARTIAL_DIR: &str = "partial";

/// How long a partial download waits for its retry: one last written
/// longer ago than this is removed by the next pull
/// ([`ContentStore::expire_partials`]).
pub const PARTIAL_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// The blob store rooted at a berth state directory.
#[derive(Debug, Clone)]
pub struct ContentStore {
    root: PathBuf,
    blobs: PathBuf,
    tmp: PathBuf,
}

impl ContentStore {
    /// Use `root` (creating `blobs/sha256` and `tmp` if needed).
    pub fn new(root: impl Into<PathBuf>) -> Result<ContentStore> {
        let root = root.into();
        let blobs = mkdir_all(&root.join("blobs").join("sha256"))?;
        let tmp = mkdir_all(&root.join("tmp"))?;
        Ok(ContentStore { root, blobs, tmp })
    }

    /// The store root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob with this digest lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.blobs.join(digest.hex())
    }

    /// Take a shared lease that keeps garbage collection away. The first
    /// lease a process takes also reclaims what killed processes left in
    /// `tmp/` ([`ContentStore::reclaim_dead_temp`]).
    pub fn lease(&self) -> Result<FileLock> {
        static RECLAIMED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        let lease = FileLock::acquire(&self.root.join(GC_LOCK), LockKind::Shared)?;
        if !RECLAIMED.swap(true, std::sync::atomic::Ordering::Relaxed) {
            let _ = self.reclaim_dead_temp();
        }
        Ok(lease)
    }

    /// Start writing a blob. `expected` and `size`, if given, are verified
    /// by [`BlobWriter::commit`].
    pub fn writer(&self, expected: Option<Digest>, size: Option<u64>) -> Result<BlobWriter> {
        let lease = self.lease()?;
        let tmp_path = self.tmp.join(unique_name("blob-"));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp_path)
            .ctx(|| format!("create temp blob {}", tmp_path.display()))?;
        Ok(BlobWriter {
            store: self.clone(),
            file: Some(file),
            tmp_path,
            hasher: Hasher::new(),
            writeback: Writeback::default(),
            expected,
            expected_size: size,
            partial: None,
            _lease: lease,
        })
    }

    /// Start (or continue) writing the blob `expected` of `size` bytes in
    /// its partial file `tmp/partial/<hex>`, which outlives the writer
    /// unless it is committed or found wrong. The bytes already there
    /// ([`BlobWriter::resume_offset`]) must be replayed through
    /// [`BlobWriter::replay`] (which hashes them) before anything is
    /// written, or dropped with [`BlobWriter::restart`]. A partial longer
    /// than `size` is discarded. If another writer holds this digest's
    /// partial (a concurrent pull), this is a plain [`ContentStore::writer`].
    pub fn resumable_writer(&self, expected: Digest, size: u64) -> Result<BlobWriter> {
        let dir = mkdir_all(&self.tmp.join(PARTIAL_DIR))?;
        let lease = self.lease()?;
        let tmp_path = dir.join(expected.hex());
        // The partial file is its own lock; only its holder renames or
        // removes it. A file locked after its holder did so is no longer
        // at the path: open again.
        let (mut file, lock) = loop {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&tmp_path)
                .ctx(|| format!("open partial blob {}", tmp_path.display()))?;
            let dup = file
                .try_clone()
                .ctx(|| format!("dup partial blob {}", tmp_path.display()))?;
            let Some(lock) = FileLock::try_lock(dup, &tmp_path, LockKind::Exclusive)? else {
                // Another pull is downloading this blob right now.
                drop(lease);
                return self.writer(Some(expected), Some(size));
            };
            let same = match (fs::metadata(&tmp_path), file.metadata()) {
                (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
                _ => false,
            };
            if same {
                break (file, lock);
            }
        };
        let mut have = file
            .metadata()
            .ctx(|| format!("stat partial blob {}", tmp_path.display()))?
            .len();
        if have > size {
            file.set_len(0)
                .ctx(|| format!("truncate partial blob {}", tmp_path.display()))?;
            have = 0;
        }
        file.seek(SeekFrom::Start(have))
            .ctx(|| format!("seek partial blob {}", tmp_path.display()))?;
        Ok(BlobWriter {
            store: self.clone(),
            file: Some(file),
            tmp_path,
            hasher: Hasher::new(),
            writeback: Writeback::starting_at(have),
            expected: Some(expected),
            expected_size: Some(size),
            partial: Some(PartialState {
                _lock: lock,
                on_disk: have,
                keep: true,
            }),
            _lease: lease,
        })
    }

    /// Remove the partial downloads (`tmp/partial/<hex>`) last written
    /// more than `max_age` ago that no writer holds; returns how many went.
    /// One readdir (nothing else for a store without partials). A partial
    /// is removed only under its own lock (taken without waiting: one an
    /// in-flight pull holds is left alone), so a writer that opened it
    /// just before finds it gone and starts a new one. Carries on past a
    /// file it cannot remove and returns the first such error.
    pub fn expire_partials(&self, max_age: Duration) -> Result<usize> {
        let dir = self.tmp.join(PARTIAL_DIR);
        let entries = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(Error::io(format!("list {}", dir.display()), e)),
        };
        let now = SystemTime::now();
        // A modification time in the future (clock changes) is not stale.
        let stale = |m: &fs::Metadata| {
            m.modified()
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|age| age > max_age)
        };
        let mut removed = 0;
        let mut first_err = None;
        for e in entries {
            let e = e.ctx(|| format!("list {}", dir.display()))?;
            // Cheap test first (no open): the entry's own lstat.
            match e.metadata() {
                Ok(m) if m.is_file() && stale(&m) => {}
                _ => continue,
            }
            match expire_partial(&e.path(), &stale) {
                Ok(true) => removed += 1,
                Ok(false) => {}
                Err(err) => {
                    first_err.get_or_insert(err);
                }
            }
        }
        match first_err {
            Some(err) => Err(err),
            None => Ok(removed),
        }
    }

    /// Remove the partial download of `digest` (`tmp/partial/<hex>`)
    /// unless a writer holds it; `Ok(true)` if it went.
    pub fn discard_partial(&self, digest: &Digest) -> Result<bool> {
        expire_partial(
            &self.tmp.join(PARTIAL_DIR).join(digest.hex()),
            &|_: &fs::Metadata| true,
        )
    }

    /// Stream `reader` into the store; returns the digest and size.
    pub fn ingest<R: Read>(
        &self,
        mut reader: R,
        expected: Option<Digest>,
    ) -> Result<(Digest, u64)> {
        let mut w = self.writer(expected, None)?;
        io::copy(&mut reader, &mut w).map_err(|e| Error::io("ingest blob", e))?;
        w.commit()
    }

    /// Store a byte slice (manifests, configs); returns its digest.
    pub fn ingest_bytes(&self, data: &[u8]) -> Result<Digest> {
        let d = Digest::of_bytes(data);
        if self.has(&d, data.len() as u64) {
            return Ok(d);
        }
        let mut w = self.writer(Some(d.clone()), Some(data.len() as u64))?;
        w.write_all(data).map_err(|e| Error::io("write blob", e))?;
        w.commit().map(|(d, _)| d)
    }

    /// Open a blob for reading.
    pub fn open(&self, digest: &Digest) -> Result<File> {
        match File::open(self.blob_path(digest)) {
            Ok(f) => Ok(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(Error::BlobNotFound(digest.clone()))
            }
            Err(e) => Err(Error::io(format!("open blob {digest}"), e)),
        }
    }

    /// Open a blob to be read once through (unpacked), checking on the
    /// way that it is whole: its bytes are hashed as they are read, and
    /// [`BlobCheck::verify`], called after, hashes what the reader left
    /// and compares the digest and size. The cost is the hashing only.
    pub fn open_verifying(&self, digest: &Digest) -> Result<(VerifyingBlob, BlobCheck)> {
        let file = self.open(digest)?;
        let state = std::rc::Rc::new(std::cell::RefCell::new(Hasher::new()));
        Ok((
            VerifyingBlob {
                file,
                hasher: state.clone(),
            },
            BlobCheck {
                path: self.blob_path(digest),
                digest: digest.clone(),
                hasher: state,
            },
        ))
    }

    /// Read a whole (small) blob, refusing blobs larger than `limit`, and
    /// verify its digest (guards against on-disk corruption).
    pub fn read(&self, digest: &Digest, limit: u64) -> Result<Vec<u8>> {
        let f = self.open(digest)?;
        let mut data = Vec::new();
        f.take(limit + 1)
            .read_to_end(&mut data)
            .ctx(|| format!("read blob {digest}"))?;
        if data.len() as u64 > limit {
            return Err(Error::Manifest {
                digest: digest.to_string(),
                reason: format!("blob is larger than the {limit} byte limit"),
            });
        }
        let actual = Digest::of_bytes(&data);
        if &actual != digest {
            return Err(Error::DigestMismatch {
                expected: digest.clone(),
                actual,
            });
        }
        Ok(data)
    }

    /// Whether a blob is present.
    pub fn exists(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Whether a blob is present with the size its descriptor gives. A
    /// blob of another size is damaged (its digest fixes its size): the
    /// caller writes it again, which replaces it.
    pub fn has(&self, digest: &Digest, size: u64) -> bool {
        fs::metadata(self.blob_path(digest)).is_ok_and(|m| m.is_file() && m.len() == size)
    }

    /// Size of a blob in bytes.
    pub fn size(&self, digest: &Digest) -> Result<u64> {
        match fs::metadata(self.blob_path(digest)) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(Error::BlobNotFound(digest.clone()))
            }
            Err(e) => Err(Error::io(format!("stat blob {digest}"), e)),
        }
    }

    /// Remove a blob; `Ok(false)` if it was not there.
    pub fn delete(&self, digest: &Digest) -> Result<bool> {
        match fs::remove_file(self.blob_path(digest)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(format!("delete blob {digest}"), e)),
        }
    }

    /// All blobs present, sorted. Files whose names are not 64 hex digits
    /// are ignored.
    pub fn list(&self) -> Result<Vec<Digest>> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.blobs).ctx(|| format!("list {}", self.blobs.display()))? {
            let e = e.ctx(|| format!("list {}", self.blobs.display()))?;
            if let Some(name) = e.file_name().to_str() {
                if let Ok(d) = Digest::from_hex(name) {
                    out.push(d);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Remove every temp file. Only safe while holding the exclusive GC
    /// lock (no live writer); returns how many were removed and their bytes.
    pub(crate) fn clean_temp(&self) -> Result<(usize, u64)> {
        self.remove_temp(|_| true)
    }

    /// Remove the temp entries (`blob-*`, `snap-*`, `del-*`) whose
    /// process is gone: a pull, load, import or unpack killed half way
    /// (see [`berth_util::fs::temp_owner_alive`]). Safe at any time: entries
    /// of live processes and resumable partial downloads stay. Returns how
    /// many were removed and their bytes.
    pub fn reclaim_dead_temp(&self) -> Result<(usize, u64)> {
        self.remove_temp(|name| {
            TEMP_PREFIXES
                .iter()
                .any(|p| temp_owner_alive(name, p) == Some(false))
        })
    }

    fn remove_temp(&self, pick: impl Fn(&str) -> bool) -> Result<(usize, u64)> {
        let (mut n, mut bytes) = (0, 0);
        for e in fs::read_dir(&self.tmp).ctx(|| format!("list {}", self.tmp.display()))? {
            let e = e.ctx(|| format!("list {}", self.tmp.display()))?;
            if !pick(&e.file_name().to_string_lossy()) {
                continue;
            }
            let p = e.path();
            let size = tree_size(&p);
            let res = if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
            match res {
                Ok(()) => {
                    n += 1;
                    bytes += size;
                }
                // Another process reclaimed it first.
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => return Err(Error::io(format!("remove {}", p.display()), err)),
            }
        }
        Ok((n, bytes))
    }

    /// The temp directory (same filesystem as the blobs).
    pub fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    /// fsync the blob directory (after publishing).
    pub fn sync_blob_dir(&self) -> Result<()> {
        Ok(fsync_dir(&self.blobs)?)
    }
}

/// A blob being read through [`ContentStore::open_verifying`].
pub struct VerifyingBlob {
    file: File,
    hasher: std::rc::Rc<std::cell::RefCell<Hasher>>,
}

impl Read for VerifyingBlob {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        self.hasher.borrow_mut().update(&buf[..n]);
        Ok(n)
    }
}

/// The check of a [`VerifyingBlob`] once read.
pub struct BlobCheck {
    path: PathBuf,
    digest: Digest,
    hasher: std::rc::Rc<std::cell::RefCell<Hasher>>,
}

impl BlobCheck {
    /// Hash the rest of the blob the reader did not read and compare:
    /// [`Error::DigestMismatch`] if the blob is damaged.
    pub fn verify(self) -> Result<()> {
        let mut h = self.hasher.replace(Hasher::new());
        let mut f = File::open(&self.path).ctx(|| format!("open {}", self.path.display()))?;
        f.seek(SeekFrom::Start(h.len()))
            .ctx(|| format!("seek {}", self.path.display()))?;
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = f
                .read(&mut buf)
                .ctx(|| format!("read {}", self.path.display()))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        let actual = h.finish();
        if actual != self.digest {
            return Err(Error::DigestMismatch {
                expected: self.digest,
                actual,
            });
        }
        Ok(())
    }
}

/// Remove the partial file at `path` if no writer holds it and, checked
/// again under its lock, it is still `stale`; `Ok(false)` if it stays.
fn expire_partial(path: &Path, stale: &dyn Fn(&fs::Metadata) -> bool) -> Result<bool> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => {
            return Err(Error::io(
                format!("open partial blob {}", path.display()),
                e,
            ))
        }
    };
    let Some(lock) = FileLock::try_lock(file, path, LockKind::Exclusive)? else {
        // A pull is downloading (or replaying) it right now.
        return Ok(false);
    };
    let held = lock
        .file()
        .metadata()
        .ctx(|| format!("stat partial blob {}", path.display()))?;
    // Its last holder may have written to it, published it (renamed away)
    // or removed it since the directory was read.
    let same = match fs::symlink_metadata(path) {
        Ok(m) => m.ino() == held.ino() && m.dev() == held.dev(),
        Err(_) => false,
    };
    if !same || !stale(&held) {
        return Ok(false);
    }
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(format!("remove {}", path.display()), e)),
    }
}

/// Streams a blob into the store. Implements [`std::io::Write`]; call
/// [`BlobWriter::commit`] to verify and publish it. Dropping it without
/// committing removes the temp file.
pub struct BlobWriter {
    store: ContentStore,
    file: Option<File>,
    tmp_path: PathBuf,
    hasher: Hasher,
    writeback: Writeback,
    expected: Option<Digest>,
    expected_size: Option<u64>,
    partial: Option<PartialState>,
    _lease: FileLock,
}

/// A resumable writer's partial file.
struct PartialState {
    /// Owns the partial file while held (a lock on a dup of its fd).
    _lock: FileLock,
    /// Bytes in the file when the writer opened it (to be replayed).
    on_disk: u64,
    /// Keep the file when the writer is dropped uncommitted.
    keep: bool,
}

impl BlobWriter {
    /// The temp (or partial) file being written, for error messages.
    pub fn path(&self) -> &Path {
        &self.tmp_path
    }

    /// Bytes written (or replayed) so far.
    pub fn written(&self) -> u64 {
        self.hasher.len()
    }

    /// Bytes of an earlier attempt found in a resumable writer's partial
    /// file: the download continues at this offset (0 for a fresh blob).
    pub fn resume_offset(&self) -> u64 {
        self.partial.as_ref().map_or(0, |p| p.on_disk)
    }

    /// Whether bytes of an earlier attempt remain to be replayed.
    pub fn replaying(&self) -> bool {
        self.hasher.len() < self.resume_offset()
    }

    /// Read the next bytes of the earlier attempt into `buf`, hashing
    /// them; `Ok(0)` once all of them were replayed.
    pub fn replay(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let pos = self.hasher.len();
        let left = self.resume_offset().saturating_sub(pos);
        if left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let f = self
            .file
            .as_ref()
            .ok_or_else(|| io::Error::other("blob writer already committed"))?;
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = f.read_at(&mut buf[..want], pos)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("partial blob {} shrank", self.tmp_path.display()),
            ));
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    /// Give up on this blob: remove the temp (or partial) file now.
    pub fn discard(mut self) {
        if let Some(p) = self.partial.as_mut() {
            p.keep = false;
        }
    }

    /// Drop the bytes of the earlier attempt (the server sent the whole
    /// blob again) and start from zero.
    pub fn restart(&mut self) -> io::Result<()> {
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("blob writer already committed"))?;
        f.set_len(0)?;
        f.seek(SeekFrom::Start(0))?;
        self.hasher = Hasher::new();
        self.writeback = Writeback::default();
        if let Some(p) = self.partial.as_mut() {
            p.on_disk = 0;
        }
        Ok(())
    }

    /// Digest of the bytes written so far (the writer stays usable).
    pub fn digest(&self) -> Digest {
        self.hasher.clone().finish()
    }

    /// Verify digest and size, fdatasync (most of the data is already on
    /// its way to disk: writeback is started every few MiB while writing),
    /// rename into place and fsync the directory. On mismatch the temp file is removed and nothing becomes
    /// visible.
    pub fn commit(self) -> Result<(Digest, u64)> {
        let staged = self.stage()?;
        staged.sync()?;
        let store = staged.w.store.clone();
        let out = staged.publish()?;
        store.sync_blob_dir()?;
        Ok(out)
    }

    /// Verify digest and size as [`BlobWriter::commit`] does, but neither
    /// sync nor publish: the caller makes the data durable
    /// ([`StagedBlob::sync`]), then calls [`StagedBlob::publish`] and, once for many,
    /// [`ContentStore::sync_blob_dir`]. On mismatch the temp (or partial)
    /// file is removed; so is a staged blob dropped unpublished.
    pub fn stage(mut self) -> Result<StagedBlob> {
        // Whatever happens now, a partial file is not resumed again: it is
        // either published or wrong.
        if let Some(p) = self.partial.as_mut() {
            p.keep = false;
        }
        if self.replaying() {
            return Err(Error::io(
                format!("commit {}", self.tmp_path.display()),
                io::Error::other("earlier bytes of the partial blob were not replayed"),
            ));
        }
        let hasher = std::mem::take(&mut self.hasher);
        let size = hasher.len();
        let actual = hasher.finish();
        if let Some(expected) = &self.expected {
            if expected != &actual {
                return Err(Error::DigestMismatch {
                    expected: expected.clone(),
                    actual,
                });
            }
        }
        if let Some(want) = self.expected_size {
            if want != size {
                return Err(Error::SizeMismatch {
                    digest: actual.to_string(),
                    expected: want,
                    actual: size,
                });
            }
        }
        Ok(StagedBlob {
            w: self,
            digest: actual,
            size,
        })
    }
}

/// A verified blob not yet published (see [`BlobWriter::stage`]).
pub struct StagedBlob {
    w: BlobWriter,
    digest: Digest,
    size: u64,
}

impl StagedBlob {
    /// The blob's digest.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The blob's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Make the blob's data durable (fdatasync; its writeback was
    /// started while it was written), ready for [`StagedBlob::publish`].
    pub fn sync(&self) -> Result<()> {
        match self.w.file.as_ref() {
            Some(f) => f
                .sync_data()
                .ctx(|| format!("fdatasync {}", self.w.tmp_path.display())),
            None => Ok(()),
        }
    }

    /// Open the (unpublished) blob for reading.
    pub fn open(&self) -> Result<File> {
        File::open(&self.w.tmp_path).ctx(|| format!("open {}", self.w.tmp_path.display()))
    }

    /// Rename the blob into place. Its data must have been made durable
    /// before; the caller fsyncs the blob directory after.
    pub fn publish(mut self) -> Result<(Digest, u64)> {
        self.w.file = None;
        let dest = self.w.store.blob_path(&self.digest);
        fs::rename(&self.w.tmp_path, &dest)
            .ctx(|| format!("rename {} to {}", self.w.tmp_path.display(), dest.display()))?;
        Ok((self.digest.clone(), self.size))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("blob writer already committed"))?;
        if self.hasher.len() < self.partial.as_ref().map_or(0, |p| p.on_disk) {
            return Err(io::Error::other(
                "earlier bytes of the partial blob must be replayed before writing",
            ));
        }
        let n = f.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.writeback.wrote(f, n);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        // After a successful commit the temp path no longer exists. A
        // partial download is kept for the next attempt if it has bytes.
        if let (Some(p), Some(f)) = (&self.partial, &self.file) {
            if p.keep && f.metadata().map(|m| m.len() > 0).unwrap_or(false) {
                return;
            }
        }
        let _ = fs::remove_file(&self.tmp_path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, ContentStore) {
        let d = tempfile::tempdir().unwrap();
        let s = ContentStore::new(d.path()).unwrap();
        (d, s)
    }

    fn tmp_count(s: &ContentStore) -> usize {
        fs::read_dir(s.tmp_dir()).unwrap().count()
    }

    #[test]
    fn ingest_and_read_back() {
        let (_d, s) = store();
        let (d, n) = s.ingest(&b"hello"[..], None).unwrap();
        assert_eq!(d, Digest::of_bytes(b"hello"));
        assert_eq!(n, 5);
        assert!(s.exists(&d));
        assert_eq!(s.size(&d).unwrap(), 5);
        assert_eq!(s.read(&d, 100).unwrap(), b"hello");
        let mut buf = String::new();
        s.open(&d).unwrap().read_to_string(&mut buf).unwrap();
        assert_eq!(buf, "hello");
        assert_eq!(s.list().unwrap(), vec![d.clone()]);
        assert_eq!(tmp_count(&s), 0);
        // idempotent
        s.ingest(&b"hello"[..], Some(d.clone())).unwrap();
        assert_eq!(s.list().unwrap(), vec![d.clone()]);
        assert!(s.delete(&d).unwrap());
        assert!(!s.delete(&d).unwrap());
        assert!(matches!(s.open(&d), Err(Error::BlobNotFound(_))));
        assert!(matches!(s.size(&d), Err(Error::BlobNotFound(_))));
    }

    #[test]
    fn mismatch_leaves_store_unchanged() {
        let (_d, s) = store();
        s.ingest(&b"keep"[..], None).unwrap();
        let before = s.list().unwrap();
        let wrong = Digest::of_bytes(b"something else");
        let err = s.ingest(&b"evil"[..], Some(wrong.clone())).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&wrong.to_string()), "{msg}");
        assert!(
            msg.contains(&Digest::of_bytes(b"evil").to_string()),
            "{msg}"
        );
        assert_eq!(s.list().unwrap(), before);
        assert_eq!(tmp_count(&s), 0);
        assert!(!s.exists(&Digest::of_bytes(b"evil")));
    }

    #[test]
    fn size_mismatch_is_rejected() {
        let (_d, s) = store();
        let mut w = s.writer(None, Some(10)).unwrap();
        w.write_all(b"short").unwrap();
        let err = w.commit().unwrap_err();
        assert!(
            matches!(
                err,
                Error::SizeMismatch {
                    expected: 10,
                    actual: 5,
                    ..
                }
            ),
            "{err}"
        );
        assert!(s.list().unwrap().is_empty());
        assert_eq!(tmp_count(&s), 0);
    }

    #[test]
    fn dropped_writer_cleans_up_and_is_invisible() {
        let (_d, s) = store();
        let mut w = s.writer(None, None).unwrap();
        w.write_all(b"partial").unwrap();
        assert_eq!(w.written(), 7);
        assert!(s.list().unwrap().is_empty());
        assert_eq!(tmp_count(&s), 1);
        drop(w);
        assert_eq!(tmp_count(&s), 0);
    }

    #[test]
    fn concurrent_writers_of_same_blob() {
        let (_d, s) = store();
        let data = vec![7u8; 1 << 20];
        std::thread::scope(|sc| {
            for _ in 0..4 {
                sc.spawn(|| s.ingest(&data[..], Some(Digest::of_bytes(&data))).unwrap());
            }
        });
        assert_eq!(s.list().unwrap(), vec![Digest::of_bytes(&data)]);
        assert_eq!(s.read(&Digest::of_bytes(&data), 2 << 20).unwrap(), data);
        assert_eq!(tmp_count(&s), 0);
    }

    #[test]
    fn read_checks_limit_and_corruption() {
        let (_d, s) = store();
        let d = s.ingest_bytes(b"0123456789").unwrap();
        assert!(s.read(&d, 5).is_err());
        fs::write(s.blob_path(&d), b"corrupted!").unwrap();
        assert!(matches!(s.read(&d, 100), Err(Error::DigestMismatch { .. })));
    }

    #[test]
    fn resumable_writer_keeps_partial_and_resumes() {
        let (_d, s) = store();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let d = Digest::of_bytes(&data);
        let partial = s.tmp_dir().join(PARTIAL_DIR).join(d.hex());
        // First attempt breaks off after 30000 bytes: the bytes stay.
        let mut w = s.resumable_writer(d.clone(), data.len() as u64).unwrap();
        assert_eq!(w.resume_offset(), 0);
        w.write_all(&data[..30_000]).unwrap();
        drop(w);
        assert_eq!(fs::metadata(&partial).unwrap().len(), 30_000);
        assert!(!s.exists(&d));
        // A concurrent writer of the same digest gets a private temp file.
        let mut w = s.resumable_writer(d.clone(), data.len() as u64).unwrap();
        let other = s.resumable_writer(d.clone(), data.len() as u64).unwrap();
        assert_eq!(other.resume_offset(), 0);
        drop(other);
        // Second attempt: replay (hashing) then continue.
        assert_eq!(w.resume_offset(), 30_000);
        assert!(w.write_all(b"x").is_err(), "writing before the replay");
        let mut replayed = Vec::new();
        let mut buf = vec![0u8; 7000];
        loop {
            let n = w.replay(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            replayed.extend_from_slice(&buf[..n]);
        }
        assert_eq!(replayed, &data[..30_000]);
        w.write_all(&data[30_000..]).unwrap();
        assert_eq!(w.commit().unwrap(), (d.clone(), data.len() as u64));
        assert_eq!(s.read(&d, 1 << 20).unwrap(), data);
        assert!(!partial.exists());
    }

    #[test]
    fn resumable_writer_restart_and_wrong_partial() {
        let (_d, s) = store();
        let data = vec![5u8; 50_000];
        let d = Digest::of_bytes(&data);
        let dir = s.tmp_dir().join(PARTIAL_DIR);
        fs::create_dir_all(&dir).unwrap();
        let partial = dir.join(d.hex());
        // Restart (the server ignored the range): the old bytes go.
        fs::write(&partial, vec![9u8; 20_000]).unwrap();
        let mut w = s.resumable_writer(d.clone(), data.len() as u64).unwrap();
        assert_eq!(w.resume_offset(), 20_000);
        w.restart().unwrap();
        assert_eq!(w.resume_offset(), 0);
        w.write_all(&data).unwrap();
        w.commit().unwrap();
        assert!(s.exists(&d));
        s.delete(&d).unwrap();
        // Wrong bytes in the partial: the commit fails and removes it.
        fs::write(&partial, vec![9u8; 20_000]).unwrap();
        let mut w = s.resumable_writer(d.clone(), data.len() as u64).unwrap();
        let mut buf = vec![0u8; 1 << 16];
        while w.replay(&mut buf).unwrap() > 0 {}
        w.write_all(&data[20_000..]).unwrap();
        assert!(matches!(w.commit(), Err(Error::DigestMismatch { .. })));
        assert!(!partial.exists());
        assert!(!s.exists(&d));
        // Longer than the blob: discarded on open.
        fs::write(&partial, vec![9u8; 60_000]).unwrap();
        let w = s.resumable_writer(d.clone(), data.len() as u64).unwrap();
        assert_eq!(w.resume_offset(), 0);
        drop(w);
        assert!(!partial.exists(), "an empty partial is not kept");
    }

    /// Set `path`'s mtime `by` in the past (futimens needs no write
    /// access for the owner, so directories work too).
    fn age(path: &Path, by: Duration) {
        let f = File::open(path).unwrap();
        f.set_modified(SystemTime::now() - by).unwrap();
    }

    #[test]
    fn expire_partials_removes_old_unheld_ones_only() {
        let (_d, s) = store();
        // No partial directory yet: nothing to do.
        assert_eq!(s.expire_partials(PARTIAL_MAX_AGE).unwrap(), 0);
        let day = Duration::from_secs(24 * 60 * 60);
        let old = day + Duration::from_secs(3600);
        let dir = s.tmp_dir().join(PARTIAL_DIR);
        fs::create_dir_all(&dir).unwrap();
        let blob = |n: u8| vec![n; 10_000];
        // An abandoned download, a day and an hour old: goes.
        let stale = dir.join(Digest::of_bytes(&blob(1)).hex());
        fs::write(&stale, &blob(1)[..4000]).unwrap();
        age(&stale, old);
        // A recent one (an hour): stays for its retry.
        let recent = dir.join(Digest::of_bytes(&blob(2)).hex());
        fs::write(&recent, &blob(2)[..4000]).unwrap();
        age(&recent, Duration::from_secs(3600));
        // An old one a pull holds (resumed, not written for a day): stays.
        let d3 = Digest::of_bytes(&blob(3));
        let held = dir.join(d3.hex());
        fs::write(&held, &blob(3)[..4000]).unwrap();
        age(&held, old);
        let mut w = s.resumable_writer(d3.clone(), 10_000).unwrap();
        assert_eq!(w.resume_offset(), 4000);
        // Not partials: a directory and a plain temp blob.
        fs::create_dir(dir.join("junk")).unwrap();
        age(&dir.join("junk"), old);
        let temp = s.tmp_dir().join("blob-x");
        fs::write(&temp, b"x").unwrap();
        age(&temp, old);

        assert_eq!(s.expire_partials(PARTIAL_MAX_AGE).unwrap(), 1);
        assert!(!stale.exists());
        assert!(recent.exists());
        assert!(held.exists());
        assert!(dir.join("junk").exists() && temp.exists());
        // The holder resumes and commits as if nothing happened.
        let mut buf = vec![0u8; 1 << 14];
        while w.replay(&mut buf).unwrap() > 0 {}
        w.write_all(&blob(3)[4000..]).unwrap();
        assert_eq!(w.commit().unwrap(), (d3.clone(), 10_000));
        assert!(!held.exists());
        assert_eq!(s.read(&d3, 1 << 20).unwrap(), blob(3));

        // Released but still old: the next expiry takes it.
        let d4 = Digest::of_bytes(&blob(4));
        let mut w = s.resumable_writer(d4.clone(), 10_000).unwrap();
        w.write_all(&blob(4)[..5000]).unwrap();
        let p4 = dir.join(d4.hex());
        age(&p4, old);
        assert_eq!(s.expire_partials(PARTIAL_MAX_AGE).unwrap(), 0);
        drop(w);
        assert!(p4.exists(), "a dropped writer keeps its bytes");
        // A shorter age limit counts the recent one too.
        assert_eq!(s.expire_partials(Duration::from_secs(60)).unwrap(), 2);
        assert!(!p4.exists() && !recent.exists());
        // A writer of that digest now starts from zero.
        let w = s.resumable_writer(d4, 10_000).unwrap();
        assert_eq!(w.resume_offset(), 0);
        drop(w);

        // gc is unchanged: all of tmp/ goes, fresh partials included.
        fs::write(&recent, &blob(2)[..4000]).unwrap();
        assert_eq!(s.clean_temp().unwrap().0, 2, "partial/ and blob-x");
        assert_eq!(tmp_count(&s), 0);
    }

    /// What a killed pull or unpack left (its pid gone) is reclaimed and
    /// counted; what live writers are making, partial downloads and names
    /// of unknown owners stay.
    #[test]
    fn reclaim_dead_temp_removes_only_what_dead_processes_left() {
        let (_d, s) = store();
        // (Its lease is the process's first: it reclaims before the junk is made.)
        let mut w = s.writer(None, None).unwrap();
        w.write_all(b"live").unwrap();
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let dead = c.id();
        c.wait().unwrap();
        fs::write(s.tmp_dir().join(format!("blob-{dead}.7-1-0")), [1u8; 10]).unwrap();
        let snap = s.tmp_dir().join(format!("snap-{dead}.7-1-1"));
        fs::create_dir_all(snap.join("fs/etc")).unwrap();
        fs::write(snap.join("fs/etc/x"), [2u8; 5]).unwrap();
        fs::write(s.tmp_dir().join(format!("del-{dead}-1-2")), [3u8; 1]).unwrap();
        fs::write(s.tmp_dir().join("blob-x"), b"x").unwrap();
        mkdir_all(&s.tmp_dir().join(PARTIAL_DIR)).unwrap();
        assert_eq!(s.reclaim_dead_temp().unwrap(), (3, 16));
        let mut left: Vec<String> = fs::read_dir(s.tmp_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left.len(), 3, "{left:?}");
        assert!(left.contains(&"blob-x".to_string()) && left.contains(&PARTIAL_DIR.to_string()));
        let (d, n) = w.commit().unwrap();
        assert_eq!((s.read(&d, 10).unwrap(), n), (b"live".to_vec(), 4));
    }

    #[test]
    fn list_ignores_junk_and_clean_temp_removes_stale() {
        let (_d, s) = store();
        fs::write(s.blobs.join("not-a-digest"), b"x").unwrap();
        fs::write(s.tmp_dir().join("blob-stale"), b"x").unwrap();
        assert!(s.list().unwrap().is_empty());
        assert_eq!(s.clean_temp().unwrap().0, 1);
        assert_eq!(tmp_count(&s), 0);
    }
}

//! Atomic file replacement (temp file, optional fsync, rename, optional
//! fsync of the directory), JSON documents written that way, and temp
//! names that record their writer so a later process can tell whether the
//! writer still lives.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Context, Error, Result};

/// What a write must survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// A power loss: fsync of the file before the rename and of the
    /// directory after it.
    Durable,
    /// The data is fsynced before the rename, the rename is not: a power
    /// loss leaves the old file or the new one, never a torn one, but may
    /// lose the change (caches made again, runtime files).
    Flushed,
    /// A killed process only (rename, no fsync): a killed writer leaves the
    /// old or the new file, a power loss may leave either or an empty one.
    /// For what dies with the machine anyway.
    Atomic,
}

/// How [`AtomicWrite::write`] writes: durability, the file's mode, and
/// whether the directory is made first.
#[derive(Debug, Clone, Copy)]
pub struct AtomicWrite {
    durability: Durability,
    mode: u32,
    create_dir: bool,
}

impl AtomicWrite {
    /// A write of mode 0666 (less the umask, as `File::create`) into an
    /// existing directory.
    pub fn new(durability: Durability) -> AtomicWrite {
        AtomicWrite {
            durability,
            mode: 0o666,
            create_dir: false,
        }
    }

    /// The new file's mode (less the umask).
    pub fn mode(mut self, mode: u32) -> AtomicWrite {
        self.mode = mode;
        self
    }

    /// Create the directory (and its parents) when missing.
    pub fn create_dir(mut self) -> AtomicWrite {
        self.create_dir = true;
        self
    }

    /// Replaces `path` with `data`: a temp file in the same directory
    /// (named by [`unique_name`], created exclusively, so a link planted
    /// there is not followed), then a rename over `path`. Readers see the
    /// old file or the new one; on failure the temp file is removed.
    pub fn write(&self, path: &Path, data: &[u8]) -> Result<()> {
        let mut f = self.create(path)?;
        f.write_all(data)
            .ctx(|| format!("cannot write {}", path.display()))?;
        f.commit()
    }

    /// Starts replacing `path` with what is written to the returned file;
    /// [`AtomicFile::commit`] publishes it, dropping it uncommitted removes
    /// the temp file (for contents streamed rather than held in memory).
    pub fn create(&self, path: &Path) -> Result<AtomicFile> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if self.create_dir {
            fs::create_dir_all(dir).ctx(|| format!("cannot create directory {}", dir.display()))?;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(unique_name(&format!(".{name}.tmp-")));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(self.mode)
            .open(&tmp)
            .ctx(|| format!("cannot write {}", path.display()))?;
        Ok(AtomicFile {
            file: Some(file),
            tmp,
            path: path.to_path_buf(),
            durability: self.durability,
        })
    }

    /// Serialises `v` as pretty JSON and writes it as [`AtomicWrite::write`].
    pub fn write_json<T: serde::Serialize + ?Sized>(&self, path: &Path, v: &T) -> Result<()> {
        let data = serde_json::to_vec_pretty(v).map_err(|source| Error::Serialize {
            path: path.to_path_buf(),
            source,
        })?;
        self.write(path, &data)
    }
}

/// A file being written in place of another (see [`AtomicWrite::create`]).
#[derive(Debug)]
pub struct AtomicFile {
    file: Option<File>,
    tmp: PathBuf,
    path: PathBuf,
    durability: Durability,
}

impl AtomicFile {
    /// The path this file replaces.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Syncs (as the durability asks) and renames the file over its path.
    pub fn commit(mut self) -> Result<()> {
        let Some(f) = self.file.take() else {
            return Ok(());
        };
        let path = self.path.clone();
        let r = (|| -> std::io::Result<()> {
            if self.durability != Durability::Atomic {
                f.sync_all()?;
            }
            drop(f);
            fs::rename(&self.tmp, &path)
        })();
        if r.is_err() {
            let _ = fs::remove_file(&self.tmp);
        }
        r.ctx(|| format!("cannot write {}", path.display()))?;
        if self.durability == Durability::Durable {
            fsync_dir(
                path.parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .unwrap_or(Path::new(".")),
            )?;
        }
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.file {
            Some(f) => f.write(buf),
            None => Err(std::io::ErrorKind::BrokenPipe.into()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.file {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Replaces `path` with `data`, durably ([`Durability::Durable`]).
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    AtomicWrite::new(Durability::Durable).write(path, data)
}

/// [`write_atomic`] with the durability chosen by the caller.
pub fn write_atomic_with(path: &Path, data: &[u8], durability: Durability) -> Result<()> {
    AtomicWrite::new(durability).write(path, data)
}

/// Serialises `v` as pretty JSON and writes it durably.
pub fn write_json<T: serde::Serialize + ?Sized>(path: &Path, v: &T) -> Result<()> {
    AtomicWrite::new(Durability::Durable).write_json(path, v)
}

/// [`write_json`] with the durability chosen by the caller.
pub fn write_json_with<T: serde::Serialize + ?Sized>(
    path: &Path,
    v: &T,
    durability: Durability,
) -> Result<()> {
    AtomicWrite::new(durability).write_json(path, v)
}

/// Reads a JSON document; a document that does not parse is
/// [`Error::Corrupt`].
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let data = fs::read(path).ctx(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&data).map_err(|source| Error::Corrupt {
        path: path.to_path_buf(),
        source,
    })
}

/// fsync a directory so a rename or create inside it is durable.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .ctx(|| format!("cannot fsync directory {}", dir.display()))
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name unique to this process and call, naming its owner:
/// `<prefix><pid>.<start>-<nanos>-<n>`, where `<start>` is the process's
/// start time (see [`temp_owner_alive`]).
pub fn unique_name(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{prefix}{}.{}-{nanos}-{n}",
        std::process::id(),
        crate::proc::self_start_time()
    )
}

/// Whether the process that made the temp entry `name` (made by
/// [`unique_name`] with `prefix`) may still be using it: its pid is alive
/// with the recorded start time (a pid used again by another process does
/// not count). `None` when the name is not one of `prefix` (its owner is
/// unknown). Names of older versions (`<pid>-...`) count as alive while
/// any process has that pid.
pub fn temp_owner_alive(name: &str, prefix: &str) -> Option<bool> {
    let rest = name.strip_prefix(prefix)?;
    let owner = rest.split('-').next()?;
    let (pid, start) = match owner.split_once('.') {
        Some((p, s)) => (p.parse::<i32>().ok()?, Some(s.parse::<u64>().ok()?)),
        None => (owner.parse::<i32>().ok()?, None),
    };
    if pid <= 0 {
        return None;
    }
    Some(match crate::proc::stat(pid) {
        None => false,
        Some(('Z' | 'X', _)) => false,
        Some((_, s)) => start.map_or(true, |want| want == s),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_replace_whole_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic_with(&p, b"two", Durability::Atomic).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        write_json_with(&p, &serde_json::json!({"a": 1}), Durability::Flushed).unwrap();
        let v: serde_json::Value = read_json(&p).unwrap();
        assert_eq!(v["a"], 1);
        // No temp file is left behind.
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1);
        // A corrupt document names the file.
        fs::write(&p, b"{").unwrap();
        let e = read_json::<serde_json::Value>(&p).unwrap_err();
        assert!(matches!(e, Error::Corrupt { .. }));
        assert!(e
            .to_string()
            .starts_with(&format!("{}: corrupt: ", p.display())));
        let e = read_json::<serde_json::Value>(&dir.path().join("none")).unwrap_err();
        assert_eq!(e.io_kind(), Some(std::io::ErrorKind::NotFound));
    }

    #[test]
    fn options_mode_and_directory() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b/auth.json");
        assert!(write_atomic(&p, b"x").is_err());
        AtomicWrite::new(Durability::Flushed)
            .mode(0o600)
            .create_dir()
            .write(&p, b"secret")
            .unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"secret");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let e = write_atomic(&dir.path().join("missing/x"), b"x").unwrap_err();
        assert!(e.to_string().contains("cannot write "), "{e}");
        assert!(e.to_string().contains("missing/x"), "{e}");
    }

    #[test]
    fn streamed_files_appear_only_when_committed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.tar");
        fs::write(&p, b"old").unwrap();
        let w = AtomicWrite::new(Durability::Flushed).mode(0o600);
        let mut f = w.create(&p).unwrap();
        f.write_all(b"new ").unwrap();
        f.write_all(b"contents").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"old");
        drop(f);
        // Dropped uncommitted: the old file, no temp left.
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        let mut f = w.create(&p).unwrap();
        f.write_all(b"new").unwrap();
        assert_eq!(f.path(), p);
        f.commit().unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        // A link planted at a temp name is never followed: names are new.
        let a = unique_name(".x.tmp-");
        assert_ne!(a, unique_name(".x.tmp-"));
    }

    #[test]
    fn temp_names_tell_whether_their_owner_lives() {
        let mine = unique_name("blob-");
        assert_eq!(temp_owner_alive(&mine, "blob-"), Some(true), "{mine}");
        assert_eq!(temp_owner_alive(&mine, "snap-"), None);
        // The same pid with another start time: a pid used again.
        let other = format!(
            "blob-{}.{}-1-0",
            std::process::id(),
            crate::proc::self_start_time() + 1
        );
        assert_eq!(temp_owner_alive(&other, "blob-"), Some(false));
        // A process that exited.
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id();
        c.wait().unwrap();
        assert_eq!(
            temp_owner_alive(&format!("snap-{pid}.5-1-0"), "snap-"),
            Some(false)
        );
        assert_eq!(
            temp_owner_alive(&format!("snap-{pid}-1-0"), "snap-"),
            Some(false)
        );
        // Names it did not make are not judged.
        assert_eq!(temp_owner_alive("blob-x", "blob-"), None);
        assert_eq!(temp_owner_alive("blob-0.1-2-3", "blob-"), None);
    }
}

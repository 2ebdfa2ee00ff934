//! Durable file writes and file locks.

use crate::error::{Context, Result};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `data` to `path`: temp file in the same directory, fsync, rename,
/// fsync of the directory. A crash leaves the old or the new file.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    write_atomic_with(path, data, Durability::Durable)
}

/// Whether a write must survive a power loss or only a killed process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync of the file before the rename and of the directory after it.
    Durable,
    /// Rename only: a killed process still leaves the old or the new file,
    /// but a power loss may lose the change. For what is made again
    /// (/etc/hosts of a container) or dies with the machine anyway (the
    /// records of `--rm` containers, whose upper directory is volatile).
    Atomic,
}

impl Durability {
    /// How a container's records are written: `--rm` ones are not kept
    /// over a crash.
    pub fn for_container(auto_remove: bool) -> Durability {
        if auto_remove {
            Durability::Atomic
        } else {
            Durability::Durable
        }
    }
}

/// [`write_atomic`] with the durability chosen by the caller.
pub fn write_atomic_with(path: &Path, data: &[u8], durability: Durability) -> Result<()> {
    let durable = durability == Durability::Durable;
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Unique per call: two threads of one process may write the same file.
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.tmp-{}-{seq}", std::process::id()));
    let r = (|| -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(data)?;
        if durable {
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        if durable {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r.ctx(|| format!("cannot write {}", path.display()))
}

/// Serialises `v` as JSON and writes it atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, v: &T) -> Result<()> {
    write_json_with(path, v, Durability::Durable)
}

/// [`write_json`] with the durability chosen by the caller.
pub fn write_json_with<T: serde::Serialize>(
    path: &Path,
    v: &T,
    durability: Durability,
) -> Result<()> {
    let data = serde_json::to_vec_pretty(v)
        .map_err(|e| crate::Error::msg(format!("serialising {}: {e}", path.display())))?;
    write_atomic_with(path, &data, durability)
}

pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let data = std::fs::read(path).ctx(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&data)
        .map_err(|e| crate::Error::msg(format!("{}: corrupt: {e}", path.display())))
}

/// An exclusive `flock` held until dropped.
#[derive(Debug)]
pub struct FileLock {
    _file: File,
    pub path: PathBuf,
}

impl FileLock {
    pub fn exclusive(path: &Path) -> Result<FileLock> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .ctx(|| format!("cannot open lock {}", path.display()))?;
        Self::lock(f, path)
    }

    /// Locks directory `path` itself (no lock file to create).
    pub fn directory(path: &Path) -> Result<FileLock> {
        let f = File::open(path).ctx(|| format!("cannot open {}", path.display()))?;
        Self::lock(f, path)
    }

    /// Like [`FileLock::exclusive`] (or [`FileLock::directory`] when `dir`),
    /// but `None` instead of waiting when another holder has it.
    pub fn try_exclusive(path: &Path, dir: bool) -> Result<Option<FileLock>> {
        let f = if dir {
            File::open(path)
        } else {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
        }
        .ctx(|| format!("cannot open lock {}", path.display()))?;
        match rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(FileLock {
                _file: f,
                path: path.to_path_buf(),
            })),
            Err(rustix::io::Errno::WOULDBLOCK) | Err(rustix::io::Errno::INTR) => Ok(None),
            Err(e) => {
                Err(std::io::Error::from(e)).ctx(|| format!("cannot lock {}", path.display()))
            }
        }
    }

    fn lock(f: File, path: &Path) -> Result<FileLock> {
        loop {
            match rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive) {
                Ok(()) => break,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => {
                    return Err(std::io::Error::from(e))
                        .ctx(|| format!("cannot lock {}", path.display()))
                }
            }
        }
        Ok(FileLock {
            _file: f,
            path: path.to_path_buf(),
        })
    }
}

/// 64 hex digits from /dev/urandom whose 12-digit short form is not all
/// decimal (docker's rule, so a short id never reads as a number).
pub fn random_id() -> Result<String> {
    use std::io::Read;
    let mut f = File::open("/dev/urandom").ctx(|| "cannot open /dev/urandom")?;
    loop {
        let mut b = [0u8; 32];
        f.read_exact(&mut b).ctx(|| "cannot read /dev/urandom")?;
        let id: String = b.iter().map(|x| format!("{x:02x}")).collect();
        if !id[..12].bytes().all(|c| c.is_ascii_digit()) {
            return Ok(id);
        }
    }
}

/// A random number from /dev/urandom (for names).
pub fn random_u64() -> u64 {
    use std::io::Read;
    let mut b = [0u8; 8];
    if let Ok(mut f) = File::open("/dev/urandom") {
        let _ = f.read_exact(&mut b);
    }
    u64::from_le_bytes(b)
}

pub fn short_id(id: &str) -> &str {
    &id[..id.len().min(12)]
}

//! Advisory file locks (`flock(2)`) coordinating several berth processes.
//!
//! Two lock files live in the store root:
//! - `store.lock` guards `images.json`: readers take it shared, writers exclusive.
//! - `gc.lock` is a *lease*: anything that creates content (blob writers,
//!   snapshot unpacking, image registration) holds it shared; garbage
//!   collection holds it exclusive, so it never deletes a temp file or a
//!   fresh blob that a live writer is about to reference.
//!
//! flock locks belong to the open file description, so a process must not
//! request the exclusive lock while it holds a shared one on the same file
//! (it would wait for itself).

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::error::{Error, Result};

/// Shared or exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    /// Many holders at once.
    Shared,
    /// One holder, no shared holders.
    Exclusive,
}

/// A held lock; released on drop.
#[derive(Debug)]
pub struct FileLock {
    _lock: Flock<File>,
    path: PathBuf,
    kind: LockKind,
}

impl FileLock {
    /// Block until the lock on `path` (created if missing) is held.
    pub fn acquire(path: &Path, kind: LockKind) -> Result<FileLock> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| Error::io(format!("open lock file {}", path.display()), e))?;
        let arg = match kind {
            LockKind::Shared => FlockArg::LockShared,
            LockKind::Exclusive => FlockArg::LockExclusive,
        };
        let lock = Flock::lock(file, arg)
            .map_err(|(_, e)| Error::nix(format!("flock {}", path.display()), e))?;
        Ok(FileLock {
            _lock: lock,
            path: path.to_path_buf(),
            kind,
        })
    }

    /// Try to take the lock without blocking; `Ok(None)` if it is held elsewhere.
    pub fn try_acquire(path: &Path, kind: LockKind) -> Result<Option<FileLock>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| Error::io(format!("open lock file {}", path.display()), e))?;
        let arg = match kind {
            LockKind::Shared => FlockArg::LockSharedNonblock,
            LockKind::Exclusive => FlockArg::LockExclusiveNonblock,
        };
        match Flock::lock(file, arg) {
            Ok(lock) => Ok(Some(FileLock {
                _lock: lock,
                path: path.to_path_buf(),
                kind,
            })),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, e)) => Err(Error::nix(format!("flock {}", path.display()), e)),
        }
    }

    /// Path of the lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Kind of lock held.
    pub fn kind(&self) -> LockKind {
        self.kind
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_locks_coexist_and_exclude_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.lock");
        let a = FileLock::acquire(&p, LockKind::Shared).unwrap();
        let b = FileLock::try_acquire(&p, LockKind::Shared).unwrap();
        assert!(b.is_some());
        assert!(FileLock::try_acquire(&p, LockKind::Exclusive)
            .unwrap()
            .is_none());
        drop(a);
        drop(b);
        let c = FileLock::try_acquire(&p, LockKind::Exclusive).unwrap();
        assert!(c.is_some());
        assert!(FileLock::try_acquire(&p, LockKind::Shared)
            .unwrap()
            .is_none());
    }
}

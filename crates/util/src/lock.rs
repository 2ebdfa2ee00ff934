//! Advisory `flock(2)` locks between processes, held until dropped.
//!
//! flock locks belong to the open file description: a process must not
//! ask for the exclusive lock while it holds a shared one through another
//! descriptor of the same file (it would wait for itself).

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use rustix::fs::FlockOperation;

use crate::error::{Context, Result};

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
    file: File,
    path: PathBuf,
    kind: LockKind,
}

/// Opens the lock file `path` (created when missing, never truncated).
fn open_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .ctx(|| format!("cannot open lock {}", path.display()))
}

/// Opens directory `path` to lock it (no lock file to create).
fn open_dir(path: &Path) -> Result<File> {
    File::open(path).ctx(|| format!("cannot open {}", path.display()))
}

impl FileLock {
    /// Blocks until the lock on `path` (a file, created if missing) is held.
    pub fn acquire(path: &Path, kind: LockKind) -> Result<FileLock> {
        Self::lock(open_file(path)?, path, kind)
    }

    /// Takes the lock without waiting; `Ok(None)` if another holder has it.
    pub fn try_acquire(path: &Path, kind: LockKind) -> Result<Option<FileLock>> {
        Self::try_lock(open_file(path)?, path, kind)
    }

    /// [`FileLock::acquire`] exclusive.
    pub fn exclusive(path: &Path) -> Result<FileLock> {
        Self::acquire(path, LockKind::Exclusive)
    }

    /// Locks directory `path` itself, exclusively, waiting for it.
    pub fn directory(path: &Path) -> Result<FileLock> {
        Self::lock(open_dir(path)?, path, LockKind::Exclusive)
    }

    /// Like [`FileLock::exclusive`] (or [`FileLock::directory`] when `dir`),
    /// but `None` instead of waiting when another holder has it.
    pub fn try_exclusive(path: &Path, dir: bool) -> Result<Option<FileLock>> {
        let f = if dir {
            open_dir(path)?
        } else {
            open_file(path)?
        };
        Self::try_lock(f, path, LockKind::Exclusive)
    }

    /// Locks an open file (`path` names it in errors), waiting for it.
    pub fn lock(file: File, path: &Path, kind: LockKind) -> Result<FileLock> {
        let op = match kind {
            LockKind::Shared => FlockOperation::LockShared,
            LockKind::Exclusive => FlockOperation::LockExclusive,
        };
        loop {
            match rustix::fs::flock(&file, op) {
                Ok(()) => break,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => {
                    return Err(std::io::Error::from(e))
                        .ctx(|| format!("cannot lock {}", path.display()))
                }
            }
        }
        Ok(FileLock {
            file,
            path: path.to_path_buf(),
            kind,
        })
    }

    /// Locks an open file without waiting; `Ok(None)` if another holder
    /// has it.
    pub fn try_lock(file: File, path: &Path, kind: LockKind) -> Result<Option<FileLock>> {
        let op = match kind {
            LockKind::Shared => FlockOperation::NonBlockingLockShared,
            LockKind::Exclusive => FlockOperation::NonBlockingLockExclusive,
        };
        match rustix::fs::flock(&file, op) {
            Ok(()) => Ok(Some(FileLock {
                file,
                path: path.to_path_buf(),
                kind,
            })),
            Err(rustix::io::Errno::WOULDBLOCK) | Err(rustix::io::Errno::INTR) => Ok(None),
            Err(e) => {
                Err(std::io::Error::from(e)).ctx(|| format!("cannot lock {}", path.display()))
            }
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

    /// The locked file.
    pub fn file(&self) -> &File {
        &self.file
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
        assert!(FileLock::try_exclusive(&p, false).unwrap().is_none());
        drop(a);
        drop(b);
        let c = FileLock::try_acquire(&p, LockKind::Exclusive).unwrap();
        assert!(c.is_some());
        assert_eq!(c.as_ref().unwrap().kind(), LockKind::Exclusive);
        assert_eq!(c.as_ref().unwrap().path(), p);
        assert!(FileLock::try_acquire(&p, LockKind::Shared)
            .unwrap()
            .is_none());
    }

    #[test]
    fn directories_lock_themselves() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("c");
        std::fs::create_dir(&d).unwrap();
        let l = FileLock::directory(&d).unwrap();
        assert!(FileLock::try_exclusive(&d, true).unwrap().is_none());
        drop(l);
        assert!(FileLock::try_exclusive(&d, true).unwrap().is_some());
        // Nothing was created inside.
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0);
        let e = FileLock::directory(&dir.path().join("none")).unwrap_err();
        assert!(e.to_string().starts_with("cannot open "), "{e}");
    }

    #[test]
    fn a_waiter_gets_the_lock_when_it_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.lock");
        let held = FileLock::exclusive(&p).unwrap();
        let p2 = p.clone();
        let t = std::thread::spawn(move || FileLock::exclusive(&p2).map(|_| ()));
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!t.is_finished());
        drop(held);
        t.join().unwrap().unwrap();
    }
}

//! Build containers of builds that died: each build holds
//! `<root>/build/owners/<pid>.lock` exclusively while it runs and labels its
//! containers with [`OWNER_LABEL`]`=<pid>`; a build (or anyone) that can
//! take a dead owner's lock removes that owner's containers (unmounting
//! their rootfs) and its temp directories.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use berth_util::lock::FileLock;

use crate::{Error, Result};

/// The label that marks a build container with its builder's pid.
pub const OWNER_LABEL: &str = "berth.build.owner";

/// The lock a running build holds: one per process and store, shared by
/// the builds that process runs at once (the API service runs several),
/// released with the last of them.
pub struct Owner {
    pub pid: String,
    _lock: FileLock,
    path: PathBuf,
}

impl Drop for Owner {
    fn drop(&mut self) {
        // Unlinked while still held: a reaper that finds no file takes the
        // pid for dead only once no build of it runs.
        let _ = std::fs::remove_file(&self.path);
    }
}

fn owners_dir(root: &Path) -> PathBuf {
    root.join("build").join("owners")
}

/// This process's owner lock on the store at `root` (taken by its first
/// running build, shared by the others).
pub fn own(root: &Path) -> Result<Arc<Owner>> {
    static OWNERS: Mutex<BTreeMap<PathBuf, Weak<Owner>>> = Mutex::new(BTreeMap::new());
    let dir = owners_dir(root);
    let mut owners = OWNERS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(o) = owners.get(&dir).and_then(Weak::upgrade) {
        return Ok(o);
    }
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::Other(format!("cannot create {}: {e}", dir.display())))?;
    let pid = std::process::id().to_string();
    let path = dir.join(format!("{pid}.lock"));
    let lock = loop {
        let lock = FileLock::exclusive(&path)
            .map_err(|e| Error::Other(format!("lock {}: {e}", path.display())))?;
        // A reaper that took the file for a dead owner's (a pid reused)
        // may have unlinked it between our open and our lock: the lock
        // counts only on the file the path still names.
        let id = |m: std::fs::Metadata| (m.dev(), m.ino());
        let held = lock.file().metadata().map(id);
        let named = std::fs::metadata(&path).map(id);
        if matches!((held, named), (Ok(a), Ok(b)) if a == b) {
            break lock;
        }
    };
    let o = Arc::new(Owner {
        pid,
        _lock: lock,
        path,
    });
    owners.insert(dir, Arc::downgrade(&o));
    Ok(o)
}

/// Whether the build `pid` is gone (its lock free or absent).
fn dead(root: &Path, pid: &str) -> bool {
    if pid == std::process::id().to_string() {
        return false;
    }
    let path = owners_dir(root).join(format!("{pid}.lock"));
    if !path.exists() {
        return true;
    }
    match FileLock::try_exclusive(&path, false) {
        Ok(Some(_l)) => {
            let _ = std::fs::remove_file(&path);
            true
        }
        _ => false,
    }
}

/// Removes the containers and temp directories of builds that died;
/// returns how many containers went.
pub fn reap(engine: &engine::Engine) -> Result<usize> {
    let root = engine.root().to_path_buf();
    let mut n = 0;
    for c in engine.list(true)? {
        let Some(pid) = c.labels.get(OWNER_LABEL) else {
            continue;
        };
        if dead(&root, pid) && engine.remove(&c.id, true).is_ok() {
            n += 1;
        }
    }
    let tmp = root.join("build").join("tmp");
    if let Ok(rd) = std::fs::read_dir(&tmp) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            // `<pid>-<rest>`
            if let Some((pid, _)) = name.split_once('-') {
                if dead(&root, pid) {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
    }
    Ok(n)
}

/// A temp directory of this build under `<root>/build/tmp`.
pub fn temp_dir(root: &Path) -> Result<tempfile::TempDir> {
    let tmp = root.join("build").join("tmp");
    std::fs::create_dir_all(&tmp)
        .map_err(|e| Error::Other(format!("cannot create {}: {e}", tmp.display())))?;
    tempfile::Builder::new()
        .prefix(&format!("{}-", std::process::id()))
        .tempdir_in(&tmp)
        .map_err(|e| {
            Error::Other(format!(
                "cannot create a temp dir in {}: {e}",
                tmp.display()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The builds of one process share its owner lock: a second build
    /// (the API service runs several) neither waits for the first nor
    /// loses the lock when the first ends.
    #[test]
    fn builds_of_one_process_share_the_owner() {
        let d = tempfile::tempdir().unwrap();
        let a = own(d.path()).unwrap();
        let b = own(d.path()).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let path = owners_dir(d.path()).join(format!("{}.lock", std::process::id()));
        drop(a);
        assert!(path.exists(), "the lock went with a build still running");
        // Another process would find it held.
        let other = std::fs::File::open(&path).unwrap();
        assert!(
            FileLock::try_lock(other, &path, berth_util::lock::LockKind::Exclusive)
                .unwrap()
                .is_none()
        );
        drop(b);
        assert!(!path.exists());
    }
}

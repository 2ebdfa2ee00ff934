//! Build containers of builds that died: each build holds
//! `<root>/build/owners/<pid>.lock` exclusively while it runs and labels its
//! containers with [`OWNER_LABEL`]`=<pid>`; a build (or anyone) that can
//! take a dead owner's lock removes that owner's containers (unmounting
//! their rootfs) and its temp directories.

use std::path::{Path, PathBuf};

use berth_util::lock::FileLock;

use crate::{Error, Result};

/// The label that marks a build container with its builder's pid.
pub const OWNER_LABEL: &str = "berth.build.owner";

/// The lock a running build holds.
pub struct Owner {
    pub pid: String,
    _lock: FileLock,
    path: PathBuf,
}

impl Drop for Owner {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn owners_dir(root: &Path) -> PathBuf {
    root.join("build").join("owners")
}

/// Takes this process's owner lock.
pub fn own(root: &Path) -> Result<Owner> {
    let dir = owners_dir(root);
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::Other(format!("cannot create {}: {e}", dir.display())))?;
    let pid = std::process::id().to_string();
    let path = dir.join(format!("{pid}.lock"));
    let lock = FileLock::exclusive(&path)
        .map_err(|e| Error::Other(format!("lock {}: {e}", path.display())))?;
    Ok(Owner {
        pid,
        _lock: lock,
        path,
    })
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

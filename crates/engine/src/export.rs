//! `export`: a tar of a container's merged filesystem. A running
//! container's mounted rootfs is read as it is; otherwise the container's
//! layers (its upper directory over the image's) are mounted read-only for
//! the export, under the container's lock so it cannot start meanwhile.
//! The tree is read through descriptors with `O_NOFOLLOW` (see
//! [`crate::fscopy`]): a symlink in the container never leads out of it.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::path::Path;

use rustix::fs::{self as rfs, Mode, OFlags};

use crate::error::{Error, Result};
use crate::fscopy::{Kind, Meta, TarSink, Walker};
use crate::Engine;

/// What [`Engine::export`] exports.
#[derive(Debug, Clone, Default)]
pub struct ExportRequest {
    /// Container name or id.
    pub container: String,
}

/// Writes the tree at `root` as a tar to `out`.
fn tar_tree(root: &Path, out: &mut dyn Write) -> io::Result<()> {
    let dir = rfs::open(
        root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(io::Error::from)?;
    let mut tar = TarSink::new(out);
    {
        let mut sink = |p: &str, k: &Kind, m: &Meta, f: Option<&mut File>| tar.add(p, k, m, f);
        Walker::new(&mut sink, false).children(dir.as_fd(), "")?;
    }
    tar.finish()?;
    Ok(())
}

impl Engine {
    /// `export`: the container's filesystem as a tar written to `out`.
    pub fn export(&self, req: &ExportRequest, out: &mut dyn Write) -> Result<()> {
        let id = self.lookup(&req.container)?;
        let rootfs = self.rootfs_path(&id);
        let write_err = |e: io::Error| Error::io("write the archive", e);
        if self.state(&id)?.running() && crate::fssys::is_mount_point(&rootfs) {
            return tar_tree(&rootfs, out).map_err(write_err);
        }
        let _lock = self.lock_container(&id)?;
        if self.load_state_raw(&id)?.running() && crate::fssys::is_mount_point(&rootfs) {
            return tar_tree(&rootfs, out).map_err(write_err);
        }
        // Mounted where a run mounts it, as a run does: should this process
        // be killed meanwhile, a stopped container with its rootfs mounted
        // is what `rm`, `start` and `system prune` already clean up.
        let c = self.load_config(&id)?;
        self.mount_rootfs(&c)?;
        let r = tar_tree(&rootfs, out).map_err(write_err);
        let u = crate::sys::unmount(&rootfs);
        r?;
        u.map_err(|e| Error::io(format!("cannot unmount {}", rootfs.display()), e))
    }
}

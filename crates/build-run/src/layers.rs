//! What a path is in an image, read from its unpacked layers (overlay
//! lower dirs, top first) without mounting them: whiteouts (0:0 character
//! devices) and opaque directories (`trusted.overlay.opaque`) as overlayfs
//! reads them. Symlinks are not followed: a path through one is
//! [`PathKind::Symlink`] and the caller takes the container's way.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    Missing,
    Dir,
    /// A file or another non-directory.
    Other,
    /// A symlink on the way (or the path itself), or unreadable.
    Symlink,
}

fn opaque(dir: &Path) -> bool {
    matches!(
        image::sys::lgetxattr(dir, image::unpack::OVERLAY_OPAQUE_XATTR),
        Ok(Some(v)) if v == b"y"
    )
}

/// The merged kind of `rel` (no symlink among its parents).
fn merged(lowers: &[PathBuf], rel: &str) -> PathKind {
    let parent = rel.rsplit_once('/').map_or("", |(d, _)| d);
    for l in lowers {
        match std::fs::symlink_metadata(l.join(rel)) {
            Ok(m) => {
                let ft = m.file_type();
                return if ft.is_char_device() && m.rdev() == 0 {
                    PathKind::Missing
                } else if ft.is_dir() {
                    PathKind::Dir
                } else if ft.is_symlink() {
                    PathKind::Symlink
                } else {
                    PathKind::Other
                };
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !parent.is_empty() && opaque(&l.join(parent)) {
                    return PathKind::Missing;
                }
            }
            Err(_) => return PathKind::Symlink,
        }
    }
    PathKind::Missing
}

/// What `path` (absolute) is in the image with lower dirs `lowers`.
pub fn lookup(lowers: &[PathBuf], path: &str) -> PathKind {
    let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    if comps.is_empty() {
        return PathKind::Dir;
    }
    for i in 0..comps.len() {
        let k = merged(lowers, &comps[..=i].join("/"));
        let last = i + 1 == comps.len();
        match k {
            PathKind::Dir if !last => continue,
            PathKind::Other if !last => return PathKind::Symlink,
            k => return k,
        }
    }
    PathKind::Dir
}

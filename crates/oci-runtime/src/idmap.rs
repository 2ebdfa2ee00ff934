//! Id-mapped mounts (`"options": ["idmap"]`). The runtime, still root in the
//! host's user namespace, clones each source into a detached mount, maps it
//! through a user namespace made for the mount's mappings, and hands the
//! mount's fd to init, which moves it into place with move_mount.

use crate::error::{Context, Error, Result};
use crate::{mountopts, sys};
use oci_spec::runtime::{LinuxIdMapping, Spec};
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

/// A prepared id-mapped mount: index in `mounts[]` and its detached tree.
pub struct IdmappedMount {
    pub index: usize,
    pub tree: OwnedFd,
    pub is_dir: bool,
}

fn maps_text(m: &[LinuxIdMapping]) -> String {
    m.iter()
        .map(|x| format!("{} {} {}\n", x.container_id(), x.host_id(), x.size()))
        .collect()
}

/// A user namespace with the given mappings, as an fd (the helper process
/// that made it is gone when this returns).
fn userns_with(uids: &[LinuxIdMapping], gids: &[LinuxIdMapping]) -> Result<OwnedFd> {
    let (r, w) = nix::unistd::pipe().ctx(|| "pipe")?;
    let (r2, w2) = nix::unistd::pipe().ctx(|| "pipe")?;
    match sys::fork().ctx(|| "fork")? {
        sys::Forked::Child => {
            drop(w);
            drop(r2);
            let ok = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER).is_ok();
            let _ = nix::unistd::write(&w2, if ok { b"1" } else { b"0" });
            drop(w2);
            // Wait until the parent has taken what it needs.
            let mut b = [0u8; 1];
            let _ = std::fs::File::from(r).read(&mut b);
            sys::exit_now(0);
        }
        sys::Forked::Parent(pid) => {
            drop(r);
            drop(w2);
            let mut b = [0u8; 1];
            let res = (|| {
                std::fs::File::from(r2)
                    .read_exact(&mut b)
                    .ctx(|| "idmap helper")?;
                if b[0] != b'1' {
                    return Err(Error::msg("idmap: cannot create a user namespace"));
                }
                std::fs::write(format!("/proc/{pid}/uid_map"), maps_text(uids))
                    .ctx(|| "idmap: write uid_map")?;
                std::fs::write(format!("/proc/{pid}/gid_map"), maps_text(gids))
                    .ctx(|| "idmap: write gid_map")?;
                let f = std::fs::File::open(format!("/proc/{pid}/ns/user"))
                    .ctx(|| "idmap: open user namespace")?;
                Ok(OwnedFd::from(f))
            })();
            drop(w);
            let _ = sys::waitpid(pid, false);
            res
        }
    }
}

/// Prepares every id-mapped mount of the spec.
pub fn prepare(spec: &Spec, bundle: &Path) -> Result<Vec<IdmappedMount>> {
    let mut out = Vec::new();
    let linux = spec.linux().clone().unwrap_or_default();
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let opts = mountopts::parse(
            m.options().as_deref().unwrap_or_default(),
            m.typ().as_deref(),
        );
        if !opts.idmap {
            continue;
        }
        let field = format!("mounts[{i}]");
        if !opts.bind {
            return Err(Error::msg(format!(
                "{field}: idmap is only supported on bind mounts"
            )));
        }
        let uids = m
            .uid_mappings()
            .clone()
            .or_else(|| linux.uid_mappings().clone())
            .unwrap_or_default();
        let gids = m
            .gid_mappings()
            .clone()
            .or_else(|| linux.gid_mappings().clone())
            .unwrap_or_default();
        if uids.is_empty() || gids.is_empty() {
            return Err(Error::msg(format!(
                "{field}: idmap needs uidMappings and gidMappings (on the mount or in linux)"
            )));
        }
        let src = m
            .source()
            .clone()
            .ok_or_else(|| Error::msg(format!("{field}: bind mount without a source")))?;
        let src = if src.is_absolute() {
            src
        } else {
            bundle.join(src)
        };
        let is_dir = std::fs::metadata(&src)
            .ctx(|| format!("{field}: source {}", src.display()))?
            .is_dir();
        let userns = userns_with(&uids, &gids).map_err(|e| Error::msg(format!("{field}: {e}")))?;
        let recursive = opts.recursive || m.options().iter().flatten().any(|o| o == "ridmap");
        let tree = sys::open_tree_clone(&src, recursive)
            .ctx(|| format!("{field}: open_tree {}", src.display()))?;
        sys::mount_setattr_idmap(tree.as_raw_fd(), userns.as_raw_fd(), recursive).ctx(|| {
            format!(
                "{field}: cannot id-map {} (does its filesystem support idmapped mounts?)",
                src.display()
            )
        })?;
        out.push(IdmappedMount {
            index: i,
            tree,
            is_dir,
        });
    }
    Ok(out)
}

//! What containers use, the rule every face applies to image removal and
//! pruning: `rmi` refuses (without `-f`) an image a container uses, `image
//! prune -a` skips it, and GC keeps the snapshots under containers (their
//! overlay lowers).

use std::collections::HashSet;
use std::path::Path;

use crate::{Container, Engine, Error, Result, Status};
use image::{ChainId, Digest, Store};

/// Every container record in the store's root (none when the root has no
/// containers yet; nothing is created). Fails closed: a store or record it
/// cannot read is an error, not "no container uses it", or an image and
/// the layers under a container could be removed. Only containers removed
/// meanwhile and dead ones whose config is unreadable (they can only be
/// removed) are passed over.
fn containers(store: &Store) -> Result<Vec<(Container, bool)>> {
    let root = store.root();
    if !root.join("containers").is_dir() {
        return Ok(Vec::new());
    }
    let eng = Engine::open(root)?;
    let list = eng.list(true)?;
    let mut out = Vec::new();
    for s in &list {
        let running = s.state.is_active();
        match eng.container(&s.id) {
            Ok((c, _)) => out.push((c, running)),
            // Removed since the listing, or dead with an unreadable config.
            Err(Error::NoSuchContainer(_)) => {}
            Err(_) if s.state == Status::Dead => {}
            Err(e) => return Err(Error::msg(format!("container {}: {e}", s.id))),
        }
    }
    Ok(out)
}

/// Short ids of containers created from the image `id`, each with
/// whether it is running.
pub fn containers_using(store: &Store, id: &Digest) -> Result<Vec<(String, bool)>> {
    let want = id.to_string();
    Ok(containers(store)?
        .into_iter()
        .filter(|(c, _)| c.image == want)
        .map(|(c, running)| (c.id.chars().take(12).collect(), running))
        .collect())
}

/// Snapshots that garbage collection must keep (container lowers:
/// `snapshots/<hex>/fs`).
pub fn snapshots_in_use(store: &Store) -> Result<HashSet<ChainId>> {
    let mut keep = HashSet::new();
    for (c, _) in containers(store)? {
        for l in &c.lowers {
            let hex = if l.file_name().is_some_and(|n| n == "fs") {
                l.parent().and_then(Path::file_name)
            } else {
                l.file_name()
            };
            if let Some(d) =
                hex.and_then(|h| Digest::parse(&format!("sha256:{}", h.to_string_lossy())).ok())
            {
                keep.insert(d);
            }
        }
    }
    Ok(keep)
}

//! What containers use, for image removal and pruning: `rmi` refuses
//! (without `-f`) an image a container uses, `image prune -a` skips it,
//! and GC keeps the snapshots under containers (their overlay lowers).

use std::collections::HashSet;
use std::path::Path;

use image::{ChainId, Digest, Store};

/// Every container record in the store's root (none when the root has no
/// containers yet; nothing is created).
fn containers(store: &Store) -> Vec<(::engine::Container, bool)> {
    let root = store.root();
    if !root.join("containers").is_dir() {
        return Vec::new();
    }
    let Ok(eng) = ::engine::Engine::open(root) else {
        return Vec::new();
    };
    let Ok(list) = eng.list(true) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|s| {
            let running = matches!(
                s.state,
                ::engine::Status::Running | ::engine::Status::Paused | ::engine::Status::Restarting
            );
            eng.container(&s.id).ok().map(|(c, _)| (c, running))
        })
        .collect()
}

/// Short ids of containers created from the image `id`, each with
/// whether it is running.
pub fn containers_using(store: &Store, id: &Digest) -> Vec<(String, bool)> {
    let want = id.to_string();
    containers(store)
        .into_iter()
        .filter(|(c, _)| c.image == want)
        .map(|(c, running)| (c.id.chars().take(12).collect(), running))
        .collect()
}

/// Snapshots that garbage collection must keep (container lowers:
/// `snapshots/<hex>/fs`).
pub fn snapshots_in_use(store: &Store) -> HashSet<ChainId> {
    let mut keep = HashSet::new();
    for (c, _) in containers(store) {
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
    keep
}

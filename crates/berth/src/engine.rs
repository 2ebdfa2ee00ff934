//! Hooks for the container engine, which does not exist yet. Image
//! removal and pruning ask here which images and snapshots containers
//! use; once containers exist these must consult their records, so that
//! `rmi` refuses (without `-f`) an image a container uses, `image prune
//! -a` skips it, and GC keeps the snapshots under running containers.

use std::collections::HashSet;

use image::{ChainId, Digest, Store};

/// Names (ids) of containers created from the image `id`.
pub fn containers_using(_store: &Store, _id: &Digest) -> Vec<String> {
    Vec::new()
}

/// Snapshots that garbage collection must keep (container lowers).
pub fn snapshots_in_use(_store: &Store) -> HashSet<ChainId> {
    HashSet::new()
}

//! Berth's content-addressed image store.
//!
//! Layout of a store root (default `/var/lib/berth`):
//! ```text
//! blobs/sha256/<hex>        content-addressed blobs (manifests, configs, layers)
//! tmp/                      in-flight blob writes and snapshot unpacks
//! snapshots/<chainid>/fs    unpacked layers (overlayfs lower dirs)
//! snapshots/<chainid>/meta.json
//! images.json               image records and tags
//! store.lock                flock guarding images.json
//! gc.lock                   lease lock: writers shared, GC exclusive
//! ```
#![deny(unsafe_code)]

pub mod archive;
pub mod changes;
pub mod commit;
pub mod digest;
pub mod error;
mod fsutil;
pub mod images;
pub mod manifest;
pub mod pargz;
pub mod reference;
pub mod snapshot;
pub mod store;
#[allow(unsafe_code)]
pub mod sys;
pub mod unpack;

pub use archive::{ArchiveFormat, ImportOptions};
pub use changes::ChangeError;
pub use commit::CommitOptions;
pub use digest::{chain_ids, ChainId, Digest};
pub use error::{Error, Result};
pub use fsutil::{boot_id, private_dir};
pub use images::{GcLock, GcReport, ImageDb, ImageInfo, ImageRecord, LayerRecord, Store};
pub use manifest::{Descriptor, ImageConfig, Index, Manifest, ManifestDoc, ManifestKind, Platform};
pub use reference::{Reference, ReferenceError};
pub use snapshot::{overlay_options, SnapshotMeta, SnapshotState, SnapshotStore, StagedSnapshot};
pub use store::{BlobWriter, ContentStore, StagedBlob};
pub use unpack::{unpack_layer, LayerStats, UnpackOptions};

/// Default store root.
pub const DEFAULT_ROOT: &str = "/var/lib/berth";

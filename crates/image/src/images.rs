//! The image store: image records and tags in `images.json`, on top of
//! the blob store and the snapshots. Several berth processes may use one
//! store at once: `images.json` is read under a shared `flock` on
//! `store.lock` and rewritten atomically (temp, fsync, rename, fsync dir)
//! under an exclusive one.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::digest::{chain_ids, ChainId, Digest};
use crate::error::{Error, Result};
use crate::fsutil::now_secs;
use crate::manifest::{layer_compression, parse_manifest, ImageConfig, ManifestDoc, Platform};
use crate::reference::{is_identifier, Reference};
use crate::snapshot::{SnapshotState, SnapshotStore};
use crate::store::{ContentStore, GC_LOCK};
use crate::unpack::UnpackOptions;
use berth_util::fs::write_atomic;
use berth_util::lock::{FileLock, LockKind};

/// Largest manifest / index / config blob the store will parse.
pub const MAX_JSON_BLOB: u64 = 16 << 20;
const DB_FILE: &str = "images.json";
/// The store's `flock(2)` locks (berth_util::lock), in the store root:
/// - `store.lock` guards `images.json`: readers take it shared, writers
///   exclusive.
/// - `gc.lock` ([`GC_LOCK`]) is a *lease*: anything that creates content
///   (blob writers, snapshot unpacking, image registration) holds it
///   shared; garbage collection holds it exclusive, so it never deletes a
///   temp file or a fresh blob that a live writer is about to reference.
const DB_LOCK: &str = "store.lock";
const DB_VERSION: u32 = 1;

/// One layer of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// Digest of the (compressed) blob.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// Its size.
    pub size: u64,
    /// Digest of the uncompressed tar.
    pub diff_id: Digest,
}

/// What the store knows about one image. The id is the config digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Image id (= config digest).
    pub id: Digest,
    /// Digest of the image manifest.
    pub manifest_digest: Digest,
    /// Media type of the image manifest.
    pub manifest_media_type: String,
    /// Digest of the index it was selected from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_digest: Option<Digest>,
    /// Digest of the config blob.
    pub config_digest: Digest,
    /// Layers, bottom first.
    pub layers: Vec<LayerRecord>,
    /// Platform from the config.
    pub platform: Platform,
    /// `created` from the config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Unix seconds when the image was added to this store.
    pub added: u64,
}

impl ImageRecord {
    /// Chain ids of the image's layers, bottom first.
    pub fn chain_ids(&self) -> Vec<ChainId> {
        let diffs: Vec<Digest> = self.layers.iter().map(|l| l.diff_id.clone()).collect();
        chain_ids(&diffs)
    }

    /// Compressed size of manifest layers.
    pub fn size(&self) -> u64 {
        self.layers.iter().map(|l| l.size).sum()
    }

    /// Every blob the image needs.
    pub fn blobs(&self) -> Vec<Digest> {
        let mut v = vec![self.manifest_digest.clone(), self.config_digest.clone()];
        v.extend(self.index_digest.iter().cloned());
        v.extend(self.layers.iter().map(|l| l.digest.clone()));
        v
    }
}

/// An image with the names that point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// The record.
    pub record: ImageRecord,
    /// Tags (`docker.io/library/busybox:latest`), sorted.
    pub repo_tags: Vec<Reference>,
    /// Digest references (`docker.io/library/busybox@sha256:...`), sorted.
    pub repo_digests: Vec<Reference>,
}

/// Contents of `images.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageDb {
    /// Format version.
    pub version: u32,
    /// Records by id hex.
    #[serde(default)]
    pub images: BTreeMap<String, ImageRecord>,
    /// `repo:tag` → image id.
    #[serde(default)]
    pub tags: BTreeMap<String, Digest>,
    /// `repo@digest` → image id.
    #[serde(default)]
    pub digests: BTreeMap<String, Digest>,
}

impl ImageDb {
    fn remove_names_of(&mut self, id: &Digest) {
        self.tags.retain(|_, v| v != id);
        self.digests.retain(|_, v| v != id);
    }

    fn has_names(&self, id: &Digest) -> bool {
        self.tags.values().any(|v| v == id) || self.digests.values().any(|v| v == id)
    }
}

/// What garbage collection removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Blobs deleted.
    pub blobs: Vec<Digest>,
    /// Snapshots deleted.
    pub snapshots: Vec<ChainId>,
    /// Stale temp entries deleted.
    pub temp_files: usize,
    /// Bytes of blobs deleted.
    pub bytes: u64,
    /// Bytes of the temp entries deleted (blobs and layers being written
    /// by processes that were killed).
    pub temp_bytes: u64,
}

/// The exclusive GC lock ([`Store::gc_lock`]): no lease is held anywhere
/// while it is, so no pull, unpack or container create is in progress.
#[derive(Debug)]
pub struct GcLock(FileLock);

/// The image store.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    content: ContentStore,
    snapshots: SnapshotStore,
    unpack: UnpackOptions,
    /// The event journal, its files opened by the first append and kept
    /// (by this store and its clones: the engine's one journal).
    journal: events::Journal,
}

impl Store {
    /// Open (creating if needed) the store at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store> {
        let root = crate::fsutil::private_dir(&root.into())?;
        let content = ContentStore::new(&root)?;
        let snapshots = SnapshotStore::new(&root)?;
        Ok(Store {
            journal: events::Journal::new(&root),
            root,
            content,
            snapshots,
            unpack: UnpackOptions::default(),
        })
    }

    /// Override unpack options (e.g. no chown when rootless).
    pub fn with_unpack_options(mut self, opts: UnpackOptions) -> Store {
        self.unpack = opts;
        self
    }

    /// The store root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Options used to unpack layers into snapshots.
    pub fn unpack_options(&self) -> &UnpackOptions {
        &self.unpack
    }

    /// The blob store.
    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    /// The snapshot store.
    pub fn snapshots(&self) -> &SnapshotStore {
        &self.snapshots
    }

    /// A shared lease keeping GC away while content is being added.
    pub fn lease(&self) -> Result<FileLock> {
        self.content.lease()
    }

    // ---- metadata -------------------------------------------------------

    fn db_path(&self) -> PathBuf {
        self.root.join(DB_FILE)
    }

    fn load_db(&self) -> Result<ImageDb> {
        let p = self.db_path();
        match fs::read(&p) {
            Ok(data) => {
                let db: ImageDb = serde_json::from_slice(&data).map_err(|e| Error::Metadata {
                    path: p.clone(),
                    reason: e.to_string(),
                })?;
                if db.version > DB_VERSION {
                    return Err(Error::Metadata {
                        path: p,
                        reason: format!(
                            "format version {} is newer than supported {DB_VERSION}",
                            db.version
                        ),
                    });
                }
                Ok(db)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(ImageDb {
                version: DB_VERSION,
                ..Default::default()
            }),
            Err(e) => Err(Error::io(format!("read {}", p.display()), e)),
        }
    }

    /// A consistent snapshot of the metadata (shared lock).
    pub fn db(&self) -> Result<ImageDb> {
        let _l = FileLock::acquire(&self.root.join(DB_LOCK), LockKind::Shared)?;
        self.load_db()
    }

    /// Read-modify-write the metadata under the exclusive lock. The file is
    /// only replaced if `f` succeeds.
    pub fn update_db<T>(&self, f: impl FnOnce(&mut ImageDb) -> Result<T>) -> Result<T> {
        let _l = FileLock::acquire(&self.root.join(DB_LOCK), LockKind::Exclusive)?;
        let mut db = self.load_db()?;
        let before = db.clone();
        let out = f(&mut db)?;
        if db != before {
            db.version = DB_VERSION;
            let json = serde_json::to_vec_pretty(&db).map_err(|e| Error::json("images.json", e))?;
            write_atomic(&self.db_path(), &json)?;
        }
        Ok(out)
    }

    // ---- documents ------------------------------------------------------

    /// Read and parse a manifest or index blob.
    pub fn read_manifest(&self, digest: &Digest, hint: Option<&str>) -> Result<ManifestDoc> {
        let data = self.content.read(digest, MAX_JSON_BLOB)?;
        parse_manifest(&data, digest, hint)
    }

    /// Read and parse an image config blob.
    pub fn read_config(&self, digest: &Digest) -> Result<ImageConfig> {
        let data = self.content.read(digest, MAX_JSON_BLOB)?;
        ImageConfig::parse(&data, digest)
    }

    /// Config of an image.
    pub fn config(&self, image: &ImageRecord) -> Result<ImageConfig> {
        self.read_config(&image.config_digest)
    }

    // ---- registration ---------------------------------------------------

    /// Record an image whose manifest (and, if `index` is given, that index
    /// selected for `platform`), config and layers are all in the blob
    /// store, and point `names` at it. A tagged name moves the tag; a
    /// digest name must match the manifest or index digest. Every name's
    /// repository also gets a `repo@digest` entry.
    pub fn register(
        &self,
        top: &Digest,
        platform: &Platform,
        names: &[Reference],
    ) -> Result<ImageRecord> {
        let _lease = self.lease()?;
        let (index_digest, manifest_digest, kind_mt, manifest) =
            match self.read_manifest(top, None)? {
                ManifestDoc::Image(kind, m) => (None, top.clone(), kind.media_type(), m),
                ManifestDoc::Index(_, idx) => {
                    let desc = idx.select(platform, top)?;
                    match self.read_manifest(&desc.digest, Some(&desc.media_type))? {
                        ManifestDoc::Image(kind, m) => {
                            (Some(top.clone()), desc.digest.clone(), kind.media_type(), m)
                        }
                        ManifestDoc::Index(..) => {
                            return Err(Error::Manifest {
                                digest: desc.digest.to_string(),
                                reason: "nested indexes are not supported".into(),
                            })
                        }
                    }
                }
            };
        let config = self.read_config(&manifest.config.digest)?;
        if config.rootfs.diff_ids.len() != manifest.layers.len() {
            return Err(Error::Manifest {
                digest: manifest_digest.to_string(),
                reason: format!(
                    "{} layers but config {} lists {} diff_ids",
                    manifest.layers.len(),
                    manifest.config.digest,
                    config.rootfs.diff_ids.len()
                ),
            });
        }
        let mut layers = Vec::new();
        for (l, diff) in manifest.layers.iter().zip(&config.rootfs.diff_ids) {
            layer_compression(&l.media_type, &l.digest)?;
            // The blob's size must be the descriptor's (a damaged or
            // truncated blob is not trusted for being there).
            let size = self.content.size(&l.digest)?;
            if size != l.size {
                return Err(Error::SizeMismatch {
                    digest: l.digest.to_string(),
                    expected: l.size,
                    actual: size,
                });
            }
            layers.push(LayerRecord {
                digest: l.digest.clone(),
                media_type: l.media_type.clone(),
                size: l.size,
                diff_id: diff.clone(),
            });
        }
        let record = ImageRecord {
            id: manifest.config.digest.clone(),
            manifest_digest: manifest_digest.clone(),
            manifest_media_type: manifest
                .media_type
                .clone()
                .unwrap_or_else(|| kind_mt.to_string()),
            index_digest: index_digest.clone(),
            config_digest: manifest.config.digest.clone(),
            layers,
            platform: config.platform(),
            created: config.created.clone(),
            added: now_secs(),
        };
        let pinned = index_digest
            .clone()
            .unwrap_or_else(|| manifest_digest.clone());
        for n in names {
            if let Some(d) = n.digest() {
                if d != &pinned && d != &manifest_digest {
                    return Err(Error::DigestMismatch {
                        expected: d.clone(),
                        actual: pinned,
                    });
                }
            }
        }
        self.update_db(|db| {
            let rec = db
                .images
                .entry(record.id.hex().to_string())
                .or_insert_with(|| record.clone());
            // Re-registering refreshes digests (e.g. pulled via an index now).
            rec.manifest_digest = record.manifest_digest.clone();
            rec.manifest_media_type = record.manifest_media_type.clone();
            rec.index_digest = record.index_digest.clone();
            rec.layers = record.layers.clone();
            let out = rec.clone();
            for n in names {
                if let Some(t) = n.repo_tag() {
                    db.tags.insert(t, out.id.clone());
                }
                db.digests.insert(
                    n.repository().with_digest(pinned.clone()).to_string(),
                    out.id.clone(),
                );
            }
            Ok(out)
        })
    }

    // ---- queries --------------------------------------------------------
    /// The image's size as docker shows it: the uncompressed size of its
    /// layers, from the snapshots' metadata; a layer not unpacked yet
    /// counts with its compressed size.
    pub fn image_size(&self, image: &ImageRecord) -> u64 {
        image
            .chain_ids()
            .iter()
            .zip(&image.layers)
            .map(|(c, l)| self.snapshots.meta(c).map(|m| m.size).unwrap_or(l.size))
            .sum()
    }

    /// All images with their names, newest first.
    pub fn list(&self) -> Result<Vec<ImageInfo>> {
        let db = self.db()?;
        let mut out: Vec<ImageInfo> = db.images.values().map(|r| info_of(&db, r)).collect();
        out.sort_by(|a, b| {
            b.record
                .added
                .cmp(&a.record.added)
                .then(a.record.id.cmp(&b.record.id))
        });
        Ok(out)
    }

    /// Find an image by full or short id (`sha256:…`, hex, or a unique hex
    /// prefix of at least 4 digits) or by reference.
    pub fn resolve(&self, s: &str) -> Result<ImageInfo> {
        let db = self.db()?;
        let id = resolve_in(&db, s)?;
        let r = db
            .images
            .get(id.hex())
            .ok_or_else(|| Error::ImageNotFound(s.to_string()))?;
        Ok(info_of(&db, r))
    }

    /// Point `target` (a tag) at the image `source` names (event `tag`).
    pub fn tag(&self, source: &str, target: &Reference) -> Result<()> {
        let key = target.repo_tag().ok_or_else(|| {
            Error::ImageNotFound(format!("{target}: a tag is required to tag an image"))
        })?;
        let id = self.update_db(|db| {
            let id = resolve_in(db, source)?;
            db.tags.insert(key, id.clone());
            Ok(id)
        })?;
        self.log_event("tag", &id, &target.familiar());
        Ok(())
    }

    // ---- events ---------------------------------------------------------

    /// The event journal of this store (`<root>/events`): one per store
    /// (its clones share the files its appends keep open).
    pub fn journal(&self) -> &events::Journal {
        &self.journal
    }

    /// Logs an image event as docker does: the image ID as the actor, the
    /// image's labels (while it still exists) and `name`.
    pub fn log_event(&self, action: &str, id: &Digest, name: &str) {
        self.log_event_as(action, &id.to_string(), id, name);
    }

    /// As [`Store::log_event`] with another actor ID than the image's
    /// (docker's `pull` and `push` events name the reference).
    pub fn log_event_as(&self, action: &str, actor: &str, id: &Digest, name: &str) {
        let mut attrs = self.labels_of(id);
        if !name.is_empty() {
            attrs.insert("name".into(), name.to_string());
        }
        self.journal()
            .log(events::Message::new(events::IMAGE, action, actor, attrs));
    }

    fn labels_of(&self, id: &Digest) -> BTreeMap<String, String> {
        self.db()
            .ok()
            .and_then(|db| db.images.get(id.hex()).cloned())
            .and_then(|r| self.config(&r).ok())
            .and_then(|c| c.config)
            .map(|c| c.labels)
            .unwrap_or_default()
    }

    /// Remove one name. If no tag is left afterwards (and, when a digest
    /// name was removed, no digest name either) the record and its other
    /// names are deleted too (its content is reclaimed by [`Store::gc`]); returns the
    /// deleted image id in that case.
    pub fn untag(&self, name: &Reference) -> Result<Option<Digest>> {
        self.untag_with(name, false)
    }

    /// Removes the name `name` but keeps the image even when that was its
    /// last name (it is then listed as `<none>`): docker's `rmi -f` of the
    /// name of an image a running container uses.
    pub fn untag_keep(&self, name: &Reference) -> Result<()> {
        self.untag_with(name, true).map(|_| ())
    }

    fn untag_with(&self, name: &Reference, keep: bool) -> Result<Option<Digest>> {
        let labels = self
            .resolve(&name.to_string())
            .map(|i| self.labels_of(&i.record.id))
            .unwrap_or_default();
        let (id, deleted) = self.update_db(|db| {
            let by_tag = name.digest().is_none();
            let id = if let Some(t) = name.repo_tag().filter(|_| by_tag) {
                db.tags.remove(&t)
            } else {
                db.digests.remove(&name.to_string())
            };
            let id = id.ok_or_else(|| Error::ImageNotFound(name.familiar()))?;
            // As docker: once the last tag goes, the digest names go too.
            let tagged = db.tags.values().any(|v| *v == id);
            if !tagged && (by_tag || !db.has_names(&id)) {
                db.remove_names_of(&id);
                if keep {
                    return Ok((id, false));
                }
                db.images.remove(id.hex());
                return Ok((id, true));
            }
            Ok((id, false))
        })?;
        let mut attrs = labels;
        attrs.insert("name".into(), name.familiar());
        let journal = self.journal();
        journal.log(events::Message::new(
            events::IMAGE,
            "untag",
            id.to_string(),
            attrs,
        ));
        if deleted {
            self.log_event("delete", &id, &id.to_string());
            return Ok(Some(id));
        }
        Ok(None)
    }

    /// `docker rmi` semantics: a reference removes that name (and the image
    /// once unnamed); an id removes the image and all its names, which
    /// needs `force` if it has several tags. Returns the image ids deleted.
    pub fn remove(&self, s: &str, force: bool) -> Result<Vec<Digest>> {
        let by_id = looks_like_id(s);
        if !by_id {
            if let Ok(r) = Reference::parse(s) {
                let db = self.db()?;
                if db.tags.contains_key(&r.repo_tag().unwrap_or_default())
                    || db.digests.contains_key(&r.to_string())
                {
                    return Ok(self.untag(&r)?.into_iter().collect());
                }
            }
        }
        // Not a name: an id, or a unique short id (which counts as an id).
        let by_id = by_id || is_short_id(s);
        let labels = self
            .resolve(s)
            .map(|i| self.labels_of(&i.record.id))
            .unwrap_or_default();
        let (id, names) = self.update_db(|db| {
            let id = resolve_in(db, s)?;
            let ntags = db.tags.values().filter(|v| **v == id).count();
            if by_id && ntags > 1 && !force {
                return Err(Error::Conflict(format!(
                    "image {s} is referenced by {ntags} tags; remove them by name or force removal"
                )));
            }
            let names: Vec<String> = db
                .tags
                .iter()
                .chain(db.digests.iter())
                .filter(|(_, v)| **v == id)
                .map(|(k, _)| k.clone())
                .collect();
            db.remove_names_of(&id);
            db.images.remove(id.hex());
            Ok((id, names))
        })?;
        // As docker: each name untagged, then the image deleted.
        let journal = self.journal();
        for n in names {
            let mut attrs = labels.clone();
            let familiar = Reference::parse(&n).map(|r| r.familiar()).unwrap_or(n);
            attrs.insert("name".into(), familiar);
            journal.log(events::Message::new(
                events::IMAGE,
                "untag",
                id.to_string(),
                attrs,
            ));
        }
        self.log_event("delete", &id, &id.to_string());
        Ok(vec![id])
    }

    // ---- rootfs ---------------------------------------------------------

    /// Make sure every layer of `image` is unpacked (in parallel, up to the
    /// number of cores) and return the overlay lower dirs, top layer
    /// first. An image without layers gets one empty dir.
    pub fn prepare_rootfs(&self, image: &ImageRecord) -> Result<Vec<PathBuf>> {
        let _lease = self.lease()?;
        let chains = image.chain_ids();
        let missing: Vec<usize> = (0..chains.len())
            .filter(|&i| !self.snapshots.exists(&chains[i]))
            .collect();
        if !missing.is_empty() {
            let workers = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .min(missing.len());
            let next = AtomicUsize::new(0);
            let first_err: Mutex<Option<Error>> = Mutex::new(None);
            std::thread::scope(|sc| {
                for _ in 0..workers {
                    sc.spawn(|| loop {
                        let k = next.fetch_add(1, Ordering::SeqCst);
                        if k >= missing.len()
                            || first_err.lock().map(|e| e.is_some()).unwrap_or(true)
                        {
                            break;
                        }
                        let i = missing[k];
                        if let Err(e) = self.unpack_one(image, &chains, i) {
                            if let Ok(mut slot) = first_err.lock() {
                                slot.get_or_insert(e);
                            }
                            break;
                        }
                    });
                }
            });
            if let Some(e) = first_err.into_inner().ok().flatten() {
                return Err(e);
            }
        }
        if chains.is_empty() {
            return Ok(vec![self.snapshots.empty_dir()?]);
        }
        Ok(chains
            .iter()
            .rev()
            .map(|c| self.snapshots.fs_path(c))
            .collect())
    }

    /// Make sure the snapshots under a container's overlay lower dirs
    /// (`lowers`, as [`Store::prepare_rootfs`] returned them) are usable:
    /// those a restart of the machine left stale or lost (see
    /// [`crate::snapshot`]) are unpacked again from their blobs.
    pub fn revalidate_lowers<P: AsRef<Path>>(&self, lowers: &[P]) -> Result<()> {
        let stale: Vec<ChainId> = lowers
            .iter()
            .filter_map(|l| self.snapshot_of(l.as_ref()))
            .filter(|c| !self.snapshots.exists(c))
            .collect();
        if stale.is_empty() {
            return Ok(());
        }
        let _lease = self.lease()?;
        stale.iter().try_for_each(|c| self.restore_snapshot(c))
    }

    /// The snapshot whose tree `lower` is, if it is one of this store's.
    fn snapshot_of(&self, lower: &Path) -> Option<ChainId> {
        let dir = lower.parent()?;
        if lower.file_name()? != "fs" || dir.parent()? != self.snapshots.path_root() {
            return None;
        }
        Digest::from_hex(dir.file_name()?.to_str()?).ok()
    }

    /// Unpack the stale or missing snapshot `chain` again from its layer blob.
    fn restore_snapshot(&self, chain: &ChainId) -> Result<()> {
        let gone = |why: &str| {
            Error::Layer {
            layer: chain.to_string(),
            reason: format!(
                "its unpacked files are missing or, after a restart of the machine, may be incomplete, and {why}; remove the containers that use it"
            ),
        }
        };
        if let Ok(m) = self.snapshots.meta(chain) {
            if &m.chain_id == chain {
                if !self.content.exists(&m.layer_digest) {
                    return Err(gone(&format!(
                        "layer {} is no longer in the store",
                        m.layer_digest
                    )));
                }
                // After a restart of the machine: the blob is checked
                // whole while it is read.
                let (blob, check) = self.content.open_verifying(&m.layer_digest)?;
                self.snapshots.create_checked(
                    chain,
                    m.parent.as_ref(),
                    &m.diff_id,
                    &m.layer_digest,
                    &m.media_type,
                    io::BufReader::with_capacity(256 << 10, blob),
                    &self.unpack,
                    || damaged_blob(&m.layer_digest, check.verify()),
                )?;
                return Ok(());
            }
        }
        // Unreadable metadata: an image that has the layer tells.
        let db = self.db()?;
        for rec in db.images.values() {
            let chains = rec.chain_ids();
            if let Some(i) = chains.iter().position(|c| c == chain) {
                if self.content.exists(&rec.layers[i].digest) {
                    return self.unpack_one(rec, &chains, i);
                }
            }
        }
        Err(gone("no image in the store has its layer"))
    }

    fn unpack_one(&self, image: &ImageRecord, chains: &[ChainId], i: usize) -> Result<()> {
        let l = &image.layers[i];
        // The blob is read whole anyway: check its digest on the way.
        let (blob, check) = self.content.open_verifying(&l.digest)?;
        let parent = if i == 0 { None } else { Some(&chains[i - 1]) };
        self.snapshots.create_checked(
            &chains[i],
            parent,
            &l.diff_id,
            &l.digest,
            &l.media_type,
            io::BufReader::with_capacity(256 << 10, blob),
            &self.unpack,
            || damaged_blob(&l.digest, check.verify()),
        )?;
        Ok(())
    }

    // ---- garbage --------------------------------------------------------

    /// Delete blobs and snapshots no image record references (snapshots in
    /// `keep`, e.g. those under running containers, stay) and stale temp
    /// files. Waits for the exclusive GC lock, i.e. for every in-flight
    /// write to finish; must not be called while this process holds a
    /// lease or a [`crate::BlobWriter`].
    pub fn gc(&self, keep: &HashSet<ChainId>) -> Result<GcReport> {
        let held = self.gc_lock()?;
        self.gc_locked(&held, keep)
    }

    /// Waits for the exclusive GC lock (for every lease to be released).
    /// Whoever decides with it held that an image is unused (`rmi`,
    /// `image prune`) is sure no container create is about to use it: a
    /// create holds a lease from resolving its image until its record is
    /// written. The process must hold no lease itself.
    pub fn gc_lock(&self) -> Result<GcLock> {
        Ok(GcLock(FileLock::acquire(
            &self.root.join(GC_LOCK),
            LockKind::Exclusive,
        )?))
    }

    /// [`Store::gc_lock`] without waiting: `None` while a lease is held.
    pub fn try_gc_lock(&self) -> Result<Option<GcLock>> {
        Ok(FileLock::try_acquire(&self.root.join(GC_LOCK), LockKind::Exclusive)?.map(GcLock))
    }

    /// [`Store::gc`] with the GC lock already held (`keep` computed under it).
    pub fn gc_locked(&self, held: &GcLock, keep: &HashSet<ChainId>) -> Result<GcReport> {
        debug_assert_eq!(held.0.kind(), LockKind::Exclusive);
        let db = self.db()?;
        let mut blobs: HashSet<Digest> = HashSet::new();
        let mut snaps: HashSet<ChainId> = keep.clone();
        for r in db.images.values() {
            blobs.extend(r.blobs());
            snaps.extend(r.chain_ids());
        }
        // Parents of kept snapshots stay too (a container's lowers).
        for c in keep {
            let mut cur = self.snapshots.meta(c).ok().and_then(|m| m.parent);
            while let Some(p) = cur {
                cur = self.snapshots.meta(&p).ok().and_then(|m| m.parent);
                snaps.insert(p);
            }
        }
        // A kept snapshot is a cache of its layer blob until it is known to
        // be on disk: make it durable (or unpack it again, if stale) before
        // the blob goes.
        let mut orphaned = Vec::new();
        let mut keep_blobs = Vec::new();
        for c in &snaps {
            let state = self.snapshots.state(c);
            // A stale one is unpacked again now; if that fails, its blob stays.
            if state == SnapshotState::Stale && self.restore_snapshot(c).is_err() {
                if let Ok(m) = self.snapshots.meta(c) {
                    keep_blobs.push(m.layer_digest);
                }
                continue;
            }
            if state == SnapshotState::Missing {
                continue;
            }
            if let Ok(m) = self.snapshots.meta(c) {
                if m.unsynced_boot.is_some() && !blobs.contains(&m.layer_digest) {
                    orphaned.push(c.clone());
                }
            }
        }
        blobs.extend(keep_blobs);
        self.snapshots.make_durable(&orphaned)?;
        let mut report = GcReport::default();
        for d in self.content.list()? {
            if !blobs.contains(&d) {
                let size = self.content.size(&d).unwrap_or(0);
                if self.content.delete(&d)? {
                    report.bytes += size;
                    report.blobs.push(d);
                }
            }
        }
        for c in self.snapshots.list()? {
            if !snaps.contains(&c) && self.snapshots.remove(&c)? {
                report.snapshots.push(c);
            }
        }
        (report.temp_files, report.temp_bytes) = self.content.clean_temp()?;
        // Atomic-write temp files of images.json left by killed processes
        // (a live one may be writing under the metadata lock alone).
        let prefix = format!(".{DB_FILE}.tmp-");
        if let Ok(rd) = fs::read_dir(&self.root) {
            for e in rd.flatten() {
                let n = e.file_name();
                if berth_util::fs::temp_owner_alive(&n.to_string_lossy(), &prefix) == Some(false) {
                    let size = e.metadata().map(|m| m.len()).unwrap_or(0);
                    match fs::remove_file(e.path()) {
                        Ok(()) => {
                            report.temp_files += 1;
                            report.temp_bytes += size;
                        }
                        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                        Err(err) => {
                            return Err(Error::io(format!("remove {}", e.path().display()), err))
                        }
                    }
                }
            }
        }
        Ok(report)
    }
}

/// A layer blob that failed its check, said plainly.
fn damaged_blob(layer: &Digest, checked: Result<()>) -> Result<()> {
    checked.map_err(|e| Error::Layer {
        layer: layer.to_string(),
        reason: format!(
            "the stored blob is damaged ({e}); remove the image and pull or load it again"
        ),
    })
}

fn is_short_id(s: &str) -> bool {
    let hex = s.strip_prefix("sha256:").unwrap_or(s);
    hex.len() >= 4 && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

fn looks_like_id(s: &str) -> bool {
    let hex = s.strip_prefix("sha256:").unwrap_or(s);
    s.starts_with("sha256:") || is_identifier(hex)
}

fn info_of(db: &ImageDb, r: &ImageRecord) -> ImageInfo {
    let parse = |s: &String| Reference::parse_named(s).ok();
    let mut repo_tags: Vec<Reference> = db
        .tags
        .iter()
        .filter(|(_, v)| **v == r.id)
        .filter_map(|(k, _)| parse(k))
        .collect();
    repo_tags.sort();
    let mut repo_digests: Vec<Reference> = db
        .digests
        .iter()
        .filter(|(_, v)| **v == r.id)
        .filter_map(|(k, _)| parse(k))
        .collect();
    repo_digests.sort();
    ImageInfo {
        record: r.clone(),
        repo_tags,
        repo_digests,
    }
}

fn resolve_in(db: &ImageDb, s: &str) -> Result<Digest> {
    let not_found = || Error::ImageNotFound(s.to_string());
    // Full id.
    let hex = s.strip_prefix("sha256:").unwrap_or(s);
    if is_identifier(hex) {
        if db.images.contains_key(hex) {
            return Ok(Digest::from_hex(hex)?);
        }
        if s.starts_with("sha256:") {
            return Err(not_found());
        }
    }
    // A reference.
    if let Ok(r) = Reference::parse(s) {
        if r.digest().is_none() {
            if let Some(id) = r.repo_tag().and_then(|t| db.tags.get(&t)) {
                return Ok(id.clone());
            }
        } else if let Some(d) = r.digest() {
            let key = r.repository().with_digest(d.clone()).to_string();
            if let Some(id) = db.digests.get(&key) {
                return Ok(id.clone());
            }
            if let Some(rec) = db
                .images
                .values()
                .find(|rec| &rec.manifest_digest == d || rec.index_digest.as_ref() == Some(d))
            {
                return Ok(rec.id.clone());
            }
        }
    }
    // A short id.
    if hex.len() >= 4 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        let hits: Vec<&String> = db.images.keys().filter(|k| k.starts_with(hex)).collect();
        match hits.len() {
            0 => {}
            1 => return Ok(Digest::from_hex(hits[0])?),
            _ => return Err(Error::AmbiguousId(s.to_string())),
        }
    }
    Err(not_found())
}

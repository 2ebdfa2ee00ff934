//! Pull: resolve the manifest (selecting a platform from an index), fetch
//! the config, then download the missing layers in parallel. Each layer is
//! streamed through the digest check into the store's blob writer and, at
//! the same time, into the unpacker, so its snapshot is ready when its
//! download ends; the snapshot is published only after the blob verified.
//! Blobs and snapshots already present are skipped. Any failure removes
//! what this pull added (blobs, snapshots), and no image record is written.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};

use image::images::MAX_JSON_BLOB;
use image::manifest::{layer_compression, media_type, parse_manifest};
use image::{
    chain_ids, BlobWriter, ChainId, Descriptor, Digest, ImageConfig, ImageRecord, Manifest,
    ManifestDoc, Platform, Reference, StagedBlob, StagedSnapshot, Store,
};

use crate::client::{header, io_error, ok, Client, Method, Req, Scope, Target};
use crate::error::{Error, Result};
use crate::progress::{LayerState, Progress};

/// `Accept` for manifests: OCI and Docker schema2, images and indexes.
pub const MANIFEST_ACCEPT: &str = concat!(
    "application/vnd.oci.image.index.v1+json, ",
    "application/vnd.oci.image.manifest.v1+json, ",
    "application/vnd.docker.distribution.manifest.list.v2+json, ",
    "application/vnd.docker.distribution.manifest.v2+json"
);

/// A manifest or index as fetched from a registry.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    /// The exact bytes served.
    pub bytes: Vec<u8>,
    /// Their sha256 (verified against the reference or header).
    pub digest: Digest,
    /// The `Content-Type` the registry sent.
    pub content_type: Option<String>,
}

/// What a pull added to the store, removed again if the pull fails; and
/// what it verified but has not published yet (see [`Added::publish`]).
#[derive(Default)]
struct Added {
    blobs: Mutex<Vec<Digest>>,
    snapshots: Mutex<Vec<ChainId>>,
    staged_blobs: Mutex<Vec<StagedBlob>>,
    staged_snapshots: Mutex<Vec<StagedSnapshot>>,
    /// Blobs this pull downloaded (whose partial files it may have left).
    downloads: Mutex<Vec<Digest>>,
}

impl Added {
    fn blob(&self, d: &Digest) {
        self.blobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(d.clone());
    }
    fn snapshot(&self, c: &ChainId) {
        self.snapshots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(c.clone());
    }
    /// Make `b` durable now (in the caller's thread) and queue it.
    fn stage_blob(&self, b: StagedBlob) -> Result<()> {
        b.sync()
            .map_err(|e| Error::store(format!("store blob {}", b.digest()), e))?;
        self.staged_blobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(b);
        Ok(())
    }
    /// Queue `s` (a snapshot is a cache of its blob and is not synced:
    /// see `image::snapshot`).
    fn stage_snapshot(&self, s: StagedSnapshot) {
        self.staged_snapshots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(s);
    }

    /// Publish everything staged (each blob already made durable by the
    /// thread that staged it, overlapping the other layers' transfers):
    /// rename each into place, then fsync `blobs/` once, instead of once
    /// per blob. Snapshots are a cache of their blobs: nothing to sync.
    fn publish(&self, store: &Store) -> Result<()> {
        let snaps = std::mem::take(
            &mut *self
                .staged_snapshots
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        let blobs =
            std::mem::take(&mut *self.staged_blobs.lock().unwrap_or_else(|e| e.into_inner()));
        if blobs.is_empty() && snaps.iter().all(|s| s.existed()) {
            return Ok(());
        }
        let fail = |what: &str, e| Error::store(format!("publish {what}"), e);
        for s in snaps {
            let chain = s.meta().chain_id.clone();
            let (_, new) = s
                .publish()
                .map_err(|e| fail(&format!("snapshot {chain}"), e))?;
            if new {
                self.snapshot(&chain);
            }
        }
        let any_blob = !blobs.is_empty();
        for b in blobs {
            let d = b.digest().clone();
            b.publish().map_err(|e| fail(&format!("blob {d}"), e))?;
            self.blob(&d);
        }
        if any_blob {
            store
                .content()
                .sync_blob_dir()
                .map_err(|e| fail("blobs", e))?;
        }
        Ok(())
    }

    fn rollback(&self, store: &Store) {
        self.staged_blobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.staged_snapshots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        for c in self
            .snapshots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            let _ = store.snapshots().remove(&c);
        }
        for d in self
            .blobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            let _ = store.content().delete(&d);
        }
    }
}

/// One snapshot to create from a layer blob.
#[derive(Clone)]
struct SnapJob {
    chain: ChainId,
    parent: Option<ChainId>,
    diff_id: Digest,
}

/// One distinct layer blob and the snapshots that need it.
struct LayerJob {
    desc: Descriptor,
    need_blob: bool,
    snaps: Vec<SnapJob>,
}

/// Everything one layer worker needs.
struct Ctx<'a> {
    client: &'a Client,
    store: &'a Store,
    t: &'a Target,
    progress: &'a dyn Progress,
    cancel: &'a AtomicBool,
    added: &'a Added,
}

impl Client {
    /// GET a manifest or index by tag or digest. The body must hash to
    /// `expected` (or to the reference's digest) and agree with the
    /// `Docker-Content-Digest` header when there is one.
    pub fn fetch_manifest(&self, reference: &Reference) -> Result<FetchedManifest> {
        let t = Target::new(
            reference.domain(),
            reference.path(),
            Scope::pull(reference.path()),
        );
        let r = reference_part(reference);
        self.fetch_manifest_at(&t, &r, reference.digest())
    }

    pub(crate) fn fetch_manifest_at(
        &self,
        t: &Target,
        reference: &str,
        expected: Option<&Digest>,
    ) -> Result<FetchedManifest> {
        let what = format!("manifest {reference}");
        self.retrying(|| {
            let req = Req::new(
                Method::Get,
                format!("/v2/{}/manifests/{reference}", t.repo),
                &what,
            )
            .header("Accept", MANIFEST_ACCEPT);
            let mut resp = self.send(t, &req)?;
            if !ok(&resp) {
                return Err(self.status_error(t, &what, resp));
            }
            let content_type = header(&resp, "content-type")
                .map(|c| c.split(';').next().unwrap_or("").trim().to_string());
            let header_digest = header(&resp, "docker-content-digest");
            let bytes = read_limited(self, t, &what, &mut resp, MAX_JSON_BLOB)?;
            let digest = Digest::of_bytes(&bytes);
            let mismatch = |expected: Digest, what: String| Error::DigestMismatch {
                registry: t.host.clone(),
                repository: t.repo.clone(),
                what,
                expected,
                actual: digest.clone(),
            };
            if let Some(e) = expected {
                if e != &digest {
                    return Err(mismatch(e.clone(), what.clone()));
                }
            }
            if let Some(h) = header_digest {
                // Only sha256 can be checked; other algorithms are ignored.
                if let Ok(hd) = Digest::parse(h.trim()) {
                    if hd != digest {
                        return Err(mismatch(hd, format!("{what} (Docker-Content-Digest)")));
                    }
                }
            }
            Ok(FetchedManifest {
                bytes,
                digest,
                content_type,
            })
        })
    }

    /// GET a small blob (a config) into memory, verified.
    pub(crate) fn fetch_small_blob(&self, t: &Target, desc: &Descriptor) -> Result<Vec<u8>> {
        let what = format!("blob {}", desc.digest);
        if desc.size > MAX_JSON_BLOB {
            return Err(Error::Invalid {
                registry: t.host.clone(),
                repository: t.repo.clone(),
                what,
                reason: format!(
                    "config of {} bytes exceeds the {MAX_JSON_BLOB} byte limit",
                    desc.size
                ),
            });
        }
        self.retrying(|| {
            let req = Req::new(
                Method::Get,
                format!("/v2/{}/blobs/{}", t.repo, desc.digest),
                &what,
            );
            let mut resp = self.send(t, &req)?;
            if !ok(&resp) {
                return Err(self.status_error(t, &what, resp));
            }
            let bytes = read_limited(self, t, &what, &mut resp, desc.size + 1)?;
            check_size(t, &desc.digest, desc.size, bytes.len() as u64)?;
            let actual = Digest::of_bytes(&bytes);
            if actual != desc.digest {
                return Err(Error::DigestMismatch {
                    registry: t.host.clone(),
                    repository: t.repo.clone(),
                    what: what.clone(),
                    expected: desc.digest.clone(),
                    actual,
                });
            }
            Ok(bytes)
        })
    }

    /// Run `f`, retrying transfers that broke off (bounded, with backoff).
    pub(crate) fn retrying<T>(&self, mut f: impl FnMut() -> Result<T>) -> Result<T> {
        let mut attempt = 0;
        loop {
            match f() {
                Err(e @ (Error::Transport { .. } | Error::Truncated { .. }))
                    if attempt < self.cfg.retries =>
                {
                    let _ = e;
                    std::thread::sleep(
                        self.cfg
                            .retry_delay
                            .saturating_mul(1 << attempt.min(16))
                            .min(std::time::Duration::from_secs(10)),
                    );
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Pull `reference` into `store`, selecting `platform` from an index,
    /// and record it under that name (event `pull`, as docker: the
    /// reference as the actor, its repository as `name`). Returns the
    /// image record.
    pub fn pull(
        &self,
        store: &Store,
        reference: &Reference,
        platform: &Platform,
        progress: &dyn Progress,
    ) -> Result<ImageRecord> {
        let rec = self.pull_unlogged(store, reference, platform, progress)?;
        store.log_event_as(
            "pull",
            &reference.familiar(),
            &rec.id,
            &reference.familiar_name(),
        );
        Ok(rec)
    }

    fn pull_unlogged(
        &self,
        store: &Store,
        reference: &Reference,
        platform: &Platform,
        progress: &dyn Progress,
    ) -> Result<ImageRecord> {
        let t = Target::new(
            reference.domain(),
            reference.path(),
            Scope::pull(reference.path()),
        );
        let _lease = store
            .lease()
            .map_err(|e| Error::store("pull: lease the image store", e))?;
        // Housekeeping, best effort: downloads abandoned for a day go
        // (one readdir; those in flight are locked and stay). A failure
        // here must not fail the pull.
        let _ = store
            .content()
            .expire_partials(image::store::PARTIAL_MAX_AGE);
        let added = Added::default();
        let res = self.pull_inner(store, &t, reference, platform, progress, &added);
        if let Err(e) = &res {
            added.rollback(store);
            // Bytes received are kept for a resume only if trying again
            // may help; after wrong content, a refused connection or a
            // full disk, none stay (those of the layers cancelled by the
            // failure included).
            if !e.is_transient() {
                for d in added
                    .downloads
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter()
                {
                    let _ = store.content().discard_partial(d);
                }
            }
        }
        res
    }

    fn pull_inner(
        &self,
        store: &Store,
        t: &Target,
        reference: &Reference,
        platform: &Platform,
        progress: &dyn Progress,
        added: &Added,
    ) -> Result<ImageRecord> {
        let invalid = |what: String, reason: String| Error::Invalid {
            registry: t.host.clone(),
            repository: t.repo.clone(),
            what,
            reason,
        };
        let r = reference_part(reference);
        // Documents to write to the store once the layers are in.
        let mut docs: Vec<(Digest, Vec<u8>)> = Vec::new();
        // Pinned and already here (whole: read verifies the digest): no
        // need to ask the registry.
        let here = reference
            .digest()
            .and_then(|d| Some((d, store.content().read(d, MAX_JSON_BLOB).ok()?)));
        let top = match here {
            Some((d, bytes)) => FetchedManifest {
                bytes,
                digest: d.clone(),
                content_type: None,
            },
            None => self.fetch_manifest_at(t, &r, reference.digest())?,
        };
        progress.resolved(reference, &top.digest);
        let what = format!("manifest {r}");
        let doc = parse_manifest(&top.bytes, &top.digest, top.content_type.as_deref())
            .map_err(|e| invalid(what.clone(), e.to_string()))?;
        docs.push((top.digest.clone(), top.bytes.clone()));
        let (manifest_digest, manifest) = match doc {
            ManifestDoc::Image(_, m) => (top.digest.clone(), m),
            ManifestDoc::Index(_, idx) => {
                let desc = idx
                    .select(platform, &top.digest)
                    .map_err(|e| invalid(what.clone(), e.to_string()))?
                    .clone();
                let child_what = format!("manifest {}", desc.digest);
                let here = store
                    .content()
                    .has(&desc.digest, desc.size)
                    .then(|| store.content().read(&desc.digest, MAX_JSON_BLOB).ok())
                    .flatten();
                let child = match here {
                    Some(bytes) => FetchedManifest {
                        bytes,
                        digest: desc.digest.clone(),
                        content_type: Some(desc.media_type.clone()),
                    },
                    None => {
                        self.fetch_manifest_at(t, &desc.digest.to_string(), Some(&desc.digest))?
                    }
                };
                if child.bytes.len() as u64 != desc.size {
                    return Err(invalid(
                        child_what.clone(),
                        format!(
                            "size mismatch: the index says {} bytes, got {}",
                            desc.size,
                            child.bytes.len()
                        ),
                    ));
                }
                let hint = child
                    .content_type
                    .clone()
                    .filter(|c| c != "application/json")
                    .unwrap_or(desc.media_type.clone());
                match parse_manifest(&child.bytes, &child.digest, Some(&hint))
                    .map_err(|e| invalid(child_what.clone(), e.to_string()))?
                {
                    ManifestDoc::Image(_, m) => {
                        docs.push((child.digest.clone(), child.bytes.clone()));
                        (child.digest, m)
                    }
                    ManifestDoc::Index(..) => {
                        return Err(invalid(
                            child_what,
                            "nested indexes are not supported".into(),
                        ))
                    }
                }
            }
        };
        let m_what = format!("manifest {manifest_digest}");
        for l in &manifest.layers {
            layer_compression(&l.media_type, &l.digest)
                .map_err(|e| invalid(m_what.clone(), e.to_string()))?;
        }
        let config = self.pull_config(store, t, &manifest, &mut docs)?;
        if config.rootfs.diff_ids.len() != manifest.layers.len() {
            return Err(invalid(
                m_what,
                format!(
                    "{} layers but config {} lists {} diff_ids",
                    manifest.layers.len(),
                    manifest.config.digest,
                    config.rootfs.diff_ids.len()
                ),
            ));
        }
        // Manifest(s) and config are written and synced while the layers
        // download; all is published at once below: a failed pull leaves
        // no trace.
        let stage_docs = || -> Result<()> {
            for (d, bytes) in &docs {
                // Written unless an intact copy is there (read checks the
                // digest: a damaged one of the same size is replaced).
                if store.content().read(d, MAX_JSON_BLOB).is_err() {
                    let mut w = store
                        .content()
                        .writer(Some(d.clone()), Some(bytes.len() as u64))
                        .map_err(|e| Error::store(format!("store blob {d}"), e))?;
                    w.write_all(bytes).map_err(|e| {
                        Error::store(format!("store blob {d}"), image::Error::io("write", e))
                    })?;
                    added.stage_blob(
                        w.stage()
                            .map_err(|e| Error::store(format!("store blob {d}"), e))?,
                    )?;
                }
            }
            Ok(())
        };
        let (layers, docs_done) = std::thread::scope(|sc| {
            let h = sc.spawn(stage_docs);
            let layers = self.pull_layers(store, t, &manifest, &config, progress, added);
            (
                layers,
                h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
            )
        });
        layers?;
        docs_done?;
        added.publish(store)?;
        store
            .register(&top.digest, platform, std::slice::from_ref(reference))
            .map_err(|e| Error::store(format!("register {reference}"), e))
    }

    fn pull_config(
        &self,
        store: &Store,
        t: &Target,
        manifest: &Manifest,
        docs: &mut Vec<(Digest, Vec<u8>)>,
    ) -> Result<ImageConfig> {
        let desc = &manifest.config;
        // A copy in the store is used if it is whole (read verifies the
        // digest); a damaged one is fetched again and replaced.
        let bytes = match store
            .content()
            .has(&desc.digest, desc.size)
            .then(|| store.content().read(&desc.digest, MAX_JSON_BLOB).ok())
            .flatten()
        {
            Some(b) => b,
            None => {
                let b = self.fetch_small_blob(t, desc)?;
                docs.push((desc.digest.clone(), b.clone()));
                b
            }
        };
        if desc.media_type != media_type::OCI_CONFIG && desc.media_type != media_type::DOCKER_CONFIG
        {
            return Err(Error::Invalid {
                registry: t.host.clone(),
                repository: t.repo.clone(),
                what: format!("config {}", desc.digest),
                reason: format!(
                    "unsupported config media type {:?} (not a container image)",
                    desc.media_type
                ),
            });
        }
        ImageConfig::parse(&bytes, &desc.digest).map_err(|e| Error::Invalid {
            registry: t.host.clone(),
            repository: t.repo.clone(),
            what: format!("config {}", desc.digest),
            reason: e.to_string(),
        })
    }

    fn pull_layers(
        &self,
        store: &Store,
        t: &Target,
        manifest: &Manifest,
        config: &ImageConfig,
        progress: &dyn Progress,
        added: &Added,
    ) -> Result<()> {
        let chains = chain_ids(&config.rootfs.diff_ids);
        // Group by blob: a blob used twice is downloaded once.
        let mut jobs: Vec<LayerJob> = Vec::new();
        let mut by_digest: HashMap<Digest, usize> = HashMap::new();
        for (i, l) in manifest.layers.iter().enumerate() {
            let k = *by_digest.entry(l.digest.clone()).or_insert_with(|| {
                jobs.push(LayerJob {
                    desc: l.clone(),
                    // A blob of the wrong size is damaged: fetched again
                    // (its publication replaces it).
                    need_blob: !store.content().has(&l.digest, l.size),
                    snaps: Vec::new(),
                });
                jobs.len() - 1
            });
            if !store.snapshots().exists(&chains[i]) {
                jobs[k].snaps.push(SnapJob {
                    chain: chains[i].clone(),
                    parent: (i > 0).then(|| chains[i - 1].clone()),
                    diff_id: config.rootfs.diff_ids[i].clone(),
                });
            }
        }
        let work: Vec<&LayerJob> = jobs
            .iter()
            .filter(|j| {
                let todo = j.need_blob || !j.snaps.is_empty();
                let state = if todo {
                    LayerState::Waiting
                } else {
                    LayerState::Exists
                };
                progress.layer(&j.desc.digest, j.desc.size, state);
                todo
            })
            .collect();
        if work.is_empty() {
            return Ok(());
        }
        let cancel = AtomicBool::new(false);
        let ctx = Ctx {
            client: self,
            store,
            t,
            progress,
            cancel: &cancel,
            added,
        };
        let next = AtomicUsize::new(0);
        let first_err: Mutex<Option<Error>> = Mutex::new(None);
        let workers = self.cfg.max_parallel.min(work.len());
        std::thread::scope(|sc| {
            for _ in 0..workers {
                sc.spawn(|| loop {
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    if k >= work.len() || cancel.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Err(e) = ctx.layer(work[k]) {
                        let mut slot = first_err.lock().unwrap_or_else(|e| e.into_inner());
                        if slot.is_none() {
                            *slot = Some(e);
                        }
                        cancel.store(true, Ordering::SeqCst);
                        break;
                    }
                });
            }
        });
        match first_err.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Ctx<'_> {
    fn layer(&self, job: &LayerJob) -> Result<()> {
        let d = &job.desc.digest;
        let mut rest: &[SnapJob] = &job.snaps;
        let mut staged = None;
        if job.need_blob {
            let first = job.snaps.first();
            let mut attempt = 0;
            loop {
                self.progress
                    .layer(d, job.desc.size, LayerState::Downloading);
                match self.download(&job.desc, first) {
                    Ok(b) => {
                        staged = Some(b);
                        break;
                    }
                    Err(e)
                        if e.is_transient()
                            && attempt < self.client.cfg.retries
                            && !self.cancel.load(Ordering::SeqCst) =>
                    {
                        self.progress.layer(d, job.desc.size, LayerState::Retrying);
                        std::thread::sleep(
                            self.client
                                .cfg
                                .retry_delay
                                .saturating_mul(1 << attempt.min(16))
                                .min(std::time::Duration::from_secs(10)),
                        );
                        attempt += 1;
                    }
                    Err(e) => return Err(e),
                }
            }
            if first.is_some() {
                rest = &job.snaps[1..];
            }
        }
        for s in rest {
            self.progress
                .layer(d, job.desc.size, LayerState::Extracting);
            let unpack_err = |e| {
                Error::store(
                    format!("{}/{}: unpack layer {d}", self.t.host, self.t.repo),
                    e,
                )
            };
            if let Some(b) = &staged {
                let blob = b
                    .open()
                    .map_err(|e| Error::store(format!("open layer {d}"), e))?;
                let snap = self
                    .store
                    .snapshots()
                    .stage_checked(
                        &s.chain,
                        s.parent.as_ref(),
                        &s.diff_id,
                        d,
                        &job.desc.media_type,
                        BufReader::with_capacity(256 << 10, blob),
                        self.store.unpack_options(),
                        || Ok(()),
                    )
                    .map_err(unpack_err)?;
                self.added.stage_snapshot(snap);
                continue;
            }
            // The store's copy is read whole: its digest is checked on
            // the way. A damaged one (wrong digest, not the layer its
            // diff id says) is downloaded again, replacing it.
            let (blob, check) = self
                .store
                .content()
                .open_verifying(d)
                .map_err(|e| Error::store(format!("open layer {d}"), e))?;
            let res = self.store.snapshots().stage_checked(
                &s.chain,
                s.parent.as_ref(),
                &s.diff_id,
                d,
                &job.desc.media_type,
                BufReader::with_capacity(256 << 10, blob),
                self.store.unpack_options(),
                || check.verify(),
            );
            let damaged = match &res {
                Ok(_) => false,
                Err(image::Error::DigestMismatch { .. } | image::Error::DiffIdMismatch { .. }) => {
                    true
                }
                // The unpacker refused it (or could not write): damaged
                // only if the blob does not hash to its digest.
                Err(_) => self.store_blob_damaged(d),
            };
            match res {
                Ok(snap) => self.added.stage_snapshot(snap),
                Err(_) if damaged => {
                    self.progress
                        .layer(d, job.desc.size, LayerState::Downloading);
                    staged = Some(self.download(&job.desc, Some(s))?);
                }
                Err(e) => return Err(unpack_err(e)),
            }
        }
        if let Some(b) = staged {
            self.added.stage_blob(b)?;
        }
        self.progress.layer(d, job.desc.size, LayerState::Complete);
        Ok(())
    }

    /// Whether the store's blob `d` does not hash to its digest.
    fn store_blob_damaged(&self, d: &Digest) -> bool {
        let Ok((mut r, check)) = self.store.content().open_verifying(d) else {
            return false;
        };
        io::copy(&mut r, &mut io::sink()).is_ok()
            && matches!(check.verify(), Err(image::Error::DigestMismatch { .. }))
    }

    /// Download one layer blob into the store, unpacking it into `snap`
    /// on the way if given.
    ///
    /// Two threads per layer: this one decompresses, hashes the tar (diff
    /// id) and unpacks; a pump thread reads the HTTP body, hashes it and
    /// writes it to the blob file, and hands each chunk over a bounded
    /// channel. Network, digest and unpacking so overlap even for an image
    /// with a single large layer. The pump always reads the whole body (if
    /// the unpacker stops early it keeps storing the blob), so the blob's
    /// size and digest are checked whatever the unpacker did.
    fn download(&self, desc: &Descriptor, snap: Option<&SnapJob>) -> Result<StagedBlob> {
        let (t, client) = (self.t, self.client);
        let d = &desc.digest;
        let what = format!("blob {d}");
        self.added
            .downloads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(d.clone());
        // The bytes of an earlier, broken attempt are kept in the store's
        // partial file: replayed (hashed, and fed to the unpacker) from
        // disk, and only the rest is asked for.
        let mut writer = self
            .store
            .content()
            .resumable_writer(d.clone(), desc.size)
            .map_err(|e| Error::store(format!("store blob {d}"), e))?;
        let from = writer.resume_offset();
        let body: Box<dyn Read + Send + '_> = if from == desc.size {
            Box::new(io::empty())
        } else {
            let get = |range: bool| {
                let mut req = Req::new(Method::Get, format!("/v2/{}/blobs/{d}", t.repo), &what);
                if range {
                    req = req.header("Range", format!("bytes={from}-"));
                }
                client.send(t, &req)
            };
            let mut resp = get(from > 0)?;
            if from > 0 && !resumes_at(&resp, from, desc.size) {
                // 200: the registry sends the whole blob (no ranges);
                // anything else: ask again without a range.
                writer.restart().map_err(|e| {
                    Error::store(
                        format!("store blob {d}"),
                        image::Error::io("restart partial blob", e),
                    )
                })?;
                if resp.status().as_u16() != 200 {
                    resp = get(false)?;
                }
            }
            if !ok(&resp) {
                return Err(client.status_error(t, &what, resp));
            }
            let start = writer.resume_offset();
            if let Some(cl) =
                header(&resp, "content-length").and_then(|v| v.trim().parse::<u64>().ok())
            {
                if cl != desc.size - start {
                    // Not the blob: its bytes (and earlier ones) go.
                    writer.discard();
                    return Err(Error::SizeMismatch {
                        registry: t.host.clone(),
                        repository: t.repo.clone(),
                        digest: d.clone(),
                        expected: desc.size,
                        actual: cl + start,
                    });
                }
            }
            Box::new(resp.into_body().into_reader().take(desc.size - start + 1))
        };
        let resumed_from = writer.resume_offset();
        let mut tee = Tee {
            body,
            writer: Some(writer),
            read_err: None,
            write_err: None,
            done: 0,
            resumed_from,
            digest: d,
            total: desc.size,
            progress: self.progress,
            cancel: self.cancel,
        };
        let Some(snap) = snap else {
            let _ = tee.drain();
            return self.finish(tee);
        };
        // The blob, verified by the check below.
        let verified: RefCell<Option<StagedBlob>> = RefCell::new(None);
        std::thread::scope(|sc| {
            let (tx, rx) = mpsc::sync_channel::<Chunk>(PIPE_DEPTH);
            let (free_tx, free_rx) = mpsc::channel::<Vec<u8>>();
            let pump = RefCell::new(Some(sc.spawn(move || {
                tee.pump(&tx, &free_rx);
                tee
            })));
            // The pump's tee, once joined.
            let joined: RefCell<Option<Tee<'_>>> = RefCell::new(None);
            let join = || {
                if let Some(h) = pump.borrow_mut().take() {
                    let tee = h.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
                    *joined.borrow_mut() = Some(tee);
                }
            };
            // Our own error from inside the check closure.
            let finish_err: RefCell<Option<Error>> = RefCell::new(None);
            let res = self.store.snapshots().stage_checked(
                &snap.chain,
                snap.parent.as_ref(),
                &snap.diff_id,
                d,
                &desc.media_type,
                ChanReader {
                    rx,
                    free: free_tx,
                    cur: Vec::new(),
                    pos: 0,
                },
                self.store.unpack_options(),
                || {
                    join();
                    let tee = joined.borrow_mut().take().expect("joined");
                    match self.finish(tee) {
                        Ok(b) => {
                            *verified.borrow_mut() = Some(b);
                            Ok(())
                        }
                        Err(e) => {
                            let msg = e.to_string();
                            *finish_err.borrow_mut() = Some(e);
                            Err(image::Error::Layer {
                                layer: d.to_string(),
                                reason: msg,
                            })
                        }
                    }
                },
            );
            // The reader is gone by now: the pump finishes the body alone.
            join();
            match res {
                Ok(staged) => {
                    self.added.stage_snapshot(staged);
                    match joined.borrow_mut().take() {
                        // The snapshot existed, so the check never ran:
                        // still store the blob.
                        Some(tee) => self.finish(tee),
                        None => Ok(verified.take().expect("verified by the check")),
                    }
                }
                Err(e) => {
                    if let Some(mine) = finish_err.into_inner() {
                        return Err(mine);
                    }
                    // Unpacking failed. A broken transfer or wrong content
                    // explains it better than the unpacker's complaint.
                    let mut tee = joined.borrow_mut().take().expect("joined");
                    if let Some(err) = self.transfer_error(&tee) {
                        return Err(discard_unless_transient(&mut tee, err));
                    }
                    if let Some(w) = tee.writer.take() {
                        let actual = w.digest();
                        if &actual != d {
                            // Complete and wrong: not worth resuming.
                            w.discard();
                            return Err(Error::DigestMismatch {
                                registry: t.host.clone(),
                                repository: t.repo.clone(),
                                what: tee.what(),
                                expected: d.clone(),
                                actual,
                            });
                        }
                    }
                    Err(Error::store(
                        format!("{}/{}: unpack layer {d}", t.host, t.repo),
                        e,
                    ))
                }
            }
        })
    }

    /// A read error or short/long body, as an error naming the blob.
    fn transfer_error(&self, tee: &Tee<'_>) -> Option<Error> {
        let t = self.t;
        // The store could not take the bytes (a full disk): say so, with
        // the file, rather than blame the transfer.
        if let Some((kind, msg, path)) = &tee.write_err {
            return Some(Error::store(
                format!("{}/{}: store blob {}", t.host, t.repo, tee.digest),
                image::Error::io(
                    format!("write {}", path.display()),
                    io::Error::new(*kind, msg.clone()),
                ),
            ));
        }
        if self.cancel.load(Ordering::SeqCst) {
            return Some(Error::Transport {
                registry: t.host.clone(),
                what: format!("blob {}", tee.digest),
                reason: "cancelled after another layer failed".into(),
            });
        }
        if let Some((kind, msg)) = &tee.read_err {
            if *kind == io::ErrorKind::UnexpectedEof
                || tee.done < tee.total && msg.contains("close")
            {
                return Some(Error::Truncated {
                    registry: t.host.clone(),
                    repository: t.repo.clone(),
                    digest: tee.digest.clone(),
                    received: tee.done,
                    expected: tee.total,
                });
            }
            let (_, err) = io_error(
                io::Error::new(*kind, msg.clone()),
                &t.host,
                &format!("blob {}", tee.digest),
            );
            return Some(err);
        }
        if tee.done != tee.total {
            return Some(check_size(t, tee.digest, tee.total, tee.done).unwrap_err());
        }
        None
    }

    /// Check the (fully read) body's size and digest; the blob is staged,
    /// published with the rest of the pull.
    fn finish(&self, mut tee: Tee<'_>) -> Result<StagedBlob> {
        if let Some(err) = self.transfer_error(&tee) {
            return Err(discard_unless_transient(&mut tee, err));
        }
        let w = tee.writer.take().expect("writer present until finish");
        let d = tee.digest.clone();
        match w.stage() {
            Ok(b) => Ok(b),
            Err(image::Error::DigestMismatch { expected, actual }) => Err(Error::DigestMismatch {
                registry: self.t.host.clone(),
                repository: self.t.repo.clone(),
                what: tee.what(),
                expected,
                actual,
            }),
            Err(e) => Err(Error::store(format!("store blob {d}"), e)),
        }
    }
}

/// Reads the HTTP body, writing every byte into the blob writer.
struct Tee<'a> {
    body: Box<dyn Read + Send + 'a>,
    writer: Option<BlobWriter>,
    read_err: Option<(io::ErrorKind, String)>,
    /// Writing into the store failed: kind, message, file.
    write_err: Option<(io::ErrorKind, String, std::path::PathBuf)>,
    done: u64,
    /// Bytes replayed from an earlier attempt's partial file.
    resumed_from: u64,
    total: u64,
    digest: &'a Digest,
    progress: &'a dyn Progress,
    cancel: &'a AtomicBool,
}

/// Bytes handed from the pump to the unpacker, or the read error that
/// ended the body.
type Chunk = std::result::Result<Vec<u8>, (io::ErrorKind, String)>;

/// Chunks in flight between a layer's pump and its unpacker.
const PIPE_DEPTH: usize = 8;
/// Size of one chunk.
const CHUNK: usize = 256 << 10;

impl Tee<'_> {
    /// The blob, as named in errors.
    fn what(&self) -> String {
        if self.resumed_from > 0 {
            format!(
                "blob {} (download resumed at byte {}; the partial download was discarded)",
                self.digest, self.resumed_from
            )
        } else {
            format!("blob {}", self.digest)
        }
    }

    /// Read the rest of the body into the blob writer.
    fn drain(&mut self) -> io::Result<()> {
        let mut buf = vec![0u8; CHUNK];
        while self.read(&mut buf)? > 0 {}
        Ok(())
    }

    /// Read the whole body into the blob writer, sending each chunk to
    /// `tx` while its receiver listens; a read error is sent as the last
    /// chunk. Buffers come back on `free` for reuse.
    fn pump(&mut self, tx: &mpsc::SyncSender<Chunk>, free: &mpsc::Receiver<Vec<u8>>) {
        let mut listening = true;
        loop {
            let mut buf = free.try_recv().unwrap_or_default();
            buf.resize(CHUNK, 0);
            // Fill most of the chunk: fewer, larger hand-overs.
            let mut n = 0;
            let res = loop {
                match self.read(&mut buf[n..]) {
                    Ok(0) => break Ok(()),
                    Ok(k) => {
                        n += k;
                        if n >= CHUNK / 2 {
                            break Ok(());
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => break Err((e.kind(), e.to_string())),
                }
            };
            if n > 0 && listening {
                buf.truncate(n);
                listening = tx.send(Ok(buf)).is_ok();
            }
            match res {
                Ok(()) if n > 0 => {}
                Ok(()) => return,
                Err(e) => {
                    if listening {
                        let _ = tx.send(Err(e));
                    }
                    return;
                }
            }
        }
    }
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(io::Error::other("cancelled"));
        }
        if let Some((kind, msg)) = &self.read_err {
            return Err(io::Error::new(*kind, msg.clone()));
        }
        if let Some(w) = self.writer.as_mut().filter(|w| w.replaying()) {
            // The earlier attempt's bytes first, from disk.
            let n = w.replay(buf).inspect_err(|e| {
                self.read_err = Some((e.kind(), e.to_string()));
            })?;
            self.done += n as u64;
            self.progress.bytes(self.digest, self.done, self.total);
            return Ok(n);
        }
        let n = match self.body.read(buf) {
            Ok(n) => n,
            Err(e) => {
                self.read_err = Some((e.kind(), e.to_string()));
                return Err(e);
            }
        };
        if n > 0 {
            if let Some(w) = self.writer.as_mut() {
                if let Err(e) = w.write_all(&buf[..n]) {
                    self.write_err = Some((e.kind(), e.to_string(), w.path().to_path_buf()));
                    // Stop here: whatever reads next sees the failure.
                    self.read_err = Some((e.kind(), e.to_string()));
                    return Err(e);
                }
            }
            self.done += n as u64;
            self.progress.bytes(self.digest, self.done, self.total);
        }
        Ok(n)
    }
}

/// The unpacker's end of a layer's pipe.
struct ChanReader {
    rx: mpsc::Receiver<Chunk>,
    free: mpsc::Sender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

impl Read for ChanReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = buf.len().min(avail.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// The decompressor reads straight from the pump's chunks.
impl BufRead for ChanReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos >= self.cur.len() {
            let next = match self.rx.recv() {
                Ok(Ok(v)) => v,
                Ok(Err((kind, msg))) => return Err(io::Error::new(kind, msg)),
                // The pump is done: end of body.
                Err(_) => return Ok(&[]),
            };
            let old = std::mem::replace(&mut self.cur, next);
            self.pos = 0;
            if old.capacity() > 0 {
                let _ = self.free.send(old);
            }
        }
        Ok(&self.cur[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.cur.len());
    }
}

/// `err` for a blob download that failed; unless trying again may help
/// (a broken transfer), the bytes received are not kept for a resume:
/// wrong content, a blob longer than declared or a full disk.
fn discard_unless_transient(tee: &mut Tee<'_>, err: Error) -> Error {
    if !err.is_transient() {
        if let Some(w) = tee.writer.take() {
            w.discard();
        }
    }
    err
}

/// Whether `resp` is a 206 carrying the blob from byte `from` to its end
/// (`Content-Range: bytes FROM-(SIZE-1)/SIZE`, the total may be `*`).
fn resumes_at(resp: &ureq::http::Response<ureq::Body>, from: u64, size: u64) -> bool {
    if resp.status().as_u16() != 206 {
        return false;
    }
    let Some(cr) = header(resp, "content-range") else {
        return false;
    };
    let Some(spec) = cr.trim().strip_prefix("bytes ") else {
        return false;
    };
    let (range, total) = spec.split_once('/').unwrap_or((spec, "*"));
    let Some((a, b)) = range.split_once('-') else {
        return false;
    };
    a.trim().parse::<u64>().ok() == Some(from)
        && b.trim().parse::<u64>().ok() == Some(size - 1)
        && (total.trim() == "*" || total.trim().parse::<u64>().ok() == Some(size))
}

/// `tag` or `sha256:...` for the manifest URL.
pub(crate) fn reference_part(r: &Reference) -> String {
    match (r.digest(), r.tag()) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.to_string(),
        (None, None) => "latest".to_string(),
    }
}

fn check_size(t: &Target, d: &Digest, expected: u64, actual: u64) -> Result<()> {
    if actual < expected {
        Err(Error::Truncated {
            registry: t.host.clone(),
            repository: t.repo.clone(),
            digest: d.clone(),
            received: actual,
            expected,
        })
    } else if actual > expected {
        Err(Error::SizeMismatch {
            registry: t.host.clone(),
            repository: t.repo.clone(),
            digest: d.clone(),
            expected,
            actual,
        })
    } else {
        Ok(())
    }
}

/// Read a whole body of at most `limit` bytes.
fn read_limited(
    client: &Client,
    t: &Target,
    what: &str,
    resp: &mut ureq::http::Response<ureq::Body>,
    limit: u64,
) -> Result<Vec<u8>> {
    let _ = client;
    let mut out = Vec::new();
    let mut r = resp.body_mut().as_reader().take(limit + 1);
    if let Err(e) = r.read_to_end(&mut out) {
        return Err(io_error(e, &t.host, what).1);
    }
    if out.len() as u64 > limit {
        return Err(Error::Invalid {
            registry: t.host.clone(),
            repository: t.repo.clone(),
            what: what.to_string(),
            reason: format!("response is larger than the {limit} byte limit"),
        });
    }
    Ok(out)
}

//! Push: upload the missing blobs of an image (in parallel), then its
//! manifest. For each blob: HEAD it; if missing, try a cross-repository
//! mount from the repositories the caller names; else start an upload and
//! PUT the blob file in one request with a Content-Length (or PATCH it in
//! chunks when configured, or when the registry refuses the single PUT as
//! too large).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use image::images::MAX_JSON_BLOB;
use image::manifest::parse_manifest;
use image::{Descriptor, Digest, ManifestDoc, Platform, Reference, Store};

use crate::client::{header, not_found, ok, Client, Method, Req, ReqBody, Scope, Target};
use crate::error::{Error, Result};
use crate::progress::{LayerState, Progress};
use crate::pull::reference_part;

/// Options for [`Client::push`].
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// Repositories (paths, e.g. `library/busybox`) on the destination
    /// registry that may already hold the blobs; they are mounted from
    /// there instead of uploaded.
    pub mount_from: Vec<String>,
    /// Push only this platform's manifest of a multi-platform image, as a
    /// single-platform image (docker's `push --platform`).
    pub platform: Option<Platform>,
}

/// How a blob got to the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobPush {
    /// It was already there.
    Exists,
    /// Mounted from another repository.
    Mounted,
    /// Uploaded.
    Uploaded,
}

fn encode_query(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn with_query(url: &str, q: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{q}")
}

impl Client {
    fn push_target(&self, dest: &Reference, mount_from: &[String]) -> Target {
        let mut scope = Scope::push(dest.path());
        for m in mount_from {
            if m != dest.path() {
                scope.entries.push(format!("repository:{m}:pull"));
            }
        }
        Target::new(dest.domain(), dest.path(), scope)
    }

    /// Whether the repository of `repo` on its registry holds `digest`.
    pub fn blob_exists(&self, repo: &Reference, digest: &Digest) -> Result<bool> {
        let t = Target::new(repo.domain(), repo.path(), Scope::pull(repo.path()));
        self.head_blob(&t, digest)
    }

    fn head_blob(&self, t: &Target, digest: &Digest) -> Result<bool> {
        let what = format!("blob {digest}");
        let req = Req::new(
            Method::Head,
            format!("/v2/{}/blobs/{digest}", t.repo),
            &what,
        );
        let resp = self.send(t, &req)?;
        if ok(&resp) {
            Ok(true)
        } else if not_found(&resp) {
            Ok(false)
        } else {
            Err(self.status_error(t, &what, resp))
        }
    }

    /// Make the blob `desc` (present in `store`) available in the
    /// repository of `dest`.
    pub fn push_blob(
        &self,
        store: &Store,
        dest: &Reference,
        desc: &Descriptor,
        opts: &PushOptions,
        progress: &dyn Progress,
    ) -> Result<BlobPush> {
        let t = self.push_target(dest, &opts.mount_from);
        self.push_blob_at(store, &t, desc, &opts.mount_from, progress)
    }

    fn push_blob_at(
        &self,
        store: &Store,
        t: &Target,
        desc: &Descriptor,
        mount_from: &[String],
        progress: &dyn Progress,
    ) -> Result<BlobPush> {
        let d = &desc.digest;
        let path = store.content().blob_path(d);
        let size = store
            .content()
            .size(d)
            .map_err(|e| Error::store(format!("push {}/{}", t.host, t.repo), e))?;
        if size != desc.size {
            return Err(Error::store(
                format!("push {}/{}", t.host, t.repo),
                image::Error::SizeMismatch {
                    digest: d.to_string(),
                    expected: desc.size,
                    actual: size,
                },
            ));
        }
        if self.head_blob(t, d)? {
            progress.layer(d, size, LayerState::Exists);
            return Ok(BlobPush::Exists);
        }
        let what = format!("blob {d}");
        self.retrying(|| {
            // Cross-repository mount; a 202 means "upload it yourself",
            // with a session already open.
            let mut location = None;
            for from in mount_from.iter().filter(|m| **m != t.repo) {
                let url = format!(
                    "/v2/{}/blobs/uploads/?mount={}&from={}",
                    t.repo,
                    encode_query(&d.to_string()),
                    encode_query(from)
                );
                let resp = self.send(
                    t,
                    &Req::new(Method::Post, url, format!("mount {what} from {from}")),
                )?;
                match resp.status().as_u16() {
                    201 => {
                        progress.layer(d, size, LayerState::Mounted);
                        return Ok(BlobPush::Mounted);
                    }
                    202 => {
                        location = header(&resp, "location");
                        break;
                    }
                    _ => {}
                }
            }
            let location = match location {
                Some(l) => l,
                None => self.start_upload(t, &what)?,
            };
            progress.layer(d, size, LayerState::Pushing);
            let sent = |n: u64| progress.bytes(d, n, size);
            match self.cfg.upload_chunk_size {
                Some(chunk) => {
                    self.upload_chunked(t, &what, location, &path, d, size, chunk, &sent)?
                }
                None => {
                    let url = with_query(
                        &location,
                        &format!("digest={}", encode_query(&d.to_string())),
                    );
                    let req = Req::new(Method::Put, url, &what)
                        .header("Content-Type", "application/octet-stream")
                        .body(ReqBody::File {
                            path: &path,
                            offset: 0,
                            len: size,
                            progress: Some(&sent),
                        });
                    let resp = self.send(t, &req)?;
                    if resp.status().as_u16() == 413 {
                        // Too large for one request: chunks, new session.
                        let location = self.start_upload(t, &what)?;
                        self.upload_chunked(t, &what, location, &path, d, size, 16 << 20, &sent)?;
                    } else if !ok(&resp) {
                        return Err(self.status_error(t, &what, resp));
                    }
                }
            }
            progress.layer(d, size, LayerState::Pushed);
            Ok(BlobPush::Uploaded)
        })
    }

    fn start_upload(&self, t: &Target, what: &str) -> Result<String> {
        let req = Req::new(
            Method::Post,
            format!("/v2/{}/blobs/uploads/", t.repo),
            format!("start upload of {what}"),
        );
        let resp = self.send(t, &req)?;
        if resp.status().as_u16() != 202 && !ok(&resp) {
            return Err(self.status_error(t, &format!("start upload of {what}"), resp));
        }
        header(&resp, "location").ok_or_else(|| Error::Invalid {
            registry: t.host.clone(),
            repository: t.repo.clone(),
            what: format!("start upload of {what}"),
            reason: "no Location header in the response".into(),
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn upload_chunked(
        &self,
        t: &Target,
        what: &str,
        mut location: String,
        path: &std::path::Path,
        d: &Digest,
        size: u64,
        chunk: u64,
        sent: &(dyn Fn(u64) + Sync),
    ) -> Result<()> {
        let chunk = chunk.max(1);
        let mut offset = 0;
        while offset < size {
            let len = chunk.min(size - offset);
            let base = offset;
            let report = move |n: u64| sent(base + n);
            let req = Req::new(Method::Patch, location.clone(), what)
                .header("Content-Type", "application/octet-stream")
                .header("Content-Range", format!("{}-{}", offset, offset + len - 1))
                .body(ReqBody::File {
                    path,
                    offset,
                    len,
                    progress: Some(&report),
                });
            let resp = self.send(t, &req)?;
            if !ok(&resp) {
                return Err(self.status_error(t, what, resp));
            }
            if let Some(l) = header(&resp, "location") {
                location = l;
            }
            offset += len;
        }
        let url = with_query(
            &location,
            &format!("digest={}", encode_query(&d.to_string())),
        );
        let resp = self.send(t, &Req::new(Method::Put, url, what))?;
        if !ok(&resp) {
            return Err(self.status_error(t, what, resp));
        }
        Ok(())
    }

    /// PUT a manifest or index under `dest`'s tag (or digest); returns its
    /// digest.
    pub fn put_manifest(&self, dest: &Reference, media_type: &str, bytes: &[u8]) -> Result<Digest> {
        let t = self.push_target(dest, &[]);
        self.put_manifest_at(&t, &reference_part(dest), media_type, bytes)
    }

    fn put_manifest_at(
        &self,
        t: &Target,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest> {
        let digest = Digest::of_bytes(bytes);
        let what = format!("manifest {reference}");
        let req = Req::new(
            Method::Put,
            format!("/v2/{}/manifests/{reference}", t.repo),
            &what,
        )
        .header("Content-Type", media_type)
        .body(ReqBody::Bytes(bytes));
        let resp = self.send(t, &req)?;
        if !ok(&resp) {
            return Err(self.status_error(t, &what, resp));
        }
        if let Some(h) = header(&resp, "docker-content-digest") {
            if let Ok(hd) = Digest::parse(h.trim()) {
                if hd != digest {
                    return Err(Error::DigestMismatch {
                        registry: t.host.clone(),
                        repository: t.repo.clone(),
                        what: format!("{what} (registry computed a different digest)"),
                        expected: digest,
                        actual: hd,
                    });
                }
            }
        }
        Ok(digest)
    }

    /// Push the image `local` (a name or id in `store`) to `dest`: the
    /// blobs the registry lacks, then the manifest, under `dest`'s tag (or
    /// digest, which must then be the pushed document's). Returns the
    /// digest of the document pushed under the tag.
    ///
    /// An image that came from a multi-platform index (pulled, loaded) is
    /// pushed as docker with the containerd store does: when the store
    /// holds every platform's manifest, config and layers, each platform
    /// manifest (by digest) and then the index itself (the same digest as
    /// the original). When some platform's content is missing (a pull
    /// fetches one platform), the index cannot be pushed; the image's own
    /// platform manifest is pushed instead, and [`Progress::note`] says so.
    /// [`PushOptions::platform`] (docker's `push --platform`) pushes one
    /// platform's manifest as a single-platform image.
    ///
    /// Event `push`, as docker: the destination as the actor, its
    /// repository as `name`.
    pub fn push(
        &self,
        store: &Store,
        local: &str,
        dest: &Reference,
        opts: &PushOptions,
        progress: &dyn Progress,
    ) -> Result<Digest> {
        let digest = self.push_named(store, local, dest, opts, progress)?;
        if let Ok(info) = store.resolve(local) {
            store.log_event_as(
                "push",
                &dest.familiar(),
                &info.record.id,
                &dest.familiar_name(),
            );
        }
        Ok(digest)
    }

    fn push_named(
        &self,
        store: &Store,
        local: &str,
        dest: &Reference,
        opts: &PushOptions,
        progress: &dyn Progress,
    ) -> Result<Digest> {
        let info = store
            .resolve(local)
            .map_err(|e| Error::store(format!("push {local}"), e))?;
        let rec = info.record;
        let _lease = store
            .lease()
            .map_err(|e| Error::store("push: lease the image store", e))?;
        let t = self.push_target(dest, &opts.mount_from);
        let read = |d: &Digest, hint: Option<&str>| -> Result<(Vec<u8>, ManifestDoc)> {
            let bytes = store
                .content()
                .read(d, MAX_JSON_BLOB)
                .map_err(|e| Error::store(format!("push {local}: read manifest {d}"), e))?;
            let doc = parse_manifest(&bytes, d, hint)
                .map_err(|e| Error::store(format!("push {local}"), e))?;
            Ok((bytes, doc))
        };
        // The index the image came from, if the store has it.
        let index = match &rec.index_digest {
            Some(d) if store.content().exists(d) => match read(d, None)? {
                (bytes, ManifestDoc::Index(kind, idx)) => Some((d.clone(), bytes, kind, idx)),
                _ => None,
            },
            _ => None,
        };
        let mut single = (rec.manifest_digest.clone(), rec.manifest_media_type.clone());
        if let Some(want) = &opts.platform {
            match &index {
                Some((d, _, _, idx)) => {
                    let desc = idx
                        .select(want, d)
                        .map_err(|e| Error::store(format!("push {local}"), e))?;
                    single = (desc.digest.clone(), desc.media_type.clone());
                }
                None if want.match_rank(&rec.platform).is_none() => {
                    return Err(Error::Config(format!(
                        "push {local}: the image is {}, not {want}",
                        rec.platform
                    )))
                }
                None => {}
            }
        }
        let by_manifest_digest = dest.digest() == Some(&single.0);
        if let (Some((idx_digest, idx_bytes, kind, idx)), None, false) =
            (&index, &opts.platform, by_manifest_digest)
        {
            // Every platform manifest with all its blobs, or nothing.
            let mut children = Vec::new();
            let mut missing = Vec::new();
            for desc in &idx.manifests {
                let name = desc
                    .platform
                    .as_ref()
                    .map_or_else(|| desc.digest.to_string(), |p| p.to_string());
                if !store.content().exists(&desc.digest) {
                    missing.push(name);
                    continue;
                }
                match read(&desc.digest, Some(&desc.media_type))? {
                    (bytes, ManifestDoc::Image(_, m))
                        if m.layers
                            .iter()
                            .chain(std::iter::once(&m.config))
                            .all(|b| store.content().exists(&b.digest)) =>
                    {
                        children.push((desc, bytes, m))
                    }
                    _ => missing.push(name),
                }
            }
            if missing.is_empty() {
                if let Some(d) = dest.digest() {
                    if d != idx_digest {
                        return Err(Error::DigestMismatch {
                            registry: dest.domain().to_string(),
                            repository: dest.path().to_string(),
                            what: format!("push {local}: destination digest"),
                            expected: d.clone(),
                            actual: idx_digest.clone(),
                        });
                    }
                }
                for (desc, bytes, m) in &children {
                    let mt = m.media_type.clone().unwrap_or(desc.media_type.clone());
                    self.push_image(
                        store,
                        &t,
                        m,
                        bytes,
                        &mt,
                        &desc.digest.to_string(),
                        opts,
                        progress,
                    )?;
                }
                let mt = idx
                    .media_type
                    .clone()
                    .unwrap_or_else(|| kind.media_type().to_string());
                let digest = self.put_manifest_at(&t, &reference_part(dest), &mt, idx_bytes)?;
                progress.resolved(dest, &digest);
                return Ok(digest);
            }
            progress.note(&format!(
                "not pushing index {idx_digest}: the local store lacks the content of {}; \
                 pushing the {} manifest only",
                missing.join(", "),
                rec.platform
            ));
        }
        let (bytes, doc) = read(&single.0, Some(&single.1))?;
        let manifest = match doc {
            ManifestDoc::Image(_, m) => m,
            ManifestDoc::Index(..) => {
                return Err(Error::Config(format!(
                    "push {local}: manifest {} is an index",
                    single.0
                )))
            }
        };
        if let Some(d) = dest.digest() {
            if d != &single.0 {
                return Err(Error::DigestMismatch {
                    registry: dest.domain().to_string(),
                    repository: dest.path().to_string(),
                    what: format!("push {local}: destination digest"),
                    expected: d.clone(),
                    actual: single.0.clone(),
                });
            }
        }
        let mt = manifest.media_type.clone().unwrap_or(single.1.clone());
        let digest = self.push_image(
            store,
            &t,
            &manifest,
            &bytes,
            &mt,
            &reference_part(dest),
            opts,
            progress,
        )?;
        progress.resolved(dest, &digest);
        Ok(digest)
    }

    /// Push the blobs of one image manifest the registry lacks (in
    /// parallel), then the manifest under `reference` (a tag or digest).
    #[allow(clippy::too_many_arguments)]
    fn push_image(
        &self,
        store: &Store,
        t: &Target,
        manifest: &image::Manifest,
        bytes: &[u8],
        media_type: &str,
        reference: &str,
        opts: &PushOptions,
        progress: &dyn Progress,
    ) -> Result<Digest> {
        let mut blobs: Vec<&Descriptor> = Vec::new();
        for desc in manifest
            .layers
            .iter()
            .chain(std::iter::once(&manifest.config))
        {
            if !blobs.iter().any(|b| b.digest == desc.digest) {
                blobs.push(desc);
            }
        }
        for b in &blobs {
            progress.layer(&b.digest, b.size, LayerState::Waiting);
        }
        let next = AtomicUsize::new(0);
        let cancel = AtomicBool::new(false);
        let first_err: Mutex<Option<Error>> = Mutex::new(None);
        std::thread::scope(|sc| {
            for _ in 0..self.cfg.max_parallel.min(blobs.len()) {
                sc.spawn(|| loop {
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    if k >= blobs.len() || cancel.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Err(e) =
                        self.push_blob_at(store, t, blobs[k], &opts.mount_from, progress)
                    {
                        let mut slot = first_err.lock().unwrap_or_else(|e| e.into_inner());
                        slot.get_or_insert(e);
                        cancel.store(true, Ordering::SeqCst);
                        break;
                    }
                });
            }
        });
        if let Some(e) = first_err.into_inner().unwrap_or_else(|e| e.into_inner()) {
            return Err(e);
        }
        self.put_manifest_at(t, reference, media_type, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_encoding() {
        assert_eq!(encode_query("sha256:ab"), "sha256%3Aab");
        assert_eq!(encode_query("library/busybox"), "library/busybox");
        assert_eq!(with_query("/u/1", "a=b"), "/u/1?a=b");
        assert_eq!(with_query("/u/1?_state=x", "a=b"), "/u/1?_state=x&a=b");
    }
}

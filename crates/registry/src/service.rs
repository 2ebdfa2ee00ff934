//! Pull, push and login as the faces ask for them (the CLI, the API
//! service): a client configured from the system's registries.conf, the
//! outcome docker reports ("Image is up to date" or "Downloaded newer
//! image", the digest), the push's cross-repository mounts and the
//! `repo@digest` it records, docker's server names for credentials.

use std::path::PathBuf;
use std::sync::Mutex;

use image::{Digest, ImageRecord, Platform, Reference, Store};

use crate::progress::{LayerState, Progress};
use crate::{Client, ClientConfig, Error, PushOptions, Result};

/// How to reach registries: `--tls-verify`, `--authfile`, `--cert-dir`.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    pub tls_verify: bool,
    pub auth_file: Option<PathBuf>,
    pub cert_dir: Option<PathBuf>,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            tls_verify: true,
            auth_file: None,
            cert_dir: None,
        }
    }
}

/// A client for `opts` with the insecure registries of registries.conf
/// (`$BERTH_REGISTRIES_CONF`, /etc/containers/registries.conf); an
/// unreadable file is ignored with the warning returned.
pub fn client(opts: &RegistryOptions) -> Result<(Client, Option<String>)> {
    let conf = crate::regconf::registries_conf_path();
    let (insecure, warning) = match crate::regconf::insecure_registries(&conf) {
        Ok(v) => (v, None),
        Err(e) => (Vec::new(), Some(format!("ignoring {e}"))),
    };
    let c = Client::new(ClientConfig {
        tls_verify: opts.tls_verify,
        insecure_registries: insecure,
        auth_file: opts.auth_file.clone(),
        cert_dir: opts.cert_dir.clone(),
        ..Default::default()
    })?;
    Ok((c, warning))
}

/// What a pull did.
#[derive(Debug, Clone)]
pub struct PullReport {
    pub record: ImageRecord,
    /// The manifest (or index) digest the reference resolved to.
    pub digest: Digest,
    /// The reference already named this image before the pull.
    pub up_to_date: bool,
}

impl PullReport {
    /// Docker's last line: `Status: Image is up to date for busybox:latest`.
    pub fn status(&self, r: &Reference) -> String {
        if self.up_to_date {
            format!("Status: Image is up to date for {}", r.familiar())
        } else {
            format!("Status: Downloaded newer image for {}", r.familiar())
        }
    }
}

/// Docker's first line of a pull: `latest: Pulling from library/busybox`.
pub fn pulling_line(r: &Reference) -> String {
    let what = match (r.tag(), r.digest()) {
        (_, Some(d)) => d.to_string(),
        (Some(t), None) => t.to_string(),
        (None, None) => "latest".into(),
    };
    format!("{what}: Pulling from {}", r.path())
}

/// Forwards to the caller's progress and keeps the resolved digest.
struct Recording<'a> {
    inner: &'a dyn Progress,
    resolved: Mutex<Option<Digest>>,
}

impl Progress for Recording<'_> {
    fn resolved(&self, reference: &Reference, digest: &Digest) {
        *self.resolved.lock().unwrap_or_else(|e| e.into_inner()) = Some(digest.clone());
        self.inner.resolved(reference, digest)
    }
    fn layer(&self, digest: &Digest, size: u64, state: LayerState) {
        self.inner.layer(digest, size, state)
    }
    fn bytes(&self, digest: &Digest, done: u64, total: u64) {
        self.inner.bytes(digest, done, total)
    }
    fn note(&self, line: &str) {
        self.inner.note(line)
    }
}

impl Client {
    /// `pull`: the image of `r` for `platform` into `store`, and whether
    /// it was there already.
    pub fn pull_image(
        &self,
        store: &Store,
        r: &Reference,
        platform: &Platform,
        progress: &dyn Progress,
    ) -> Result<PullReport> {
        let before = store.resolve(&r.to_string()).ok().map(|i| i.record);
        let rec = Recording {
            inner: progress,
            resolved: Mutex::new(None),
        };
        let record = self.pull(store, r, platform, &rec)?;
        let digest = rec
            .resolved
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .unwrap_or_else(|| record.manifest_digest.clone());
        let up_to_date = before.is_some_and(|b| {
            b.id == record.id
                && (b.manifest_digest == digest || b.index_digest.as_ref() == Some(&digest))
        });
        Ok(PullReport {
            record,
            digest,
            up_to_date,
        })
    }

    /// `push IMAGE [DEST]`: uploads the local image `image` as `dest`,
    /// offering blob mounts from the other repositories of the same
    /// registry the image is known under, and records `dest@digest` as
    /// docker does when the pushed manifest is the image's own.
    pub fn push_local(
        &self,
        store: &Store,
        image: &str,
        dest: &Reference,
        platform: Option<Platform>,
        progress: &dyn Progress,
    ) -> Result<PushReport> {
        let plan = PushPlan::new(store, image, dest)?;
        self.push_planned(store, &plan, dest, platform, progress)
    }

    /// [`Client::push_local`] of an image resolved by [`PushPlan::new`]
    /// (a face shows what the plan says first).
    pub fn push_planned(
        &self,
        store: &Store,
        plan: &PushPlan,
        dest: &Reference,
        platform: Option<Platform>,
        progress: &dyn Progress,
    ) -> Result<PushReport> {
        let info = &plan.info;
        let mount_from = plan.mount_from.clone();
        let local = info.record.id.to_string();
        let digest = self.push(
            store,
            &local,
            dest,
            &PushOptions {
                mount_from,
                platform,
            },
            progress,
        )?;
        let rec = &info.record;
        if (rec.index_digest.is_none() && digest == rec.manifest_digest)
            || rec.index_digest.as_ref() == Some(&digest)
        {
            let _ = store.register(
                &digest,
                &rec.platform,
                &[dest.repository().with_digest(digest.clone())],
            );
        }
        let size = store.content().size(&digest).unwrap_or(0);
        Ok(PushReport { digest, size })
    }
}

/// A push's image, resolved under a lease of the store (no GC reclaims its
/// content until the plan is dropped), and the repositories its blobs may
/// be mounted from ([`mount_candidates`]).
#[derive(Debug)]
pub struct PushPlan {
    pub info: image::ImageInfo,
    pub mount_from: Vec<String>,
    _lease: berth_util::lock::FileLock,
}

impl PushPlan {
    /// Leases the store, then resolves `image` (docker's `An image does not
    /// exist locally with the tag: …` when it is not there).
    pub fn new(store: &Store, image: &str, dest: &Reference) -> Result<PushPlan> {
        let lease = store
            .lease()
            .map_err(|e| Error::store("push: lease the image store", e))?;
        let info = match store.resolve(image) {
            Ok(i) => i,
            Err(image::Error::ImageNotFound(_)) => {
                return Err(Error::NoLocalImage(image.to_string()))
            }
            Err(e) => {
                return Err(Error::Store {
                    context: format!("push {image}"),
                    source: e,
                })
            }
        };
        Ok(PushPlan {
            mount_from: mount_candidates(&info, dest),
            info,
            _lease: lease,
        })
    }
}

/// The repositories of `dest`'s registry (other than `dest`'s) that
/// the image is known under: sources for cross-repository blob mounts.
pub fn mount_candidates(info: &image::ImageInfo, dest: &Reference) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in info.repo_tags.iter().chain(&info.repo_digests) {
        if n.domain() == dest.domain()
            && n.path() != dest.path()
            && !out.iter().any(|m| m == n.path())
        {
            out.push(n.path().to_string());
        }
    }
    out
}

/// What a push did.
#[derive(Debug, Clone)]
pub struct PushReport {
    /// The digest of the manifest (or index) pushed.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
}

impl PushReport {
    /// Docker's last line: `latest: digest: sha256:… size: 527`.
    pub fn status(&self, dest: &Reference) -> String {
        let tag = match (dest.tag(), dest.digest()) {
            (Some(t), _) => t.to_string(),
            (None, Some(d)) => d.to_string(),
            (None, None) => "latest".into(),
        };
        format!("{tag}: digest: {} size: {}", self.digest, self.size)
    }
}

/// The registry host credentials are kept under, as docker names it:
/// `https://host/v1/` → `host`; Docker Hub's names and no server at all →
/// `docker.io`.
pub fn server_host(s: Option<&str>) -> String {
    let Some(s) = s else {
        return "docker.io".into();
    };
    let s = s
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = s.split('/').next().unwrap_or(s);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".into(),
        h => h.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_hosts() {
        assert_eq!(server_host(None), "docker.io");
        assert_eq!(
            server_host(Some("https://index.docker.io/v1/")),
            "docker.io"
        );
        assert_eq!(server_host(Some("registry-1.docker.io")), "docker.io");
        assert_eq!(
            server_host(Some("http://127.0.0.1:5000/v2/")),
            "127.0.0.1:5000"
        );
        assert_eq!(server_host(Some("quay.io")), "quay.io");
    }

    #[test]
    fn lines() {
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(pulling_line(&r), "latest: Pulling from library/busybox");
        let r = Reference::parse("127.0.0.1:5000/a/b:v1").unwrap();
        assert_eq!(pulling_line(&r), "v1: Pulling from a/b");
        let d = Digest::from_hex(&"a".repeat(64)).unwrap();
        let p = PushReport {
            digest: d.clone(),
            size: 527,
        };
        assert_eq!(p.status(&r), format!("v1: digest: {d} size: 527"));
    }
}

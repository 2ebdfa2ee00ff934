//! Getting images in and out without a registry: `import` a rootfs
//! tarball as a one-layer image; `save`/`load` docker-archive
//! (`docker save`) and OCI image layout tarballs.

use std::collections::BTreeMap;
use std::io::{self, Read};

use serde::{Deserialize, Serialize};

use crate::digest::{Digest, HashingReader};
use crate::error::{Error, Result};
use crate::images::{ImageRecord, Store};
use crate::manifest::{
    media_type, ContainerConfig, Descriptor, History, ImageConfig, Manifest, Platform, RootFs,
};
use crate::reference::Reference;
use crate::unpack::decompress;

/// Settings for [`Store::import`].
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Default command.
    pub cmd: Option<Vec<String>>,
    /// Entrypoint.
    pub entrypoint: Option<Vec<String>>,
    /// `KEY=value` environment.
    pub env: Vec<String>,
    /// Working directory.
    pub working_dir: Option<String>,
    /// User.
    pub user: Option<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Platform recorded in the config (default: the host).
    pub platform: Option<Platform>,
    /// `created` timestamp (RFC 3339); default: none, for reproducible ids.
    pub created: Option<String>,
    /// History comment.
    pub comment: Option<String>,
}

impl Store {
    /// Import a rootfs tarball (plain, gzip or zstd) as a single-layer OCI
    /// image: the tar is hashed for its diff id while being gzipped into
    /// the blob store, then config and manifest are written and `names`
    /// recorded.
    pub fn import<R: Read>(
        &self,
        rootfs: R,
        opts: &ImportOptions,
        names: &[Reference],
    ) -> Result<ImageRecord> {
        let _lease = self.lease()?;
        let placeholder = Digest::of_bytes(b"import");
        let (_, plain) = decompress(rootfs, None, &placeholder)?;
        let mut hashing = HashingReader::new(plain);
        let writer = self.content().writer(None, None)?;
        let mut gz = flate2::write::GzEncoder::new(writer, flate2::Compression::default());
        io::copy(&mut hashing, &mut gz).map_err(|e| Error::io("import: read rootfs tarball", e))?;
        let writer = gz
            .finish()
            .map_err(|e| Error::io("import: compress layer", e))?;
        let (diff_id, _, _) = hashing
            .finish()
            .map_err(|e| Error::io("import: read rootfs tarball", e))?;
        let (layer_digest, layer_size) = writer.commit()?;
        let platform = opts.platform.clone().unwrap_or_else(Platform::host);
        let config = ImageConfig {
            created: opts.created.clone(),
            author: None,
            architecture: platform.architecture.clone(),
            os: platform.os.clone(),
            os_version: None,
            variant: platform.variant.clone(),
            config: Some(ContainerConfig {
                user: opts.user.clone(),
                env: opts.env.clone(),
                entrypoint: opts.entrypoint.clone(),
                cmd: opts.cmd.clone(),
                working_dir: opts.working_dir.clone(),
                labels: opts.labels.clone(),
                ..Default::default()
            }),
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: vec![diff_id],
            },
            history: vec![History {
                created: opts.created.clone(),
                created_by: Some("berth import".into()),
                comment: opts.comment.clone(),
                ..Default::default()
            }],
        };
        let config_json =
            serde_json::to_vec(&config).map_err(|e| Error::json("image config", e))?;
        let config_digest = self.content().ingest_bytes(&config_json)?;
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(media_type::OCI_MANIFEST.into()),
            artifact_type: None,
            config: Descriptor::new(
                media_type::OCI_CONFIG,
                config_digest,
                config_json.len() as u64,
            ),
            layers: vec![Descriptor::new(
                media_type::OCI_LAYER_GZIP,
                layer_digest,
                layer_size,
            )],
            annotations: BTreeMap::new(),
        };
        let manifest_json =
            serde_json::to_vec(&manifest).map_err(|e| Error::json("manifest", e))?;
        let manifest_digest = self.content().ingest_bytes(&manifest_json)?;
        drop(_lease);
        self.register(&manifest_digest, &platform, names)
    }
}

/// One image in a docker-archive `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DockerArchiveEntry {
    /// Path of the config JSON inside the archive.
    pub config: String,
    /// Tags (`busybox:latest`).
    #[serde(default, deserialize_with = "null_vec")]
    pub repo_tags: Vec<String>,
    /// Layer tar paths, bottom first.
    pub layers: Vec<String>,
}

fn null_vec<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

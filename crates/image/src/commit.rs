//! `commit`: a new image made of a base image's layers plus, when the
//! container changed anything, one layer (a plain tar in the OCI layer
//! format, whiteouts as `.wh.` files), with a new config and one more
//! history entry, as `docker commit` records them.

use std::collections::BTreeMap;
use std::io::Read;

use crate::error::{Error, Result};
use crate::images::{ImageRecord, LayerRecord, Store};
use crate::manifest::{
    media_type, ContainerConfig, Descriptor, History, ImageConfig, Manifest, Platform,
};
use crate::reference::Reference;

/// What [`Store::commit`] records besides the layer.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// The new image's execution config (the container's, with the
    /// `--change` instructions applied).
    pub config: ContainerConfig,
    /// `--author`: the config's `author` and the history entry's.
    pub author: Option<String>,
    /// `--message`: the history entry's comment.
    pub comment: Option<String>,
    /// The history entry's `created_by` (docker: the container's command).
    pub created_by: String,
    /// RFC 3339 time of the commit.
    pub created: String,
}

impl Store {
    /// Commit `layer` (a plain tar; `None` when the container changed
    /// nothing: the history entry is then an empty layer) on top of
    /// `base` as a new image named `names`. The layer is staged (blob and
    /// unpacked snapshot) before anything becomes visible, as `import`
    /// does; the new image's parent is `base`.
    pub fn commit<R: Read>(
        &self,
        base: &ImageRecord,
        layer: Option<R>,
        opts: &CommitOptions,
        names: &[Reference],
    ) -> Result<ImageRecord> {
        let _lease = self.lease()?;
        let mut config = self.config(base)?;
        config.created = Some(opts.created.clone());
        config.author = opts.author.clone();
        config.config = Some(opts.config.clone());
        config.parent = Some(base.id.to_string());
        let history = History {
            created: Some(opts.created.clone()),
            created_by: Some(opts.created_by.clone()),
            author: opts.author.clone(),
            comment: opts.comment.clone(),
            empty_layer: false,
        };
        self.commit_config(Some(base), layer, config, Some(history), names)
    }

    /// A new image from `base` (`None`: an empty rootfs, the builder's
    /// `scratch`) plus `layer` (a plain tar, `None`: no layer), with
    /// `config` as its whole config (its `rootfs` is computed here) and
    /// `history` appended (`empty_layer` set here; `None`: the config's
    /// history is complete, no layer may be given). What `commit` and the
    /// builder's steps share: the layer is staged (blob and unpacked
    /// snapshot) before anything becomes visible.
    pub fn commit_config<R: Read>(
        &self,
        base: Option<&ImageRecord>,
        layer: Option<R>,
        config: ImageConfig,
        history: Option<History>,
        names: &[Reference],
    ) -> Result<ImageRecord> {
        let layer = match layer {
            Some(r) => NewLayer::Tar(r),
            None => NewLayer::None,
        };
        self.commit_with(base, layer, config, history, names)
    }

    /// [`Store::commit_config`] with a layer the store has already (another
    /// image's: its blob reused byte for byte, same digest and diff id,
    /// unpacked over `base`'s layers): BuildKit's `COPY --link` layer put
    /// on a new base without copying again.
    pub fn commit_existing_layer(
        &self,
        base: Option<&ImageRecord>,
        layer: &LayerRecord,
        config: ImageConfig,
        history: History,
        names: &[Reference],
    ) -> Result<ImageRecord> {
        self.commit_with::<std::io::Empty>(
            base,
            NewLayer::Existing(layer),
            config,
            Some(history),
            names,
        )
    }

    fn commit_with<R: Read>(
        &self,
        base: Option<&ImageRecord>,
        layer: NewLayer<'_, R>,
        mut config: ImageConfig,
        history: Option<History>,
        names: &[Reference],
    ) -> Result<ImageRecord> {
        let _lease = self.lease()?;
        let docker = base.is_some_and(|b| b.manifest_media_type == media_type::DOCKER_MANIFEST);
        let (manifest_mt, config_mt, layer_mt) = if docker {
            (
                media_type::DOCKER_MANIFEST,
                media_type::DOCKER_CONFIG,
                media_type::DOCKER_LAYER_GZIP,
            )
        } else {
            (
                media_type::OCI_MANIFEST,
                media_type::OCI_CONFIG,
                media_type::OCI_LAYER_GZIP,
            )
        };
        let base_layers: &[crate::images::LayerRecord] = base.map_or(&[], |b| &b.layers);
        let mut layers: Vec<Descriptor> = base_layers
            .iter()
            .map(|l| Descriptor::new(&l.media_type, l.digest.clone(), l.size))
            .collect();
        let mut diff_ids: Vec<_> = base_layers.iter().map(|l| l.diff_id.clone()).collect();
        let staged = match layer {
            NewLayer::None => None,
            NewLayer::Existing(l) => {
                if !self.content().exists(&l.digest) {
                    return Err(Error::BlobNotFound(l.digest.clone()));
                }
                // The same gzip bytes under the manifest's own media type.
                let mt = if l.media_type == media_type::DOCKER_LAYER_GZIP
                    || l.media_type == media_type::OCI_LAYER_GZIP
                {
                    layer_mt
                } else {
                    &l.media_type
                };
                layers.push(Descriptor::new(mt, l.digest.clone(), l.size));
                diff_ids.push(l.diff_id.clone());
                let snaps = self.stage_layer_snapshots(&layers, &diff_ids, &|_| None)?;
                for s in snaps {
                    s.publish()?;
                }
                None
            }
            NewLayer::Tar(r) => {
                let (blob, diff_id) =
                    self.stage_layer_blob(r, "commit: read the container's changes")?;
                layers.push(Descriptor::new(
                    layer_mt,
                    blob.digest().clone(),
                    blob.size(),
                ));
                diff_ids.push(diff_id);
                let snaps = self.stage_layer_snapshots(&layers, &diff_ids, &|d| {
                    (d == blob.digest()).then(|| blob.open())
                })?;
                Some((blob, snaps))
            }
        };
        let empty_layer = diff_ids.len() == base_layers.len();
        if let Some((blob, snaps)) = staged {
            blob.sync()?;
            blob.publish()?;
            self.content().sync_blob_dir()?;
            for s in snaps {
                s.publish()?;
            }
        }
        if config.os.is_empty() {
            let p = Platform::host();
            config.os = p.os.clone();
            config.architecture = p.architecture.clone();
            config.variant = p.variant.clone();
        }
        config.rootfs.diff_ids = diff_ids;
        if let Some(mut h) = history {
            h.empty_layer = empty_layer;
            config.history.push(h);
        }
        let platform = match base {
            Some(b) => b.platform.clone(),
            None => config.platform(),
        };
        let config_json =
            serde_json::to_vec(&config).map_err(|e| Error::json("image config", e))?;
        let config_digest = self.content().ingest_bytes(&config_json)?;
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(manifest_mt.into()),
            artifact_type: None,
            config: Descriptor::new(config_mt, config_digest, config_json.len() as u64),
            layers,
            annotations: BTreeMap::new(),
        };
        let manifest_json =
            serde_json::to_vec(&manifest).map_err(|e| Error::json("manifest", e))?;
        let manifest_digest = self.content().ingest_bytes(&manifest_json)?;
        self.register(&manifest_digest, &platform, names)
    }
}

/// The layer a commit adds.
enum NewLayer<'a, R> {
    None,
    /// A plain tar, staged as a new blob.
    Tar(R),
    /// A blob of the store.
    Existing(&'a LayerRecord),
}

//! Getting images in and out without a registry: `import` a rootfs
//! tarball as a one-layer image; `save`/`load` docker-archive
//! (`docker save`) and OCI image layout tarballs.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

use crate::digest::{chain_ids, Digest, HashingReader};
use crate::error::{Error, Result};
use crate::images::{ImageRecord, LayerRecord, Store};
use crate::manifest::{
    layer_compression, media_type, parse_manifest, ContainerConfig, Descriptor, History,
    ImageConfig, Index, Manifest, ManifestDoc, Platform, RootFs,
};
use crate::reference::Reference;
use crate::snapshot::StagedSnapshot;
use crate::store::StagedBlob;
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
    /// Exposed ports (`80/tcp`; a bare number means tcp).
    pub exposed_ports: Vec<String>,
    /// Volumes (container paths).
    pub volumes: Vec<String>,
    /// Stop signal (`SIGTERM`).
    pub stop_signal: Option<String>,
    /// `ONBUILD` triggers.
    pub on_build: Vec<String>,
}

impl Store {
    /// `import` as the faces do it: [`Store::import`], then the layer
    /// unpacked now (as docker and podman do: the image's size is known
    /// and its first run is quick).
    pub fn import_unpacked<R: Read>(
        &self,
        rootfs: R,
        opts: &ImportOptions,
        names: &[Reference],
    ) -> Result<ImageRecord> {
        let rec = self.import(rootfs, opts, names)?;
        self.prepare_rootfs(&rec)?;
        Ok(rec)
    }

    /// `load` as the faces do it: [`Store::load`], then each image's
    /// layers unpacked now (as [`Store::import_unpacked`]); each loaded
    /// image with its names.
    pub fn load_unpacked<R: Read>(&self, input: R) -> Result<Vec<crate::ImageInfo>> {
        let mut out = Vec::new();
        for rec in self.load(input)? {
            self.prepare_rootfs(&rec)?;
            out.push(self.resolve(&rec.id.to_string())?);
        }
        Ok(out)
    }

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
        let (blob, diff_id) = self.stage_layer_blob(plain, "import: read rootfs tarball")?;
        // Nothing is visible until the whole input is known to be a tar
        // archive: the layer is unpacked (as the image's snapshot) from the
        // staged blob first; a truncated or foreign file fails here and
        // leaves the store as it was.
        let layer = Descriptor::new(
            media_type::OCI_LAYER_GZIP,
            blob.digest().clone(),
            blob.size(),
        );
        let snaps = self
            .stage_layer_snapshots(
                std::slice::from_ref(&layer),
                std::slice::from_ref(&diff_id),
                &|d| (d == blob.digest()).then(|| blob.open()),
            )
            .map_err(|e| match e {
                // What the tar reader refused (I/O errors, a full disk,
                // stay what they are).
                Error::Layer { reason, .. } => {
                    Error::Archive(format!("not a valid tar archive: {}", printable(&reason)))
                }
                e => e,
            })?;
        blob.sync()?;
        let (layer_digest, layer_size) = blob.publish()?;
        self.content().sync_blob_dir()?;
        for s in snaps {
            s.publish()?;
        }
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
                exposed_ports: opts
                    .exposed_ports
                    .iter()
                    .map(|p| (p.clone(), serde_json::json!({})))
                    .collect(),
                volumes: opts
                    .volumes
                    .iter()
                    .map(|v| (v.clone(), serde_json::json!({})))
                    .collect(),
                stop_signal: opts.stop_signal.clone(),
                on_build: (!opts.on_build.is_empty()).then(|| opts.on_build.clone()),
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
            parent: None,
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
        // Still holding the lease: GC must not see the new blobs unreferenced.
        let rec = self.register(&manifest_digest, &platform, names)?;
        self.log_event("import", &rec.id, &rec.id.to_string());
        Ok(rec)
    }
}

impl Store {
    /// Gzip the plain layer tar read from `plain` into a staged blob (not
    /// yet visible), hashing the tar on the way for its diff id. `what`
    /// names the input in a read error.
    pub(crate) fn stage_layer_blob<R: Read>(
        &self,
        plain: R,
        what: &str,
    ) -> Result<(StagedBlob, Digest)> {
        let mut hashing = HashingReader::new(plain);
        let writer = self.content().writer(None, None)?;
        let mut gz = crate::pargz::ParGzWriter::new(writer, flate2::Compression::default());
        let tmp = gz.get_ref().path().to_path_buf();
        copy_into(&mut hashing, &mut gz, &tmp).map_err(|e| match e {
            CopyError::Read(e) => Error::io(what, e),
            CopyError::Write(e) => e,
        })?;
        let writer = gz
            .finish()
            .map_err(|e| Error::io(format!("write {}", tmp.display()), e))?;
        let (diff_id, _, _) = hashing.finish().map_err(|e| Error::io(what, e))?;
        Ok((writer.stage()?, diff_id))
    }
}

/// One image in a docker-archive `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DockerArchiveEntry {
    /// Path of the config JSON inside the archive.
    pub config: String,
    /// Tags (`busybox:latest`); none is written `null`, as docker does.
    #[serde(
        default,
        deserialize_with = "null_vec",
        serialize_with = "empty_as_null"
    )]
    pub repo_tags: Vec<String>,
    /// Layer tar paths, bottom first.
    pub layers: Vec<String>,
}

/// docker's `manifest.json` and `repositories` for `images` whose config
/// is at `config_path(image)` in the archive and layers at
/// `layer_path(layer)`.
fn save_docker_manifest<W: Write>(
    b: &mut tar::Builder<W>,
    images: &[(ImageRecord, Vec<Reference>)],
    config_path: impl Fn(&ImageRecord) -> String,
    layer_path: impl Fn(&LayerRecord) -> String,
) -> Result<()> {
    let mut manifest = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (rec, tags) in images {
        for t in tags {
            if let Some(tag) = t.tag() {
                repositories
                    .entry(t.familiar_name())
                    .or_default()
                    .insert(tag.to_string(), rec.id.hex().to_string());
            }
        }
        manifest.push(DockerArchiveEntry {
            config: config_path(rec),
            repo_tags: tags.iter().map(|t| t.familiar()).collect(),
            layers: rec.layers.iter().map(&layer_path).collect(),
        });
    }
    let mj = serde_json::to_vec(&manifest).map_err(|e| Error::json("manifest.json", e))?;
    append_file(b, "manifest.json", mj.len() as u64, &mj[..])?;
    let rj = serde_json::to_vec(&repositories).map_err(|e| Error::json("repositories", e))?;
    append_file(b, "repositories", rj.len() as u64, &rj[..])
}

/// Manifest `m` with `manifest_type`'s media types (OCI or Docker v2):
/// the manifest's, its config's and its layers' (a layer type the other
/// kind has no name for is kept). The blobs are the same bytes.
fn convert_media_types(m: &mut Manifest, manifest_type: &str) {
    let oci = manifest_type == media_type::OCI_MANIFEST;
    m.media_type = Some(manifest_type.to_string());
    m.config.media_type = if oci {
        media_type::OCI_CONFIG
    } else {
        media_type::DOCKER_CONFIG
    }
    .into();
    for l in &mut m.layers {
        let t = match (oci, l.media_type.as_str()) {
            (true, media_type::DOCKER_LAYER_GZIP) => media_type::OCI_LAYER_GZIP,
            (true, media_type::DOCKER_LAYER_TAR) => media_type::OCI_LAYER_TAR,
            (false, media_type::OCI_LAYER_GZIP) => media_type::DOCKER_LAYER_GZIP,
            (false, media_type::OCI_LAYER_TAR) => media_type::DOCKER_LAYER_TAR,
            _ => continue,
        };
        l.media_type = t.into();
    }
}

fn empty_as_null<S: serde::Serializer>(v: &[String], s: S) -> std::result::Result<S::Ok, S::Error> {
    if v.is_empty() {
        s.serialize_none()
    } else {
        v.serialize(s)
    }
}

fn null_vec<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}
/// Write a tar entry with fixed metadata (reproducible archives).
pub(crate) fn append_file<W: Write>(
    b: &mut tar::Builder<W>,
    path: &str,
    size: u64,
    data: impl Read,
) -> Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_path(path)
        .map_err(|e| Error::Archive(format!("entry {path}: {e}")))?;
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    b.append(&h, data)
        .map_err(|e| Error::io(format!("write archive entry {path}"), e))
}

pub(crate) fn append_dir<W: Write>(b: &mut tar::Builder<W>, path: &str) -> Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_path(path)
        .map_err(|e| Error::Archive(format!("entry {path}: {e}")))?;
    h.set_size(0);
    h.set_mode(0o755);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_entry_type(tar::EntryType::Directory);
    h.set_cksum();
    b.append(&h, io::empty())
        .map_err(|e| Error::io(format!("write archive entry {path}"), e))
}

/// Archive formats for [`Store::save`] / [`Store::load`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// `docker save` layout: `manifest.json`, `repositories`,
    /// `<id>.json` configs and `<diffid>/layer.tar` uncompressed layers.
    Docker,
    /// OCI image layout: `oci-layout`, `index.json`, `blobs/sha256/…`.
    Oci,
    /// An OCI image layout whose manifests all have OCI media types: a
    /// Docker v2 manifest is written converted (its config and layer
    /// blobs unchanged), as BuildKit's oci exporter does by default.
    OciMediaTypes,
    /// An OCI image layout whose manifests all have Docker v2 media types
    /// (an OCI manifest converted the other way; a zstd layer, which has
    /// no Docker type, keeps its OCI one): BuildKit's oci exporter with
    /// `oci-mediatypes=false`.
    OciDockerMediaTypes,
    /// BuildKit's docker exporter (and docker 25's save): an OCI image
    /// layout whose manifests have Docker v2 media types, or OCI ones with
    /// `oci_media_types`, and beside it docker's `manifest.json` and
    /// `repositories` naming the same config and layer blobs (the layers
    /// as stored, compressed), so that either kind of loader reads it.
    DockerOci { oci_media_types: bool },
}

/// Annotation naming an image in an OCI layout (tag or full name).
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// containerd's annotation with the full image name.
pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";

const MAX_SMALL_FILE: u64 = 16 << 20;

impl Store {
    /// Write the images named by `names` (references or ids) to `out` as
    /// a tar archive in `format`.
    pub fn save<W: Write>(&self, names: &[&str], format: ArchiveFormat, out: W) -> Result<()> {
        let mut images = Vec::new();
        for n in names {
            let info = self.resolve(n)?;
            // Only the name asked for goes into the archive when it is a
            // reference; an id exports all tags.
            let tags: Vec<Reference> = match Reference::parse(n) {
                Ok(r) if r.tag().is_some() && info.repo_tags.contains(&r) => vec![r],
                _ => info.repo_tags.clone(),
            };
            images.push((info.record, tags));
        }
        self.write_archive(&images, format, out)
    }

    /// Write image `image` (a reference or an id) to `out` named exactly
    /// `names`, whether the store has them or not (none: no name in the
    /// archive, `RepoTags` null, no ref annotation): an exporter's
    /// archive of what it was asked to name.
    pub fn save_named<W: Write>(
        &self,
        image: &str,
        names: &[Reference],
        format: ArchiveFormat,
        out: W,
    ) -> Result<()> {
        let info = self.resolve(image)?;
        self.write_archive(&[(info.record, names.to_vec())], format, out)
    }

    fn write_archive<W: Write>(
        &self,
        images: &[(ImageRecord, Vec<Reference>)],
        format: ArchiveFormat,
        out: W,
    ) -> Result<()> {
        let mut b = tar::Builder::new(out);
        match format {
            ArchiveFormat::Docker => self.save_docker(&mut b, images)?,
            ArchiveFormat::Oci => self.save_oci(&mut b, images, None)?,
            ArchiveFormat::OciMediaTypes => {
                self.save_oci(&mut b, images, Some(media_type::OCI_MANIFEST))?
            }
            ArchiveFormat::OciDockerMediaTypes => {
                self.save_oci(&mut b, images, Some(media_type::DOCKER_MANIFEST))?
            }
            ArchiveFormat::DockerOci { oci_media_types } => {
                let t = if oci_media_types {
                    media_type::OCI_MANIFEST
                } else {
                    media_type::DOCKER_MANIFEST
                };
                self.save_oci(&mut b, images, Some(t))?;
                let blob = |d: &Digest| format!("blobs/sha256/{}", d.hex());
                save_docker_manifest(
                    &mut b,
                    images,
                    |rec| blob(&rec.config_digest),
                    |l| blob(&l.digest),
                )?;
            }
        }
        b.into_inner()
            .and_then(|mut w| w.flush())
            .map_err(|e| Error::io("finish archive", e))?;
        for (rec, _) in images {
            self.log_event("save", &rec.id, &rec.id.to_string());
        }
        Ok(())
    }

    fn save_docker<W: Write>(
        &self,
        b: &mut tar::Builder<W>,
        images: &[(ImageRecord, Vec<Reference>)],
    ) -> Result<()> {
        let config_path = |rec: &ImageRecord| format!("{}.json", rec.id.hex());
        let layer_path = |l: &LayerRecord| format!("{}/layer.tar", l.diff_id.hex());
        let mut written = std::collections::HashSet::new();
        for (rec, _) in images {
            let config_name = config_path(rec);
            if written.insert(config_name.clone()) {
                let cfg = self.content().read(&rec.config_digest, MAX_SMALL_FILE)?;
                append_file(b, &config_name, cfg.len() as u64, &cfg[..])?;
            }
            for l in &rec.layers {
                let path = layer_path(l);
                if written.insert(path.clone()) {
                    // Uncompressed size first (the tar header needs it).
                    let (_, mut r) = decompress(
                        self.content().open(&l.digest)?,
                        Some(&l.media_type),
                        &l.digest,
                    )?;
                    let size = io::copy(&mut r, &mut io::sink())
                        .map_err(|e| Error::io(format!("read layer {}", l.digest), e))?;
                    let (_, r) = decompress(
                        self.content().open(&l.digest)?,
                        Some(&l.media_type),
                        &l.digest,
                    )?;
                    append_dir(b, &format!("{}/", l.diff_id.hex()))?;
                    append_file(b, &path, size, r)?;
                }
            }
        }
        save_docker_manifest(b, images, config_path, layer_path)
    }

    fn save_oci<W: Write>(
        &self,
        b: &mut tar::Builder<W>,
        images: &[(ImageRecord, Vec<Reference>)],
        manifest_type: Option<&str>,
    ) -> Result<()> {
        let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
        append_file(b, "oci-layout", layout.len() as u64, &layout[..])?;
        append_dir(b, "blobs/")?;
        append_dir(b, "blobs/sha256/")?;
        let mut written = std::collections::HashSet::new();
        let mut index = Index {
            schema_version: 2,
            media_type: Some(media_type::OCI_INDEX.into()),
            manifests: Vec::new(),
            annotations: BTreeMap::new(),
        };
        for (rec, tags) in images {
            // The manifest as stored, or converted to `manifest_type`'s
            // media types.
            let converted = match manifest_type {
                Some(want) if rec.manifest_media_type != want => {
                    let raw = self.content().read(&rec.manifest_digest, MAX_SMALL_FILE)?;
                    let mut m: Manifest = serde_json::from_slice(&raw)
                        .map_err(|e| Error::json(format!("manifest {}", rec.manifest_digest), e))?;
                    convert_media_types(&mut m, want);
                    let bytes = serde_json::to_vec(&m).map_err(|e| Error::json("manifest", e))?;
                    let d = Digest::of_bytes(&bytes);
                    if written.insert(d.clone()) {
                        append_file(
                            b,
                            &format!("blobs/sha256/{}", d.hex()),
                            bytes.len() as u64,
                            &bytes[..],
                        )?;
                    }
                    Some((d, bytes.len() as u64))
                }
                _ => None,
            };
            let blobs = converted
                .is_none()
                .then(|| rec.manifest_digest.clone())
                .into_iter()
                .chain([rec.config_digest.clone()])
                .chain(rec.layers.iter().map(|l| l.digest.clone()));
            for d in blobs {
                if written.insert(d.clone()) {
                    let size = self.content().size(&d)?;
                    append_file(
                        b,
                        &format!("blobs/sha256/{}", d.hex()),
                        size,
                        self.content().open(&d)?,
                    )?;
                }
            }
            let mut desc = match converted {
                Some((d, size)) => Descriptor::new(manifest_type.unwrap_or_default(), d, size),
                None => Descriptor::new(
                    &rec.manifest_media_type,
                    rec.manifest_digest.clone(),
                    self.content().size(&rec.manifest_digest)?,
                ),
            };
            desc.platform = Some(rec.platform.clone());
            if tags.is_empty() {
                index.manifests.push(desc.clone());
            }
            for t in tags {
                let mut d = desc.clone();
                d.annotations
                    .insert(ANNOTATION_IMAGE_NAME.into(), t.to_string());
                if let Some(tag) = t.tag() {
                    d.annotations
                        .insert(ANNOTATION_REF_NAME.into(), tag.to_string());
                }
                index.manifests.push(d);
            }
        }
        let ij = serde_json::to_vec(&index).map_err(|e| Error::json("index.json", e))?;
        append_file(b, "index.json", ij.len() as u64, &ij[..])
    }

    /// Load a docker-archive or OCI layout tarball (detected by content);
    /// returns the images registered. Nothing becomes visible unless the
    /// whole archive was read and every image in it checked: blobs are
    /// staged (verified against their names and the descriptors' sizes),
    /// each layer is unpacked into a staged snapshot (a valid tar whose
    /// diff id the config names), and only then is everything published
    /// and the images registered.
    pub fn load<R: Read>(&self, input: R) -> Result<Vec<ImageRecord>> {
        let _lease = self.lease()?;
        let mut small: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        // archive path → (digest, size) of files stored as blobs
        let mut stored: BTreeMap<String, (Digest, u64)> = BTreeMap::new();
        let mut staged: BTreeMap<Digest, StagedBlob> = BTreeMap::new();
        let mut ar = tar::Archive::new(input);
        let bad_tar =
            |e: io::Error| Error::Archive(format!("read tar: {}", printable(&e.to_string())));
        let entries = ar.entries().map_err(bad_tar)?;
        for entry in entries {
            let mut entry = entry.map_err(bad_tar)?;
            if !matches!(
                entry.header().entry_type(),
                tar::EntryType::Regular | tar::EntryType::Continuous
            ) {
                continue;
            }
            let path = entry
                .path()
                .map_err(|e| Error::Archive(format!("entry path: {e}")))?
                .to_string_lossy()
                .trim_start_matches("./")
                .to_string();
            let blob_hex = path.strip_prefix("blobs/sha256/");
            if blob_hex.is_some() || path.ends_with(".tar") {
                let expected =
                    match blob_hex {
                        Some(h) => Some(Digest::from_hex(h).map_err(|_| {
                            Error::Archive(format!("{path}: not a sha256 blob name"))
                        })?),
                        None => None,
                    };
                let size = entry.size();
                let mut w = self.content().writer(expected, Some(size))?;
                let tmp = w.path().to_path_buf();
                copy_into(&mut entry, &mut w, &tmp).map_err(|e| match e {
                    CopyError::Read(e) => {
                        Error::Archive(format!("read {path}: {}", printable(&e.to_string())))
                    }
                    CopyError::Write(e) => e,
                })?;
                let b = w.stage()?;
                stored.insert(path, (b.digest().clone(), b.size()));
                staged.insert(b.digest().clone(), b);
            } else if entry.size() <= MAX_SMALL_FILE {
                let mut v = Vec::new();
                entry.read_to_end(&mut v).map_err(|e| {
                    Error::Archive(format!("read {path}: {}", printable(&e.to_string())))
                })?;
                small.insert(path, v);
            }
        }
        let mut l = Loading {
            store: self,
            staged,
            docs: Vec::new(),
            snaps: Vec::new(),
        };
        let images = if small.contains_key("index.json") && small.contains_key("oci-layout") {
            l.check_oci(&small)?
        } else if let Some(mj) = small.get("manifest.json") {
            l.check_docker(mj, &small, &stored)?
        } else {
            return Err(Error::Archive(
                "neither an OCI layout (oci-layout, index.json) nor a docker archive (manifest.json)".into(),
            ));
        };
        // Everything checked: publish, then register.
        let Loading {
            staged,
            docs,
            snaps,
            ..
        } = l;
        for b in staged.values() {
            b.sync()?;
        }
        for (_, b) in staged {
            b.publish()?;
        }
        for d in &docs {
            self.content().ingest_bytes(d)?;
        }
        self.content().sync_blob_dir()?;
        for s in snaps {
            s.publish()?;
        }
        let recs = images
            .iter()
            .map(|(top, platform, names)| self.register(top, platform, names))
            .collect::<Result<Vec<_>>>()?;
        for rec in &recs {
            self.log_event("load", &rec.id, &rec.id.to_string());
        }
        Ok(recs)
    }

    /// Unpack each layer of an image (bottom first, `diff_ids` from its
    /// config) into a staged snapshot, verifying the tar, its diff id and
    /// the blob's size against the descriptor. A layer's blob comes from
    /// `open` when it has it (staged, not yet published), else from the
    /// store. A snapshot that exists already is not unpacked again, but
    /// a staged blob for it is still checked against its diff id.
    pub(crate) fn stage_layer_snapshots(
        &self,
        layers: &[Descriptor],
        diff_ids: &[Digest],
        open: &dyn Fn(&Digest) -> Option<Result<std::fs::File>>,
    ) -> Result<Vec<StagedSnapshot>> {
        if layers.len() != diff_ids.len() {
            return Err(Error::Archive(format!(
                "{} layers but the config lists {} diff_ids",
                layers.len(),
                diff_ids.len()
            )));
        }
        let chains = chain_ids(diff_ids);
        let mut out = Vec::new();
        for (i, l) in layers.iter().enumerate() {
            layer_compression(&l.media_type, &l.digest)?;
            let (file, is_staged) = match open(&l.digest) {
                Some(f) => (f?, true),
                None => (self.content().open(&l.digest)?, false),
            };
            let size = file
                .metadata()
                .map_err(|e| Error::io(format!("stat layer {}", l.digest), e))?
                .len();
            if size != l.size {
                return Err(Error::SizeMismatch {
                    digest: l.digest.to_string(),
                    expected: l.size,
                    actual: size,
                });
            }
            let reader = io::BufReader::with_capacity(256 << 10, file);
            if self.snapshots().exists(&chains[i]) {
                if is_staged {
                    check_diff_id(reader, l, &diff_ids[i])?;
                }
                continue;
            }
            let parent = (i > 0).then(|| &chains[i - 1]);
            out.push(self.snapshots().stage_checked(
                &chains[i],
                parent,
                &diff_ids[i],
                &l.digest,
                &l.media_type,
                reader,
                self.unpack_options(),
                || Ok(()),
            )?);
        }
        Ok(out)
    }
}

/// Why [`copy_into`] stopped.
enum CopyError {
    /// Reading the input failed: the input's fault.
    Read(io::Error),
    /// Writing into the store failed (a full disk): the store's error,
    /// naming the file.
    Write(Error),
}

/// Copy `r` into `w` (writing the store's file `dest`), telling a read
/// error from a write error: a full disk is not a bad archive.
fn copy_into<R: Read, W: Write>(
    r: &mut R,
    w: &mut W,
    dest: &std::path::Path,
) -> std::result::Result<u64, CopyError> {
    let mut buf = vec![0u8; 256 << 10];
    let mut n = 0u64;
    loop {
        let k = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        w.write_all(&buf[..k])
            .map_err(|e| CopyError::Write(Error::io(format!("write {}", dest.display()), e)))?;
        n += k as u64;
    }
    w.flush()
        .map_err(|e| CopyError::Write(Error::io(format!("write {}", dest.display()), e)))?;
    Ok(n)
}

/// Verify that the layer blob read by `r` decompresses to `diff_id`.
fn check_diff_id<R: Read>(r: R, l: &Descriptor, diff_id: &Digest) -> Result<()> {
    let (_, plain) = decompress(r, Some(&l.media_type), &l.digest)?;
    let mut h = HashingReader::new(plain);
    io::copy(&mut h, &mut io::sink())
        .map_err(|e| Error::io(format!("read layer {}", l.digest), e))?;
    let (actual, _, _) = h
        .finish()
        .map_err(|e| Error::io(format!("read layer {}", l.digest), e))?;
    if &actual != diff_id {
        return Err(Error::DiffIdMismatch {
            layer: l.digest.clone(),
            expected: diff_id.clone(),
            actual,
        });
    }
    Ok(())
}

/// `s` as printable ASCII (a run of anything else becomes one `?`), cut
/// to 160 characters: the tar reader quotes raw header bytes in errors.
fn printable(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c == ' ' || c.is_ascii_graphic() {
            out.push(c);
        } else if !out.ends_with('?') {
            out.push('?');
        }
    }
    if out.chars().count() > 160 {
        out = out.chars().take(160).collect();
        out.push_str("...");
    }
    out
}

/// A load in progress: blobs staged from the archive, documents to
/// write, snapshots staged; nothing visible yet.
struct Loading<'a> {
    store: &'a Store,
    staged: BTreeMap<Digest, StagedBlob>,
    /// Manifests and configs made up by the load (docker archives).
    docs: Vec<Vec<u8>>,
    snaps: Vec<StagedSnapshot>,
}

/// An image to register once everything is published.
type ToRegister = (Digest, Platform, Vec<Reference>);

impl Loading<'_> {
    /// A small blob (manifest, config) from the archive or the store.
    fn read(&self, d: &Digest) -> Result<Vec<u8>> {
        match self.staged.get(d) {
            Some(b) => {
                let mut v = Vec::new();
                b.open()?
                    .take(MAX_SMALL_FILE + 1)
                    .read_to_end(&mut v)
                    .map_err(|e| Error::io(format!("read blob {d}"), e))?;
                if v.len() as u64 > MAX_SMALL_FILE {
                    return Err(Error::Archive(format!(
                        "blob {d} is larger than the {MAX_SMALL_FILE} byte limit"
                    )));
                }
                Ok(v)
            }
            None => self.store.content().read(d, MAX_SMALL_FILE),
        }
    }

    /// The size of a blob from the archive or the store.
    fn size(&self, d: &Digest) -> Result<u64> {
        match self.staged.get(d) {
            Some(b) => Ok(b.size()),
            None => self.store.content().size(d),
        }
    }

    fn check_size(&self, desc: &Descriptor) -> Result<()> {
        let actual = self.size(&desc.digest)?;
        if actual != desc.size {
            return Err(Error::SizeMismatch {
                digest: desc.digest.to_string(),
                expected: desc.size,
                actual,
            });
        }
        Ok(())
    }

    fn stage_layers(&mut self, layers: &[Descriptor], diff_ids: &[Digest]) -> Result<()> {
        let staged = &self.staged;
        let snaps = self
            .store
            .stage_layer_snapshots(layers, diff_ids, &|d| staged.get(d).map(|b| b.open()))?;
        self.snaps.extend(snaps);
        Ok(())
    }

    fn check_oci(&mut self, small: &BTreeMap<String, Vec<u8>>) -> Result<Vec<ToRegister>> {
        let idx: Index = serde_json::from_slice(&small["index.json"])
            .map_err(|e| Error::Archive(format!("index.json: {e}")))?;
        let mut out = Vec::new();
        for d in &idx.manifests {
            let mut names = Vec::new();
            let full = d
                .annotations
                .get(ANNOTATION_IMAGE_NAME)
                .or_else(|| d.annotations.get(ANNOTATION_REF_NAME));
            if let Some(n) = full {
                // A bare tag ("latest") is not a usable name on its own.
                if n.contains('/')
                    || n.contains(':')
                    || d.annotations.contains_key(ANNOTATION_IMAGE_NAME)
                {
                    names.push(Reference::parse(n)?);
                }
            }
            let platform = d.platform.clone().unwrap_or_else(Platform::host);
            self.check_size(d)?;
            let manifest =
                match parse_manifest(&self.read(&d.digest)?, &d.digest, Some(&d.media_type))? {
                    ManifestDoc::Image(_, m) => m,
                    ManifestDoc::Index(_, inner) => {
                        let child = inner.select(&platform, &d.digest)?.clone();
                        self.check_size(&child)?;
                        match parse_manifest(
                            &self.read(&child.digest)?,
                            &child.digest,
                            Some(&child.media_type),
                        )? {
                            ManifestDoc::Image(_, m) => m,
                            ManifestDoc::Index(..) => {
                                return Err(Error::Manifest {
                                    digest: child.digest.to_string(),
                                    reason: "nested indexes are not supported".into(),
                                })
                            }
                        }
                    }
                };
            self.check_size(&manifest.config)?;
            let config = ImageConfig::parse(
                &self.read(&manifest.config.digest)?,
                &manifest.config.digest,
            )?;
            self.stage_layers(&manifest.layers, &config.rootfs.diff_ids)?;
            out.push((d.digest.clone(), platform, names));
        }
        Ok(out)
    }

    fn check_docker(
        &mut self,
        mj: &[u8],
        small: &BTreeMap<String, Vec<u8>>,
        stored: &BTreeMap<String, (Digest, u64)>,
    ) -> Result<Vec<ToRegister>> {
        let entries: Vec<DockerArchiveEntry> = serde_json::from_slice(mj)
            .map_err(|e| Error::Archive(format!("manifest.json: {e}")))?;
        let mut out = Vec::new();
        for e in entries {
            let cfg = match small.get(&e.config) {
                Some(c) => c.clone(),
                None => match stored.get(&e.config) {
                    Some((d, _)) => self.read(d)?,
                    None => return Err(Error::Archive(format!("config {} missing", e.config))),
                },
            };
            let config_digest = Digest::of_bytes(&cfg);
            let config = ImageConfig::parse(&cfg, &config_digest)?;
            let mut layers = Vec::new();
            for l in &e.layers {
                let (d, size) = stored
                    .get(l)
                    .ok_or_else(|| Error::Archive(format!("layer {l} missing")))?;
                // Layers may be plain or compressed tars; the magic decides.
                let mut head = [0u8; 6];
                let n = match self.staged.get(d) {
                    Some(b) => b.open()?.read(&mut head).unwrap_or(0),
                    None => self.store.content().open(d)?.read(&mut head).unwrap_or(0),
                };
                let mt = match crate::unpack::detect_compression(&head[..n]) {
                    Ok(crate::manifest::Compression::Gzip) => media_type::DOCKER_LAYER_GZIP,
                    Ok(crate::manifest::Compression::Zstd) => media_type::OCI_LAYER_ZSTD,
                    _ => media_type::DOCKER_LAYER_TAR,
                };
                layers.push(Descriptor::new(mt, d.clone(), *size));
            }
            self.stage_layers(&layers, &config.rootfs.diff_ids)?;
            let manifest = Manifest {
                schema_version: 2,
                media_type: Some(media_type::DOCKER_MANIFEST.into()),
                artifact_type: None,
                config: Descriptor::new(media_type::DOCKER_CONFIG, config_digest, cfg.len() as u64),
                layers,
                annotations: BTreeMap::new(),
            };
            let mjson = serde_json::to_vec(&manifest).map_err(|e| Error::json("manifest", e))?;
            let md = Digest::of_bytes(&mjson);
            let names: Vec<Reference> = e
                .repo_tags
                .iter()
                .map(|t| Reference::parse(t))
                .collect::<std::result::Result<_, _>>()?;
            self.docs.push(cfg);
            self.docs.push(mjson);
            out.push((md, config.platform(), names));
        }
        Ok(out)
    }
}

//! OCI and Docker schema2 manifests, indexes / manifest lists, image
//! configs, and platform selection.

use std::collections::BTreeMap;
use std::fmt;

use oci_spec::image::MediaType as OciMediaType;
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};

/// Media type strings the store understands.
pub mod media_type {
    /// OCI image manifest.
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// OCI image index.
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// OCI image config.
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// OCI uncompressed layer.
    pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
    /// OCI gzip layer.
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    /// OCI zstd layer.
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    /// Docker schema2 manifest.
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// Docker manifest list.
    pub const DOCKER_MANIFEST_LIST: &str =
        "application/vnd.docker.distribution.manifest.list.v2+json";
    /// Docker image config.
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    /// Docker gzip layer.
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    /// Docker uncompressed layer (rare).
    pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
    /// Docker foreign (non-distributable) gzip layer.
    pub const DOCKER_FOREIGN_LAYER: &str =
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
    /// Docker schema1 manifests (unsupported).
    pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
    /// Docker signed schema1 manifests (unsupported).
    pub const DOCKER_SCHEMA1_SIGNED: &str =
        "application/vnd.docker.distribution.manifest.v1+prettyjws";
}

/// Which kind of manifest document a blob is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ManifestKind {
    /// `application/vnd.oci.image.manifest.v1+json`
    OciManifest,
    /// `application/vnd.oci.image.index.v1+json`
    OciIndex,
    /// `application/vnd.docker.distribution.manifest.v2+json`
    DockerManifest,
    /// `application/vnd.docker.distribution.manifest.list.v2+json`
    DockerManifestList,
}

impl ManifestKind {
    /// Media type string of this kind.
    pub fn media_type(self) -> &'static str {
        match self {
            ManifestKind::OciManifest => media_type::OCI_MANIFEST,
            ManifestKind::OciIndex => media_type::OCI_INDEX,
            ManifestKind::DockerManifest => media_type::DOCKER_MANIFEST,
            ManifestKind::DockerManifestList => media_type::DOCKER_MANIFEST_LIST,
        }
    }

    /// Kind for a media type string, if it is a manifest or index type.
    pub fn from_media_type(mt: &str) -> Option<ManifestKind> {
        // `oci_spec` knows the OCI types; docker ones are ours.
        match OciMediaType::from(mt) {
            OciMediaType::ImageManifest => Some(ManifestKind::OciManifest),
            OciMediaType::ImageIndex => Some(ManifestKind::OciIndex),
            _ => match mt {
                media_type::DOCKER_MANIFEST => Some(ManifestKind::DockerManifest),
                media_type::DOCKER_MANIFEST_LIST => Some(ManifestKind::DockerManifestList),
                _ => None,
            },
        }
    }

    /// True for indexes and manifest lists.
    pub fn is_index(self) -> bool {
        matches!(
            self,
            ManifestKind::OciIndex | ManifestKind::DockerManifestList
        )
    }
}

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// Digest of the referenced content.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
    /// Alternate download URLs (foreign layers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Platform, in index entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

impl Descriptor {
    /// A descriptor with just media type, digest and size.
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest,
            size,
            urls: Vec::new(),
            annotations: BTreeMap::new(),
            platform: None,
        }
    }
}

/// An OS/architecture pair with optional variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture in GOARCH form (`amd64`, `arm64`, `arm`, ...).
    pub architecture: String,
    /// Operating system in GOOS form (`linux`).
    pub os: String,
    /// OS version (Windows).
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// OS features.
    #[serde(rename = "os.features", default, skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
    /// CPU variant (`v7`, `v8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Default for Platform {
    /// `linux/amd64`.
    fn default() -> Self {
        Platform::new("linux", "amd64", None)
    }
}

impl Platform {
    /// Build a platform; architecture and variant are normalised.
    pub fn new(os: &str, arch: &str, variant: Option<&str>) -> Platform {
        let (architecture, variant) = normalize_arch(arch, variant.unwrap_or(""));
        Platform {
            architecture,
            os: os.to_lowercase(),
            os_version: None,
            os_features: Vec::new(),
            variant: if variant.is_empty() {
                None
            } else {
                Some(variant)
            },
        }
    }

    /// The platform this process runs on (Linux).
    pub fn host() -> Platform {
        Platform::new("linux", std::env::consts::ARCH, None)
    }

    /// Parse `os/arch[/variant]` (e.g. `linux/arm64/v8`) or just `arch`.
    pub fn parse(s: &str) -> Result<Platform> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad = || Error::Manifest {
            digest: String::new(),
            reason: format!("invalid platform {s:?} (expected os/arch[/variant])"),
        };
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        match parts.as_slice() {
            [arch] => Ok(Platform::new("linux", arch, None)),
            [os, arch] => Ok(Platform::new(os, arch, None)),
            [os, arch, variant] => Ok(Platform::new(os, arch, Some(variant))),
            _ => Err(bad()),
        }
    }

    /// Normalised (architecture, variant) of this platform.
    fn normalized(&self) -> (String, String) {
        normalize_arch(&self.architecture, self.variant.as_deref().unwrap_or(""))
    }

    /// Whether an image built for `other` can run on `self`, and how well:
    /// `None` if not, otherwise a rank (lower is better).
    pub fn match_rank(&self, other: &Platform) -> Option<u32> {
        if !self.os.eq_ignore_ascii_case(&other.os) {
            return None;
        }
        let (wa, wv) = self.normalized();
        let (oa, ov) = other.normalized();
        if wa != oa {
            return None;
        }
        if wv == ov {
            return Some(0);
        }
        if wa == "arm" {
            // v8 hardware runs v7, v6, v5 images; prefer the newest.
            let n = |v: &str| v.trim_start_matches('v').parse::<u32>().ok();
            if let (Some(w), Some(o)) = (n(&wv), n(&ov)) {
                if o < w {
                    return Some(w - o);
                }
            }
            return None;
        }
        // An image without a variant is acceptable, ranked below exact.
        if ov.is_empty() {
            return Some(10);
        }
        None
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Normalise architecture names (as containerd's `platforms` package).
fn normalize_arch(arch: &str, variant: &str) -> (String, String) {
    let arch = arch.to_lowercase();
    let variant = variant.to_lowercase();
    match arch.as_str() {
        "i386" | "i686" => ("386".into(), String::new()),
        "x86_64" | "x86-64" | "amd64" => {
            let v = if variant == "v1" {
                String::new()
            } else {
                variant
            };
            ("amd64".into(), v)
        }
        "aarch64" | "arm64" => {
            let v = if variant == "8" || variant == "v8" {
                String::new()
            } else {
                variant
            };
            ("arm64".into(), v)
        }
        "armhf" => ("arm".into(), "v7".into()),
        "armel" => ("arm".into(), "v6".into()),
        "arm" => {
            let v = match variant.as_str() {
                "" | "7" => "v7".to_string(),
                "5" | "6" | "8" => format!("v{variant}"),
                _ => variant,
            };
            ("arm".into(), v)
        }
        _ => (arch, variant),
    }
}

/// An image manifest (OCI or Docker schema2; same shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// Media type (required for Docker, optional for OCI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Artifact type (OCI 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The image config blob.
    pub config: Descriptor,
    /// Layers, bottom first.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An image index or manifest list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    pub schema_version: u32,
    /// Media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Per-platform manifests.
    pub manifests: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Index {
    /// Pick the manifest for `want` (best match by [`Platform::match_rank`];
    /// entries without a platform and attestation manifests are skipped).
    pub fn select(&self, want: &Platform, index_digest: &Digest) -> Result<&Descriptor> {
        let mut best: Option<(u32, &Descriptor)> = None;
        for d in &self.manifests {
            let Some(p) = &d.platform else { continue };
            if ManifestKind::from_media_type(&d.media_type).is_none() {
                continue;
            }
            if let Some(rank) = want.match_rank(p) {
                if best.map_or(true, |(r, _)| rank < r) {
                    best = Some((rank, d));
                }
            }
        }
        best.map(|(_, d)| d)
            .ok_or_else(|| Error::NoMatchingPlatform {
                digest: index_digest.clone(),
                platform: want.to_string(),
                available: {
                    let v: Vec<String> = self
                        .manifests
                        .iter()
                        .filter_map(|d| d.platform.as_ref().map(|p| p.to_string()))
                        .collect();
                    if v.is_empty() {
                        "none".to_string()
                    } else {
                        v.join(", ")
                    }
                },
            })
    }
}

/// A parsed manifest document.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestDoc {
    /// A single-platform image manifest.
    Image(ManifestKind, Manifest),
    /// An index / manifest list.
    Index(ManifestKind, Index),
}

impl ManifestDoc {
    /// The kind of document.
    pub fn kind(&self) -> ManifestKind {
        match self {
            ManifestDoc::Image(k, _) | ManifestDoc::Index(k, _) => *k,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    #[serde(default)]
    schema_version: Option<u32>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
    #[serde(default)]
    config: Option<serde_json::Value>,
    #[serde(default)]
    layers: Option<serde_json::Value>,
    #[serde(default)]
    fs_layers: Option<serde_json::Value>,
}

/// Parse a manifest or index. The kind comes from the document's
/// `mediaType`, else from `hint` (e.g. an HTTP Content-Type or the parent
/// descriptor), else from the content (`manifests` → index, `config` →
/// manifest). `digest` is only used in error messages.
pub fn parse_manifest(bytes: &[u8], digest: &Digest, hint: Option<&str>) -> Result<ManifestDoc> {
    let err = |reason: String| Error::Manifest {
        digest: digest.to_string(),
        reason,
    };
    let probe: Probe =
        serde_json::from_slice(bytes).map_err(|e| err(format!("not a JSON manifest: {e}")))?;
    if probe.schema_version == Some(1) || probe.fs_layers.is_some() {
        return Err(err(
            "docker schema1 manifests are not supported (re-push the image with a current client)"
                .into(),
        ));
    }
    let declared = probe
        .media_type
        .as_deref()
        .or(hint.filter(|h| !h.is_empty() && *h != "application/json"));
    let kind = match declared {
        Some(mt) => {
            ManifestKind::from_media_type(mt).ok_or_else(|| Error::UnsupportedMediaType {
                digest: format!("manifest {digest}"),
                media_type: mt.to_string(),
            })?
        }
        None if probe.manifests.is_some() => ManifestKind::OciIndex,
        None if probe.config.is_some() || probe.layers.is_some() => ManifestKind::OciManifest,
        None => {
            return Err(err(
                "cannot tell manifest kind: no mediaType, manifests or config field".into(),
            ))
        }
    };
    if probe.schema_version != Some(2) {
        return Err(err(format!(
            "unsupported schemaVersion {}",
            probe
                .schema_version
                .map_or_else(|| "(missing)".to_string(), |v| v.to_string())
        )));
    }
    if kind.is_index() {
        let idx: Index = serde_json::from_slice(bytes)
            .map_err(|e| err(format!("invalid {}: {e}", kind.media_type())))?;
        Ok(ManifestDoc::Index(kind, idx))
    } else {
        let m: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| err(format!("invalid {}: {e}", kind.media_type())))?;
        Ok(ManifestDoc::Image(kind, m))
    }
}

/// Healthcheck settings from a Docker image config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Healthcheck {
    /// `["NONE"]`, `["CMD", ...]` or `["CMD-SHELL", "..."]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    /// Nanoseconds between checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
    /// Nanoseconds before a check is considered hung.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    /// Nanoseconds of start-up grace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<i64>,
    /// Nanoseconds between checks during the start period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<i64>,
    /// Consecutive failures before unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
}

/// Execution defaults (`config` in the image config).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    /// User or uid[:gid].
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub user: Option<String>,
    /// Ports (`80/tcp`) → `{}`.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "nullable_map"
    )]
    pub exposed_ports: BTreeMap<String, serde_json::Value>,
    /// `KEY=value` entries.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "nullable_vec"
    )]
    pub env: Vec<String>,
    /// Entrypoint.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub entrypoint: Option<Vec<String>>,
    /// Default command.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub cmd: Option<Vec<String>>,
    /// Volumes → `{}`.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "nullable_map"
    )]
    pub volumes: BTreeMap<String, serde_json::Value>,
    /// Working directory.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub working_dir: Option<String>,
    /// Labels.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "nullable_map"
    )]
    pub labels: BTreeMap<String, String>,
    /// Stop signal (`SIGTERM`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub stop_signal: Option<String>,
    /// Healthcheck (Docker extension).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub healthcheck: Option<Healthcheck>,
    /// Shell for shell-form commands (Docker extension).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub shell: Option<Vec<String>>,
    /// ONBUILD triggers (Docker extension).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub on_build: Option<Vec<String>>,
    /// Whether Cmd is already escaped (Windows).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub args_escaped: Option<bool>,
}

/// `rootfs` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    /// sha256 of each uncompressed layer tar, bottom first.
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

impl Default for RootFs {
    fn default() -> Self {
        RootFs {
            kind: "layers".into(),
            diff_ids: Vec::new(),
        }
    }
}

/// One history entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// RFC 3339 time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Command that created the layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// True if this entry added no layer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// An image configuration (OCI `application/vnd.oci.image.config.v1+json`
/// or Docker `application/vnd.docker.container.image.v1+json`). Own types
/// rather than `oci_spec`'s because Docker configs carry `Healthcheck`,
/// `Shell` and `OnBuild`, and real-world configs contain `null`s.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// Creation time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// CPU architecture.
    #[serde(default)]
    pub architecture: String,
    /// Operating system.
    #[serde(default)]
    pub os: String,
    /// OS version.
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// CPU variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Execution defaults.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub config: Option<ContainerConfig>,
    /// Layer diff ids.
    #[serde(default)]
    pub rootfs: RootFs,
    /// Build history.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "nullable_vec"
    )]
    pub history: Vec<History>,
    /// Docker's `parent`: the image a `commit` started from (`history`
    /// names it for its entries). A string: legacy configs carry `""`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub parent: Option<String>,
}

impl ImageConfig {
    /// Parse an image config blob; `digest` is used in error messages.
    pub fn parse(bytes: &[u8], digest: &Digest) -> Result<ImageConfig> {
        let c: ImageConfig = serde_json::from_slice(bytes).map_err(|e| Error::Manifest {
            digest: format!("config {digest}"),
            reason: format!("invalid image config: {e}"),
        })?;
        if c.rootfs.kind != "layers" {
            return Err(Error::Manifest {
                digest: format!("config {digest}"),
                reason: format!("unsupported rootfs.type {:?}", c.rootfs.kind),
            });
        }
        Ok(c)
    }

    /// The platform the image was built for.
    pub fn platform(&self) -> Platform {
        let mut p = Platform::new(&self.os, &self.architecture, self.variant.as_deref());
        p.os_version = self.os_version.clone();
        p
    }
}

fn nullable<'de, D, T>(d: D) -> std::result::Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d)
}

fn nullable_vec<'de, D, T>(d: D) -> std::result::Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

fn nullable_map<'de, D, V>(d: D) -> std::result::Result<BTreeMap<String, V>, D::Error>
where
    D: serde::Deserializer<'de>,
    V: Deserialize<'de>,
{
    Ok(Option::<BTreeMap<String, V>>::deserialize(d)?.unwrap_or_default())
}

/// Layer compression, from media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip.
    Gzip,
    /// zstd.
    Zstd,
}

/// Compression implied by a layer media type; error for non-layer types.
pub fn layer_compression(media_type: &str, digest: &Digest) -> Result<Compression> {
    use media_type::*;
    match media_type {
        OCI_LAYER_TAR
        | DOCKER_LAYER_TAR
        | "application/vnd.oci.image.layer.nondistributable.v1.tar" => Ok(Compression::None),
        OCI_LAYER_GZIP
        | DOCKER_LAYER_GZIP
        | DOCKER_FOREIGN_LAYER
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip" => Ok(Compression::Gzip),
        OCI_LAYER_ZSTD
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
        | "application/vnd.docker.image.rootfs.diff.tar.zstd" => Ok(Compression::Zstd),
        _ => Err(Error::UnsupportedMediaType {
            digest: format!("layer {digest}"),
            media_type: media_type.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Digest {
        Digest::of_bytes(s.as_bytes())
    }

    fn desc_json(mt: &str, dig: &Digest, size: u64, platform: &str) -> String {
        format!(r#"{{"mediaType":"{mt}","digest":"{dig}","size":{size}{platform}}}"#)
    }

    #[test]
    fn parses_docker_schema2_manifest() {
        let cfg = d("cfg");
        let l = d("layer");
        let j = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{},"layers":[{}]}}"#,
            media_type::DOCKER_MANIFEST,
            desc_json(media_type::DOCKER_CONFIG, &cfg, 10, ""),
            desc_json(media_type::DOCKER_LAYER_GZIP, &l, 20, "")
        );
        let doc = parse_manifest(j.as_bytes(), &d("m"), None).unwrap();
        let ManifestDoc::Image(kind, m) = doc else {
            panic!()
        };
        assert_eq!(kind, ManifestKind::DockerManifest);
        assert_eq!(m.config.digest, cfg);
        assert_eq!(m.layers[0].digest, l);
        assert_eq!(m.layers[0].size, 20);
    }

    #[test]
    fn detects_kind_by_content_and_hint() {
        let cfg = d("cfg");
        let j = format!(
            r#"{{"schemaVersion":2,"config":{},"layers":[]}}"#,
            desc_json(media_type::OCI_CONFIG, &cfg, 10, "")
        );
        let doc = parse_manifest(j.as_bytes(), &d("m"), None).unwrap();
        assert_eq!(doc.kind(), ManifestKind::OciManifest);
        let doc = parse_manifest(j.as_bytes(), &d("m"), Some(media_type::DOCKER_MANIFEST)).unwrap();
        assert_eq!(doc.kind(), ManifestKind::DockerManifest);
        let j = format!(
            r#"{{"schemaVersion":2,"manifests":[{}]}}"#,
            desc_json(
                media_type::OCI_MANIFEST,
                &d("x"),
                5,
                r#","platform":{"architecture":"amd64","os":"linux"}"#
            )
        );
        let doc = parse_manifest(j.as_bytes(), &d("i"), None).unwrap();
        assert_eq!(doc.kind(), ManifestKind::OciIndex);
    }

    #[test]
    fn clear_errors() {
        let dig = d("m");
        let e = parse_manifest(b"not json", &dig, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&dig.to_string()) && e.contains("not a JSON manifest"),
            "{e}"
        );
        let e = parse_manifest(
            br#"{"schemaVersion":2,"mediaType":"application/vnd.foo+json"}"#,
            &dig,
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("application/vnd.foo+json") && e.contains(&dig.to_string()),
            "{e}"
        );
        let e = parse_manifest(br#"{"schemaVersion":1,"fsLayers":[]}"#, &dig, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("schema1"), "{e}");
        let e = parse_manifest(br#"{"schemaVersion":2}"#, &dig, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot tell"), "{e}");
        let e = parse_manifest(
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{}","config":{{}}}}"#,
                media_type::OCI_MANIFEST
            )
            .as_bytes(),
            &dig,
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("invalid application/vnd.oci.image.manifest.v1+json"),
            "{e}"
        );
    }

    fn index(platforms: &[(&str, &str, Option<&str>)]) -> Index {
        Index {
            schema_version: 2,
            media_type: Some(media_type::OCI_INDEX.into()),
            manifests: platforms
                .iter()
                .map(|(os, arch, v)| {
                    let mut desc = Descriptor::new(
                        media_type::OCI_MANIFEST,
                        d(&format!("{os}{arch}{v:?}")),
                        1,
                    );
                    desc.platform = Some(Platform {
                        architecture: arch.to_string(),
                        os: os.to_string(),
                        os_version: None,
                        os_features: vec![],
                        variant: v.map(str::to_string),
                    });
                    desc
                })
                .collect(),
            annotations: BTreeMap::new(),
        }
    }

    #[test]
    fn platform_selection() {
        let idx = index(&[
            ("linux", "amd64", None),
            ("linux", "arm", Some("v6")),
            ("linux", "arm", Some("v7")),
            ("linux", "arm64", Some("v8")),
            ("unknown", "unknown", None),
            ("windows", "amd64", None),
        ]);
        let id = d("idx");
        let pick = |p: &Platform| idx.select(p, &id).unwrap().platform.clone().unwrap();
        assert_eq!(pick(&Platform::default()).architecture, "amd64");
        assert_eq!(pick(&Platform::default()).os, "linux");
        assert_eq!(
            pick(&Platform::parse("linux/arm/v7").unwrap())
                .variant
                .as_deref(),
            Some("v7")
        );
        assert_eq!(
            pick(&Platform::parse("linux/arm/v8").unwrap())
                .variant
                .as_deref(),
            Some("v7")
        );
        assert_eq!(
            pick(&Platform::parse("linux/arm/v6").unwrap())
                .variant
                .as_deref(),
            Some("v6")
        );
        assert_eq!(
            pick(&Platform::parse("linux/aarch64").unwrap()).architecture,
            "arm64"
        );
        assert_eq!(
            pick(&Platform::parse("linux/arm64/v8").unwrap()).architecture,
            "arm64"
        );
        assert_eq!(
            pick(&Platform::parse("x86_64").unwrap()).architecture,
            "amd64"
        );
        let e = idx
            .select(&Platform::parse("linux/s390x").unwrap(), &id)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("linux/s390x") && e.contains("linux/amd64"),
            "{e}"
        );
        assert!(idx
            .select(&Platform::parse("linux/arm/v5").unwrap(), &id)
            .is_err());
        assert!(Platform::parse("a/b/c/d").is_err());
        assert!(Platform::parse("linux//x").is_err());
        assert_eq!(
            Platform::parse("linux/arm").unwrap().to_string(),
            "linux/arm/v7"
        );
    }

    #[test]
    fn parses_docker_config_with_nulls_and_healthcheck() {
        let j = br#"{
            "architecture":"amd64","os":"linux","created":"2024-01-01T00:00:00Z",
            "config":{"Env":["PATH=/bin"],"Cmd":["sh"],"Entrypoint":null,"WorkingDir":"",
                "User":"1000:1000","ExposedPorts":{"80/tcp":{}},"Volumes":{"/data":{}},
                "Labels":null,"StopSignal":"SIGQUIT",
                "Healthcheck":{"Test":["CMD-SHELL","true"],"Interval":30000000000,"Retries":3}},
            "container_config":{"Cmd":["ignored"]},
            "rootfs":{"type":"layers","diff_ids":["sha256:2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6"]},
            "history":[{"created_by":"/bin/sh -c #(nop) ADD file:x in / "},{"empty_layer":true}]
        }"#;
        let c = ImageConfig::parse(j, &d("c")).unwrap();
        let cc = c.config.as_ref().unwrap();
        assert_eq!(cc.env, vec!["PATH=/bin"]);
        assert_eq!(cc.cmd.as_deref(), Some(&["sh".to_string()][..]));
        assert_eq!(cc.entrypoint, None);
        assert!(cc.exposed_ports.contains_key("80/tcp"));
        assert!(cc.volumes.contains_key("/data"));
        assert_eq!(cc.stop_signal.as_deref(), Some("SIGQUIT"));
        assert_eq!(cc.healthcheck.as_ref().unwrap().retries, Some(3));
        assert_eq!(c.rootfs.diff_ids.len(), 1);
        assert_eq!(c.history.len(), 2);
        assert!(c.history[1].empty_layer);
        assert_eq!(c.platform(), Platform::default());
        // round trip keeps fields
        let back = ImageConfig::parse(&serde_json::to_vec(&c).unwrap(), &d("c")).unwrap();
        assert_eq!(back, c);
        let e = ImageConfig::parse(br#"{"rootfs":{"type":"other"}}"#, &d("c"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("rootfs.type"), "{e}");
        let e = ImageConfig::parse(
            br#"{"rootfs":{"type":"layers","diff_ids":["bad"]}}"#,
            &d("c"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("config sha256:"), "{e}");
    }

    #[test]
    fn layer_media_types() {
        let x = d("x");
        assert_eq!(
            layer_compression(media_type::DOCKER_LAYER_GZIP, &x).unwrap(),
            Compression::Gzip
        );
        assert_eq!(
            layer_compression(media_type::OCI_LAYER_ZSTD, &x).unwrap(),
            Compression::Zstd
        );
        assert_eq!(
            layer_compression(media_type::OCI_LAYER_TAR, &x).unwrap(),
            Compression::None
        );
        let e = layer_compression("application/x-foo", &x)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("application/x-foo") && e.contains(&x.to_string()),
            "{e}"
        );
    }
}

//! Error type for the image store.

use std::path::PathBuf;

use crate::digest::Digest;
use crate::reference::ReferenceError;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every failure the image store reports. Messages are one line and name the
/// file, field, value or digest involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O operation failed; `context` says what was being done to which path.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A reference string could not be parsed.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// A digest string is malformed or uses an unsupported algorithm.
    #[error(transparent)]
    InvalidDigest(#[from] crate::digest::InvalidDigest),
    /// Content did not hash to the digest it was expected to have.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    /// Content did not have the size it was expected to have.
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        digest: String,
        expected: u64,
        actual: u64,
    },
    /// A blob is not present in the content store.
    #[error("blob {0} not found in the content store")]
    BlobNotFound(Digest),
    /// A manifest, index or config could not be understood.
    #[error("manifest {digest}: {reason}")]
    Manifest { digest: String, reason: String },
    /// A manifest or layer has a media type the store does not handle.
    #[error("{digest}: unsupported media type {media_type:?}")]
    UnsupportedMediaType { digest: String, media_type: String },
    /// No manifest in an index matches the wanted platform.
    #[error("index {digest}: no manifest for platform {platform} (available: {available})")]
    NoMatchingPlatform {
        digest: Digest,
        platform: String,
        available: String,
    },
    /// JSON (de)serialisation of a named document failed.
    #[error("{what}: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    /// A layer tarball is malformed or hostile.
    #[error("layer {layer}: {reason}")]
    Layer { layer: String, reason: String },
    /// The uncompressed digest of a layer does not match the config.
    #[error("layer {layer}: diff id mismatch: config says {expected}, content is {actual}")]
    DiffIdMismatch {
        layer: Digest,
        expected: Digest,
        actual: Digest,
    },
    /// No image matches a reference or id.
    #[error("image not found: {0}")]
    ImageNotFound(String),
    /// The operation conflicts with the store's state (e.g. removing an
    /// image by id while several tags reference it).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A short id matches several images.
    #[error("image id prefix {0:?} is ambiguous")]
    AmbiguousId(String),
    /// The metadata file is corrupt.
    #[error("image metadata {path}: {reason}")]
    Metadata { path: PathBuf, reason: String },
    /// An archive (docker-archive, OCI layout) is malformed.
    #[error("archive: {0}")]
    Archive(String),
    /// An overlay mount option cannot be expressed.
    #[error("overlay: {0}")]
    Overlay(String),
}

impl From<berth_util::Error> for Error {
    fn from(e: berth_util::Error) -> Error {
        match e {
            berth_util::Error::Io { context, source } => Error::Io { context, source },
            berth_util::Error::Corrupt { path, source } => Error::Json {
                what: path.display().to_string(),
                source,
            },
            berth_util::Error::Serialize { path, source } => Error::Json {
                what: format!("serialising {}", path.display()),
                source,
            },
        }
    }
}

impl Error {
    /// Wrap an I/O error with a description of the operation.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Wrap a nix errno with a description of the operation.
    pub fn nix(context: impl Into<String>, errno: nix::errno::Errno) -> Self {
        Error::Io {
            context: context.into(),
            source: std::io::Error::from(errno),
        }
    }

    /// Wrap a JSON error with the name of the document.
    pub fn json(what: impl Into<String>, source: serde_json::Error) -> Self {
        Error::Json {
            what: what.into(),
            source,
        }
    }

    /// The underlying I/O error kind, if this is an I/O error.
    pub fn io_kind(&self) -> Option<std::io::ErrorKind> {
        match self {
            Error::Io { source, .. } => Some(source.kind()),
            _ => None,
        }
    }
}

/// Extension to attach context to `std::io::Result`.
pub(crate) trait IoContext<T> {
    fn ctx<F: FnOnce() -> String>(self, f: F) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx<F: FnOnce() -> String>(self, f: F) -> Result<T> {
        self.map_err(|e| Error::io(f(), e))
    }
}

impl<T> IoContext<T> for nix::Result<T> {
    fn ctx<F: FnOnce() -> String>(self, f: F) -> Result<T> {
        self.map_err(|e| Error::nix(f(), e))
    }
}

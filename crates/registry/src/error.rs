//! Error type of the registry client. Every message is one line and names
//! the registry, and where relevant the repository, the reference or
//! digest, the HTTP status and the registry's own error code and message.

use std::path::PathBuf;

use image::Digest;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the registry client reports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No connection could be made (refused, unknown host, timeout) even
    /// after retrying.
    #[error("cannot reach registry {registry}: {reason}")]
    Unreachable { registry: String, reason: String },

    /// The connection broke or the peer spoke something other than HTTP
    /// (TLS failure, protocol error, reset mid-transfer).
    #[error("registry {registry}: {what}: {reason}")]
    Transport {
        registry: String,
        what: String,
        reason: String,
    },

    /// The connection was refused for good: the TLS certificate did not
    /// verify, the peer does not speak TLS, redirects loop. Not retried.
    #[error("registry {registry}: {what}: {reason}")]
    Refused {
        registry: String,
        what: String,
        reason: String,
    },

    /// The registry answered with an unexpected HTTP status.
    #[error("{registry}/{repository}: {what}: HTTP {status}{}", detail(.code, .message))]
    Status {
        registry: String,
        repository: String,
        what: String,
        status: u16,
        /// Error code from the registry's JSON body (`MANIFEST_UNKNOWN`).
        code: Option<String>,
        /// Message from the registry's JSON body (or a short text body).
        message: Option<String>,
    },

    /// Authentication with the registry or its token service failed.
    #[error("registry {registry}: authentication failed: {reason}")]
    Auth { registry: String, reason: String },

    /// Content did not hash to the digest it was expected to have.
    #[error("{registry}/{repository}: {what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        registry: String,
        repository: String,
        what: String,
        expected: Digest,
        actual: Digest,
    },

    /// A blob ended early.
    #[error(
        "{registry}/{repository}: blob {digest} truncated: received {received} of {expected} bytes"
    )]
    Truncated {
        registry: String,
        repository: String,
        digest: Digest,
        received: u64,
        expected: u64,
    },

    /// A blob was longer than its descriptor says.
    #[error("{registry}/{repository}: blob {digest}: size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        registry: String,
        repository: String,
        digest: Digest,
        expected: u64,
        actual: u64,
    },

    /// A manifest, index or config from the registry is unusable (not
    /// JSON, unknown media type, no matching platform, ...).
    #[error("{registry}/{repository}: {what}: {reason}")]
    Invalid {
        registry: String,
        repository: String,
        what: String,
        reason: String,
    },

    /// The local image store failed.
    #[error("{context}: {source}")]
    Store {
        context: String,
        #[source]
        source: image::Error,
    },

    /// A reference could not be parsed.
    #[error(transparent)]
    Reference(#[from] image::ReferenceError),

    /// `push` of an image the store does not have (docker's words).
    #[error("An image does not exist locally with the tag: {0}")]
    NoLocalImage(String),

    /// The credentials file could not be read or written.
    #[error("auth file {path}: {reason}")]
    AuthFile { path: PathBuf, reason: String },

    /// The client configuration is unusable.
    #[error("registry client: {0}")]
    Config(String),
}

fn detail(code: &Option<String>, message: &Option<String>) -> String {
    match (code, message) {
        (Some(c), Some(m)) => format!(" {c}: {m}"),
        (Some(c), None) => format!(" {c}"),
        (None, Some(m)) => format!(": {m}"),
        (None, None) => String::new(),
    }
}

impl Error {
    /// The HTTP status, for [`Error::Status`].
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The registry's error code (`BLOB_UNKNOWN`, ...), for [`Error::Status`].
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Status { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// Whether trying again may help (network trouble, truncated transfer).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Unreachable { .. } | Error::Transport { .. } | Error::Truncated { .. } => true,
            Error::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }

    pub(crate) fn store(context: impl Into<String>, source: image::Error) -> Error {
        Error::Store {
            context: context.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line_and_name_things() {
        let e = Error::Status {
            registry: "r:5000".into(),
            repository: "a/b".into(),
            what: "manifest v1".into(),
            status: 404,
            code: Some("MANIFEST_UNKNOWN".into()),
            message: Some("manifest unknown".into()),
        };
        assert_eq!(
            e.to_string(),
            "r:5000/a/b: manifest v1: HTTP 404 MANIFEST_UNKNOWN: manifest unknown"
        );
        assert_eq!(
            (e.status(), e.code()),
            (Some(404), Some("MANIFEST_UNKNOWN"))
        );
        assert!(!e.is_transient());
        let e = Error::Status {
            registry: "r".into(),
            repository: "a".into(),
            what: "blob x".into(),
            status: 502,
            code: None,
            message: None,
        };
        assert_eq!(e.to_string(), "r/a: blob x: HTTP 502");
        assert!(e.is_transient());
        let e = Error::Unreachable {
            registry: "127.0.0.1:5000".into(),
            reason: "connection refused".into(),
        };
        assert_eq!(
            e.to_string(),
            "cannot reach registry 127.0.0.1:5000: connection refused"
        );
        let d = Digest::of_bytes(b"x");
        let e = Error::Truncated {
            registry: "r".into(),
            repository: "a".into(),
            digest: d.clone(),
            received: 1,
            expected: 9,
        };
        assert_eq!(
            e.to_string(),
            format!("r/a: blob {d} truncated: received 1 of 9 bytes")
        );
        assert!(!e.to_string().contains('\n'));
    }
}

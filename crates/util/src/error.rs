//! One error type for the helpers: what was being done (naming the file)
//! and why, on one line. Callers convert it into their own error types.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O failure; `context` names the operation and the path
    /// (`cannot write /x/state.json`).
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    /// A JSON document that does not parse as the expected type.
    #[error("{}: corrupt: {source}", .path.display())]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// A value that cannot be serialised as JSON.
    #[error("serialising {}: {source}", .path.display())]
    Serialize {
        path: PathBuf,
        source: serde_json::Error,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The I/O error kind, for an I/O failure.
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            Error::Io { source, .. } => Some(source.kind()),
            _ => None,
        }
    }
}

pub(crate) trait Context<T> {
    fn ctx<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T>;
}

impl<T> Context<T> for io::Result<T> {
    fn ctx<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|source| Error::Io {
            context: f().into(),
            source,
        })
    }
}

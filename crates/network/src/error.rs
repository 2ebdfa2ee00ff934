use std::path::Path;

/// Errors of the network library; each names the flag, value, device or file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: {}", std::io::Error::from_raw_os_error(*errno))]
    Os { what: String, errno: i32 },
    #[error("netlink: {0}")]
    Netlink(String),
    #[error("nftables: {0}")]
    Nft(String),
    /// A bad flag value: `invalid argument "V" for "FLAG" flag: WHY`.
    #[error("invalid argument \"{value}\" for \"{flag}\" flag: {why}")]
    Flag {
        flag: String,
        value: String,
        why: String,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("network {0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A host port in use: docker's messages.
    #[error("{0}")]
    PortInUse(String),
    #[error("{0}")]
    Exhausted(String),
    #[error("{what} {}: {source}", path.display())]
    Json {
        what: &'static str,
        path: std::path::PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

impl From<berth_util::Error> for Error {
    fn from(e: berth_util::Error) -> Error {
        match e {
            berth_util::Error::Io { context, source } => Error::Io {
                what: context,
                source,
            },
            berth_util::Error::Corrupt { path, source } => {
                Error::json("cannot parse", &path, source)
            }
            berth_util::Error::Serialize { path, source } => {
                Error::json("cannot encode", &path, source)
            }
        }
    }
}

impl Error {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    pub fn flag(flag: &str, value: &str, why: impl Into<String>) -> Error {
        Error::Flag {
            flag: flag.into(),
            value: value.into(),
            why: why.into(),
        }
    }

    pub fn json(what: &'static str, path: &Path, source: serde_json::Error) -> Error {
        Error::Json {
            what,
            path: path.to_path_buf(),
            source,
        }
    }
}

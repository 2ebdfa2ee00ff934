use std::io;

/// Errors of the runtime. Each renders as one line that names what went wrong
/// (the file, the config field, the container, the syscall and its target).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{file}: {field}: {msg}")]
    Config {
        file: String,
        field: String,
        msg: String,
    },
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    #[error("container \"{0}\" does not exist")]
    NotFound(String),
    #[error("container \"{0}\" already exists")]
    Exists(String),
    #[error("{0}")]
    Msg(String),
    #[error(transparent)]
    Cgroup(#[from] cgroups::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn msg(m: impl Into<String>) -> Self {
        Error::Msg(m.into())
    }
    pub fn config(file: &str, field: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Config {
            file: file.to_string(),
            field: field.into(),
            msg: msg.into(),
        }
    }
}

impl From<berth_util::Error> for Error {
    fn from(e: berth_util::Error) -> Error {
        match e {
            berth_util::Error::Io { context, source } => Error::Io { context, source },
            e => Error::Msg(e.to_string()),
        }
    }
}

/// Adds a description of the operation to an I/O-ish error.
pub trait Context<T> {
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

impl<T> Context<T> for nix::Result<T> {
    fn ctx<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| Error::Io {
            context: f().into(),
            source: io::Error::from_raw_os_error(e as i32),
        })
    }
}

//! Engine errors. Each renders as one line; [`Error::exit_code`] gives the
//! status a docker-compatible CLI exits with (125 engine, 126 cannot invoke,
//! 127 command not found).

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flag or option value is wrong (the message names the flag and value).
    #[error("{0}")]
    InvalidArgument(String),
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    #[error("No such exec instance: {0}")]
    NoSuchExec(String),
    /// A filter the object does not take, or a bad filter value (docker's
    /// API answers 400; its CLI exits 1).
    #[error("{0}")]
    InvalidFilter(String),
    /// A request refused for what it asks, not for a flag's value (a copy
    /// into a path that is not a directory): docker's API answers 400, its
    /// CLI exits 1.
    #[error("{0}")]
    BadRequest(String),
    /// No image, network or volume of that name (the message says which).
    #[error("{0}")]
    NoSuchObject(String),
    /// Name already in use, container running when it must not be, ...
    #[error("{0}")]
    Conflict(String),
    /// The command exists but cannot be executed (permission, directory).
    #[error("{0}")]
    CannotInvoke(String),
    /// The command was not found in the container.
    #[error("{0}")]
    CommandNotFound(String),
    #[error("{0}")]
    Msg(String),
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    #[error(transparent)]
    Image(#[from] image::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn msg(m: impl Into<String>) -> Error {
        Error::Msg(m.into())
    }

    pub fn invalid(m: impl Into<String>) -> Error {
        Error::InvalidArgument(m.into())
    }

    /// `invalid <flag> "<value>": <why>`
    pub fn flag(flag: &str, value: &str, why: impl std::fmt::Display) -> Error {
        Error::InvalidArgument(format!("invalid {flag} {value:?}: {why}"))
    }

    /// The same error naming `to` where it named the flag `from`
    /// (`invalid --volume "x": ...` → `invalid HostConfig.Binds "x": ...`):
    /// a face that shares a flag's parser names its own field.
    pub fn renamed(self, from: &str, to: &str) -> Error {
        match self {
            Error::InvalidArgument(m) => {
                // docker's pflag form: `invalid argument "V" for "FLAG" flag: why`.
                let pflag = m
                    .strip_prefix("invalid argument ")
                    .and_then(|r| r.split_once(&format!(" for \"{from}\" flag: ")));
                Error::InvalidArgument(match (pflag, m.strip_prefix(&format!("invalid {from} "))) {
                    (Some((value, why)), _) => format!("invalid {to} {value}: {why}"),
                    (None, Some(rest)) => format!("invalid {to} {rest}"),
                    (None, None) => m,
                })
            }
            e => e,
        }
    }

    pub fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// The exit status docker's CLI uses for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::CannotInvoke(_) => 126,
            Error::CommandNotFound(_) => 127,
            _ => 125,
        }
    }

    /// Classifies an error of the OCI runtime: failures to find or execute
    /// the container's command become 127/126, as with docker.
    pub fn from_runtime(e: oci_runtime::Error) -> Error {
        classify(e.to_string())
    }
}

/// Maps a runtime error message to the engine's error kinds.
pub fn classify(m: String) -> Error {
    let exec = m.contains("exec: \"") || m.contains("exec \"");
    // runc and the built-in runtime: `executable file not found in $PATH`;
    // crun: "executable file `X` not found in $PATH".
    let not_found = m.contains("executable file not found")
        || (m.contains("executable file `") && m.contains("` not found"));
    if not_found || (exec && m.to_ascii_lowercase().contains("no such file or directory")) {
        Error::CommandNotFound(m)
    } else if (exec && (m.contains("permission denied") || m.contains("is a directory")))
        // crun: "open executable: Operation not permitted" (a directory).
        || m.contains("open executable: ")
    {
        Error::CannotInvoke(m)
    } else {
        Error::Msg(m)
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

impl From<oci_runtime::Error> for Error {
    fn from(e: oci_runtime::Error) -> Error {
        Error::from_runtime(e)
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

impl<T> Context<T> for nix::Result<T> {
    fn ctx<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| Error::Io {
            context: f().into(),
            source: io::Error::from_raw_os_error(e as i32),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_messages_get_dockers_exit_codes() {
        let code = |m: &str| classify(m.to_string()).exit_code();
        // The built-in runtime and runc.
        assert_eq!(
            code("exec: \"nope\": executable file not found in $PATH"),
            127
        );
        assert_eq!(code("exec: \"/etc\": permission denied"), 126);
        // crun.
        assert_eq!(
            code("executable file `nope` not found in $PATH: No such file or directory"),
            127
        );
        assert_eq!(code("open executable: Operation not permitted"), 126);
        assert_eq!(code("cgroup: no such controller"), 125);
    }
}

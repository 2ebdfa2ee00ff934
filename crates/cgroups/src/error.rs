//! Error type: every variant is one line and names the file, field or value involved.

use std::path::PathBuf;

/// Errors returned by this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading a host file (mountinfo, a cgroup interface file, ...) failed.
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Writing a value to a cgroup file failed.
    #[error("cannot write {value:?} to {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        value: String,
        #[source]
        source: std::io::Error,
    },
    /// Creating a cgroup directory failed.
    #[error("cannot create cgroup directory {}: {source}", .path.display())]
    Mkdir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Removing a cgroup directory failed.
    #[error("cannot remove cgroup directory {}: {source}", .path.display())]
    Rmdir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file had content we could not understand.
    #[error("cannot parse {what} from {} (content {content:?})", .path.display())]
    Parse {
        path: PathBuf,
        what: &'static str,
        content: String,
    },
    /// A line of /proc/self/mountinfo or /proc/self/cgroup is malformed.
    #[error("malformed {source_name} line {line:?}: {reason}")]
    HostParse {
        source_name: &'static str,
        line: String,
        reason: &'static str,
    },
    /// No cgroup filesystem of any version is mounted.
    #[error("no cgroup or cgroup2 filesystem found in mountinfo")]
    NoCgroupMounts,
    /// The cgroups path from config.json (or the container id) is unusable.
    #[error("invalid cgroups path {path:?}: {reason}")]
    InvalidPath { path: String, reason: String },
    /// A resource value is out of range or inconsistent.
    #[error("invalid value {value} for {field}: {reason}")]
    InvalidValue {
        field: &'static str,
        value: String,
        reason: String,
    },
    /// The host cannot enforce a resource that was set (controller or file missing).
    #[error("cannot set {field} = {value}: {reason}")]
    Unsupported {
        field: String,
        value: String,
        reason: String,
    },
    /// A key in linux.resources.unified has no matching cgroup file.
    #[error("unified resource {key:?}: no such cgroup file {}", .path.display())]
    UnifiedKey { key: String, path: PathBuf },
    /// A device cgroup rule is invalid.
    #[error("invalid device rule {rule:?}: {reason}")]
    DeviceRule { rule: String, reason: String },
    /// A bpf(2) operation failed.
    #[error("bpf {op} on {}: {source}{log}", .path.display())]
    Bpf {
        op: &'static str,
        path: PathBuf,
        log: String,
        #[source]
        source: std::io::Error,
    },
    /// The cgroup did not reach a state in time.
    #[error("timed out waiting for {} to become {state}", .path.display())]
    Timeout { path: PathBuf, state: &'static str },
    /// Sending a signal failed.
    #[error("cannot send signal {signal} to pid {pid}: {source}")]
    Signal {
        pid: i32,
        signal: i32,
        #[source]
        source: nix::Error,
    },
    /// The operation needs a controller (freezer, ...) that no hierarchy provides.
    #[error("no hierarchy provides the {controller} controller (needed for {op})")]
    NoController {
        controller: &'static str,
        op: &'static str,
    },
    /// destroy() collected one or more errors.
    #[error("cannot remove cgroup: {0}")]
    Destroy(String),
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;

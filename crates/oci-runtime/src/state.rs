//! Container state on disk: `<root>/<id>/state.json`, written atomically.

use crate::error::{Error, Result};
use berth_util::fs::{write_atomic_with, Durability};
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub const STATE_FILE: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        };
        f.write_str(s)
    }
}

/// What the runtime remembers of a container between commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerState {
    pub id: String,
    pub pid: i32,
    /// Start time of the init process (field 22 of /proc/PID/stat), to tell
    /// our process from a later one that reuses its pid.
    pub start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    pub cgroup: Option<cgroups::Manager>,
    pub config: Spec,
}

/// The `state` command's JSON, as runc prints it.
#[derive(Debug, Serialize)]
pub struct StateOutput<'a> {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'a str,
    pub id: &'a str,
    pub pid: i32,
    pub status: Status,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub created: &'a str,
    pub owner: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<&'a HashMap<String, String>>,
}

impl ContainerState {
    pub fn dir(root: &Path, id: &str) -> PathBuf {
        root.join(id)
    }

    pub fn load(root: &Path, id: &str) -> Result<ContainerState> {
        validate_id(id)?;
        let path = Self::dir(root, id).join(STATE_FILE);
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(id.to_string()))
            }
            Err(e) => {
                return Err(Error::Io {
                    context: format!("cannot read {}", path.display()),
                    source: e,
                })
            }
        };
        serde_json::from_slice(&data).map_err(|e| {
            Error::msg(format!(
                "{}: corrupt state: {}",
                path.display(),
                crate::config::json_error(&data, "state.json", &e)
            ))
        })
    }

    pub fn save(&self, root: &Path) -> Result<()> {
        let dir = Self::dir(root, &self.id);
        let data =
            serde_json::to_vec(self).map_err(|e| Error::msg(format!("serialising state: {e}")))?;
        Ok(write_atomic_with(&dir.join(STATE_FILE), &data, WRITES)?)
    }

    /// The live status, derived from the init process and the exec fifo.
    pub fn status(&self, root: &Path) -> Status {
        if self.pid <= 0 || !berth_util::proc::alive(self.pid, self.start_time) {
            return Status::Stopped;
        }
        if Self::dir(root, &self.id).join(EXEC_FIFO).exists() {
            return Status::Created;
        }
        if let Some(cg) = &self.cgroup {
            if matches!(cg.freezer_state(), Ok(cgroups::FreezerState::Frozen)) {
                return Status::Paused;
            }
        }
        Status::Running
    }

    pub fn output(&self, status: Status) -> StateOutput<'_> {
        StateOutput {
            oci_version: self.config.version(),
            id: &self.id,
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            status,
            bundle: &self.bundle,
            rootfs: &self.rootfs,
            created: &self.created,
            owner: &self.owner,
            annotations: self.config.annotations().as_ref().filter(|a| !a.is_empty()),
        }
    }

    /// The JSON that hooks receive on stdin.
    pub fn hook_state(&self, status: Status) -> Vec<u8> {
        let out = serde_json::json!({
            "ociVersion": self.config.version(),
            "id": self.id,
            "status": status,
            "pid": self.pid,
            "bundle": self.bundle,
            "annotations": self.config.annotations().clone().unwrap_or_default(),
        });
        out.to_string().into_bytes()
    }
}

/// How the runtime's files (state.json, pid files) are written: a temp
/// file and rename, no fsync. This is the runtime's view of live
/// processes, which a power loss ends anyway; the rename alone makes a
/// `kill -9` at any point leave either the old or the new file (runc and
/// crun do the same). The engine's durable state is fsynced.
pub(crate) const WRITES: Durability = Durability::Atomic;

/// Container ids: what runc accepts.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::msg(format!(
            "invalid container id {id:?}: use letters, digits, '_', '+', '-' and '.'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(validate_id("abc-1.2_x+y").is_ok());
        assert!(validate_id("").is_err());
        assert!(validate_id("..").is_err());
        assert!(validate_id("a/b").is_err());
        assert!(validate_id("a b").is_err());
    }

    #[test]
    fn atomic_write_replaces() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.json");
        write_atomic_with(&p, b"one", WRITES).unwrap();
        write_atomic_with(&p, b"two", WRITES).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }
}

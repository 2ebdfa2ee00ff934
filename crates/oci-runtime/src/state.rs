//! Container state on disk: `<root>/<id>/state.json`, written atomically.

use crate::error::{Context, Error, Result};
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
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
        write_atomic(&dir.join(STATE_FILE), &data)
    }

    /// The live status, derived from the init process and the exec fifo.
    pub fn status(&self, root: &Path) -> Status {
        if self.pid <= 0 || !process_alive(self.pid, self.start_time) {
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

/// Writes `data` to `path` through a temporary file and rename.
///
/// No fsync: this is the runtime's view of live processes, which a power
/// loss ends anyway; the rename alone makes a `kill -9` at any point leave
/// either the old or the new file (runc and crun do the same). The engine's
/// durable state uses its own fsyncing writer.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let r = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        std::fs::rename(&tmp, path)
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r.ctx(|| format!("cannot write {}", path.display()))
}

/// Field 22 (starttime) and field 3 (state) of /proc/PID/stat.
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let mut it = rest.split(' ');
    let state = it.next()?.chars().next()?;
    // `rest` starts at field 3; starttime is field 22.
    let start = it.nth(18)?.parse().ok()?;
    Some((state, start))
}

pub fn process_alive(pid: i32, start_time: u64) -> bool {
    match proc_stat(pid) {
        Some((state, st)) => st == start_time && state != 'Z' && state != 'X',
        None => false,
    }
}

/// RFC 3339 UTC timestamp with nanoseconds, as runc writes `created`.
pub fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(d.as_secs() as i64, d.subsec_nanos())
}

pub fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
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
    fn time_format() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(1_700_000_000, 5), "2023-11-14T22:13:20.000000005Z");
        assert_eq!(rfc3339(951_782_400, 0), "2000-02-29T00:00:00.000000000Z");
    }

    #[test]
    fn self_is_alive() {
        let me = std::process::id() as i32;
        let (state, start) = proc_stat(me).unwrap();
        assert!(state == 'R' || state == 'S');
        assert!(process_alive(me, start));
        assert!(!process_alive(me, start + 1));
    }

    #[test]
    fn atomic_write_replaces() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }
}

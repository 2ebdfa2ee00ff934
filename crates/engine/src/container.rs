//! What the store keeps per container: `config.v2.json` ([`Container`]:
//! what was asked and resolved at create) and `state.json` ([`State`]).
//! Field names follow `docker inspect`.

pub use crate::options::RestartPolicy;
use crate::options::{CreateOptions, Resources};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Docker's `Config` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Config {
    pub hostname: String,
    pub domainname: String,
    pub user: String,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub exposed_ports: BTreeMap<String, serde_json::Value>,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub env: Vec<String>,
    pub cmd: Option<Vec<String>>,
    pub image: String,
    pub volumes: BTreeMap<String, serde_json::Value>,
    pub working_dir: String,
    pub entrypoint: Option<Vec<String>>,
    /// Build triggers (docker shows null for containers).
    pub on_build: Option<Vec<String>>,
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<image::manifest::Healthcheck>,
}

/// `HostConfig.LogConfig`: `{"Type": "json-file", "Config": {...}}`.
pub use crate::logs::LogConfig;

/// Docker's `HostConfig` section (the parts Berth supports).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    pub binds: Option<Vec<String>>,
    pub log_config: LogConfig,
    pub network_mode: String,
    pub restart_policy: RestartPolicy,
    pub auto_remove: bool,
    /// `--init`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    pub cap_add: Option<Vec<String>>,
    pub cap_drop: Option<Vec<String>>,
    pub dns: Vec<String>,
    pub dns_options: Vec<String>,
    pub dns_search: Vec<String>,
    pub extra_hosts: Option<Vec<String>>,
    pub group_add: Option<Vec<String>>,
    pub privileged: bool,
    pub readonly_rootfs: bool,
    pub security_opt: Option<Vec<String>>,
    pub tmpfs: Option<BTreeMap<String, String>>,
    pub shm_size: i64,
    pub runtime: String,
    /// Memory, CPU, pids, ulimits, devices (docker's names, inline).
    #[serde(flatten)]
    pub resources: Resources,
    /// `--pid`, `--ipc`, `--userns` as docker writes them.
    pub pid_mode: String,
    pub ipc_mode: String,
    pub userns_mode: String,
    pub sysctls: Option<BTreeMap<String, String>>,
    /// `--link`: docker's `/NAME:/THIS/ALIAS`.
    pub links: Option<Vec<String>>,
    pub masked_paths: Option<Vec<String>>,
    pub readonly_paths: Option<Vec<String>>,
}

/// One entry of `Mounts` in `docker inspect`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountPoint {
    #[serde(rename = "Type")]
    pub kind: String,
    /// The volume's name (volumes only).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub source: String,
    pub destination: String,
    /// `local` (volumes only).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub driver: String,
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    pub propagation: String,
}

/// `config.v2.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Container {
    pub id: String,
    /// Without docker's leading `/`.
    pub name: String,
    pub created: String,
    /// The reference as given.
    pub image_ref: String,
    /// `sha256:<hex>` image id.
    pub image: String,
    pub path: String,
    pub args: Vec<String>,
    pub config: Config,
    pub host_config: HostConfig,
    pub mounts: Vec<MountPoint>,
    /// Overlay lower dirs, top first.
    pub lowers: Vec<PathBuf>,
    /// The process environment given to the runtime (defaults added).
    pub process_env: Vec<String>,
    /// The options of create, parsed (a record written before the typed
    /// options holds the flags, parsed when read).
    #[serde(deserialize_with = "crate::options::deserialize_stored")]
    pub options: CreateOptions,
}

/// Docker's container statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    /// A process runs (or is about to, or is frozen): running, paused,
    /// restarting. Such a container must be stopped before removal.
    pub fn is_active(self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Restarting)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        f.write_str(&s)
    }
}

/// `state.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct State {
    pub status: Status,
    /// Host pid of the container's init (0 when not running).
    pub pid: i32,
    /// Its start time (/proc/PID/stat field 22) to detect pid reuse.
    pub pid_start_time: u64,
    /// The monitor process and its start time.
    pub monitor_pid: i32,
    pub monitor_start_time: u64,
    pub exit_code: i32,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    pub restart_count: u32,
    /// Set by `stop`/`kill` so `--restart` policies know the user asked.
    pub stopped_by_user: bool,
    /// How many runs have exited, and the code of the last one (kept
    /// while a restart policy runs it again): `wait` returns at the next
    /// exit, as docker's.
    pub exits: u64,
    pub last_exit_code: i32,
    /// The boot (`/proc/sys/kernel/random/boot_id`) the monitor started
    /// in: a running container recorded in another boot died with the
    /// machine, whatever process now has its monitor's pid.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub boot_id: String,
}

impl Default for State {
    fn default() -> State {
        State {
            status: Status::Created,
            pid: 0,
            pid_start_time: 0,
            monitor_pid: 0,
            monitor_start_time: 0,
            exit_code: 0,
            oom_killed: false,
            error: String::new(),
            started_at: crate::timeutil::ZERO_TIME.into(),
            finished_at: crate::timeutil::ZERO_TIME.into(),
            restart_count: 0,
            stopped_by_user: false,
            exits: 0,
            last_exit_code: 0,
            boot_id: String::new(),
        }
    }
}

impl State {
    pub fn running(&self) -> bool {
        self.status.is_active()
    }
}

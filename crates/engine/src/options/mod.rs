//! What a `berth create`/`run` asks for, typed ([`CreateOptions`]: sizes in
//! bytes, CPUs in nano CPUs, port bindings, mounts, healthcheck, restart
//! policy, resources, security and namespace modes), and the parsers from
//! docker's flag syntax ([`CreateFlags`] holds the flags as typed and
//! [`CreateFlags::parse`] gives the options; each error names the flag and
//! the value). The CLI and Compose give flags; the Engine API face fills
//! [`CreateOptions`] from docker's JSON. Serde names follow docker's
//! `Config`/`HostConfig` fields.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

/// Docker's masked paths.
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Docker's read-only paths.
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Options of `create`/`run`, parsed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateOptions {
    /// Image reference or id.
    pub image: String,
    /// The image's `VOLUME`s get no anonymous volume: a builder's RUN step
    /// writes there into its layer (BuildKit). No flag sets it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_image_volumes: bool,
    /// `--name`.
    pub name: Option<String>,
    /// Arguments after the image (override the image's CMD).
    pub cmd: Vec<String>,
    /// `--entrypoint` (`Some([])` clears the image's entrypoint).
    pub entrypoint: Option<Vec<String>>,
    /// `KEY=VALUE` entries (`-e`, `--env-file`).
    pub env: Vec<String>,
    /// `-w` (absolute).
    pub working_dir: Option<String>,
    /// `-u user[:group]`.
    pub user: Option<String>,
    /// `--group-add`.
    pub group_add: Vec<String>,
    /// `-h`.
    pub hostname: Option<String>,
    /// `--label`.
    pub labels: BTreeMap<String, String>,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// `--security-opt`.
    pub security: SecurityOptions,
    /// `--read-only`.
    pub readonly_rootfs: bool,
    /// Memory, CPU, pids, ulimits, devices.
    #[serde(flatten)]
    pub resources: Resources,
    /// `-v`: bind and volume mounts (docker's `Binds`).
    pub binds: Vec<Mount>,
    /// `--mount`.
    pub mounts: Vec<Mount>,
    /// `--tmpfs`.
    pub tmpfs: Vec<TmpfsMount>,
    /// `--shm-size` in bytes (default 64 MiB).
    pub shm_size: Option<i64>,
    /// `--add-host`.
    pub extra_hosts: Vec<ExtraHost>,
    pub dns: Vec<IpAddr>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    /// `--network`: `bridge` (default), `none`, `host`, `container:NAME`
    /// or a user network's name (see `crate::network`).
    pub network_mode: Option<String>,
    /// `-p`.
    pub port_bindings: Vec<PortBinding>,
    /// `-P`: publish the image's exposed ports on random host ports.
    pub publish_all_ports: bool,
    /// `--expose` (docker's `ExposedPorts` keys, `80/tcp`), added to the
    /// image's.
    pub exposed_ports: Vec<String>,
    /// `--network-alias`.
    pub network_aliases: Vec<String>,
    /// `--ip`.
    #[serde(rename = "IPAddress")]
    pub ip: Option<Ipv4Addr>,
    /// `--link NAME[:ALIAS]`.
    pub links: Vec<Link>,
    /// `--volumes-from CONTAINER[:ro|rw]` (docker's `VolumesFrom`),
    /// resolved at create (see `Engine::create`).
    pub volumes_from: Vec<VolumesFrom>,
    /// `--pid`.
    pub pid_mode: NamespaceMode,
    /// `--ipc`.
    pub ipc_mode: NamespaceMode,
    /// `--userns`.
    pub userns_mode: NamespaceMode,
    /// `--sysctl`.
    pub sysctls: BTreeMap<String, String>,
    /// `--stop-signal` (checked).
    pub stop_signal: Option<String>,
    /// `--stop-timeout` seconds.
    pub stop_timeout: Option<i64>,
    /// `--restart`.
    pub restart_policy: RestartPolicy,
    /// `--rm`.
    pub auto_remove: bool,
    /// `-t`: the process gets a pty (the monitor holds the master).
    pub tty: bool,
    /// `-i`.
    pub open_stdin: bool,
    /// docker's `StdinOnce` (the API's create body: docker's CLI sets it for
    /// an attached `run -i`): an attached client's end of input ends the
    /// container's stdin (else only that client's attach ends). Berth's CLI
    /// leaves it off (its `run -i` attaches with it, unrecorded).
    pub stdin_once: bool,
    /// With `-t`: the caller's terminal size (rows, cols), the pty's
    /// initial size (as docker's ConsoleSize).
    pub console_size: Option<(u16, u16)>,
    /// `--init`: berth-init as PID 1 (forwards signals, reaps zombies).
    pub init: bool,
    /// `--health-*` / `--no-healthcheck`: merged over the image's
    /// HEALTHCHECK at create (see [`crate::health`]).
    pub healthcheck: Option<HealthConfig>,
    /// `--runtime`: an OCI runtime binary (`crun`, `runc`, a path) to exec
    /// instead of the built-in runtime library.
    pub runtime: Option<PathBuf>,
    /// `--log-driver` / `--log-opt` (checked at create, see [`crate::logs`]).
    pub log_config: crate::logs::LogConfig,
}

/// Docker's `Resources` (the part of `HostConfig` `update` may change).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Resources {
    /// `-m`: bytes (0: unlimited).
    pub memory: i64,
    /// `--memory-swap`: bytes of memory plus swap (-1: unlimited, 0: twice
    /// the memory).
    pub memory_swap: i64,
    /// `--memory-reservation`: bytes.
    pub memory_reservation: i64,
    /// `--cpus` in billionths of a CPU.
    pub nano_cpus: i64,
    /// `--cpu-shares` (relative weight, 2..262144; 0: the default 1024).
    pub cpu_shares: i64,
    /// `--cpu-period` / `--cpu-quota` microseconds.
    pub cpu_period: i64,
    pub cpu_quota: i64,
    /// `--cpuset-cpus` (`0-3,5`).
    pub cpuset_cpus: String,
    /// `--cpuset-mems`.
    pub cpuset_mems: String,
    /// `--pids-limit` (`None` or <= 0: unlimited).
    pub pids_limit: Option<i64>,
    /// `--ulimit`.
    pub ulimits: Option<Vec<Ulimit>>,
    /// `--device`.
    pub devices: Vec<DeviceMapping>,
    /// `--device-cgroup-rule`.
    pub device_cgroup_rules: Vec<DeviceCgroupRule>,
}

/// A parsed `--security-opt` list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SecurityOptions {
    pub seccomp: Seccomp,
    pub no_new_privileges: bool,
    /// `systempaths=unconfined`: no masked or read-only paths.
    pub unconfined_paths: bool,
    /// `apparmor=PROFILE` (accepted, recorded; Berth applies no AppArmor profile).
    pub apparmor: Option<String>,
    /// `label=...` (accepted, recorded; Berth applies no SELinux label).
    pub label: Vec<String>,
}

/// The seccomp filter of a container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Seccomp {
    /// Docker's profile (none with `--privileged`).
    #[default]
    Default,
    /// `seccomp=unconfined`.
    Unconfined,
    /// `seccomp=builtin`: docker's profile, also with `--privileged`.
    Builtin,
    /// `seccomp=FILE`.
    Profile(PathBuf),
}

impl SecurityOptions {
    /// Docker's `HostConfig.SecurityOpt` strings.
    pub fn to_strings(&self) -> Vec<String> {
        let mut v = Vec::new();
        match &self.seccomp {
            Seccomp::Default => {}
            Seccomp::Unconfined => v.push("seccomp=unconfined".to_string()),
            Seccomp::Builtin => v.push("seccomp=builtin".to_string()),
            Seccomp::Profile(p) => v.push(format!("seccomp={}", p.display())),
        }
        if self.no_new_privileges {
            v.push("no-new-privileges".into());
        }
        if self.unconfined_paths {
            v.push("systempaths=unconfined".into());
        }
        if let Some(a) = &self.apparmor {
            v.push(format!("apparmor={a}"));
        }
        v.extend(self.label.iter().map(|l| format!("label={l}")));
        v
    }
}

/// `--security-opt` values: `seccomp=unconfined|builtin|FILE`,
/// `no-new-privileges[=true|false]`, `systempaths=unconfined`,
/// `apparmor=...` and `label=...` (recorded only). `:` works as `=`.
pub fn parse_security_opts(list: &[String]) -> Result<SecurityOptions> {
    let mut out = SecurityOptions::default();
    for s in list {
        let (k, v) = match s.split_once('=') {
            Some(kv) => kv,
            None => s.split_once(':').unwrap_or((s.as_str(), "")),
        };
        let bad = |why: &str| Error::flag("--security-opt", s, why);
        match k {
            "no-new-privileges" => {
                out.no_new_privileges = match v {
                    "" | "true" => true,
                    "false" => false,
                    _ => return Err(bad("expected no-new-privileges[=true|false]")),
                }
            }
            "seccomp" => {
                out.seccomp = match v {
                    "" => return Err(bad("expected seccomp=unconfined or seccomp=PROFILE.json")),
                    "unconfined" => Seccomp::Unconfined,
                    "builtin" => Seccomp::Builtin,
                    f => Seccomp::Profile(PathBuf::from(f)),
                };
            }
            "systempaths" => match v {
                "unconfined" => out.unconfined_paths = true,
                _ => return Err(bad("expected systempaths=unconfined")),
            },
            "apparmor" => out.apparmor = Some(v.to_string()),
            "label" => out.label.push(v.to_string()),
            _ => return Err(bad("unknown security option")),
        }
    }
    Ok(out)
}

/// A restart policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "RestartPolicyRepr", try_from = "RestartPolicyRepr")]
pub enum RestartPolicy {
    #[default]
    No,
    Always,
    UnlessStopped,
    /// At most this many restarts (0: no limit).
    OnFailure(i64),
}

impl RestartPolicy {
    /// Docker's name (`no`, `always`, `unless-stopped`, `on-failure`).
    pub fn name(&self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::Always => "always",
            RestartPolicy::UnlessStopped => "unless-stopped",
            RestartPolicy::OnFailure(_) => "on-failure",
        }
    }
}

/// docker's `RestartPolicy` JSON: `{"Name": "on-failure", "MaximumRetryCount": 3}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct RestartPolicyRepr {
    name: String,
    maximum_retry_count: i64,
}

impl From<RestartPolicy> for RestartPolicyRepr {
    fn from(p: RestartPolicy) -> Self {
        RestartPolicyRepr {
            name: p.name().into(),
            maximum_retry_count: match p {
                RestartPolicy::OnFailure(n) => n,
                _ => 0,
            },
        }
    }
}

impl TryFrom<RestartPolicyRepr> for RestartPolicy {
    type Error = String;
    fn try_from(p: RestartPolicyRepr) -> std::result::Result<Self, String> {
        Ok(match p.name.as_str() {
            "" | "no" => RestartPolicy::No,
            "always" => RestartPolicy::Always,
            "unless-stopped" => RestartPolicy::UnlessStopped,
            "on-failure" if p.maximum_retry_count >= 0 => {
                RestartPolicy::OnFailure(p.maximum_retry_count)
            }
            n => return Err(format!("invalid restart policy {n:?}")),
        })
    }
}

/// Restart policies (`no`, `always`, `unless-stopped`, `on-failure[:N]`).
pub fn parse_restart(s: &str) -> Result<RestartPolicy> {
    let (name, n) = s.split_once(':').unwrap_or((s, ""));
    match name {
        "" | "no" if n.is_empty() => Ok(RestartPolicy::No),
        "always" if n.is_empty() => Ok(RestartPolicy::Always),
        "unless-stopped" if n.is_empty() => Ok(RestartPolicy::UnlessStopped),
        "on-failure" => {
            let max = if n.is_empty() {
                0
            } else {
                n.parse::<i64>()
                    .ok()
                    .filter(|v| *v >= 0)
                    .ok_or_else(|| Error::flag("--restart", s, "invalid maximum retry count"))?
            };
            Ok(RestartPolicy::OnFailure(max))
        }
        _ => Err(Error::flag("--restart", s, "unknown restart policy")),
    }
}

/// One `-p`: `[ip:][hostport[-end]:]containerport[-end][/proto]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PortBinding {
    /// `None`: every address.
    pub host_ip: Option<Ipv4Addr>,
    /// First and last host port; `None`: random ones.
    pub host_ports: Option<(u16, u16)>,
    /// First and last container port.
    pub container_ports: (u16, u16),
    pub proto: network::Proto,
}

impl PortBinding {
    /// The single-port mappings (host port 0: random).
    pub fn mappings(&self) -> Vec<network::PortMapping> {
        network::ports::PortSpec {
            host_ip: self.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED),
            host_ports: self.host_ports,
            container_ports: self.container_ports,
            proto: self.proto,
        }
        .mappings()
    }
}

/// `-p [ip:][hostport:]containerport[/proto]` (ports may be ranges).
pub fn parse_publish(s: &str) -> Result<PortBinding> {
    let p = network::ports::parse_publish(s).map_err(|e| Error::invalid(e.to_string()))?;
    Ok(PortBinding {
        host_ip: Some(p.host_ip).filter(|i| !i.is_unspecified()),
        host_ports: p.host_ports,
        container_ports: p.container_ports,
        proto: p.proto,
    })
}

/// `--add-host NAME:IP`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExtraHost {
    pub host: String,
    pub ip: IpAddr,
}

impl std::fmt::Display for ExtraHost {
    /// Docker's `ExtraHosts` entry.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.ip)
    }
}

/// `--link NAME[:ALIAS]` (docker's legacy link: a hosts entry and an alias).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Link {
    /// The linked container's name or id.
    pub container: String,
    /// The name it has in this container (its name when not given).
    pub alias: String,
}

/// `--link NAME[:ALIAS]`.
pub fn parse_link(s: &str) -> Result<Link> {
    let err = |why: &str| Error::flag("--link", s, why);
    let (c, a) = s.split_once(':').unwrap_or((s, ""));
    let c = c.trim_start_matches('/');
    if c.is_empty() {
        return Err(err("expected NAME[:ALIAS]"));
    }
    let alias = if a.is_empty() { c } else { a };
    let ok = |n: &str| {
        n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
    };
    if !ok(c) || !ok(alias) || alias.starts_with(['.', '-']) {
        return Err(err("invalid container name or alias"));
    }
    Ok(Link {
        container: c.to_string(),
        alias: alias.to_string(),
    })
}

/// `--volumes-from CONTAINER[:ro|rw]`: the container's volumes and
/// binds, mounted where it has them; `ro` makes them read-only, `rw` (the
/// default) keeps each one's mode, as docker (`RW = source RW && mode rw`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct VolumesFrom {
    /// The source container's name or id.
    pub container: String,
    /// `:ro`.
    pub read_only: bool,
    /// The mode as given (`""`, `"ro"`, `"rw"`), kept for inspect.
    pub mode: String,
}

impl std::fmt::Display for VolumesFrom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.mode.is_empty() {
            f.write_str(&self.container)
        } else {
            write!(f, "{}:{}", self.container, self.mode)
        }
    }
}

impl From<VolumesFrom> for String {
    fn from(v: VolumesFrom) -> String {
        v.to_string()
    }
}

impl TryFrom<String> for VolumesFrom {
    type Error = Error;
    fn try_from(s: String) -> Result<VolumesFrom> {
        parse_volumes_from(&s)
    }
}

/// `--volumes-from CONTAINER[:ro|rw]`, as docker's ParseVolumesFrom.
pub fn parse_volumes_from(s: &str) -> Result<VolumesFrom> {
    let (c, mode) = s.split_once(':').unwrap_or((s, ""));
    if c.is_empty() {
        return Err(Error::flag(
            "--volumes-from",
            s,
            "expected CONTAINER[:ro|rw]",
        ));
    }
    let read_only = match mode {
        "" | "rw" => false,
        "ro" => true,
        m => {
            return Err(Error::flag(
                "--volumes-from",
                s,
                format!("invalid mode {m:?}: expected ro or rw"),
            ))
        }
    };
    Ok(VolumesFrom {
        container: c.to_string(),
        read_only,
        mode: mode.to_string(),
    })
}

/// How a container gets a namespace: docker's `PidMode`, `IpcMode`,
/// `UsernsMode` (written as docker writes them: `""`, `host`,
/// `container:NAME`, `private`, `shareable`, `none`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum NamespaceMode {
    /// Not given: the engine's default (a new namespace).
    #[default]
    Default,
    /// A new namespace.
    Private,
    /// A new IPC namespace others may join.
    Shareable,
    /// The host's.
    Host,
    /// That of another container (name or id; the id once created).
    Container(String),
    /// IPC: a new namespace without /dev/shm.
    None,
}

impl std::fmt::Display for NamespaceMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NamespaceMode::Default => Ok(()),
            NamespaceMode::Private => f.write_str("private"),
            NamespaceMode::Shareable => f.write_str("shareable"),
            NamespaceMode::Host => f.write_str("host"),
            NamespaceMode::Container(c) => write!(f, "container:{c}"),
            NamespaceMode::None => f.write_str("none"),
        }
    }
}

impl From<NamespaceMode> for String {
    fn from(m: NamespaceMode) -> String {
        m.to_string()
    }
}

impl TryFrom<String> for NamespaceMode {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        Ok(match s.as_str() {
            "" => NamespaceMode::Default,
            "private" => NamespaceMode::Private,
            "shareable" => NamespaceMode::Shareable,
            "host" => NamespaceMode::Host,
            "none" => NamespaceMode::None,
            _ => match s.strip_prefix("container:").filter(|c| !c.is_empty()) {
                Some(c) => NamespaceMode::Container(c.to_string()),
                None => return Err(format!("invalid namespace mode {s:?}")),
            },
        })
    }
}

impl NamespaceMode {
    pub fn is_host(&self) -> bool {
        *self == NamespaceMode::Host
    }
}

fn parse_ns_mode(flag: &str, s: &str, allowed: &[&str]) -> Result<NamespaceMode> {
    let m = NamespaceMode::try_from(s.to_string()).map_err(|e| Error::flag(flag, s, e))?;
    let kind = match &m {
        NamespaceMode::Container(_) => "container",
        _ => s,
    };
    if !allowed.contains(&kind) {
        return Err(Error::flag(
            flag,
            s,
            format!(
                "expected one of: {}",
                allowed.join(", ").replace("container", "container:NAME")
            ),
        ));
    }
    Ok(m)
}

/// `--pid host|container:NAME` (empty: a new namespace).
pub fn parse_pid_mode(s: &str) -> Result<NamespaceMode> {
    parse_ns_mode("--pid", s, &["", "host", "container"])
}

/// `--ipc host|private|shareable|container:NAME|none`.
pub fn parse_ipc_mode(s: &str) -> Result<NamespaceMode> {
    parse_ns_mode(
        "--ipc",
        s,
        &["", "host", "private", "shareable", "container", "none"],
    )
}

/// `--userns host` (Berth runs containers in the host's user namespace;
/// docker's `userns-remap` is a daemon setting Berth does not have).
pub fn parse_userns_mode(s: &str) -> Result<NamespaceMode> {
    match s {
        "" | "host" => parse_ns_mode("--userns", s, &["", "host"]),
        _ => Err(Error::flag(
            "--userns",
            s,
            "only \"host\" and \"\" (the default) are supported: Berth has no user namespace remapping (docker's userns-remap)",
        )),
    }
}

/// `--device HOST[:CONTAINER[:PERMISSIONS]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeviceMapping {
    pub path_on_host: String,
    pub path_in_container: String,
    /// Some of `rwm`.
    pub cgroup_permissions: String,
}

fn valid_perms(p: &str) -> bool {
    !p.is_empty() && p.len() <= 3 && p.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) && {
        let mut v: Vec<char> = p.chars().collect();
        v.sort_unstable();
        v.dedup();
        v.len() == p.len()
    }
}

/// `--device HOST[:CONTAINER][:rwm]` (docker's `parseDevice`).
pub fn parse_device(s: &str) -> Result<DeviceMapping> {
    let err = |why: &str| Error::flag("--device", s, why);
    let parts: Vec<&str> = s.split(':').collect();
    let (src, mut dst, mut perms) = match parts.as_slice() {
        [src] => (*src, "", "rwm"),
        [src, x] if valid_perms(x) => (*src, "", *x),
        [src, dst] => (*src, *dst, "rwm"),
        [src, dst, p] => (*src, *dst, *p),
        _ => return Err(err("expected HOST[:CONTAINER][:PERMISSIONS]")),
    };
    if perms.is_empty() {
        perms = "rwm";
    }
    if !valid_perms(perms) {
        return Err(err("invalid permissions (some of r, w and m)"));
    }
    if !src.starts_with('/') {
        return Err(err("the host device must be an absolute path"));
    }
    if dst.is_empty() {
        dst = src;
    }
    if !dst.starts_with('/') {
        return Err(err("the container path must be absolute"));
    }
    Ok(DeviceMapping {
        path_on_host: clean_path(src),
        path_in_container: clean_path(dst),
        cgroup_permissions: perms.to_string(),
    })
}

/// `--device-cgroup-rule 'TYPE MAJOR:MINOR ACCESS'` (`c 1:3 rwm`, `b *:* r`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct DeviceCgroupRule {
    /// `a`, `b` or `c`.
    pub kind: char,
    /// `None`: any (`*`).
    pub major: Option<i64>,
    pub minor: Option<i64>,
    pub access: String,
}

impl std::fmt::Display for DeviceCgroupRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = |v: Option<i64>| v.map_or("*".to_string(), |v| v.to_string());
        write!(
            f,
            "{} {}:{} {}",
            self.kind,
            n(self.major),
            n(self.minor),
            self.access
        )
    }
}

impl From<DeviceCgroupRule> for String {
    fn from(r: DeviceCgroupRule) -> String {
        r.to_string()
    }
}

impl TryFrom<String> for DeviceCgroupRule {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        parse_device_cgroup_rule(&s).map_err(|e| e.to_string())
    }
}

/// `--device-cgroup-rule`.
pub fn parse_device_cgroup_rule(s: &str) -> Result<DeviceCgroupRule> {
    let err = || {
        Error::flag(
            "--device-cgroup-rule",
            s,
            "expected 'TYPE MAJOR:MINOR ACCESS' (c 1:3 rwm)",
        )
    };
    let f: Vec<&str> = s.split_whitespace().collect();
    let [kind, nums, access] = f.as_slice() else {
        return Err(err());
    };
    let kind = match *kind {
        "a" | "b" | "c" => kind.chars().next().unwrap_or('a'),
        _ => return Err(err()),
    };
    let (ma, mi) = nums.split_once(':').ok_or_else(err)?;
    let num = |v: &str| -> Result<Option<i64>> {
        if v == "*" {
            return Ok(None);
        }
        v.parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(Some)
            .ok_or_else(err)
    };
    if !valid_perms(access) {
        return Err(err());
    }
    Ok(DeviceCgroupRule {
        kind,
        major: num(ma)?,
        minor: num(mi)?,
        access: access.to_string(),
    })
}

/// `--sysctl KEY=VALUE`: docker's namespaced sysctls only (`kernel.msg*`,
/// `kernel.sem`, `kernel.shm*`, `fs.mqueue.*`, `net.*`); whether the
/// container's namespaces allow each one is checked at create.
pub fn parse_sysctl(s: &str) -> Result<(String, String)> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| Error::flag("--sysctl", s, "expected KEY=VALUE"))?;
    let k = k.trim().replace('/', ".");
    if sysctl_namespace(&k).is_none() {
        return Err(Error::flag(
            "--sysctl",
            s,
            format!("sysctl {k:?} is not allowed (not namespaced: kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.* and net.* are)"),
        ));
    }
    Ok((k, v.to_string()))
}

/// The namespace a sysctl belongs to (docker's `ValidateSysctl` list):
/// `ipc` or `net`; `None` for one that is not namespaced.
pub fn sysctl_namespace(k: &str) -> Option<&'static str> {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if IPC.contains(&k) || k.starts_with("fs.mqueue.") {
        Some("ipc")
    } else if k.starts_with("net.") && k.len() > 4 {
        Some("net")
    } else {
        None
    }
}

/// `--cpu-shares`: docker's range 2..262144 (0: the default).
pub fn parse_cpu_shares(v: i64) -> Result<i64> {
    if v != 0 && !(2..=262_144).contains(&v) {
        return Err(Error::flag(
            "--cpu-shares",
            &v.to_string(),
            "must be between 2 and 262144",
        ));
    }
    Ok(v)
}

/// `--cpuset-cpus` / `--cpuset-mems`: `0-3,5` lists.
pub fn parse_cpuset(flag: &str, s: &str) -> Result<String> {
    let ok = !s.is_empty()
        && s.split(',').all(|r| {
            let (a, b) = r.split_once('-').unwrap_or((r, r));
            match (a.parse::<u32>(), b.parse::<u32>()) {
                (Ok(a), Ok(b)) => a <= b,
                _ => false,
            }
        });
    if !ok {
        return Err(Error::flag(flag, s, "expected a list such as 0-3,5"));
    }
    Ok(s.to_string())
}

/// The highest number in a cpuset list.
pub fn cpuset_max(s: &str) -> u32 {
    s.split([',', '-'])
        .filter_map(|n| n.parse::<u32>().ok())
        .max()
        .unwrap_or(0)
}

pub mod mounts;
pub use mounts::{BindMount, Mount, Propagation, Relabel, TmpfsMount, VolumeMount};

/// `create`/`run` flags as docker's CLI (and Compose files) write them,
/// and [`CreateFlags::parse`] to [`CreateOptions`]. This is also the shape
/// of the options in container records written before the typed model
/// (`config.v2.json`'s `Options`, read through [`CreateFlags::parse`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CreateFlags {
    pub image: String,
    pub name: Option<String>,
    pub cmd: Vec<String>,
    /// `--entrypoint` (`Some("")` clears the image's entrypoint).
    pub entrypoint: Option<String>,
    /// `-e KEY=VALUE` / `-e KEY` (taken from the caller's environment).
    pub env: Vec<String>,
    /// `--env-file` (read by [`CreateFlags::parse`] with docker's rules,
    /// [`parse_env_file`]; before `env`).
    pub env_file: Vec<PathBuf>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub group_add: Vec<String>,
    pub hostname: Option<String>,
    pub labels: Vec<String>,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub security_opt: Vec<String>,
    pub read_only: bool,
    pub memory: Option<String>,
    pub memory_swap: Option<String>,
    pub memory_reservation: Option<String>,
    pub cpus: Option<String>,
    pub cpu_shares: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub pids_limit: Option<i64>,
    pub ulimits: Vec<String>,
    pub devices: Vec<String>,
    pub device_cgroup_rules: Vec<String>,
    pub volumes: Vec<String>,
    pub mounts: Vec<String>,
    pub tmpfs: Vec<String>,
    pub shm_size: Option<String>,
    pub add_hosts: Vec<String>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    pub network: Option<String>,
    pub publish: Vec<String>,
    pub publish_all: bool,
    pub expose: Vec<String>,
    pub network_aliases: Vec<String>,
    pub ip: Option<String>,
    pub links: Vec<String>,
    pub volumes_from: Vec<String>,
    pub pid: Option<String>,
    pub ipc: Option<String>,
    pub userns: Option<String>,
    pub sysctls: Vec<String>,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<i64>,
    pub restart: Option<String>,
    pub auto_remove: bool,
    pub tty: bool,
    pub interactive: bool,
    pub console_size: Option<(u16, u16)>,
    pub init: bool,
    pub health: HealthFlags,
    pub runtime: Option<PathBuf>,
    /// `--log-driver` / `--log-opt` (checked at create, see [`crate::logs`]).
    pub log_config: crate::logs::LogConfig,
}

impl CreateFlags {
    /// Every flag through its parser; the first error names its flag and value.
    pub fn parse(&self) -> Result<CreateOptions> {
        let bytes = |flag: &str, v: &Option<String>| -> Result<i64> {
            match v.as_deref() {
                None | Some("") => Ok(0),
                Some(s) => parse_bytes(s).map_err(|e| Error::flag(flag, s, e)),
            }
        };
        let memory = match self.memory.as_deref() {
            None | Some("") => 0,
            Some(s) => parse_memory(s)?,
        };
        let memory_swap = match self.memory_swap.as_deref() {
            None | Some("") => 0,
            Some(s) => parse_memory_swap(s)?,
        };
        let ulimits = self
            .ulimits
            .iter()
            .map(|u| parse_ulimit(u))
            .collect::<Result<Vec<_>>>()?;
        let shm_size = match self.shm_size.as_deref() {
            None | Some("") => None,
            Some(s) => {
                let v = parse_bytes(s).map_err(|e| Error::flag("--shm-size", s, e))?;
                shm_size_rule(v).map_err(|why| Error::flag("--shm-size", s, why))?;
                Some(v)
            }
        };
        let opt_str = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        let restart_policy = parse_restart(self.restart.as_deref().unwrap_or("no"))?;
        let o = CreateOptions {
            image: self.image.clone(),
            // Only the builder's RUN steps set it; no flag or field does.
            no_image_volumes: false,
            name: self.name.clone(),
            cmd: self.cmd.clone(),
            entrypoint: self.entrypoint.as_ref().map(|e| {
                if e.is_empty() {
                    vec![]
                } else {
                    vec![e.clone()]
                }
            }),
            env: {
                let mut env = read_env_files(&self.env_file)?;
                env.extend(parse_env(&self.env)?);
                env
            },
            working_dir: match self.workdir.as_deref() {
                None | Some("") => None,
                Some(w) => Some(parse_workdir(w)?),
            },
            user: self.user.clone(),
            group_add: self.group_add.clone(),
            hostname: match &self.hostname {
                Some(h) => {
                    validate_hostname(h)?;
                    Some(h.clone())
                }
                None => None,
            },
            labels: parse_labels(&self.labels)?,
            privileged: self.privileged,
            cap_add: self.cap_add.clone(),
            cap_drop: self.cap_drop.clone(),
            security: parse_security_opts(&self.security_opt)?,
            readonly_rootfs: self.read_only,
            resources: Resources {
                memory,
                memory_swap,
                memory_reservation: bytes("--memory-reservation", &self.memory_reservation)?,
                nano_cpus: match self.cpus.as_deref() {
                    None | Some("") => 0,
                    Some(s) => parse_cpus(s)?,
                },
                cpu_shares: parse_cpu_shares(self.cpu_shares.unwrap_or(0))?,
                cpu_period: 0,
                cpu_quota: 0,
                cpuset_cpus: match opt_str(&self.cpuset_cpus) {
                    Some(s) => parse_cpuset("--cpuset-cpus", &s)?,
                    None => String::new(),
                },
                cpuset_mems: match opt_str(&self.cpuset_mems) {
                    Some(s) => parse_cpuset("--cpuset-mems", &s)?,
                    None => String::new(),
                },
                pids_limit: self.pids_limit,
                ulimits: (!ulimits.is_empty()).then_some(ulimits),
                devices: self
                    .devices
                    .iter()
                    .map(|d| parse_device(d))
                    .collect::<Result<_>>()?,
                device_cgroup_rules: self
                    .device_cgroup_rules
                    .iter()
                    .map(|d| parse_device_cgroup_rule(d))
                    .collect::<Result<_>>()?,
            },
            binds: self
                .volumes
                .iter()
                .map(|v| mounts::parse_volume_flag(v))
                .collect::<Result<_>>()?,
            mounts: self
                .mounts
                .iter()
                .map(|v| mounts::parse_mount_flag(v))
                .collect::<Result<_>>()?,
            tmpfs: self
                .tmpfs
                .iter()
                .map(|v| mounts::parse_tmpfs_flag(v))
                .collect::<Result<_>>()?,
            shm_size,
            extra_hosts: self
                .add_hosts
                .iter()
                .map(|h| parse_add_host(h))
                .collect::<Result<_>>()?,
            dns: self
                .dns
                .iter()
                .map(|d| parse_dns(d))
                .collect::<Result<_>>()?,
            dns_search: self.dns_search.clone(),
            dns_options: self.dns_options.clone(),
            network_mode: opt_str(&self.network),
            port_bindings: self
                .publish
                .iter()
                .map(|p| parse_publish(p))
                .collect::<Result<_>>()?,
            publish_all_ports: self.publish_all,
            exposed_ports: parse_expose_list(&self.expose)?,
            network_aliases: self.network_aliases.clone(),
            ip: match opt_str(&self.ip) {
                Some(ip) => Some(
                    ip.parse::<Ipv4Addr>()
                        .map_err(|_| Error::flag("--ip", &ip, "not an IPv4 address"))?,
                ),
                None => None,
            },
            links: self
                .links
                .iter()
                .map(|l| parse_link(l))
                .collect::<Result<_>>()?,
            volumes_from: self
                .volumes_from
                .iter()
                .map(|v| parse_volumes_from(v))
                .collect::<Result<_>>()?,
            pid_mode: parse_pid_mode(self.pid.as_deref().unwrap_or(""))?,
            ipc_mode: parse_ipc_mode(self.ipc.as_deref().unwrap_or(""))?,
            userns_mode: parse_userns_mode(self.userns.as_deref().unwrap_or(""))?,
            sysctls: self
                .sysctls
                .iter()
                .map(|s| parse_sysctl(s))
                .collect::<Result<_>>()?,
            stop_signal: match &self.stop_signal {
                Some(s) => {
                    parse_signal("--stop-signal", s)?;
                    Some(s.clone())
                }
                None => None,
            },
            stop_timeout: self.stop_timeout,
            restart_policy,
            auto_remove: self.auto_remove,
            tty: self.tty,
            open_stdin: self.interactive,
            stdin_once: false,
            console_size: self.console_size,
            init: self.init,
            healthcheck: self.health.parse()?,
            runtime: self.runtime.clone(),
            log_config: self.log_config.clone(),
        };
        o.validate(Face::Cli)?;
        Ok(o)
    }
}

/// The `--health-*` flags as given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthFlags {
    /// `--health-cmd` (run by /bin/sh -c).
    pub cmd: Option<String>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub retries: Option<i64>,
    pub start_period: Option<String>,
    pub start_interval: Option<String>,
    /// `--no-healthcheck`.
    pub disable: bool,
}

impl HealthFlags {
    fn any(&self) -> bool {
        self.cmd.is_some()
            || self.interval.is_some()
            || self.timeout.is_some()
            || self.retries.is_some()
            || self.start_period.is_some()
            || self.start_interval.is_some()
    }

    /// Docker's CLI rules: `--no-healthcheck` is `Test: ["NONE"]` and
    /// conflicts with the others; `--health-cmd` is a `CMD-SHELL` test;
    /// durations of at least 1ms (or 0), retries not negative. `None`
    /// when no flag is given (the image's healthcheck applies).
    pub fn parse(&self) -> Result<Option<HealthConfig>> {
        if self.disable {
            if self.any() {
                return Err(Error::invalid(
                    "--no-healthcheck conflicts with --health-* options",
                ));
            }
            return Ok(Some(HealthConfig {
                test: Some(HealthTest::None),
                ..Default::default()
            }));
        }
        if !self.any() {
            return Ok(None);
        }
        let dur = |flag: &str, v: &Option<String>| -> Result<Option<i64>> {
            let Some(v) = v else { return Ok(None) };
            let d = parse_duration(flag, v)?;
            health_duration_rule(d).map_err(|why| Error::flag(flag, v, why))?;
            Ok(Some(d))
        };
        let h = HealthConfig {
            test: self.cmd.clone().map(HealthTest::CmdShell),
            interval: dur("--health-interval", &self.interval)?,
            timeout: dur("--health-timeout", &self.timeout)?,
            start_period: dur("--health-start-period", &self.start_period)?,
            start_interval: dur("--health-start-interval", &self.start_interval)?,
            retries: self.retries,
        };
        h.validate(Face::Cli)?;
        Ok(Some(h))
    }
}

/// A healthcheck duration: 0 (the image's, or the default) or at least 1ms.
fn health_duration_rule(d: i64) -> std::result::Result<(), &'static str> {
    if d < 0 {
        return Err("cannot be negative");
    }
    if d != 0 && d < 1_000_000 {
        return Err("must be at least 1ms");
    }
    Ok(())
}

impl HealthConfig {
    /// Durations of 0 or at least 1ms, retries not negative.
    pub fn validate(&self, face: Face) -> Result<()> {
        let n = |cli, api| face.name(cli, api);
        for (v, cli, api) in [
            (self.interval, "--health-interval", "Healthcheck.Interval"),
            (self.timeout, "--health-timeout", "Healthcheck.Timeout"),
            (
                self.start_period,
                "--health-start-period",
                "Healthcheck.StartPeriod",
            ),
            (
                self.start_interval,
                "--health-start-interval",
                "Healthcheck.StartInterval",
            ),
        ] {
            if let Some(d) = v {
                health_duration_rule(d)
                    .map_err(|why| Error::flag(n(cli, api), &d.to_string(), why))?;
            }
        }
        if let Some(r) = self.retries.filter(|r| *r < 0) {
            return Err(Error::flag(
                n("--health-retries", "Healthcheck.Retries"),
                &r.to_string(),
                "cannot be negative",
            ));
        }
        Ok(())
    }
}

/// docker's healthcheck `Test`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "Vec<String>", try_from = "Vec<String>")]
pub enum HealthTest {
    /// `["NONE"]`: no healthcheck (also none of the image's).
    None,
    /// `["CMD", args...]`: run directly.
    Cmd(Vec<String>),
    /// `["CMD-SHELL", command]`: run by `/bin/sh -c`.
    CmdShell(String),
}

impl From<HealthTest> for Vec<String> {
    fn from(t: HealthTest) -> Vec<String> {
        match t {
            HealthTest::None => vec!["NONE".into()],
            HealthTest::Cmd(a) => std::iter::once("CMD".to_string()).chain(a).collect(),
            HealthTest::CmdShell(c) => vec!["CMD-SHELL".into(), c],
        }
    }
}

impl TryFrom<Vec<String>> for HealthTest {
    type Error = String;
    fn try_from(v: Vec<String>) -> std::result::Result<Self, String> {
        match v.first().map(String::as_str) {
            Some("NONE") => Ok(HealthTest::None),
            Some("CMD") if v.len() > 1 => Ok(HealthTest::Cmd(v[1..].to_vec())),
            Some("CMD-SHELL") if v.len() == 2 => Ok(HealthTest::CmdShell(v[1].clone())),
            _ => Err(format!(
                "invalid healthcheck test {v:?}: expected [\"NONE\"], [\"CMD\", ...] or [\"CMD-SHELL\", command]"
            )),
        }
    }
}

/// A container's healthcheck request (docker's `HealthConfig`): fields
/// not given come from the image's HEALTHCHECK. Durations in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<HealthTest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_period: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
}

/// A `--health-*` duration: Go's `time.ParseDuration` (`1h2m3.5s`, `500ms`; berth-util), not negative.
pub fn parse_duration(flag: &str, s: &str) -> Result<i64> {
    let d = berth_util::duration::parse_nanos(s).map_err(|e| Error::flag(flag, s, e))?;
    if d < 0 {
        return Err(Error::flag(flag, s, "cannot be negative"));
    }
    Ok(d)
}

/// `-w`: an absolute path, cleaned.
pub fn parse_workdir(w: &str) -> Result<String> {
    if !w.starts_with('/') {
        return Err(Error::flag(
            "--workdir",
            w,
            "the working directory needs to be an absolute path",
        ));
    }
    Ok(clean_path(w))
}

/// Reads `Container.options`: the typed options, or the flags of a record
/// written before them (parsed now; a value that no longer parses is an
/// error naming the record's flag).
pub(crate) fn deserialize_stored<'de, D>(d: D) -> std::result::Result<CreateOptions, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error as _;
    let v = serde_json::Value::deserialize(d)?;
    let legacy = v.as_object().is_some_and(|o| o.contains_key("image"));
    if legacy {
        let f: CreateFlags = serde_json::from_value(v).map_err(D::Error::custom)?;
        f.parse().map_err(|e| {
            D::Error::custom(format!(
                "options recorded by an older berth no longer parse: {e}"
            ))
        })
    } else {
        serde_json::from_value(v).map_err(D::Error::custom)
    }
}

/// Docker's `units.RAMInBytes` (`123`, `10k`, `1.5m`, `2g`: powers of 1024), from berth-util.
pub use berth_util::size::ram_in_bytes as parse_bytes;

/// `--memory`: at least 6 MiB, as docker.
pub fn parse_memory(s: &str) -> Result<i64> {
    let v = parse_bytes(s).map_err(|e| Error::flag("--memory", s, e))?;
    memory_rule(v).map_err(|why| Error::flag("--memory", s, why))?;
    Ok(v)
}

/// A memory limit (0: none) is at least 6 MiB, as docker's.
fn memory_rule(v: i64) -> std::result::Result<(), &'static str> {
    if v != 0 && v < 6 * 1024 * 1024 {
        return Err("minimum memory limit allowed is 6MB");
    }
    if v < 0 {
        return Err("cannot be negative");
    }
    Ok(())
}

/// NanoCPUs (0: no limit) between 0.01 and the CPUs of this machine.
fn nano_cpus_rule(nano: i64) -> std::result::Result<(), String> {
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as i64;
    if nano != 0 && (nano < 10_000_000 || nano > ncpu * 1_000_000_000) {
        return Err(format!(
            "range of CPUs is from 0.01 to {:.2}, as there are only {ncpu} CPUs available",
            ncpu as f64
        ));
    }
    Ok(())
}

/// `--shm-size` / `ShmSize` once given: more than 0 bytes.
fn shm_size_rule(v: i64) -> std::result::Result<(), &'static str> {
    if v <= 0 {
        return Err("must be greater than 0");
    }
    Ok(())
}

/// Who gave the options: names a field in errors (the CLI's flag or the
/// Engine API's field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    Cli,
    Api,
}

impl Face {
    /// The flag (CLI) or the field (API).
    pub fn name(self, cli: &'static str, api: &'static str) -> &'static str {
        match self {
            Face::Cli => cli,
            Face::Api => api,
        }
    }
}

impl CreateOptions {
    /// The rules on the typed values, whichever face filled them (the CLI
    /// through [`CreateFlags::parse`], the Engine API through
    /// [`crate::api::ContainerCreateBody::into_options`]); the first error
    /// names the flag or field and its value.
    pub fn validate(&self, face: Face) -> Result<()> {
        let n = |cli, api| face.name(cli, api);
        let r = &self.resources;
        memory_rule(r.memory).map_err(|why| {
            Error::flag(
                n("--memory", "HostConfig.Memory"),
                &r.memory.to_string(),
                why,
            )
        })?;
        for (v, cli, api) in [
            (
                r.memory_reservation,
                "--memory-reservation",
                "HostConfig.MemoryReservation",
            ),
            (
                r.memory_swap.max(0),
                "--memory-swap",
                "HostConfig.MemorySwap",
            ),
        ] {
            if v < 0 {
                return Err(Error::flag(
                    n(cli, api),
                    &v.to_string(),
                    "cannot be negative",
                ));
            }
        }
        if r.memory_swap < -1 {
            return Err(Error::flag(
                n("--memory-swap", "HostConfig.MemorySwap"),
                &r.memory_swap.to_string(),
                "must be -1 (unlimited) or bytes",
            ));
        }
        nano_cpus_rule(r.nano_cpus).map_err(|why| {
            Error::flag(
                n("--cpus", "HostConfig.NanoCpus"),
                &r.nano_cpus.to_string(),
                why,
            )
        })?;
        parse_cpu_shares(r.cpu_shares)
            .map_err(|e| e.renamed("--cpu-shares", n("--cpu-shares", "HostConfig.CpuShares")))?;
        for (v, cli, api) in [
            (&r.cpuset_cpus, "--cpuset-cpus", "HostConfig.CpusetCpus"),
            (&r.cpuset_mems, "--cpuset-mems", "HostConfig.CpusetMems"),
        ] {
            if !v.is_empty() {
                parse_cpuset(n(cli, api), v)?;
            }
        }
        if let Some(v) = self.shm_size {
            shm_size_rule(v).map_err(|why| {
                Error::flag(n("--shm-size", "HostConfig.ShmSize"), &v.to_string(), why)
            })?;
        }
        if let Some(t) = self.stop_timeout.filter(|t| *t < -1) {
            return Err(Error::flag(
                n("--stop-timeout", "StopTimeout"),
                &t.to_string(),
                "must be -1 or more",
            ));
        }
        if let Some(s) = &self.stop_signal {
            parse_signal(n("--stop-signal", "StopSignal"), s)?;
        }
        if self.auto_remove && self.restart_policy != RestartPolicy::No {
            return Err(Error::invalid(match face {
                Face::Cli => "conflicting options: cannot specify both --restart and --rm",
                Face::Api => "conflicting options: cannot specify both HostConfig.RestartPolicy and HostConfig.AutoRemove",
            }));
        }
        if let Some(h) = &self.hostname {
            validate_hostname(h)
                .map_err(|e| e.renamed("--hostname", n("--hostname", "Hostname")))?;
        }
        if let Some(w) = &self.working_dir {
            parse_workdir(w).map_err(|e| e.renamed("--workdir", n("--workdir", "WorkingDir")))?;
        }
        for e in &self.env {
            env_rule(e).map_err(|why| Error::flag(n("--env", "Env"), e, why))?;
        }
        if self.labels.keys().any(String::is_empty) {
            return Err(Error::flag(n("--label", "Labels"), "", "empty key"));
        }
        if let Some(h) = &self.healthcheck {
            h.validate(face)?;
        }
        Ok(())
    }
}

/// `--memory-swap`: bytes of memory plus swap, `-1` unlimited.
pub fn parse_memory_swap(s: &str) -> Result<i64> {
    if s == "-1" {
        return Ok(-1);
    }
    parse_bytes(s).map_err(|e| Error::flag("--memory-swap", s, e))
}

/// docker's memory and swap rules, once for `create` and `update`:
/// `current` is the container's (memory, memory+swap) (at create: 0, 0),
/// `memory` and `swap` what is asked (`None`: unchanged). A limit is at
/// least 6 MiB; a swap limit needs a memory limit and is not below it; a
/// new memory limit above the swap already set needs the swap too; a first
/// memory limit without swap gets twice as much (-1: unlimited swap).
/// Returns the new (memory, memory+swap).
pub fn memory_limits(
    current: (i64, i64),
    memory: Option<i64>,
    swap: Option<i64>,
) -> Result<(i64, i64)> {
    let (cur_memory, cur_swap) = current;
    if let Some(m) = memory {
        memory_rule(m).map_err(|why| Error::flag("--memory", &m.to_string(), why))?;
    }
    let new_memory = memory.unwrap_or(cur_memory);
    let mut new_swap = swap.unwrap_or(cur_swap);
    match (memory, swap) {
        (_, Some(s)) if s > 0 && new_memory == 0 => {
            return Err(Error::invalid(
                "invalid --memory-swap: you should always set --memory with --memory-swap",
            ))
        }
        (_, Some(s)) if s > 0 && s < new_memory => {
            return Err(Error::flag(
                "--memory-swap",
                &s.to_string(),
                format!("Minimum memoryswap limit should be larger than memory limit ({new_memory})"),
            ))
        }
        (Some(m), None) if cur_swap > 0 && m > cur_swap => {
            return Err(Error::flag(
                "--memory",
                &m.to_string(),
                "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time",
            ))
        }
        (Some(m), None) if m > 0 && cur_memory == 0 && cur_swap == 0 => new_swap = m * 2,
        _ => {}
    }
    Ok((new_memory, new_swap))
}

/// `--cpus` → NanoCPUs.
pub fn parse_cpus(s: &str) -> Result<i64> {
    let f: f64 = s
        .trim()
        .parse()
        .map_err(|_| Error::flag("--cpus", s, "not a number"))?;
    if !f.is_finite() || f <= 0.0 {
        return Err(Error::flag("--cpus", s, "must be a positive number"));
    }
    let nano = (f * 1e9).round() as i64;
    nano_cpus_rule(nano.max(1)).map_err(|why| Error::flag("--cpus", s, why))?;
    Ok(nano)
}

const ULIMITS: &[(&str, &str)] = &[
    ("as", "RLIMIT_AS"),
    ("core", "RLIMIT_CORE"),
    ("cpu", "RLIMIT_CPU"),
    ("data", "RLIMIT_DATA"),
    ("fsize", "RLIMIT_FSIZE"),
    ("locks", "RLIMIT_LOCKS"),
    ("memlock", "RLIMIT_MEMLOCK"),
    ("msgqueue", "RLIMIT_MSGQUEUE"),
    ("nice", "RLIMIT_NICE"),
    ("nofile", "RLIMIT_NOFILE"),
    ("nproc", "RLIMIT_NPROC"),
    ("rss", "RLIMIT_RSS"),
    ("rtprio", "RLIMIT_RTPRIO"),
    ("rttime", "RLIMIT_RTTIME"),
    ("sigpending", "RLIMIT_SIGPENDING"),
    ("stack", "RLIMIT_STACK"),
];

/// A parsed `--ulimit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

impl Ulimit {
    pub fn rlimit_type(&self) -> &'static str {
        ULIMITS
            .iter()
            .find(|(n, _)| *n == self.name)
            .map(|(_, t)| *t)
            .unwrap_or("RLIMIT_NOFILE")
    }
}

/// `name=soft[:hard]` (docker's `units.ParseUlimit`; -1 is unlimited).
pub fn parse_ulimit(s: &str) -> Result<Ulimit> {
    let err = |why: &str| Error::flag("--ulimit", s, why);
    let (name, vals) = s
        .split_once('=')
        .ok_or_else(|| err("expected name=soft[:hard]"))?;
    if !ULIMITS.iter().any(|(n, _)| *n == name) {
        return Err(err(&format!("invalid ulimit type: {name}")));
    }
    let num = |v: &str| -> Result<i64> {
        let n: i64 = v
            .parse()
            .map_err(|_| err(&format!("invalid ulimit value {v:?}")))?;
        if n < -1 {
            return Err(err("ulimit values must be -1 (unlimited) or >= 0"));
        }
        Ok(n)
    };
    let (soft, hard) = match vals.split_once(':') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => {
            let v = num(vals)?;
            (v, v)
        }
    };
    let as_u = |v: i64| if v == -1 { u64::MAX } else { v as u64 };
    if as_u(soft) > as_u(hard) {
        return Err(err(&format!(
            "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        )));
    }
    Ok(Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

/// `--add-host name:ip` (or `name=ip`).
pub fn parse_add_host(s: &str) -> Result<ExtraHost> {
    let (host, ip) = s
        .split_once('=')
        .or_else(|| s.split_once(':'))
        .ok_or_else(|| Error::flag("--add-host", s, "expected host:ip"))?;
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(Error::flag("--add-host", s, "invalid host name"));
    }
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    let ip = ip
        .parse::<IpAddr>()
        .map_err(|_| Error::flag("--add-host", s, "invalid IP address"))?;
    Ok(ExtraHost {
        host: host.to_string(),
        ip,
    })
}

pub fn parse_dns(s: &str) -> Result<IpAddr> {
    s.parse::<IpAddr>()
        .map_err(|_| Error::flag("--dns", s, "not an IP address"))
}

/// `--label KEY=VALUE` / `KEY`.
pub fn parse_labels(labels: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for l in labels {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        if k.is_empty() {
            return Err(Error::flag("--label", l, "empty key"));
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// docker's `--env-file` rules (`opts.ParseEnvFile`): one variable a
/// line, leading blanks ignored; empty lines and `#` comments skipped; a
/// UTF-8 BOM skipped; `KEY=VALUE` kept as written (the value's blanks
/// too); a bare `KEY` takes the caller's environment's value, and is left
/// out when unset. A name with blanks, an empty name or bytes that are not
/// UTF-8 are errors naming the file and line.
pub fn parse_env_file(name: &str, data: &[u8]) -> Result<Vec<String>> {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let bad = |n: usize, why: String| Error::flag("--env-file", name, format!("line {n}: {why}"));
    let mut out = Vec::new();
    for (n, raw) in data.split(|b| *b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = std::str::from_utf8(raw)
            .map_err(|_| bad(n + 1, "invalid UTF-8".into()))?
            .trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (line, None),
        };
        if key.is_empty() {
            return Err(bad(n + 1, format!("no variable name in {line:?}")));
        }
        if key.contains(char::is_whitespace) {
            return Err(bad(n + 1, format!("variable {key:?} contains whitespaces")));
        }
        match value {
            Some(v) => out.push(format!("{key}={v}")),
            None => {
                if let Ok(v) = std::env::var(key) {
                    out.push(format!("{key}={v}"));
                }
            }
        }
    }
    Ok(out)
}

/// The variables of `--env-file` files, in order ([`parse_env_file`]).
pub fn read_env_files(files: &[PathBuf]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for f in files {
        let shown = f.display().to_string();
        let data = std::fs::read(f).map_err(|e| Error::flag("--env-file", &shown, e))?;
        out.extend(parse_env_file(&shown, &data)?);
    }
    Ok(out)
}

/// `-e` values: `KEY=VALUE`; `KEY` alone takes the caller's value (dropped if unset).
pub fn parse_env(env: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for e in env {
        env_rule(e).map_err(|why| Error::flag("--env", e, why))?;
        if e.contains('=') {
            out.push(e.clone());
        } else if let Ok(v) = std::env::var(e) {
            out.push(format!("{e}={v}"));
        }
    }
    Ok(out)
}

/// An environment entry has a name.
fn env_rule(e: &str) -> std::result::Result<(), &'static str> {
    match e.split_once('=') {
        Some(("", _)) => Err("invalid environment variable (empty name)"),
        None if e.is_empty() => Err("invalid environment variable (empty)"),
        _ => Ok(()),
    }
}

/// Capability names as docker's CLI sends them: upper case, `CAP_`
/// prefixed (`ALL` stays).
pub fn normalize_caps(caps: &[String]) -> Vec<String> {
    caps.iter()
        .map(|c| {
            let u = c.trim().to_ascii_uppercase();
            if u == "ALL" || u.starts_with("CAP_") {
                u
            } else {
                format!("CAP_{u}")
            }
        })
        .collect()
}

/// `--expose PORT[-END][/PROTO]` values: docker's `ExposedPorts` keys
/// (`80/tcp`), one a port, in order, without repeats.
pub fn parse_expose_list(list: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for s in list {
        for p in parse_expose(s)? {
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    Ok(out)
}

/// One `--expose PORT[-END][/PROTO]` (an `ExposedPorts` key).
pub fn parse_expose(s: &str) -> Result<Vec<String>> {
    let err = || Error::flag("--expose", s, "expected PORT[-END][/tcp|udp]");
    let (ports, proto) = s.split_once('/').unwrap_or((s, "tcp"));
    let proto = match proto.to_ascii_lowercase().as_str() {
        "tcp" => "tcp",
        "udp" => "udp",
        _ => return Err(err()),
    };
    let (a, b) = ports.split_once('-').unwrap_or((ports, ports));
    let (a, b) = match (a.parse::<u16>(), b.parse::<u16>()) {
        (Ok(a), Ok(b)) if a > 0 && a <= b => (a, b),
        _ => return Err(err()),
    };
    Ok((a..=b).map(|p| format!("{p}/{proto}")).collect())
}

/// Signal names or numbers (`TERM`, `SIGTERM`, `15`).
pub fn parse_signal(flag: &str, s: &str) -> Result<i32> {
    oci_runtime::ops::parse_signal(s).map_err(|_| Error::flag(flag, s, "unknown signal"))
}

/// Docker's `--hostname` check (RFC 1123 labels).
pub fn validate_hostname(s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.len() <= 255
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::flag("--hostname", s, "invalid hostname format"))
    }
}

/// Lexically cleaned absolute path (`/a/./b/../c` → `/a/c`).
pub fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_files() {
        // A bare name takes the caller's value (PATH is set under cargo).
        let path = format!("PATH={}", std::env::var("PATH").unwrap());
        let text = b"\xEF\xBB\xBF# comment\n\n  A=1\nB= spaced \r\nC=x=y\nPATH\nBERTH_TEST_ENV_FILE_UNSET\n   # indented comment\nD=";
        assert_eq!(
            parse_env_file("f", text).unwrap(),
            ["A=1", "B= spaced ", "C=x=y", &path, "D="]
        );
        let e = parse_env_file("f", b"A=1\nMY VAR=2\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--env-file") && e.contains("line 2") && e.contains("whitespaces"),
            "{e}"
        );
        let e = parse_env_file("f", b"=2\n").unwrap_err().to_string();
        assert!(e.contains("no variable name"), "{e}");
        let e = parse_env_file("f", b"A=\xff\n").unwrap_err().to_string();
        assert!(e.contains("UTF-8"), "{e}");
        let e = read_env_files(&[PathBuf::from("/nonexistent/env.list")])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--env-file") && e.contains("/nonexistent/env.list"),
            "{e}"
        );
    }

    #[test]
    fn memory_and_swap() {
        const M: i64 = 1 << 20;
        let create =
            |m: i64, s: i64| memory_limits((0, 0), (m != 0).then_some(m), (s != 0).then_some(s));
        assert_eq!(create(0, 0).unwrap(), (0, 0));
        assert_eq!(create(64 * M, 0).unwrap(), (64 * M, 128 * M));
        assert_eq!(create(64 * M, -1).unwrap(), (64 * M, -1));
        assert_eq!(create(64 * M, 100 * M).unwrap(), (64 * M, 100 * M));
        assert!(create(5 * M, 0).unwrap_err().to_string().contains("6MB"));
        let e = create(0, 100 * M).unwrap_err().to_string();
        assert!(e.contains("always set --memory"), "{e}");
        let e = create(64 * M, 32 * M).unwrap_err().to_string();
        assert!(
            e.contains("--memory-swap") && e.contains("larger than memory"),
            "{e}"
        );
        // update: against what the container has.
        let cur = (128 * M, 256 * M);
        assert_eq!(
            memory_limits(cur, Some(200 * M), None).unwrap(),
            (200 * M, 256 * M)
        );
        let e = memory_limits(cur, Some(512 * M), None).unwrap_err();
        assert!(e.to_string().contains("already set memoryswap"), "{e}");
        assert_eq!(
            memory_limits(cur, Some(512 * M), Some(-1)).unwrap(),
            (512 * M, -1)
        );
        assert_eq!(
            memory_limits(cur, None, Some(300 * M)).unwrap(),
            (128 * M, 300 * M)
        );
        assert!(memory_limits(cur, None, Some(100 * M)).is_err());
        // A first limit gets twice as much swap; a later one keeps it.
        assert_eq!(
            memory_limits((0, 0), Some(64 * M), None).unwrap(),
            (64 * M, 128 * M)
        );
        assert_eq!(
            memory_limits((64 * M, -1), Some(96 * M), None).unwrap(),
            (96 * M, -1)
        );
    }

    #[test]
    fn bytes() {
        let e = parse_memory("5m").unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid --memory \"5m\": minimum memory limit allowed is 6MB"
        );
        let e = parse_memory("x").unwrap_err().to_string();
        assert_eq!(e, "invalid --memory \"x\": invalid size");
    }

    #[test]
    fn cpus() {
        assert_eq!(parse_cpus("0.5").unwrap(), 500_000_000);
        assert!(parse_cpus("0").is_err());
        assert!(parse_cpus("abc")
            .unwrap_err()
            .to_string()
            .starts_with("invalid --cpus \"abc\""));
        assert!(parse_cpus("100000").is_err());
    }

    #[test]
    fn ulimits() {
        let u = parse_ulimit("nofile=1024:2048").unwrap();
        assert_eq!(
            (u.soft, u.hard, u.rlimit_type()),
            (1024, 2048, "RLIMIT_NOFILE")
        );
        assert_eq!(parse_ulimit("nproc=10").unwrap().hard, 10);
        assert!(parse_ulimit("nofile=10:5").is_err());
        assert!(parse_ulimit("bogus=1")
            .unwrap_err()
            .to_string()
            .contains("invalid ulimit type"));
        assert!(parse_ulimit("nofile").is_err());
    }

    #[test]
    fn hosts_dns_labels_env() {
        assert_eq!(
            parse_add_host("db:10.0.0.2").unwrap().to_string(),
            "db:10.0.0.2"
        );
        assert_eq!(parse_add_host("v6=::1").unwrap().ip.to_string(), "::1");
        assert!(parse_add_host("db:nope").is_err());
        assert!(parse_dns("1.1.1.1").is_ok());
        assert!(parse_dns("x").is_err());
        let l = parse_labels(&["a=b".into(), "c".into()]).unwrap();
        assert_eq!(l["a"], "b");
        assert_eq!(l["c"], "");
        assert!(parse_env(&["=x".into()]).is_err());
        assert_eq!(
            parse_env(&["A=1".into(), "BERTH_SURELY_UNSET_VAR".into()]).unwrap(),
            vec!["A=1"]
        );
    }

    #[test]
    fn misc() {
        assert_eq!(clean_path("/a/./b/../c/"), "/a/c");
        assert!(validate_hostname("web-1.example").is_ok());
        assert!(validate_hostname("-bad").is_err());
        assert_eq!(
            parse_restart("on-failure:3").unwrap(),
            RestartPolicy::OnFailure(3)
        );
        assert!(parse_restart("sometimes").is_err());
        assert_eq!(parse_signal("--stop-signal", "TERM").unwrap(), 15);
        assert!(parse_signal("--stop-signal", "NOPE").is_err());
    }

    /// A record written before the typed options (`Options` as the flags)
    /// reads as the parsed options; a value that no longer parses is one
    /// line naming the flag; the typed form reads back as written.
    #[test]
    fn stored_options_old_and_new() {
        #[derive(Deserialize)]
        struct Rec {
            #[serde(deserialize_with = "deserialize_stored")]
            options: CreateOptions,
        }
        let old = r#"{"options": {"image": "busybox", "memory": "64m", "publish": ["8080:80"],
            "volumes": ["/h:/c:ro"], "restart": "on-failure:2", "dns": ["1.1.1.1"],
            "health": {"cmd": "true"}, "runtime": null, "ip": null}}"#;
        let o = serde_json::from_str::<Rec>(old).unwrap().options;
        assert_eq!(o.image, "busybox");
        assert_eq!(o.resources.memory, 64 << 20);
        assert_eq!(o.port_bindings[0].container_ports, (80, 80));
        assert_eq!(o.binds[0].bind_string(), "/h:/c:ro");
        assert_eq!(o.restart_policy, RestartPolicy::OnFailure(2));
        assert!(o.healthcheck.is_some());
        let bad = r#"{"options": {"image": "busybox", "memory": "lots"}}"#;
        let e = serde_json::from_str::<Rec>(bad).err().unwrap().to_string();
        assert!(e.contains("invalid --memory \"lots\""), "{e}");
        assert!(!e.contains('\n'));
        let new = serde_json::json!({ "options": o });
        assert_eq!(new["options"]["Memory"], 64 << 20);
        assert_eq!(new["options"]["RestartPolicy"]["Name"], "on-failure");
        let back = serde_json::from_value::<Rec>(new).unwrap().options;
        assert_eq!(back, o);
    }

    #[test]
    fn new_flags() {
        let d = parse_device("/dev/null:/dev/mynull:rw").unwrap();
        assert_eq!(
            (
                d.path_on_host.as_str(),
                d.path_in_container.as_str(),
                d.cgroup_permissions.as_str()
            ),
            ("/dev/null", "/dev/mynull", "rw")
        );
        assert_eq!(
            parse_device("/dev/fuse").unwrap().path_in_container,
            "/dev/fuse"
        );
        assert_eq!(parse_device("/dev/fuse:r").unwrap().cgroup_permissions, "r");
        assert!(parse_device("/dev/x:/y:rwx").is_err());
        assert!(parse_device("dev/x").is_err());
        let r = parse_device_cgroup_rule("c 1:* rwm").unwrap();
        assert_eq!((r.kind, r.major, r.minor), ('c', Some(1), None));
        assert_eq!(r.to_string(), "c 1:* rwm");
        assert!(parse_device_cgroup_rule("x 1:3 r").is_err());
        assert_eq!(parse_pid_mode("host").unwrap(), NamespaceMode::Host);
        assert_eq!(
            parse_pid_mode("container:web").unwrap().to_string(),
            "container:web"
        );
        assert!(parse_pid_mode("private").is_err());
        assert_eq!(
            parse_ipc_mode("shareable").unwrap(),
            NamespaceMode::Shareable
        );
        assert!(parse_ipc_mode("bogus").is_err());
        assert_eq!(parse_userns_mode("host").unwrap(), NamespaceMode::Host);
        assert_eq!(parse_userns_mode("").unwrap(), NamespaceMode::Default);
        for bad in ["private", "keep-id", "auto"] {
            let e = parse_userns_mode(bad).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("invalid --userns {bad:?}: only \"host\"")),
                "{e}"
            );
        }
        assert_eq!(
            parse_sysctl("net.ipv4.ip_forward=1").unwrap(),
            ("net.ipv4.ip_forward".to_string(), "1".to_string())
        );
        assert!(parse_sysctl("kernel.shmmax=1").is_ok());
        assert!(parse_sysctl("fs.mqueue.msg_max=20").is_ok());
        assert!(parse_sysctl("kernel.hostname=x").is_err());
        assert!(parse_sysctl("vm.swappiness=1").is_err());
        assert!(parse_cpu_shares(1).is_err());
        assert_eq!(parse_cpu_shares(512).unwrap(), 512);
        assert_eq!(parse_cpuset("--cpuset-cpus", "0-1,3").unwrap(), "0-1,3");
        assert!(parse_cpuset("--cpuset-cpus", "1-0").is_err());
        assert_eq!(cpuset_max("0-1,3"), 3);
        let l = parse_link("db:database").unwrap();
        assert_eq!((l.container.as_str(), l.alias.as_str()), ("db", "database"));
        assert_eq!(parse_link("/db").unwrap().alias, "db");
        assert!(parse_link(":x").is_err());
    }
}

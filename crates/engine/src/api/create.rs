//! `POST /containers/create`: docker's body, typed, and its conversion to
//! [`CreateOptions`] by the CLI's parsers and rules.

use crate::error::{Error, Result};
use crate::logs::LogConfig as EngineLogConfig;
use crate::options::{
    self, mounts, CreateOptions, DeviceMapping, Face, HealthConfig, HealthTest, Resources,
    RestartPolicy, Ulimit,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// docker's `struct{}` map values (`ExposedPorts`, `Volumes`): `{}`,
/// whatever was sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Empty;

impl Serialize for Empty {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        s.serialize_map(Some(0))?.end()
    }
}

impl<'de> Deserialize<'de> for Empty {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Empty, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Empty)
    }
}

/// The body of `POST /containers/create`: docker's `Config` fields, with
/// `HostConfig` and `NetworkingConfig` (the name is the `name` query
/// parameter).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerCreateBody {
    #[serde(flatten)]
    pub config: ContainerConfig,
    pub host_config: Option<HostConfig>,
    pub networking_config: Option<NetworkingConfig>,
}

/// docker's `container.Config`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerConfig {
    pub hostname: String,
    pub domainname: String,
    pub user: String,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Empty>>,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub env: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthcheckConfig>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub args_escaped: bool,
    pub image: String,
    pub volumes: Option<BTreeMap<String, Empty>>,
    pub working_dir: String,
    pub entrypoint: Option<Vec<String>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub network_disabled: bool,
    /// Deprecated (API < 1.44): the endpoint's `MacAddress`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mac_address: String,
    pub on_build: Option<Vec<String>>,
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stop_signal: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
}

/// docker's `HealthConfig` as the API carries it: durations in
/// nanoseconds, 0 (or absent) and an empty `Test` inherit the image's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthcheckConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    #[serde(skip_serializing_if = "is_zero")]
    pub interval: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub timeout: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub start_period: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub retries: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// `HostConfig.LogConfig` (an empty `Type`: the default driver).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    #[serde(rename = "Type")]
    pub kind: String,
    pub config: Option<BTreeMap<String, String>>,
}

/// One host binding of a container port.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBinding {
    pub host_ip: String,
    pub host_port: String,
}

/// `{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}` (null: exposed only).
pub type PortMap = BTreeMap<String, Option<Vec<PortBinding>>>;

/// docker's `mount.Mount` (`HostConfig.Mounts`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Mount {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
    pub target: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub consistency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_options: Option<BindOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<VolumeOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<TmpfsOptions>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct BindOptions {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub propagation: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub non_recursive: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub create_mountpoint: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read_only_non_recursive: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read_only_force_recursive: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeOptions {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_copy: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_config: Option<Driver>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subpath: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Driver {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TmpfsOptions {
    /// Bytes (0: the kernel's default).
    #[serde(skip_serializing_if = "is_zero")]
    pub size_bytes: i64,
    /// Permission bits (Go's `os.FileMode`, as a number: 1016 is 01770).
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub mode: u32,
    /// `[["exec"], ["uid", "1000"]]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<Vec<String>>>,
}

fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

/// `BlkioWeightDevice` entries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct WeightDevice {
    pub path: String,
    pub weight: u16,
}

/// `BlkioDevice{Read,Write}{Bps,IOps}` entries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ThrottleDevice {
    pub path: String,
    pub rate: u64,
}

/// `DeviceRequests` entries (GPUs: Berth has none to give).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeviceRequest {
    pub driver: String,
    pub count: i64,
    #[serde(rename = "DeviceIDs")]
    pub device_ids: Option<Vec<String>>,
    pub capabilities: Option<Vec<Vec<String>>>,
    pub options: Option<BTreeMap<String, String>>,
}

/// docker's `container.Resources` (inline in `HostConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ResourcesConfig {
    pub cpu_shares: i64,
    pub memory: i64,
    pub nano_cpus: i64,
    pub cgroup_parent: String,
    pub blkio_weight: u16,
    pub blkio_weight_device: Option<Vec<WeightDevice>>,
    pub blkio_device_read_bps: Option<Vec<ThrottleDevice>>,
    pub blkio_device_write_bps: Option<Vec<ThrottleDevice>>,
    #[serde(rename = "BlkioDeviceReadIOps")]
    pub blkio_device_read_iops: Option<Vec<ThrottleDevice>>,
    #[serde(rename = "BlkioDeviceWriteIOps")]
    pub blkio_device_write_iops: Option<Vec<ThrottleDevice>>,
    pub cpu_period: i64,
    pub cpu_quota: i64,
    pub cpu_realtime_period: i64,
    pub cpu_realtime_runtime: i64,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    pub devices: Option<Vec<DeviceMapping>>,
    pub device_cgroup_rules: Option<Vec<String>>,
    pub device_requests: Option<Vec<DeviceRequest>>,
    /// Removed in API 1.42; a request that sets it is refused.
    #[serde(skip_serializing_if = "is_zero")]
    pub kernel_memory: i64,
    #[serde(rename = "KernelMemoryTCP", skip_serializing_if = "is_zero")]
    pub kernel_memory_tcp: i64,
    pub memory_reservation: i64,
    pub memory_swap: i64,
    pub memory_swappiness: Option<i64>,
    pub oom_kill_disable: Option<bool>,
    pub pids_limit: Option<i64>,
    pub ulimits: Option<Vec<Ulimit>>,
    pub cpu_count: i64,
    pub cpu_percent: i64,
    #[serde(rename = "IOMaximumIOps")]
    pub io_maximum_iops: u64,
    #[serde(rename = "IOMaximumBandwidth")]
    pub io_maximum_bandwidth: u64,
}

/// docker's `container.HostConfig`: the request's and `container
/// inspect`'s.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    pub binds: Option<Vec<String>>,
    #[serde(rename = "ContainerIDFile")]
    pub container_id_file: String,
    pub log_config: LogConfig,
    pub network_mode: String,
    pub port_bindings: Option<PortMap>,
    pub restart_policy: RestartPolicy,
    pub auto_remove: bool,
    pub volume_driver: String,
    pub volumes_from: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mounts: Option<Vec<Mount>>,
    pub console_size: Option<[u16; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    pub cap_add: Option<Vec<String>>,
    pub cap_drop: Option<Vec<String>>,
    pub cgroupns_mode: String,
    pub dns: Option<Vec<String>>,
    pub dns_options: Option<Vec<String>>,
    pub dns_search: Option<Vec<String>>,
    pub extra_hosts: Option<Vec<String>>,
    pub group_add: Option<Vec<String>>,
    pub ipc_mode: String,
    pub cgroup: String,
    pub links: Option<Vec<String>>,
    pub oom_score_adj: i64,
    pub pid_mode: String,
    pub privileged: bool,
    pub publish_all_ports: bool,
    pub readonly_rootfs: bool,
    pub security_opt: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_opt: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<BTreeMap<String, String>>,
    #[serde(rename = "UTSMode")]
    pub uts_mode: String,
    pub userns_mode: String,
    pub shm_size: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sysctls: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub runtime: String,
    pub isolation: String,
    #[serde(flatten)]
    pub resources: ResourcesConfig,
    pub masked_paths: Option<Vec<String>>,
    pub readonly_paths: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
}

/// `NetworkingConfig`: the network the container joins at create.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkingConfig {
    pub endpoints_config: Option<BTreeMap<String, EndpointSettings>>,
}

/// `IPAMConfig` of an endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointIpamConfig {
    #[serde(rename = "IPv4Address", skip_serializing_if = "String::is_empty")]
    pub ipv4_address: String,
    #[serde(rename = "IPv6Address", skip_serializing_if = "String::is_empty")]
    pub ipv6_address: String,
    #[serde(rename = "LinkLocalIPs", skip_serializing_if = "Option::is_none")]
    pub link_local_ips: Option<Vec<String>>,
}

/// docker's `network.EndpointSettings`: what a create asks of a network
/// (`Aliases`, `IPAMConfig`, `Links`...) and what inspect reports of it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointSettings {
    #[serde(rename = "IPAMConfig")]
    pub ipam_config: Option<EndpointIpamConfig>,
    #[serde(rename = "Links")]
    pub links: Option<Vec<String>>,
    #[serde(rename = "Aliases")]
    pub aliases: Option<Vec<String>>,
    #[serde(rename = "MacAddress")]
    pub mac_address: String,
    #[serde(rename = "DriverOpts")]
    pub driver_opts: Option<BTreeMap<String, String>>,
    #[serde(rename = "GwPriority")]
    pub gw_priority: i64,
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    #[serde(rename = "Gateway")]
    pub gateway: String,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: u32,
    #[serde(rename = "IPv6Gateway")]
    pub ipv6_gateway: String,
    #[serde(rename = "GlobalIPv6Address")]
    pub global_ipv6_address: String,
    #[serde(rename = "GlobalIPv6PrefixLen")]
    pub global_ipv6_prefix_len: u32,
    #[serde(rename = "DNSNames")]
    pub dns_names: Option<Vec<String>>,
}

/// `invalid FIELD "VALUE": Berth cannot honour it (why)`.
fn unsupported(field: &str, value: impl std::fmt::Display, why: &str) -> Error {
    Error::flag(
        field,
        &value.to_string(),
        format!("not supported by Berth ({why})"),
    )
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn nonempty<T>(v: &Option<Vec<T>>) -> bool {
    v.as_ref().is_some_and(|v| !v.is_empty())
}

/// Refuses what Berth cannot honour: each check names its field.
fn refuse_unsupported(c: &ContainerConfig, h: &HostConfig) -> Result<()> {
    let r = &h.resources;
    let checks: [(bool, &str, String, &str); 23] = [
        (
            !c.domainname.is_empty(),
            "Domainname",
            c.domainname.clone(),
            "no NIS domain name",
        ),
        (
            !c.mac_address.is_empty(),
            "MacAddress",
            c.mac_address.clone(),
            "no chosen MAC addresses",
        ),
        (
            !r.cgroup_parent.is_empty(),
            "HostConfig.CgroupParent",
            r.cgroup_parent.clone(),
            "containers' cgroups are under the root",
        ),
        (
            r.blkio_weight != 0,
            "HostConfig.BlkioWeight",
            r.blkio_weight.to_string(),
            "no block I/O weights",
        ),
        (
            nonempty(&r.blkio_weight_device),
            "HostConfig.BlkioWeightDevice",
            "[...]".into(),
            "no block I/O weights",
        ),
        (
            nonempty(&r.blkio_device_read_bps)
                || nonempty(&r.blkio_device_write_bps)
                || nonempty(&r.blkio_device_read_iops)
                || nonempty(&r.blkio_device_write_iops),
            "HostConfig.BlkioDevice*",
            "[...]".into(),
            "no block I/O throttling",
        ),
        (
            r.cpu_period != 0,
            "HostConfig.CpuPeriod",
            r.cpu_period.to_string(),
            "use NanoCpus",
        ),
        (
            r.cpu_quota != 0,
            "HostConfig.CpuQuota",
            r.cpu_quota.to_string(),
            "use NanoCpus",
        ),
        (
            r.cpu_realtime_period != 0 || r.cpu_realtime_runtime != 0,
            "HostConfig.CpuRealtimePeriod",
            r.cpu_realtime_period.to_string(),
            "no real-time scheduling",
        ),
        (
            r.kernel_memory != 0 || r.kernel_memory_tcp != 0,
            "HostConfig.KernelMemory",
            r.kernel_memory.to_string(),
            "removed from docker's API 1.42",
        ),
        (
            r.memory_swappiness.is_some_and(|v| v != -1),
            "HostConfig.MemorySwappiness",
            format!("{:?}", r.memory_swappiness),
            "no swappiness settings",
        ),
        (
            r.oom_kill_disable == Some(true),
            "HostConfig.OomKillDisable",
            "true".into(),
            "the OOM killer stays on",
        ),
        (
            r.cpu_count != 0 || r.cpu_percent != 0,
            "HostConfig.CpuCount",
            r.cpu_count.to_string(),
            "Windows only",
        ),
        (
            r.io_maximum_iops != 0 || r.io_maximum_bandwidth != 0,
            "HostConfig.IOMaximumIOps",
            r.io_maximum_iops.to_string(),
            "Windows only",
        ),
        (
            nonempty(&r.device_requests),
            "HostConfig.DeviceRequests",
            "[...]".into(),
            "no GPUs or device drivers",
        ),
        (
            h.oom_score_adj != 0,
            "HostConfig.OomScoreAdj",
            h.oom_score_adj.to_string(),
            "no OOM score adjustment",
        ),
        (
            !matches!(h.volume_driver.as_str(), "" | "local"),
            "HostConfig.VolumeDriver",
            h.volume_driver.clone(),
            "only the local volume driver",
        ),
        (
            h.annotations.as_ref().is_some_and(|a| !a.is_empty()),
            "HostConfig.Annotations",
            "{...}".into(),
            "no OCI annotations",
        ),
        (
            !matches!(h.cgroupns_mode.as_str(), "" | "private"),
            "HostConfig.CgroupnsMode",
            h.cgroupns_mode.clone(),
            "containers get a private cgroup namespace",
        ),
        (
            !h.cgroup.is_empty(),
            "HostConfig.Cgroup",
            h.cgroup.clone(),
            "no shared cgroups",
        ),
        (
            !h.uts_mode.is_empty(),
            "HostConfig.UTSMode",
            h.uts_mode.clone(),
            "containers get their own UTS namespace",
        ),
        (
            h.storage_opt.as_ref().is_some_and(|s| !s.is_empty()),
            "HostConfig.StorageOpt",
            "{...}".into(),
            "overlay has no per-container options",
        ),
        (
            !matches!(h.isolation.as_str(), "" | "default"),
            "HostConfig.Isolation",
            h.isolation.clone(),
            "only the default isolation",
        ),
    ];
    for (bad, field, value, why) in checks {
        if bad {
            return Err(unsupported(field, value, why));
        }
    }
    // docker's own lists (what inspect shows) are what Berth applies.
    for (v, field, default) in [
        (
            &h.masked_paths,
            "HostConfig.MaskedPaths",
            options::MASKED_PATHS,
        ),
        (
            &h.readonly_paths,
            "HostConfig.ReadonlyPaths",
            options::READONLY_PATHS,
        ),
    ] {
        if nonempty(v) && v.as_deref() != Some(&strings(default)[..]) {
            return Err(unsupported(
                field,
                format!("{:?}", v.clone().unwrap_or_default()),
                "docker's paths apply; SecurityOpt systempaths=unconfined lifts them",
            ));
        }
    }
    Ok(())
}

/// `--mount` syntax of an API mount (read by the `--mount` parser), each
/// field quoted as docker's CSV reader wants when it holds a comma.
fn mount_csv(m: &Mount) -> String {
    let mut f: Vec<String> = vec![format!("type={}", m.kind)];
    let mut push = |k: &str, v: &str| {
        let kv = format!("{k}={v}");
        f.push(if kv.contains([',', '"']) {
            format!("\"{}\"", kv.replace('"', "\"\""))
        } else {
            kv
        });
    };
    if !m.source.is_empty() {
        push("source", &m.source);
    }
    if !m.target.is_empty() {
        push("target", &m.target);
    }
    if m.read_only {
        push("readonly", "true");
    }
    if let Some(b) = &m.bind_options {
        if !b.propagation.is_empty() {
            push("bind-propagation", &b.propagation);
        }
        if b.non_recursive {
            push("bind-nonrecursive", "true");
        }
    }
    if let Some(v) = &m.volume_options {
        if v.no_copy {
            push("volume-nocopy", "true");
        }
        for (k, val) in v.labels.iter().flatten() {
            push("volume-label", &format!("{k}={val}"));
        }
        if let Some(d) = &v.driver_config {
            if !d.name.is_empty() {
                push("volume-driver", &d.name);
            }
            for (k, val) in d.options.iter().flatten() {
                push("volume-opt", &format!("{k}={val}"));
            }
        }
    }
    if let Some(t) = &m.tmpfs_options {
        if t.size_bytes != 0 {
            push("tmpfs-size", &t.size_bytes.to_string());
        }
        if t.mode != 0 {
            push("tmpfs-mode", &format!("{:o}", t.mode));
        }
    }
    f.join(",")
}

/// One `HostConfig.Mounts` entry, by the `--mount` rules.
fn convert_mount(m: &Mount) -> Result<options::Mount> {
    const F: &str = "HostConfig.Mounts";
    let csv = mount_csv(m);
    let wrong_options = match m.kind.as_str() {
        "bind" => m.volume_options.is_some() || m.tmpfs_options.is_some(),
        "volume" => m.bind_options.is_some() || m.tmpfs_options.is_some(),
        "tmpfs" => m.bind_options.is_some() || m.volume_options.is_some(),
        _ => false,
    };
    if wrong_options {
        return Err(Error::flag(
            F,
            &csv,
            format!("options of another type given with Type {:?}", m.kind),
        ));
    }
    if let Some(b) = &m.bind_options {
        if b.create_mountpoint || b.read_only_non_recursive || b.read_only_force_recursive {
            return Err(unsupported(
                "HostConfig.Mounts.BindOptions",
                &csv,
                "CreateMountpoint and the ReadOnly*Recursive options are not implemented",
            ));
        }
    }
    if m.volume_options
        .as_ref()
        .is_some_and(|v| !v.subpath.is_empty())
    {
        return Err(unsupported(
            "HostConfig.Mounts.VolumeOptions.Subpath",
            &csv,
            "volume subpaths are not implemented",
        ));
    }
    if m.tmpfs_options
        .as_ref()
        .is_some_and(|t| t.options.as_ref().is_some_and(|o| !o.is_empty()))
    {
        return Err(unsupported(
            "HostConfig.Mounts.TmpfsOptions.Options",
            &csv,
            "use HostConfig.Tmpfs for tmpfs mount options",
        ));
    }
    mounts::parse_mount_as(F, &csv)
}

/// `PortBindings` in `-p` syntax, read by the `-p` parser: one value a
/// host binding, or the container port alone for a null or empty list.
fn publish_values(ports: &PortMap) -> Vec<String> {
    let mut out = Vec::new();
    for (key, list) in ports {
        let list = list.as_deref().unwrap_or_default();
        if list.is_empty() {
            out.push(key.clone());
        }
        for b in list {
            out.push(match (b.host_ip.as_str(), b.host_port.as_str()) {
                ("", "") => key.clone(),
                ("", p) => format!("{p}:{key}"),
                (ip, p) => format!("{ip}:{p}:{key}"),
            });
        }
    }
    out
}

/// A runtime named by the API: `""`/`berth`: the built-in one; else a
/// runc-compatible binary (an absolute path, or a name in `$PATH`).
fn runtime_of(name: &str) -> Result<Option<PathBuf>> {
    if matches!(name, "" | "berth") {
        return Ok(None);
    }
    let found = if name.contains('/') {
        std::path::Path::new(name).is_file()
    } else {
        std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
    };
    if !found {
        return Err(Error::flag(
            "HostConfig.Runtime",
            name,
            "unknown runtime (berth, or a runc-compatible binary: an absolute path or a name in PATH)",
        ));
    }
    Ok(Some(PathBuf::from(name)))
}

/// `list.map(parse)`, an error naming `field` where the parser named `flag`.
fn each<T>(
    list: &[String],
    flag: &str,
    field: &str,
    parse: impl Fn(&str) -> Result<T>,
) -> Result<Vec<T>> {
    list.iter()
        .map(|s| parse(s).map_err(|e| e.renamed(flag, field)))
        .collect()
}

impl ContainerCreateBody {
    /// The typed options of this body (and the `name` query parameter), by
    /// the CLI's parsers and [`CreateOptions::validate`]; the first error
    /// names the API field and its value. Empty strings and zeros are
    /// docker's "not given".
    pub fn into_options(self, name: Option<&str>) -> Result<CreateOptions> {
        let c = self.config;
        let h = self.host_config.unwrap_or_default();
        refuse_unsupported(&c, &h)?;
        let r = &h.resources;
        let some = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
        let list = |v: &Option<Vec<String>>| v.clone().unwrap_or_default();
        if c.image.is_empty() {
            return Err(Error::flag("Image", "", "an image is required"));
        }

        // The network and its endpoint settings.
        let mut network_mode = some(&h.network_mode).filter(|m| m != "default");
        if c.network_disabled && network_mode.is_none() {
            network_mode = Some("none".into());
        }
        let endpoints = self
            .networking_config
            .and_then(|n| n.endpoints_config)
            .unwrap_or_default();
        if endpoints.len() > 1 {
            return Err(unsupported(
                "NetworkingConfig.EndpointsConfig",
                endpoints.keys().cloned().collect::<Vec<_>>().join(","),
                "a container joins one network at create; connect others after",
            ));
        }
        let volumes_from = each(
            &list(&h.volumes_from),
            "--volumes-from",
            "HostConfig.VolumesFrom",
            options::parse_volumes_from,
        )?;
        let mut links = each(
            &list(&h.links),
            "--link",
            "HostConfig.Links",
            options::parse_link,
        )?;
        let (mut aliases, mut ip) = (Vec::new(), None);
        if let Some((net, ep)) = endpoints.into_iter().next() {
            let mode = network_mode.as_deref().unwrap_or("default");
            let same = net == mode || (mode == "default" && net == "bridge");
            if !same {
                return Err(Error::flag(
                    "NetworkingConfig.EndpointsConfig",
                    &net,
                    format!("not the container's network {mode:?} (HostConfig.NetworkMode)"),
                ));
            }
            if !ep.mac_address.is_empty() {
                return Err(unsupported(
                    "NetworkingConfig.EndpointsConfig.MacAddress",
                    &ep.mac_address,
                    "no chosen MAC addresses",
                ));
            }
            if ep.driver_opts.as_ref().is_some_and(|o| !o.is_empty()) {
                return Err(unsupported(
                    "NetworkingConfig.EndpointsConfig.DriverOpts",
                    "{...}",
                    "the bridge driver takes no endpoint options",
                ));
            }
            let ipam = ep.ipam_config.unwrap_or_default();
            if !ipam.ipv6_address.is_empty() {
                return Err(unsupported(
                    "NetworkingConfig.EndpointsConfig.IPAMConfig.IPv6Address",
                    &ipam.ipv6_address,
                    "no IPv6 networks",
                ));
            }
            if ipam.link_local_ips.as_ref().is_some_and(|l| !l.is_empty()) {
                return Err(unsupported(
                    "NetworkingConfig.EndpointsConfig.IPAMConfig.LinkLocalIPs",
                    "[...]",
                    "no link-local addresses",
                ));
            }
            if !ipam.ipv4_address.is_empty() {
                ip = Some(ipam.ipv4_address.parse().map_err(|_| {
                    Error::flag(
                        "NetworkingConfig.EndpointsConfig.IPAMConfig.IPv4Address",
                        &ipam.ipv4_address,
                        "not an IPv4 address",
                    )
                })?);
            }
            aliases = ep.aliases.unwrap_or_default();
            for l in each(
                &list(&ep.links),
                "--link",
                "NetworkingConfig.EndpointsConfig.Links",
                options::parse_link,
            )? {
                if !links.contains(&l) {
                    links.push(l);
                }
            }
        }

        // Mounts: Binds, Mounts, Tmpfs, and Volumes (anonymous volumes).
        let mut binds = each(&list(&h.binds), "--volume", "HostConfig.Binds", |s| {
            mounts::parse_volume_flag(s)
        })?;
        let mounts = h
            .mounts
            .iter()
            .flatten()
            .map(convert_mount)
            .collect::<Result<Vec<_>>>()?;
        let tmpfs = h
            .tmpfs
            .iter()
            .flatten()
            .map(|(k, v)| {
                let s = if v.is_empty() {
                    k.clone()
                } else {
                    format!("{k}:{v}")
                };
                mounts::parse_tmpfs_flag(&s).map_err(|e| e.renamed("--tmpfs", "HostConfig.Tmpfs"))
            })
            .collect::<Result<Vec<_>>>()?;
        for target in c.volumes.iter().flatten().map(|(k, _)| k) {
            let v =
                mounts::parse_volume_flag(target).map_err(|e| e.renamed("--volume", "Volumes"))?;
            let taken = binds
                .iter()
                .chain(&mounts)
                .any(|m| m.target() == v.target())
                || tmpfs.iter().any(|t| t.target == v.target());
            if !taken {
                binds.push(v);
            }
        }

        // Ports: the bindings by the -p parser; the exposed ports not
        // published (docker's CLI lists published ones there too).
        let port_bindings = each(
            &publish_values(h.port_bindings.as_ref().unwrap_or(&PortMap::new())),
            "--publish",
            "HostConfig.PortBindings",
            options::parse_publish,
        )?;
        let published: Vec<String> = port_bindings
            .iter()
            .flat_map(|b| {
                (b.container_ports.0..=b.container_ports.1).map(move |p| format!("{p}/{}", b.proto))
            })
            .collect();
        let exposed: Vec<String> = c
            .exposed_ports
            .iter()
            .flatten()
            .map(|(k, _)| k.clone())
            .collect();
        let exposed_ports = options::parse_expose_list(&exposed)
            .map_err(|e| e.renamed("--expose", "ExposedPorts"))?
            .into_iter()
            .filter(|p| !published.contains(p))
            .collect();

        let healthcheck = match c.healthcheck {
            None => None,
            Some(hc) => {
                let nz = |v: i64| (v != 0).then_some(v);
                let test =
                    match hc.test.filter(|t| !t.is_empty()) {
                        None => None,
                        Some(t) => Some(HealthTest::try_from(t.clone()).map_err(|why| {
                            Error::flag("Healthcheck.Test", &format!("{t:?}"), why)
                        })?),
                    };
                let hc = HealthConfig {
                    test,
                    interval: nz(hc.interval),
                    timeout: nz(hc.timeout),
                    start_period: nz(hc.start_period),
                    start_interval: nz(hc.start_interval),
                    retries: nz(hc.retries),
                };
                (hc != HealthConfig::default()).then_some(hc)
            }
        };

        let log_opts: Vec<String> = h
            .log_config
            .config
            .iter()
            .flatten()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let log_config = EngineLogConfig::from_flags(Some(h.log_config.kind.as_str()), &log_opts)
            .map_err(|e| {
            e.renamed("--log-driver", "HostConfig.LogConfig.Type")
                .renamed("--log-opt", "HostConfig.LogConfig.Config")
        })?;

        let ulimits = r
            .ulimits
            .iter()
            .flatten()
            .map(|u| {
                options::parse_ulimit(&format!("{}={}:{}", u.name, u.soft, u.hard))
                    .map_err(|e| e.renamed("--ulimit", "HostConfig.Ulimits"))
            })
            .collect::<Result<Vec<_>>>()?;
        let devices = r
            .devices
            .iter()
            .flatten()
            .map(|d| {
                let spec = [
                    d.path_on_host.as_str(),
                    d.path_in_container.as_str(),
                    d.cgroup_permissions.as_str(),
                ]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(":");
                options::parse_device(&spec)
                    .map_err(|e| e.renamed("--device", "HostConfig.Devices"))
            })
            .collect::<Result<Vec<_>>>()?;
        let sysctls = h
            .sysctls
            .iter()
            .flatten()
            .map(|(k, v)| {
                options::parse_sysctl(&format!("{k}={v}"))
                    .map_err(|e| e.renamed("--sysctl", "HostConfig.Sysctls"))
            })
            .collect::<Result<_>>()?;
        let ns =
            |s: &str, flag: &str, field: &str, p: fn(&str) -> Result<options::NamespaceMode>| {
                p(s).map_err(|e| e.renamed(flag, field))
            };

        let o = CreateOptions {
            image: c.image.clone(),
            // Only the builder's RUN steps set it; no flag or field does.
            no_image_volumes: false,
            name: name.and_then(some),
            cmd: c.cmd.clone().unwrap_or_default(),
            entrypoint: c
                .entrypoint
                .clone()
                .map(|e| if e == [""] { vec![] } else { e }),
            env: list(&c.env),
            working_dir: match c.working_dir.as_str() {
                "" => None,
                w => Some(
                    options::parse_workdir(w).map_err(|e| e.renamed("--workdir", "WorkingDir"))?,
                ),
            },
            user: some(&c.user),
            group_add: list(&h.group_add),
            hostname: some(&c.hostname),
            labels: c.labels.clone().unwrap_or_default(),
            privileged: h.privileged,
            cap_add: list(&h.cap_add),
            cap_drop: list(&h.cap_drop),
            security: options::parse_security_opts(&list(&h.security_opt))
                .map_err(|e| e.renamed("--security-opt", "HostConfig.SecurityOpt"))?,
            readonly_rootfs: h.readonly_rootfs,
            resources: Resources {
                memory: r.memory,
                memory_swap: r.memory_swap,
                memory_reservation: r.memory_reservation,
                nano_cpus: r.nano_cpus,
                cpu_shares: r.cpu_shares,
                cpu_period: 0,
                cpu_quota: 0,
                cpuset_cpus: r.cpuset_cpus.clone(),
                cpuset_mems: r.cpuset_mems.clone(),
                pids_limit: r.pids_limit.filter(|p| *p != 0),
                ulimits: (!ulimits.is_empty()).then_some(ulimits),
                devices,
                device_cgroup_rules: each(
                    &list(&r.device_cgroup_rules),
                    "--device-cgroup-rule",
                    "HostConfig.DeviceCgroupRules",
                    options::parse_device_cgroup_rule,
                )?,
            },
            binds,
            mounts,
            tmpfs,
            shm_size: (h.shm_size != 0).then_some(h.shm_size),
            extra_hosts: each(
                &list(&h.extra_hosts),
                "--add-host",
                "HostConfig.ExtraHosts",
                options::parse_add_host,
            )?,
            dns: each(&list(&h.dns), "--dns", "HostConfig.Dns", options::parse_dns)?,
            dns_search: list(&h.dns_search),
            dns_options: list(&h.dns_options),
            network_mode,
            port_bindings,
            publish_all_ports: h.publish_all_ports,
            exposed_ports,
            network_aliases: aliases,
            ip,
            links,
            volumes_from,
            pid_mode: ns(
                &h.pid_mode,
                "--pid",
                "HostConfig.PidMode",
                options::parse_pid_mode,
            )?,
            ipc_mode: ns(
                &h.ipc_mode,
                "--ipc",
                "HostConfig.IpcMode",
                options::parse_ipc_mode,
            )?,
            userns_mode: ns(
                &h.userns_mode,
                "--userns",
                "HostConfig.UsernsMode",
                options::parse_userns_mode,
            )?,
            sysctls,
            stop_signal: some(&c.stop_signal),
            stop_timeout: c.stop_timeout,
            restart_policy: h.restart_policy,
            auto_remove: h.auto_remove,
            tty: c.tty,
            open_stdin: c.open_stdin,
            stdin_once: c.stdin_once,
            console_size: h
                .console_size
                .filter(|[rows, cols]| *rows != 0 || *cols != 0)
                .map(|[rows, cols]| (rows, cols)),
            init: h.init.unwrap_or(false),
            healthcheck,
            runtime: runtime_of(&h.runtime)?,
            log_config,
        };
        o.validate(Face::Api)?;
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: serde_json::Value) -> ContainerCreateBody {
        serde_json::from_value(v).unwrap()
    }

    fn err(v: serde_json::Value) -> String {
        body(v).into_options(None).unwrap_err().to_string()
    }

    #[test]
    fn values_in_dockers_units() {
        let o = body(serde_json::json!({
            "Image": "busybox",
            "Cmd": ["sh", "-c", "true"],
            "Entrypoint": [""],
            "Healthcheck": {"Test": ["CMD", "true"], "Interval": 5_000_000_000i64},
            "ExposedPorts": {"80/tcp": {}, "90/udp": {}},
            "Volumes": {"/anon": {}, "/y": {}},
            "SomethingNew": {"a": 1},
            "HostConfig": {
                "Memory": 67108864, "NanoCpus": 500000000, "ShmSize": 1048576,
                "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]},
                "Binds": ["/x:/y:ro"],
                "Mounts": [{"Type": "tmpfs", "Target": "/t",
                            "TmpfsOptions": {"SizeBytes": 1024, "Mode": 1016}}],
                "Tmpfs": {"/run": "size=16m"},
                "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2},
                "PidsLimit": 0, "MemorySwappiness": -1, "ConsoleSize": [0, 0],
                "NetworkMode": "default", "Runtime": "berth"
            }
        }))
        .into_options(Some("web"))
        .unwrap();
        assert_eq!(o.name.as_deref(), Some("web"));
        assert_eq!(o.entrypoint, Some(vec![]));
        assert_eq!(o.resources.memory, 64 << 20);
        assert_eq!(o.resources.nano_cpus, 500_000_000);
        assert_eq!(o.resources.pids_limit, None);
        assert_eq!(o.shm_size, Some(1 << 20));
        assert_eq!(o.port_bindings[0].host_ports, Some((8080, 8080)));
        assert_eq!(o.port_bindings[0].host_ip, Some([127, 0, 0, 1].into()));
        assert_eq!(o.exposed_ports, vec!["90/udp"]);
        // /y is the bind's target: no anonymous volume over it.
        assert_eq!(o.binds.len(), 2);
        assert_eq!(o.binds[1].target(), "/anon");
        match &o.mounts[0] {
            options::Mount::Tmpfs(t) => assert_eq!((t.size, t.mode), (Some(1024), Some(0o1770))),
            m => panic!("{m:?}"),
        }
        assert_eq!(o.tmpfs[0].size, Some(16 << 20));
        assert_eq!(o.restart_policy, RestartPolicy::OnFailure(2));
        assert_eq!(o.network_mode, None);
        assert_eq!(o.runtime, None);
        let hc = o.healthcheck.unwrap();
        assert_eq!(hc.test, Some(HealthTest::Cmd(vec!["true".into()])));
        assert_eq!((hc.interval, hc.timeout), (Some(5_000_000_000), None));
    }

    /// A value the CLI refuses is refused with the field's name.
    #[test]
    fn rules_name_the_field() {
        let cases = [
            (
                serde_json::json!({"HostConfig": {"Memory": 1024}}),
                "invalid HostConfig.Memory \"1024\": minimum memory limit allowed is 6MB",
            ),
            (
                serde_json::json!({"HostConfig": {"NanoCpus": 1}}),
                "invalid HostConfig.NanoCpus \"1\": range of CPUs",
            ),
            (
                serde_json::json!({"HostConfig": {"CpuShares": 1}}),
                "invalid HostConfig.CpuShares \"1\"",
            ),
            (
                serde_json::json!({"HostConfig": {"ShmSize": -1}}),
                "invalid HostConfig.ShmSize \"-1\"",
            ),
            (
                serde_json::json!({"HostConfig": {"Binds": ["/x:rel"]}}),
                "invalid HostConfig.Binds \"/x:rel\"",
            ),
            (
                serde_json::json!({"HostConfig": {"Tmpfs": {"/t": "bogus"}}}),
                "invalid HostConfig.Tmpfs \"/t:bogus\"",
            ),
            (
                serde_json::json!({"HostConfig": {"SecurityOpt": ["nope"]}}),
                "invalid HostConfig.SecurityOpt \"nope\"",
            ),
            (
                serde_json::json!({"HostConfig": {"PortBindings": {"80/sctp": null}}}),
                "invalid HostConfig.PortBindings \"80/sctp\"",
            ),
            (
                serde_json::json!({"HostConfig": {"Sysctls": {"kernel.hostname": "x"}}}),
                "invalid HostConfig.Sysctls",
            ),
            (
                serde_json::json!({"HostConfig": {"Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 5}]}}),
                "invalid HostConfig.Ulimits",
            ),
            (
                serde_json::json!({"HostConfig": {"Mounts": [{"Type": "bind", "Source": "rel", "Target": "/m"}]}}),
                "invalid HostConfig.Mounts \"type=bind,source=rel,target=/m\": field source",
            ),
            (
                serde_json::json!({"HostConfig": {"LogConfig": {"Type": "syslog"}}}),
                "invalid HostConfig.LogConfig.Type \"syslog\"",
            ),
            (
                serde_json::json!({"HostConfig": {"AutoRemove": true, "RestartPolicy": {"Name": "always"}}}),
                "HostConfig.RestartPolicy and HostConfig.AutoRemove",
            ),
            (
                serde_json::json!({"WorkingDir": "rel"}),
                "invalid WorkingDir \"rel\"",
            ),
            (
                serde_json::json!({"Hostname": "-bad"}),
                "invalid Hostname \"-bad\"",
            ),
            (
                serde_json::json!({"StopSignal": "NOPE"}),
                "invalid StopSignal \"NOPE\"",
            ),
            (serde_json::json!({"Env": ["=x"]}), "invalid Env \"=x\""),
            (
                serde_json::json!({"Healthcheck": {"Interval": 10}}),
                "invalid Healthcheck.Interval \"10\": must be at least 1ms",
            ),
            (
                serde_json::json!({"Healthcheck": {"Test": ["CMD-SHELL"]}}),
                "invalid Healthcheck.Test",
            ),
            (
                serde_json::json!({"ExposedPorts": {"x/tcp": {}}}),
                "invalid ExposedPorts \"x/tcp\"",
            ),
            // What Berth cannot honour.
            (
                serde_json::json!({"HostConfig": {"DeviceRequests": [{"Driver": "nvidia", "Count": -1}]}}),
                "invalid HostConfig.DeviceRequests",
            ),
            (
                serde_json::json!({"HostConfig": {"Isolation": "hyperv"}}),
                "invalid HostConfig.Isolation \"hyperv\": not supported by Berth",
            ),
            (
                serde_json::json!({"HostConfig": {"Runtime": "no-such-runtime-here"}}),
                "invalid HostConfig.Runtime \"no-such-runtime-here\": unknown runtime",
            ),
            (
                serde_json::json!({"HostConfig": {"BlkioWeight": 300}}),
                "invalid HostConfig.BlkioWeight \"300\"",
            ),
            (
                serde_json::json!({"HostConfig": {"CpuQuota": 50000}}),
                "invalid HostConfig.CpuQuota \"50000\"",
            ),
            (
                serde_json::json!({"HostConfig": {"Mounts": [{"Type": "volume", "Target": "/v", "VolumeOptions": {"Subpath": "a"}}]}}),
                "invalid HostConfig.Mounts.VolumeOptions.Subpath",
            ),
            (
                serde_json::json!({"NetworkingConfig": {"EndpointsConfig": {"a": {}, "b": {}}}}),
                "invalid NetworkingConfig.EndpointsConfig \"a,b\"",
            ),
            (
                serde_json::json!({"HostConfig": {"NetworkMode": "n1"}, "NetworkingConfig": {"EndpointsConfig": {"n2": {}}}}),
                "invalid NetworkingConfig.EndpointsConfig \"n2\"",
            ),
            (
                serde_json::json!({"NetworkingConfig": {"EndpointsConfig": {"bridge": {"MacAddress": "02:42:ac:11:00:02"}}}}),
                "invalid NetworkingConfig.EndpointsConfig.MacAddress",
            ),
        ];
        for (mut v, want) in cases {
            v["Image"] = "busybox".into();
            let e = err(v.clone());
            assert!(e.starts_with(want) || e.contains(want), "{v}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
        assert_eq!(
            err(serde_json::json!({})),
            "invalid Image \"\": an image is required"
        );
    }

    #[test]
    fn endpoint_settings() {
        let o = body(serde_json::json!({
            "Image": "busybox",
            "HostConfig": {"NetworkMode": "mynet", "Links": ["db:database"]},
            "NetworkingConfig": {"EndpointsConfig": {"mynet": {
                "Aliases": ["web"], "IPAMConfig": {"IPv4Address": "10.5.0.9"},
                "Links": ["db:database", "cache"]}}}
        }))
        .into_options(None)
        .unwrap();
        assert_eq!(o.network_mode.as_deref(), Some("mynet"));
        assert_eq!(o.network_aliases, vec!["web"]);
        assert_eq!(o.ip, Some([10, 5, 0, 9].into()));
        let l: Vec<_> = o.links.iter().map(|l| l.alias.as_str()).collect();
        assert_eq!(l, ["database", "cache"]);
    }
}

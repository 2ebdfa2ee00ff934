//! Result shapes: `container inspect`'s `HostConfig` (the request's type,
//! filled from the container's record) and `NetworkSettings`, and the
//! entries of `GET /containers/json` ([`ContainerSummary`]).

use super::create::{
    BindOptions, Driver, EndpointSettings, HostConfig, LogConfig, Mount, PortMap, ResourcesConfig,
    TmpfsOptions, VolumeOptions,
};
use crate::container::{Container, MountPoint};
use crate::options;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// docker's `NetworkSettings` of `container inspect` (API 1.50: the
/// deprecated top-level address fields are the first endpoint's).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkSettings {
    pub bridge: String,
    #[serde(rename = "SandboxID")]
    pub sandbox_id: String,
    pub sandbox_key: String,
    pub hairpin_mode: bool,
    /// Exposed ports (null) and their host bindings while it runs.
    pub ports: PortMap,
    pub gateway: String,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: u32,
    pub mac_address: String,
    #[serde(rename = "GlobalIPv6Address")]
    pub global_ipv6_address: String,
    #[serde(rename = "GlobalIPv6PrefixLen")]
    pub global_ipv6_prefix_len: u32,
    #[serde(rename = "IPv6Gateway")]
    pub ipv6_gateway: String,
    pub networks: BTreeMap<String, EndpointSettings>,
}

/// One port of a container list entry (docker's `Port`): published
/// (`PublicPort` set) or only exposed.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Port {
    #[serde(rename = "IP", skip_serializing_if = "String::is_empty")]
    pub ip: String,
    pub private_port: u16,
    #[serde(skip_serializing_if = "is_zero")]
    pub public_port: u16,
    #[serde(rename = "Type")]
    pub kind: String,
}

fn is_zero(p: &u16) -> bool {
    *p == 0
}

/// `HostConfig` of a container list entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SummaryHostConfig {
    pub network_mode: String,
}

/// `NetworkSettings` of a container list entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SummaryNetworkSettings {
    pub networks: BTreeMap<String, EndpointSettings>,
}

/// One entry of `GET /containers/json` (docker's `container.Summary`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerSummary {
    pub id: String,
    /// `/name`.
    pub names: Vec<String>,
    pub image: String,
    #[serde(rename = "ImageID")]
    pub image_id: String,
    pub command: String,
    /// Unix seconds.
    pub created: i64,
    pub ports: Vec<Port>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_rw: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_root_fs: Option<i64>,
    pub labels: BTreeMap<String, String>,
    /// `created`, `running`, `exited`...
    pub state: String,
    /// `Up 3 seconds`...
    pub status: String,
    pub host_config: SummaryHostConfig,
    pub network_settings: SummaryNetworkSettings,
    pub mounts: Vec<MountPoint>,
}

/// docker's `mount.Mount` of a typed mount (`HostConfig.Mounts`).
impl From<&options::Mount> for Mount {
    fn from(m: &options::Mount) -> Mount {
        match m {
            options::Mount::Bind(b) => Mount {
                kind: "bind".into(),
                source: b.source.clone(),
                target: b.target.clone(),
                read_only: b.read_only,
                bind_options: Some(BindOptions {
                    propagation: b.propagation.as_str().into(),
                    non_recursive: b.non_recursive,
                    ..Default::default()
                }),
                ..Default::default()
            },
            options::Mount::Volume(v) => Mount {
                kind: "volume".into(),
                source: v.name.clone().unwrap_or_default(),
                target: v.target.clone(),
                read_only: v.read_only,
                volume_options: Some(VolumeOptions {
                    no_copy: v.no_copy,
                    labels: (!v.labels.is_empty()).then(|| v.labels.clone()),
                    driver_config: (!v.driver_opts.is_empty()).then(|| Driver {
                        name: "local".into(),
                        options: Some(v.driver_opts.clone()),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            },
            options::Mount::Tmpfs(t) => Mount {
                kind: "tmpfs".into(),
                target: t.target.clone(),
                read_only: t.read_only,
                tmpfs_options: Some(TmpfsOptions {
                    size_bytes: t.size.unwrap_or(0),
                    mode: t.mode.unwrap_or(0),
                    options: None,
                }),
                ..Default::default()
            },
        }
    }
}

impl HostConfig {
    /// `container inspect`'s `HostConfig`: the container's record (what
    /// create resolved: limits, modes, masked paths...) with its
    /// `PortBindings`, in docker's shape.
    pub fn of_container(c: &Container, port_bindings: PortMap) -> HostConfig {
        let h = &c.host_config;
        let o = &c.options;
        let r = &h.resources;
        HostConfig {
            binds: h.binds.clone(),
            container_id_file: String::new(),
            log_config: LogConfig {
                kind: h.log_config.driver.as_str().into(),
                config: Some(h.log_config.config.clone()),
            },
            network_mode: h.network_mode.clone(),
            port_bindings: Some(port_bindings),
            restart_policy: h.restart_policy,
            auto_remove: h.auto_remove,
            volume_driver: String::new(),
            volumes_from: (!o.volumes_from.is_empty())
                .then(|| o.volumes_from.iter().map(|v| v.to_string()).collect()),
            mounts: (!o.mounts.is_empty()).then(|| o.mounts.iter().map(Mount::from).collect()),
            console_size: Some(o.console_size.map_or([0, 0], |(r, c)| [r, c])),
            annotations: None,
            cap_add: h.cap_add.clone(),
            cap_drop: h.cap_drop.clone(),
            cgroupns_mode: "private".into(),
            dns: Some(h.dns.clone()),
            dns_options: Some(h.dns_options.clone()),
            dns_search: Some(h.dns_search.clone()),
            extra_hosts: h.extra_hosts.clone(),
            group_add: h.group_add.clone(),
            ipc_mode: h.ipc_mode.clone(),
            cgroup: String::new(),
            links: h.links.clone(),
            oom_score_adj: 0,
            pid_mode: h.pid_mode.clone(),
            privileged: h.privileged,
            publish_all_ports: o.publish_all_ports,
            readonly_rootfs: h.readonly_rootfs,
            security_opt: h.security_opt.clone(),
            storage_opt: None,
            tmpfs: h.tmpfs.clone(),
            uts_mode: String::new(),
            userns_mode: h.userns_mode.clone(),
            shm_size: h.shm_size,
            sysctls: h.sysctls.clone(),
            runtime: h.runtime.clone(),
            isolation: String::new(),
            resources: ResourcesConfig {
                cpu_shares: r.cpu_shares,
                memory: r.memory,
                nano_cpus: r.nano_cpus,
                cpu_period: r.cpu_period,
                cpu_quota: r.cpu_quota,
                cpuset_cpus: r.cpuset_cpus.clone(),
                cpuset_mems: r.cpuset_mems.clone(),
                devices: Some(r.devices.clone()),
                device_cgroup_rules: Some(
                    r.device_cgroup_rules
                        .iter()
                        .map(|d| d.to_string())
                        .collect(),
                ),
                memory_reservation: r.memory_reservation,
                memory_swap: r.memory_swap,
                pids_limit: r.pids_limit,
                ulimits: r.ulimits.clone(),
                blkio_weight_device: Some(vec![]),
                blkio_device_read_bps: Some(vec![]),
                blkio_device_write_bps: Some(vec![]),
                blkio_device_read_iops: Some(vec![]),
                blkio_device_write_iops: Some(vec![]),
                ..Default::default()
            },
            masked_paths: h.masked_paths.clone(),
            readonly_paths: h.readonly_paths.clone(),
            init: h.init,
        }
    }
}

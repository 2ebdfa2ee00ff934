//! The typed Compose model: compose-go's `types` package, field for field
//! in its order, so that its JSON (and the config hash computed from it)
//! is the one docker compose prints.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::de::{self, *};

type Opts = BTreeMap<String, String>;

fn is_empty_map<K, V>(m: &BTreeMap<K, V>) -> bool {
    m.is_empty()
}

/// A loaded, normalised project.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Project {
    pub name: String,
    pub working_dir: String,
    pub services: BTreeMap<String, ServiceConfig>,
    pub networks: BTreeMap<String, NetworkConfig>,
    pub volumes: BTreeMap<String, VolumeConfig>,
    pub secrets: BTreeMap<String, FileObjectConfig>,
    pub configs: BTreeMap<String, FileObjectConfig>,
    pub models: BTreeMap<String, Value>,
    /// Top-level `x-` keys.
    pub extensions: BTreeMap<String, Value>,
    /// Services left out by their profiles.
    pub disabled_services: BTreeMap<String, ServiceConfig>,
    pub compose_files: Vec<String>,
    /// The variables interpolation used (OS environment and env files).
    pub environment: BTreeMap<String, String>,
    pub profiles: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    #[serde(skip_serializing, default, deserialize_with = "de::string")]
    pub name: String,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::strings"
    )]
    pub profiles: Vec<String>,
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub annotations: Mapping,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_bool"
    )]
    pub attach: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub develop: Option<DevelopConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blkio_config: Option<BlkioConfig>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::strings"
    )]
    pub cap_add: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::strings"
    )]
    pub cap_drop: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub cgroup_parent: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub cgroup: String,
    #[serde(
        default,
        skip_serializing_if = "is_zero_i64",
        deserialize_with = "de::i64"
    )]
    pub cpu_count: i64,
    #[serde(
        default,
        skip_serializing_if = "is_zero_f32",
        deserialize_with = "de::f32"
    )]
    pub cpu_percent: f32,
    #[serde(
        default,
        skip_serializing_if = "is_zero_i64",
        deserialize_with = "de::i64"
    )]
    pub cpu_period: i64,
    #[serde(
        default,
        skip_serializing_if = "is_zero_i64",
        deserialize_with = "de::i64"
    )]
    pub cpu_quota: i64,
    #[serde(
        default,
        skip_serializing_if = "is_zero_i64",
        deserialize_with = "de::i64"
    )]
    pub cpu_rt_period: i64,
    #[serde(
        default,
        skip_serializing_if = "is_zero_i64",
        deserialize_with = "de::i64"
    )]
    pub cpu_rt_runtime: i64,
    #[serde(
        default,
        skip_serializing_if = "is_zero_f32",
        deserialize_with = "de::f32"
    )]
    pub cpus: f32,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub cpuset: String,
    #[serde(
        default,
        skip_serializing_if = "is_zero_i64",
        deserialize_with = "de::i64"
    )]
    pub cpu_shares: i64,
    #[serde(default)]
    pub command: ShellCommand,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub configs: Vec<FileReferenceConfig>,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub container_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_spec: Option<CredentialSpecConfig>,
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub depends_on: BTreeMap<String, ServiceDependency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<DeployConfig>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::strings"
    )]
    pub device_cgroup_rules: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceMapping>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::string_list"
    )]
    pub dns: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::strings"
    )]
    pub dns_opt: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::string_list"
    )]
    pub dns_search: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub dockerfile: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub domainname: String,
    #[serde(default)]
    pub entrypoint: ShellCommand,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ServiceProviderConfig>,
    #[serde(default, skip_serializing_if = "MappingWithEquals::is_empty")]
    pub environment: MappingWithEquals,
    #[serde(default, rename = "env_file", skip_serializing_if = "Vec::is_empty")]
    pub env_files: Vec<EnvFile>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::string_or_number_list"
    )]
    pub expose: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extends: Option<ExtendsConfig>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::strings"
    )]
    pub external_links: Vec<String>,
    #[serde(default, skip_serializing_if = "HostsList::is_empty")]
    pub extra_hosts: HostsList,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::strings"
    )]
    pub group_add: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpus: Vec<DeviceRequest>,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub hostname: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthCheckConfig>,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub image: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_bool"
    )]
    pub init: Option<bool>,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub ipc: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub isolation: String,
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::strings"
    )]
    pub label_file: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::strings"
    )]
    pub links: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<LoggingConfig>,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub log_driver: String,
    #[serde(
        default,
        skip_serializing_if = "is_empty_map",
        deserialize_with = "de::options"
    )]
    pub log_opt: Opts,
    #[serde(default, skip_serializing_if = "UnitBytes::is_zero")]
    pub mem_limit: UnitBytes,
    #[serde(default, skip_serializing_if = "UnitBytes::is_zero")]
    pub mem_reservation: UnitBytes,
    #[serde(
        default,
        rename = "memswap_limit",
        skip_serializing_if = "UnitBytes::is_zero"
    )]
    pub mem_swap_limit: UnitBytes,
    #[serde(default, skip_serializing_if = "UnitBytes::is_zero")]
    pub mem_swappiness: UnitBytes,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub mac_address: String,
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub models: BTreeMap<String, Option<ServiceModelConfig>>,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub net: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub network_mode: String,
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub networks: BTreeMap<String, Option<ServiceNetworkConfig>>,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "de::bool"
    )]
    pub oom_kill_disable: bool,
    #[serde(
        default,
        skip_serializing_if = "is_zero_i64",
        deserialize_with = "de::i64"
    )]
    pub oom_score_adj: i64,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub pid: String,
    #[serde(
        default,
        skip_serializing_if = "is_zero_i64",
        deserialize_with = "de::i64"
    )]
    pub pids_limit: i64,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub platform: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ServicePortConfig>,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "de::bool"
    )]
    pub privileged: bool,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub pull_policy: String,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "de::bool"
    )]
    pub read_only: bool,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub restart: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub runtime: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_i64"
    )]
    pub scale: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<FileReferenceConfig>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::strings"
    )]
    pub security_opt: Vec<String>,
    #[serde(default, skip_serializing_if = "UnitBytes::is_zero")]
    pub shm_size: UnitBytes,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "de::bool"
    )]
    pub stdin_open: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_grace_period: Option<Duration>,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub stop_signal: String,
    #[serde(
        default,
        skip_serializing_if = "is_empty_map",
        deserialize_with = "de::options"
    )]
    pub storage_opt: Opts,
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub sysctls: Mapping,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::string_list"
    )]
    pub tmpfs: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "de::bool"
    )]
    pub tty: bool,
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub ulimits: BTreeMap<String, Ulimit>,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "de::bool"
    )]
    pub use_api_socket: bool,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub user: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub userns_mode: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub uts: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub volume_driver: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<ServiceVolumeConfig>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::strings"
    )]
    pub volumes_from: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub working_dir: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_start: Vec<ServiceHook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_stop: Vec<ServiceHook>,
}

impl ServiceConfig {
    /// `scale`, else `deploy.replicas`, else 1.
    pub fn get_scale(&self) -> i64 {
        self.scale
            .or_else(|| self.deploy.as_ref().and_then(|d| d.replicas))
            .unwrap_or(1)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildConfig {
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub context: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub dockerfile: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub dockerfile_inline: String,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::strings"
    )]
    pub entitlements: Vec<String>,
    #[serde(default, skip_serializing_if = "MappingWithEquals::is_empty")]
    pub args: MappingWithEquals,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub provenance: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub sbom: String,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::ssh"
    )]
    pub ssh: Vec<SshKey>,
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::string_list"
    )]
    pub cache_from: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::string_list"
    )]
    pub cache_to: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "de::bool"
    )]
    pub no_cache: bool,
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub additional_contexts: Mapping,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "de::bool"
    )]
    pub pull: bool,
    #[serde(default, skip_serializing_if = "HostsList::is_empty")]
    pub extra_hosts: HostsList,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub isolation: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub network: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub target: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<FileReferenceConfig>,
    #[serde(default, skip_serializing_if = "UnitBytes::is_zero")]
    pub shm_size: UnitBytes,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::string_list"
    )]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub ulimits: BTreeMap<String, Ulimit>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::string_list"
    )]
    pub platforms: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "de::bool"
    )]
    pub privileged: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevelopConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub watch: Vec<Trigger>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    #[serde(default, deserialize_with = "de::string")]
    pub path: String,
    #[serde(default, deserialize_with = "de::string")]
    pub action: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub target: String,
    #[serde(default)]
    pub exec: ServiceHook,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::strings"
    )]
    pub include: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::strings"
    )]
    pub ignore: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "de::bool"
    )]
    pub initial_sync: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceHook {
    #[serde(default)]
    pub command: ShellCommand,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub user: String,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "de::bool"
    )]
    pub privileged: bool,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub working_dir: String,
    #[serde(default, skip_serializing_if = "MappingWithEquals::is_empty")]
    pub environment: MappingWithEquals,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlkioConfig {
    #[serde(
        default,
        skip_serializing_if = "is_zero_u64",
        deserialize_with = "de::u64"
    )]
    pub weight: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weight_device: Vec<WeightDevice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_read_bps: Vec<ThrottleDevice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_read_iops: Vec<ThrottleDevice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_write_bps: Vec<ThrottleDevice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_write_iops: Vec<ThrottleDevice>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WeightDevice {
    #[serde(rename(serialize = "Path"), default, deserialize_with = "de::string")]
    pub path: String,
    #[serde(rename(serialize = "Weight"), default, deserialize_with = "de::u64")]
    pub weight: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ThrottleDevice {
    #[serde(rename(serialize = "Path"), default, deserialize_with = "de::string")]
    pub path: String,
    #[serde(rename(serialize = "Rate"), default)]
    pub rate: UnitBytes,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceMapping {
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub source: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub target: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub permissions: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingConfig {
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub driver: String,
    #[serde(
        default,
        skip_serializing_if = "is_empty_map",
        deserialize_with = "de::options"
    )]
    pub options: Opts,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployConfig {
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub mode: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_i64"
    )]
    pub replicas: Option<i64>,
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_config: Option<UpdateConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_config: Option<UpdateConfig>,
    #[serde(default)]
    pub resources: Resources,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    #[serde(default)]
    pub placement: Placement,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub endpoint_mode: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateConfig {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_u64"
    )]
    pub parallelism: Option<u64>,
    #[serde(default, skip_serializing_if = "Duration::is_zero")]
    pub delay: Duration,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub failure_action: String,
    #[serde(default, skip_serializing_if = "Duration::is_zero")]
    pub monitor: Duration,
    #[serde(
        default,
        skip_serializing_if = "is_zero_f32",
        deserialize_with = "de::f32"
    )]
    pub max_failure_ratio: f32,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub order: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Resource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservations: Option<Resource>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    #[serde(
        default,
        skip_serializing_if = "is_zero_f32",
        deserialize_with = "de::f32"
    )]
    pub cpus: f32,
    #[serde(default, skip_serializing_if = "UnitBytes::is_zero")]
    pub memory: UnitBytes,
    #[serde(
        default,
        skip_serializing_if = "is_zero_i64",
        deserialize_with = "de::i64"
    )]
    pub pids: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceRequest>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generic_resources: Vec<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceRequest {
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::strings"
    )]
    pub capabilities: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub driver: String,
    #[serde(default, skip_serializing_if = "DeviceCount::is_zero")]
    pub count: DeviceCount,
    #[serde(
        default,
        rename = "device_ids",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::strings"
    )]
    pub ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub options: Mapping,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartPolicy {
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub condition: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Duration>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_u64"
    )]
    pub max_attempts: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Duration>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::strings"
    )]
    pub constraints: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preferences: Vec<PlacementPreferences>,
    #[serde(
        default,
        rename = "max_replicas_per_node",
        skip_serializing_if = "is_zero_u64",
        deserialize_with = "de::u64"
    )]
    pub max_replicas: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlacementPreferences {
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub spread: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceNetworkConfig {
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::strings"
    )]
    pub aliases: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "is_empty_map",
        deserialize_with = "de::options"
    )]
    pub driver_opts: Opts,
    #[serde(
        default,
        rename = "gw_priority",
        skip_serializing_if = "is_zero_i64",
        deserialize_with = "de::i64"
    )]
    pub gateway_priority: i64,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub interface_name: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub ipv4_address: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub ipv6_address: String,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::strings"
    )]
    pub link_local_ips: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub mac_address: String,
    #[serde(
        default,
        skip_serializing_if = "is_zero_i64",
        deserialize_with = "de::i64"
    )]
    pub priority: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceModelConfig {
    #[serde(
        default,
        rename = "endpoint_var",
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub endpoint_variable: String,
    #[serde(
        default,
        rename = "model_var",
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub model_variable: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicePortConfig {
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub name: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub mode: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub host_ip: String,
    #[serde(
        default,
        skip_serializing_if = "is_zero_u64",
        deserialize_with = "de::u64"
    )]
    pub target: u64,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub published: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub protocol: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub app_protocol: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceVolumeConfig {
    #[serde(
        default,
        rename = "type",
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub kind: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub source: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub target: String,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "de::bool"
    )]
    pub read_only: bool,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub consistency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<ServiceVolumeBind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<ServiceVolumeVolume>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<ServiceVolumeTmpfs>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ServiceVolumeImage>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceVolumeBind {
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub selinux: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub propagation: String,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "de::bool"
    )]
    pub create_host_path: bool,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub recursive: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceVolumeVolume {
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub labels: Mapping,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "de::bool"
    )]
    pub nocopy: bool,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub subpath: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceVolumeTmpfs {
    #[serde(default, skip_serializing_if = "UnitBytes::is_zero")]
    pub size: UnitBytes,
    #[serde(
        default,
        skip_serializing_if = "is_zero_u64",
        deserialize_with = "de::u64"
    )]
    pub mode: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceVolumeImage {
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub subpath: String,
}

/// A service's `secrets` / `configs` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileReferenceConfig {
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub source: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub target: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub uid: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub gid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<FileMode>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialSpecConfig {
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub config: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub file: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub registry: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceDependency {
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub condition: String,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "de::bool"
    )]
    pub restart: bool,
    #[serde(default, deserialize_with = "de::bool")]
    pub required: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtendsConfig {
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub file: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub service: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceProviderConfig {
    #[serde(
        default,
        rename = "type",
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub kind: String,
    #[serde(
        default,
        skip_serializing_if = "is_empty_map",
        deserialize_with = "de::multi_options"
    )]
    pub options: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckConfig {
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::healthcheck_test"
    )]
    pub test: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_u64"
    )]
    pub retries: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<Duration>,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "de::bool"
    )]
    pub disable: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub name: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub driver: String,
    #[serde(
        default,
        skip_serializing_if = "is_empty_map",
        deserialize_with = "de::options"
    )]
    pub driver_opts: Opts,
    #[serde(default)]
    pub ipam: IpamConfig,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "de::bool"
    )]
    pub external: bool,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "de::bool"
    )]
    pub internal: bool,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "de::bool"
    )]
    pub attachable: bool,
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_bool"
    )]
    pub enable_ipv4: Option<bool>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_bool"
    )]
    pub enable_ipv6: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpamConfig {
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub driver: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<IpamPool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpamPool {
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub subnet: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub gateway: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub ip_range: String,
    #[serde(
        default,
        rename = "aux_addresses",
        skip_serializing_if = "Mapping::is_empty"
    )]
    pub auxiliary_addresses: Mapping,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeConfig {
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub name: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub driver: String,
    #[serde(
        default,
        skip_serializing_if = "is_empty_map",
        deserialize_with = "de::options"
    )]
    pub driver_opts: Opts,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "de::bool"
    )]
    pub external: bool,
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
}

/// A top-level secret or config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileObjectConfig {
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub name: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub file: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub environment: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub content: String,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "de::bool"
    )]
    pub external: bool,
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub driver: String,
    #[serde(
        default,
        skip_serializing_if = "is_empty_map",
        deserialize_with = "de::options"
    )]
    pub driver_opts: Opts,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub template_driver: String,
}

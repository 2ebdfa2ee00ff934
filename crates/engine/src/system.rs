//! What the system commands report, as typed results in the Docker Engine
//! API's shapes: [`Version`] (`GET /version`, `berth version`), [`Info`]
//! (`GET /info`, `berth info`) and [`DiskUsage`] (`GET /system/df`,
//! `berth system df`). The rules (what is active, what is reclaimable,
//! which containers count as running) live here; faces only format.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::volumes::Volume;
use crate::{Engine, Result, Status, Summary};

/// Berth's version (the workspace's).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The Docker Engine API version whose shapes the results follow (docker
/// 28's).
pub const API_VERSION: &str = "1.50";
/// The oldest API version a client may ask for (docker 28's minimum).
pub const MIN_API_VERSION: &str = "1.24";
/// The built-in OCI runtime, the default.
pub const DEFAULT_RUNTIME: &str = "berth-oci";

/// `platform.Name` of `/version`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PlatformInfo {
    pub name: String,
}

/// One component of the server (`Components` of `/version`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ComponentVersion {
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, String>,
}

/// `GET /version`: the engine's versions. `GoVersion` holds the Rust
/// compiler's (`rustc 1.86.0 (...)`); `GitCommit` and `BuildTime` are
/// what the build recorded (`BERTH_GIT_COMMIT`, `BERTH_BUILD_TIME` at
/// compile time), empty otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Version {
    pub platform: PlatformInfo,
    pub components: Vec<ComponentVersion>,
    pub version: String,
    #[serde(rename = "ApiVersion")]
    pub api_version: String,
    #[serde(rename = "MinAPIVersion")]
    pub min_api_version: String,
    pub git_commit: String,
    pub go_version: String,
    pub os: String,
    pub arch: String,
    #[serde(default)]
    pub kernel_version: String,
    #[serde(default)]
    pub experimental: bool,
    pub build_time: String,
}

/// Go's GOARCH of this build (`amd64`, `arm64`...), as docker names it.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "loongarch64" => "loong64",
        a => a,
    }
}

/// One line of a /proc file, trimmed ("" when unreadable).
fn proc_line(p: &str) -> String {
    std::fs::read_to_string(p)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The running kernel's release (`uname -r`).
pub fn kernel_version() -> String {
    proc_line("/proc/sys/kernel/osrelease")
}

/// The compiler this build used.
pub fn rust_version() -> &'static str {
    env!("BERTH_RUSTC_VERSION")
}

/// `GET /version` (needs no store: the engine is this program).
pub fn version() -> Version {
    let git = option_env!("BERTH_GIT_COMMIT").unwrap_or("").to_string();
    let built = option_env!("BERTH_BUILD_TIME").unwrap_or("").to_string();
    let kernel = kernel_version();
    let details: BTreeMap<String, String> = [
        ("ApiVersion", API_VERSION),
        ("Arch", go_arch()),
        ("BuildTime", &built),
        ("Experimental", "false"),
        ("GitCommit", &git),
        ("GoVersion", rust_version()),
        ("KernelVersion", &kernel),
        ("MinAPIVersion", MIN_API_VERSION),
        ("Os", std::env::consts::OS),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    Version {
        platform: PlatformInfo {
            name: "Berth".into(),
        },
        components: vec![
            ComponentVersion {
                name: "Engine".into(),
                version: VERSION.into(),
                details,
            },
            ComponentVersion {
                name: DEFAULT_RUNTIME.into(),
                version: VERSION.into(),
                details: [("GitCommit".to_string(), git.clone())].into(),
            },
        ],
        version: VERSION.into(),
        api_version: API_VERSION.into(),
        min_api_version: MIN_API_VERSION.into(),
        git_commit: git,
        go_version: rust_version().into(),
        os: std::env::consts::OS.into(),
        arch: go_arch().into(),
        kernel_version: kernel,
        experimental: false,
        build_time: built,
    }
}

/// `Plugins` of `/info`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PluginsInfo {
    pub volume: Vec<String>,
    pub network: Vec<String>,
    pub authorization: Option<Vec<String>>,
    pub log: Vec<String>,
}

/// A runtime of `Runtimes` in `/info`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeInfo {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
}

/// `Swarm` of `/info`: Berth has no swarm mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SwarmInfo {
    #[serde(rename = "NodeID")]
    pub node_id: String,
    pub node_addr: String,
    pub local_node_state: String,
    pub control_available: bool,
    pub error: String,
    pub remote_managers: Option<Vec<String>>,
}

impl Default for SwarmInfo {
    fn default() -> SwarmInfo {
        SwarmInfo {
            node_id: String::new(),
            node_addr: String::new(),
            local_node_state: "inactive".into(),
            control_available: false,
            error: String::new(),
            remote_managers: None,
        }
    }
}

/// A commit of a component (`ContainerdCommit`, `RuncCommit`, `InitCommit`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Commit {
    #[serde(rename = "ID")]
    pub id: String,
}

/// `GET /info`: the fields of docker's `system.Info` that apply to a
/// daemonless engine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Info {
    #[serde(rename = "ID")]
    pub id: String,
    pub containers: u64,
    pub containers_running: u64,
    pub containers_paused: u64,
    pub containers_stopped: u64,
    pub images: u64,
    pub driver: String,
    pub driver_status: Vec<[String; 2]>,
    pub plugins: PluginsInfo,
    pub memory_limit: bool,
    pub swap_limit: bool,
    pub cpu_cfs_period: bool,
    pub cpu_cfs_quota: bool,
    #[serde(rename = "CPUShares")]
    pub cpu_shares: bool,
    #[serde(rename = "CPUSet")]
    pub cpu_set: bool,
    pub pids_limit: bool,
    #[serde(rename = "IPv4Forwarding")]
    pub ipv4_forwarding: bool,
    pub debug: bool,
    pub oom_kill_disable: bool,
    pub system_time: String,
    pub logging_driver: String,
    pub cgroup_driver: String,
    pub cgroup_version: String,
    pub kernel_version: String,
    pub operating_system: String,
    #[serde(rename = "OSVersion")]
    pub os_version: String,
    #[serde(rename = "OSType")]
    pub os_type: String,
    pub architecture: String,
    pub index_server_address: String,
    #[serde(rename = "NCPU")]
    pub ncpu: u64,
    pub mem_total: u64,
    pub docker_root_dir: String,
    #[serde(rename = "HttpProxy")]
    pub http_proxy: String,
    #[serde(rename = "HttpsProxy")]
    pub https_proxy: String,
    pub no_proxy: String,
    pub name: String,
    pub labels: Vec<String>,
    pub experimental_build: bool,
    pub server_version: String,
    pub runtimes: BTreeMap<String, RuntimeInfo>,
    pub default_runtime: String,
    pub swarm: SwarmInfo,
    pub live_restore_enabled: bool,
    pub isolation: String,
    pub init_binary: String,
    pub containerd_commit: Commit,
    pub runc_commit: Commit,
    pub init_commit: Commit,
    pub security_options: Vec<String>,
    pub warnings: Vec<String>,
}

/// Running, paused and stopped counts as docker's daemon keeps them: a
/// restarting container runs, a paused one is paused, the rest stopped.
pub fn state_counts(states: impl IntoIterator<Item = Status>) -> (u64, u64, u64) {
    let (mut running, mut paused, mut stopped) = (0, 0, 0);
    for s in states {
        match s {
            Status::Running | Status::Restarting => running += 1,
            Status::Paused => paused += 1,
            _ => stopped += 1,
        }
    }
    (running, paused, stopped)
}

/// `PRETTY_NAME` and `VERSION_ID` of os-release.
fn os_release() -> (String, String) {
    let text = std::fs::read_to_string("/etc/os-release")
        .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
        .unwrap_or_default();
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
            .map(|v| v.trim().trim_matches('"').to_string())
            .unwrap_or_default()
    };
    let pretty = field("PRETTY_NAME");
    (
        if pretty.is_empty() {
            "Linux".into()
        } else {
            pretty
        },
        field("VERSION_ID"),
    )
}

/// MemTotal of /proc/meminfo in bytes.
fn mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            let l = t.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kb: u64 = l.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb * 1024)
        })
        .unwrap_or(0)
}

/// CPUs this process may run on (Go's runtime.NumCPU).
fn ncpu() -> u64 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u64)
}

/// Where a runtime binary is on `$PATH`.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The security options every container gets, in docker's `key=value`
/// list form: the seccomp profile (`builtin`, or the file replacing it),
/// a private cgroup namespace, and rootless when not root.
pub fn security_options() -> Vec<String> {
    let profile = match crate::seccomp::override_path() {
        Some(p) => p.display().to_string(),
        None => "builtin".into(),
    };
    let mut v = vec![
        format!("name=seccomp,profile={profile}"),
        "name=cgroupns".into(),
    ];
    if !nix::unistd::geteuid().is_root() {
        v.push("name=rootless".into());
    }
    v
}

impl Engine {
    /// This store's engine id: a random UUID kept in `engine-id` under the
    /// root, made on first use (docker's daemon ID).
    pub fn engine_id(&self) -> Result<String> {
        let p = self.root().join("engine-id");
        if let Ok(s) = std::fs::read_to_string(&p) {
            let s = s.trim();
            if !s.is_empty() {
                return Ok(s.to_string());
            }
        }
        let h = crate::fsutil::random_id()?;
        let id = format!(
            "{}-{}-4{}-{:x}{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            8 | (u8::from_str_radix(&h[16..17], 16).unwrap_or(0) & 3),
            &h[17..20],
            &h[20..32]
        );
        // Two first callers may race: the one whose file is there wins.
        let _l = crate::fsutil::FileLock::exclusive(&self.root().join("engine-id.lock"))?;
        if let Ok(s) = std::fs::read_to_string(&p) {
            if !s.trim().is_empty() {
                return Ok(s.trim().to_string());
            }
        }
        crate::fsutil::write_atomic(&p, format!("{id}\n").as_bytes())?;
        Ok(id)
    }

    /// `GET /info`.
    pub fn info(&self) -> Result<Info> {
        let list = self.list(true)?;
        let (running, paused, stopped) = state_counts(list.iter().map(|s| s.state));
        let images = self.images().list()?.len() as u64;
        let (os, os_version) = os_release();
        let cgroup2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        let mut runtimes = BTreeMap::new();
        runtimes.insert(DEFAULT_RUNTIME.to_string(), RuntimeInfo::default());
        for r in ["runc", "crun"] {
            if let Some(p) = which(r) {
                runtimes.insert(
                    r.to_string(),
                    RuntimeInfo {
                        path: p.display().to_string(),
                    },
                );
            }
        }
        let env = |k: &str| {
            std::env::var(k)
                .or_else(|_| std::env::var(k.to_ascii_lowercase()))
                .unwrap_or_default()
        };
        let mut warnings = Vec::new();
        let forwarding = proc_line("/proc/sys/net/ipv4/ip_forward") == "1";
        if !forwarding {
            warnings.push("WARNING: IPv4 forwarding is disabled".to_string());
        }
        Ok(Info {
            id: self.engine_id()?,
            containers: list.len() as u64,
            containers_running: running,
            containers_paused: paused,
            containers_stopped: stopped,
            images,
            driver: "overlay2".into(),
            driver_status: vec![
                ["Backing Filesystem".into(), backing_fs(self.root())],
                ["Supports d_type".into(), "true".into()],
                ["Using metacopy".into(), "false".into()],
                ["Native Overlay Diff".into(), "true".into()],
                ["userxattr".into(), "false".into()],
            ],
            plugins: PluginsInfo {
                volume: vec!["local".into()],
                network: vec!["bridge".into(), "host".into(), "none".into()],
                authorization: None,
                log: vec!["json-file".into()],
            },
            memory_limit: true,
            swap_limit: true,
            cpu_cfs_period: true,
            cpu_cfs_quota: true,
            cpu_shares: true,
            cpu_set: true,
            pids_limit: true,
            ipv4_forwarding: forwarding,
            debug: false,
            oom_kill_disable: !cgroup2,
            system_time: berth_util::time::now(),
            logging_driver: "json-file".into(),
            cgroup_driver: "cgroupfs".into(),
            cgroup_version: if cgroup2 { "2" } else { "1" }.into(),
            kernel_version: kernel_version(),
            operating_system: os,
            os_version,
            os_type: std::env::consts::OS.into(),
            architecture: std::env::consts::ARCH.into(),
            index_server_address: "https://index.docker.io/v1/".into(),
            ncpu: ncpu(),
            mem_total: mem_total(),
            docker_root_dir: self.root().display().to_string(),
            http_proxy: env("HTTP_PROXY"),
            https_proxy: env("HTTPS_PROXY"),
            no_proxy: env("NO_PROXY"),
            name: proc_line("/proc/sys/kernel/hostname"),
            labels: Vec::new(),
            experimental_build: false,
            server_version: VERSION.into(),
            runtimes,
            default_runtime: DEFAULT_RUNTIME.into(),
            swarm: SwarmInfo::default(),
            live_restore_enabled: false,
            isolation: String::new(),
            init_binary: "berth-init".into(),
            containerd_commit: Commit::default(),
            runc_commit: Commit::default(),
            init_commit: Commit::default(),
            security_options: security_options(),
            warnings,
        })
    }
}

/// docker's name for the filesystem under the store (`extfs`, `xfs`...).
fn backing_fs(root: &Path) -> String {
    let Ok(st) = rustix::fs::statfs(root) else {
        return "<unknown>".into();
    };
    // f_type's type differs between architectures.
    #[allow(clippy::unnecessary_cast)]
    let kind = st.f_type as i64;
    match kind {
        0xEF53 => "extfs",
        0x5846_5342 => "xfs",
        0x9123_683E => "btrfs",
        0x0102_1994 => "tmpfs",
        0x794C_7630 => "overlayfs",
        0x2FC1_2FC1 => "zfs",
        0xF2F5_2010 => "f2fs",
        _ => "<unknown>",
    }
    .into()
}

// ---- system df -----------------------------------------------------------

/// Totals of one kind of object (API 1.52's `ImageUsage`,
/// `ContainerUsage`, `VolumeUsage`, `BuildCacheUsage`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UsageSummary {
    pub active_count: u64,
    pub total_count: u64,
    /// Bytes (for images: of their layers, each counted once).
    pub total_size: u64,
    /// Bytes that removing what is not active would free.
    pub reclaimable: u64,
}

/// An image in `/system/df` (docker's `image.Summary`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageUsage {
    /// `sha256:<hex>`.
    pub id: String,
    pub parent_id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    /// Unix seconds (0 when unknown).
    pub created: i64,
    /// Bytes of its layers.
    pub size: u64,
    /// Bytes of its layers that other images use too.
    pub shared_size: u64,
    pub labels: BTreeMap<String, String>,
    /// Containers (running or not) created from it.
    pub containers: u64,
}

/// A container in `/system/df`: its `ps` entry with its sizes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerUsage {
    #[serde(flatten)]
    pub summary: Summary,
    /// `sha256:<hex>` of its image.
    #[serde(rename = "ImageID")]
    pub image_id: String,
    /// Bytes written in its layer.
    pub size_rw: u64,
    /// That plus its image's layers.
    pub size_root_fs: u64,
}

/// `UsageData` of a volume.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeUsageData {
    pub size: u64,
    pub ref_count: u64,
}

/// A volume in `/system/df`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeUsage {
    #[serde(flatten)]
    pub volume: Volume,
    pub usage_data: VolumeUsageData,
}

/// A build cache record (`build_run::prune`'s, in docker's shape).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BuildCacheRecord {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Type")]
    pub kind: String,
    pub size: u64,
    pub in_use: bool,
    pub shared: bool,
    pub usage_count: u64,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

/// `GET /system/df`: the objects with their sizes, and per kind the
/// totals docker's `system df` prints (API 1.52's `*Usage`, computed here
/// by docker's rules).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DiskUsage {
    /// Bytes of all images' layers, each counted once.
    pub layers_size: u64,
    pub images: Vec<ImageUsage>,
    pub containers: Vec<ContainerUsage>,
    pub volumes: Vec<VolumeUsage>,
    pub build_cache: Vec<BuildCacheRecord>,
    pub image_usage: UsageSummary,
    pub container_usage: UsageSummary,
    pub volume_usage: UsageSummary,
    pub build_cache_usage: UsageSummary,
}

impl DiskUsage {
    /// The totals from the objects, by docker's rules:
    /// - images: active if a container (in any state) uses it; the size is
    ///   the layers counted once; reclaimable is that less, for each active
    ///   image, its layers no other image shares;
    /// - containers: active if running, paused or restarting; the size is
    ///   their layers' bytes; reclaimable is the inactive ones';
    /// - volumes: active if a container mounts it; reclaimable is the size
    ///   of the others;
    /// - build cache: active if in use; its reclaimable bytes are the
    ///   builder's to say (`build_run::prune::disk_usage`: what `builder
    ///   prune` without `-a` removes), none here.
    pub fn summarize(&mut self) {
        let active_images = self.images.iter().filter(|i| i.containers > 0);
        let used: u64 = active_images
            .clone()
            .map(|i| i.size.saturating_sub(i.shared_size))
            .sum();
        self.image_usage = UsageSummary {
            active_count: active_images.count() as u64,
            total_count: self.images.len() as u64,
            total_size: self.layers_size,
            reclaimable: self.layers_size.saturating_sub(used),
        };
        let active = Status::is_active;
        self.container_usage = UsageSummary {
            active_count: self
                .containers
                .iter()
                .filter(|c| active(c.summary.state))
                .count() as u64,
            total_count: self.containers.len() as u64,
            total_size: self.containers.iter().map(|c| c.size_rw).sum(),
            reclaimable: self
                .containers
                .iter()
                .filter(|c| !active(c.summary.state))
                .map(|c| c.size_rw)
                .sum(),
        };
        self.volume_usage = UsageSummary {
            active_count: self
                .volumes
                .iter()
                .filter(|v| v.usage_data.ref_count > 0)
                .count() as u64,
            total_count: self.volumes.len() as u64,
            total_size: self.volumes.iter().map(|v| v.usage_data.size).sum(),
            reclaimable: self
                .volumes
                .iter()
                .filter(|v| v.usage_data.ref_count == 0)
                .map(|v| v.usage_data.size)
                .sum(),
        };
        self.build_cache_usage = UsageSummary {
            active_count: self.build_cache.iter().filter(|b| b.in_use).count() as u64,
            total_count: self.build_cache.len() as u64,
            total_size: self.build_cache.iter().map(|b| b.size).sum(),
            reclaimable: 0,
        };
    }
}

impl Engine {
    /// `GET /system/df`: every image, container and volume with its size.
    pub fn disk_usage(&self) -> Result<DiskUsage> {
        let store = self.images();
        let infos = store.list()?;
        // Containers first: images count the containers made from them.
        let list = self.list(true)?;
        let mut configs = HashMap::new();
        for s in &list {
            if let Ok(c) = self.load_config(&s.id) {
                configs.insert(s.id.clone(), c);
            }
        }
        let mut by_image: HashMap<&str, u64> = HashMap::new();
        for c in configs.values() {
            *by_image.entry(c.image.as_str()).or_default() += 1;
        }
        // Layers (by chain id) with their size and how many images use them.
        let mut layers: HashMap<image::ChainId, (u64, u64)> = HashMap::new();
        let mut image_layers = Vec::with_capacity(infos.len());
        for info in &infos {
            let chains = info.record.chain_ids();
            let mut mine = Vec::new();
            for (c, l) in chains.iter().zip(&info.record.layers) {
                let size = store.snapshots().meta(c).map_or(l.size, |m| m.size);
                let e = layers.entry(c.clone()).or_insert((size, 0));
                e.1 += 1;
                mine.push(c.clone());
            }
            image_layers.push(mine);
        }
        let mut du = DiskUsage {
            layers_size: layers.values().map(|(s, _)| s).sum(),
            ..DiskUsage::default()
        };
        let mut image_sizes: HashMap<String, u64> = HashMap::new();
        for (info, mine) in infos.iter().zip(&image_layers) {
            let size = mine.iter().map(|c| layers[c].0).sum();
            let shared = mine
                .iter()
                .filter(|c| layers[*c].1 > 1)
                .map(|c| layers[c].0)
                .sum();
            let id = info.record.id.to_string();
            image_sizes.insert(id.clone(), size);
            let labels = store
                .config(&info.record)
                .ok()
                .and_then(|c| c.config)
                .map(|c| c.labels)
                .unwrap_or_default();
            du.images.push(ImageUsage {
                containers: by_image.get(id.as_str()).copied().unwrap_or(0),
                id,
                parent_id: String::new(),
                repo_tags: info.repo_tags.iter().map(|r| r.to_string()).collect(),
                repo_digests: info.repo_digests.iter().map(|r| r.to_string()).collect(),
                created: info
                    .record
                    .created
                    .as_deref()
                    .and_then(berth_util::time::parse_unix)
                    .map_or(0, |(s, _)| s),
                size,
                shared_size: shared,
                labels,
            });
        }
        for s in list {
            let (image_id, rw) = match configs.get(&s.id) {
                Some(c) => (
                    c.image.clone(),
                    crate::volumes::dir_size(&self.container_dir(&s.id).join("upper")),
                ),
                None => (String::new(), 0),
            };
            let image = image_sizes.get(&image_id).copied().unwrap_or(0);
            du.containers.push(ContainerUsage {
                summary: s,
                image_id,
                size_rw: rw,
                size_root_fs: rw + image,
            });
        }
        let users = self.volume_users()?;
        for v in self.list_volumes()? {
            let size = crate::volumes::dir_size(&self.volume_data_path(&v.name));
            let refs = users.get(&v.name).map_or(0, |u| u.len() as u64);
            du.volumes.push(VolumeUsage {
                volume: v,
                usage_data: VolumeUsageData {
                    size,
                    ref_count: refs,
                },
            });
        }
        du.summarize();
        Ok(du)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_in_docker_shape() {
        let v = version();
        let j = serde_json::to_value(&v).unwrap();
        for k in [
            "Platform",
            "Components",
            "Version",
            "ApiVersion",
            "MinAPIVersion",
            "GitCommit",
            "GoVersion",
            "Os",
            "Arch",
            "KernelVersion",
            "BuildTime",
        ] {
            assert!(j.get(k).is_some(), "{k} missing: {j}");
        }
        assert_eq!(j["Components"][0]["Name"], "Engine");
        assert_eq!(j["Components"][0]["Details"]["ApiVersion"], API_VERSION);
        assert_eq!(j["Os"], "linux");
        assert!(v.go_version.starts_with("rustc "), "{}", v.go_version);
        assert!(!v.kernel_version.is_empty());
    }

    #[test]
    fn states_count_as_docker() {
        use Status::*;
        assert_eq!(
            state_counts([Running, Restarting, Paused, Exited, Created, Dead]),
            (2, 1, 3)
        );
    }

    fn summary(state: Status) -> Summary {
        Summary {
            id: "c".into(),
            image: String::new(),
            command: String::new(),
            created: String::new(),
            status: String::new(),
            state,
            exit_code: 0,
            names: String::new(),
            labels: BTreeMap::new(),
            mounts: Vec::new(),
            local_volumes: 0,
            networks: Vec::new(),
            image_id: String::new(),
            ports: Vec::new(),
            size_rw: None,
            size_root_fs: None,
        }
    }

    #[test]
    fn totals_follow_dockers_rules() {
        let img = |size, shared, containers| ImageUsage {
            size,
            shared_size: shared,
            containers,
            ..ImageUsage::default()
        };
        let ctr = |state, rw| ContainerUsage {
            summary: summary(state),
            image_id: String::new(),
            size_rw: rw,
            size_root_fs: rw,
        };
        let vol = |size, refs| VolumeUsage {
            volume: Volume::default(),
            usage_data: VolumeUsageData {
                size,
                ref_count: refs,
            },
        };
        // Two images sharing a 100-byte base layer; one used.
        let mut du = DiskUsage {
            layers_size: 100 + 50 + 30,
            images: vec![img(150, 100, 1), img(130, 100, 0)],
            containers: vec![ctr(Status::Running, 10), ctr(Status::Exited, 7)],
            volumes: vec![vol(36, 1), vol(12, 0)],
            ..DiskUsage::default()
        };
        du.summarize();
        assert_eq!(
            du.image_usage,
            UsageSummary {
                active_count: 1,
                total_count: 2,
                total_size: 180,
                reclaimable: 130
            }
        );
        assert_eq!(
            du.container_usage,
            UsageSummary {
                active_count: 1,
                total_count: 2,
                total_size: 17,
                reclaimable: 7
            }
        );
        assert_eq!(
            du.volume_usage,
            UsageSummary {
                active_count: 1,
                total_count: 2,
                total_size: 48,
                reclaimable: 12
            }
        );
        assert_eq!(du.build_cache_usage, UsageSummary::default());
        let j = serde_json::to_value(&du).unwrap();
        assert_eq!(j["Containers"][0]["SizeRw"], 10);
        assert_eq!(j["Containers"][0]["State"], "running");
        assert_eq!(j["Volumes"][1]["UsageData"]["RefCount"], 0);
        assert_eq!(j["ImageUsage"]["Reclaimable"], 130);
    }
}

//! From an image config and [`CreateOptions`] to the container's record and
//! OCI spec, with docker's defaults. Pure apart from reading the host's
//! /etc/resolv.conf, /etc/hosts, /dev (privileged) and kernel facts; needs
//! no root.

use crate::container::{Config, Container, HostConfig, LogConfig, MountPoint};
use crate::error::{Error, Result};
use crate::options::{self as opt, CreateOptions};
use crate::user::{self, LayerView};
use crate::{caps, seccomp};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

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

const DEFAULT_SHM: i64 = 64 * 1024 * 1024;

/// Where things live for one container.
pub struct SpecContext<'a> {
    pub id: &'a str,
    /// Mount point of the container's root filesystem.
    pub rootfs: &'a Path,
    /// Directory holding the hosts, hostname and resolv.conf files.
    pub userdata: &'a Path,
    /// The image's layers, for /etc/passwd and /etc/group.
    pub layers: &'a LayerView,
    /// Host files (tests point these elsewhere).
    pub host_resolv_conf: &'a Path,
    pub host_hosts: &'a Path,
    /// `<root>/volumes` (a volume's content is `<name>/_data`).
    pub volumes_dir: &'a Path,
}

/// The result: the record's resolved fields, the OCI spec, and the
/// contents of the userdata files.
#[derive(Debug, Clone)]
pub struct Generated {
    pub container: Container,
    pub spec: Value,
    pub hosts: String,
    pub hostname: String,
    pub resolv_conf: String,
    /// The parsed `-v`/`--mount`/image volumes (for creating volumes).
    pub mount_specs: Vec<crate::volumes::Mount>,
}

/// `ReplaceOrAppendEnvValues`: `overrides` replace same-named entries of
/// `defaults`; a bare `KEY` removes it.
pub fn replace_or_append_env(defaults: &[String], overrides: &[String]) -> Vec<String> {
    let key = |e: &str| {
        e.split_once('=')
            .map(|x| x.0.to_string())
            .unwrap_or(e.to_string())
    };
    let mut out: Vec<String> = defaults.to_vec();
    for o in overrides {
        let k = key(o);
        if let Some(pos) = out.iter().position(|d| key(d) == k) {
            if o.contains('=') {
                out[pos] = o.clone();
            } else {
                out.remove(pos);
            }
        } else if o.contains('=') {
            out.push(o.clone());
        }
    }
    out
}

/// Docker's `merge` of user env over image env: the user's entries, then
/// the image's whose names the user did not set.
fn merge_env(image: &[String], user: &[String]) -> Vec<String> {
    if user.is_empty() {
        return image.to_vec();
    }
    let key = |e: &str| {
        e.split_once('=')
            .map(|x| x.0.to_string())
            .unwrap_or(e.to_string())
    };
    let mut out = user.to_vec();
    for e in image {
        if !user.iter().any(|u| key(u) == key(e)) {
            out.push(e.clone());
        }
    }
    out
}

fn resolv_conf(opts: &CreateOptions, host_network: bool, host_file: &Path) -> Result<String> {
    let host = std::fs::read_to_string(host_file).unwrap_or_default();
    let mut ns = Vec::new();
    let mut search: Option<String> = None;
    let mut options: Option<String> = None;
    let mut other = Vec::new();
    for l in host.lines() {
        let t = l.trim();
        if let Some(v) = t.strip_prefix("nameserver") {
            let ip = v.trim().to_string();
            let local = ip.starts_with("127.") || ip == "::1";
            if host_network || !local {
                ns.push(ip);
            }
        } else if let Some(v) = t.strip_prefix("search") {
            search = Some(v.trim().to_string());
        } else if let Some(v) = t.strip_prefix("options") {
            options = Some(v.trim().to_string());
        } else if t.starts_with("domain") {
            other.push(t.to_string());
        }
    }
    if !opts.dns.is_empty() {
        ns = opts.dns.iter().map(|d| d.to_string()).collect();
    } else if ns.is_empty() {
        ns = vec!["8.8.8.8".into(), "8.8.4.4".into()];
    }
    if !opts.dns_search.is_empty() {
        search = Some(opts.dns_search.join(" ")).filter(|s| s != ".");
    }
    if !opts.dns_options.is_empty() {
        options = Some(opts.dns_options.join(" "));
    }
    let mut out = String::new();
    for o in other {
        out.push_str(&o);
        out.push('\n');
    }
    if let Some(s) = search.filter(|s| !s.is_empty()) {
        out.push_str(&format!("search {s}\n"));
    }
    for n in ns {
        out.push_str(&format!("nameserver {n}\n"));
    }
    if let Some(o) = options.filter(|s| !s.is_empty()) {
        out.push_str(&format!("options {o}\n"));
    }
    Ok(out)
}

fn hosts_file(extra: &[opt::ExtraHost], host_network: bool, host_file: &Path) -> String {
    let mut out = if host_network {
        let mut s = std::fs::read_to_string(host_file).unwrap_or_default();
        if !s.is_empty() && !s.ends_with('\n') {
            s.push('\n');
        }
        s
    } else {
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::\tip6-localnet\nff00::\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n".to_string()
    };
    for h in extra {
        out.push_str(&format!("{}\t{}\n", h.ip, h.host));
    }
    out
}

fn host_devices() -> Vec<Value> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    const SKIP_DIRS: &[&str] = &["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"];
    const SKIP_FILES: &[&str] = &[
        "console", "null", "zero", "full", "random", "urandom", "tty", "ptmx",
    ];
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::from("/dev")];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(m) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            let ft = m.file_type();
            if ft.is_dir() {
                if !SKIP_DIRS.contains(&name.as_str()) {
                    stack.push(p);
                }
                continue;
            }
            if dir == Path::new("/dev") && SKIP_FILES.contains(&name.as_str()) {
                continue;
            }
            let kind = if ft.is_char_device() {
                "c"
            } else if ft.is_block_device() {
                "b"
            } else {
                continue;
            };
            let rdev = m.rdev();
            out.push(json!({
                "type": kind,
                "path": p.to_string_lossy(),
                "major": libc::major(rdev) as i64,
                "minor": libc::minor(rdev) as i64,
                "fileMode": m.mode() & 0o777,
                "uid": m.uid(),
                "gid": m.gid(),
            }));
        }
    }
    out.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
    out
}

/// The device nodes and cgroup rules of one `--device`: the node, or
/// every node under a directory (its path in the container under the
/// given one).
fn device_nodes(d: &opt::DeviceMapping) -> Result<Vec<(Value, Value)>> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let flag = format!("{}:{}", d.path_on_host, d.path_in_container);
    let bad = |why: String| Error::flag("--device", &flag, why);
    let meta = std::fs::metadata(&d.path_on_host)
        .map_err(|e| bad(format!("cannot stat {}: {e}", d.path_on_host)))?;
    let mut found = Vec::new();
    let mut stack = vec![(PathBuf::from(&d.path_on_host), meta)];
    while let Some((p, m)) = stack.pop() {
        let ft = m.file_type();
        if ft.is_dir() {
            let rd = std::fs::read_dir(&p).map_err(|e| bad(format!("{}: {e}", p.display())))?;
            for e in rd.flatten() {
                if let Ok(m) = std::fs::metadata(e.path()) {
                    stack.push((e.path(), m));
                }
            }
            continue;
        }
        let kind = if ft.is_char_device() {
            "c"
        } else if ft.is_block_device() {
            "b"
        } else {
            continue;
        };
        let rel = p.strip_prefix(&d.path_on_host).unwrap_or(Path::new(""));
        let inner = if rel.as_os_str().is_empty() {
            PathBuf::from(&d.path_in_container)
        } else {
            Path::new(&d.path_in_container).join(rel)
        };
        let (major, minor) = (libc::major(m.rdev()) as i64, libc::minor(m.rdev()) as i64);
        found.push((
            json!({"type": kind, "path": inner, "major": major, "minor": minor,
                   "fileMode": m.mode() & 0o777, "uid": m.uid(), "gid": m.gid()}),
            json!({"allow": true, "type": kind, "major": major, "minor": minor,
                   "access": d.cgroup_permissions}),
        ));
    }
    if found.is_empty() {
        return Err(bad(format!("{} is not a device", d.path_on_host)));
    }
    found.sort_by(|a, b| a.0["path"].as_str().cmp(&b.0["path"].as_str()));
    Ok(found)
}

/// `--cpuset-cpus`/`--cpuset-mems` within what the host has online
/// (docker's "Requested CPUs are not available").
fn check_cpuset(flag: &str, want: &str, online: &str) -> Result<()> {
    let Ok(have) = std::fs::read_to_string(online) else {
        return Ok(());
    };
    let have = have.trim();
    let set = |s: &str| -> Vec<u32> {
        s.split(',')
            .filter_map(|r| {
                let (a, b) = r.split_once('-').unwrap_or((r, r));
                Some((a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?))
            })
            .flat_map(|(a, b)| a..=b)
            .collect()
    };
    let avail = set(have);
    if set(want).iter().any(|c| !avail.contains(c)) {
        return Err(Error::flag(
            flag,
            want,
            format!("not available: the host has {have}"),
        ));
    }
    Ok(())
}

/// The container's sysctls: docker's defaults for a private network
/// namespace, then `--sysctl`, each allowed only in a namespace of the
/// container's own (docker's rules: `net.*` needs a private network
/// namespace, the IPC ones a private IPC namespace).
fn sysctls(opts: &CreateOptions, host_network: bool) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    if !host_network {
        out.insert("net.ipv4.ip_unprivileged_port_start".into(), "0".into());
        out.insert("net.ipv4.ping_group_range".into(), "0 2147483647".into());
    }
    let shared_net = host_network
        || opts
            .network_mode
            .as_deref()
            .is_some_and(|n| n.starts_with("container:"));
    for (k, v) in &opts.sysctls {
        let kv = format!("{k}={v}");
        match opt::sysctl_namespace(k) {
            Some("net") if shared_net => {
                return Err(Error::flag(
                    "--sysctl",
                    &kv,
                    "net.* sysctls are not allowed when the network namespace is shared (--network host or container:)",
                ))
            }
            Some("ipc")
                if matches!(
                    opts.ipc_mode,
                    opt::NamespaceMode::Host | opt::NamespaceMode::Container(_)
                ) =>
            {
                return Err(Error::flag(
                    "--sysctl",
                    &kv,
                    "IPC sysctls are not allowed when the IPC namespace is shared (--ipc host or container:)",
                ))
            }
            Some(_) => {}
            None => return Err(Error::flag("--sysctl", &kv, "not a namespaced sysctl")),
        }
        out.insert(k.clone(), v.clone());
    }
    Ok(out)
}

fn swap_supported() -> bool {
    let v1 = Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists();
    if v1 {
        Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists()
    } else {
        true
    }
}

/// Builds the container record (id, name, created and image fields are
/// left to the caller) and the OCI spec.
pub fn generate(
    opts: &CreateOptions,
    image: &image::manifest::ContainerConfig,
    ctx: &SpecContext,
) -> Result<Generated> {
    // Modes other than host are validated by crate::network::prepare.
    let net_mode = crate::network::Mode::parse(opts.network_mode.as_deref());
    let host_network = net_mode == crate::network::Mode::Host;
    // Environment and command.
    let env = merge_env(&image.env, &opts.env);
    let hostname = match &opts.hostname {
        Some(h) => h.clone(),
        None if host_network => nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| crate::fsutil::short_id(ctx.id).to_string()),
        None => crate::fsutil::short_id(ctx.id).to_string(),
    };
    let process_env = replace_or_append_env(
        &[
            format!("PATH={DEFAULT_PATH}"),
            format!("HOSTNAME={hostname}"),
        ],
        &env,
    );
    let user_entrypoint: Option<Vec<String>> = opts.entrypoint.clone();
    let mut cmd: Option<Vec<String>> = (!opts.cmd.is_empty()).then(|| opts.cmd.clone());
    let mut entrypoint = user_entrypoint.clone();
    if user_entrypoint.as_ref().map_or(true, |e| e.is_empty()) {
        if cmd.is_none() {
            cmd = image.cmd.clone();
        }
        if user_entrypoint.is_none() {
            entrypoint = image.entrypoint.clone();
        }
    }
    let mut argv: Vec<String> = entrypoint.clone().unwrap_or_default();
    argv.extend(cmd.clone().unwrap_or_default());
    if argv.is_empty() {
        return Err(Error::invalid("no command specified"));
    }
    let workdir = match &opts.working_dir {
        Some(w) if !w.is_empty() => opt::parse_workdir(w)?,
        _ => image
            .working_dir
            .clone()
            .filter(|w| !w.is_empty())
            .map(|w| opt::clean_path(&w))
            .unwrap_or_default(),
    };
    // The directory the process starts in: the workdir with the image's
    // symlinks resolved inside the image (docker's FollowSymlinkInScope),
    // so the runtime creates a missing target instead of failing on the
    // link ("File exists"); the record keeps the path as given.
    let cwd = if workdir.is_empty() {
        "/".to_string()
    } else {
        ctx.layers.resolve(&workdir).path
    };
    let user_spec = opts
        .user
        .clone()
        .or_else(|| image.user.clone())
        .unwrap_or_default();
    let exec_user = user::resolve(&user_spec, &opts.group_add, ctx.layers)?;
    let mut labels: BTreeMap<String, String> = image.labels.clone();
    labels.extend(opts.labels.clone());
    let stop_signal = opts
        .stop_signal
        .clone()
        .or_else(|| image.stop_signal.clone());
    if let Some(s) = &stop_signal {
        opt::parse_signal("--stop-signal", s)?;
    }
    if let Some(t) = opts.stop_timeout.filter(|t| *t < -1) {
        return Err(Error::flag(
            "--stop-timeout",
            &t.to_string(),
            "must be -1 or more",
        ));
    }
    if opts.auto_remove && opts.restart_policy != opt::RestartPolicy::No {
        return Err(Error::invalid(
            "conflicting options: cannot specify both --restart and --rm",
        ));
    }

    // Security.
    let sec = &opts.security;
    let capabilities = caps::tweak(&opts.cap_add, &opts.cap_drop, opts.privileged)?;
    // As moby's WithSeccomp: --privileged drops the default profile, not
    // one named explicitly.
    let seccomp = match &sec.seccomp {
        opt::Seccomp::Unconfined => None,
        opt::Seccomp::Builtin => seccomp::default_for(&capabilities)?,
        opt::Seccomp::Profile(file) => seccomp::from_file(file, &capabilities).map_err(|e| {
            Error::flag("--security-opt", &format!("seccomp={}", file.display()), e)
        })?,
        opt::Seccomp::Default if opts.privileged => None,
        opt::Seccomp::Default => seccomp::default_for(&capabilities)?,
    };

    // Resources.
    let res = &opts.resources;
    let memory = res.memory;
    if memory != 0 && memory < 6 * 1024 * 1024 {
        return Err(Error::flag(
            "--memory",
            &memory.to_string(),
            "minimum memory limit allowed is 6MB",
        ));
    }
    let mut memory_swap = res.memory_swap;
    if memory_swap > 0 && memory == 0 {
        return Err(Error::invalid(
            "invalid --memory-swap: you should always set --memory with --memory-swap",
        ));
    }
    if memory_swap > 0 && memory_swap < memory {
        return Err(Error::flag(
            "--memory-swap",
            &memory_swap.to_string(),
            "must be larger than or equal to --memory",
        ));
    }
    if memory > 0 && memory_swap == 0 {
        memory_swap = memory * 2;
    }
    let nano_cpus = res.nano_cpus;
    let pids_limit = res.pids_limit.filter(|p| *p > 0);
    let ulimits = res.ulimits.clone().unwrap_or_default();
    let shm_size = opts.shm_size.unwrap_or(DEFAULT_SHM);
    let extra_hosts = &opts.extra_hosts;
    let resolv = resolv_conf(opts, host_network, ctx.host_resolv_conf)?;
    let hosts = hosts_file(extra_hosts, host_network, ctx.host_hosts);

    // Mounts: user mounts first decide which defaults stay.
    // -v, --mount and the image's VOLUMEs (anonymous volumes get a random name).
    let image_volumes: Vec<String> = image.volumes.keys().cloned().collect();
    let specs = crate::volumes::plan(&opts.binds, &opts.mounts, &opts.tmpfs, &image_volumes)?;
    crate::volumes::refuse_kernel_fs(
        specs
            .iter()
            .map(|m| (m.target(), matches!(m, crate::volumes::Mount::Bind(_)))),
        ctx.layers,
    )?;
    let mut user_mounts: Vec<Value> = Vec::new();
    let mut mount_points: Vec<MountPoint> = Vec::new();
    let mut dests: Vec<String> = Vec::new();
    for m in &specs {
        dests.push(m.target().to_string());
        match m {
            crate::volumes::Mount::Tmpfs(t) => {
                user_mounts.push(json!({"destination": t.target, "type": "tmpfs", "source": "tmpfs", "options": t.mount_options()}));
            }
            crate::volumes::Mount::Bind(b) => {
                let rbind = if b.non_recursive { "bind" } else { "rbind" };
                let mut o = vec![rbind.to_string(), b.propagation.as_str().to_string()];
                if b.read_only {
                    o.push("ro".into());
                }
                user_mounts.push(
                    json!({"destination": b.target, "type": "bind", "source": b.source, "options": o}),
                );
                mount_points.push(MountPoint {
                    kind: "bind".into(),
                    source: b.source.clone(),
                    destination: b.target.clone(),
                    mode: b.mode.clone(),
                    rw: !b.read_only,
                    propagation: b.propagation.as_str().into(),
                    ..Default::default()
                });
            }
            crate::volumes::Mount::Volume(v) => {
                let name = match &v.name {
                    Some(n) => n.clone(),
                    None => crate::fsutil::random_id()?,
                };
                let src = ctx.volumes_dir.join(&name).join("_data");
                let mut o = vec!["rbind".to_string(), "rprivate".to_string()];
                if v.read_only {
                    o.push("ro".into());
                }
                user_mounts.push(
                    json!({"destination": v.target, "type": "bind", "source": src, "options": o}),
                );
                mount_points.push(MountPoint {
                    kind: "volume".into(),
                    name,
                    source: src.to_string_lossy().into_owned(),
                    destination: v.target.clone(),
                    driver: "local".into(),
                    mode: v.mode.clone(),
                    rw: !v.read_only,
                    propagation: String::new(),
                });
            }
        }
    }
    let ro = |priv_rw: bool| if priv_rw { "rw" } else { "ro" };
    let mut mounts: Vec<Value> = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", ro(opts.privileged)]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": [ro(opts.privileged), "nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={shm_size}")]}),
    ];
    mounts.retain(|m| !dests.iter().any(|d| m["destination"] == json!(d)));
    match opts.ipc_mode {
        // As docker: no /dev/shm at all.
        opt::NamespaceMode::None => mounts.retain(|m| m["destination"] != "/dev/shm"),
        // The host's, as docker binds it; a shareable container's is a
        // tmpfs on the host side (`<container>/shm`, mounted at start) that
        // the containers joining its IPC namespace bind too.
        opt::NamespaceMode::Host | opt::NamespaceMode::Shareable => {
            let src = if opts.ipc_mode.is_host() {
                PathBuf::from("/dev/shm")
            } else {
                ctx.userdata.with_file_name("shm")
            };
            for m in mounts.iter_mut().filter(|m| m["destination"] == "/dev/shm") {
                *m = json!({"destination": "/dev/shm", "type": "bind", "source": src, "options": ["rbind", "rprivate", "nosuid", "nodev", "noexec"]});
            }
        }
        _ => {}
    }
    let ud_opts = |readonly: bool| {
        let mut o = vec!["rbind", "rprivate"];
        if readonly {
            o.push("ro");
        }
        o
    };
    for (dest, file) in [
        ("/etc/resolv.conf", "resolv.conf"),
        ("/etc/hostname", "hostname"),
        ("/etc/hosts", "hosts"),
    ] {
        if dests.iter().any(|d| d == dest) {
            continue;
        }
        mounts.push(json!({"destination": dest, "type": "bind", "source": ctx.userdata.join(file), "options": ud_opts(opts.readonly_rootfs)}));
    }
    // Parents before children (docker sorts by path depth).
    user_mounts.sort_by_key(|m| {
        m["destination"]
            .as_str()
            .map(|d| d.split('/').filter(|c| !c.is_empty()).count())
            .unwrap_or(0)
    });
    mounts.extend(user_mounts);

    // Namespaces: `host` modes share the host's (no entry); `container:`
    // modes get their path from crate::namespaces at create.
    let mut namespaces = Vec::new();
    if !opts.pid_mode.is_host() {
        namespaces.push(json!({"type": "pid"}));
    }
    if !opts.ipc_mode.is_host() {
        namespaces.push(json!({"type": "ipc"}));
    }
    namespaces.push(json!({"type": "uts"}));
    namespaces.push(json!({"type": "mount"}));
    if !host_network {
        namespaces.push(json!({"type": "network"}));
    }
    namespaces.push(json!({"type": "cgroup"}));

    // Resources.
    let mut resources = json!({});
    let mut device_rules = vec![json!({"allow": opts.privileged, "access": "rwm"})];
    let mut devices: Vec<Value> = if opts.privileged {
        host_devices()
    } else {
        Vec::new()
    };
    for d in &res.devices {
        for (node, rule) in device_nodes(d)? {
            devices.retain(|x| x["path"] != node["path"]);
            devices.push(node);
            device_rules.push(rule);
        }
    }
    for r in &res.device_cgroup_rules {
        let mut rule = json!({"allow": true, "type": r.kind.to_string(), "access": r.access});
        if let Some(m) = r.major {
            rule["major"] = json!(m);
        }
        if let Some(m) = r.minor {
            rule["minor"] = json!(m);
        }
        device_rules.push(rule);
    }
    resources["devices"] = json!(device_rules);
    if memory > 0 || res.memory_reservation > 0 {
        let mut m = json!({});
        if memory > 0 {
            m["limit"] = json!(memory);
            if swap_supported() {
                m["swap"] = json!(memory_swap);
            }
        }
        if res.memory_reservation > 0 {
            m["reservation"] = json!(res.memory_reservation);
        }
        resources["memory"] = m;
    }
    let mut cpu = json!({});
    if nano_cpus > 0 {
        cpu["period"] = json!(100_000i64);
        cpu["quota"] = json!(nano_cpus * 100_000 / 1_000_000_000);
    }
    if res.cpu_shares > 0 {
        cpu["shares"] = json!(res.cpu_shares);
    }
    if !res.cpuset_cpus.is_empty() {
        check_cpuset(
            "--cpuset-cpus",
            &res.cpuset_cpus,
            "/sys/devices/system/cpu/online",
        )?;
        cpu["cpus"] = json!(res.cpuset_cpus);
    }
    if !res.cpuset_mems.is_empty() {
        check_cpuset(
            "--cpuset-mems",
            &res.cpuset_mems,
            "/sys/devices/system/node/online",
        )?;
        cpu["mems"] = json!(res.cpuset_mems);
    }
    if cpu.as_object().is_some_and(|o| !o.is_empty()) {
        resources["cpu"] = cpu;
    }
    if let Some(p) = pids_limit {
        resources["pids"] = json!({"limit": p});
    }

    let mut process = json!({
        "terminal": opts.tty,
        "user": {"uid": exec_user.uid, "gid": exec_user.gid},
        "args": argv,
        "env": process_env,
        "cwd": cwd,
        "capabilities": {"bounding": capabilities, "effective": capabilities, "permitted": capabilities},
        "noNewPrivileges": sec.no_new_privileges,
        "oomScoreAdj": 0,
    });
    if let (true, Some((rows, cols))) = (opts.tty, opts.console_size) {
        process["consoleSize"] = json!({"height": rows, "width": cols});
    }
    if !exec_user.additional_gids.is_empty() {
        process["user"]["additionalGids"] = json!(exec_user.additional_gids);
    }
    if !ulimits.is_empty() {
        let as_u = |v: i64| if v < 0 { u64::MAX } else { v as u64 };
        process["rlimits"] = json!(ulimits
            .iter()
            .map(|u| json!({"type": u.rlimit_type(), "soft": as_u(u.soft), "hard": as_u(u.hard)}))
            .collect::<Vec<_>>());
    }
    let mut linux = json!({
        "cgroupsPath": format!("/berth/{}", ctx.id),
        "namespaces": namespaces,
        "resources": resources,
    });
    if !opts.privileged && !sec.unconfined_paths {
        linux["maskedPaths"] = json!(MASKED_PATHS);
        linux["readonlyPaths"] = json!(READONLY_PATHS);
    }
    if let Some(s) = &seccomp {
        linux["seccomp"] = json!(s);
    }
    let sysctl = sysctls(opts, host_network)?;
    if !sysctl.is_empty() {
        linux["sysctl"] = json!(sysctl);
    }
    if !devices.is_empty() {
        linux["devices"] = json!(devices);
    }
    let spec = json!({
        "ociVersion": "1.0.2-dev",
        "process": process,
        "root": {"path": ctx.rootfs, "readonly": opts.readonly_rootfs},
        "hostname": hostname,
        "mounts": mounts,
        "linux": linux,
    });
    // It must parse as a spec.
    serde_json::from_value::<oci_spec::runtime::Spec>(spec.clone())
        .map_err(|e| Error::msg(format!("generated spec does not parse: {e}")))?;

    let nonempty = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    let binds: Vec<String> = opts.binds.iter().map(|m| m.bind_string()).collect();
    let security_opt = sec.to_strings();
    let host_config = HostConfig {
        binds: nonempty(&binds),
        log_config: LogConfig {
            kind: "json-file".into(),
            config: BTreeMap::new(),
        },
        network_mode: net_mode.name(),
        restart_policy: opts.restart_policy,
        auto_remove: opts.auto_remove,
        cap_add: nonempty(&opts.cap_add),
        cap_drop: nonempty(&opts.cap_drop),
        dns: opts.dns.iter().map(|d| d.to_string()).collect(),
        dns_options: opts.dns_options.clone(),
        dns_search: opts.dns_search.clone(),
        extra_hosts: (!extra_hosts.is_empty())
            .then(|| extra_hosts.iter().map(|h| h.to_string()).collect()),
        group_add: nonempty(&opts.group_add),
        privileged: opts.privileged,
        readonly_rootfs: opts.readonly_rootfs,
        security_opt: nonempty(&security_opt),
        tmpfs: (!opts.tmpfs.is_empty()).then(|| {
            opts.tmpfs
                .iter()
                .map(|t| (t.target.clone(), t.options_string()))
                .collect()
        }),
        shm_size,
        runtime: opts
            .runtime
            .as_ref()
            .map(|r| r.to_string_lossy().into_owned())
            .unwrap_or_else(|| "berth".into()),
        resources: opt::Resources {
            memory,
            memory_swap: if memory > 0 { memory_swap } else { 0 },
            nano_cpus,
            cpu_period: 0,
            cpu_quota: 0,
            pids_limit,
            ulimits: (!ulimits.is_empty()).then(|| ulimits.clone()),
            ..res.clone()
        },
        pid_mode: opts.pid_mode.to_string(),
        ipc_mode: opts.ipc_mode.to_string(),
        userns_mode: opts.userns_mode.to_string(),
        sysctls: (!opts.sysctls.is_empty()).then(|| opts.sysctls.clone()),
        links: None,
        masked_paths: (!opts.privileged && !sec.unconfined_paths)
            .then(|| MASKED_PATHS.iter().map(|s| s.to_string()).collect()),
        readonly_paths: (!opts.privileged && !sec.unconfined_paths)
            .then(|| READONLY_PATHS.iter().map(|s| s.to_string()).collect()),
        init: None,
    };
    let config = Config {
        hostname: hostname.clone(),
        domainname: String::new(),
        user: user_spec,
        attach_stdin: opts.open_stdin,
        attach_stdout: true,
        attach_stderr: true,
        exposed_ports: image.exposed_ports.clone(),
        tty: opts.tty,
        open_stdin: opts.open_stdin,
        stdin_once: false,
        env,
        cmd,
        image: opts.image.clone(),
        volumes: image.volumes.clone(),
        working_dir: workdir,
        entrypoint,
        labels,
        stop_signal,
        stop_timeout: opts.stop_timeout,
        healthcheck: None,
    };
    let container = Container {
        path: argv[0].clone(),
        args: argv[1..].to_vec(),
        config,
        host_config,
        mounts: mount_points,
        process_env: spec["process"]["env"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default(),
        options: opts.clone(),
        ..Default::default()
    };
    Ok(Generated {
        container,
        spec,
        hosts,
        hostname: format!("{hostname}\n"),
        resolv_conf: resolv,
        mount_specs: specs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::CreateFlags;
    use image::manifest::ContainerConfig as ImageConfig;

    struct Fx {
        dir: tempfile::TempDir,
        view: LayerView,
    }

    fn fx() -> Fx {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("layer/etc")).unwrap();
        std::fs::write(
            dir.path().join("layer/etc/passwd"),
            "root:x:0:0::/root:/bin/sh\napp:x:10:20::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("resolv.conf"),
            "nameserver 127.0.0.53\nsearch lan\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("hosts"), "127.0.0.1 localhost myhost\n").unwrap();
        let view = LayerView {
            lowers: vec![dir.path().join("layer")],
        };
        Fx { dir, view }
    }

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /// Generates from flags, parsed as the CLI parses them.
    fn gen(f: &Fx, o: &CreateFlags, img: &ImageConfig) -> Result<Generated> {
        let o = o.parse()?;
        let d = f.dir.path();
        let (rootfs, ud, rc, h) = (
            d.join("rootfs"),
            d.join("ud"),
            d.join("resolv.conf"),
            d.join("hosts"),
        );
        let ctx = SpecContext {
            id: ID,
            rootfs: &rootfs,
            userdata: &ud,
            layers: &f.view,
            host_resolv_conf: &rc,
            host_hosts: &h,
            volumes_dir: &d.join("volumes"),
        };
        generate(&o, img, &ctx)
    }

    fn opts(cmd: &[&str]) -> CreateFlags {
        CreateFlags {
            image: "img".into(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn entrypoint_and_cmd_merge_like_docker() {
        let f = fx();
        let img = ImageConfig {
            entrypoint: Some(s(&["/ep"])),
            cmd: Some(s(&["default"])),
            ..Default::default()
        };
        let g = gen(&f, &opts(&[]), &img).unwrap();
        assert_eq!(g.spec["process"]["args"], json!(["/ep", "default"]));
        let g = gen(&f, &opts(&["x"]), &img).unwrap();
        assert_eq!(g.spec["process"]["args"], json!(["/ep", "x"]));
        let mut o = opts(&[]);
        o.entrypoint = Some("/other".into());
        let g = gen(&f, &o, &img).unwrap();
        assert_eq!(
            g.spec["process"]["args"],
            json!(["/other"]),
            "--entrypoint resets the image CMD"
        );
        assert_eq!(g.container.config.cmd, None);
        let mut o = opts(&["sh"]);
        o.entrypoint = Some(String::new());
        let g = gen(&f, &o, &img).unwrap();
        assert_eq!(g.spec["process"]["args"], json!(["sh"]));
        assert_eq!(g.container.path, "sh");
        let e = gen(&f, &opts(&[]), &ImageConfig::default()).unwrap_err();
        assert_eq!(e.to_string(), "no command specified");
    }

    #[test]
    fn env_hostname_user_defaults() {
        let f = fx();
        let img = ImageConfig {
            env: s(&["A=img", "B=img"]),
            user: Some("app".into()),
            working_dir: Some("/w".into()),
            ..Default::default()
        };
        let mut o = opts(&["true"]);
        o.env = s(&["B=user", "C=user"]);
        let g = gen(&f, &o, &img).unwrap();
        assert_eq!(g.container.config.env, s(&["B=user", "C=user", "A=img"]));
        assert_eq!(
            g.spec["process"]["env"],
            json!([
                format!("PATH={DEFAULT_PATH}"),
                "HOSTNAME=0123456789ab",
                "B=user",
                "C=user",
                "A=img"
            ])
        );
        assert_eq!(g.spec["hostname"], "0123456789ab");
        assert_eq!(g.hostname, "0123456789ab\n");
        assert_eq!(
            g.spec["process"]["user"],
            json!({"uid": 10, "gid": 20, "additionalGids": [20]})
        );
        assert_eq!(g.spec["process"]["cwd"], "/w");
        // resolv.conf: host's localhost resolver replaced by public ones.
        assert_eq!(
            g.resolv_conf,
            "search lan\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        assert!(g.hosts.starts_with("127.0.0.1\tlocalhost\n"));
    }

    #[test]
    fn docker_security_defaults() {
        let f = fx();
        let g = gen(&f, &opts(&["true"]), &ImageConfig::default()).unwrap();
        let p = &g.spec["process"];
        assert_eq!(p["capabilities"]["bounding"].as_array().unwrap().len(), 14);
        assert_eq!(
            p["capabilities"]["effective"],
            p["capabilities"]["bounding"]
        );
        assert!(p["capabilities"].get("inheritable").is_none());
        assert_eq!(p["noNewPrivileges"], false);
        let l = &g.spec["linux"];
        assert_eq!(l["maskedPaths"].as_array().unwrap().len(), 11);
        assert_eq!(l["readonlyPaths"].as_array().unwrap().len(), 5);
        assert_eq!(l["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(l["cgroupsPath"], format!("/berth/{ID}"));
        let ns: Vec<&str> = l["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(ns, ["pid", "ipc", "uts", "mount", "network", "cgroup"]);
        assert_eq!(
            l["resources"]["devices"],
            json!([{"allow": false, "access": "rwm"}])
        );
        let dests: Vec<&str> = g.spec["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        assert_eq!(
            dests,
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/sys",
                "/sys/fs/cgroup",
                "/dev/mqueue",
                "/dev/shm",
                "/etc/resolv.conf",
                "/etc/hostname",
                "/etc/hosts"
            ]
        );
        let shm = &g.spec["mounts"][6];
        assert!(shm["options"]
            .as_array()
            .unwrap()
            .contains(&json!("size=67108864")));
        assert_eq!(g.container.host_config.shm_size, 64 << 20);

        let mut o = opts(&["true"]);
        o.privileged = true;
        o.network = Some("host".into());
        o.read_only = true;
        let g = gen(&f, &o, &ImageConfig::default()).unwrap();
        let l = &g.spec["linux"];
        assert!(l.get("seccomp").is_none() && l.get("maskedPaths").is_none());
        assert_eq!(
            l["resources"]["devices"],
            json!([{"allow": true, "access": "rwm"}])
        );
        assert!(!l["namespaces"]
            .as_array()
            .unwrap()
            .contains(&json!({"type": "network"})));
        assert_eq!(g.spec["root"]["readonly"], true);
        assert_eq!(g.container.host_config.network_mode, "host");
        assert!(
            g.hosts.starts_with("127.0.0.1 localhost myhost\n"),
            "host network: the host's hosts file"
        );
        assert!(g.resolv_conf.contains("nameserver 127.0.0.53"));
    }

    #[test]
    fn resources_and_mounts() {
        let f = fx();
        let mut o = opts(&["true"]);
        o.memory = Some("100m".into());
        o.cpus = Some("1".into());
        o.pids_limit = Some(10);
        o.ulimits = s(&["nofile=10:20"]);
        o.volumes = s(&["/a/b:/data:ro", "/c:/data/sub"]);
        o.tmpfs = s(&["/dev/shm:size=1m"]);
        o.stop_signal = Some("SIGINT".into());
        let g = gen(&f, &o, &ImageConfig::default()).unwrap();
        let r = &g.spec["linux"]["resources"];
        assert_eq!(r["memory"]["limit"], 100 << 20);
        assert_eq!(r["cpu"], json!({"period": 100000, "quota": 100000}));
        assert_eq!(r["pids"]["limit"], 10);
        assert_eq!(
            g.spec["process"]["rlimits"],
            json!([{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 20}])
        );
        let m = g.spec["mounts"].as_array().unwrap();
        let shm: Vec<&Value> = m
            .iter()
            .filter(|m| m["destination"] == "/dev/shm")
            .collect();
        assert_eq!(
            shm.len(),
            1,
            "the user's tmpfs replaces the default /dev/shm"
        );
        assert_eq!(shm[0]["source"], "tmpfs");
        let data = m.iter().position(|m| m["destination"] == "/data").unwrap();
        let sub = m
            .iter()
            .position(|m| m["destination"] == "/data/sub")
            .unwrap();
        assert!(data < sub);
        assert_eq!(m[data]["options"], json!(["rbind", "rprivate", "ro"]));
        assert_eq!(g.container.mounts.len(), 2);
        assert!(!g.container.mounts[0].rw);
        assert_eq!(g.container.config.stop_signal.as_deref(), Some("SIGINT"));
        for (set, flag) in [
            (
                Box::new(|o: &mut CreateFlags| o.stop_signal = Some("SIGNOPE".into()))
                    as Box<dyn Fn(&mut CreateFlags)>,
                "--stop-signal",
            ),
            (
                Box::new(|o: &mut CreateFlags| o.hostname = Some("bad_host!".into())),
                "--hostname",
            ),
            (
                Box::new(|o: &mut CreateFlags| o.volumes = s(&["/a:/x", "/b:/x"])),
                "--volume",
            ),
            (
                Box::new(|o: &mut CreateFlags| o.restart = Some("sometimes".into())),
                "--restart",
            ),
            (
                Box::new(|o: &mut CreateFlags| o.shm_size = Some("x".into())),
                "--shm-size",
            ),
            (Box::new(|o: &mut CreateFlags| o.env = s(&["=x"])), "--env"),
            (
                Box::new(|o: &mut CreateFlags| o.dns = s(&["dns.example"])),
                "--dns",
            ),
        ] {
            let mut o = opts(&["true"]);
            set(&mut o);
            let e = gen(&f, &o, &ImageConfig::default())
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(&format!("invalid {flag} ")), "{flag}: {e}");
            assert!(!e.contains('\n'));
        }
    }

    /// A WORKDIR (or `-w`) through a symlink of the image: the process
    /// starts in the link's target resolved inside the image (created by
    /// the runtime when missing), the record keeps the path as given.
    #[test]
    fn workdir_through_symlink_resolves_in_root() {
        let f = fx();
        let layer = f.dir.path().join("layer");
        std::os::unix::fs::symlink("/srv/app", layer.join("app")).unwrap();
        std::os::unix::fs::symlink("../../../..", layer.join("up")).unwrap();
        let img = ImageConfig {
            working_dir: Some("/app/sub".into()),
            ..Default::default()
        };
        let g = gen(&f, &opts(&["true"]), &img).unwrap();
        assert_eq!(g.spec["process"]["cwd"], "/srv/app/sub");
        assert_eq!(g.container.config.working_dir, "/app/sub");
        let mut o = opts(&["true"]);
        o.workdir = Some("/up/etc".into());
        let g = gen(&f, &o, &img).unwrap();
        assert_eq!(g.spec["process"]["cwd"], "/etc");
        let g = gen(&f, &opts(&["true"]), &ImageConfig::default()).unwrap();
        assert_eq!(g.spec["process"]["cwd"], "/");
    }

    /// Mounts under /proc or /sys are refused, given so or reached through
    /// a symlink of the image; one line naming the path.
    #[test]
    fn volume_under_proc_or_sys_is_refused() {
        let f = fx();
        let layer = f.dir.path().join("layer");
        std::os::unix::fs::symlink("/proc/self/attr", layer.join("data")).unwrap();
        std::os::unix::fs::symlink("../sys/kernel", layer.join("k")).unwrap();
        std::fs::create_dir_all(layer.join("ok")).unwrap();
        let img = ImageConfig::default();
        let refused = |o: &CreateFlags, img: &ImageConfig, path: &str| {
            let e = gen(&f, o, img).unwrap_err();
            let m = e.to_string();
            assert!(m.contains(&format!("{path:?}")) && !m.contains('\n'), "{m}");
            assert!(m.contains("/proc") || m.contains("/sys"), "{m}");
            assert_eq!(e.exit_code(), 125);
        };
        let with = |v: &[&str], m: &[&str], t: &[&str]| {
            let mut o = opts(&["true"]);
            o.volumes = s(v);
            o.mounts = s(m);
            o.tmpfs = s(t);
            o
        };
        refused(&with(&["/tmp:/proc/sys"], &[], &[]), &img, "/proc/sys");
        refused(&with(&["vol:/sys"], &[], &[]), &img, "/sys");
        refused(
            &with(&[], &["type=bind,src=/tmp,dst=/proc"], &[]),
            &img,
            "/proc",
        );
        refused(
            &with(&[], &["type=tmpfs,dst=/sys/fs/x"], &[]),
            &img,
            "/sys/fs/x",
        );
        refused(&with(&[], &[], &["/proc/x"]), &img, "/proc/x");
        refused(&with(&["/tmp:/data"], &[], &[]), &img, "/data");
        refused(&with(&["vv:/k/x"], &[], &[]), &img, "/k/x");
        let vol = |p: &str| ImageConfig {
            volumes: [(p.to_string(), Default::default())].into_iter().collect(),
            ..Default::default()
        };
        refused(&opts(&["true"]), &vol("/proc/self"), "/proc/self");
        refused(&opts(&["true"]), &vol("/data/x"), "/data/x");
        // Near misses are fine.
        gen(
            &f,
            &with(&["/tmp:/procs", "vv:/ok/sys"], &[], &["/system"]),
            &vol("/ok/proc"),
        )
        .unwrap();
    }
}

//! From an image config and [`CreateOptions`] to the container's record and
//! OCI spec, with docker's defaults. Pure apart from reading the host's
//! /etc/resolv.conf, /etc/hosts, /dev (privileged) and kernel facts; needs
//! no root.

use crate::container::{Config, Container, HostConfig, LogConfig, MountPoint, RestartPolicy};
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
    pub mount_specs: Vec<crate::volumes::MountSpec>,
}

#[derive(Default)]
struct SecurityOpts {
    seccomp: Option<String>,
    no_new_privileges: bool,
    unconfined_paths: bool,
}

fn parse_security_opts(list: &[String]) -> Result<SecurityOpts> {
    let mut out = SecurityOpts::default();
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
                if v.is_empty() {
                    return Err(bad("expected seccomp=unconfined or seccomp=PROFILE.json"));
                }
                out.seccomp = Some(v.to_string());
            }
            "systempaths" => match v {
                "unconfined" => out.unconfined_paths = true,
                _ => return Err(bad("expected systempaths=unconfined")),
            },
            "apparmor" | "label" => {}
            _ => return Err(bad("unknown security option")),
        }
    }
    Ok(out)
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
        ns = opts
            .dns
            .iter()
            .map(|d| opt::parse_dns(d))
            .collect::<Result<Vec<_>>>()?;
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

fn hosts_file(extra: &[(String, String)], host_network: bool, host_file: &Path) -> String {
    let mut out = if host_network {
        let mut s = std::fs::read_to_string(host_file).unwrap_or_default();
        if !s.is_empty() && !s.ends_with('\n') {
            s.push('\n');
        }
        s
    } else {
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::\tip6-localnet\nff00::\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n".to_string()
    };
    for (h, ip) in extra {
        out.push_str(&format!("{ip}\t{h}\n"));
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

pub(crate) fn swap_supported() -> bool {
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
    let net_mode = crate::network::Mode::parse(opts.network.as_deref());
    let host_network = net_mode == crate::network::Mode::Host;
    // Environment and command.
    let user_env = opt::parse_env(&opts.env)?;
    let env = merge_env(&image.env, &user_env);
    let hostname = match &opts.hostname {
        Some(h) => {
            opt::validate_hostname(h)?;
            h.clone()
        }
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
    let user_entrypoint: Option<Vec<String>> = opts.entrypoint.as_ref().map(|e| {
        if e.is_empty() {
            vec![]
        } else {
            vec![e.clone()]
        }
    });
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
    let workdir = match &opts.workdir {
        Some(w) if !w.is_empty() => {
            if !w.starts_with('/') {
                return Err(Error::flag(
                    "--workdir",
                    w,
                    "the working directory needs to be an absolute path",
                ));
            }
            opt::clean_path(w)
        }
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
    labels.extend(opt::parse_labels(&opts.labels)?);
    let stop_signal = opts
        .stop_signal
        .clone()
        .or_else(|| image.stop_signal.clone());
    if let Some(s) = &stop_signal {
        opt::parse_signal("--stop-signal", s)?;
    }
    if let Some(t) = opts.stop_timeout {
        if t < -1 {
            return Err(Error::flag(
                "--stop-timeout",
                &t.to_string(),
                "must be -1 or more",
            ));
        }
    }
    let (restart_name, restart_max) = opt::parse_restart(opts.restart.as_deref().unwrap_or("no"))?;
    if opts.auto_remove && restart_name != "no" {
        return Err(Error::invalid(
            "conflicting options: cannot specify both --restart and --rm",
        ));
    }

    // Security.
    let sec = parse_security_opts(&opts.security_opt)?;
    let capabilities = caps::tweak(&opts.cap_add, &opts.cap_drop, opts.privileged)?;
    // As moby's WithSeccomp: --privileged drops the default profile, not
    // one named explicitly.
    let seccomp = match sec.seccomp.as_deref() {
        Some("unconfined") => None,
        Some("builtin") => seccomp::default_for(&capabilities)?,
        Some(file) => seccomp::from_file(Path::new(file), &capabilities)
            .map_err(|e| Error::flag("--security-opt", &format!("seccomp={file}"), e))?,
        None if opts.privileged => None,
        None => seccomp::default_for(&capabilities)?,
    };

    // Resources.
    let memory = opts
        .memory
        .as_deref()
        .map(opt::parse_memory)
        .transpose()?
        .unwrap_or(0);
    let mut memory_swap = match opts.memory_swap.as_deref() {
        None | Some("") => 0,
        Some("-1") => -1,
        Some(s) => {
            berth_util::size::ram_in_bytes(s).map_err(|e| Error::flag("--memory-swap", s, e))?
        }
    };
    if memory_swap > 0 && memory == 0 {
        return Err(Error::invalid(
            "invalid --memory-swap: you should always set --memory with --memory-swap",
        ));
    }
    if memory_swap > 0 && memory_swap < memory {
        return Err(Error::flag(
            "--memory-swap",
            opts.memory_swap.as_deref().unwrap_or(""),
            "must be larger than or equal to --memory",
        ));
    }
    if memory > 0 && memory_swap == 0 {
        memory_swap = memory * 2;
    }
    let nano_cpus = opts
        .cpus
        .as_deref()
        .map(opt::parse_cpus)
        .transpose()?
        .unwrap_or(0);
    let pids_limit = opts.pids_limit.filter(|p| *p > 0);
    let ulimits = opts
        .ulimits
        .iter()
        .map(|u| opt::parse_ulimit(u))
        .collect::<Result<Vec<_>>>()?;
    let shm_size = match opts.shm_size.as_deref() {
        None | Some("") => DEFAULT_SHM,
        Some(s) => {
            let v =
                berth_util::size::ram_in_bytes(s).map_err(|e| Error::flag("--shm-size", s, e))?;
            if v <= 0 {
                return Err(Error::flag("--shm-size", s, "must be greater than 0"));
            }
            v
        }
    };
    let extra_hosts = opts
        .add_hosts
        .iter()
        .map(|h| opt::parse_add_host(h))
        .collect::<Result<Vec<_>>>()?;
    let resolv = resolv_conf(opts, host_network, ctx.host_resolv_conf)?;
    let hosts = hosts_file(&extra_hosts, host_network, ctx.host_hosts);

    // Mounts: user mounts first decide which defaults stay.
    // -v, --mount and the image's VOLUMEs (anonymous volumes get a random name).
    let image_volumes: Vec<String> = image.volumes.keys().cloned().collect();
    let specs = crate::volumes::plan(&opts.volumes, &opts.mounts, &image_volumes)?;
    let tmpfs = opts
        .tmpfs
        .iter()
        .map(|t| opt::parse_tmpfs(t))
        .collect::<Result<Vec<_>>>()?;
    crate::volumes::refuse_kernel_fs(
        specs
            .iter()
            .map(|s| {
                (
                    s.destination.as_str(),
                    s.kind == crate::volumes::MountKind::Bind,
                )
            })
            .chain(tmpfs.iter().map(|(d, _)| (d.as_str(), false))),
        ctx.layers,
    )?;
    let mut user_mounts: Vec<Value> = Vec::new();
    let mut mount_points: Vec<MountPoint> = Vec::new();
    let mut dests: Vec<String> = Vec::new();
    for b in &specs {
        dests.push(b.destination.clone());
        match b.kind {
            crate::volumes::MountKind::Tmpfs => {
                user_mounts.push(json!({"destination": b.destination, "type": "tmpfs", "source": "tmpfs", "options": b.tmpfs_options}));
                continue;
            }
            crate::volumes::MountKind::Bind => {
                let mut o = vec!["rbind".to_string(), b.propagation.clone()];
                if b.read_only {
                    o.push("ro".into());
                }
                user_mounts.push(
                    json!({"destination": b.destination, "type": "bind", "source": b.source, "options": o}),
                );
                mount_points.push(MountPoint {
                    kind: "bind".into(),
                    source: b.source.clone(),
                    destination: b.destination.clone(),
                    mode: b.mode.clone(),
                    rw: !b.read_only,
                    propagation: b.propagation.clone(),
                    ..Default::default()
                });
            }
            crate::volumes::MountKind::Volume => {
                let name = if b.source.is_empty() {
                    crate::fsutil::random_id()?
                } else {
                    b.source.clone()
                };
                let src = ctx.volumes_dir.join(&name).join("_data");
                let mut o = vec!["rbind".to_string(), "rprivate".to_string()];
                if b.read_only {
                    o.push("ro".into());
                }
                user_mounts.push(
                    json!({"destination": b.destination, "type": "bind", "source": src, "options": o}),
                );
                mount_points.push(MountPoint {
                    kind: "volume".into(),
                    name,
                    source: src.to_string_lossy().into_owned(),
                    destination: b.destination.clone(),
                    driver: "local".into(),
                    mode: b.mode.clone(),
                    rw: !b.read_only,
                    propagation: String::new(),
                });
            }
        }
    }
    for (d, o) in &tmpfs {
        if dests.contains(d) {
            return Err(Error::flag("--tmpfs", d, "duplicate mount point"));
        }
        dests.push(d.clone());
        user_mounts
            .push(json!({"destination": d, "type": "tmpfs", "source": "tmpfs", "options": o}));
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
        mounts.push(json!({"destination": dest, "type": "bind", "source": ctx.userdata.join(file), "options": ud_opts(opts.read_only)}));
    }
    // Parents before children (docker sorts by path depth).
    user_mounts.sort_by_key(|m| {
        m["destination"]
            .as_str()
            .map(|d| d.split('/').filter(|c| !c.is_empty()).count())
            .unwrap_or(0)
    });
    mounts.extend(user_mounts);

    // Namespaces.
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    if !host_network {
        namespaces.push(json!({"type": "network"}));
    }
    namespaces.push(json!({"type": "cgroup"}));

    // Resources.
    let mut resources = json!({});
    if opts.privileged {
        resources["devices"] = json!([{"allow": true, "access": "rwm"}]);
    } else {
        resources["devices"] = json!([{"allow": false, "access": "rwm"}]);
    }
    if memory > 0 {
        let mut m = json!({"limit": memory});
        if swap_supported() {
            m["swap"] = json!(memory_swap);
        }
        resources["memory"] = m;
    }
    let (cpu_period, cpu_quota) = if nano_cpus > 0 {
        (100_000i64, nano_cpus * 100_000 / 1_000_000_000)
    } else {
        (0, 0)
    };
    if nano_cpus > 0 {
        resources["cpu"] = json!({"period": cpu_period, "quota": cpu_quota});
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
    if !host_network {
        linux["sysctl"] = json!({
            "net.ipv4.ip_unprivileged_port_start": "0",
            "net.ipv4.ping_group_range": "0 2147483647",
        });
    }
    if opts.privileged {
        linux["devices"] = json!(host_devices());
    }
    let spec = json!({
        "ociVersion": "1.0.2-dev",
        "process": process,
        "root": {"path": ctx.rootfs, "readonly": opts.read_only},
        "hostname": hostname,
        "mounts": mounts,
        "linux": linux,
    });
    // It must parse as a spec.
    serde_json::from_value::<oci_spec::runtime::Spec>(spec.clone())
        .map_err(|e| Error::msg(format!("generated spec does not parse: {e}")))?;

    let nonempty = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    let host_config = HostConfig {
        binds: nonempty(&opts.volumes),
        log_config: LogConfig {
            kind: "json-file".into(),
            config: BTreeMap::new(),
        },
        network_mode: net_mode.name(),
        restart_policy: RestartPolicy {
            name: restart_name,
            maximum_retry_count: restart_max,
        },
        auto_remove: opts.auto_remove,
        cap_add: nonempty(&opts.cap_add),
        cap_drop: nonempty(&opts.cap_drop),
        dns: opts.dns.clone(),
        dns_options: opts.dns_options.clone(),
        dns_search: opts.dns_search.clone(),
        extra_hosts: nonempty(&opts.add_hosts),
        group_add: nonempty(&opts.group_add),
        privileged: opts.privileged,
        readonly_rootfs: opts.read_only,
        security_opt: nonempty(&opts.security_opt),
        tmpfs: (!tmpfs.is_empty()).then(|| {
            opts.tmpfs
                .iter()
                .map(|t| {
                    let (d, o) = t.split_once(':').unwrap_or((t, ""));
                    (opt::clean_path(d), o.to_string())
                })
                .collect()
        }),
        shm_size,
        runtime: opts
            .runtime
            .as_ref()
            .map(|r| r.to_string_lossy().into_owned())
            .unwrap_or_else(|| "berth".into()),
        memory,
        memory_swap: if memory > 0 { memory_swap } else { 0 },
        nano_cpus,
        cpu_period: 0,
        cpu_quota: 0,
        pids_limit,
        ulimits: (!ulimits.is_empty()).then(|| ulimits.clone()),
        masked_paths: (!opts.privileged && !sec.unconfined_paths)
            .then(|| MASKED_PATHS.iter().map(|s| s.to_string()).collect()),
        readonly_paths: (!opts.privileged && !sec.unconfined_paths)
            .then(|| READONLY_PATHS.iter().map(|s| s.to_string()).collect()),
        init: None,
        ..Default::default()
    };
    let config = Config {
        hostname: hostname.clone(),
        domainname: String::new(),
        user: user_spec,
        attach_stdin: opts.interactive,
        attach_stdout: true,
        attach_stderr: true,
        exposed_ports: image.exposed_ports.clone(),
        tty: opts.tty,
        open_stdin: opts.interactive,
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

    fn gen(f: &Fx, o: &CreateOptions, img: &ImageConfig) -> Result<Generated> {
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
        generate(o, img, &ctx)
    }

    fn opts(cmd: &[&str]) -> CreateOptions {
        CreateOptions {
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
                Box::new(|o: &mut CreateOptions| o.stop_signal = Some("SIGNOPE".into()))
                    as Box<dyn Fn(&mut CreateOptions)>,
                "--stop-signal",
            ),
            (
                Box::new(|o: &mut CreateOptions| o.hostname = Some("bad_host!".into())),
                "--hostname",
            ),
            (
                Box::new(|o: &mut CreateOptions| o.volumes = s(&["/a:/x", "/b:/x"])),
                "--volume",
            ),
            (
                Box::new(|o: &mut CreateOptions| o.restart = Some("sometimes".into())),
                "--restart",
            ),
            (
                Box::new(|o: &mut CreateOptions| o.shm_size = Some("x".into())),
                "--shm-size",
            ),
            (
                Box::new(|o: &mut CreateOptions| o.env = s(&["=x"])),
                "--env",
            ),
            (
                Box::new(|o: &mut CreateOptions| o.dns = s(&["dns.example"])),
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
        let refused = |o: &CreateOptions, img: &ImageConfig, path: &str| {
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

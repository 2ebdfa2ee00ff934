//! From an image config and [`CreateOptions`] to the container's record and
//! OCI spec, with docker's defaults. Pure apart from reading the host's
//! /etc/resolv.conf, /etc/hosts, /dev (privileged) and kernel facts; needs
//! no root.

use crate::container::{Config, Container, HostConfig, MountPoint};
use crate::error::{Error, Result};
use crate::options::{self as opt, CreateOptions};
use crate::user::{self, LayerView};
use crate::{caps, seccomp};
use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxCpuBuilder, LinuxDevice,
    LinuxDeviceBuilder, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType,
    LinuxMemoryBuilder, LinuxNamespace, LinuxNamespaceBuilder, LinuxNamespaceType,
    LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder, Mount, MountBuilder, PosixRlimit,
    PosixRlimitBuilder, PosixRlimitType, Process, ProcessBuilder, RootBuilder, Spec, SpecBuilder,
    UserBuilder,
};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Docker's masked and read-only paths (the options' rule).
pub use crate::options::{MASKED_PATHS, READONLY_PATHS};

const DEFAULT_SHM: i64 = 64 * 1024 * 1024;

/// Where things live for one container.
pub struct SpecContext<'a> {
    pub id: &'a str,
    /// Mount point of the container's root filesystem.
    pub rootfs: &'a Path,
    /// Directory holding the hosts, hostname and resolv.conf files.
    pub userdata: &'a Path,
    /// The host side of a shareable IPC container's /dev/shm
    /// (`Engine::shm_path`, a tmpfs mounted at start).
    pub shm: &'a Path,
    /// The image's layers, for /etc/passwd and /etc/group.
    pub layers: &'a LayerView,
    /// Host files (tests point these elsewhere).
    pub host_resolv_conf: &'a Path,
    pub host_hosts: &'a Path,
    /// `<root>/volumes` (a volume's content is `<name>/_data`).
    pub volumes_dir: &'a Path,
    /// The mounts `--volumes-from` brings (`Engine::volumes_from_mounts`):
    /// under the container's own `-v`/`--mount`/`--tmpfs`, over the
    /// image's `VOLUME`s.
    pub volumes_from: &'a [crate::volumes::Mount],
}

/// The result: the record's resolved fields, the OCI spec, and the
/// contents of the userdata files.
#[derive(Debug, Clone)]
pub struct Generated {
    pub container: Container,
    pub spec: Spec,
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

/// `--privileged`: every device node of the host (docker's list).
fn host_devices() -> Result<Vec<LinuxDevice>> {
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
            if let Some(d) = device_node(&p, &p, &m)? {
                out.push(d);
            }
        }
    }
    out.sort_by(|a, b| a.path().cmp(b.path()));
    Ok(out)
}

/// The spec's entry for the device node at `host` (its numbers, mode and
/// owner), seen at `inner` in the container; `None` for other files.
fn device_node(inner: &Path, host: &Path, m: &std::fs::Metadata) -> Result<Option<LinuxDevice>> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let ft = m.file_type();
    let typ = if ft.is_char_device() {
        LinuxDeviceType::C
    } else if ft.is_block_device() {
        LinuxDeviceType::B
    } else {
        return Ok(None);
    };
    LinuxDeviceBuilder::default()
        .typ(typ)
        .path(inner)
        .major(libc::major(m.rdev()) as i64)
        .minor(libc::minor(m.rdev()) as i64)
        .file_mode(m.mode() & 0o777)
        .uid(m.uid())
        .gid(m.gid())
        .build()
        .map(Some)
        .map_err(|e| Error::msg(format!("device {}: {e}", host.display())))
}

/// A cgroup rule allowing `access` to a device (any number when `None`).
fn allow_device(
    typ: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> Result<LinuxDeviceCgroup> {
    let mut b = LinuxDeviceCgroupBuilder::default()
        .allow(true)
        .typ(typ)
        .access(access);
    if let Some(m) = major {
        b = b.major(m);
    }
    if let Some(m) = minor {
        b = b.minor(m);
    }
    b.build().map_err(spec_err)
}

fn spec_err(e: oci_spec::OciSpecError) -> Error {
    Error::msg(format!("cannot build the OCI spec: {e}"))
}

/// The device nodes and cgroup rules of one `--device`: the node, or
/// every node under a directory (its path in the container under the
/// given one).
fn device_nodes(d: &opt::DeviceMapping) -> Result<Vec<(LinuxDevice, LinuxDeviceCgroup)>> {
    let flag = format!("{}:{}", d.path_on_host, d.path_in_container);
    let bad = |why: String| Error::flag("--device", &flag, why);
    let meta = std::fs::metadata(&d.path_on_host)
        .map_err(|e| bad(format!("cannot stat {}: {e}", d.path_on_host)))?;
    let mut found = Vec::new();
    let mut stack = vec![(PathBuf::from(&d.path_on_host), meta)];
    while let Some((p, m)) = stack.pop() {
        if m.is_dir() {
            let rd = std::fs::read_dir(&p).map_err(|e| bad(format!("{}: {e}", p.display())))?;
            // As docker's walk: entries below are not followed (a link to
            // `..` or `/` would walk the host's tree).
            for e in rd.flatten() {
                match std::fs::symlink_metadata(e.path()) {
                    Ok(m) if !m.file_type().is_symlink() => stack.push((e.path(), m)),
                    _ => {}
                }
            }
            continue;
        }
        let rel = p.strip_prefix(&d.path_on_host).unwrap_or(Path::new(""));
        let inner = if rel.as_os_str().is_empty() {
            PathBuf::from(&d.path_in_container)
        } else {
            Path::new(&d.path_in_container).join(rel)
        };
        if let Some(node) = device_node(&inner, &p, &m)? {
            let rule = allow_device(
                node.typ(),
                Some(node.major()),
                Some(node.minor()),
                &d.cgroup_permissions,
            )?;
            found.push((node, rule));
        }
    }
    if found.is_empty() {
        return Err(bad(format!("{} is not a device", d.path_on_host)));
    }
    found.sort_by(|a, b| a.0.path().cmp(b.0.path()));
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

pub(crate) fn swap_supported() -> bool {
    let v1 = Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists();
    if v1 {
        Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists()
    } else {
        true
    }
}

/// Joins an existing namespace: the path of the spec's entry of `kind`.
pub fn set_namespace_path(spec: &mut Spec, kind: LinuxNamespaceType, path: &Path) {
    let Some(linux) = spec.linux_mut() else {
        return;
    };
    let Some(nss) = linux.namespaces_mut() else {
        return;
    };
    for ns in nss.iter_mut().filter(|ns| ns.typ() == kind) {
        ns.set_path(Some(path.to_path_buf()));
    }
}

/// Replaces the spec's mount at `destination` (if it has one).
pub fn replace_mount(spec: &mut Spec, m: Mount) {
    if let Some(ms) = spec.mounts_mut() {
        for x in ms.iter_mut().filter(|x| x.destination() == m.destination()) {
            *x = m.clone();
        }
    }
}

/// One mount of the spec.
pub fn mount(
    destination: impl Into<PathBuf>,
    typ: &str,
    source: impl Into<PathBuf>,
    options: Vec<String>,
) -> Result<Mount> {
    MountBuilder::default()
        .destination(destination)
        .typ(typ)
        .source(source)
        .options(options)
        .build()
        .map_err(spec_err)
}

/// docker's mounts of every container (proc, /dev, devpts, sysfs, cgroup,
/// mqueue, /dev/shm as the IPC mode wants it) but those a user mount
/// replaces, then the hosts, hostname and resolv.conf files.
fn default_mounts(
    opts: &CreateOptions,
    ctx: &SpecContext,
    shm_size: i64,
    user: &[String],
) -> Result<Vec<Mount>> {
    let v = |o: &[&str]| o.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let ro = if opts.privileged { "rw" } else { "ro" };
    let shm = match opts.ipc_mode {
        // As docker: no /dev/shm at all.
        opt::NamespaceMode::None => None,
        // The host's, as docker binds it; a shareable container's is a
        // tmpfs on the host side (`<container>/shm`, mounted at start) that
        // the containers joining its IPC namespace bind too.
        opt::NamespaceMode::Host => Some(("bind", PathBuf::from("/dev/shm"), None)),
        opt::NamespaceMode::Shareable => Some(("bind", ctx.shm.to_path_buf(), None)),
        _ => Some(("tmpfs", PathBuf::from("shm"), Some(shm_size))),
    };
    let mut out = vec![
        mount("/proc", "proc", "proc", v(&["nosuid", "noexec", "nodev"]))?,
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            v(&["nosuid", "strictatime", "mode=755", "size=65536k"]),
        )?,
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            v(&[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ]),
        )?,
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            v(&["nosuid", "noexec", "nodev", ro]),
        )?,
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            v(&[ro, "nosuid", "noexec", "nodev"]),
        )?,
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            v(&["nosuid", "noexec", "nodev"]),
        )?,
    ];
    match shm {
        Some(("tmpfs", src, Some(size))) => out.push(mount(
            "/dev/shm",
            "tmpfs",
            src,
            vec![
                "nosuid".into(),
                "noexec".into(),
                "nodev".into(),
                "mode=1777".into(),
                format!("size={size}"),
            ],
        )?),
        Some((_, src, _)) => out.push(mount(
            "/dev/shm",
            "bind",
            src,
            v(&["rbind", "rprivate", "nosuid", "nodev", "noexec"]),
        )?),
        None => {}
    }
    out.retain(|m| !user.iter().any(|d| m.destination() == Path::new(d)));
    let mut files = v(&["rbind", "rprivate"]);
    if opts.readonly_rootfs {
        files.push("ro".into());
    }
    for (dest, file) in [
        ("/etc/resolv.conf", "resolv.conf"),
        ("/etc/hostname", "hostname"),
        ("/etc/hosts", "hosts"),
    ] {
        if !user.iter().any(|d| d == dest) {
            out.push(mount(dest, "bind", ctx.userdata.join(file), files.clone())?);
        }
    }
    Ok(out)
}

/// The namespaces: `host` modes share the host's (no entry);
/// `container:` modes get their path at create (ops::create).
fn namespaces(opts: &CreateOptions, host_network: bool) -> Result<Vec<LinuxNamespace>> {
    let mut kinds = Vec::new();
    if !opts.pid_mode.is_host() {
        kinds.push(LinuxNamespaceType::Pid);
    }
    if !opts.ipc_mode.is_host() {
        kinds.push(LinuxNamespaceType::Ipc);
    }
    kinds.extend([LinuxNamespaceType::Uts, LinuxNamespaceType::Mount]);
    if !host_network {
        kinds.push(LinuxNamespaceType::Network);
    }
    kinds.push(LinuxNamespaceType::Cgroup);
    kinds
        .into_iter()
        .map(|t| {
            LinuxNamespaceBuilder::default()
                .typ(t)
                .build()
                .map_err(spec_err)
        })
        .collect()
}

/// Memory, CPU, pids and device rules, and the device nodes
/// (`--privileged`: the host's; `--device`).
fn resources(
    opts: &CreateOptions,
    memory: i64,
    memory_swap: i64,
    pids_limit: Option<i64>,
) -> Result<(LinuxResources, Vec<LinuxDevice>)> {
    let res = &opts.resources;
    let mut rules = vec![LinuxDeviceCgroupBuilder::default()
        .allow(opts.privileged)
        .access("rwm")
        .build()
        .map_err(spec_err)?];
    let mut devices = if opts.privileged {
        host_devices()?
    } else {
        Vec::new()
    };
    for d in &res.devices {
        for (node, rule) in device_nodes(d)? {
            devices.retain(|x| x.path() != node.path());
            devices.push(node);
            rules.push(rule);
        }
    }
    for r in &res.device_cgroup_rules {
        let typ = match r.kind {
            'b' => LinuxDeviceType::B,
            'c' => LinuxDeviceType::C,
            _ => LinuxDeviceType::A,
        };
        rules.push(allow_device(typ, r.major, r.minor, &r.access)?);
    }
    let mut b = LinuxResourcesBuilder::default().devices(rules);
    if memory > 0 || res.memory_reservation > 0 {
        let mut m = LinuxMemoryBuilder::default();
        if memory > 0 {
            m = m.limit(memory);
            if swap_supported() {
                m = m.swap(memory_swap);
            }
        }
        if res.memory_reservation > 0 {
            m = m.reservation(res.memory_reservation);
        }
        b = b.memory(m.build().map_err(spec_err)?);
    }
    let mut cpu = LinuxCpuBuilder::default();
    let mut any_cpu = false;
    if res.nano_cpus > 0 {
        cpu = cpu
            .period(100_000u64)
            .quota(res.nano_cpus * 100_000 / 1_000_000_000);
        any_cpu = true;
    }
    if res.cpu_shares > 0 {
        cpu = cpu.shares(res.cpu_shares as u64);
        any_cpu = true;
    }
    if !res.cpuset_cpus.is_empty() {
        check_cpuset(
            "--cpuset-cpus",
            &res.cpuset_cpus,
            "/sys/devices/system/cpu/online",
        )?;
        cpu = cpu.cpus(res.cpuset_cpus.clone());
        any_cpu = true;
    }
    if !res.cpuset_mems.is_empty() {
        check_cpuset(
            "--cpuset-mems",
            &res.cpuset_mems,
            "/sys/devices/system/node/online",
        )?;
        cpu = cpu.mems(res.cpuset_mems.clone());
        any_cpu = true;
    }
    if any_cpu {
        b = b.cpu(cpu.build().map_err(spec_err)?);
    }
    if let Some(p) = pids_limit {
        b = b.pids(
            LinuxPidsBuilder::default()
                .limit(p)
                .build()
                .map_err(spec_err)?,
        );
    }
    Ok((b.build().map_err(spec_err)?, devices))
}

/// The process: user, command, environment, directory, capabilities
/// (bounding = effective = permitted, as docker), rlimits of `--ulimit`.
fn process(
    opts: &CreateOptions,
    exec_user: &user::ExecUser,
    argv: &[String],
    env: &[String],
    cwd: &str,
    capabilities: &[String],
    ulimits: &[opt::Ulimit],
) -> Result<Process> {
    let caps = capabilities
        .iter()
        .map(|c| {
            c.strip_prefix("CAP_")
                .unwrap_or(c)
                .parse::<Capability>()
                .map_err(|_| Error::msg(format!("unknown capability {c}")))
        })
        .collect::<Result<std::collections::HashSet<_>>>()?;
    let mut user = UserBuilder::default().uid(exec_user.uid).gid(exec_user.gid);
    if !exec_user.additional_gids.is_empty() {
        user = user.additional_gids(exec_user.additional_gids.clone());
    }
    let mut capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps)
        .build()
        .map_err(spec_err)?;
    capabilities.set_inheritable(None);
    capabilities.set_ambient(None);
    let mut p = ProcessBuilder::default()
        .terminal(opts.tty)
        .user(user.build().map_err(spec_err)?)
        .args(argv.to_vec())
        .env(env.to_vec())
        .cwd(cwd)
        .capabilities(capabilities)
        .no_new_privileges(opts.security.no_new_privileges)
        .oom_score_adj(0)
        .build()
        .map_err(spec_err)?;
    if let (true, Some((rows, cols))) = (opts.tty, opts.console_size) {
        p.set_console_size(Some(
            oci_spec::runtime::BoxBuilder::default()
                .height(rows as u64)
                .width(cols as u64)
                .build()
                .map_err(spec_err)?,
        ));
    }
    let as_u = |v: i64| if v < 0 { u64::MAX } else { v as u64 };
    let rlimits = ulimits
        .iter()
        .map(|u| {
            let typ = u
                .rlimit_type()
                .parse::<PosixRlimitType>()
                .map_err(|_| Error::msg(format!("unknown rlimit {}", u.rlimit_type())))?;
            PosixRlimitBuilder::default()
                .typ(typ)
                .soft(as_u(u.soft))
                .hard(as_u(u.hard))
                .build()
                .map_err(spec_err)
        })
        .collect::<Result<Vec<PosixRlimit>>>()?;
    p.set_rlimits((!rlimits.is_empty()).then_some(rlimits));
    Ok(p)
}

/// docker's merge of the command: `--entrypoint` resets the image's CMD;
/// (entrypoint, cmd, argv).
#[allow(clippy::type_complexity)]
fn command(
    opts: &CreateOptions,
    image: &image::manifest::ContainerConfig,
) -> Result<(Option<Vec<String>>, Option<Vec<String>>, Vec<String>)> {
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
    Ok((entrypoint, cmd, argv))
}

/// The capabilities (docker's default set with `--cap-add`/`--cap-drop`,
/// all with `--privileged`) and the seccomp filter.
fn security(
    opts: &CreateOptions,
) -> Result<(Vec<String>, Option<oci_spec::runtime::LinuxSeccomp>)> {
    let capabilities = caps::tweak(&opts.cap_add, &opts.cap_drop, opts.privileged)?;
    // As moby's WithSeccomp: --privileged drops the default profile, not
    // one named explicitly.
    let seccomp = match &opts.security.seccomp {
        opt::Seccomp::Unconfined => None,
        opt::Seccomp::Builtin => seccomp::default_for(&capabilities)?,
        opt::Seccomp::Profile(file) => seccomp::from_file(file, &capabilities).map_err(|e| {
            Error::flag("--security-opt", &format!("seccomp={}", file.display()), e)
        })?,
        opt::Seccomp::Default if opts.privileged => None,
        opt::Seccomp::Default => seccomp::default_for(&capabilities)?,
    };
    Ok((capabilities, seccomp))
}

/// The user's mounts in the spec (volumes as binds of their `_data`; an
/// anonymous one gets a random name) and as `inspect` shows them.
fn user_mounts(
    specs: &[crate::volumes::Mount],
    ctx: &SpecContext,
) -> Result<(Vec<Mount>, Vec<MountPoint>)> {
    let mut user_mounts: Vec<Mount> = Vec::new();
    let mut mount_points: Vec<MountPoint> = Vec::new();
    for m in specs {
        match m {
            crate::volumes::Mount::Tmpfs(t) => {
                user_mounts.push(mount(&t.target, "tmpfs", "tmpfs", t.mount_options())?);
            }
            crate::volumes::Mount::Bind(b) => {
                let rbind = if b.non_recursive { "bind" } else { "rbind" };
                let mut o = vec![rbind.to_string(), b.propagation.as_str().to_string()];
                if b.read_only {
                    o.push("ro".into());
                }
                user_mounts.push(mount(&b.target, "bind", &b.source, o)?);
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
                user_mounts.push(mount(&v.target, "bind", &src, o)?);
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
    Ok((user_mounts, mount_points))
}

/// The `linux` section: cgroup, namespaces, resources, masked and
/// read-only paths, seccomp, sysctls, devices.
fn linux(
    opts: &CreateOptions,
    ctx: &SpecContext,
    host_network: bool,
    resources: LinuxResources,
    devices: Vec<LinuxDevice>,
    seccomp: Option<oci_spec::runtime::LinuxSeccomp>,
) -> Result<oci_spec::runtime::Linux> {
    let mut linux = LinuxBuilder::default()
        .cgroups_path(format!("/berth/{}", ctx.id))
        .namespaces(namespaces(opts, host_network)?)
        .resources(resources)
        .build()
        .map_err(spec_err)?;
    // (The builder's defaults are docker-like lists: set or cleared here.)
    let confined = !opts.privileged && !opts.security.unconfined_paths;
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    linux.set_masked_paths(confined.then(|| strings(MASKED_PATHS)));
    linux.set_readonly_paths(confined.then(|| strings(READONLY_PATHS)));
    linux.set_seccomp(seccomp);
    let sysctl = sysctls(opts, host_network)?;
    linux.set_sysctl((!sysctl.is_empty()).then(|| sysctl.into_iter().collect::<HashMap<_, _>>()));
    linux.set_devices((!devices.is_empty()).then_some(devices));
    linux.set_uid_mappings(None);
    linux.set_gid_mappings(None);
    Ok(linux)
}

/// docker's `HostConfig` of the record (`inspect`), with what create
/// resolved: the network mode, /dev/shm size, memory and swap, pids.
fn host_config(
    opts: &CreateOptions,
    net_mode: &crate::network::Mode,
    shm_size: i64,
    (memory, memory_swap, pids_limit): (i64, i64, Option<i64>),
    ulimits: &[opt::Ulimit],
) -> HostConfig {
    let sec = &opts.security;
    let res = &opts.resources;
    let extra_hosts = &opts.extra_hosts;
    let nonempty = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    let binds: Vec<String> = opts.binds.iter().map(|m| m.bind_string()).collect();
    let security_opt = sec.to_strings();
    HostConfig {
        binds: nonempty(&binds),
        log_config: opts.log_config.clone(),
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
            nano_cpus: res.nano_cpus,
            cpu_period: 0,
            cpu_quota: 0,
            pids_limit,
            ulimits: (!ulimits.is_empty()).then(|| ulimits.to_vec()),
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
    }
}

/// Builds the container record (id, name, created and image fields are
/// left to the caller) and the OCI spec.
pub fn generate(
    opts: &CreateOptions,
    image: &image::manifest::ContainerConfig,
    ctx: &SpecContext,
) -> Result<Generated> {
    // The log driver and its options, as docker's driver checks them (a
    // request from the API has not been through the flag parser).
    crate::logs::LogSettings::parse(&opts.log_config)?;
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
    let (entrypoint, cmd, argv) = command(opts, image)?;
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

    let (capabilities, seccomp) = security(opts)?;

    // Resources.
    let res = &opts.resources;
    let (memory, memory_swap) = crate::options::memory_limits(
        (0, 0),
        (res.memory != 0).then_some(res.memory),
        (res.memory_swap != 0).then_some(res.memory_swap),
    )?;
    let pids_limit = res.pids_limit.filter(|p| *p > 0);
    let ulimits = res.ulimits.clone().unwrap_or_default();
    let shm_size = opts.shm_size.unwrap_or(DEFAULT_SHM);
    let extra_hosts = &opts.extra_hosts;
    let resolv = resolv_conf(opts, host_network, ctx.host_resolv_conf)?;
    let hosts = hosts_file(extra_hosts, host_network, ctx.host_hosts);

    // Mounts: user mounts first decide which defaults stay.
    // -v, --mount and the image's VOLUMEs (anonymous volumes get a random name).
    let from = ctx.volumes_from;
    let image_volumes: Vec<String> = image
        .volumes
        .keys()
        .filter(|_| !opts.no_image_volumes)
        .filter(|v| {
            let d = crate::options::clean_path(v);
            !from.iter().any(|m| m.target() == d)
        })
        .cloned()
        .collect();
    let mut specs = crate::volumes::plan(&opts.binds, &opts.mounts, &opts.tmpfs, &image_volumes)?;
    // --volumes-from: the container's own mounts win on a destination.
    for m in from {
        if !specs.iter().any(|s| s.target() == m.target()) {
            specs.push(m.clone());
        }
    }
    crate::volumes::refuse_kernel_fs(
        specs
            .iter()
            .map(|m| (m.target(), matches!(m, crate::volumes::Mount::Bind(_)))),
        ctx.layers,
    )?;
    let (mut user_mounts, mount_points) = user_mounts(&specs, ctx)?;
    let dests: Vec<String> = specs.iter().map(|m| m.target().to_string()).collect();
    let mut mounts = default_mounts(opts, ctx, shm_size, &dests)?;
    // Parents before children (docker sorts by path depth).
    user_mounts.sort_by_key(|m| m.destination().components().count());
    mounts.extend(user_mounts);
    let (resources, devices) = resources(opts, memory, memory_swap, pids_limit)?;
    let process = process(
        opts,
        &exec_user,
        &argv,
        &process_env,
        &cwd,
        &capabilities,
        &ulimits,
    )?;
    let linux = linux(opts, ctx, host_network, resources, devices, seccomp.clone())?;
    let root = RootBuilder::default()
        .path(ctx.rootfs)
        .readonly(opts.readonly_rootfs)
        .build()
        .map_err(spec_err)?;
    let mut spec = SpecBuilder::default()
        .version("1.0.2-dev")
        .process(process)
        .root(root)
        .hostname(hostname.clone())
        .mounts(mounts)
        .linux(linux)
        .build()
        .map_err(spec_err)?;
    spec.set_annotations(None);

    let host_config = host_config(
        opts,
        &net_mode,
        shm_size,
        (memory, memory_swap, pids_limit),
        &ulimits,
    );
    let config = Config {
        hostname: hostname.clone(),
        domainname: String::new(),
        user: user_spec,
        attach_stdin: opts.open_stdin,
        attach_stdout: true,
        attach_stderr: true,
        exposed_ports: {
            let mut e = image.exposed_ports.clone();
            for p in &opts.exposed_ports {
                e.entry(p.clone()).or_insert_with(|| serde_json::json!({}));
            }
            e
        },
        tty: opts.tty,
        open_stdin: opts.open_stdin,
        stdin_once: opts.stdin_once,
        env,
        cmd,
        image: opts.image.clone(),
        volumes: image.volumes.clone(),
        working_dir: workdir,
        entrypoint,
        on_build: None,
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
        process_env,
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

    #[test]
    fn device_dirs_are_walked_without_following_links() {
        // A directory of devices holding links out (to a node and to the
        // host's /dev): nothing reached through a link is taken.
        let d = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/dev/null", d.path().join("null")).unwrap();
        std::os::unix::fs::symlink("/dev", d.path().join("host-dev")).unwrap();
        let m = opt::DeviceMapping {
            path_on_host: d.path().to_string_lossy().into_owned(),
            path_in_container: "/dev/x".into(),
            cgroup_permissions: "rwm".into(),
        };
        let e = device_nodes(&m).unwrap_err();
        assert!(e.to_string().contains("is not a device"), "{e}");
        // The node itself, named directly, is one.
        let m = opt::DeviceMapping {
            path_on_host: "/dev/null".into(),
            path_in_container: "/dev/x".into(),
            cgroup_permissions: "rwm".into(),
        };
        assert_eq!(device_nodes(&m).unwrap().len(), 1);
    }
    use crate::options::CreateFlags;
    use image::manifest::ContainerConfig as ImageConfig;
    use serde_json::{json, Value};

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

    /// What a test looks at: the record, the spec as written (JSON), the files.
    #[derive(Debug)]
    struct TestGen {
        container: Container,
        spec: Value,
        hosts: String,
        hostname: String,
        resolv_conf: String,
    }

    /// Generates from flags, parsed as the CLI parses them.
    fn gen(f: &Fx, o: &CreateFlags, img: &ImageConfig) -> Result<TestGen> {
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
            shm: &d.join("shm"),
            layers: &f.view,
            host_resolv_conf: &rc,
            host_hosts: &h,
            volumes_dir: &d.join("volumes"),
            volumes_from: &[],
        };
        let g = generate(&o, img, &ctx)?;
        Ok(TestGen {
            spec: serde_json::to_value(&g.spec).unwrap(),
            container: g.container,
            hosts: g.hosts,
            hostname: g.hostname,
            resolv_conf: g.resolv_conf,
        })
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

    /// The spec built with oci_spec's types for a set of options: the
    /// fields the runtime reads, and none of the builders' own defaults
    /// (annotations, rlimits, inheritable/ambient capabilities, id maps).
    #[test]
    fn typed_spec_important_fields() {
        let f = fx();
        let g = gen(&f, &opts(&["true"]), &ImageConfig::default()).unwrap();
        let v = &g.spec;
        assert_eq!(v["ociVersion"], "1.0.2-dev");
        for absent in ["annotations", "hooks", "domainname"] {
            assert!(v.get(absent).is_none(), "{absent}: {v}");
        }
        let p = &v["process"];
        assert!(p.get("rlimits").is_none() && p.get("consoleSize").is_none());
        assert!(p["capabilities"].get("ambient").is_none());
        assert_eq!(p["oomScoreAdj"], 0);
        assert_eq!(p["terminal"], false);
        assert_eq!(
            p["user"],
            json!({"uid": 0, "gid": 0, "additionalGids": [0]})
        );
        let l = &v["linux"];
        for absent in ["uidMappings", "gidMappings", "devices", "rootfsPropagation"] {
            assert!(l.get(absent).is_none(), "{absent}: {l}");
        }
        assert_eq!(
            l["sysctl"],
            json!({"net.ipv4.ip_unprivileged_port_start": "0", "net.ipv4.ping_group_range": "0 2147483647"})
        );
        assert_eq!(v["root"]["readonly"], false);
        assert!(v["root"]["path"].as_str().unwrap().ends_with("/rootfs"));

        let o = CreateFlags {
            image: "img".into(),
            cmd: s(&["true"]),
            tty: true,
            console_size: Some((24, 80)),
            pid: Some("host".into()),
            ipc: Some("none".into()),
            network: Some("none".into()),
            sysctls: s(&["kernel.shmmax=1000", "net.ipv4.ip_forward=1"]),
            cpu_shares: Some(512),
            cpuset_cpus: Some("0".into()),
            memory: Some("64m".into()),
            memory_reservation: Some("32m".into()),
            cpus: Some("0.5".into()),
            pids_limit: Some(20),
            ulimits: s(&["nofile=100:200"]),
            devices: s(&["/dev/null:/dev/mynull:rw"]),
            device_cgroup_rules: s(&["c 1:11 rwm"]),
            security_opt: s(&["no-new-privileges"]),
            read_only: true,
            ..Default::default()
        };
        let v = gen(&f, &o, &ImageConfig::default()).unwrap().spec;
        let p = &v["process"];
        assert_eq!(p["terminal"], true);
        assert_eq!(p["consoleSize"], json!({"height": 24, "width": 80}));
        assert_eq!(p["noNewPrivileges"], true);
        assert_eq!(
            p["rlimits"],
            json!([{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200}])
        );
        let l = &v["linux"];
        let ns: Vec<&str> = l["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            ns,
            ["ipc", "uts", "mount", "network", "cgroup"],
            "--pid host"
        );
        assert_eq!(l["sysctl"]["kernel.shmmax"], "1000");
        assert_eq!(l["sysctl"]["net.ipv4.ip_forward"], "1");
        let r = &l["resources"];
        assert_eq!(r["cpu"]["shares"], 512);
        assert_eq!(r["cpu"]["cpus"], "0");
        assert_eq!(r["cpu"]["quota"], 50_000);
        assert_eq!(r["cpu"]["period"], 100_000);
        assert_eq!(r["memory"]["limit"], 64 << 20);
        assert_eq!(r["memory"]["reservation"], 32 << 20);
        assert_eq!(r["pids"]["limit"], 20);
        assert_eq!(
            r["devices"],
            json!([
                {"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"},
                {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "rwm"},
            ])
        );
        assert_eq!(l["devices"][0]["path"], "/dev/mynull");
        assert_eq!(l["devices"][0]["type"], "c");
        assert_eq!(
            (
                l["devices"][0]["major"].clone(),
                l["devices"][0]["minor"].clone()
            ),
            (json!(1), json!(3))
        );
        let dests: Vec<&str> = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        assert!(!dests.contains(&"/dev/shm"), "--ipc none: {dests:?}");
        assert_eq!(v["root"]["readonly"], true);
        // Shared namespaces refuse the sysctls of theirs.
        let mut o2 = o.clone();
        o2.network = Some("host".into());
        let e = gen(&f, &o2, &ImageConfig::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("invalid --sysctl \"net.ipv4.ip_forward=1\""),
            "{e}"
        );
        let mut o3 = o.clone();
        o3.ipc = Some("host".into());
        o3.sysctls = s(&["kernel.shmmax=1"]);
        let e = gen(&f, &o3, &ImageConfig::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("IPC sysctls are not allowed"), "{e}");
        // --ipc host: the host's /dev/shm, no ipc namespace.
        let v = gen(&f, &o3_without_sysctl(&o3), &ImageConfig::default())
            .unwrap()
            .spec;
        let shm = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == "/dev/shm")
            .unwrap()
            .clone();
        assert_eq!(
            (shm["type"].clone(), shm["source"].clone()),
            (json!("bind"), json!("/dev/shm"))
        );
        assert!(!v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["type"] == "ipc"));
    }

    fn o3_without_sysctl(o: &CreateFlags) -> CreateFlags {
        CreateFlags {
            sysctls: vec![],
            ..o.clone()
        }
    }
}

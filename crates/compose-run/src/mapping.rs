//! A compose service → the engine's typed [`CreateOptions`]. Every field
//! the engine cannot honour is reported by its path
//! (`services.web.deploy.placement: not supported`): an error when
//! ignoring it would change what runs, else a warning.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use berth_compose::{Project, ServiceConfig, ServiceVolumeConfig};
use engine::options::mounts::{BindMount, Mount, Propagation, TmpfsMount, VolumeMount};
use engine::options::{self, HealthConfig, HealthTest, RestartPolicy};
use engine::CreateOptions;

use crate::{Error, Result};

/// What the mapping gives: the options, the networks to join besides the
/// primary one (name, aliases, ip), and warnings.
#[derive(Debug, Default)]
pub struct Mapped {
    pub opts: CreateOptions,
    /// Secondary networks: (engine network name, aliases, ipv4).
    pub extra_networks: Vec<(String, Vec<String>, Option<Ipv4Addr>)>,
    pub warnings: Vec<String>,
}

fn unsupported(svc: &str, field: &str) -> Error {
    Error::Msg(format!("services.{svc}.{field}: not supported"))
}

/// Checks the fields Berth's engine does not run: errors for those whose
/// absence would change what runs, warnings (returned) for the others.
pub fn check_supported(s: &ServiceConfig) -> Result<Vec<String>> {
    let n = &s.name;
    let mut warn = Vec::new();
    let mut w = |f: &str| warn.push(format!("services.{n}.{f}: not supported, ignored"));
    if !s.devices.is_empty() {
        return Err(unsupported(n, "devices"));
    }
    if !s.gpus.is_empty() {
        return Err(unsupported(n, "gpus"));
    }
    if s.provider.is_some() {
        return Err(unsupported(n, "provider"));
    }
    if !s.post_start.is_empty() {
        return Err(unsupported(n, "post_start"));
    }
    if !s.pre_stop.is_empty() {
        return Err(unsupported(n, "pre_stop"));
    }
    if s.blkio_config.is_some() {
        w("blkio_config");
    }
    if !s.cgroup_parent.is_empty() {
        w("cgroup_parent");
    }
    if s.cpu_count != 0 {
        w("cpu_count");
    }
    if s.cpu_percent != 0.0 {
        w("cpu_percent");
    }
    if s.cpu_rt_period != 0 || s.cpu_rt_runtime != 0 {
        w("cpu_rt_period/cpu_rt_runtime");
    }
    if !s.mem_swappiness.is_zero() {
        w("mem_swappiness");
    }
    if s.oom_kill_disable {
        w("oom_kill_disable");
    }
    if s.oom_score_adj != 0 {
        w("oom_score_adj");
    }
    if !s.platform.is_empty() {
        w("platform");
    }
    if !s.mac_address.is_empty() {
        w("mac_address");
    }
    if !s.storage_opt.is_empty() {
        w("storage_opt");
    }
    if !s.external_links.is_empty() {
        w("external_links");
    }
    if !s.links.is_empty() {
        w("links (services reach each other by name on the project's networks)");
    }
    if !s.uts.is_empty() {
        w("uts");
    }
    if !s.isolation.is_empty() {
        w("isolation");
    }
    if !s.cgroup.is_empty() {
        w("cgroup");
    }
    if !s.domainname.is_empty() {
        w("domainname");
    }
    if let Some(d) = &s.deploy {
        if !d.placement.constraints.is_empty()
            || !d.placement.preferences.is_empty()
            || d.placement.max_replicas != 0
        {
            w("deploy.placement");
        }
        if d.update_config.is_some() {
            w("deploy.update_config");
        }
        if d.rollback_config.is_some() {
            w("deploy.rollback_config");
        }
        // compose maps reservations.memory (and devices) only: cpus is a
        // swarm scheduling hint and pids a limit only
        if let Some(r) = &d.resources.reservations {
            if r.cpus != 0.0 {
                w("deploy.resources.reservations.cpus");
            }
            if r.pids != 0 {
                w("deploy.resources.reservations.pids");
            }
            if !r.generic_resources.is_empty() {
                w("deploy.resources.reservations.generic_resources");
            }
            if !r.devices.is_empty() {
                return Err(unsupported(n, "deploy.resources.reservations.devices"));
            }
        }
        if let Some(l) = &d.resources.limits {
            if !l.generic_resources.is_empty() {
                w("deploy.resources.limits.generic_resources");
            }
        }
        if !d.endpoint_mode.is_empty() {
            w("deploy.endpoint_mode");
        }
        if !d.mode.is_empty() && d.mode != "replicated" {
            return Err(Error::Msg(format!(
                "services.{n}.deploy.mode: {:?} not supported (replicated only)",
                d.mode
            )));
        }
    }
    Ok(warn)
}

fn opt_str(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

fn field_err(svc: &str, field: &str, e: impl std::fmt::Display) -> Error {
    Error::Msg(format!("services.{svc}.{field}: {e}"))
}

/// The create options of one container of service `s` in project `p`
/// (name and labels are set by the caller).
pub fn create_options(p: &Project, s: &ServiceConfig) -> Result<Mapped> {
    let n = s.name.as_str();
    let mut m = Mapped {
        warnings: check_supported(s)?,
        ..Default::default()
    };
    let o = &mut m.opts;
    o.image = crate::build::image_name(p, s);
    o.cmd = s.command.0.clone().unwrap_or_default();
    o.entrypoint = s.entrypoint.0.clone();
    o.env = s
        .environment
        .0
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect();
    o.working_dir = opt_str(&s.working_dir);
    o.user = opt_str(&s.user);
    o.group_add = s.group_add.clone();
    o.hostname = opt_str(&s.hostname);
    o.labels = s.labels.0.clone();
    o.privileged = s.privileged;
    o.cap_add = options::normalize_caps(&s.cap_add);
    o.cap_drop = options::normalize_caps(&s.cap_drop);
    o.security = options::parse_security_opts(&s.security_opt)
        .map_err(|e| field_err(n, "security_opt", e))?;
    o.readonly_rootfs = s.read_only;
    o.tty = s.tty;
    o.open_stdin = s.stdin_open;
    o.init = s.init.unwrap_or(false);
    if !s.runtime.is_empty() && s.runtime != "runc" {
        o.runtime = Some(s.runtime.clone().into());
    }
    if !s.shm_size.is_zero() {
        o.shm_size = Some(s.shm_size.0);
    }
    if !s.stop_signal.is_empty() {
        options::parse_signal("stop_signal", &s.stop_signal)
            .map_err(|e| field_err(n, "stop_signal", e))?;
        o.stop_signal = Some(s.stop_signal.clone());
    }
    if let Some(d) = &s.stop_grace_period {
        o.stop_timeout = Some(d.0 / 1_000_000_000);
    }
    // resources
    let r = &mut o.resources;
    r.memory = s.mem_limit.0;
    r.memory_reservation = s.mem_reservation.0;
    r.memory_swap = s.mem_swap_limit.0;
    r.nano_cpus = (s.cpus as f64 * 1e9) as i64;
    r.cpu_shares = s.cpu_shares;
    r.cpu_period = s.cpu_period;
    r.cpu_quota = s.cpu_quota;
    r.cpuset_cpus = s.cpuset.clone();
    if s.pids_limit != 0 {
        r.pids_limit = Some(s.pids_limit);
    }
    if let Some(lim) = s.deploy.as_ref().and_then(|d| d.resources.limits.as_ref()) {
        if lim.cpus != 0.0 {
            r.nano_cpus = (lim.cpus as f64 * 1e9) as i64;
        }
        if !lim.memory.is_zero() {
            r.memory = lim.memory.0;
        }
        if lim.pids != 0 {
            r.pids_limit = Some(lim.pids);
        }
        if !lim.devices.is_empty() {
            return Err(unsupported(n, "deploy.resources.limits.devices"));
        }
    }
    if let Some(res) = s
        .deploy
        .as_ref()
        .and_then(|d| d.resources.reservations.as_ref())
    {
        if !res.memory.is_zero() {
            r.memory_reservation = res.memory.0;
        }
    }
    if !s.ulimits.is_empty() {
        r.ulimits = Some(
            s.ulimits
                .iter()
                .map(|(k, u)| {
                    let (soft, hard) = if u.single != 0 {
                        (u.single, u.single)
                    } else {
                        (u.soft, u.hard)
                    };
                    options::parse_ulimit(&format!("{k}={soft}:{hard}"))
                        .map_err(|e| field_err(n, &format!("ulimits.{k}"), e))
                })
                .collect::<Result<_>>()?,
        );
    }
    if !s.device_cgroup_rules.is_empty() {
        r.device_cgroup_rules = s
            .device_cgroup_rules
            .iter()
            .map(|x| {
                options::parse_device_cgroup_rule(x)
                    .map_err(|e| field_err(n, "device_cgroup_rules", e))
            })
            .collect::<Result<_>>()?;
    }
    o.sysctls = s.sysctls.0.clone();
    for (host, ips) in &s.extra_hosts.0 {
        for ip in ips {
            o.extra_hosts.push(
                options::parse_add_host(&format!("{host}:{ip}"))
                    .map_err(|e| field_err(n, "extra_hosts", e))?,
            );
        }
    }
    o.dns = s
        .dns
        .iter()
        .map(|d| {
            d.parse::<IpAddr>()
                .map_err(|_| field_err(n, "dns", format!("{d:?} is not an IP address")))
        })
        .collect::<Result<_>>()?;
    o.dns_search = s.dns_search.clone();
    o.dns_options = s.dns_opt.clone();
    // (`service:NAME` is resolved when the container is created)
    if !s.pid.is_empty() && !s.pid.starts_with("service:") {
        o.pid_mode = options::parse_pid_mode(&s.pid).map_err(|e| field_err(n, "pid", e))?;
    }
    if !s.ipc.is_empty() && !s.ipc.starts_with("service:") {
        o.ipc_mode = options::parse_ipc_mode(&s.ipc).map_err(|e| field_err(n, "ipc", e))?;
    }
    if !s.userns_mode.is_empty() {
        o.userns_mode = options::parse_userns_mode(&s.userns_mode)
            .map_err(|e| field_err(n, "userns_mode", e))?;
    }
    // restart: `restart:`, else deploy.restart_policy (as compose)
    o.restart_policy = if !s.restart.is_empty() {
        options::parse_restart(&s.restart).map_err(|e| field_err(n, "restart", e))?
    } else if let Some(rp) = s.deploy.as_ref().and_then(|d| d.restart_policy.as_ref()) {
        match rp.condition.as_str() {
            "" | "any" => RestartPolicy::Always,
            "on-failure" => RestartPolicy::OnFailure(rp.max_attempts.unwrap_or(0) as i64),
            "none" => RestartPolicy::No,
            c => {
                return Err(field_err(
                    n,
                    "deploy.restart_policy.condition",
                    format!("{c:?} is not one of none, on-failure, any"),
                ))
            }
        }
    } else {
        RestartPolicy::No
    };
    // logging
    let (driver, lopts) = match &s.logging {
        Some(l) => (l.driver.clone(), l.options.clone()),
        None => (s.log_driver.clone(), s.log_opt.clone()),
    };
    let lopts: Vec<String> = lopts.iter().map(|(k, v)| format!("{k}={v}")).collect();
    o.log_config = engine::logs::LogConfig::from_flags(Some(driver.as_str()), &lopts)
        .map_err(|e| field_err(n, "logging", e))?;
    // healthcheck
    if let Some(h) = &s.healthcheck {
        let test = if h.disable {
            Some(HealthTest::None)
        } else if h.test.is_empty() {
            None
        } else {
            Some(
                HealthTest::try_from(h.test.clone())
                    .map_err(|e| field_err(n, "healthcheck.test", e))?,
            )
        };
        o.healthcheck = Some(HealthConfig {
            test,
            interval: h.interval.map(|d| d.0),
            timeout: h.timeout.map(|d| d.0),
            start_period: h.start_period.map(|d| d.0),
            start_interval: h.start_interval.map(|d| d.0),
            retries: h.retries.map(|r| r as i64),
        });
    }
    // ports and expose
    for (i, pc) in s.ports.iter().enumerate() {
        if pc.mode == "ingress" && pc.host_ip.is_empty() && pc.published.is_empty() {
            // no host port: still published on a random one, as compose
        }
        let proto = if pc.protocol.is_empty() {
            "tcp"
        } else {
            &pc.protocol
        };
        let mut spec = String::new();
        if !pc.host_ip.is_empty() {
            spec.push_str(&pc.host_ip);
            spec.push(':');
        }
        if !pc.published.is_empty() || !pc.host_ip.is_empty() {
            spec.push_str(&pc.published);
            spec.push(':');
        }
        spec.push_str(&format!("{}/{proto}", pc.target));
        o.port_bindings.push(
            options::parse_publish(&spec).map_err(|e| field_err(n, &format!("ports[{i}]"), e))?,
        );
    }
    o.exposed_ports =
        options::parse_expose_list(&s.expose).map_err(|e| field_err(n, "expose", e))?;
    // volumes, tmpfs
    for (i, v) in s.volumes.iter().enumerate() {
        o.mounts.push(mount(p, n, i, v)?);
    }
    for t in &s.tmpfs {
        o.tmpfs
            .push(options::mounts::parse_tmpfs_flag(t).map_err(|e| field_err(n, "tmpfs", e))?);
    }
    // secrets and configs of a `file` source
    let taken: Vec<String> = o
        .mounts
        .iter()
        .map(|m| crate::refs::target_of(m).to_string())
        .chain(o.tmpfs.iter().map(|t| t.target.clone()))
        .collect();
    let files = crate::files::bind_mounts(p, s, &taken, &mut m.warnings)?;
    o.mounts.extend(files);
    // networks
    match s.network_mode.as_str() {
        "" => {
            let mut nets: Vec<(&String, i64)> = s
                .networks
                .iter()
                .map(|(k, c)| (k, c.as_ref().map(|c| c.priority).unwrap_or(0)))
                .collect();
            // highest priority first, then by name (compose's order)
            nets.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            for (i, (key, _)) in nets.into_iter().enumerate() {
                let net = p
                    .networks
                    .get(key)
                    .ok_or_else(|| field_err(n, &format!("networks.{key}"), "undefined network"))?;
                let cfg = s.networks.get(key).cloned().flatten().unwrap_or_default();
                let mut aliases = vec![n.to_string()];
                aliases.extend(cfg.aliases.iter().cloned());
                let ip = if cfg.ipv4_address.is_empty() {
                    None
                } else {
                    Some(cfg.ipv4_address.parse::<Ipv4Addr>().map_err(|_| {
                        field_err(
                            n,
                            &format!("networks.{key}.ipv4_address"),
                            format!("{:?} is not an IPv4 address", cfg.ipv4_address),
                        )
                    })?)
                };
                if !cfg.ipv6_address.is_empty() {
                    m.warnings.push(format!(
                        "services.{n}.networks.{key}.ipv6_address: not supported, ignored"
                    ));
                }
                let name = if net.name.is_empty() {
                    format!("{}_{key}", p.name)
                } else {
                    net.name.clone()
                };
                if i == 0 {
                    o.network_mode = Some(name);
                    o.network_aliases = aliases;
                    o.ip = ip;
                } else {
                    m.extra_networks.push((name, aliases, ip));
                }
            }
        }
        mode => {
            o.network_mode = Some(mode.to_string());
        }
    }
    Ok(m)
}

fn mount(p: &Project, svc: &str, i: usize, v: &ServiceVolumeConfig) -> Result<Mount> {
    let field = format!("volumes[{i}]");
    match v.kind.as_str() {
        "bind" => {
            let b = v.bind.clone().unwrap_or_default();
            if b.create_host_path && !std::path::Path::new(&v.source).exists() {
                std::fs::create_dir_all(&v.source).map_err(|e| {
                    field_err(svc, &field, format!("cannot create {}: {e}", v.source))
                })?;
            }
            let propagation = match b.propagation.as_str() {
                "" | "rprivate" => Propagation::Rprivate,
                "private" => Propagation::Private,
                "shared" => Propagation::Shared,
                "rshared" => Propagation::Rshared,
                "slave" => Propagation::Slave,
                "rslave" => Propagation::Rslave,
                x => return Err(field_err(svc, &field, format!("bad propagation {x:?}"))),
            };
            Ok(Mount::Bind(BindMount {
                source: v.source.clone(),
                target: v.target.clone(),
                read_only: v.read_only,
                propagation,
                non_recursive: b.recursive == "disabled",
                mode: if v.read_only {
                    "ro".into()
                } else {
                    "rw".into()
                },
                ..Default::default()
            }))
        }
        "volume" => {
            let name = if v.source.is_empty() {
                None
            } else {
                let decl = p.volumes.get(&v.source).ok_or_else(|| {
                    field_err(
                        svc,
                        &field,
                        format!("service uses undefined volume {:?}", v.source),
                    )
                })?;
                Some(if decl.name.is_empty() {
                    format!("{}_{}", p.name, v.source)
                } else {
                    decl.name.clone()
                })
            };
            let vo = v.volume.clone().unwrap_or_default();
            if !vo.subpath.is_empty() {
                return Err(unsupported(svc, &format!("{field}.volume.subpath")));
            }
            Ok(Mount::Volume(VolumeMount {
                name,
                target: v.target.clone(),
                read_only: v.read_only,
                no_copy: vo.nocopy,
                labels: vo.labels.0.clone(),
                driver_opts: BTreeMap::new(),
                mode: String::new(),
            }))
        }
        "tmpfs" => {
            let t = v.tmpfs.clone().unwrap_or_default();
            Ok(Mount::Tmpfs(TmpfsMount {
                target: v.target.clone(),
                size: (!t.size.is_zero()).then_some(t.size.0),
                mode: (t.mode != 0).then_some(t.mode as u32),
                read_only: v.read_only,
                options: Vec::new(),
            }))
        }
        k => Err(field_err(
            svc,
            &format!("{field}.type"),
            format!("{k:?}: not supported"),
        )),
    }
}

//! Container networking for the engine, over the `network` crate:
//! the default `bridge` network, user networks, `-p`/`-P`, aliases,
//! `--ip`, `container:NAME`, /etc/hosts and resolv.conf, the embedded DNS
//! of user networks, and [`teardown`].
//!
//! Lifecycle: `create` records the mode and puts the container's netns
//! file (`<run_root>/net/netns/<id>`) in the OCI spec; `start` makes
//! that netns, attaches it ([`setup`]) and writes hosts/resolv.conf; the
//! exit (through `release_runtime`) and `rm` call [`teardown`].

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use network::{ContainerNet, Join, Manager, Network, Paths, PortMapping, RealHost};
use serde_json::{json, Value};

use crate::container::Container;
use crate::error::{Error, Result};
use crate::options::CreateOptions;
use crate::Engine;

pub use network::DEFAULT_NETWORK;

/// The network mode of `--network`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    None,
    Host,
    /// `container:ID` (resolved at create).
    Container(String),
    /// A bridge network by name (`bridge` = the default).
    Bridge(String),
}

impl Mode {
    pub fn parse(s: Option<&str>) -> Mode {
        match s.unwrap_or("") {
            "" | "default" | "bridge" => Mode::Bridge(DEFAULT_NETWORK.into()),
            "none" => Mode::None,
            "host" => Mode::Host,
            s => match s.strip_prefix("container:") {
                Some(c) => Mode::Container(c.into()),
                None => Mode::Bridge(s.into()),
            },
        }
    }

    /// HostConfig.NetworkMode.
    pub fn name(&self) -> String {
        match self {
            Mode::None => "none".into(),
            Mode::Host => "host".into(),
            Mode::Container(c) => format!("container:{c}"),
            Mode::Bridge(n) => n.clone(),
        }
    }
}

fn conv(e: network::Error) -> Error {
    match e {
        network::Error::Flag { .. } | network::Error::Invalid(_) => {
            Error::InvalidArgument(e.to_string())
        }
        network::Error::Conflict(_) => Error::Conflict(e.to_string()),
        _ => Error::Msg(e.to_string()),
    }
}

/// The store's network paths and host object names: `berth` / `berth0`
/// for the default store, names derived from the root otherwise, so
/// stores side by side (tests) do not share tables or bridges.
pub fn paths(e: &Engine) -> Paths {
    let default = e.root() == Path::new(image::DEFAULT_ROOT);
    let h = network::short_hash(&[&e.root().to_string_lossy()]);
    Paths {
        state: e.root().join("networks"),
        run: e.run_root().join("net"),
        table: if default {
            "berth".into()
        } else {
            format!("berth_{}", &h[..8])
        },
        default_bridge: if default {
            "berth0".into()
        } else {
            format!("bth{}", &h[..8])
        },
        keep_default_bridge: default,
    }
}

pub fn manager(e: &Engine) -> Manager<RealHost> {
    Manager::new(paths(e), RealHost)
}

/// What `create` decided: the mode, and the netns path for the spec
/// (`None`: a fresh anonymous namespace or the host's).
pub(crate) struct Prepared {
    pub mode: Mode,
    pub netns: Option<PathBuf>,
}

/// Validates the network flags at create (unknown network, bad `-p`,
/// `--ip`), resolves `container:NAME`.
pub(crate) fn prepare(e: &Engine, opts: &CreateOptions, id: &str) -> Result<Prepared> {
    let mut mode = Mode::parse(opts.network_mode.as_deref());
    if opts.network_mode.is_none() && !nix::unistd::geteuid().is_root() {
        // Bridges need root; without it the default is an empty netns.
        mode = Mode::None;
    }
    let bridge = matches!(mode, Mode::Bridge(_));
    if !bridge && (!opts.network_aliases.is_empty() || opts.ip.is_some()) {
        return Err(Error::invalid(
            "network-scoped aliases and --ip are only supported for user-defined networks",
        ));
    }
    let m = manager(e);
    match &mode {
        Mode::Bridge(n) if n == DEFAULT_NETWORK => {
            if !opts.network_aliases.is_empty() {
                return Err(Error::invalid(
                    "network-scoped alias is supported only for containers in user defined networks",
                ));
            }
            if opts.ip.is_some() {
                return Err(Error::invalid(
                    "user specified IP address is supported on user defined networks only",
                ));
            }
            Ok(Prepared {
                netns: Some(m.netns_path(id)),
                mode,
            })
        }
        Mode::Bridge(n) => {
            let net = m.get(n).map_err(conv)?;
            Ok(Prepared {
                netns: Some(m.netns_path(id)),
                mode: Mode::Bridge(net.name),
            })
        }
        Mode::Container(c) => {
            let other = e.lookup(c)?;
            let st = e.state(&other)?;
            if !st.running() {
                return Err(Error::Conflict(format!(
                    "cannot join network namespace of a non running container {c}"
                )));
            }
            let file = m.netns_path(&other);
            let ns = if network::sys::is_netns(&file) {
                file
            } else {
                PathBuf::from(format!("/proc/{}/ns/net", st.pid))
            };
            Ok(Prepared {
                netns: Some(ns),
                mode: Mode::Container(other),
            })
        }
        _ => Ok(Prepared { netns: None, mode }),
    }
}

/// Puts the prepared netns path into the spec's network namespace.
pub(crate) fn apply_to_spec(p: &Prepared, spec: &mut oci_spec::runtime::Spec) {
    let Some(path) = &p.netns else { return };
    let nss = spec
        .linux_mut()
        .as_mut()
        .and_then(|l| l.namespaces_mut().as_mut());
    for ns in nss.into_iter().flatten() {
        if ns.typ() == oci_spec::runtime::LinuxNamespaceType::Network {
            ns.set_path(Some(path.clone()));
        }
    }
}

/// The published ports of a container: `-p`, plus the image's exposed
/// ports with `-P`.
fn wanted_ports(c: &Container) -> Result<Vec<PortMapping>> {
    let mut v = Vec::new();
    for p in &c.options.port_bindings {
        v.extend(p.mappings());
    }
    if c.options.publish_all_ports {
        let have: Vec<String> = v.iter().map(|m| m.key()).collect();
        v.extend(
            network::ports::exposed_mappings(c.config.exposed_ports.keys().map(String::as_str))
                .into_iter()
                .filter(|m| !have.contains(&m.key())),
        );
    }
    Ok(v)
}

fn userdata(e: &Engine, id: &str) -> PathBuf {
    e.container_dir(id).join("userdata")
}

/// Keeps the create-time file as `<name>.base`, writes `<name>` = base + extra.
fn rewrite(e: &Engine, id: &str, name: &str, f: impl FnOnce(&str) -> String) -> Result<()> {
    let ud = userdata(e, id);
    let base = ud.join(format!("{name}.base"));
    let cur = ud.join(name);
    if !base.exists() {
        std::fs::copy(&cur, &base)
            .map_err(|er| Error::io(format!("cannot copy {}", cur.display()), er))?;
    }
    let b = std::fs::read_to_string(&base)
        .map_err(|er| Error::io(format!("cannot read {}", base.display()), er))?;
    // Made again from the records at every start: no fsync (as at create).
    crate::fsutil::write_atomic_with(&cur, f(&b).as_bytes(), crate::fsutil::Durability::Atomic)
}

/// At start: makes the netns and attaches it to the container's network
/// with its published ports; writes hosts and resolv.conf; starts the
/// network's DNS. Leaves nothing behind on error.
pub(crate) fn setup(e: &Engine, c: &Container) -> Result<()> {
    let mode = Mode::parse(Some(&c.host_config.network_mode));
    let Mode::Bridge(name) = mode else {
        return Ok(());
    };
    let r = setup_bridge(e, c, &name);
    if r.is_err() {
        let _ = teardown(e, &c.id);
    }
    r
}

fn setup_bridge(e: &Engine, c: &Container, name: &str) -> Result<()> {
    let mut m = manager(e);
    let ports = wanted_ports(c)?;
    m.create_netns(&c.id).map_err(conv)?;
    let join = Join {
        aliases: c.options.network_aliases.clone(),
        ip: c.options.ip,
        dns: ext_servers(c),
    };
    let mut tries = 0;
    let (net, ep) = loop {
        let net = if name == DEFAULT_NETWORK {
            m.ensure_default().map_err(conv)?
        } else {
            m.get(name).map_err(conv)?
        };
        // The default network may go with its last container meanwhile.
        match m.connect(&c.id, &c.name, &net, &join, &ports) {
            Err(network::Error::NotFound(_)) if name == DEFAULT_NETWORK && tries < 3 => tries += 1,
            r => break (net, r.map_err(conv)?),
        }
    };
    connect_extras(e, c, &mut m)?;
    let hostname = c.config.hostname.clone();
    let links = link_hosts(e, c, &net.name)?;
    rewrite(e, &c.id, "hosts", |b| {
        format!("{b}{links}{}\t{hostname}\n", ep.ip)
    })?;
    if net.has_dns() {
        // As docker: the embedded DNS stays the nameserver with --dns too,
        // and forwards other names to those servers (ExtServers).
        let gw = net.gateway;
        let ext = join.dns.clone();
        rewrite(e, &c.id, "resolv.conf", |b| {
            let mut out = format!("nameserver {gw}\n");
            for l in b
                .lines()
                .filter(|l| !l.trim_start().starts_with("nameserver"))
            {
                out.push_str(l);
                out.push('\n');
            }
            if !ext.is_empty() {
                let list: Vec<String> = ext.iter().map(ToString::to_string).collect();
                out.push_str(&format!("# ExtServers: [{}]\n", list.join(" ")));
            }
            out
        })?;
        start_dns(e, &net)?;
    }
    Ok(())
}

/// `--link`'s /etc/hosts lines (docker's legacy links): each linked
/// container's address on `network` (else its first), under the alias,
/// its short id and its name. A linked container must run (docker's
/// "Cannot link to a non running container").
fn link_hosts(e: &Engine, c: &Container, network: &str) -> Result<String> {
    let mut out = String::new();
    for l in &c.options.links {
        let stopped = || {
            Error::Conflict(format!(
                "Cannot link to a non running container: /{} AS /{}/{}",
                l.container, c.name, l.alias
            ))
        };
        let id = e.lookup(&l.container).map_err(|_| stopped())?;
        let child = e.load_config(&id)?;
        let cn = container_net(e, &id).ok_or_else(stopped)?;
        let ep = cn
            .endpoints
            .iter()
            .find(|x| x.network == network)
            .or(cn.endpoints.first())
            .ok_or_else(stopped)?;
        let mut names = vec![l.alias.clone()];
        for n in [crate::fsutil::short_id(&id).to_string(), child.name.clone()] {
            if !names.contains(&n) {
                names.push(n);
            }
        }
        out.push_str(&format!("{}\t{}\n", ep.ip, names.join(" ")));
    }
    Ok(out)
}

/// The container's `--dns` servers, for the embedded DNS to forward to.
fn ext_servers(c: &Container) -> Vec<std::net::IpAddr> {
    c.options.dns.clone()
}

/// Starts the network's resolver (`berth __network-dns STATE RUN NET`, the
/// full berth program) unless one runs.
fn start_dns(e: &Engine, net: &Network) -> Result<()> {
    let Some(exe) = e.helper_exe() else {
        return Ok(());
    };
    let p = paths(e);
    network::dns::ensure_running(&p, &net.name, exe).map_err(conv)
}

/// A network joined with `network connect`, kept across restarts
/// (`userdata/networks.json`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Extra {
    network: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    ip: Option<Ipv4Addr>,
}

fn extras_path(e: &Engine, id: &str) -> PathBuf {
    userdata(e, id).join("networks.json")
}

fn load_extras(e: &Engine, id: &str) -> Vec<Extra> {
    crate::fsutil::read_json(&extras_path(e, id)).unwrap_or_default()
}

fn save_extras(e: &Engine, id: &str, v: &[Extra]) -> Result<()> {
    crate::fsutil::write_json(&extras_path(e, id), &v)
}

/// Joins the networks of `network connect` at start.
fn connect_extras(e: &Engine, c: &Container, m: &mut Manager<RealHost>) -> Result<()> {
    for x in load_extras(e, &c.id) {
        let net = m.get(&x.network).map_err(conv)?;
        let join = Join {
            aliases: x.aliases.clone(),
            ip: x.ip,
            dns: ext_servers(c),
        };
        m.connect(&c.id, &c.name, &net, &join, &[]).map_err(conv)?;
        if net.has_dns() {
            start_dns(e, &net)?;
        }
    }
    Ok(())
}

/// `rename`: the embedded DNS answers the new name (not the old one).
pub(crate) fn rename(e: &Engine, id: &str, old: &str, new: &str) -> Result<()> {
    manager(e).rename(id, old, new).map_err(conv)
}

/// `network connect`: now if the container runs, and at every start.
pub fn connect(e: &Engine, container: &str, network: &str, join: &Join) -> Result<()> {
    let id = e.lookup(container)?;
    let (c, st) = e.container(&id)?;
    let mut m = manager(e);
    let net = m.get(network).map_err(conv)?;
    let _l = e.lock_container(&id)?;
    match Mode::parse(Some(&c.host_config.network_mode)) {
        Mode::Bridge(primary) => {
            let mut extras = load_extras(e, &id);
            if primary == net.name || extras.iter().any(|x| x.network == net.name) {
                return Err(Error::Conflict(format!(
                    "endpoint with name {} already exists in network {}",
                    c.name, net.name
                )));
            }
            if st.running() {
                let join = Join {
                    dns: ext_servers(&c),
                    ..join.clone()
                };
                m.connect(&id, &c.name, &net, &join, &[]).map_err(conv)?;
                if net.has_dns() {
                    start_dns(e, &net)?;
                }
            }
            extras.push(Extra {
                network: net.name.clone(),
                aliases: join.aliases.clone(),
                ip: join.ip,
            });
            save_extras(e, &id, &extras)
        }
        other => Err(Error::Conflict(format!(
            "container {container} is in network mode {}: it cannot be connected to other networks",
            other.name()
        ))),
    }
}

/// `network disconnect`: now, and no longer at start.
pub fn disconnect(e: &Engine, container: &str, network: &str) -> Result<()> {
    let id = e.lookup(container)?;
    let mut m = manager(e);
    let net = m.get(network).map_err(conv)?;
    let _l = e.lock_container(&id)?;
    let mut extras = load_extras(e, &id);
    let before = extras.len();
    extras.retain(|x| x.network != net.name);
    let attached = m
        .container(&id)
        .map_err(conv)?
        .is_some_and(|cn| cn.endpoints.iter().any(|x| x.network == net.name));
    if attached {
        m.disconnect(&id, &net).map_err(conv)?;
    } else if before == extras.len() {
        return Err(Error::Conflict(format!(
            "container {container} is not connected to network {}",
            net.name
        )));
    }
    if before != extras.len() {
        save_extras(e, &id, &extras)?;
    }
    Ok(())
}

/// Removes everything networking holds for container `id`: veths, IP
/// leases, published ports and their nftables rules, the netns file.
/// Idempotent; carries on past failures and returns every error. On an
/// engine that defers teardowns, takes the network lock and leaves the
/// work to [`finish_deferred`].
pub fn teardown(e: &Engine, id: &str) -> Vec<String> {
    if let Some(d) = e.net_deferral() {
        return d.defer(id, || manager(e).defer_teardown(id));
    }
    manager(e)
        .teardown(id)
        .into_iter()
        .map(|er| er.to_string())
        .collect()
}

/// Does the deferred teardown, if any; returns every error.
pub fn finish_deferred(e: &Engine) -> Vec<String> {
    e.net_deferral().map(|d| d.finish()).unwrap_or_default()
}

/// Leftovers of crashes: network state of containers that are gone or
/// not running. Returns what it cleaned and every error.
pub fn prune_leftovers(e: &Engine) -> (Vec<String>, Vec<String>) {
    let alive = |id: &str| {
        if !e.container_dir(id).exists() {
            return false;
        }
        // state() first: a dead monitor found there is handled under the
        // container lock, which must not be ours already (flock is per open
        // file: a second lock in this process would wait for ever).
        if e.state(id).map(|s| s.running()).unwrap_or(false) {
            return true;
        }
        // A start in progress holds the container lock until it runs (or,
        // its caller killed, goes on in the monitor).
        let _l = e.lock_container(id);
        let raw = e.load_state_raw(id);
        raw.is_ok_and(|s| s.running() && crate::store::monitor_alive(&s)) || e.start_in_progress(id)
    };
    let (done, errs) = manager(e).prune_leftovers(&alive);
    (done, errs.into_iter().map(|x| x.to_string()).collect())
}

/// The container's network state, if attached.
pub fn container_net(e: &Engine, id: &str) -> Option<ContainerNet> {
    manager(e).container(id).ok().flatten()
}

/// `port CONTAINER`: the published ports (docker's order: by key).
pub fn ports(e: &Engine, id: &str) -> Vec<PortMapping> {
    let mut v = container_net(e, id).map(|c| c.ports).unwrap_or_default();
    v.sort_by_key(|m| (m.container_port, m.proto, m.host_ip, m.host_port));
    v
}

/// Docker's `HostConfig.PortBindings` from the options.
pub fn port_bindings(c: &Container) -> crate::api::PortMap {
    let mut out = crate::api::PortMap::new();
    for p in &c.options.port_bindings {
        for m in p.mappings() {
            out.entry(m.key())
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(crate::api::PortBinding {
                    host_ip: if m.host_ip.is_unspecified() {
                        String::new()
                    } else {
                        m.host_ip.to_string()
                    },
                    host_port: if m.host_port == 0 {
                        String::new()
                    } else if m.host_port_end > m.host_port {
                        format!("{}-{}", m.host_port, m.host_port_end)
                    } else {
                        m.host_port.to_string()
                    },
                });
        }
    }
    out
}

/// Docker's `NetworkSettings` for `inspect`.
pub fn settings(e: &Engine, c: &Container) -> crate::api::NetworkSettings {
    use crate::api::{EndpointSettings, NetworkSettings, PortBinding};
    let cn = container_net(e, &c.id);
    let mut ports = crate::api::PortMap::new();
    for k in c.config.exposed_ports.keys() {
        ports.insert(k.clone(), None);
    }
    let mut networks = std::collections::BTreeMap::new();
    let mode = Mode::parse(Some(&c.host_config.network_mode));
    let mut first: Option<&network::Endpoint> = None;
    if let Some(cn) = &cn {
        for m in &cn.ports {
            ports
                .entry(m.key())
                .or_default()
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: m.host_ip.to_string(),
                    host_port: m.host_port.to_string(),
                });
        }
        first = cn.endpoints.first();
        for ep in &cn.endpoints {
            let default = ep.network == DEFAULT_NETWORK;
            let mut aliases = ep.aliases.clone();
            if !default {
                aliases.insert(0, crate::fsutil::short_id(&c.id).to_string());
            }
            networks.insert(
                ep.network.clone(),
                EndpointSettings {
                    aliases: (!default).then_some(aliases),
                    mac_address: ep.mac.clone(),
                    network_id: ep.network_id.clone(),
                    endpoint_id: network::short_hash(&[&c.id, &ep.network]).repeat(4),
                    gateway: ep.gateway.to_string(),
                    ip_address: ep.ip.to_string(),
                    ip_prefix_len: ep.prefix.into(),
                    dns_names: (!default)
                        .then(|| vec![c.name.clone(), crate::fsutil::short_id(&c.id).to_string()]),
                    ..Default::default()
                },
            );
        }
    }
    if networks.is_empty() {
        let name = match &mode {
            Mode::Bridge(n) | Mode::Container(n) => n.clone(),
            _ => mode.name(),
        };
        networks.insert(name, EndpointSettings::default());
    }
    let sandbox = cn
        .as_ref()
        .map(|_| manager(e).netns_path(&c.id).to_string_lossy().into_owned())
        .unwrap_or_default();
    NetworkSettings {
        bridge: String::new(),
        sandbox_id: if sandbox.is_empty() {
            String::new()
        } else {
            network::short_hash(&[&c.id]).repeat(4)
        },
        sandbox_key: sandbox,
        hairpin_mode: false,
        ports,
        gateway: first.map(|x| x.gateway.to_string()).unwrap_or_default(),
        ip_address: first.map(|x| x.ip.to_string()).unwrap_or_default(),
        ip_prefix_len: first.map(|x| x.prefix.into()).unwrap_or(0),
        mac_address: first.map(|x| x.mac.clone()).unwrap_or_default(),
        global_ipv6_address: String::new(),
        global_ipv6_prefix_len: 0,
        ipv6_gateway: String::new(),
        networks,
    }
}

/// The networks of a container as `ps` shows them: its network mode's
/// (`bridge`, a user network, `host`, `none`; none for `container:`) and
/// those of `network connect`, sorted.
pub fn network_names(e: &Engine, c: &Container) -> Vec<String> {
    let mut v = match Mode::parse(Some(&c.host_config.network_mode)) {
        Mode::Container(_) => Vec::new(),
        Mode::Bridge(n) => std::iter::once(n)
            .chain(load_extras(e, &c.id).into_iter().map(|x| x.network))
            .collect(),
        m => vec![m.name()],
    };
    v.sort();
    v.dedup();
    v
}

/// `network inspect`, docker's shape; `containers` are this store's.
pub fn inspect_network(e: &Engine, n: &Network) -> Value {
    let m = manager(e);
    let mut cs = serde_json::Map::new();
    for id in m.users(n).unwrap_or_default() {
        if let Some(cn) = container_net(e, &id) {
            if let Some(ep) = cn.endpoints.iter().find(|x| x.network == n.name) {
                cs.insert(
                    id.clone(),
                    json!({
                        "Name": cn.name,
                        "EndpointID": network::short_hash(&[&id, &n.name]).repeat(4),
                        "MacAddress": ep.mac,
                        "IPv4Address": format!("{}/{}", ep.ip, ep.prefix),
                        "IPv6Address": "",
                    }),
                );
            }
        }
    }
    json!({
        "Name": n.name,
        "Id": n.id,
        "Created": n.created,
        "Scope": "local",
        "Driver": n.driver,
        "EnableIPv6": false,
        "IPAM": {
            "Driver": "default",
            "Options": {},
            "Config": [{"Subnet": n.subnet.to_string(), "Gateway": n.gateway.to_string()}],
        },
        "Internal": n.internal,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": cs,
        "Options": {"com.docker.network.bridge.name": n.bridge},
        "Labels": n.labels,
    })
}

/// The pseudo networks `network ls` shows besides the records.
pub fn builtin(name: &str) -> Option<Value> {
    let (id, driver) = match name {
        DEFAULT_NETWORK => ("bridge", "bridge"),
        "host" => ("host", "host"),
        "none" => ("none", "null"),
        _ => return None,
    };
    Some(json!({
        "Name": name,
        "Id": network::short_hash(&[id]).repeat(4),
        "Created": "0001-01-01T00:00:00Z",
        "Scope": "local",
        "Driver": driver,
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": null, "Config": null},
        "Internal": false,
        "Containers": {},
        "Options": {},
        "Labels": {},
    }))
}

/// `HostConfig` for `inspect`: the record's, with docker's `PortBindings`.
pub fn host_config(c: &Container) -> crate::api::HostConfig {
    crate::api::HostConfig::of_container(c, port_bindings(c))
}

/// Binds the container's published host ports (docker-proxy's sockets,
/// never accepted on: DNAT takes the traffic), so other programs cannot
/// take them while the container runs. The monitor holds the returned
/// sockets until the container exits. Ports that cannot be bound are
/// skipped (checked at start already).
pub fn hold_ports(e: &Engine, id: &str) -> Vec<std::os::fd::OwnedFd> {
    use std::net::{SocketAddrV4, TcpListener, UdpSocket};
    let mut out = Vec::new();
    for m in ports(e, id) {
        let a = SocketAddrV4::new(m.host_ip, m.host_port);
        let fd: Option<std::os::fd::OwnedFd> = match m.proto {
            network::Proto::Tcp => TcpListener::bind(a).ok().map(Into::into),
            network::Proto::Udp => UdpSocket::bind(a).ok().map(Into::into),
        };
        out.extend(fd);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The monitor's exit command holds the network lock for a deferred
    /// teardown; `berth rm` of another container holds the store lock and
    /// waits for the network lock. When the exit command then needs the
    /// store lock (removing a `--rm` container) it finishes the teardown
    /// first instead of waiting: before, the two waited for each other.
    #[test]
    fn a_deferred_teardown_gives_way_to_a_store_lock_holder() {
        let d = tempfile::tempdir().unwrap();
        let e = Engine::open(d.path().join("root"))
            .unwrap()
            .deferring_network_teardown();
        // A teardown held back (of a container with no network: only the
        // lock is held).
        assert!(teardown(&e, "c1").is_empty());
        assert!(e.net_deferral().unwrap().pending());
        // `rm` elsewhere: the store lock, then the network lock.
        let other = Engine::open(d.path().join("root")).unwrap();
        let store = other.lock_store().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::scope(|sc| {
            sc.spawn(|| {
                let l = e.lock_store();
                tx.send(l.is_ok()).unwrap();
            });
            // The exit command finishes its teardown (network lock free)...
            let t = std::time::Instant::now();
            while e.net_deferral().unwrap().pending() && t.elapsed().as_secs() < 10 {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            if e.net_deferral().unwrap().pending() {
                drop(store); // lets the thread go, so that the test ends
                panic!("the exit command waits for the store lock with the network lock held");
            }
            // ... so `rm` gets the network lock, then lets the store go.
            let net = manager(&other).lock().unwrap();
            drop(net);
            drop(store);
            assert!(rx.recv_timeout(std::time::Duration::from_secs(20)).unwrap());
        });
    }

    #[test]
    fn modes() {
        for (s, m, name) in [
            (None, Mode::Bridge("bridge".into()), "bridge"),
            (Some("default"), Mode::Bridge("bridge".into()), "bridge"),
            (Some("none"), Mode::None, "none"),
            (Some("host"), Mode::Host, "host"),
            (
                Some("container:web"),
                Mode::Container("web".into()),
                "container:web",
            ),
            (Some("appnet"), Mode::Bridge("appnet".into()), "appnet"),
        ] {
            let got = Mode::parse(s);
            assert_eq!(got, m, "{s:?}");
            assert_eq!(got.name(), name);
        }
    }

    #[test]
    fn port_bindings_in_dockers_shape() {
        let mut c = Container::default();
        c.options.port_bindings = ["8080:80", "127.0.0.1::53/udp", "9000-9001:90-91"]
            .iter()
            .map(|p| crate::options::parse_publish(p).unwrap())
            .collect();
        c.options.publish_all_ports = true;
        let v = serde_json::to_value(host_config(&c)).unwrap();
        assert_eq!(
            v["PortBindings"],
            json!({
                "80/tcp": [{"HostIp": "", "HostPort": "8080"}],
                "53/udp": [{"HostIp": "127.0.0.1", "HostPort": ""}],
                "90/tcp": [{"HostIp": "", "HostPort": "9000"}],
                "91/tcp": [{"HostIp": "", "HostPort": "9001"}],
            })
        );
        assert_eq!(v["PublishAllPorts"], true);
    }

    #[test]
    fn publish_all_adds_exposed_ports_not_given() {
        let mut c = Container::default();
        c.options.port_bindings = vec![crate::options::parse_publish("8080:80").unwrap()];
        c.options.publish_all_ports = true;
        c.config.exposed_ports.insert("80/tcp".into(), json!({}));
        c.config.exposed_ports.insert("53/udp".into(), json!({}));
        let v = wanted_ports(&c).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!((v[0].host_port, v[0].key()), (8080, "80/tcp".to_string()));
        assert_eq!((v[1].host_port, v[1].key()), (0, "53/udp".to_string()));
    }
}

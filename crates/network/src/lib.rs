//! Berth's container networking: bridge networks with IPAM, veth pairs
//! into persistent network namespaces, nftables NAT and port publishing,
//! and the records an embedded DNS answers from.
//!
//! State of one store ([`Paths`]): network records under `state/` (one
//! JSON file per network); under `run/` (volatile): `lock`, `ipam/<net>.json`
//! (leases), `endpoints/<container>.json` (what a container is attached
//! to, its published ports), `netns/<container>` (bind-mounted netns),
//! `dns/<net>.pid`. Everything is changed under `run/lock`; the nftables
//! tables `ip TABLE` and `inet TABLE` are regenerated whole from that
//! state after each change. Privileged calls go through [`host::Host`].
#![deny(unsafe_code)]

pub mod dns;
pub mod error;
pub mod host;
pub mod ipam;
pub mod nft;
pub mod ports;
pub mod rtnl;
#[allow(unsafe_code)]
pub mod sys;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use berth_util::fs::{AtomicWrite, Durability};
use berth_util::lock::FileLock;
use serde::{Deserialize, Serialize};

pub use error::{Error, Result};
pub use host::{Host, RealHost};
use ipam::{Allocations, Lease, Subnet};
pub use ports::{PortMapping, Proto};

/// The default network's name (docker's).
pub const DEFAULT_NETWORK: &str = "bridge";

/// Where one store keeps its network state and how it names host objects.
#[derive(Debug, Clone)]
pub struct Paths {
    pub state: PathBuf,
    pub run: PathBuf,
    /// The nftables table name (`berth` for the default store).
    pub table: String,
    /// The default network's bridge device (`berth0` for the default store).
    pub default_bridge: String,
    /// Whether the default network's bridge stays when its last container
    /// goes (the default store's `berth0`, as docker0; deleting a link
    /// waits for RCU grace periods, ~25 ms of every `run --rm`). Stores
    /// side by side (tests) remove theirs, as netavark does.
    pub keep_default_bridge: bool,
}

/// A network record, in docker's `network inspect` field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Network {
    pub name: String,
    pub id: String,
    pub created: String,
    pub driver: String,
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    pub bridge: String,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl Network {
    /// User networks get the embedded DNS; docker's default bridge does not.
    pub fn has_dns(&self) -> bool {
        self.name != DEFAULT_NETWORK
    }
}

/// A container's attachment to one network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub network: String,
    pub network_id: String,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    pub mac: String,
    pub host_veth: String,
    pub ifname: String,
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// A container's network state (`run/endpoints/<id>.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerNet {
    pub id: String,
    pub name: String,
    pub endpoints: Vec<Endpoint>,
    /// Published ports, DNATed to the first endpoint's address.
    #[serde(default)]
    pub ports: Vec<PortMapping>,
}

/// How a container joins a network.
#[derive(Debug, Clone, Default)]
pub struct Join {
    pub aliases: Vec<String>,
    pub ip: Option<Ipv4Addr>,
    /// The container's `--dns` servers: the embedded DNS forwards its
    /// queries for other names there (docker's ExtServers).
    pub dns: Vec<std::net::IpAddr>,
}

/// FNV-1a, for stable short names of host objects.
pub fn short_hash(parts: &[&str]) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0)) {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    format!("{h:016x}")
}

/// Host veths being deleted after their container's teardown: `vbx` and
/// 12 hex digits (stable names are `vb` and 11 hex digits).
pub const DYING_VETH_PREFIX: &str = "vbx";

/// The host-side veth name of `container` on `network` (stable, so a
/// teardown without state still finds it).
pub fn veth_name(container: &str, network: &str) -> String {
    format!("vb{}", &short_hash(&[container, network])[..11])
}

fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

fn mac_text(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n / 2];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_err()
    {
        let t = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
        return (short_hash(&[&t]) + &short_hash(&[&t, "x"])).repeat(4)[..n].to_string();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn read_json<T: for<'de> Deserialize<'de>>(p: &Path) -> Result<Option<T>> {
    match std::fs::read(p) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| Error::json("cannot parse", p, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("cannot read {}", p.display()), e)),
    }
}

fn write_json<T: Serialize>(p: &Path, v: &T) -> Result<()> {
    let b = serde_json::to_vec_pretty(v).map_err(|e| Error::json("cannot encode", p, e))?;
    // Made again from the containers' state if lost: no fsync of the
    // directory, the data fsynced before the rename.
    Ok(AtomicWrite::new(Durability::Flushed)
        .create_dir()
        .write(p, &b)?)
}

/// An exclusive lock on `p`; its directory (under /run, which a reboot
/// empties) made first.
pub(crate) fn lock_path(p: &Path) -> Result<FileLock> {
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d)
            .map_err(|e| Error::io(format!("cannot create directory {}", d.display()), e))?;
    }
    Ok(FileLock::exclusive(p)?)
}

fn valid_network_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// Options of `network create`.
#[derive(Debug, Clone, Default)]
pub struct CreateNetwork {
    pub name: String,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub driver: Option<String>,
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
}

/// The network operations of one store.
pub struct Manager<H: Host> {
    pub paths: Paths,
    pub host: H,
}

/// Serializes subnet choice and bridge creation across stores.
const HOST_LOCK: &str = "/run/lock/berth-network.lock";

impl<H: Host> Manager<H> {
    pub fn new(paths: Paths, host: H) -> Manager<H> {
        Manager { paths, host }
    }

    /// The event journal of the store whose networks these are (the
    /// parent of `paths.state`).
    pub fn journal(&self) -> events::Journal {
        events::Journal::new(self.paths.state.parent().unwrap_or(&self.paths.state))
    }

    /// Logs a network event as docker does: the network's ID as the actor,
    /// its `name` and `type` (driver), and `extra` (`container`).
    fn log_event(&self, action: &str, id: &str, name: &str, driver: &str, extra: &[(&str, &str)]) {
        let mut attrs = events::attrs([("name", name), ("type", driver)]);
        attrs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self.journal()
            .log(events::Message::new(events::NETWORK, action, id, attrs));
    }

    pub fn lock(&self) -> Result<FileLock> {
        lock_path(&self.paths.run.join("lock"))
    }

    fn network_file(&self, name: &str) -> PathBuf {
        self.paths.state.join(format!("{name}.json"))
    }

    pub fn ipam_file(&self, network: &str) -> PathBuf {
        self.paths.run.join("ipam").join(format!("{network}.json"))
    }

    fn endpoint_file(&self, id: &str) -> PathBuf {
        self.paths.run.join("endpoints").join(format!("{id}.json"))
    }

    /// The container's network namespace file.
    pub fn netns_path(&self, id: &str) -> PathBuf {
        self.paths.run.join("netns").join(id)
    }

    /// Every network record, by name.
    pub fn list(&self) -> Result<Vec<Network>> {
        let mut out = Vec::new();
        let rd = match std::fs::read_dir(&self.paths.state) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(Error::io("cannot read the networks directory", e)),
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "json") {
                if let Some(n) = read_json::<Network>(&p)? {
                    out.push(n);
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// A network by name, full id or id prefix.
    pub fn get(&self, name_or_id: &str) -> Result<Network> {
        if valid_network_name(name_or_id) {
            if let Some(n) = read_json::<Network>(&self.network_file(name_or_id))? {
                return Ok(n);
            }
        }
        let hits: Vec<Network> = self
            .list()?
            .into_iter()
            .filter(|n| !name_or_id.is_empty() && n.id.starts_with(name_or_id))
            .collect();
        match hits.len() {
            1 => Ok(hits.into_iter().next().unwrap()),
            0 => Err(Error::NotFound(name_or_id.into())),
            _ => Err(Error::Invalid(format!(
                "network {name_or_id} is ambiguous ({} matches found based on ID prefix)",
                hits.len()
            ))),
        }
    }

    /// The default `bridge` network, created on first use.
    pub fn ensure_default(&mut self) -> Result<Network> {
        if let Some(n) = read_json::<Network>(&self.network_file(DEFAULT_NETWORK))? {
            return Ok(n);
        }
        let c = CreateNetwork {
            name: DEFAULT_NETWORK.into(),
            ..Default::default()
        };
        match self.create_inner(&c, true) {
            Err(Error::Conflict(_)) => self.get(DEFAULT_NETWORK),
            r => r,
        }
    }

    /// `network create`.
    pub fn create(&mut self, c: &CreateNetwork) -> Result<Network> {
        if ["host", "none", DEFAULT_NETWORK].contains(&c.name.as_str()) {
            return Err(Error::Conflict(format!(
                "network with name {} already exists",
                c.name
            )));
        }
        let n = self.create_inner(c, false)?;
        self.log_event("create", &n.id, &n.name, &n.driver, &[]);
        Ok(n)
    }

    fn create_inner(&mut self, c: &CreateNetwork, default: bool) -> Result<Network> {
        if !valid_network_name(&c.name) {
            return Err(Error::Invalid(format!(
                "invalid network name {:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                c.name
            )));
        }
        match c.driver.as_deref() {
            None | Some("bridge") => {}
            Some(d) => {
                return Err(Error::flag(
                    "--driver",
                    d,
                    "only the \"bridge\" driver is supported",
                ))
            }
        }
        let _l = self.lock()?;
        let _h = lock_path(Path::new(HOST_LOCK))?;
        if self.network_file(&c.name).exists() {
            return Err(Error::Conflict(format!(
                "network with name {} already exists",
                c.name
            )));
        }
        let others = self.list()?;
        let mut used = self.host.host_subnets()?;
        used.extend(others.iter().map(|n| n.subnet));
        let subnet = match &c.subnet {
            Some(s) => {
                let s: Subnet = s.parse()?;
                if let Some(o) = others.iter().find(|o| o.subnet.overlaps(&s)) {
                    return Err(Error::Conflict(format!(
                        "invalid pool request: Pool overlaps with other one on this address space ({} of network {})",
                        o.subnet, o.name
                    )));
                }
                s
            }
            None => ipam::pick_subnet(&used)?,
        };
        let gateway = match &c.gateway {
            Some(g) => {
                let ip: Ipv4Addr = g
                    .parse()
                    .map_err(|_| Error::flag("--gateway", g, "not an IPv4 address"))?;
                if !subnet.is_host(ip) {
                    return Err(Error::flag(
                        "--gateway",
                        g,
                        format!("not a usable address of the subnet {subnet}"),
                    ));
                }
                ip
            }
            None => subnet.first_host(),
        };
        let id = random_hex(64);
        let bridge = if default {
            self.paths.default_bridge.clone()
        } else {
            format!("br-{}", &id[..12])
        };
        let n = Network {
            name: c.name.clone(),
            id,
            created: berth_util::time::now(),
            driver: "bridge".into(),
            subnet,
            gateway,
            bridge,
            internal: c.internal,
            labels: c.labels.clone(),
        };
        self.host
            .ensure_bridge(&n.bridge, n.gateway, n.subnet.prefix)?;
        if let Err(e) = write_json(&self.network_file(&n.name), &n).and_then(|_| self.sync_nft()) {
            let _ = std::fs::remove_file(self.network_file(&n.name));
            let _ = self.host.delete_link(&n.bridge);
            return Err(e);
        }
        Ok(n)
    }

    /// Containers with a lease on `n`.
    pub fn users(&self, n: &Network) -> Result<Vec<String>> {
        let a: Allocations = read_json(&self.ipam_file(&n.name))?.unwrap_or_default();
        let mut v: Vec<String> = a
            .leases
            .values()
            .filter(|l| !l.releasing)
            .map(|l| l.container.clone())
            .collect();
        v.sort();
        v.dedup();
        Ok(v)
    }

    /// `network rm`: refuses a network with containers; removes its
    /// bridge and its rules.
    pub fn remove(&mut self, name_or_id: &str) -> Result<Network> {
        let n = self.get(name_or_id)?;
        if n.name == DEFAULT_NETWORK {
            return Err(Error::Invalid(format!(
                "{} is a pre-defined network and cannot be removed",
                n.name
            )));
        }
        self.remove_inner(&n)?;
        Ok(n)
    }

    fn remove_inner(&mut self, n: &Network) -> Result<()> {
        let _l = self.lock()?;
        let users = self.users(n)?;
        if !users.is_empty() {
            return Err(Error::Conflict(format!(
                "error while removing network: network {} id {} has active endpoints",
                n.name, n.id
            )));
        }
        std::fs::remove_file(self.network_file(&n.name))
            .map_err(|e| Error::io(format!("cannot remove network {}", n.name), e))?;
        let _ = std::fs::remove_file(self.ipam_file(&n.name));
        let mut errs = Vec::new();
        if let Err(e) = self.host.delete_link(&n.bridge) {
            errs.push(e.to_string());
        }
        if let Err(e) = self.sync_nft() {
            errs.push(e.to_string());
        }
        self.log_event("destroy", &n.id, &n.name, &n.driver, &[]);
        if errs.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(errs.join("; ")))
        }
    }

    /// The teardown of the default network itself (tests, `system reset`).
    pub fn remove_default(&mut self) -> Result<()> {
        match read_json::<Network>(&self.network_file(DEFAULT_NETWORK))? {
            Some(n) => self.remove_inner(&n),
            None => Ok(()),
        }
    }

    /// `network prune`: removes user networks without containers.
    pub fn prune(&mut self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for n in self.list()? {
            if n.name != DEFAULT_NETWORK && self.users(&n)?.is_empty() {
                self.remove_inner(&n)?;
                out.push(n.name);
            }
        }
        Ok(out)
    }

    /// The container's attachments, if any.
    pub fn container(&self, id: &str) -> Result<Option<ContainerNet>> {
        read_json(&self.endpoint_file(id))
    }

    /// Every container with network state.
    pub fn containers(&self) -> Result<Vec<ContainerNet>> {
        let mut out = Vec::new();
        if let Ok(rd) = std::fs::read_dir(self.paths.run.join("endpoints")) {
            for e in rd.flatten() {
                if let Some(c) = read_json::<ContainerNet>(&e.path())? {
                    out.push(c);
                }
            }
        }
        Ok(out)
    }

    /// Regenerates the nftables tables from the records (caller holds the lock).
    pub fn sync_nft(&mut self) -> Result<()> {
        let nets: Vec<nft::NetRules> = self
            .list()?
            .into_iter()
            .map(|n| nft::NetRules {
                name: n.name,
                bridge: n.bridge,
                subnet: n.subnet,
                internal: n.internal,
            })
            .collect();
        let published: Vec<nft::Published> = self
            .containers()?
            .into_iter()
            .filter(|c| !c.ports.is_empty() && !c.endpoints.is_empty())
            .map(|c| nft::Published {
                ip: c.endpoints[0].ip,
                container: c.id,
                ports: c.ports,
            })
            .collect();
        let script = nft::ruleset(&self.paths.table, &nets, &published);
        self.host.apply_nft(&script)
    }

    /// Makes the container's persistent network namespace (empty).
    pub fn create_netns(&self, id: &str) -> Result<PathBuf> {
        // Under the lock: the teardown of the last run removes the old one
        // under it.
        let _l = self.lock()?;
        let p = self.netns_path(id);
        if sys::is_netns(&p) {
            return Ok(p);
        }
        sys::create_netns(&p).map_err(|e| {
            Error::io(
                format!("cannot create the network namespace {}", p.display()),
                e,
            )
        })?;
        Ok(p)
    }

    /// Picks host ports for `ports` (random or from a range) not used by
    /// other containers and bindable, or fails with docker's messages.
    fn reserve_ports(&mut self, id: &str, ports: &[PortMapping]) -> Result<Vec<PortMapping>> {
        let taken: Vec<PortMapping> = self
            .containers()?
            .into_iter()
            .filter(|c| c.id != id)
            .flat_map(|c| c.ports)
            .collect();
        let mut out: Vec<PortMapping> = Vec::new();
        let mut seed =
            u32::from_str_radix(&short_hash(&[id, &berth_util::time::now()])[..8], 16).unwrap_or(0);
        for m in ports {
            let free = |c: &PortMapping, out: &[PortMapping]| {
                !taken.iter().chain(out.iter()).any(|t| t.clashes(c))
            };
            if m.host_port != 0 && m.host_port_end <= m.host_port {
                if !free(m, &out) {
                    return Err(Error::PortInUse(format!(
                        "driver failed programming external connectivity: Bind for {}:{} failed: port is already allocated",
                        m.host_ip, m.host_port
                    )));
                }
                self.host.check_port(m)?;
                out.push(*m);
                continue;
            }
            let (lo, hi) = if m.host_port == 0 {
                (ports::EPHEMERAL_START, ports::EPHEMERAL_END)
            } else {
                (m.host_port, m.host_port_end)
            };
            let span = (hi - lo) as u32 + 1;
            let mut chosen = None;
            let start = seed % span;
            seed = seed.wrapping_mul(1103515245).wrapping_add(12345);
            for i in 0..span.min(2000) {
                let mut c = *m;
                c.host_port = lo + ((start + i) % span) as u16;
                c.host_port_end = 0;
                if free(&c, &out) && self.host.check_port(&c).is_ok() {
                    chosen = Some(c);
                    break;
                }
            }
            match chosen {
                Some(c) => out.push(c),
                None => {
                    return Err(Error::PortInUse(format!(
                        "driver failed programming external connectivity: Bind for {}:{}-{} failed: port is already allocated",
                        m.host_ip, lo, hi
                    )))
                }
            }
        }
        Ok(out)
    }

    /// Attaches container `id` (named `name`, netns made by
    /// [`Self::create_netns`]) to `network`; the first network gets the
    /// default route and the published `ports`. Undoes itself on error.
    pub fn connect(
        &mut self,
        id: &str,
        name: &str,
        network: &Network,
        join: &Join,
        ports: &[PortMapping],
    ) -> Result<Endpoint> {
        let _l = self.lock()?;
        if !self.network_file(&network.name).exists() {
            return Err(Error::NotFound(network.name.clone()));
        }
        let mut cn = self.container(id)?.unwrap_or_else(|| ContainerNet {
            id: id.into(),
            name: name.into(),
            ..Default::default()
        });
        if cn.endpoints.iter().any(|e| e.network == network.name) {
            return Err(Error::Conflict(format!(
                "endpoint with name {name} already exists in network {}",
                network.name
            )));
        }
        let primary = cn.endpoints.is_empty();
        let reserved = if primary && !ports.is_empty() {
            self.reserve_ports(id, ports)?
        } else {
            Vec::new()
        };
        let ipam_path = self.ipam_file(&network.name);
        let mut alloc: Allocations = read_json(&ipam_path)?.unwrap_or_default();
        let mut names = vec![name.to_string(), id[..id.len().min(12)].to_string()];
        names.extend(join.aliases.iter().cloned());
        let ip = alloc.allocate(
            &network.subnet,
            network.gateway,
            join.ip,
            Lease {
                container: id.into(),
                names,
                dns: join.dns.clone(),
                releasing: false,
            },
        )?;
        write_json(&ipam_path, &alloc)?;
        let ep = Endpoint {
            network: network.name.clone(),
            network_id: network.id.clone(),
            ip,
            prefix: network.subnet.prefix,
            gateway: network.gateway,
            mac: mac_text(mac_for(ip)),
            host_veth: veth_name(id, &network.name),
            ifname: format!("eth{}", cn.endpoints.len()),
            aliases: join.aliases.clone(),
        };
        let r = (|| -> Result<()> {
            self.host
                .ensure_bridge(&network.bridge, network.gateway, network.subnet.prefix)?;
            self.host.attach(
                &self.netns_path(id),
                &ep.host_veth,
                &network.bridge,
                &ep.ifname,
                ip,
                ep.prefix,
                mac_for(ip),
                // an internal network gives no way out (docker's: no
                // gateway for its endpoints)
                (primary && !network.internal).then_some(network.gateway),
            )?;
            cn.endpoints.push(ep.clone());
            if primary {
                cn.ports = reserved.clone();
            }
            write_json(&self.endpoint_file(id), &cn)?;
            if primary && !cn.ports.is_empty() {
                self.sync_nft()?;
            }
            Ok(())
        })();
        if let Err(e) = r {
            let _ = self.host.delete_link(&ep.host_veth);
            if let Ok(Some(mut a)) = read_json::<Allocations>(&ipam_path) {
                a.leases.remove(&ip);
                let _ = write_json(&ipam_path, &a);
            }
            cn.endpoints.retain(|x| x.network != network.name);
            if primary {
                cn.ports.clear();
            }
            if cn.endpoints.is_empty() {
                let _ = std::fs::remove_file(self.endpoint_file(id));
            } else {
                let _ = write_json(&self.endpoint_file(id), &cn);
            }
            let _ = self.sync_nft();
            return Err(e);
        }
        self.log_event(
            "connect",
            &network.id,
            &network.name,
            &network.driver,
            &[("container", id)],
        );
        Ok(ep)
    }

    /// `rename`: the DNS records (leases) of container `id` on every
    /// network it is attached to answer `new` instead of `old`.
    pub fn rename(&mut self, id: &str, old: &str, new: &str) -> Result<()> {
        let _l = self.lock()?;
        let Some(mut cn) = self.container(id)? else {
            return Ok(());
        };
        for ep in &cn.endpoints {
            let p = self.ipam_file(&ep.network);
            let Some(mut a) = read_json::<Allocations>(&p)? else {
                continue;
            };
            let mut changed = false;
            for l in a.leases.values_mut().filter(|l| l.container == id) {
                for n in l.names.iter_mut().filter(|n| n.as_str() == old) {
                    *n = new.to_string();
                    changed = true;
                }
            }
            if changed {
                write_json(&p, &a)?;
            }
        }
        cn.name = new.to_string();
        write_json(&self.endpoint_file(id), &cn)
    }

    /// `network disconnect`: removes one attachment.
    pub fn disconnect(&mut self, id: &str, network: &Network) -> Result<()> {
        let _l = self.lock()?;
        let mut cn = self.container(id)?.unwrap_or_default();
        let Some(pos) = cn.endpoints.iter().position(|e| e.network == network.name) else {
            return Err(Error::Invalid(format!(
                "container {} is not connected to network {}",
                &id[..id.len().min(12)],
                network.name
            )));
        };
        let ep = cn.endpoints.remove(pos);
        self.host.delete_link(&ep.host_veth)?;
        let p = self.ipam_file(&network.name);
        let mut a: Allocations = read_json(&p)?.unwrap_or_default();
        a.release(id);
        write_json(&p, &a)?;
        if pos == 0 {
            cn.ports.clear();
        }
        write_json(&self.endpoint_file(id), &cn)?;
        self.log_event(
            "disconnect",
            &network.id,
            &network.name,
            &network.driver,
            &[("container", id)],
        );
        self.sync_nft()
    }

    /// Removes everything of container `id`: veths, leases, published
    /// ports and their rules, its netns. Idempotent; carries on past
    /// failures and returns every error.
    pub fn teardown(&mut self, id: &str) -> Vec<Error> {
        let (dying, ips, mut errs) = self.retire(id);
        errs.extend(self.finish_teardown(id, &dying, &ips));
        errs
    }

    /// [`Manager::teardown`] later: the network lock now (no other
    /// network change, a new start of the container included, comes
    /// between), the work when [`DeferredTeardown::finish`] runs. Taking
    /// the veths down and deleting them wait for the kernel (RCU): the
    /// monitor's exit command tells the waiting client first.
    pub fn defer_teardown(self, id: &str) -> DeferredTeardown<H> {
        let (lock, errs) = match self.lock() {
            Ok(l) => (Some(l), Vec::new()),
            Err(e) => (None, vec![e]),
        };
        DeferredTeardown {
            manager: self,
            id: id.to_string(),
            lock,
            errs,
        }
    }

    /// The first part of a container's teardown, quick, under the lock:
    /// its veths are taken down and renamed (their stable names free for a
    /// new start) and returned for deletion; its endpoint record, published
    /// ports' rules and netns go; its addresses, returned, stay leased but
    /// marked releasing (not handed out, not users of the network, no
    /// names). Carries on past failures and returns every error.
    fn retire(&mut self, id: &str) -> (Vec<String>, Vec<(String, Ipv4Addr)>, Vec<Error>) {
        match self.lock() {
            Ok(_l) => self.retire_locked(id),
            Err(e) => {
                let (dying, ips, mut errs) = self.retire_locked(id);
                errs.insert(0, e);
                (dying, ips, errs)
            }
        }
    }

    /// [`Manager::retire`] for a caller holding the lock.
    fn retire_locked(&mut self, id: &str) -> (Vec<String>, Vec<(String, Ipv4Addr)>, Vec<Error>) {
        let mut errs = Vec::new();
        let cn = match self.container(id) {
            Ok(c) => c,
            Err(e) => {
                errs.push(e);
                None
            }
        };
        let nets = self.list().unwrap_or_else(|e| {
            errs.push(e);
            Vec::new()
        });
        // veths: recorded ones, and the stable names on every network.
        let mut veths: Vec<String> = cn
            .iter()
            .flat_map(|c| c.endpoints.iter().map(|e| e.host_veth.clone()))
            .collect();
        veths.extend(nets.iter().map(|n| veth_name(id, &n.name)));
        veths.sort();
        veths.dedup();
        let present = self.host.links();
        if let Ok(links) = &present {
            veths.retain(|v| links.contains(v));
        }
        let mut dying = Vec::new();
        // Deleting the netns end removes the pair too; ours go first so
        // nothing lingers if the namespace is held elsewhere.
        for v in &veths {
            let d = format!("{DYING_VETH_PREFIX}{}", random_hex(12));
            match self.host.retire_link(v, &d) {
                Ok(true) => dying.push(d),
                Ok(false) => {}
                Err(e) => errs.push(e),
            }
        }
        let had_ports = cn.as_ref().is_some_and(|c| !c.ports.is_empty());
        if let Some(c) = &cn {
            match std::fs::remove_file(self.endpoint_file(id)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    errs.push(Error::io("cannot remove the endpoint record", e));
                }
                // The container left its networks (docker's `disconnect`
                // as a container stops); a second teardown logs nothing.
                Err(_) => {}
                Ok(()) => {
                    for ep in &c.endpoints {
                        let driver = nets
                            .iter()
                            .find(|n| n.name == ep.network)
                            .map_or("bridge", |n| n.driver.as_str());
                        self.log_event(
                            "disconnect",
                            &ep.network_id,
                            &ep.network,
                            driver,
                            &[("container", id)],
                        );
                    }
                }
            }
        }
        if had_ports {
            if let Err(e) = self.sync_nft() {
                errs.push(e);
            }
        }
        let mut ips = Vec::new();
        for n in &nets {
            let p = self.ipam_file(&n.name);
            match read_json::<Allocations>(&p) {
                Ok(Some(mut a)) => {
                    let before = ips.len();
                    for (ip, l) in a.leases.iter_mut().filter(|(_, l)| l.container == id) {
                        l.releasing = true;
                        l.names.clear();
                        ips.push((n.name.clone(), *ip));
                    }
                    if ips.len() != before {
                        if let Err(e) = write_json(&p, &a) {
                            errs.push(e);
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => errs.push(e),
            }
        }
        let netns = self.netns_path(id);
        if let Err(e) = sys::remove_netns(&netns) {
            errs.push(Error::io(
                format!("cannot remove the network namespace {}", netns.display()),
                e,
            ));
        }
        // Other stores' default bridge goes with its last container (its
        // subnet is chosen again on next use), as netavark's: now, not
        // after the veth deletions, so a store removed right after its
        // last container exited leaves no bridge behind.
        if let Some(n) = nets
            .iter()
            .find(|n| n.name == DEFAULT_NETWORK && !self.paths.keep_default_bridge)
        {
            if self.users(n).is_ok_and(|u| u.is_empty()) {
                let _ = std::fs::remove_file(self.network_file(&n.name));
                let _ = std::fs::remove_file(self.ipam_file(&n.name));
                if let Err(e) = self.host.delete_link(&n.bridge) {
                    errs.push(e);
                }
                if let Err(e) = self.sync_nft() {
                    errs.push(e);
                }
            }
        }
        (dying, ips, errs)
    }

    /// The rest of a teardown after [`Manager::retire`]: the veths deleted
    /// without the lock (other network changes need not wait for the
    /// kernel), then, under it, the addresses released.
    fn finish_teardown(
        &mut self,
        id: &str,
        dying: &[String],
        ips: &[(String, Ipv4Addr)],
    ) -> Vec<Error> {
        let mut errs = Vec::new();
        for d in dying {
            if let Err(e) = self.host.delete_link(d) {
                errs.push(e);
            }
        }
        match self.lock() {
            Ok(_l) => errs.extend(self.release_leases(id, ips)),
            Err(e) => errs.push(e),
        }
        errs
    }

    /// The last part (caller holds the lock): the container's addresses
    /// `ips` (network, address) are released (a new start may hold others
    /// by now). Only those networks' lease files are read.
    fn release_leases(&mut self, id: &str, ips: &[(String, Ipv4Addr)]) -> Vec<Error> {
        let mut errs = Vec::new();
        let mut nets: Vec<&str> = ips.iter().map(|(n, _)| n.as_str()).collect();
        nets.sort();
        nets.dedup();
        for n in nets {
            let p = self.ipam_file(n);
            match read_json::<Allocations>(&p) {
                Ok(Some(mut a)) => {
                    let before = a.leases.len();
                    a.leases.retain(|ip, l| {
                        l.container != id || !ips.iter().any(|(m, x)| m == n && x == ip)
                    });
                    if a.leases.len() != before {
                        if let Err(e) = write_json(&p, &a) {
                            errs.push(e);
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => errs.push(e),
            }
        }
        errs
    }

    /// Leftovers of crashes: state of containers `alive` says are gone
    /// (endpoints, leases, netns files), veths of ours on no record, and
    /// the rules regenerated. Returns what it removed and every error.
    pub fn prune_leftovers(&mut self, alive: &dyn Fn(&str) -> bool) -> (Vec<String>, Vec<Error>) {
        let mut removed = Vec::new();
        let mut errs = Vec::new();
        let mut dead: Vec<String> = Vec::new();
        if let Ok(cs) = self.containers() {
            dead.extend(cs.into_iter().map(|c| c.id).filter(|id| !alive(id)));
        }
        if let Ok(nets) = self.list() {
            for n in &nets {
                if let Ok(Some(a)) = read_json::<Allocations>(&self.ipam_file(&n.name)) {
                    dead.extend(
                        a.leases
                            .values()
                            .map(|l| l.container.clone())
                            .filter(|id| !alive(id)),
                    );
                }
            }
        }
        if let Ok(rd) = std::fs::read_dir(self.paths.run.join("netns")) {
            for e in rd.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                if !alive(&id) {
                    dead.push(id);
                }
            }
        }
        dead.sort();
        dead.dedup();
        for id in dead {
            errs.extend(self.teardown(&id));
            removed.push(id);
        }
        // (veths of ours with no record die with their namespace; the
        // stable names of dead containers were deleted above.) Veths a
        // teardown renamed for deletion and did not delete (it crashed):
        if let Ok(links) = self.host.links() {
            for l in links.iter().filter(|l| l.starts_with(DYING_VETH_PREFIX)) {
                match self.host.delete_link(l) {
                    Ok(_) => removed.push(l.clone()),
                    Err(e) => errs.push(e),
                }
            }
        }
        let _l = self.lock();
        if let Err(e) = self.sync_nft() {
            errs.push(e);
        }
        (removed, errs)
    }
}

/// A container's network teardown holding the network lock until it is
/// finished (see [`Manager::defer_teardown`]); dropped unfinished,
/// `system prune` does it.
pub struct DeferredTeardown<H: Host> {
    manager: Manager<H>,
    id: String,
    lock: Option<FileLock>,
    errs: Vec<Error>,
}

impl<H: Host> DeferredTeardown<H> {
    /// Does the teardown; returns every error. Its quick part under the
    /// lock held since [`Manager::defer_teardown`]; the veth deletions
    /// without it (other containers' network changes need not wait for
    /// the kernel); the release of the addresses under it again.
    pub fn finish(mut self) -> Vec<Error> {
        let mut errs = std::mem::take(&mut self.errs);
        let (dying, ips, e) = self.manager.retire_locked(&self.id);
        errs.extend(e);
        self.lock = None;
        errs.extend(self.manager.finish_teardown(&self.id, &dying, &ips));
        errs
    }
}

#[cfg(test)]
mod tests;

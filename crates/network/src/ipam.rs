//! IPv4 subnets and address allocation (pure; the store keeps the
//! allocations in a JSON file under the network lock).

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// An IPv4 network `a.b.c.d/n` (host bits cleared).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Subnet {
        let mask = Subnet::mask_bits(prefix);
        Subnet {
            addr: Ipv4Addr::from(u32::from(addr) & mask),
            prefix,
        }
    }

    fn mask_bits(prefix: u8) -> u32 {
        if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix as u32)
        }
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & Subnet::mask_bits(self.prefix) == u32::from(self.addr)
    }

    pub fn overlaps(&self, o: &Subnet) -> bool {
        self.contains(o.addr) || o.contains(self.addr)
    }

    /// The first usable address (docker's default gateway).
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) + 1)
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !Subnet::mask_bits(self.prefix))
    }

    /// Whether `ip` is usable by a host (not network, not broadcast).
    pub fn is_host(&self, ip: Ipv4Addr) -> bool {
        self.contains(ip) && ip != self.addr && ip != self.broadcast()
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Subnet {
    type Err = Error;
    fn from_str(s: &str) -> Result<Subnet> {
        let bad = |why: &str| Error::flag("--subnet", s, why.to_string());
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| bad("not in CIDR notation"))?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad("not an IPv4 address"))?;
        let prefix: u8 = p.parse().map_err(|_| bad("bad prefix length"))?;
        if !(8..=30).contains(&prefix) {
            return Err(bad("the prefix length must be between 8 and 30"));
        }
        let n = Subnet::new(addr, prefix);
        if n.addr != addr {
            return Err(bad(&format!("host bits are set; the network is {n}")));
        }
        Ok(n)
    }
}

impl Serialize for Subnet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Subnet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Subnet, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One address lease: the container and the names DNS answers for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Lease {
    pub container: String,
    #[serde(default)]
    pub names: Vec<String>,
    /// Where the DNS forwards this container's other queries (its
    /// `--dns`); empty: the host's resolvers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<std::net::IpAddr>,
    /// The container is gone and its veth being deleted: the address is
    /// not handed out yet, but the network no longer counts it as a user
    /// (and its names no longer resolve).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub releasing: bool,
}

/// A network's allocations, keyed by address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocations {
    #[serde(default)]
    pub leases: BTreeMap<Ipv4Addr, Lease>,
    /// Where the next search starts (round robin, as docker, so a freed
    /// address is not reused at once).
    #[serde(default)]
    pub next: Option<Ipv4Addr>,
}

impl Allocations {
    /// Leases `requested` (when given) or the next free address of `subnet`
    /// other than `gateway`.
    pub fn allocate(
        &mut self,
        subnet: &Subnet,
        gateway: Ipv4Addr,
        requested: Option<Ipv4Addr>,
        lease: Lease,
    ) -> Result<Ipv4Addr> {
        if let Some(ip) = requested {
            if !subnet.is_host(ip) || ip == gateway {
                return Err(Error::flag(
                    "--ip",
                    &ip.to_string(),
                    format!("not a usable address of the network's subnet {subnet}"),
                ));
            }
            if let Some(l) = self.leases.get(&ip) {
                if l.container != lease.container {
                    return Err(Error::Conflict(format!(
                        "Address already in use: {ip} is used by container {}",
                        &l.container[..l.container.len().min(12)]
                    )));
                }
            }
            self.leases.insert(ip, lease);
            return Ok(ip);
        }
        let first = u32::from(subnet.addr) + 1;
        let last = u32::from(subnet.broadcast()) - 1;
        let size = last - first + 1;
        let start = self
            .next
            .filter(|n| subnet.is_host(*n))
            .map(u32::from)
            .unwrap_or(first);
        for i in 0..size {
            let cand = first + (start - first + i) % size;
            let ip = Ipv4Addr::from(cand);
            if ip == gateway || self.leases.contains_key(&ip) {
                continue;
            }
            self.leases.insert(ip, lease);
            self.next = Some(Ipv4Addr::from(if cand == last { first } else { cand + 1 }));
            return Ok(ip);
        }
        Err(Error::Exhausted(format!(
            "no available IPv4 addresses on the network's subnet {subnet}"
        )))
    }

    /// Releases every lease of `container`; returns how many.
    pub fn release(&mut self, container: &str) -> usize {
        let before = self.leases.len();
        self.leases.retain(|_, l| l.container != container);
        before - self.leases.len()
    }

    /// Addresses of a name (container name, alias or id prefix).
    pub fn lookup(&self, name: &str) -> Vec<Ipv4Addr> {
        let name = name.trim_end_matches('.');
        self.leases
            .iter()
            .filter(|(_, l)| l.names.iter().any(|n| n.eq_ignore_ascii_case(name)))
            .map(|(ip, _)| *ip)
            .collect()
    }
}

/// Picks the first of docker-like default pools that overlaps none of
/// `used` (host routes, host addresses, other networks).
pub fn pick_subnet(used: &[Subnet]) -> Result<Subnet> {
    let mut cands: Vec<Subnet> = Vec::new();
    for b in (30..=31).chain(17..=29) {
        cands.push(Subnet::new(Ipv4Addr::new(172, b, 0, 0), 16));
    }
    for b in 89..=127 {
        cands.push(Subnet::new(Ipv4Addr::new(10, b, 0, 0), 16));
    }
    for b in (0..=240).step_by(16) {
        cands.push(Subnet::new(Ipv4Addr::new(192, 168, b, 0), 20));
    }
    cands
        .into_iter()
        .find(|c| !used.iter().any(|u| u.prefix > 0 && u.overlaps(c)))
        .ok_or_else(|| {
            Error::Exhausted("all predefined address pools have been fully subnetted".into())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(c: &str) -> Lease {
        Lease {
            container: c.into(),
            names: vec![format!("n{c}")],
            dns: Vec::new(),
            releasing: false,
        }
    }

    #[test]
    fn subnet_parse_and_math() {
        let s: Subnet = "172.30.0.0/16".parse().unwrap();
        assert_eq!(s.first_host(), Ipv4Addr::new(172, 30, 0, 1));
        assert_eq!(s.broadcast(), Ipv4Addr::new(172, 30, 255, 255));
        assert!(s.contains(Ipv4Addr::new(172, 30, 9, 9)));
        assert!(!s.contains(Ipv4Addr::new(172, 31, 0, 1)));
        assert!("172.30.0.1/16".parse::<Subnet>().is_err());
        assert!("172.30.0.0".parse::<Subnet>().is_err());
        assert!("bad/16".parse::<Subnet>().is_err());
        let e = "10.0.0.0/33".parse::<Subnet>().unwrap_err().to_string();
        assert!(e.contains("--subnet"), "{e}");
        let j = serde_json::to_string(&s).unwrap();
        assert_eq!(j, "\"172.30.0.0/16\"");
        assert_eq!(serde_json::from_str::<Subnet>(&j).unwrap(), s);
    }

    #[test]
    fn allocation_skips_gateway_and_taken_and_wraps() {
        let s: Subnet = "10.1.2.0/29".parse().unwrap(); // .1-.6 usable
        let gw = s.first_host();
        let mut a = Allocations::default();
        let ips: Vec<_> = (0..5)
            .map(|i| a.allocate(&s, gw, None, l(&i.to_string())).unwrap())
            .collect();
        assert_eq!(ips[0], Ipv4Addr::new(10, 1, 2, 2));
        assert_eq!(ips[4], Ipv4Addr::new(10, 1, 2, 6));
        assert!(matches!(
            a.allocate(&s, gw, None, l("x")),
            Err(Error::Exhausted(_))
        ));
        assert_eq!(a.release("1"), 1);
        assert_eq!(a.allocate(&s, gw, None, l("y")).unwrap(), ips[1]);
        assert_eq!(a.lookup("ny."), vec![ips[1]]);
        assert_eq!(a.lookup("NY"), vec![ips[1]]);
    }

    #[test]
    fn requested_addresses() {
        let s: Subnet = "10.1.0.0/24".parse().unwrap();
        let gw = s.first_host();
        let mut a = Allocations::default();
        let want = Ipv4Addr::new(10, 1, 0, 50);
        assert_eq!(a.allocate(&s, gw, Some(want), l("a")).unwrap(), want);
        assert!(a.allocate(&s, gw, Some(want), l("b")).is_err());
        assert!(a.allocate(&s, gw, Some(gw), l("b")).is_err());
        assert!(a
            .allocate(&s, gw, Some(Ipv4Addr::new(10, 2, 0, 5)), l("b"))
            .is_err());
        assert!(a.allocate(&s, gw, Some(s.broadcast()), l("b")).is_err());
    }

    #[test]
    fn default_pools_avoid_used() {
        let used = vec![
            "172.30.0.0/16".parse().unwrap(),
            "172.16.0.0/12".parse().unwrap(),
        ];
        let s = pick_subnet(&used).unwrap();
        assert_eq!(s.to_string(), "10.89.0.0/16");
        assert_eq!(pick_subnet(&[]).unwrap().to_string(), "172.30.0.0/16");
        // A default route (prefix 0) does not count.
        let used = vec![Subnet::new(Ipv4Addr::UNSPECIFIED, 0)];
        assert_eq!(pick_subnet(&used).unwrap().to_string(), "172.30.0.0/16");
    }
}

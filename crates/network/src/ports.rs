//! `-p/--publish` parsing and port mappings (pure).

use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

/// One parsed `-p` value: host ports `None` means "pick random ones".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    pub host_ip: Ipv4Addr,
    pub host_ports: Option<(u16, u16)>,
    pub container_ports: (u16, u16),
    pub proto: Proto,
}

/// One published port; `host_port` 0 until a port is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PortMapping {
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
    pub container_port: u16,
    pub proto: Proto,
    /// For a `-p H1-H2:C` range: the last host port that may be chosen.
    #[serde(default)]
    pub host_port_end: u16,
}

impl PortMapping {
    /// `80/tcp`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.container_port, self.proto)
    }

    /// Whether two mappings claim the same host port.
    pub fn clashes(&self, o: &PortMapping) -> bool {
        self.proto == o.proto
            && self.host_port == o.host_port
            && (self.host_ip == o.host_ip
                || self.host_ip.is_unspecified()
                || o.host_ip.is_unspecified())
    }
}

impl fmt::Display for PortMapping {
    /// docker's `port` line: `80/tcp -> 0.0.0.0:8080`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}:{}", self.key(), self.host_ip, self.host_port)
    }
}

fn parse_range(flag: &str, whole: &str, s: &str) -> Result<(u16, u16)> {
    let bad = |why: &str| Error::flag(flag, whole, why.to_string());
    let num = |p: &str| -> Result<u16> {
        match p.parse::<u16>() {
            Ok(0) | Err(_) => Err(bad(&format!("invalid port {p:?}"))),
            Ok(n) => Ok(n),
        }
    };
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (num(a)?, num(b)?);
            if b < a {
                return Err(bad(&format!("invalid range {s:?}")));
            }
            Ok((a, b))
        }
        None => {
            let n = num(s)?;
            Ok((n, n))
        }
    }
}

/// Parses `[ip:][hostport:]containerport[/proto]` (ports may be ranges).
pub fn parse_publish(s: &str) -> Result<PortSpec> {
    const F: &str = "--publish";
    let (rest, proto) = match s.rsplit_once('/') {
        Some((r, "tcp")) => (r, Proto::Tcp),
        Some((r, "udp")) => (r, Proto::Udp),
        Some((_, p)) => return Err(Error::flag(F, s, format!("unsupported protocol {p:?}"))),
        None => (s, Proto::Tcp),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, cont) = match parts.as_slice() {
        [c] => (None, None, *c),
        [h, c] => (None, Some(*h), *c),
        [i, h, c] => (Some(*i), Some(*h), *c),
        _ => {
            return Err(Error::flag(
                F,
                s,
                "expected [ip:][hostport:]containerport[/proto]",
            ))
        }
    };
    let host_ip = match ip {
        None | Some("") => Ipv4Addr::UNSPECIFIED,
        Some(i) => i
            .parse()
            .map_err(|_| Error::flag(F, s, format!("invalid IPv4 address {i:?}")))?,
    };
    let container_ports = parse_range(F, s, cont)?;
    let host_ports = match host {
        None | Some("") => None,
        Some(h) => Some(parse_range(F, s, h)?),
    };
    if let Some((a, b)) = host_ports {
        let (ca, cb) = container_ports;
        if cb != ca && b - a != cb - ca {
            return Err(Error::flag(
                F,
                s,
                "host and container port ranges must have the same size",
            ));
        }
    }
    Ok(PortSpec {
        host_ip,
        host_ports,
        container_ports,
        proto,
    })
}

impl PortSpec {
    /// The mappings; host port 0 = random, `host_port_end` > `host_port`
    /// = pick one of the range.
    pub fn mappings(&self) -> Vec<PortMapping> {
        let (ca, cb) = self.container_ports;
        (ca..=cb)
            .enumerate()
            .map(|(i, c)| {
                let (hp, end) = match self.host_ports {
                    None => (0, 0),
                    Some((a, b)) if ca == cb && b > a => (a, b),
                    Some((a, _)) => (a + i as u16, 0),
                };
                PortMapping {
                    host_ip: self.host_ip,
                    host_port: hp,
                    container_port: c,
                    proto: self.proto,
                    host_port_end: end,
                }
            })
            .collect()
    }
}

/// Parses the image's `ExposedPorts` keys (`80/tcp`, `53/udp`, `8080`)
/// into mappings to random host ports (`-P`).
pub fn exposed_mappings<'a>(keys: impl IntoIterator<Item = &'a str>) -> Vec<PortMapping> {
    let mut out = Vec::new();
    for k in keys {
        let (p, proto) = match k.split_once('/') {
            Some((p, "udp")) => (p, Proto::Udp),
            Some((p, "tcp")) | Some((p, "")) => (p, Proto::Tcp),
            Some(_) => continue,
            None => (k, Proto::Tcp),
        };
        if let Ok(spec) = parse_publish(&format!("{p}/{proto}")) {
            out.extend(spec.mappings());
        }
    }
    out
}

/// The first port of the range docker draws random host ports from.
pub const EPHEMERAL_START: u16 = 49153;
pub const EPHEMERAL_END: u16 = 65535;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_forms() {
        let p = parse_publish("8080:80").unwrap();
        assert_eq!(p.host_ports, Some((8080, 8080)));
        assert_eq!(p.container_ports, (80, 80));
        assert_eq!(p.proto, Proto::Tcp);
        assert!(p.host_ip.is_unspecified());
        let p = parse_publish("127.0.0.1:5353:53/udp").unwrap();
        assert_eq!(p.host_ip, Ipv4Addr::LOCALHOST);
        assert_eq!(p.proto, Proto::Udp);
        let p = parse_publish("80").unwrap();
        assert_eq!(p.host_ports, None);
        assert_eq!(p.mappings()[0].host_port, 0);
        let p = parse_publish("127.0.0.1::80").unwrap();
        assert_eq!(p.host_ports, None);
        let m = parse_publish("8000-8002:80-82/tcp").unwrap().mappings();
        assert_eq!(m.len(), 3);
        assert_eq!((m[2].host_port, m[2].container_port), (8002, 82));
        let m = parse_publish("9000-9010:80").unwrap().mappings();
        assert_eq!((m[0].host_port, m[0].host_port_end), (9000, 9010));
        assert_eq!(m[0].to_string(), "80/tcp -> 0.0.0.0:9000");
        for bad in [
            "",
            "x",
            "0:80",
            "80/sctp",
            "1:2:3:4",
            "a.b:1:2",
            "9-1:80",
            "8000-8001:80-83",
            "70000",
        ] {
            let e = parse_publish(bad).unwrap_err().to_string();
            assert!(e.contains("--publish"), "{bad}: {e}");
        }
    }

    #[test]
    fn clashes_and_exposed() {
        let a = parse_publish("8080:80").unwrap().mappings()[0];
        let b = parse_publish("127.0.0.1:8080:81").unwrap().mappings()[0];
        let c = parse_publish("8080:80/udp").unwrap().mappings()[0];
        assert!(a.clashes(&b) && b.clashes(&a));
        assert!(!a.clashes(&c));
        let m = exposed_mappings(["80/tcp", "53/udp", "bad/x"]);
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].key(), "53/udp");
    }
}

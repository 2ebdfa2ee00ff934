//! nftables rules, generated whole from the networks and the published
//! ports and replaced in one `nft -f -` transaction (pure generation).

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use crate::ipam::Subnet;
use crate::ports::PortMapping;

/// What a network needs: outbound NAT (unless internal), isolation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetRules {
    pub name: String,
    pub bridge: String,
    pub subnet: Subnet,
    pub internal: bool,
}

/// A container's published ports, DNATed to `ip` behind `bridge`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub container: String,
    pub ip: Ipv4Addr,
    pub ports: Vec<PortMapping>,
}

fn q(s: &str) -> String {
    // Names and ids are [A-Za-z0-9_.-]; quote for nft anyway.
    format!("\"{}\"", s.replace(['"', '\\'], ""))
}

/// The full script: creates (or replaces) tables `ip TABLE` and
/// `inet TABLE`; with no networks it only deletes them.
pub fn ruleset(table: &str, nets: &[NetRules], published: &[Published]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "table ip {table}\ndelete table ip {table}");
    let _ = writeln!(s, "table inet {table}\ndelete table inet {table}");
    if nets.is_empty() {
        return s;
    }
    let _ = writeln!(s, "table ip {table} {{");
    s.push_str("  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n    fib daddr type local jump ports\n  }\n");
    s.push_str("  chain output {\n    type nat hook output priority -100; policy accept;\n    fib daddr type local jump ports\n  }\n");
    s.push_str("  chain ports {\n");
    for p in published {
        for m in &p.ports {
            let mut r = String::from("    ");
            if !m.host_ip.is_unspecified() {
                let _ = write!(r, "ip daddr {} ", m.host_ip);
            }
            let _ = writeln!(
                r,
                "{} dport {} dnat to {}:{} comment {}",
                m.proto,
                m.host_port,
                p.ip,
                m.container_port,
                q(&p.container)
            );
            s.push_str(&r);
        }
    }
    s.push_str("  }\n");
    s.push_str(
        "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n",
    );
    for n in nets {
        let br = q(&n.bridge);
        // Connections to 127.0.0.1:PORT DNATed to the container leave
        // through the bridge (route_localnet): give them a real source.
        let _ = writeln!(s, "    oifname {br} ip saddr 127.0.0.0/8 masquerade");
        // Hairpin: a container reaching a published port of its network.
        let _ = writeln!(
            s,
            "    oifname {br} ip saddr {} ct status dnat masquerade",
            n.subnet
        );
        if !n.internal {
            let _ = writeln!(
                s,
                "    ip saddr {} oifname != {br} masquerade comment {}",
                n.subnet,
                q(&n.name)
            );
        }
    }
    s.push_str("  }\n}\n");
    let _ = writeln!(s, "table inet {table} {{");
    s.push_str("  chain forward {\n    type filter hook forward priority filter; policy accept;\n");
    for n in nets.iter().filter(|n| n.internal) {
        let br = q(&n.bridge);
        let _ = writeln!(s, "    iifname {br} oifname != {br} drop");
        let _ = writeln!(s, "    oifname {br} iifname != {br} drop");
    }
    s.push_str("  }\n}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::parse_publish;

    #[test]
    fn empty_only_deletes() {
        let s = ruleset("berth", &[], &[]);
        assert_eq!(
            s,
            "table ip berth\ndelete table ip berth\ntable inet berth\ndelete table inet berth\n"
        );
    }

    #[test]
    fn nat_ports_and_isolation() {
        let nets = vec![
            NetRules {
                name: "bridge".into(),
                bridge: "berth0".into(),
                subnet: "172.30.0.0/16".parse().unwrap(),
                internal: false,
            },
            NetRules {
                name: "priv".into(),
                bridge: "br-0123".into(),
                subnet: "10.89.0.0/16".parse().unwrap(),
                internal: true,
            },
        ];
        let mut ports = parse_publish("8080:80").unwrap().mappings();
        ports.extend(parse_publish("127.0.0.1:5353:53/udp").unwrap().mappings());
        let pubs = vec![Published {
            container: "abc".into(),
            ip: "172.30.0.2".parse().unwrap(),
            ports,
        }];
        let s = ruleset("berth", &nets, &pubs);
        for want in [
            "fib daddr type local jump ports",
            "type nat hook output priority -100",
            "    tcp dport 8080 dnat to 172.30.0.2:80 comment \"abc\"\n",
            "    ip daddr 127.0.0.1 udp dport 5353 dnat to 172.30.0.2:53 comment \"abc\"\n",
            "ip saddr 172.30.0.0/16 oifname != \"berth0\" masquerade comment \"bridge\"",
            "oifname \"berth0\" ip saddr 127.0.0.0/8 masquerade",
            "iifname \"br-0123\" oifname != \"br-0123\" drop",
        ] {
            assert!(s.contains(want), "missing {want:?} in\n{s}");
        }
        assert!(
            !s.contains("ip saddr 10.89.0.0/16 oifname"),
            "internal: no outbound NAT\n{s}"
        );
        assert_eq!(s.matches("table ip berth {").count(), 1);
        // The real nft accepts it (check mode: nothing is changed).
        let root = nix::unistd::geteuid().is_root();
        if root && std::path::Path::new("/usr/sbin/nft").exists() {
            use std::io::Write;
            let mut c = std::process::Command::new("nft")
                .args(["-c", "-f", "-"])
                .stdin(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            c.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
            let o = c.wait_with_output().unwrap();
            assert!(
                o.status.success(),
                "{}\n{s}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
}

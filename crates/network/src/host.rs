//! The privileged side behind a narrow trait, so the logic above it is
//! unit-tested with a fake.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::error::{Error, Result};
use crate::ipam::Subnet;
use crate::ports::{PortMapping, Proto};
use crate::rtnl::Rtnl;

/// What the host must do for the networks.
pub trait Host {
    /// Subnets in use on the host: routes and addresses.
    fn host_subnets(&mut self) -> Result<Vec<Subnet>>;
    /// Creates (idempotently) `bridge` with `gateway/prefix`, up, with
    /// route_localnet, and turns on IPv4 forwarding.
    fn ensure_bridge(&mut self, bridge: &str, gateway: Ipv4Addr, prefix: u8) -> Result<()>;
    /// Deletes a link; false if absent.
    fn delete_link(&mut self, name: &str) -> Result<bool>;
    /// Takes a link down and renames it `new_name` (quick: the deletion's
    /// RCU wait comes later); false if absent.
    fn retire_link(&mut self, name: &str, new_name: &str) -> Result<bool>;
    /// Names of the host's links.
    fn links(&mut self) -> Result<Vec<String>>;
    /// veth `host_veth` on `bridge` <-> `ifname` in `netns` with `ip`,
    /// `mac`, up, plus a default route via `gateway` when given.
    #[allow(clippy::too_many_arguments)]
    fn attach(
        &mut self,
        netns: &Path,
        host_veth: &str,
        bridge: &str,
        ifname: &str,
        ip: Ipv4Addr,
        prefix: u8,
        mac: [u8; 6],
        gateway: Option<Ipv4Addr>,
    ) -> Result<()>;
    /// Runs an nft script.
    fn apply_nft(&mut self, script: &str) -> Result<()>;
    /// Fails with docker's message if the host port cannot be bound.
    fn check_port(&mut self, m: &PortMapping) -> Result<()>;
}

/// The real host: netlink, nft, sockets.
pub struct RealHost;

impl Host for RealHost {
    fn host_subnets(&mut self) -> Result<Vec<Subnet>> {
        let mut nl = Rtnl::open()?;
        let mut v: Vec<Subnet> = nl
            .routes()?
            .into_iter()
            .map(|(a, p)| Subnet::new(a, p))
            .collect();
        v.extend(
            nl.addresses()?
                .into_iter()
                .filter(|(a, _, _)| !a.is_loopback())
                .map(|(a, p, _)| Subnet::new(a, p)),
        );
        Ok(v)
    }

    fn ensure_bridge(&mut self, bridge: &str, gateway: Ipv4Addr, prefix: u8) -> Result<()> {
        let mut nl = Rtnl::open()?;
        let idx = nl.ensure_bridge(bridge)?;
        nl.add_address(idx, gateway, prefix)?;
        crate::sys::sysctl(&format!("net.ipv4.conf.{bridge}.route_localnet"), "1")
            .map_err(|e| Error::io(format!("route_localnet on {bridge}"), e))?;
        crate::sys::sysctl("net.ipv4.ip_forward", "1")
            .map_err(|e| Error::io("net.ipv4.ip_forward", e))
    }

    fn delete_link(&mut self, name: &str) -> Result<bool> {
        Rtnl::open()?.delete_link(name)
    }

    fn links(&mut self) -> Result<Vec<String>> {
        Ok(Rtnl::open()?.links()?.into_iter().map(|l| l.name).collect())
    }

    fn retire_link(&mut self, name: &str, new_name: &str) -> Result<bool> {
        let mut nl = Rtnl::open()?;
        let Some(idx) = nl.link_index(name)? else {
            return Ok(false);
        };
        nl.set_down(idx, &format!("take {name} down"))?;
        nl.rename(idx, new_name)?;
        Ok(true)
    }

    fn attach(
        &mut self,
        netns: &Path,
        host_veth: &str,
        bridge: &str,
        ifname: &str,
        ip: Ipv4Addr,
        prefix: u8,
        mac: [u8; 6],
        gateway: Option<Ipv4Addr>,
    ) -> Result<()> {
        let ns = std::fs::File::open(netns)
            .map_err(|e| Error::io(format!("cannot open {}", netns.display()), e))?;
        let mut nl = Rtnl::open()?;
        let br = nl
            .link_index(bridge)?
            .ok_or_else(|| Error::Netlink(format!("bridge {bridge} does not exist")))?;
        nl.create_veth(host_veth, ifname, ns.as_raw_fd(), Some(mac))?;
        let r = (|| -> Result<()> {
            let idx = nl
                .link_index(host_veth)?
                .ok_or_else(|| Error::Netlink(format!("veth {host_veth} vanished")))?;
            nl.set_master(idx, br)?;
            // Hairpin, so a container reaches its own published ports.
            let hp = format!("/sys/class/net/{host_veth}/brport/hairpin_mode");
            std::fs::write(&hp, "1").map_err(|e| Error::io(format!("cannot write {hp}"), e))?;
            nl.set_up(idx, &format!("bring up {host_veth}"))?;
            let mut inner = Rtnl::open_in(netns)?;
            if let Some(lo) = inner.link_index("lo")? {
                inner.set_up(lo, "bring up lo")?;
            }
            let i = inner
                .link_index(ifname)?
                .ok_or_else(|| Error::Netlink(format!("{ifname} not in the container")))?;
            inner.add_address(i, ip, prefix)?;
            inner.set_up(i, &format!("bring up {ifname}"))?;
            if let Some(gw) = gateway {
                inner.add_default_route(gw)?;
            }
            Ok(())
        })();
        if r.is_err() {
            let _ = nl.delete_link(host_veth);
        }
        r
    }

    fn apply_nft(&mut self, script: &str) -> Result<()> {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let mut c = Command::new("nft")
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::io("cannot run nft (package nftables)", e))?;
        let w = c.stdin.take().map(|mut i| i.write_all(script.as_bytes()));
        let o = c.wait_with_output().map_err(|e| Error::io("nft", e))?;
        if let Some(Err(e)) = w {
            return Err(Error::io("nft: writing the ruleset", e));
        }
        if !o.status.success() {
            let err = String::from_utf8_lossy(&o.stderr);
            let first = err.lines().next().unwrap_or("failed").to_string();
            return Err(Error::Nft(first));
        }
        Ok(())
    }

    fn check_port(&mut self, m: &PortMapping) -> Result<()> {
        let a = SocketAddrV4::new(m.host_ip, m.host_port);
        let r = match m.proto {
            Proto::Tcp => TcpListener::bind(a).map(drop),
            Proto::Udp => UdpSocket::bind(a).map(drop),
        };
        r.map_err(|e| {
            if e.kind() == std::io::ErrorKind::AddrInUse {
                Error::PortInUse(format!(
                    "driver failed programming external connectivity: Error starting userland proxy: listen {}4 {a}: bind: address already in use",
                    m.proto
                ))
            } else {
                Error::io(format!("cannot bind {}/{a}", m.proto), e)
            }
        })
    }
}

//! Route netlink over a plain blocking socket: links (bridge, veth),
//! addresses, routes. Sockets opened inside a network namespace stay
//! bound to it, so [`Rtnl::open_in`] configures a container's netns
//! from any thread.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::Path;

use netlink_packet_core::{
    DecodeError, NetlinkBuffer, NetlinkDeserializable, NetlinkHeader, NetlinkMessage,
    NetlinkPayload, NlasIterator, NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP,
    NLM_F_EXCL, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
    LinkMessageBuffer,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::error::{Error, Result};

/// A route netlink socket.
pub struct Rtnl {
    sock: Socket,
    seq: u32,
}

/// `RTM_NEWLINK`: a link in a dump.
const RTM_NEWLINK: u16 = 16;

/// A NUL-terminated string attribute.
fn nla_string(v: &[u8]) -> String {
    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
    String::from_utf8_lossy(&v[..end]).into_owned()
}

/// A link as dumped: index, name, kind ("bridge", "veth", ...), up.
#[derive(Debug, Clone)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub kind: String,
    pub up: bool,
}

fn nl_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Netlink(format!("{what}: {e}"))
}

impl Rtnl {
    /// A socket in the caller's network namespace.
    pub fn open() -> Result<Rtnl> {
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(|e| nl_err("netlink socket", e))?;
        sock.bind_auto().map_err(|e| nl_err("netlink bind", e))?;
        sock.connect(&SocketAddr::new(0, 0))
            .map_err(|e| nl_err("netlink connect", e))?;
        Ok(Rtnl { sock, seq: 1 })
    }

    /// A socket in the network namespace at `netns` (a bind-mounted
    /// nsfs file), made on a helper thread that joins it.
    pub fn open_in(netns: &Path) -> Result<Rtnl> {
        let f = std::fs::File::open(netns)
            .map_err(|e| Error::io(format!("cannot open {}", netns.display()), e))?;
        std::thread::scope(|s| {
            s.spawn(|| {
                crate::sys::setns_net(f.as_raw_fd())
                    .map_err(|e| Error::io(format!("setns {}", netns.display()), e))?;
                Rtnl::open()
            })
            .join()
            .unwrap_or_else(|_| Err(Error::Netlink("netns thread panicked".into())))
        })
    }

    fn send(&mut self, msg: RouteNetlinkMessage, flags: u16) -> Result<u32> {
        let mut hdr = NetlinkHeader::default();
        hdr.flags = NLM_F_REQUEST | flags;
        self.seq += 1;
        hdr.sequence_number = self.seq;
        let mut nl = NetlinkMessage::new(hdr, NetlinkPayload::from(msg));
        nl.finalize();
        let mut buf = vec![0u8; nl.buffer_len()];
        nl.serialize(&mut buf);
        self.sock
            .send(&buf, 0)
            .map_err(|e| nl_err("netlink send", e))?;
        Ok(self.seq)
    }

    /// Reads replies to `seq` until the ack/done; returns the messages.
    fn replies(&mut self, seq: u32, what: &str) -> Result<Vec<RouteNetlinkMessage>> {
        let mut out = Vec::new();
        self.raw_replies(seq, what, |kind, payload| {
            let mut hdr = NetlinkHeader::default();
            hdr.message_type = kind;
            let m = <RouteNetlinkMessage as NetlinkDeserializable>::deserialize(&hdr, payload)
                .map_err(|e| nl_err(what, e))?;
            out.push(m);
            Ok(())
        })?;
        Ok(out)
    }

    fn request(&mut self, msg: RouteNetlinkMessage, flags: u16, what: &str) -> Result<()> {
        let seq = self.send(msg, NLM_F_ACK | flags)?;
        self.replies(seq, what).map(|_| ())
    }

    /// Every link. Read from the raw messages: netlink-packet-route's
    /// full parse of a link message formats its statistics with `{:?}`
    /// for error contexts it never uses, milliseconds per dump on every
    /// container start and stop.
    pub fn links(&mut self) -> Result<Vec<Link>> {
        const IFLA_IFNAME: u16 = 3;
        const IFLA_LINKINFO: u16 = 18;
        const IFLA_INFO_KIND: u16 = 1;
        let seq = self.send(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_DUMP,
        )?;
        let mut out = Vec::new();
        self.raw_replies(seq, "dump links", |kind, payload| {
            if kind != RTM_NEWLINK {
                return Ok(());
            }
            let bad = |e: DecodeError| nl_err("dump links", e);
            let l = LinkMessageBuffer::new_checked(payload).map_err(bad)?;
            let mut link = Link {
                index: l.link_index(),
                name: String::new(),
                kind: String::new(),
                up: l.flags() & libc::IFF_UP as u32 != 0,
            };
            for a in l.attributes() {
                let a = a.map_err(bad)?;
                match a.kind() {
                    IFLA_IFNAME => link.name = nla_string(a.value()),
                    IFLA_LINKINFO => {
                        for i in NlasIterator::new(a.value()) {
                            let i = i.map_err(bad)?;
                            if i.kind() == IFLA_INFO_KIND {
                                link.kind = nla_string(i.value());
                            }
                        }
                    }
                    _ => {}
                }
            }
            out.push(link);
            Ok(())
        })?;
        Ok(out)
    }

    /// Reads the replies to `seq` until the done/ack, handing each other
    /// message's type and payload to `f` unparsed.
    fn raw_replies(
        &mut self,
        seq: u32,
        what: &str,
        mut f: impl FnMut(u16, &[u8]) -> Result<()>,
    ) -> Result<()> {
        loop {
            let (buf, _) = self
                .sock
                .recv_from_full()
                .map_err(|e| nl_err("netlink recv", e))?;
            let mut off = 0;
            while off < buf.len() {
                let m = NetlinkBuffer::new_checked(&buf[off..]).map_err(|e| nl_err(what, e))?;
                let len = m.length() as usize;
                off += (len + 3) & !3;
                if m.sequence_number() != seq {
                    continue;
                }
                match m.message_type() {
                    NLMSG_DONE => return Ok(()),
                    NLMSG_ERROR => {
                        let p = m.payload();
                        let code = p
                            .get(..4)
                            .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                            .unwrap_or(-libc::EBADMSG);
                        return if code == 0 {
                            Ok(())
                        } else {
                            Err(Error::Os {
                                what: what.to_string(),
                                errno: -code,
                            })
                        };
                    }
                    // NLMSG_NOOP, NLMSG_OVERRUN and the other control
                    // types below NLMSG_MIN_TYPE carry no message
                    t if t < 0x10 => {}
                    t => f(t, m.payload())?,
                }
            }
        }
    }

    pub fn link_index(&mut self, name: &str) -> Result<Option<u32>> {
        Ok(self
            .links()?
            .into_iter()
            .find(|l| l.name == name)
            .map(|l| l.index))
    }

    /// Creates a bridge (fine if it exists), brings it up.
    pub fn ensure_bridge(&mut self, name: &str) -> Result<u32> {
        if self.link_index(name)?.is_none() {
            let mut m = LinkMessage::default();
            m.attributes.push(LinkAttribute::IfName(name.into()));
            m.attributes
                .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                    InfoKind::Bridge,
                )]));
            match self.request(
                RouteNetlinkMessage::NewLink(m),
                NLM_F_CREATE | NLM_F_EXCL,
                &format!("create bridge {name}"),
            ) {
                Err(Error::Os { errno, .. }) if errno == libc::EEXIST => {}
                r => r?,
            }
        }
        let idx = self
            .link_index(name)?
            .ok_or_else(|| Error::Netlink(format!("bridge {name} vanished")))?;
        self.set_up(idx, &format!("bring up {name}"))?;
        Ok(idx)
    }

    /// Creates a veth pair `host` <-> `peer`, the peer created directly
    /// in the namespace open as `netns_fd`.
    pub fn create_veth(
        &mut self,
        host: &str,
        peer: &str,
        netns_fd: i32,
        peer_mac: Option<[u8; 6]>,
    ) -> Result<()> {
        let mut p = LinkMessage::default();
        p.attributes.push(LinkAttribute::IfName(peer.into()));
        if let Some(mac) = peer_mac {
            p.attributes.push(LinkAttribute::Address(mac.to_vec()));
        }
        p.attributes.push(LinkAttribute::NetNsFd(netns_fd));
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(host.into()));
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p))),
        ]));
        self.request(
            RouteNetlinkMessage::NewLink(m),
            NLM_F_CREATE | NLM_F_EXCL,
            &format!("create veth {host}"),
        )
    }

    /// Sets `index`'s controller (bridge) to `master`.
    pub fn set_master(&mut self, index: u32, master: u32) -> Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.attributes.push(LinkAttribute::Controller(master));
        self.request(RouteNetlinkMessage::SetLink(m), 0, "attach to bridge")
    }

    pub fn set_up(&mut self, index: u32, what: &str) -> Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        self.request(RouteNetlinkMessage::SetLink(m), 0, what)
    }

    pub fn set_down(&mut self, index: u32, what: &str) -> Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.change_mask = LinkFlags::Up;
        self.request(RouteNetlinkMessage::SetLink(m), 0, what)
    }

    /// Deletes a link; false if it did not exist.
    pub fn delete_link(&mut self, name: &str) -> Result<bool> {
        let Some(idx) = self.link_index(name)? else {
            return Ok(false);
        };
        let mut m = LinkMessage::default();
        m.header.index = idx;
        match self.request(
            RouteNetlinkMessage::DelLink(m),
            0,
            &format!("delete link {name}"),
        ) {
            Ok(()) => Ok(true),
            Err(Error::Os { errno, .. }) if errno == libc::ENODEV => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Adds `addr/prefix` to `index` (fine if present).
    pub fn add_address(&mut self, index: u32, addr: Ipv4Addr, prefix: u8) -> Result<()> {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.prefix_len = prefix;
        m.header.index = index;
        m.attributes.push(AddressAttribute::Local(IpAddr::V4(addr)));
        m.attributes
            .push(AddressAttribute::Address(IpAddr::V4(addr)));
        let bits = u32::from(addr) | (u32::MAX.checked_shr(prefix as u32).unwrap_or(0));
        m.attributes
            .push(AddressAttribute::Broadcast(Ipv4Addr::from(bits)));
        match self.request(
            RouteNetlinkMessage::NewAddress(m),
            NLM_F_CREATE | NLM_F_EXCL,
            &format!("add address {addr}/{prefix}"),
        ) {
            Err(Error::Os { errno, .. }) if errno == libc::EEXIST => Ok(()),
            r => r,
        }
    }

    /// Every IPv4 address on the host: (address, prefix, link index).
    pub fn addresses(&mut self) -> Result<Vec<(Ipv4Addr, u8, u32)>> {
        let mut q = AddressMessage::default();
        q.header.family = AddressFamily::Inet;
        let seq = self.send(RouteNetlinkMessage::GetAddress(q), NLM_F_DUMP)?;
        let mut out = Vec::new();
        for m in self.replies(seq, "dump addresses")? {
            if let RouteNetlinkMessage::NewAddress(a) = m {
                for at in &a.attributes {
                    if let AddressAttribute::Address(IpAddr::V4(ip)) = at {
                        out.push((*ip, a.header.prefix_len, a.header.index));
                    }
                }
            }
        }
        Ok(out)
    }

    /// IPv4 routes of the main table: (destination, prefix).
    pub fn routes(&mut self) -> Result<Vec<(Ipv4Addr, u8)>> {
        let mut q = RouteMessage::default();
        q.header.address_family = AddressFamily::Inet;
        let seq = self.send(RouteNetlinkMessage::GetRoute(q), NLM_F_DUMP)?;
        let mut out = Vec::new();
        for m in self.replies(seq, "dump routes")? {
            if let RouteNetlinkMessage::NewRoute(r) = m {
                if r.header.table != 254 {
                    continue;
                }
                let mut dst = Ipv4Addr::UNSPECIFIED;
                for at in &r.attributes {
                    if let RouteAttribute::Destination(RouteAddress::Inet(d)) = at {
                        dst = *d;
                    }
                }
                out.push((dst, r.header.destination_prefix_length));
            }
        }
        Ok(out)
    }

    /// `default via gw`.
    pub fn add_default_route(&mut self, gw: Ipv4Addr) -> Result<()> {
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet;
        m.header.table = 254;
        m.header.protocol = RouteProtocol::Boot;
        m.header.scope = RouteScope::Universe;
        m.header.kind = RouteType::Unicast;
        m.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gw)));
        match self.request(
            RouteNetlinkMessage::NewRoute(m),
            NLM_F_CREATE | NLM_F_EXCL,
            &format!("add default route via {gw}"),
        ) {
            Err(Error::Os { errno, .. }) if errno == libc::EEXIST => Ok(()),
            r => r,
        }
    }

    /// Renames a (down) link.
    pub fn rename(&mut self, index: u32, name: &str) -> Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.attributes.push(LinkAttribute::IfName(name.into()));
        self.request(
            RouteNetlinkMessage::SetLink(m),
            0,
            &format!("rename to {name}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every link through netlink-packet-route's full parse.
    fn parsed_dump(nl: &mut Rtnl) -> Vec<(u32, String, String, bool)> {
        let seq = nl
            .send(
                RouteNetlinkMessage::GetLink(LinkMessage::default()),
                NLM_F_DUMP,
            )
            .unwrap();
        let mut parsed = Vec::new();
        for m in nl.replies(seq, "dump links").unwrap() {
            if let RouteNetlinkMessage::NewLink(l) = m {
                let mut name = String::new();
                let mut kind = String::new();
                for a in &l.attributes {
                    match a {
                        LinkAttribute::IfName(n) => name = n.clone(),
                        LinkAttribute::LinkInfo(infos) => {
                            for i in infos {
                                if let LinkInfo::Kind(k) = i {
                                    kind = k.to_string();
                                }
                            }
                        }
                        _ => {}
                    }
                }
                let up = l.header.flags.contains(LinkFlags::Up);
                parsed.push((l.header.index, name, kind, up));
            }
        }
        parsed
    }

    /// The raw dump reads what the full parse read: every link's index,
    /// name, kind and state (a dump needs no privilege). Links that other
    /// tests or containers change meanwhile are those not the same in a
    /// parsed dump before and one after; every other must be in the raw
    /// dump as parsed.
    #[test]
    fn raw_link_dump_matches_the_parsed_messages() {
        let mut nl = Rtnl::open().unwrap();
        let before = parsed_dump(&mut nl);
        let raw: Vec<_> = nl
            .links()
            .unwrap()
            .into_iter()
            .map(|l| (l.index, l.name, l.kind, l.up))
            .collect();
        let after = parsed_dump(&mut nl);
        let stable: Vec<_> = before.iter().filter(|l| after.contains(l)).collect();
        assert!(!stable.is_empty());
        for l in stable {
            assert!(raw.contains(l), "{l:?} not in the raw dump {raw:?}");
        }
        assert!(raw.iter().any(|l| l.1 == "lo" && l.3));
        assert_eq!(nl.link_index("lo").unwrap(), Some(1));
        assert_eq!(nl.link_index("no-such-link0").unwrap(), None);
    }
}

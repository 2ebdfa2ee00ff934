//! The embedded DNS of a user network: a small resolver on the gateway
//! address, port 53/udp, answering A queries for the network's containers
//! (names, aliases, short ids; from the IPAM leases, reloaded when they
//! change) and forwarding everything else to the asking container's
//! `--dns` servers (recorded in its lease), else the host's resolvers. One per
//! network (pid file under a lock); it exits when the network has no
//! containers left.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::error::{Error, Result};
use crate::ipam::Allocations;
use crate::{read_json, sys, Network, Paths};
use berth_util::fs::{AtomicWrite, Durability};

/// The hidden argv[1] the `berth` binary dispatches to [`serve`].
pub const ARGV1: &str = "__network-dns";

/// A parsed query: id, flags, the question's name (lowercase, no trailing
/// dot), type, class, and where the question ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub id: u16,
    pub flags: u16,
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
    pub end: usize,
}

pub const TYPE_A: u16 = 1;

/// Parses a standard query with one question (no compression in it).
pub fn parse_query(b: &[u8]) -> Option<Query> {
    if b.len() < 12 {
        return None;
    }
    let id = u16::from_be_bytes([b[0], b[1]]);
    let flags = u16::from_be_bytes([b[2], b[3]]);
    let qd = u16::from_be_bytes([b[4], b[5]]);
    if flags & 0x8000 != 0 || (flags >> 11) & 0xf != 0 || qd != 1 {
        return None;
    }
    let mut i = 12;
    let mut labels: Vec<String> = Vec::new();
    loop {
        let l = *b.get(i)? as usize;
        i += 1;
        if l == 0 {
            break;
        }
        if l > 63 {
            return None;
        }
        let s = b.get(i..i + l)?;
        labels.push(String::from_utf8_lossy(s).to_ascii_lowercase());
        i += l;
    }
    let t = b.get(i..i + 4)?;
    Some(Query {
        id,
        flags,
        name: labels.join("."),
        qtype: u16::from_be_bytes([t[0], t[1]]),
        qclass: u16::from_be_bytes([t[2], t[3]]),
        end: i + 4,
    })
}

/// The answer to `q` (raw query `raw`) with `ips` (A records, TTL 600);
/// NXDOMAIN-free: an empty list is a NOERROR with no answers.
pub fn answer(raw: &[u8], q: &Query, ips: &[Ipv4Addr]) -> Vec<u8> {
    let mut out = Vec::with_capacity(q.end + 16 * ips.len());
    out.extend_from_slice(&q.id.to_be_bytes());
    // QR, opcode 0, AA, RD copied, RA, rcode 0.
    let flags: u16 = 0x8000 | 0x0400 | (q.flags & 0x0100) | 0x0080;
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(ips.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&raw[12..q.end]);
    for ip in ips {
        out.extend_from_slice(&[0xc0, 12]);
        out.extend_from_slice(&TYPE_A.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&600u32.to_be_bytes());
        out.extend_from_slice(&4u16.to_be_bytes());
        out.extend_from_slice(&ip.octets());
    }
    out
}

/// A SERVFAIL for `raw` (when forwarding fails).
pub fn servfail(raw: &[u8], q: &Query) -> Vec<u8> {
    let mut out = answer(raw, q, &[]);
    out[2] &= !0x04; // not authoritative
    out[3] = (out[3] & 0xf0) | 2;
    out
}

/// The host's resolvers (`nameserver` lines).
pub fn upstreams(resolv_conf: &str) -> Vec<SocketAddr> {
    resolv_conf
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver"))
                .then(|| w.next())
                .flatten()
                .and_then(|a| a.parse::<std::net::IpAddr>().ok())
                .map(|ip| SocketAddr::new(ip, 53))
        })
        .collect()
}

fn pid_file(p: &Paths, net: &str) -> PathBuf {
    p.run.join("dns").join(format!("{net}.pid"))
}

fn lock_file(p: &Paths, net: &str) -> PathBuf {
    p.run.join("dns").join(format!("{net}.lock"))
}

fn running_pid(p: &Paths, net: &str) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(pid_file(p, net))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
    (args.get(1) == Some(&ARGV1.as_bytes()) && args.contains(&net.as_bytes())).then_some(pid)
}

/// Starts the resolver of `net` with `exe` unless one runs; returns once
/// it listens.
pub fn ensure_running(p: &Paths, net: &str, exe: &Path) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let lf = lock_file(p, net);
    let _l = crate::lock_path(&lf)?;
    if running_pid(p, net).is_some() {
        return Ok(());
    }
    let _ = std::fs::remove_file(pid_file(p, net));
    let mut cmd = std::process::Command::new(exe);
    cmd.arg0("berth")
        .arg(ARGV1)
        .arg(&p.state)
        .arg(&p.run)
        .arg(net)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    sys::new_session_on_spawn(&mut cmd);
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::io(format!("cannot start the DNS of network {net}"), e))?;
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(5) {
        if running_pid(p, net) == Some(child.id() as i32) {
            // Reaped by whoever outlives us; detach.
            std::thread::spawn(move || child.wait());
            return Ok(());
        }
        if let Ok(Some(st)) = child.try_wait() {
            return Err(Error::Invalid(format!(
                "the DNS of network {net} exited at start ({st})"
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(Error::Invalid(format!(
        "the DNS of network {net} did not start listening"
    )))
}

/// What identifies one version of the leases file: it is replaced by
/// rename (a new inode) on every change, and two changes can share a
/// coarse mtime.
type Stamp = (u64, SystemTime, u64);

struct Records {
    path: PathBuf,
    stamp: Option<Stamp>,
    alloc: Allocations,
}

impl Records {
    fn reload(&mut self) {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(&self.path)
            .and_then(|m| Ok((m.ino(), m.modified()?, m.len())))
            .ok();
        if m != self.stamp || m.is_none() {
            self.stamp = m;
            self.alloc = read_json(&self.path).ok().flatten().unwrap_or_default();
        }
    }
}

/// Where to forward a query from `from`: that container's `--dns`
/// servers (its lease's), else the host's resolvers.
pub fn upstreams_for(
    alloc: &Allocations,
    from: std::net::IpAddr,
    host: &[SocketAddr],
) -> Vec<SocketAddr> {
    let own = match from {
        std::net::IpAddr::V4(ip) => alloc.leases.get(&ip).map(|l| l.dns.clone()),
        std::net::IpAddr::V6(_) => None,
    }
    .unwrap_or_default();
    if own.is_empty() {
        host.to_vec()
    } else {
        own.into_iter().map(|ip| SocketAddr::new(ip, 53)).collect()
    }
}

/// The reply to one raw query from `from`: ours from `alloc`, else forwarded.
fn resolve(
    raw: &[u8],
    alloc: &Allocations,
    from: std::net::IpAddr,
    ups: &[SocketAddr],
) -> Option<Vec<u8>> {
    let q = parse_query(raw)?;
    let ours = alloc.lookup(&q.name);
    if !ours.is_empty() {
        let ips = if q.qtype == TYPE_A { ours } else { Vec::new() };
        return Some(answer(raw, &q, &ips));
    }
    let ups = upstreams_for(alloc, from, ups);
    Some(forward(raw, &ups).unwrap_or_else(|| servfail(raw, &q)))
}

/// DNS over TCP: length-prefixed queries on one connection.
fn serve_tcp(mut c: std::net::TcpStream, leases: PathBuf, ups: Vec<SocketAddr>) {
    use std::io::{Read, Write};
    let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(peer) = c.peer_addr() else { return };
    loop {
        let mut len = [0u8; 2];
        if c.read_exact(&mut len).is_err() {
            return;
        }
        let mut raw = vec![0u8; u16::from_be_bytes(len) as usize];
        if c.read_exact(&mut raw).is_err() {
            return;
        }
        // Read per query: the leases may change while a connection is open.
        let alloc: Allocations = read_json(&leases).ok().flatten().unwrap_or_default();
        let Some(out) = resolve(&raw, &alloc, peer.ip(), &ups) else {
            return;
        };
        let mut msg = (out.len() as u16).to_be_bytes().to_vec();
        msg.extend_from_slice(&out);
        if c.write_all(&msg).is_err() {
            return;
        }
    }
}

/// `bind` again while the address is in use, for up to two seconds.
fn bind_retrying<T>(bind: impl Fn() -> io::Result<T>) -> io::Result<T> {
    let t = Instant::now();
    loop {
        match bind() {
            Err(e)
                if e.kind() == io::ErrorKind::AddrInUse && t.elapsed() < Duration::from_secs(2) =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            r => return r,
        }
    }
}

/// The resolver's main loop (in the `berth __network-dns STATE RUN NET` process).
pub fn serve(p: &Paths, net: &str) -> Result<()> {
    let n: Network = read_json(&p.state.join(format!("{net}.json")))?
        .ok_or_else(|| Error::NotFound(net.into()))?;
    // The resolver this one replaces may still hold the port for a moment:
    // it exits (closing its sockets) after it gave up the pid file.
    let sock = bind_retrying(|| UdpSocket::bind((n.gateway, 53)))
        .map_err(|e| Error::io(format!("cannot listen on {}:53/udp", n.gateway), e))?;
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .map_err(|e| Error::io("dns socket", e))?;
    let tcp = bind_retrying(|| std::net::TcpListener::bind((n.gateway, 53)))
        .map_err(|e| Error::io(format!("cannot listen on {}:53/tcp", n.gateway), e))?;
    let ups = upstreams(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default());
    let leases = p.run.join("ipam").join(format!("{net}.json"));
    {
        let (leases, ups) = (leases.clone(), ups.clone());
        std::thread::spawn(move || {
            for c in tcp.incoming().flatten() {
                let (leases, ups) = (leases.clone(), ups.clone());
                std::thread::spawn(move || serve_tcp(c, leases, ups));
            }
        });
    }
    AtomicWrite::new(Durability::Flushed)
        .create_dir()
        .write(&pid_file(p, net), std::process::id().to_string().as_bytes())?;
    let mut rec = Records {
        path: leases,
        stamp: None,
        alloc: Allocations::default(),
    };
    let mut buf = [0u8; 4096];
    let mut empty_since: Option<Instant> = None;
    loop {
        rec.reload();
        if rec.alloc.leases.is_empty() {
            let since = *empty_since.get_or_insert_with(Instant::now);
            if since.elapsed() > Duration::from_secs(1) {
                let lf = lock_file(p, net);
                let _l = crate::lock_path(&lf)?;
                rec.stamp = None;
                rec.reload();
                if rec.alloc.leases.is_empty() {
                    let _ = std::fs::remove_file(pid_file(p, net));
                    return Ok(());
                }
            }
        } else {
            empty_since = None;
        }
        let (len, from) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(e) => return Err(Error::io("dns recv", e)),
        };
        let raw = buf[..len].to_vec();
        let Some(q) = parse_query(&raw) else { continue };
        // The leases may have changed while this waited for the query.
        rec.reload();
        if !rec.alloc.lookup(&q.name).is_empty() {
            if let Some(out) = resolve(&raw, &rec.alloc, from.ip(), &ups) {
                let _ = sock.send_to(&out, from);
            }
            continue;
        }
        let reply = sock.try_clone();
        let ups = upstreams_for(&rec.alloc, from.ip(), &ups);
        std::thread::spawn(move || {
            let Ok(reply) = reply else { return };
            let out = forward(&raw, &ups).unwrap_or_else(|| servfail(&raw, &q));
            let _ = reply.send_to(&out, from);
        });
    }
}

fn forward(raw: &[u8], ups: &[SocketAddr]) -> Option<Vec<u8>> {
    for u in ups {
        let bind: SocketAddr = if u.is_ipv4() {
            "0.0.0.0:0".parse().ok()?
        } else {
            "[::]:0".parse().ok()?
        };
        let Ok(s) = UdpSocket::bind(bind) else {
            continue;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
        if s.send_to(raw, u).is_err() {
            continue;
        }
        let mut buf = [0u8; 4096];
        if let Ok((n, _)) = s.recv_from(&mut buf) {
            if n >= 2 && buf[..2] == raw[..2] {
                return Some(buf[..n].to_vec());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A port still held by the resolver being replaced is waited for.
    #[test]
    fn bind_waits_for_the_previous_holder() {
        let old = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = old.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            drop(old);
        });
        let new = bind_retrying(|| UdpSocket::bind(addr)).unwrap();
        assert_eq!(new.local_addr().unwrap(), addr);
        t.join().unwrap();
    }

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut b = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in name.split('.') {
            b.push(l.len() as u8);
            b.extend_from_slice(l.as_bytes());
        }
        b.push(0);
        b.extend_from_slice(&qtype.to_be_bytes());
        b.extend_from_slice(&1u16.to_be_bytes());
        b
    }

    #[test]
    fn parse_and_answer() {
        let raw = query("Web", TYPE_A);
        let q = parse_query(&query("Web", TYPE_A)).unwrap();
        assert_eq!(
            (q.id, q.name.as_str(), q.qtype, q.qclass),
            (0x1234, "web", 1, 1)
        );
        let ip = Ipv4Addr::new(10, 89, 0, 2);
        let a = answer(&query("Web", TYPE_A), &q, &[ip]);
        assert_eq!(&a[..2], &[0x12, 0x34]);
        assert_eq!(a[2] & 0x80, 0x80, "a response");
        assert_eq!(a[2] & 0x01, 0x01, "RD copied");
        assert_eq!(u16::from_be_bytes([a[6], a[7]]), 1, "one answer");
        assert_eq!(&a[a.len() - 4..], &ip.octets());
        assert_eq!(a.len(), q.end + 16);
        let f = servfail(&raw, &q);
        assert_eq!(f[3] & 0x0f, 2);
        assert!(parse_query(&a).is_none(), "responses are not queries");
        assert!(parse_query(&raw[..10]).is_none());
        assert!(parse_query(&raw[..raw.len() - 1]).is_none());
    }

    #[test]
    fn forwards_to_the_containers_dns() {
        let mut a = Allocations::default();
        let ip = Ipv4Addr::new(10, 89, 0, 2);
        a.leases.insert(
            ip,
            crate::ipam::Lease {
                container: "c".into(),
                names: vec!["c".into()],
                dns: vec!["192.0.2.53".parse().unwrap()],
                releasing: false,
            },
        );
        let host = upstreams("nameserver 10.0.0.1\n");
        let u = upstreams_for(&a, ip.into(), &host);
        assert_eq!(u, vec!["192.0.2.53:53".parse().unwrap()]);
        let other = upstreams_for(&a, Ipv4Addr::new(10, 89, 0, 3).into(), &host);
        assert_eq!(other, host);
    }

    #[test]
    fn resolvers() {
        let u = upstreams("# x\nnameserver 10.0.0.1\nsearch a\nnameserver ::1\nnameserver bad\n");
        assert_eq!(u.len(), 2);
        assert_eq!(u[0].to_string(), "10.0.0.1:53");
    }
}

//! Container networking end to end: published ports (TCP from the host
//! over loopback and the host's address, UDP), outbound NAT to a server in
//! a namespace the test makes, name resolution on a user network, `port`,
//! port conflicts, `network rm` of a network in use, and that nothing is
//! left (veth, nft rule, netns file, IP lease) once a container is gone.
//! Needs root.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{free_port_on, Env};

struct Net {
    env: Env,
}

impl Net {
    fn new() -> Net {
        let env = Env::new();
        env.import_busybox("bb", &["EXPOSE 80"]);
        Net { env }
    }

    fn ok(&self, args: &[&str]) -> String {
        self.env.ok(args)
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        self.env.run(args)
    }

    fn run_root(&self) -> std::path::PathBuf {
        self.env.root().join("run/net")
    }

    /// A detached busybox httpd serving `body` on port 80.
    fn httpd(&self, extra: &[&str], body: &str) -> String {
        let script = format!(
            "mkdir -p /www && echo {body} > /www/index.html && exec busybox httpd -f -p 80 -h /www"
        );
        let mut args = vec!["run", "-d"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["bb", "sh", "-c", &script]);
        self.ok(&args).trim().to_string()
    }

    fn inspect(&self, c: &str, f: &str) -> String {
        self.ok(&["inspect", "-f", f, c]).trim().to_string()
    }

    /// Asserts nothing of container `id` is left on the host.
    fn assert_gone(&self, id: &str) {
        // An exited container's monitor deletes its veth after telling the
        // client (the kernel makes that wait ~20 ms), then releases its
        // address: wait for that, as a test of eventual cleanup.
        let t = Instant::now();
        loop {
            match self.leftovers(id) {
                Ok(()) => return,
                Err(e) if t.elapsed() > Duration::from_secs(10) => panic!("{e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// What is left of container `id` on the host, if anything.
    fn leftovers(&self, id: &str) -> Result<(), String> {
        let links = sh("ip -o link show");
        // The stable host-side names on every network of the store, and
        // the renamed ones being deleted.
        let nets = self.ok(&["network", "ls", "--format", "{{.Name}}"]);
        for net in nets.lines().chain(["bridge"]) {
            let v = network::veth_name(id, net);
            if links.contains(&format!(" {v}@")) {
                return Err(format!("veth {v} left:\n{links}"));
            }
        }
        if links.contains(&format!(" {}", network::DYING_VETH_PREFIX)) {
            return Err(format!("a retired veth left:\n{links}"));
        }
        let rules = sh("nft list ruleset");
        if rules.contains(id) {
            return Err(format!("nft rule of {id} left:\n{rules}"));
        }
        if self.run_root().join("netns").join(id).exists() {
            return Err("netns file left".into());
        }
        if self
            .run_root()
            .join("endpoints")
            .join(format!("{id}.json"))
            .exists()
        {
            return Err("endpoint record left".into());
        }
        if let Ok(rd) = std::fs::read_dir(self.run_root().join("ipam")) {
            for e in rd.flatten() {
                let t = std::fs::read_to_string(e.path()).unwrap();
                if t.contains(id) {
                    return Err(format!("lease left in {}: {t}", e.path().display()));
                }
            }
        }
        Ok(())
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        let ids = self.env.output(&["ps", "-a", "-q", "--no-trunc"]);
        for id in String::from_utf8_lossy(&ids.stdout).lines() {
            let _ = self.env.output(&["rm", "-f", id]);
        }
        let _ = self.env.output(&["network", "prune", "-f"]);
        let _ = self.env.output(&["system", "prune", "-f"]);
    }
}

fn sh(cmd: &str) -> String {
    let o = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The host's first global IPv4 address.
fn host_ip() -> String {
    let out = sh("ip -o -4 addr show scope global");
    let w: Vec<&str> = out.split_whitespace().collect();
    let i = w
        .iter()
        .position(|x| *x == "inet")
        .expect("a global IPv4 address");
    w[i + 1].split('/').next().unwrap().to_string()
}

fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let t = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn http_get(addr: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.starts_with("HTTP/1.").then_some(out)
}

/// An A query over TCP to `server`:53; the first address answered.
fn dns_tcp_a(server: &str, name: &str) -> String {
    let mut q = vec![0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for l in name.split('.') {
        q.push(l.len() as u8);
        q.extend_from_slice(l.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    let mut s = TcpStream::connect((server, 53)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut msg = (q.len() as u16).to_be_bytes().to_vec();
    msg.extend_from_slice(&q);
    s.write_all(&msg).unwrap();
    let mut len = [0u8; 2];
    s.read_exact(&mut len).unwrap();
    let mut r = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut r).unwrap();
    assert_eq!(&r[..2], &[0xab, 0xcd]);
    assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1, "one answer");
    let a = &r[r.len() - 4..];
    format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])
}

#[test]
fn published_port_serves_http_on_loopback_and_host_address() {
    let n = Net::new();
    let port = free_port_on("0.0.0.0");
    let p = format!("{port}:80");
    let id = n.httpd(&["-p", &p], "hello-published");
    for addr in [format!("127.0.0.1:{port}"), format!("{}:{port}", host_ip())] {
        let body = until(&format!("GET {addr}"), || http_get(&addr));
        assert!(
            body.contains("200 OK") && body.contains("hello-published"),
            "{addr}: {body}"
        );
    }
    // From containers: another one, and itself (hairpin).
    let other = n.ok(&[
        "run",
        "--rm",
        "bb",
        "sh",
        "-c",
        &format!(
            "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | busybox nc {} {port}",
            host_ip()
        ),
    ]);
    assert!(other.contains("hello-published"), "{other}");
    let own = n.ok(&[
        "exec",
        &id,
        "sh",
        "-c",
        &format!(
            "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | busybox nc {} {port}",
            host_ip()
        ),
    ]);
    assert!(own.contains("hello-published"), "{own}");
    // The host port stays bound while the container runs.
    let e = TcpListener::bind(("0.0.0.0", port)).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse);
    // `ps` PORTS column.
    let ps = n.ok(&[
        "ps",
        "--format",
        "{{.Ports}}",
        "--filter",
        &format!("id={id}"),
    ]);
    assert_eq!(ps, format!("0.0.0.0:{port}->80/tcp\n"));
    // `port`, docker's format.
    assert_eq!(n.ok(&["port", &id]), format!("80/tcp -> 0.0.0.0:{port}\n"));
    assert_eq!(n.ok(&["port", &id, "80"]), format!("0.0.0.0:{port}\n"));
    let (code, _, err) = n.run(&["port", &id, "81/tcp"]);
    assert_eq!(code, 1, "{err}");
    // inspect: docker's NetworkSettings shape.
    let ip = n.inspect(&id, "{{.NetworkSettings.IPAddress}}");
    assert!(!ip.is_empty());
    assert_eq!(
        n.inspect(&id, "{{.NetworkSettings.Networks.bridge.IPAddress}}"),
        ip
    );
    assert_eq!(
        n.inspect(&id, "{{json .NetworkSettings.Ports}}"),
        format!("{{\"80/tcp\":[{{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"{port}\"}}]}}")
    );
    assert_eq!(
        n.inspect(&id, "{{json .HostConfig.PortBindings}}"),
        format!("{{\"80/tcp\":[{{\"HostIp\":\"\",\"HostPort\":\"{port}\"}}]}}")
    );
    assert_eq!(n.inspect(&id, "{{.HostConfig.NetworkMode}}"), "bridge");
    // /etc/hosts has the container's address and hostname.
    let hosts = n.ok(&["exec", &id, "cat", "/etc/hosts"]);
    assert!(hosts.contains(&format!("{ip}\t{}", &id[..12])), "{hosts}");
    // A restart publishes the same port again.
    n.ok(&["restart", "-t", "0", &id]);
    let body = until("GET after restart", || {
        http_get(&format!("127.0.0.1:{port}"))
    });
    assert!(body.contains("hello-published"), "{body}");
    let hosts = n.ok(&["exec", &id, "cat", "/etc/hosts"]);
    assert_eq!(hosts.matches(&id[..12]).count(), 1, "{hosts}");
    n.ok(&["rm", "-f", &id]);
    n.assert_gone(&id);
}

#[test]
fn publish_all_uses_random_ports_and_exit_tears_down() {
    let n = Net::new();
    let id = n.httpd(&["-P"], "hello-random");
    let line = n.ok(&["port", &id]);
    let hp: u16 = line
        .trim()
        .strip_prefix("80/tcp -> 0.0.0.0:")
        .unwrap_or_else(|| panic!("{line}"))
        .parse()
        .unwrap();
    assert!(hp >= 49153, "{hp}");
    let body = until("GET", || http_get(&format!("127.0.0.1:{hp}")));
    assert!(body.contains("hello-random"));
    // The container's exit (not rm) releases its network.
    n.ok(&["stop", "-t", "1", &id]);
    n.assert_gone(&id);
    // And it gets a network again on restart.
    n.ok(&["start", &id]);
    let line = n.ok(&["port", &id]);
    assert!(line.starts_with("80/tcp -> 0.0.0.0:"), "{line}");
    n.ok(&["rm", "-f", &id]);
    n.assert_gone(&id);
}

/// Not a test on its own: with BERTH_TEST_UDP=PORT, a UDP echo server
/// (the container side of `udp_port_publishing`: this busybox has no
/// UDP-capable nc).
#[test]
fn udp_echo_server_helper() {
    let Ok(p) = std::env::var("BERTH_TEST_UDP") else {
        return;
    };
    let s = UdpSocket::bind(("0.0.0.0", p.parse::<u16>().unwrap())).unwrap();
    println!("listening");
    let mut b = [0u8; 512];
    loop {
        let (n, from) = s.recv_from(&mut b).unwrap();
        let _ = s.send_to(&[b"echo:", &b[..n]].concat(), from);
    }
}

#[test]
fn udp_port_publishing() {
    let n = Net::new();
    let port = free_port_on("0.0.0.0");
    let p = format!("127.0.0.1:{port}:5000/udp");
    let exe = std::env::current_exe().unwrap();
    let exe_mount = format!("{}:/udpecho:ro", exe.display());
    let mut args = vec![
        "run",
        "-d",
        "-p",
        &p,
        "-e",
        "BERTH_TEST_UDP=5000",
        "-v",
        &exe_mount,
    ];
    // The test binary's shared libraries.
    let libs: Vec<String> = ["/lib", "/lib64", "/usr"]
        .iter()
        .filter(|d| std::path::Path::new(d).exists())
        .map(|d| format!("{d}:{d}:ro"))
        .collect();
    for l in &libs {
        args.push("-v");
        args.push(l);
    }
    args.extend_from_slice(&[
        "bb",
        "/udpecho",
        "--exact",
        "udp_echo_server_helper",
        "--nocapture",
    ]);
    let id = n.ok(&args).trim().to_string();
    assert_eq!(
        n.ok(&["port", &id]),
        format!("5000/udp -> 127.0.0.1:{port}\n")
    );
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let reply = until("a UDP echo through the published port", || {
        s.send_to(b"ping-over-udp", ("127.0.0.1", port)).ok()?;
        let mut b = [0u8; 64];
        let (k, _) = s.recv_from(&mut b).ok()?;
        Some(String::from_utf8_lossy(&b[..k]).into_owned())
    });
    assert_eq!(reply, "echo:ping-over-udp");
    n.ok(&["rm", "-f", &id]);
    n.assert_gone(&id);
}

/// A server in a network namespace of the test's own, reachable from the
/// host through a veth: the container reaches it only through the
/// outbound masquerade (the namespace has no route back to the bridge).
#[test]
fn outbound_connectivity_is_masqueraded() {
    let n = Net::new();
    let tag = format!("{:x}", std::process::id() & 0xffff);
    let ns = format!("bt-out-{tag}");
    let (h, p) = (format!("bto{tag}h"), format!("bto{tag}p"));
    let www = n.env.path("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "hello-from-outside\n").unwrap();
    // 198.51.100.0/24: documentation range, not on this host.
    let setup = format!(
        "set -e; ip netns add {ns}; ip link add {h} type veth peer name {p} netns {ns}; \
         ip addr add 198.51.100.1/24 dev {h}; ip link set {h} up; \
         ip -n {ns} addr add 198.51.100.2/24 dev {p}; ip -n {ns} link set {p} up; ip -n {ns} link set lo up"
    );
    let ok = Command::new("sh")
        .arg("-c")
        .arg(&setup)
        .status()
        .unwrap()
        .success();
    struct Cleanup(String, String);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "ip link del {} 2>/dev/null; ip netns pids {} | xargs -r kill; ip netns del {}",
                    self.1, self.0, self.0
                ))
                .status();
        }
    }
    let _c = Cleanup(ns.clone(), h.clone());
    assert!(ok, "test namespace setup");
    let mut server = Command::new("ip")
        .args([
            "netns", "exec", &ns, "busybox", "httpd", "-f", "-p", "8000", "-h",
        ])
        .arg(&www)
        .spawn()
        .unwrap();
    let (code, out, err) = n.run(&[
        "run",
        "--rm",
        "bb",
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6 7 8 9 10; do printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | busybox nc 198.51.100.2 8000 && exit 0; busybox sleep 1; done; exit 1",
    ]);
    // An --internal network does not reach out.
    let internal = format!("btint-{tag}");
    n.ok(&["network", "create", "--internal", &internal]);
    let (icode, iout, _) = n.run(&[
        "run",
        "--rm",
        "--network",
        &internal,
        "bb",
        "sh",
        "-c",
        "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 2 198.51.100.2 8000",
    ]);
    // and has no default route (docker's: no gateway): the host's other
    // addresses are not reachable either
    let routes = n.ok(&[
        "run",
        "--rm",
        "--network",
        &internal,
        "bb",
        "busybox",
        "ip",
        "route",
    ]);
    let (hcode, _, herr) = n.run(&[
        "run",
        "--rm",
        "--network",
        &internal,
        "bb",
        "busybox",
        "nc",
        "-w",
        "2",
        "198.51.100.1",
        "22",
    ]);
    n.ok(&["network", "rm", &internal]);
    assert!(!routes.contains("default"), "{routes}");
    assert!(hcode != 0 && herr.contains("unreachable"), "{herr}");
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("hello-from-outside"), "{out}");
    assert!(icode != 0 && !iout.contains("hello-from-outside"), "{iout}");
}

#[test]
fn names_resolve_on_a_user_network_and_rm_refuses_in_use() {
    let n = Net::new();
    let tag = format!("{:x}", std::process::id());
    let net = format!("berthtest-{tag}");
    let a = format!("srv-{tag}");
    let nid = n.ok(&["network", "create", &net]).trim().to_string();
    assert_eq!(nid.len(), 64);
    assert!(n
        .ok(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"])
        .contains(&format!("{net} bridge")));
    let id = n
        .ok(&[
            "run",
            "-d",
            "--name",
            &a,
            "--network",
            &net,
            "--network-alias",
            "dbalias",
            "bb",
            "busybox",
            "sleep",
            "1000",
        ])
        .trim()
        .to_string();
    let nets: serde_json::Value =
        serde_json::from_str(&n.inspect(&id, "{{json .NetworkSettings.Networks}}")).unwrap();
    let ip = nets[&net]["IPAddress"].as_str().unwrap().to_string();
    assert!(!ip.is_empty());
    assert_eq!(nets[&net]["Aliases"][1], "dbalias");
    for name in [a.as_str(), "dbalias", &id[..12]] {
        let (code, out, err) = n.run(&[
            "run",
            "--rm",
            "--network",
            &net,
            "bb",
            "busybox",
            "nslookup",
            name,
        ]);
        assert_eq!(code, 0, "nslookup {name}: {out}{err}");
        assert!(
            out.contains(&format!("Address: {ip}")),
            "nslookup {name}: {out}"
        );
    }
    // Over TCP too (asked from the host: the gateway address is the host's).
    let ipam: serde_json::Value =
        serde_json::from_str(&n.ok(&["network", "inspect", "-f", "{{json .IPAM}}", &net])).unwrap();
    let gw = ipam["Config"][0]["Gateway"].as_str().unwrap().to_string();
    assert_eq!(dns_tcp_a(&gw, "dbalias"), ip);
    let (code, out, _) = n.run(&[
        "run",
        "--rm",
        "--network",
        &net,
        "bb",
        "busybox",
        "ping",
        "-c",
        "1",
        "-W",
        "3",
        &a,
    ]);
    assert_eq!(code, 0, "{out}");
    // rename: the DNS answers the new name, no longer the old one.
    let b = format!("renamed-{tag}");
    n.ok(&["rename", &a, &b]);
    let lookup = |name: &str| {
        n.run(&[
            "run",
            "--rm",
            "--network",
            &net,
            "bb",
            "busybox",
            "nslookup",
            name,
        ])
    };
    let (code, out, err) = lookup(&b);
    assert_eq!(code, 0, "nslookup {b}: {out}{err}");
    assert!(out.contains(&format!("Address: {ip}")), "{out}");
    let (code, out, _) = lookup(&a);
    assert!(
        code != 0 && !out.contains(&format!("Address: {ip}")),
        "the old name still resolves: {out}"
    );
    n.ok(&["rename", &b, &a]);
    // Unknown names are forwarded, and answered NXDOMAIN/failure, not hung.
    let (code, _, _) = n.run(&[
        "run",
        "--rm",
        "--network",
        &net,
        "bb",
        "busybox",
        "nslookup",
        "nonexistent-name-xyz.invalid",
    ]);
    assert_ne!(code, 0);
    // network inspect lists the container.
    let v: serde_json::Value = serde_json::from_str(&n.ok(&["network", "inspect", &net])).unwrap();
    assert_eq!(v[0]["Containers"][&id]["Name"], a.as_str());
    // In use: refused.
    let (code, _, err) = n.run(&["network", "rm", &net]);
    assert_eq!(code, 1);
    assert!(err.contains("has active endpoints"), "{err}");
    n.ok(&["rm", "-f", &id]);
    n.assert_gone(&id);
    // The resolver goes with the last container.
    let pid = n.run_root().join(format!("dns/{net}.pid"));
    until("the DNS exits", || (!pid.exists()).then_some(()));
    assert_eq!(n.ok(&["network", "rm", &net]).trim(), net);
    assert!(!sh("ip -o link show").contains(&format!("br-{}", &nid[..12])));
}

/// A tiny DNS server on `addr`:53/udp answering A queries for `name`
/// with `ip` (others: no answers); counts the queries for `name`.
fn fake_upstream(
    addr: &str,
    name: &'static str,
    ip: std::net::Ipv4Addr,
) -> std::sync::Arc<std::sync::atomic::AtomicUsize> {
    let sock = UdpSocket::bind((addr, 53)).unwrap();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = seen.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            let raw = &buf[..n];
            let Some(q) = network::dns::parse_query(raw) else {
                continue;
            };
            let ips = if q.name == name && q.qtype == network::dns::TYPE_A {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                vec![ip]
            } else {
                Vec::new()
            };
            let _ = sock.send_to(&network::dns::answer(raw, &q, &ips), from);
        }
    });
    seen
}

#[test]
fn dns_flag_on_a_user_network_keeps_the_embedded_dns_and_forwards() {
    let n = Net::new();
    let tag = format!("{:x}", std::process::id());
    let net = format!("berthdns-{tag}");
    let peer = format!("peer-{tag}");
    n.ok(&["network", "create", &net]);
    // An upstream only this container uses, on a loopback address.
    let pid = std::process::id();
    let up = format!("127.{}.{}.53", 100 + pid % 100, (pid / 100) % 250 + 1);
    let seen = fake_upstream(&up, "only-upstream.example", "203.0.113.7".parse().unwrap());
    let pid = n
        .ok(&[
            "run",
            "-d",
            "--name",
            &peer,
            "--network",
            &net,
            "bb",
            "busybox",
            "sleep",
            "1000",
        ])
        .trim()
        .to_string();
    let nets: serde_json::Value =
        serde_json::from_str(&n.inspect(&pid, "{{json .NetworkSettings.Networks}}")).unwrap();
    let peer_ip = nets[&net]["IPAddress"].as_str().unwrap().to_string();
    let script = format!(
        "cat /etc/resolv.conf; echo ---; busybox nslookup only-upstream.example; echo ---; busybox nslookup {peer}"
    );
    let (code, out, err) = n.run(&[
        "run",
        "--rm",
        "--network",
        &net,
        "--dns",
        &up,
        "bb",
        "sh",
        "-c",
        &script,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let parts: Vec<&str> = out.split("---\n").collect();
    assert_eq!(parts.len(), 3, "{out}");
    let ipam: serde_json::Value =
        serde_json::from_str(&n.ok(&["network", "inspect", "-f", "{{json .IPAM}}", &net])).unwrap();
    let gw = ipam["Config"][0]["Gateway"].as_str().unwrap().to_string();
    // resolv.conf: the embedded DNS only; the --dns server is forwarded to.
    let ns: Vec<&str> = parts[0]
        .lines()
        .filter(|l| l.starts_with("nameserver"))
        .collect();
    assert_eq!(ns, [format!("nameserver {gw}")], "{}", parts[0]);
    assert!(
        parts[0].contains(&format!("# ExtServers: [{up}]")),
        "{}",
        parts[0]
    );
    assert!(parts[1].contains("Address: 203.0.113.7"), "{}", parts[1]);
    assert!(seen.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    assert!(
        parts[2].contains(&format!("Address: {peer_ip}")),
        "peer {peer_ip}: {}",
        parts[2]
    );
    // A container without --dns does not use that upstream.
    let before = seen.load(std::sync::atomic::Ordering::SeqCst);
    let _ = n.run(&[
        "run",
        "--rm",
        "--network",
        &net,
        "bb",
        "busybox",
        "nslookup",
        "only-upstream.example",
    ]);
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), before);
    n.ok(&["rm", "-f", &pid]);
}

#[test]
fn taken_port_fails_with_125_and_leaves_nothing() {
    let n = Net::new();
    // Bound by another program.
    let l = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let p = format!("{port}:80");
    let (code, _, err) = n.run(&["run", "--name", "taken1", "-p", &p, "bb", "true"]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("address already in use"), "{err}");
    let id = n.inspect("taken1", "{{.Id}}");
    n.assert_gone(&id);
    drop(l);
    // Published by another container.
    let port = free_port_on("0.0.0.0");
    let p = format!("{port}:80");
    let first = n.httpd(&["-p", &p], "first");
    let (code, _, err) = n.run(&["run", "--rm", "-p", &p, "bb", "true"]);
    assert_eq!(code, 125, "{err}");
    assert!(
        err.contains(&format!(
            "Bind for 0.0.0.0:{port} failed: port is already allocated"
        )),
        "{err}"
    );
    let body = until("first still serves", || {
        http_get(&format!("127.0.0.1:{port}"))
    });
    assert!(body.contains("first"));
    n.ok(&["rm", "-f", &first]);
    n.assert_gone(&first);
}

#[test]
fn network_flags_are_checked_at_create() {
    let n = Net::new();
    let (code, _, err) = n.run(&["create", "--network", "no-such-net-x", "bb", "true"]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("network no-such-net-x not found"), "{err}");
    let (code, _, err) = n.run(&["create", "-p", "80/sctp", "bb", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("--publish"), "{err}");
    let (code, _, err) = n.run(&["network", "create", "--subnet", "10.0.0.1/8", "badnet"]);
    assert_eq!(code, 125, "{err}");
    let (code, _, err) = n.run(&["create", "--ip", "172.30.9.9", "bb", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("user defined networks only"), "{err}");
    let (code, _, err) = n.run(&["create", "--network-alias", "x", "bb", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("user defined networks"), "{err}");
    // none and host still work.
    let out = n.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "bb",
        "cat",
        "/proc/net/dev",
    ]);
    assert!(!out.contains("eth0"), "{out}");
}

/// After kill -9 of a container and its monitor (nothing ran the exit
/// path), `system prune` removes the container and its veth, rules,
/// netns file and lease; and stray records of unknown containers.
#[test]
fn system_prune_cleans_crash_leftovers() {
    let n = Net::new();
    let port = free_port_on("0.0.0.0");
    let p = format!("{port}:80");
    let id = n.httpd(&["-p", &p], "crash");
    until("serving", || http_get(&format!("127.0.0.1:{port}")));
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(n.env.root().join(format!("containers/{id}/state.json"))).unwrap(),
    )
    .unwrap();
    let mon = state["MonitorPid"].as_i64().unwrap();
    let pid: i64 = n.inspect(&id, "{{.State.Pid}}").parse().unwrap();
    assert!(mon > 0 && pid > 0);
    sh(&format!("kill -9 {mon}; kill -9 {pid}"));
    until("the processes are gone", || {
        (!std::path::Path::new(&format!("/proc/{pid}")).exists()
            && !std::path::Path::new(&format!("/proc/{mon}")).exists())
        .then_some(())
    });
    // The leftovers are still there...
    assert!(n.run_root().join("netns").join(&id).exists());
    assert!(sh("nft list ruleset").contains(&id));
    // ...plus a stray netns file of a container that never existed.
    let ghost = "0".repeat(64);
    std::fs::write(n.run_root().join("netns").join(&ghost), "").unwrap();
    let out = n.ok(&["system", "prune", "-f"]);
    assert!(out.contains(&id), "{out}");
    n.assert_gone(&id);
    assert!(!n.run_root().join("netns").join(&ghost).exists());
    let (code, _, _) = n.run(&["inspect", &id]);
    assert_eq!(code, 1, "the container is removed");
}

#[test]
fn connect_disconnect_ip_and_container_mode() {
    let n = Net::new();
    let tag = format!("{:x}", std::process::id());
    let net = format!("bt2-{tag}");
    let c1 = format!("c1-{tag}");
    // A subnet of the test's own choosing: find one that is free.
    let mut subnet = String::new();
    for b in 100..200 {
        let s = format!("10.{b}.77.0/24");
        let (code, _, _) = n.run(&[
            "network",
            "create",
            "--subnet",
            &s,
            "--gateway",
            &format!("10.{b}.77.254"),
            &net,
        ]);
        if code == 0 {
            subnet = s;
            break;
        }
    }
    assert!(!subnet.is_empty());
    let prefix = subnet.trim_end_matches("0/24").to_string();
    let id = n
        .ok(&["run", "-d", "--name", &c1, "bb", "busybox", "sleep", "1000"])
        .trim()
        .to_string();
    n.ok(&["network", "connect", "--alias", "extra", &net, &c1]);
    let links = n.ok(&["exec", &c1, "ls", "/sys/class/net"]);
    assert_eq!(links, "eth0\neth1\nlo\n");
    // The connection is kept across a restart, as docker's.
    n.ok(&["stop", "-t", "0", &c1]);
    n.assert_gone(&id);
    n.ok(&["start", &c1]);
    assert_eq!(n.ok(&["exec", &c1, "ls", "/sys/class/net"]), links);
    let (code, _, err) = n.run(&["network", "connect", &net, &c1]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("already exists"), "{err}");
    // container:NAME shares the namespace.
    let shared = n.ok(&[
        "run",
        "--rm",
        "--network",
        &format!("container:{c1}"),
        "bb",
        "ls",
        "/sys/class/net",
    ]);
    assert_eq!(shared, links);
    // with the donor's hostname (docker's), and no hostname of its own
    let donor_host = n.inspect(&c1, "{{.Config.Hostname}}");
    let joined_host = n.ok(&[
        "run",
        "--rm",
        "--network",
        &format!("container:{c1}"),
        "bb",
        "cat",
        "/proc/sys/kernel/hostname",
    ]);
    assert_eq!(joined_host.trim(), donor_host.trim());
    let (code, _, err) = n.run(&[
        "run",
        "--rm",
        "--network",
        &format!("container:{c1}"),
        "--hostname",
        "mine",
        "bb",
        "true",
    ]);
    assert_eq!(code, 125, "{err}");
    assert!(
        err.contains("conflicting options: hostname and the network mode"),
        "{err}"
    );
    // --ip, and the names of a connected container resolve.
    let want = format!("{prefix}77");
    let out = n.ok(&[
        "run",
        "--rm",
        "--network",
        &net,
        "--ip",
        &want,
        "bb",
        "sh",
        "-c",
        "busybox ip -4 addr show eth0; busybox nslookup extra",
    ]);
    assert!(out.contains(&format!("inet {want}/24")), "{out}");
    let nets: serde_json::Value =
        serde_json::from_str(&n.inspect(&c1, "{{json .NetworkSettings.Networks}}")).unwrap();
    let c1_ip = nets[&net]["IPAddress"].as_str().unwrap().to_string();
    assert!(c1_ip.starts_with(&prefix), "{nets}");
    assert_eq!(nets[&net]["Aliases"][1], "extra");
    assert!(out.contains(&format!("Address: {c1_ip}\n")), "{out}");
    n.ok(&["network", "disconnect", &net, &c1]);
    assert_eq!(n.ok(&["exec", &c1, "ls", "/sys/class/net"]), "eth0\nlo\n");
    assert!(!sh("ip -o link show").contains(&network::veth_name(&id, &net)));
    n.ok(&["rm", "-f", &c1]);
    n.assert_gone(&id);
    n.ok(&["network", "rm", &net]);
}

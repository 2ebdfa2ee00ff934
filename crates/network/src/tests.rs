//! The manager's logic over a fake host.

use super::*;

#[derive(Default)]
struct Fake {
    bridges: Vec<String>,
    links: Vec<String>,
    nft: Vec<String>,
    busy_ports: Vec<u16>,
    fail_attach: bool,
}

impl Host for Fake {
    fn host_subnets(&mut self) -> Result<Vec<Subnet>> {
        Ok(vec!["172.30.0.0/16".parse().unwrap()])
    }
    fn ensure_bridge(&mut self, b: &str, _: Ipv4Addr, _: u8) -> Result<()> {
        if !self.bridges.iter().any(|x| x == b) {
            self.bridges.push(b.into());
        }
        Ok(())
    }
    fn delete_link(&mut self, name: &str) -> Result<bool> {
        let n = self.links.len() + self.bridges.len();
        self.links.retain(|l| l != name);
        self.bridges.retain(|l| l != name);
        Ok(n != self.links.len() + self.bridges.len())
    }
    fn links(&mut self) -> Result<Vec<String>> {
        Ok(self.links.iter().chain(&self.bridges).cloned().collect())
    }
    fn retire_link(&mut self, name: &str, new_name: &str) -> Result<bool> {
        match self.links.iter_mut().find(|l| *l == name) {
            Some(l) => {
                *l = new_name.into();
                Ok(true)
            }
            None => Ok(false),
        }
    }
    fn attach(
        &mut self,
        _: &Path,
        host_veth: &str,
        bridge: &str,
        _: &str,
        _: Ipv4Addr,
        _: u8,
        _: [u8; 6],
        _: Option<Ipv4Addr>,
    ) -> Result<()> {
        assert!(self.bridges.iter().any(|b| b == bridge));
        if self.fail_attach {
            return Err(Error::Netlink("boom".into()));
        }
        self.links.push(host_veth.into());
        Ok(())
    }
    fn apply_nft(&mut self, s: &str) -> Result<()> {
        self.nft.push(s.into());
        Ok(())
    }
    fn check_port(&mut self, m: &PortMapping) -> Result<()> {
        if self.busy_ports.contains(&m.host_port) {
            return Err(Error::PortInUse("address already in use".into()));
        }
        Ok(())
    }
}

fn mgr(d: &tempfile::TempDir) -> Manager<Fake> {
    Manager::new(
        Paths {
            state: d.path().join("state"),
            run: d.path().join("run"),
            table: "berth_t".into(),
            default_bridge: "bt0".into(),
            keep_default_bridge: false,
        },
        Fake::default(),
    )
}

const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

#[test]
fn default_network_avoids_host_routes_and_is_reused() {
    let d = tempfile::tempdir().unwrap();
    let mut m = mgr(&d);
    let n = m.ensure_default().unwrap();
    assert_eq!(n.name, "bridge");
    assert_eq!(n.bridge, "bt0");
    assert_eq!(n.subnet.to_string(), "172.31.0.0/16");
    assert_eq!(n.gateway.to_string(), "172.31.0.1");
    assert_eq!(m.ensure_default().unwrap(), n);
    let u = m
        .create(&CreateNetwork {
            name: "u1".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(u.subnet.to_string(), "172.17.0.0/16");
    assert!(u.bridge.starts_with("br-") && u.bridge.len() == 15);
    assert!(matches!(
        m.create(&CreateNetwork {
            name: "u1".into(),
            ..Default::default()
        }),
        Err(Error::Conflict(_))
    ));
    let e = m
        .create(&CreateNetwork {
            name: "u2".into(),
            subnet: Some("172.17.5.0/24".into()),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
    assert!(e.contains("overlaps"), "{e}");
    assert_eq!(m.get(&u.id[..6]).unwrap().name, "u1");
    assert!(matches!(m.get("nope"), Err(Error::NotFound(_))));
}

#[test]
fn connect_publish_teardown() {
    let d = tempfile::tempdir().unwrap();
    let mut m = mgr(&d);
    let n = m.ensure_default().unwrap();
    let ports = ports::parse_publish("8080:80").unwrap().mappings();
    let ep = m.connect(A, "web", &n, &Join::default(), &ports).unwrap();
    assert_eq!(ep.ip.to_string(), "172.31.0.2");
    assert_eq!(ep.ifname, "eth0");
    assert_eq!(ep.mac, "02:42:ac:1f:00:02");
    assert!(m.host.links.contains(&ep.host_veth));
    assert!(m.host.nft.last().unwrap().contains("dnat to 172.31.0.2:80"));
    // Same port for another container: docker's "already allocated".
    let e = m
        .connect(B, "web2", &n, &Join::default(), &ports)
        .unwrap_err()
        .to_string();
    assert!(
        e.ends_with("Bind for 0.0.0.0:8080 failed: port is already allocated"),
        "{e}"
    );
    assert_eq!(
        m.users(&n).unwrap(),
        vec![A.to_string()],
        "nothing left of B"
    );
    // A port bound by someone else.
    m.host.busy_ports.push(9090);
    let p2 = ports::parse_publish("9090:80").unwrap().mappings();
    assert!(matches!(
        m.connect(B, "web2", &n, &Join::default(), &p2),
        Err(Error::PortInUse(_))
    ));
    // Random ports.
    let p3 = ports::parse_publish("80/udp").unwrap().mappings();
    m.connect(B, "web2", &n, &Join::default(), &p3).unwrap();
    let cb = m.container(B).unwrap().unwrap();
    assert!(cb.ports[0].host_port >= ports::EPHEMERAL_START);
    // Teardown: idempotent, everything released.
    assert!(m.teardown(A).is_empty());
    assert!(m.teardown(A).is_empty());
    assert!(!m.host.links.contains(&ep.host_veth));
    assert!(!m.host.nft.last().unwrap().contains("comment \"aaaa"));
    assert_eq!(m.users(&n).unwrap(), vec![B.to_string()]);
    assert!(m.container(A).unwrap().is_none());
}

#[test]
fn failed_attach_leaves_nothing_and_rm_refuses_in_use() {
    let d = tempfile::tempdir().unwrap();
    let mut m = mgr(&d);
    let u = m
        .create(&CreateNetwork {
            name: "u1".into(),
            internal: true,
            ..Default::default()
        })
        .unwrap();
    m.host.fail_attach = true;
    assert!(m.connect(A, "a", &u, &Join::default(), &[]).is_err());
    assert!(m.users(&u).unwrap().is_empty());
    assert!(m.container(A).unwrap().is_none());
    m.host.fail_attach = false;
    let j = Join {
        aliases: vec!["db".into()],
        ip: Some(Ipv4Addr::from(u32::from(u.subnet.addr) + 9)),
        ..Default::default()
    };
    m.connect(A, "a", &u, &j, &[]).unwrap();
    let a: Allocations = read_json(&m.ipam_file("u1")).unwrap().unwrap();
    assert_eq!(a.lookup("db"), vec![j.ip.unwrap()]);
    assert_eq!(a.lookup("a").len(), 1);
    let e = m.remove("u1").unwrap_err().to_string();
    assert!(e.contains("has active endpoints"), "{e}");
    m.disconnect(A, &u).unwrap();
    assert!(m.disconnect(A, &u).is_err());
    assert_eq!(m.prune().unwrap(), vec!["u1".to_string()]);
    assert!(m.list().unwrap().is_empty());
    assert!(!m.host.bridges.contains(&u.bridge));
}

#[test]
fn prune_leftovers_of_dead_containers() {
    let d = tempfile::tempdir().unwrap();
    let mut m = mgr(&d);
    let n = m.ensure_default().unwrap();
    m.connect(A, "a", &n, &Join::default(), &[]).unwrap();
    m.connect(B, "b", &n, &Join::default(), &[]).unwrap();
    let (removed, errs) = m.prune_leftovers(&|id| id == B);
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(removed, vec![A.to_string()]);
    assert_eq!(m.users(&n).unwrap(), vec![B.to_string()]);
}

#[test]
fn veth_names_are_stable_and_short() {
    let v = veth_name(A, "bridge");
    assert_eq!(v, veth_name(A, "bridge"));
    assert_ne!(v, veth_name(A, "u1"));
    assert!(v.len() <= 15);
}

#[test]
fn default_bridge_goes_with_its_last_container_unless_kept() {
    for keep in [false, true] {
        let d = tempfile::tempdir().unwrap();
        let mut m = mgr(&d);
        m.paths.keep_default_bridge = keep;
        let n = m.ensure_default().unwrap();
        m.connect(A, "web", &n, &Join::default(), &[]).unwrap();
        assert!(m.host.bridges.contains(&n.bridge));
        assert!(m.teardown(A).is_empty());
        assert_eq!(m.host.bridges.contains(&n.bridge), keep, "keep={keep}");
        assert!(m.container(A).unwrap().is_none());
    }
}

/// A deferred teardown, once finished, leaves nothing
/// of the container: no endpoint record, no lease (and the veth retired
/// and deleted: see `retire_and_release`).
#[test]
fn deferred_teardown_leaves_nothing() {
    let d = tempfile::tempdir().unwrap();
    let mut m = mgr(&d);
    let n = m.ensure_default().unwrap();
    m.connect(A, "web", &n, &Join::default(), &[]).unwrap();
    m.connect(B, "db", &n, &Join::default(), &[]).unwrap();
    let t = m.defer_teardown(A);
    assert!(t.finish().is_empty());
    let m = mgr(&d);
    assert!(m.container(A).unwrap().is_none());
    assert_eq!(m.users(&n).unwrap(), vec![B.to_string()]);
}

/// Retiring renames the veth (its stable name is free again) and keeps the
/// lease, releasing; the release then drops only the addresses retired.
#[test]
fn retire_and_release() {
    let d = tempfile::tempdir().unwrap();
    let mut m = mgr(&d);
    let n = m.ensure_default().unwrap();
    let ep = m.connect(A, "web", &n, &Join::default(), &[]).unwrap();
    m.connect(B, "db", &n, &Join::default(), &[]).unwrap();
    let (dying, ips, errs) = m.retire(A);
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(ips, vec![(n.name.clone(), ep.ip)]);
    assert_eq!(dying.len(), 1);
    assert!(dying[0].starts_with(DYING_VETH_PREFIX) && dying[0].len() <= 15);
    assert!(!m.host.links.contains(&ep.host_veth));
    assert!(m.host.links.contains(&dying[0]));
    assert_eq!(m.users(&n).unwrap(), vec![B.to_string()], "A is no user");
    // A new start of A meanwhile: its new address is not released.
    let ep2 = m.connect(A, "web", &n, &Join::default(), &[]).unwrap();
    assert_ne!(ep2.ip, ep.ip);
    assert!(m.finish_teardown(A, &dying, &ips).is_empty());
    assert!(!m.host.links.contains(&dying[0]));
    assert_eq!(m.users(&n).unwrap(), vec![A.to_string(), B.to_string()]);
    let a: Allocations = read_json(&m.ipam_file(&n.name)).unwrap().unwrap();
    assert!(a.leases.contains_key(&ep2.ip) && !a.leases.contains_key(&ep.ip));
    // This store's default bridge goes with the last container's quick part.
    assert!(m.teardown(B).is_empty());
    let (_, _, errs) = m.retire(A);
    assert!(errs.is_empty(), "{errs:?}");
    assert!(!m.host.bridges.contains(&n.bridge));
}

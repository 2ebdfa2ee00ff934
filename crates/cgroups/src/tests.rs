//! Unit tests on fake cgroup trees in a tempdir (no root needed).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType,
    LinuxHugepageLimitBuilder, LinuxInterfacePriorityBuilder, LinuxMemoryBuilder,
    LinuxNetworkBuilder, LinuxPidsBuilder, LinuxRdmaBuilder, LinuxResources, LinuxResourcesBuilder,
    LinuxThrottleDeviceBuilder, LinuxWeightDeviceBuilder,
};

use crate::resources::{self, blkio_to_io_weight, shares_to_weight, swap_v2};
use crate::*;

const HYBRID_MOUNTINFO: &str = include_str!("testdata/hybrid-mountinfo.txt");
const HYBRID_CGROUP: &str = include_str!("testdata/hybrid-cgroup.txt");

/// A classic systemd v1 host (cpu,cpuacct combined, net_cls,net_prio combined).
const V1_MOUNTINFO: &str = "\
25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
33 25 0:28 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
34 33 0:29 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
37 33 0:32 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct
38 33 0:33 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory
39 33 0:34 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,net_cls,net_prio
40 33 0:35 / /sys/fs/cgroup/blkio rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,blkio
41 33 0:36 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,pids
42 33 0:37 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:19 - cgroup cgroup rw,devices
43 33 0:38 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:20 - cgroup cgroup rw,cpuset
44 33 0:39 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:21 - cgroup cgroup rw,freezer
45 33 0:40 / /sys/fs/cgroup/hugetlb rw,nosuid,nodev,noexec,relatime shared:22 - cgroup cgroup rw,hugetlb
46 33 0:41 / /sys/fs/cgroup/rdma rw,nosuid,nodev,noexec,relatime shared:23 - cgroup cgroup rw,rdma
47 33 0:42 /docker/abc /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:24 - cgroup cgroup rw,memory
";
const V1_CGROUP: &str = "\
12:rdma:/
11:hugetlb:/
10:freezer:/
9:cpuset:/
8:devices:/user.slice
7:pids:/user.slice/user-1000.slice/session-2.scope
6:blkio:/user.slice
5:net_cls,net_prio:/
4:memory:/user.slice/user-1000.slice/session-2.scope
3:cpu,cpuacct:/user.slice
1:name=systemd:/user.slice/user-1000.slice/session-2.scope
";

const V2_MOUNTINFO: &str = "\
24 31 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
26 24 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";
const V2_CGROUP: &str = "0::/user.slice/user-1000.slice/session-2.scope\n";

const V2_FILES: &[&str] = &[
    "cgroup.procs",
    "cgroup.subtree_control",
    "cgroup.freeze",
    "cgroup.events",
    "memory.max",
    "memory.low",
    "memory.swap.max",
    "memory.current",
    "cpu.weight",
    "cpu.max",
    "cpu.max.burst",
    "cpu.idle",
    "cpuset.cpus",
    "cpuset.mems",
    "pids.max",
    "io.weight",
    "io.max",
    "hugetlb.2MB.max",
    "hugetlb.2MB.rsvd.max",
    "hugetlb.1GB.max",
    "rdma.max",
    "memory.oom.group",
];

struct Fake {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Fake {
    fn new() -> Fake {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        Fake { _tmp: tmp, root }
    }
    fn p(&self, rel: &str) -> PathBuf {
        self.root.join(rel.trim_start_matches('/'))
    }
    fn touch(&self, dir: &str, files: &[&str]) {
        let d = self.p(dir);
        std::fs::create_dir_all(&d).unwrap();
        for f in files {
            std::fs::write(d.join(f), "").unwrap();
        }
    }
    fn put(&self, file: &str, content: &str) {
        let p = self.p(file);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.p(file)).unwrap()
    }
    fn host(&self, mountinfo: &str, cgroup: &str) -> Host {
        Host::new(mountinfo, cgroup, &self.root)
    }
    fn manager(&self, mountinfo: &str, cgroup: &str, path: Option<&str>) -> Manager {
        Manager::with_host(self.host(mountinfo, cgroup), path, "c1", false).unwrap()
    }
    fn rel(&self, p: &Path) -> String {
        format!("/{}", p.strip_prefix(&self.root).unwrap().display())
    }
}

/// A hybrid fake (this host's own layout) with the unified root offering hugetlb.
fn hybrid(path: Option<&str>) -> (Fake, Manager) {
    let f = Fake::new();
    f.put("/sys/fs/cgroup/unified/cgroup.controllers", "hugetlb\n");
    let m = f.manager(HYBRID_MOUNTINFO, HYBRID_CGROUP, path);
    (f, m)
}

fn v2(path: Option<&str>) -> (Fake, Manager) {
    let f = Fake::new();
    f.put(
        "/sys/fs/cgroup/cgroup.controllers",
        "cpuset cpu io memory hugetlb pids rdma misc\n",
    );
    let m = f.manager(V2_MOUNTINFO, V2_CGROUP, path);
    (f, m)
}

/// Planned writes as (host-relative path, value).
fn plan(f: &Fake, m: &Manager, r: &LinuxResources) -> Vec<(String, String)> {
    resources::plan(m, r)
        .unwrap()
        .writes
        .iter()
        .map(|w| (f.rel(&w.path), w.value.clone()))
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn plan_err(m: &Manager, r: &LinuxResources) -> String {
    resources::plan(m, r).unwrap_err().to_string()
}

fn dirs(f: &Fake, m: &Manager) -> Vec<String> {
    m.mount_sources().iter().map(|s| f.rel(&s.path)).collect()
}

// --- layout and paths --------------------------------------------------------

#[test]
fn layout_detection() {
    assert_eq!(hybrid(None).1.layout(), Layout::Hybrid);
    assert_eq!(v2(None).1.layout(), Layout::V2);
    let f = Fake::new();
    assert_eq!(
        f.manager(V1_MOUNTINFO, V1_CGROUP, None).layout(),
        Layout::V1
    );
    let e = Manager::with_host(
        f.host("22 27 0:21 / /proc rw,relatime - proc proc rw\n", "0::/\n"),
        None,
        "c1",
        false,
    )
    .unwrap_err();
    assert!(matches!(e, Error::NoCgroupMounts), "{e}");
}

#[test]
fn hybrid_host_paths_absolute_default() {
    let (f, m) = hybrid(None);
    assert_eq!(
        dirs(&f, &m),
        [
            "/sys/fs/cgroup/cpu/c1",
            "/sys/fs/cgroup/cpuacct/c1",
            "/sys/fs/cgroup/cpuset/c1",
            "/sys/fs/cgroup/memory/c1",
            "/sys/fs/cgroup/devices/c1",
            "/sys/fs/cgroup/freezer/c1",
            "/sys/fs/cgroup/blkio/c1",
            "/sys/fs/cgroup/pids/c1",
            "/sys/fs/cgroup/systemd/c1",
            "/sys/fs/cgroup/unified/c1",
        ]
    );
    let ms = m.mount_sources();
    assert_eq!(ms[0].controllers, ["cpu"]);
    assert_eq!(ms[8].controllers, ["name=systemd"]);
    assert!(ms[9].controllers.is_empty());
    assert_eq!(ms[9].version, 2);
    assert_eq!(f.rel(&ms[9].mount_point), "/sys/fs/cgroup/unified");
    assert_eq!(
        f.rel(m.unified_path().unwrap()),
        "/sys/fs/cgroup/unified/c1"
    );
}

#[test]
fn hybrid_host_relative_path_follows_own_cgroup() {
    let (f, m) = hybrid(Some("berth/c1"));
    let d = dirs(&f, &m);
    // Our memory cgroup is /process_api/<hash>; every other one is /.
    let own_mem = HYBRID_CGROUP
        .lines()
        .find_map(|l| l.strip_prefix("4:memory:"))
        .unwrap();
    assert_eq!(d[3], format!("/sys/fs/cgroup/memory{own_mem}/berth/c1"));
    assert_eq!(d[0], "/sys/fs/cgroup/cpu/berth/c1");
    assert_eq!(d[9], "/sys/fs/cgroup/unified/berth/c1");
}

#[test]
fn nested_absolute_path() {
    let (f, m) = hybrid(Some("/a/b/c"));
    assert_eq!(dirs(&f, &m)[1], "/sys/fs/cgroup/cpuacct/a/b/c");
}

#[test]
fn v1_host_paths_combined_hierarchies_and_mount_root() {
    let f = Fake::new();
    let m = f.manager(V1_MOUNTINFO, V1_CGROUP, Some("sub"));
    let ms = m.mount_sources();
    let by_ctrl: HashMap<String, String> = ms
        .iter()
        .map(|s| (s.controllers.join(","), f.rel(&s.path)))
        .collect();
    assert_eq!(
        by_ctrl["cpu,cpuacct"],
        "/sys/fs/cgroup/cpu,cpuacct/user.slice/sub"
    );
    assert_eq!(
        by_ctrl["net_cls,net_prio"],
        "/sys/fs/cgroup/net_cls,net_prio/sub"
    );
    assert_eq!(
        by_ctrl["name=systemd"],
        "/sys/fs/cgroup/systemd/user.slice/user-1000.slice/session-2.scope/sub"
    );
    // The second memory mount (a bind of /docker/abc) is ignored as a duplicate.
    assert_eq!(ms.iter().filter(|s| s.controllers == ["memory"]).count(), 1);
    assert_eq!(ms.len(), 11);
    assert!(ms.iter().all(|s| s.version == 1));
}

#[test]
fn mount_root_is_stripped_for_relative_paths() {
    // Inside a container without cgroupns: the hierarchy is mounted from /docker/abc.
    let f = Fake::new();
    let mi = "40 31 0:35 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
    let m = f.manager(mi, "4:memory:/docker/abc/inner\n", Some("x"));
    assert_eq!(dirs(&f, &m), ["/sys/fs/cgroup/memory/inner/x"]);
    let m = f.manager(mi, "4:memory:/docker/abc/inner\n", Some("/y"));
    assert_eq!(dirs(&f, &m), ["/sys/fs/cgroup/memory/y"]);
}

#[test]
fn v2_paths() {
    let (f, m) = v2(Some("berth/c1"));
    assert_eq!(
        dirs(&f, &m),
        ["/sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope/berth/c1"]
    );
    let (f, m) = v2(None);
    assert_eq!(dirs(&f, &m), ["/sys/fs/cgroup/c1"]);
}

#[test]
fn systemd_paths() {
    let f = Fake::new();
    f.put("/sys/fs/cgroup/cgroup.controllers", "memory\n");
    let m = Manager::with_host(
        f.host(V2_MOUNTINFO, V2_CGROUP),
        Some("system.slice:berth:abc"),
        "c1",
        true,
    )
    .unwrap();
    assert_eq!(
        dirs(&f, &m),
        ["/sys/fs/cgroup/system.slice/berth-abc.scope"]
    );
    let m = Manager::with_host(
        f.host(V2_MOUNTINFO, V2_CGROUP),
        Some("machine-test.slice:p:n"),
        "c1",
        true,
    )
    .unwrap();
    assert_eq!(
        dirs(&f, &m),
        ["/sys/fs/cgroup/machine.slice/machine-test.slice/p-n.scope"]
    );
    let e = Manager::with_host(f.host(V2_MOUNTINFO, V2_CGROUP), Some("/plain"), "c1", true)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("\"/plain\"") && e.contains("slice:prefix:name"),
        "{e}"
    );
}

#[test]
fn bad_paths_are_errors() {
    let f = Fake::new();
    let h = || f.host(V2_MOUNTINFO, V2_CGROUP);
    let e = Manager::with_host(h(), Some("../escape"), "c1", false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("../escape"), "{e}");
    assert!(Manager::with_host(h(), None, "a/b", false).is_err());
    let e = Manager::with_host(
        Host::new("garbage line", V2_CGROUP, &f.root),
        None,
        "c1",
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("garbage line"), "{e}");
}

#[test]
fn manager_round_trips_through_json() {
    let (_f, m) = hybrid(None);
    let j = serde_json::to_string(&m).unwrap();
    let back: Manager = serde_json::from_str(&j).unwrap();
    assert_eq!(back, m);
}

// --- create -----------------------------------------------------------------

#[test]
fn v2_create_enables_controllers_in_ancestors() {
    let (f, m) = v2(Some("/a/b/c1"));
    f.touch("/sys/fs/cgroup", &["cgroup.subtree_control"]);
    f.touch("/sys/fs/cgroup/a", &["cgroup.subtree_control"]);
    f.touch("/sys/fs/cgroup/a/b", &["cgroup.subtree_control"]);
    m.create().unwrap();
    let want = "+cpuset +cpu +io +memory +hugetlb +pids +rdma +misc";
    assert_eq!(f.read("/sys/fs/cgroup/cgroup.subtree_control"), want);
    assert_eq!(f.read("/sys/fs/cgroup/a/cgroup.subtree_control"), want);
    assert_eq!(f.read("/sys/fs/cgroup/a/b/cgroup.subtree_control"), want);
    assert!(f.p("/sys/fs/cgroup/a/b/c1").is_dir());
    assert!(!f.p("/sys/fs/cgroup/a/b/c1/cgroup.subtree_control").exists());
    assert!(m.exists());
}

#[test]
fn v2_create_enables_nothing_in_an_ancestor_holding_processes() {
    // /a holds a process: enabling controllers there would fail (domain ones)
    // or make it a thread root (threaded ones); its children get none.
    let (f, m) = v2(Some("/a/b/c1"));
    f.touch("/sys/fs/cgroup", &["cgroup.subtree_control"]);
    f.touch("/sys/fs/cgroup/a", &["cgroup.subtree_control"]);
    f.put("/sys/fs/cgroup/a/cgroup.procs", "4242\n");
    f.touch(
        "/sys/fs/cgroup/a/b",
        &["cgroup.subtree_control", "cgroup.procs"],
    );
    m.create().unwrap();
    let want = "+cpuset +cpu +io +memory +hugetlb +pids +rdma +misc";
    assert_eq!(f.read("/sys/fs/cgroup/cgroup.subtree_control"), want);
    assert_eq!(f.read("/sys/fs/cgroup/a/cgroup.subtree_control"), "");
    assert_eq!(f.read("/sys/fs/cgroup/a/b/cgroup.subtree_control"), want);
    assert!(f.p("/sys/fs/cgroup/a/b/c1").is_dir());
}

#[test]
fn v2_create_reports_unwritable_subtree_control() {
    let (f, m) = v2(Some("/a/c1"));
    // No cgroup.subtree_control file in the root: the write fails, naming it.
    f.touch("/sys/fs/cgroup/a", &[]);
    let e = m.create().unwrap_err().to_string();
    assert!(
        e.contains("cgroup.subtree_control") && e.contains("+cpuset"),
        "{e}"
    );
}

#[test]
fn hybrid_create_copies_cpuset_and_enables_hugetlb() {
    let (f, m) = hybrid(Some("/berth/c1"));
    f.put("/sys/fs/cgroup/cpuset/cpuset.cpus", "0-1\n");
    f.put("/sys/fs/cgroup/cpuset/cpuset.mems", "0\n");
    f.touch(
        "/sys/fs/cgroup/cpuset/berth",
        &["cpuset.cpus", "cpuset.mems"],
    );
    f.touch(
        "/sys/fs/cgroup/cpuset/berth/c1",
        &["cpuset.cpus", "cpuset.mems"],
    );
    f.touch("/sys/fs/cgroup/unified", &["cgroup.subtree_control"]);
    f.touch("/sys/fs/cgroup/unified/berth", &["cgroup.subtree_control"]);
    m.create().unwrap();
    assert_eq!(f.read("/sys/fs/cgroup/cpuset/berth/cpuset.cpus"), "0-1");
    assert_eq!(f.read("/sys/fs/cgroup/cpuset/berth/c1/cpuset.cpus"), "0-1");
    assert_eq!(f.read("/sys/fs/cgroup/cpuset/berth/c1/cpuset.mems"), "0");
    assert_eq!(
        f.read("/sys/fs/cgroup/unified/cgroup.subtree_control"),
        "+hugetlb"
    );
    assert_eq!(
        f.read("/sys/fs/cgroup/unified/berth/cgroup.subtree_control"),
        "+hugetlb"
    );
    for s in m.mount_sources() {
        assert!(s.path.is_dir(), "{}", s.path.display());
    }
}

// --- v1 translation -----------------------------------------------------------

fn mem(limit: i64, swap: i64) -> LinuxResources {
    LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(limit)
                .swap(swap)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

#[test]
fn v1_memory_full() {
    let (f, m) = hybrid(None);
    f.touch(
        "/sys/fs/cgroup/memory/c1",
        &[
            "memory.limit_in_bytes",
            "memory.memsw.limit_in_bytes",
            "memory.kmem.limit_in_bytes",
            "memory.kmem.tcp.limit_in_bytes",
        ],
    );
    f.put(
        "/sys/fs/cgroup/memory/c1/memory.limit_in_bytes",
        "9223372036854771712\n",
    );
    let r = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(100 << 20)
                .reservation(50 << 20)
                .swap(200 << 20)
                .kernel(64 << 20)
                .kernel_tcp(16 << 20)
                .swappiness(10u64)
                .disable_oom_killer(true)
                .use_hierarchy(true)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let d = "/sys/fs/cgroup/memory/c1";
    // Current limit is huge (> new memsw), so memory goes first.
    assert_eq!(
        plan(&f, &m, &r),
        pairs(&[
            (&format!("{d}/memory.limit_in_bytes"), "104857600"),
            (&format!("{d}/memory.memsw.limit_in_bytes"), "209715200"),
            (&format!("{d}/memory.soft_limit_in_bytes"), "52428800"),
            (&format!("{d}/memory.kmem.limit_in_bytes"), "67108864"),
            (&format!("{d}/memory.kmem.tcp.limit_in_bytes"), "16777216"),
            (&format!("{d}/memory.swappiness"), "10"),
            (&format!("{d}/memory.oom_control"), "1"),
            (&format!("{d}/memory.use_hierarchy"), "1"),
        ])
    );
}

#[test]
fn v1_memory_swap_ordering_when_growing() {
    let (f, m) = hybrid(None);
    let d = "/sys/fs/cgroup/memory/c1";
    f.touch(d, &["memory.memsw.limit_in_bytes"]);
    f.put(&format!("{d}/memory.limit_in_bytes"), "1048576\n");
    // Current limit 1M < new memsw: memsw first, then memory.
    assert_eq!(
        plan(&f, &m, &mem(4 << 20, 8 << 20)),
        pairs(&[
            (&format!("{d}/memory.memsw.limit_in_bytes"), "8388608"),
            (&format!("{d}/memory.limit_in_bytes"), "4194304"),
        ])
    );
    // Unlimited memory without swap → unlimited swap too, memsw first.
    assert_eq!(
        plan(&f, &m, &mem(-1, 0)),
        pairs(&[
            (&format!("{d}/memory.memsw.limit_in_bytes"), "-1"),
            (&format!("{d}/memory.limit_in_bytes"), "-1"),
        ])
    );
    let e = plan_err(&m, &mem(8 << 20, 4 << 20));
    assert!(e.contains("memory.swap") && e.contains("4194304"), "{e}");
}

#[test]
fn v1_memory_swap_without_accounting() {
    let (f, m) = hybrid(None);
    f.touch("/sys/fs/cgroup/memory/c1", &["memory.limit_in_bytes"]);
    let e = plan_err(&m, &mem(1 << 20, 2 << 20));
    assert!(
        e.contains("memory.swap") && e.contains("memory.memsw.limit_in_bytes"),
        "{e}"
    );
    // Only an implied unlimited swap: silently nothing.
    assert_eq!(
        plan(&f, &m, &mem(-1, 0)),
        pairs(&[("/sys/fs/cgroup/memory/c1/memory.limit_in_bytes", "-1")])
    );
}

#[test]
fn v1_memory_check_before_update() {
    let (f, m) = hybrid(None);
    f.put(
        "/sys/fs/cgroup/memory/c1/memory.usage_in_bytes",
        "5000000\n",
    );
    let r = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(1_000_000)
                .check_before_update(true)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let e = plan_err(&m, &r);
    assert!(e.contains("1000000") && e.contains("5000000"), "{e}");
}

#[test]
fn v1_memory_bad_swappiness() {
    let (f, m) = hybrid(None);
    f.touch("/sys/fs/cgroup/memory/c1", &[]);
    let r = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .swappiness(101u64)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let e = plan_err(&m, &r);
    assert!(e.contains("memory.swappiness") && e.contains("101"), "{e}");
}

#[test]
fn v1_cpu_full() {
    let (f, m) = hybrid(None);
    f.touch(
        "/sys/fs/cgroup/cpu/c1",
        &[
            "cpu.cfs_burst_us",
            "cpu.rt_period_us",
            "cpu.rt_runtime_us",
            "cpu.idle",
        ],
    );
    f.touch("/sys/fs/cgroup/cpuset/c1", &[]);
    let r = LinuxResourcesBuilder::default()
        .cpu(
            LinuxCpuBuilder::default()
                .shares(512u64)
                .quota(50_000i64)
                .period(100_000u64)
                .burst(1000u64)
                .realtime_period(1_000_000u64)
                .realtime_runtime(950_000i64)
                .idle(1i64)
                .cpus("0")
                .mems("0")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let c = "/sys/fs/cgroup/cpu/c1";
    let s = "/sys/fs/cgroup/cpuset/c1";
    assert_eq!(
        plan(&f, &m, &r),
        pairs(&[
            (&format!("{c}/cpu.shares"), "512"),
            (&format!("{c}/cpu.cfs_period_us"), "100000"),
            (&format!("{c}/cpu.cfs_quota_us"), "50000"),
            (&format!("{c}/cpu.cfs_burst_us"), "1000"),
            (&format!("{c}/cpu.rt_period_us"), "1000000"),
            (&format!("{c}/cpu.rt_runtime_us"), "950000"),
            (&format!("{c}/cpu.idle"), "1"),
            (&format!("{s}/cpuset.cpus"), "0"),
            (&format!("{s}/cpuset.mems"), "0"),
        ])
    );
}

#[test]
fn v1_cpu_shares_are_verified_after_write() {
    let (f, m) = hybrid(None);
    f.touch("/sys/fs/cgroup/cpu/c1", &["cpu.shares"]);
    let r = LinuxResourcesBuilder::default()
        .cpu(LinuxCpuBuilder::default().shares(1u64).build().unwrap())
        .build()
        .unwrap();
    m.set(&r).unwrap();
    // Simulate the kernel clamping the value to 2.
    let p = resources::plan(&m, &r).unwrap();
    std::fs::write(f.p("/sys/fs/cgroup/cpu/c1/cpu.shares"), "2\n").unwrap();
    let e = resources::verify(&p).unwrap_err().to_string();
    assert!(e.contains("cpu.shares") && e.contains("stored 2"), "{e}");
}

#[test]
fn v1_pids() {
    let (f, m) = hybrid(None);
    f.touch("/sys/fs/cgroup/pids/c1", &[]);
    let r = |l| {
        LinuxResourcesBuilder::default()
            .pids(LinuxPidsBuilder::default().limit(l).build().unwrap())
            .build()
            .unwrap()
    };
    assert_eq!(
        plan(&f, &m, &r(42)),
        pairs(&[("/sys/fs/cgroup/pids/c1/pids.max", "42")])
    );
    assert_eq!(
        plan(&f, &m, &r(-1)),
        pairs(&[("/sys/fs/cgroup/pids/c1/pids.max", "max")])
    );
    assert!(plan(&f, &m, &r(0)).is_empty());
}

fn blkio_res() -> LinuxResources {
    let td = |maj: i64, min: i64, rate: u64| {
        LinuxThrottleDeviceBuilder::default()
            .major(maj)
            .minor(min)
            .rate(rate)
            .build()
            .unwrap()
    };
    LinuxResourcesBuilder::default()
        .block_io(
            LinuxBlockIoBuilder::default()
                .weight(500u16)
                .weight_device(vec![LinuxWeightDeviceBuilder::default()
                    .major(8)
                    .minor(0)
                    .weight(300u16)
                    .build()
                    .unwrap()])
                .throttle_read_bps_device(vec![td(8, 0, 1000)])
                .throttle_write_bps_device(vec![td(8, 0, 2000)])
                .throttle_read_iops_device(vec![td(8, 16, 30)])
                .throttle_write_iops_device(vec![td(8, 16, 40)])
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

#[test]
fn v1_blkio_bfq_only_host() {
    let (f, m) = hybrid(None);
    let d = "/sys/fs/cgroup/blkio/c1";
    f.touch(d, &["blkio.bfq.weight", "blkio.bfq.weight_device"]);
    assert_eq!(
        plan(&f, &m, &blkio_res()),
        pairs(&[
            (&format!("{d}/blkio.bfq.weight"), "500"),
            (&format!("{d}/blkio.bfq.weight_device"), "8:0 300"),
            (&format!("{d}/blkio.throttle.read_bps_device"), "8:0 1000"),
            (&format!("{d}/blkio.throttle.write_bps_device"), "8:0 2000"),
            (&format!("{d}/blkio.throttle.read_iops_device"), "8:16 30"),
            (&format!("{d}/blkio.throttle.write_iops_device"), "8:16 40"),
        ])
    );
}

#[test]
fn v1_blkio_cfq_host_and_leaf_weight() {
    let (f, m) = hybrid(None);
    let d = "/sys/fs/cgroup/blkio/c1";
    f.touch(
        d,
        &["blkio.weight", "blkio.weight_device", "blkio.bfq.weight"],
    );
    let w = plan(&f, &m, &blkio_res());
    assert_eq!(w[0], (format!("{d}/blkio.weight"), "500".to_string()));
    assert_eq!(
        w[1],
        (format!("{d}/blkio.weight_device"), "8:0 300".to_string())
    );
    let r = LinuxResourcesBuilder::default()
        .block_io(
            LinuxBlockIoBuilder::default()
                .leaf_weight(100u16)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let e = plan_err(&m, &r);
    assert!(
        e.contains("blockIO.leafWeight") && e.contains("blkio.leaf_weight"),
        "{e}"
    );
}

#[test]
fn v1_blkio_no_weight_file() {
    let (f, m) = hybrid(None);
    f.touch("/sys/fs/cgroup/blkio/c1", &[]);
    let e = plan_err(&m, &blkio_res());
    assert!(e.contains("blockIO.weight") && e.contains("500"), "{e}");
}

fn hugepages(size: &str, limit: i64) -> LinuxResources {
    LinuxResourcesBuilder::default()
        .hugepage_limits(vec![LinuxHugepageLimitBuilder::default()
            .page_size(size)
            .limit(limit)
            .build()
            .unwrap()])
        .build()
        .unwrap()
}

#[test]
fn hybrid_hugetlb_goes_to_unified() {
    let (f, m) = hybrid(None);
    f.touch(
        "/sys/fs/cgroup/unified/c1",
        &["hugetlb.2MB.max", "hugetlb.2MB.rsvd.max"],
    );
    assert_eq!(
        plan(&f, &m, &hugepages("2MB", 4 << 21)),
        pairs(&[
            ("/sys/fs/cgroup/unified/c1/hugetlb.2MB.max", "8388608"),
            ("/sys/fs/cgroup/unified/c1/hugetlb.2MB.rsvd.max", "8388608"),
        ])
    );
    let e = plan_err(&m, &hugepages("1GB", 1 << 30));
    assert!(
        e.contains("hugepageLimits.1GB") && e.contains("hugetlb.1GB.max"),
        "{e}"
    );
    let e = plan_err(&m, &hugepages("2 MB", 1));
    assert!(e.contains("pageSize") && e.contains("2 MB"), "{e}");
}

#[test]
fn v1_hugetlb_and_rdma_and_network() {
    let f = Fake::new();
    let m = f.manager(V1_MOUNTINFO, V1_CGROUP, None);
    f.touch("/sys/fs/cgroup/hugetlb/c1", &["hugetlb.2MB.limit_in_bytes"]);
    assert_eq!(
        plan(&f, &m, &hugepages("2MB", 2 << 20)),
        pairs(&[(
            "/sys/fs/cgroup/hugetlb/c1/hugetlb.2MB.limit_in_bytes",
            "2097152"
        )])
    );
    let mut rdma = HashMap::new();
    rdma.insert(
        "mlx5_1".to_string(),
        LinuxRdmaBuilder::default()
            .hca_handles(3u32)
            .hca_objects(1000u32)
            .build()
            .unwrap(),
    );
    let r = LinuxResourcesBuilder::default().rdma(rdma).build().unwrap();
    assert_eq!(
        plan(&f, &m, &r),
        pairs(&[(
            "/sys/fs/cgroup/rdma/c1/rdma.max",
            "mlx5_1 hca_handle=3 hca_object=1000"
        )])
    );
    let r = LinuxResourcesBuilder::default()
        .network(
            LinuxNetworkBuilder::default()
                .class_id(0x100001u32)
                .priorities(vec![LinuxInterfacePriorityBuilder::default()
                    .name("eth0")
                    .priority(5u32)
                    .build()
                    .unwrap()])
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    assert_eq!(
        plan(&f, &m, &r),
        pairs(&[
            (
                "/sys/fs/cgroup/net_cls,net_prio/c1/net_cls.classid",
                "1048577"
            ),
            (
                "/sys/fs/cgroup/net_cls,net_prio/c1/net_prio.ifpriomap",
                "eth0 5"
            ),
        ])
    );
}

#[test]
fn missing_controllers_are_named() {
    let (_f, m) = hybrid(None);
    let r = LinuxResourcesBuilder::default()
        .network(
            LinuxNetworkBuilder::default()
                .class_id(7u32)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let e = plan_err(&m, &r);
    assert!(
        e.contains("network.classID = 7") && e.contains("net_cls"),
        "{e}"
    );
    // Zero/unset values need no controller.
    let r = LinuxResourcesBuilder::default()
        .network(
            LinuxNetworkBuilder::default()
                .class_id(0u32)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    assert!(resources::plan(&m, &r).unwrap().writes.is_empty());
    let mut rdma = HashMap::new();
    rdma.insert(
        "mlx".to_string(),
        LinuxRdmaBuilder::default()
            .hca_handles(1u32)
            .build()
            .unwrap(),
    );
    let r = LinuxResourcesBuilder::default().rdma(rdma).build().unwrap();
    let e = plan_err(&m, &r);
    assert!(
        e.contains("rdma.mlx") && e.contains("rdma cgroup controller"),
        "{e}"
    );
}

fn dev(
    allow: bool,
    typ: LinuxDeviceType,
    major: i64,
    minor: i64,
    access: &str,
) -> oci_spec::runtime::LinuxDeviceCgroup {
    let mut b = LinuxDeviceCgroupBuilder::default()
        .allow(allow)
        .typ(typ)
        .access(access);
    if major >= 0 {
        b = b.major(major);
    }
    if minor >= 0 {
        b = b.minor(minor);
    }
    b.build().unwrap()
}

fn devices_res() -> LinuxResources {
    LinuxResourcesBuilder::default()
        .devices(vec![
            dev(false, LinuxDeviceType::A, -1, -1, "rwm"),
            dev(true, LinuxDeviceType::C, 1, 3, "rwm"),
            dev(true, LinuxDeviceType::C, 136, -1, "rwm"),
            dev(true, LinuxDeviceType::B, 8, 0, "r"),
        ])
        .build()
        .unwrap()
}

#[test]
fn v1_devices() {
    let (f, m) = hybrid(None);
    let d = "/sys/fs/cgroup/devices/c1";
    assert_eq!(
        plan(&f, &m, &devices_res()),
        pairs(&[
            (&format!("{d}/devices.deny"), "a *:* rwm"),
            (&format!("{d}/devices.allow"), "c 1:3 rwm"),
            (&format!("{d}/devices.allow"), "c 136:* rwm"),
            (&format!("{d}/devices.allow"), "b 8:0 r"),
        ])
    );
    assert!(resources::plan(&m, &devices_res())
        .unwrap()
        .bpf_devices
        .is_none());
}

#[test]
fn hybrid_unified_keys() {
    let (f, m) = hybrid(None);
    f.touch("/sys/fs/cgroup/unified/c1", &["hugetlb.2MB.max"]);
    let mut u = HashMap::new();
    u.insert("hugetlb.2MB.max".to_string(), "1024".to_string());
    let r = LinuxResourcesBuilder::default().unified(u).build().unwrap();
    assert_eq!(
        plan(&f, &m, &r),
        pairs(&[("/sys/fs/cgroup/unified/c1/hugetlb.2MB.max", "1024")])
    );
    let mut u = HashMap::new();
    u.insert("memory.high".to_string(), "1G".to_string());
    let r = LinuxResourcesBuilder::default().unified(u).build().unwrap();
    let e = plan_err(&m, &r);
    assert!(
        e.contains("\"memory.high\"") && e.contains("unified/c1/memory.high"),
        "{e}"
    );
    let mut u = HashMap::new();
    u.insert("../x".to_string(), "1".to_string());
    let r = LinuxResourcesBuilder::default().unified(u).build().unwrap();
    assert!(plan_err(&m, &r).contains("../x"));
}

#[test]
fn v1_unified_is_an_error() {
    let f = Fake::new();
    let m = f.manager(V1_MOUNTINFO, V1_CGROUP, None);
    let mut u = HashMap::new();
    u.insert("memory.high".to_string(), "1G".to_string());
    let r = LinuxResourcesBuilder::default().unified(u).build().unwrap();
    let e = plan_err(&m, &r);
    assert!(e.contains("unified.memory.high") && e.contains("v1"), "{e}");
}

// --- v2 translation -----------------------------------------------------------

fn v2_ready(path: Option<&str>) -> (Fake, Manager) {
    let (f, m) = v2(path);
    let d = m.unified_path().unwrap().to_path_buf();
    std::fs::create_dir_all(&d).unwrap();
    for file in V2_FILES {
        std::fs::write(d.join(file), "").unwrap();
    }
    (f, m)
}

#[test]
fn conversions() {
    assert_eq!(shares_to_weight(0), 0);
    assert_eq!(shares_to_weight(2), 1);
    assert_eq!(shares_to_weight(1024), 100);
    assert_eq!(shares_to_weight(262_144), 10_000);
    assert_eq!(shares_to_weight(512), 59);
    assert_eq!(shares_to_weight(2048), 174);
    assert_eq!(blkio_to_io_weight(10), 1);
    assert_eq!(blkio_to_io_weight(1000), 10000);
    assert_eq!(blkio_to_io_weight(500), 4950);
    assert_eq!(swap_v2(0, -1).unwrap(), -1);
    assert_eq!(swap_v2(-1, 100).unwrap(), -1);
    assert_eq!(swap_v2(300, 100).unwrap(), 200);
    assert_eq!(swap_v2(100, 100).unwrap(), 0);
    assert!(swap_v2(50, 100)
        .unwrap_err()
        .to_string()
        .contains("memory.swap"));
    assert!(swap_v2(50, 0).is_err());
}

#[test]
fn v2_memory() {
    let (f, m) = v2_ready(None);
    let d = "/sys/fs/cgroup/c1";
    let r = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(100 << 20)
                .swap(300 << 20)
                .reservation(10 << 20)
                .swappiness(10u64)
                .kernel(1 << 20)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    assert_eq!(
        plan(&f, &m, &r),
        pairs(&[
            (&format!("{d}/memory.swap.max"), "209715200"),
            (&format!("{d}/memory.max"), "104857600"),
            (&format!("{d}/memory.low"), "10485760"),
        ])
    );
    assert_eq!(
        plan(&f, &m, &mem(-1, 0)),
        pairs(&[
            (&format!("{d}/memory.swap.max"), "max"),
            (&format!("{d}/memory.max"), "max")
        ])
    );
    assert_eq!(
        plan(&f, &m, &mem(1 << 20, 1 << 20)),
        pairs(&[
            (&format!("{d}/memory.swap.max"), "0"),
            (&format!("{d}/memory.max"), "1048576")
        ])
    );
    std::fs::remove_file(f.p(&format!("{d}/memory.swap.max"))).unwrap();
    let e = plan_err(&m, &mem(1 << 20, 2 << 20));
    assert!(
        e.contains("memory.swap") && e.contains("memory.swap.max"),
        "{e}"
    );
    assert_eq!(
        plan(&f, &m, &mem(-1, 0)),
        pairs(&[(&format!("{d}/memory.max"), "max")])
    );
}

#[test]
fn v2_cpu() {
    let (f, m) = v2_ready(None);
    let d = "/sys/fs/cgroup/c1";
    let r = LinuxResourcesBuilder::default()
        .cpu(
            LinuxCpuBuilder::default()
                .shares(1024u64)
                .quota(20_000i64)
                .period(50_000u64)
                .burst(500u64)
                .idle(0i64)
                .cpus("0-1")
                .mems("0")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    assert_eq!(
        plan(&f, &m, &r),
        pairs(&[
            (&format!("{d}/cpu.weight"), "100"),
            (&format!("{d}/cpu.max"), "20000 50000"),
            (&format!("{d}/cpu.max.burst"), "500"),
            (&format!("{d}/cpu.idle"), "0"),
            (&format!("{d}/cpuset.cpus"), "0-1"),
            (&format!("{d}/cpuset.mems"), "0"),
        ])
    );
    let r = LinuxResourcesBuilder::default()
        .cpu(LinuxCpuBuilder::default().quota(-1i64).build().unwrap())
        .build()
        .unwrap();
    assert_eq!(plan(&f, &m, &r), pairs(&[(&format!("{d}/cpu.max"), "max")]));
    let r = LinuxResourcesBuilder::default()
        .cpu(
            LinuxCpuBuilder::default()
                .period(10_000u64)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    assert_eq!(
        plan(&f, &m, &r),
        pairs(&[(&format!("{d}/cpu.max"), "max 10000")])
    );
    let r = LinuxResourcesBuilder::default()
        .cpu(
            LinuxCpuBuilder::default()
                .realtime_runtime(5i64)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let e = plan_err(&m, &r);
    assert!(e.contains("cpu.realtimeRuntime = 5"), "{e}");
}

#[test]
fn v2_io_pids_hugetlb_rdma() {
    let (f, m) = v2_ready(None);
    let d = "/sys/fs/cgroup/c1";
    assert_eq!(
        plan(&f, &m, &blkio_res()),
        pairs(&[
            (&format!("{d}/io.weight"), "4950"),
            (&format!("{d}/io.weight"), "8:0 2930"),
            (&format!("{d}/io.max"), "8:0 rbps=1000"),
            (&format!("{d}/io.max"), "8:0 wbps=2000"),
            (&format!("{d}/io.max"), "8:16 riops=30"),
            (&format!("{d}/io.max"), "8:16 wiops=40"),
        ])
    );
    std::fs::write(f.p(&format!("{d}/io.bfq.weight")), "").unwrap();
    let w = plan(&f, &m, &blkio_res());
    assert_eq!(w[0], (format!("{d}/io.bfq.weight"), "500".to_string()));
    assert_eq!(w[1], (format!("{d}/io.bfq.weight"), "8:0 300".to_string()));

    assert_eq!(
        plan(&f, &m, &hugepages("2MB", -1)),
        pairs(&[
            (&format!("{d}/hugetlb.2MB.max"), "max"),
            (&format!("{d}/hugetlb.2MB.rsvd.max"), "max"),
        ])
    );
    assert_eq!(
        plan(&f, &m, &hugepages("1GB", 1 << 30)),
        pairs(&[(&format!("{d}/hugetlb.1GB.max"), "1073741824")])
    );
    let r = LinuxResourcesBuilder::default()
        .pids(LinuxPidsBuilder::default().limit(10).build().unwrap())
        .build()
        .unwrap();
    assert_eq!(plan(&f, &m, &r), pairs(&[(&format!("{d}/pids.max"), "10")]));
    let r = LinuxResourcesBuilder::default()
        .network(
            LinuxNetworkBuilder::default()
                .class_id(1u32)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    assert!(plan_err(&m, &r).contains("network.classID"));
}

#[test]
fn v2_devices_use_bpf() {
    let (f, m) = v2_ready(None);
    let p = resources::plan(&m, &devices_res()).unwrap();
    assert!(p.writes.is_empty());
    let (dir, rules) = p.bpf_devices.unwrap();
    assert_eq!(f.rel(&dir), "/sys/fs/cgroup/c1");
    assert_eq!(rules.len(), 4);
    assert_eq!(rules[1].to_string(), "c 1:3 rwm");
    // Bad rules fail at plan time.
    let r = LinuxResourcesBuilder::default()
        .devices(vec![dev(true, LinuxDeviceType::C, 1, 3, "rwx")])
        .build()
        .unwrap();
    assert!(plan_err(&m, &r).contains("rwx"));
}

#[test]
fn v2_unified_key_overrides() {
    let (f, m) = v2_ready(None);
    let mut u = HashMap::new();
    u.insert("memory.oom.group".to_string(), "1".to_string());
    u.insert("pids.max".to_string(), "7".to_string());
    let r = LinuxResourcesBuilder::default()
        .pids(LinuxPidsBuilder::default().limit(10).build().unwrap())
        .unified(u)
        .build()
        .unwrap();
    m.set(&r).unwrap();
    assert_eq!(f.read("/sys/fs/cgroup/c1/pids.max"), "7");
    assert_eq!(f.read("/sys/fs/cgroup/c1/memory.oom.group"), "1");
}

// --- execution on fake trees ------------------------------------------------

#[test]
fn set_writes_files_and_reports_failures_with_path_and_value() {
    let (f, m) = hybrid(None);
    f.touch("/sys/fs/cgroup/pids/c1", &["pids.max"]);
    f.touch("/sys/fs/cgroup/memory/c1", &[]);
    let r = LinuxResourcesBuilder::default()
        .pids(LinuxPidsBuilder::default().limit(64).build().unwrap())
        .build()
        .unwrap();
    m.set(&r).unwrap();
    assert_eq!(f.read("/sys/fs/cgroup/pids/c1/pids.max"), "64");
    // memory.limit_in_bytes does not exist in the fake directory.
    let e = m.set(&mem(1 << 20, 0)).unwrap_err().to_string();
    assert!(
        e.contains("\"1048576\"") && e.contains("memory/c1/memory.limit_in_bytes"),
        "{e}"
    );
    assert!(!e.contains('\n'));
}

#[test]
fn apply_writes_pid_everywhere() {
    let (f, m) = hybrid(None);
    for s in m.mount_sources() {
        std::fs::create_dir_all(&s.path).unwrap();
        std::fs::write(s.path.join("cgroup.procs"), "").unwrap();
    }
    m.apply(4242).unwrap();
    for s in m.mount_sources() {
        assert_eq!(
            std::fs::read_to_string(s.path.join("cgroup.procs")).unwrap(),
            "4242"
        );
    }
    let _ = f;
}

#[test]
fn pids_are_recursive() {
    let (f, m) = v2_ready(None);
    f.put("/sys/fs/cgroup/c1/cgroup.procs", "10\n11\n");
    f.put("/sys/fs/cgroup/c1/sub/cgroup.procs", "12\n");
    f.put("/sys/fs/cgroup/c1/sub/deeper/cgroup.procs", "13\n10\n");
    assert_eq!(m.pids().unwrap(), vec![10, 11, 12, 13]);
    f.put("/sys/fs/cgroup/c1/sub/cgroup.procs", "x\n");
    let e = m.pids().unwrap_err().to_string();
    assert!(e.contains("sub/cgroup.procs") && e.contains("\"x\""), "{e}");
}

#[test]
fn freezer_state_v1_and_v2() {
    let (f, m) = hybrid(None);
    f.put("/sys/fs/cgroup/freezer/c1/freezer.state", "FROZEN\n");
    assert_eq!(m.freezer_state().unwrap(), FreezerState::Frozen);
    f.put("/sys/fs/cgroup/freezer/c1/freezer.state", "THAWED\n");
    assert_eq!(m.freezer_state().unwrap(), FreezerState::Thawed);
    m.thaw().unwrap();
    f.put("/sys/fs/cgroup/freezer/c1/freezer.state", "FROZEN\n");
    // freeze() writes FROZEN and polls; the fake file then reads FROZEN.
    m.freeze().unwrap();

    let (f, m) = v2_ready(None);
    f.put("/sys/fs/cgroup/c1/cgroup.freeze", "1\n");
    f.put("/sys/fs/cgroup/c1/cgroup.events", "populated 1\nfrozen 1\n");
    assert_eq!(m.freezer_state().unwrap(), FreezerState::Frozen);
    f.put("/sys/fs/cgroup/c1/cgroup.events", "populated 1\nfrozen 0\n");
    assert_eq!(m.freezer_state().unwrap(), FreezerState::Thawed);
    m.thaw().unwrap();
    assert_eq!(f.read("/sys/fs/cgroup/c1/cgroup.freeze"), "0");
}

#[test]
fn destroy_removes_everything_and_collects_errors() {
    let (f, m) = hybrid(Some("/berth/c1"));
    for s in m.mount_sources() {
        std::fs::create_dir_all(s.path.join("child")).unwrap();
    }
    assert!(m.exists());
    m.destroy().unwrap();
    assert!(!m.exists());
    for s in m.mount_sources() {
        assert!(!s.path.exists());
        assert!(s.path.parent().unwrap().exists());
    }
    // Destroying again is fine.
    m.destroy().unwrap();
    let _ = f;
}

#[test]
fn stats_v1_fake() {
    let (f, m) = hybrid(None);
    let c = "/sys/fs/cgroup/cpuacct/c1";
    f.put(&format!("{c}/cpuacct.usage"), "5000\n");
    f.put(&format!("{c}/cpuacct.usage_percpu"), "3000 2000 \n");
    f.put(&format!("{c}/cpuacct.stat"), "user 1\nsystem 2\n");
    f.put(
        "/sys/fs/cgroup/cpu/c1/cpu.stat",
        "nr_periods 4\nnr_throttled 1\nthrottled_time 77\n",
    );
    let mm = "/sys/fs/cgroup/memory/c1";
    f.put(&format!("{mm}/memory.usage_in_bytes"), "100\n");
    f.put(&format!("{mm}/memory.limit_in_bytes"), "1000\n");
    f.put(&format!("{mm}/memory.max_usage_in_bytes"), "150\n");
    f.put(&format!("{mm}/memory.failcnt"), "3\n");
    f.put(&format!("{mm}/memory.stat"), "cache 40\nrss 60\n");
    f.put("/sys/fs/cgroup/pids/c1/pids.current", "2\n");
    f.put("/sys/fs/cgroup/pids/c1/pids.max", "max\n");
    f.put(
        "/sys/fs/cgroup/blkio/c1/blkio.throttle.io_service_bytes_recursive",
        "8:0 Read 4096\n8:0 Write 0\nTotal 4096\n",
    );
    f.put("/sys/fs/cgroup/unified/c1/hugetlb.2MB.max", "max\n");
    f.put("/sys/fs/cgroup/unified/c1/hugetlb.2MB.current", "0\n");
    f.put("/sys/fs/cgroup/unified/c1/hugetlb.2MB.events", "max 5\n");
    let s = m.stats().unwrap();
    assert_eq!(s.cpu.usage.total, 5000);
    assert_eq!(s.cpu.usage.percpu, vec![3000, 2000]);
    assert!(s.cpu.usage.user > 0 && s.cpu.usage.kernel == 2 * s.cpu.usage.user);
    assert_eq!(s.cpu.throttling.throttled_time, 77);
    assert_eq!(s.memory.usage.failcnt, 3);
    assert_eq!(s.memory.cache, 40);
    assert_eq!(s.pids.current, 2);
    assert_eq!(s.pids.limit, 0);
    assert_eq!(s.blkio.io_service_bytes_recursive.len(), 2);
    assert_eq!(s.hugetlb["2MB"].failcnt, 5);
    let j = serde_json::to_value(&s).unwrap();
    assert_eq!(j["cpu"]["throttling"]["throttledPeriods"], 1);
    assert_eq!(j["memory"]["usage"]["max"], 150);
    assert_eq!(j["memory"]["raw"]["rss"], 60);
    assert!(j["memory"].get("kernelTCP").is_some());
    assert_eq!(j["blkio"]["ioServiceBytesRecursive"][0]["op"], "Read");
    assert!(j["blkio"]["ioServiceBytesRecursive"][1]
        .get("value")
        .is_none());
    assert_eq!(j["pids"], serde_json::json!({"current": 2}));
    assert_eq!(m.oom_kills().unwrap(), 0);
    f.put(
        &format!("{mm}/memory.oom_control"),
        "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
    );
    assert_eq!(m.oom_kills().unwrap(), 2);
}

#[test]
fn stats_v2_fake() {
    let (f, m) = v2_ready(None);
    let d = "/sys/fs/cgroup/c1";
    f.put(
        &format!("{d}/cpu.stat"),
        "usage_usec 10\nuser_usec 6\nsystem_usec 4\nnr_periods 0\n",
    );
    f.put(&format!("{d}/memory.current"), "4096\n");
    f.put(&format!("{d}/memory.max"), "max\n");
    f.put(&format!("{d}/memory.swap.max"), "0\n");
    f.put(&format!("{d}/memory.swap.current"), "0\n");
    f.put(&format!("{d}/memory.stat"), "anon 1\nfile 2\n");
    f.put(
        &format!("{d}/memory.events"),
        "low 0\nhigh 0\nmax 9\noom 0\n",
    );
    f.put(
        &format!("{d}/io.stat"),
        "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n",
    );
    f.put(&format!("{d}/pids.current"), "1\n");
    f.put(&format!("{d}/pids.max"), "5\n");
    let s = m.stats().unwrap();
    assert_eq!(s.cpu.usage.total, 10_000);
    assert_eq!(s.cpu.usage.kernel, 4_000);
    assert_eq!(s.memory.usage.usage, 4096);
    assert_eq!(s.memory.usage.limit, u64::MAX);
    assert_eq!(s.memory.usage.failcnt, 9);
    assert_eq!(s.memory.cache, 2);
    assert_eq!(s.blkio.io_serviced_recursive.len(), 2);
    assert_eq!(s.pids.limit, 5);
    assert_eq!(m.oom_kills().unwrap(), 0);
    f.put(
        &format!("{d}/memory.events"),
        "low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\n",
    );
    assert_eq!(m.oom_kills().unwrap(), 1);
}

#[test]
fn features_json() {
    let f = features();
    assert_eq!(f["v1"], true);
    assert_eq!(f["v2"], true);
    assert_eq!(f["systemd"], false);
    assert_eq!(f["rdma"], true);
}

#[test]
fn kill_all_rejects_bad_signal() {
    let (_f, m) = v2_ready(None);
    let e = m.kill_all(999).unwrap_err().to_string();
    assert!(e.contains("signal") && e.contains("999"), "{e}");
}

#[test]
fn systemd_form_on_hybrid_host() {
    let f = Fake::new();
    let m = Manager::with_host(
        f.host(HYBRID_MOUNTINFO, HYBRID_CGROUP),
        Some("system.slice:berth:abc"),
        "c1",
        true,
    )
    .unwrap();
    let d = dirs(&f, &m);
    assert_eq!(d[3], "/sys/fs/cgroup/memory/system.slice/berth-abc.scope");
    assert_eq!(d[9], "/sys/fs/cgroup/unified/system.slice/berth-abc.scope");
}

/// The attach primer "moves" the process into the cgroup it is in: it
/// reaches a real cgroup.procs (as root) and changes nothing.
#[test]
fn prime_attach_moves_nothing() {
    if !berth_testkit::require_root("a real cgroup.procs") {
        return;
    }
    let before = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    assert!(crate::prime_attach_now().is_some());
    assert_eq!(
        std::fs::read_to_string("/proc/self/cgroup").unwrap(),
        before
    );
}

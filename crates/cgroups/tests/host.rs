//! Integration tests against the real host's cgroups. They need root and
//! skip otherwise (`berth_testkit::skip`: CI fails, `make test` counts).
//!
//! Children are synchronised through their stdin: each one blocks on
//! `read` until it has been moved into the cgroup.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use cgroups::{FreezerState, Host, Layout, LinuxResources, Manager};
use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxHugepageLimitBuilder,
    LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResourcesBuilder,
};

fn id(name: &str) -> String {
    format!("berth-test-{}-{name}", std::process::id())
}

/// A shell child waiting on stdin before running `script`.
fn child(script: &str) -> Child {
    Command::new("sh")
        .arg("-c")
        .arg(format!("read _go; {script}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sh")
}

fn go(c: &mut Child) {
    c.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
}

fn output(mut c: Child) -> (Option<i32>, String, String) {
    let status = c.wait().unwrap();
    let mut out = String::new();
    let mut err = String::new();
    c.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    c.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    (status.code(), out, err)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

/// Removes the cgroup even when an assertion fails half way.
struct Cleanup(Manager);
impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = self.0.kill_all(libc::SIGKILL);
        std::thread::sleep(std::time::Duration::from_millis(50));
        let _ = self.0.destroy();
    }
}

fn dir_of(m: &Manager, controller: &str) -> std::path::PathBuf {
    m.mount_sources()
        .into_iter()
        .find(|s| s.controllers.iter().any(|c| c == controller))
        .unwrap_or_else(|| panic!("no {controller} hierarchy"))
        .path
}

#[test]
fn lifecycle_on_this_host() {
    if !berth_testkit::require_root("creating cgroups") {
        return;
    }
    let m = Manager::new(None, &id("life"), false).unwrap();
    let guard = Cleanup(m.clone());
    assert!(!m.exists());
    m.create().unwrap();
    assert!(m.exists());

    let mut resources = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(64 << 20)
                .reservation(32 << 20)
                .swappiness(0u64)
                .build()
                .unwrap(),
        )
        .pids(LinuxPidsBuilder::default().limit(32).build().unwrap())
        .cpu(
            LinuxCpuBuilder::default()
                .shares(512u64)
                .quota(50_000i64)
                .period(100_000u64)
                .cpus("0")
                .mems("0")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    if m.layout() != Layout::V2
        && m.mount_sources()
            .iter()
            .any(|s| s.controllers == ["memory"])
    {
        // swap accounting may be off; only ask for it when memsw exists
        if dir_of(&m, "memory")
            .join("memory.memsw.limit_in_bytes")
            .exists()
        {
            resources.set_memory(Some(
                LinuxMemoryBuilder::default()
                    .limit(64 << 20)
                    .swap(128 << 20)
                    .reservation(32 << 20)
                    .swappiness(0u64)
                    .build()
                    .unwrap(),
            ));
        }
    }
    m.set(&resources).unwrap();

    if m.layout() != Layout::V2 {
        let mem = dir_of(&m, "memory");
        assert_eq!(
            read(&mem.join("memory.limit_in_bytes")),
            (64u64 << 20).to_string()
        );
        assert_eq!(
            read(&mem.join("memory.soft_limit_in_bytes")),
            (32u64 << 20).to_string()
        );
        if mem.join("memory.memsw.limit_in_bytes").exists() {
            assert_eq!(
                read(&mem.join("memory.memsw.limit_in_bytes")),
                (128u64 << 20).to_string()
            );
        }
        assert_eq!(read(&dir_of(&m, "pids").join("pids.max")), "32");
        let cpu = dir_of(&m, "cpu");
        assert_eq!(read(&cpu.join("cpu.shares")), "512");
        assert_eq!(read(&cpu.join("cpu.cfs_quota_us")), "50000");
        assert_eq!(read(&cpu.join("cpu.cfs_period_us")), "100000");
        assert_eq!(read(&dir_of(&m, "cpuset").join("cpuset.cpus")), "0");
    } else {
        let d = m.unified_path().unwrap();
        assert_eq!(read(&d.join("memory.max")), (64u64 << 20).to_string());
        assert_eq!(read(&d.join("pids.max")), "32");
        assert_eq!(read(&d.join("cpu.max")), "50000 100000");
    }

    // A child in the cgroup.
    let mut c = child("echo started; exec sleep 30");
    let pid = c.id() as i32;
    m.apply(pid).unwrap();
    go(&mut c);
    let mut line = [0u8; 8];
    let _ = c.stdout.as_mut().unwrap().read(&mut line).unwrap();
    assert!(m.pids().unwrap().contains(&pid), "{:?}", m.pids());
    for s in m.mount_sources() {
        let procs = read(&s.path.join("cgroup.procs"));
        assert!(
            procs.lines().any(|l| l == pid.to_string()),
            "{}: {procs}",
            s.path.display()
        );
    }

    let stats = m.stats().unwrap();
    assert!(stats.pids.current >= 1, "{stats:?}");
    assert_eq!(stats.pids.limit, 32);
    assert_eq!(stats.memory.usage.limit, 64 << 20);
    assert!(stats.memory.usage.usage > 0, "{stats:?}");
    let j = serde_json::to_value(&stats).unwrap();
    assert!(j["memory"]["raw"].is_object(), "{j}");

    // Freeze / thaw.
    m.freeze().unwrap();
    assert_eq!(m.freezer_state().unwrap(), FreezerState::Frozen);
    let st = read(Path::new(&format!("/proc/{pid}/stat")));
    let state = st
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert!(
        matches!(state.as_str(), "D" | "S" | "T"),
        "frozen child state {state}"
    );
    m.thaw().unwrap();
    assert_eq!(m.freezer_state().unwrap(), FreezerState::Thawed);

    // Manager survives a JSON round trip (as in the runtime's state.json).
    let m2: Manager = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
    m2.kill_all(libc::SIGKILL).unwrap();
    let status = c.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert_eq!(m2.freezer_state().unwrap(), FreezerState::Thawed);

    // Wait for the kernel to notice the cgroup is empty, then destroy.
    for _ in 0..100 {
        if m2.pids().unwrap().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    m2.destroy().unwrap();
    assert!(!m2.exists());
    for s in m2.mount_sources() {
        assert!(!s.path.exists(), "{} left behind", s.path.display());
    }
    drop(guard);
}

#[test]
fn memory_limit_is_enforced_and_errors_name_the_file() {
    if !berth_testkit::require_root("creating cgroups") {
        return;
    }
    let m = Manager::new(Some("/berth-test-nested/inner"), &id("x"), false).unwrap();
    let _guard = Cleanup(m.clone());
    m.create().unwrap();
    // pids.max rejects garbage: the error names the file and the value.
    let mut u = HashMap::new();
    u.insert("cgroup.nope".to_string(), "1".to_string());
    let r = LinuxResourcesBuilder::default().unified(u).build().unwrap();
    if m.unified_path().is_some() {
        let e = m.set(&r).unwrap_err().to_string();
        assert!(e.contains("cgroup.nope"), "{e}");
    }
    let r = LinuxResourcesBuilder::default()
        .pids(LinuxPidsBuilder::default().limit(2).build().unwrap())
        .build()
        .unwrap();
    m.set(&r).unwrap();
    // Hybrid/v1: cpu.cfs_quota_us below 1ms is refused by the kernel.
    if m.layout() != Layout::V2 {
        let r = LinuxResourcesBuilder::default()
            .cpu(LinuxCpuBuilder::default().quota(10i64).build().unwrap())
            .build()
            .unwrap();
        let e = m.set(&r).unwrap_err().to_string();
        assert!(
            e.contains("cpu.cfs_quota_us") && e.contains("\"10\""),
            "{e}"
        );
        assert!(!e.contains('\n'));
    }
    // pids.max = 2 stops a fork bomb-ish loop.
    let mut c = child("for i in 1 2 3 4; do sleep 1 & done; wait");
    m.apply(c.id() as i32).unwrap();
    go(&mut c);
    let (_, _, err) = output(c);
    assert!(
        err.contains("fork") || err.contains("Resource temporarily unavailable"),
        "stderr: {err}"
    );
    m.kill_all(libc::SIGKILL).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    m.destroy().unwrap();
    // The parent directory of the nested path remains; clean it too.
    let parent = Manager::new(Some("/berth-test-nested"), "unused", false).unwrap();
    parent.destroy().unwrap();
    assert!(!parent.exists());
}

#[test]
fn hybrid_hugetlb_via_unified() {
    if !berth_testkit::require_root("creating cgroups") {
        return;
    }
    let m = Manager::new(None, &id("huge"), false).unwrap();
    let _guard = Cleanup(m.clone());
    m.create().unwrap();
    let Some(u) = m.unified_path() else {
        berth_testkit::skip_host("no cgroup2 mount");
        return;
    };
    if !u.join("hugetlb.2MB.max").exists() {
        berth_testkit::skip_host(&format!("no hugetlb.2MB.max in {}", u.display()));
        return;
    }
    let r = LinuxResourcesBuilder::default()
        .hugepage_limits(vec![LinuxHugepageLimitBuilder::default()
            .page_size("2MB")
            .limit(4i64 << 20)
            .build()
            .unwrap()])
        .build()
        .unwrap();
    m.set(&r).unwrap();
    assert_eq!(read(&u.join("hugetlb.2MB.max")), (4u64 << 20).to_string());
    assert!(m.stats().unwrap().hugetlb.contains_key("2MB"));
    m.destroy().unwrap();
}

fn dev(
    allow: bool,
    typ: LinuxDeviceType,
    major: i64,
    minor: i64,
) -> oci_spec::runtime::LinuxDeviceCgroup {
    let mut b = LinuxDeviceCgroupBuilder::default()
        .allow(allow)
        .typ(typ)
        .access("rwm");
    if major >= 0 {
        b = b.major(major);
    }
    if minor >= 0 {
        b = b.minor(minor);
    }
    b.build().unwrap()
}

const PROBE: &str = "if cat /dev/null; then echo null-ok; else echo null-denied; fi; \
                     head -c 4 /dev/zero | wc -c";

#[test]
fn v1_devices_cgroup_denies_dev_null() {
    if !berth_testkit::require_root("creating cgroups") {
        return;
    }
    let m = Manager::new(None, &id("dev1"), false).unwrap();
    if !m
        .mount_sources()
        .iter()
        .any(|s| s.controllers == ["devices"])
    {
        berth_testkit::skip_host("no v1 devices hierarchy");
        return;
    }
    let _guard = Cleanup(m.clone());
    m.create().unwrap();
    let r = LinuxResourcesBuilder::default()
        .devices(vec![
            dev(false, LinuxDeviceType::A, -1, -1),
            dev(true, LinuxDeviceType::C, 1, 5), // /dev/zero
            dev(true, LinuxDeviceType::C, 136, -1),
            dev(true, LinuxDeviceType::C, 5, 0),
        ])
        .build()
        .unwrap();
    m.set(&r).unwrap();
    let list = read(&dir_of(&m, "devices").join("devices.list"));
    assert!(
        list.contains("c 1:5 rwm") && !list.contains("a *:*"),
        "{list}"
    );
    let mut c = child(PROBE);
    m.apply(c.id() as i32).unwrap();
    go(&mut c);
    let (code, out, err) = output(c);
    assert_eq!(code, Some(0));
    assert!(out.contains("null-denied"), "stdout {out} stderr {err}");
    assert!(err.contains("Operation not permitted"), "{err}");
    assert!(out.contains('4'), "{out}");
    m.destroy().unwrap();
}

/// A Manager that sees only this host's cgroup2 mount, as on a pure v2 host.
fn unified_only_manager(name: &str) -> Option<Manager> {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let line = mi.lines().find(|l| l.contains(" - cgroup2 "))?;
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let own = own.lines().find(|l| l.starts_with("0::"))?;
    let host = Host::new(line, own, "/");
    let m = Manager::with_host(host, None, &id(name), false).unwrap();
    assert_eq!(m.layout(), Layout::V2);
    Some(m)
}

#[test]
fn bpf_device_filter_on_cgroup2() {
    if !berth_testkit::require_root("creating cgroups") {
        return;
    }
    let Some(m) = unified_only_manager("bpf") else {
        berth_testkit::skip_host("no cgroup2 mount");
        return;
    };
    let _guard = Cleanup(m.clone());
    m.create().unwrap();
    let deny_null = LinuxResourcesBuilder::default()
        .devices(vec![
            dev(true, LinuxDeviceType::A, -1, -1),
            dev(false, LinuxDeviceType::C, 1, 3),
        ])
        .build()
        .unwrap();
    m.set(&deny_null).unwrap();
    let mut c = child(PROBE);
    m.apply(c.id() as i32).unwrap();
    go(&mut c);
    let (code, out, err) = output(c);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("null-denied"), "stdout {out} stderr {err}");
    assert!(err.contains("Operation not permitted"), "{err}");
    assert!(
        out.trim().ends_with('4'),
        "/dev/zero must stay readable: {out}"
    );

    // Updating replaces the program (the old one is detached): now allow all.
    let allow_all: LinuxResources = LinuxResourcesBuilder::default()
        .devices(vec![dev(true, LinuxDeviceType::A, -1, -1)])
        .build()
        .unwrap();
    m.set(&allow_all).unwrap();
    let mut c = child(PROBE);
    m.apply(c.id() as i32).unwrap();
    go(&mut c);
    let (_, out, err) = output(c);
    assert!(out.contains("null-ok"), "stdout {out} stderr {err}");

    // And the direct entry point works on any cgroup2 directory.
    let rules = vec![cgroups::DeviceRule {
        allow: true,
        typ: 'c',
        major: Some(1),
        minor: Some(5),
        access: "rwm".into(),
    }];
    cgroups::attach_device_filter(m.unified_path().unwrap(), &rules).unwrap();
    let mut c = child("head -c 2 /dev/zero | wc -c; cat /dev/null || echo null-denied");
    m.apply(c.id() as i32).unwrap();
    go(&mut c);
    let (_, out, err) = output(c);
    assert!(
        out.contains("null-denied") && out.contains('2'),
        "stdout {out} stderr {err}"
    );
    m.destroy().unwrap();
}

#[test]
fn cgroup2_relative_path_under_a_cgroup_holding_processes() {
    // The caller's own cgroup holds processes (as a login session's does on
    // a pure v2 host), so it cannot enable controllers for its children and
    // writing them below it fails with ENOENT: the cgroup is still created
    // and usable, with the controllers that could be enabled.
    if !berth_testkit::require_root("creating cgroups") {
        return;
    }
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let Some(line) = mi.lines().find(|l| l.contains(" - cgroup2 ")) else {
        berth_testkit::skip_host("no cgroup2 mount");
        return;
    };
    let mp = Path::new(line.split(' ').nth(4).unwrap()).to_path_buf();
    let busy_name = id("busy");
    let busy = mp.join(&busy_name);
    std::fs::create_dir(&busy).unwrap();
    let mut sleeper = Command::new("sleep").arg("60").spawn().unwrap();
    std::fs::write(busy.join("cgroup.procs"), sleeper.id().to_string()).unwrap();
    let host = Host::new(line, format!("0::/{busy_name}\n"), "/");
    let m = Manager::with_host(host, Some("rel/leaf"), &id("leaf"), false).unwrap();
    assert_eq!(m.unified_path(), Some(busy.join("rel/leaf").as_path()));
    let created = m.create();
    let applied = created.as_ref().ok().map(|_| {
        let mut c = child("cat /proc/self/cgroup");
        let r = m.apply(c.id() as i32);
        go(&mut c);
        (r, output(c))
    });
    let destroyed = m.destroy();
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let _ = std::fs::remove_dir(busy.join("rel"));
    let _ = std::fs::remove_dir(&busy);
    created.unwrap();
    let (r, (code, out, err)) = applied.unwrap();
    r.unwrap();
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains(&format!("0::/{busy_name}/rel/leaf")), "{out}");
    destroyed.unwrap();
}

#[test]
fn cgroup2_freeze_and_kill_all() {
    if !berth_testkit::require_root("creating cgroups") {
        return;
    }
    let Some(m) = unified_only_manager("freeze2") else {
        berth_testkit::skip_host("no cgroup2 mount");
        return;
    };
    let _guard = Cleanup(m.clone());
    m.create().unwrap();
    let mut c = child("exec sleep 30");
    let pid = c.id() as i32;
    m.apply(pid).unwrap();
    go(&mut c);
    m.freeze().unwrap();
    assert_eq!(m.freezer_state().unwrap(), FreezerState::Frozen);
    m.thaw().unwrap();
    assert_eq!(m.freezer_state().unwrap(), FreezerState::Thawed);
    assert_eq!(m.pids().unwrap(), vec![pid]);
    m.kill_all(libc::SIGTERM).unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(c.wait().unwrap().signal(), Some(libc::SIGTERM));
    for _ in 0..100 {
        if m.pids().unwrap().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // SIGKILL goes through cgroup.kill where the kernel has it.
    let mut c = child("exec sleep 30");
    m.apply(c.id() as i32).unwrap();
    go(&mut c);
    m.kill_all(libc::SIGKILL).unwrap();
    assert_eq!(c.wait().unwrap().signal(), Some(libc::SIGKILL));
    for _ in 0..100 {
        if m.pids().unwrap().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    m.destroy().unwrap();
    assert!(!m.exists());
}

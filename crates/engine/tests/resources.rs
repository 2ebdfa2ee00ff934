//! Resource limits, stats and pause through the engine (no CLI), checked
//! in the container's cgroup: on this host's hybrid hierarchy (v1
//! controllers) and, through `make test-cgroup2`, in a VM with a pure
//! cgroup v2 hierarchy. No network (the VM has no bridge tooling).

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn v2() -> bool {
    !Path::new("/sys/fs/cgroup/memory/cgroup.procs").exists()
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("{}/{file}: {e}", dir.display()))
        .trim()
        .to_string()
}

fn detached(env: &Env, f: impl FnOnce(&mut engine::CreateFlags)) -> String {
    let mut o = env.opts(&["sleep", "300"]);
    o.network = Some("none".into());
    f(&mut o);
    env.run_detached(&o).expect("run -d")
}

/// The container's cgroup for `controller` (v1) or its unified one (v2),
/// from the pid's /proc/PID/cgroup, so any cgroup path layout works.
fn cgroup_of(pid: i32, controller: &str) -> PathBuf {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for l in text.lines() {
        let mut parts = l.splitn(3, ':');
        let (_, ctrls, path) = (parts.next(), parts.next().unwrap(), parts.next().unwrap());
        if v2() && ctrls.is_empty() {
            return Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/'));
        }
        if !v2() && ctrls.split(',').any(|c| c == controller) {
            return Path::new("/sys/fs/cgroup")
                .join(controller)
                .join(path.trim_start_matches('/'));
        }
    }
    panic!("no {controller} cgroup for {pid}: {text}");
}

fn pid(env: &Env, id: &str) -> i32 {
    let (_, st) = env.engine.container(id).unwrap();
    assert!(st.pid > 0, "{st:?}");
    st.pid
}

#[test]
fn memory_cpu_and_pids_limits_reach_the_cgroup() {
    let env = Env::new();
    let id = detached(&env, |o| {
        o.memory = Some("64m".into());
        o.cpus = Some("0.5".into());
        o.pids_limit = Some(50);
    });
    let p = pid(&env, &id);
    if v2() {
        let cg = cgroup_of(p, "");
        assert_eq!(read(&cg, "memory.max"), (64 << 20).to_string());
        assert_eq!(read(&cg, "cpu.max"), "50000 100000");
        assert_eq!(read(&cg, "pids.max"), "50");
    } else {
        let mem = cgroup_of(p, "memory");
        assert_eq!(read(&mem, "memory.limit_in_bytes"), (64 << 20).to_string());
        let cpu = cgroup_of(p, "cpu");
        assert_eq!(read(&cpu, "cpu.cfs_quota_us"), "50000");
        assert_eq!(read(&cpu, "cpu.cfs_period_us"), "100000");
        assert_eq!(read(&cgroup_of(p, "pids"), "pids.max"), "50");
    }
    // The limit holds: 80 background sleeps stop at 50 processes.
    let x = engine::ExecOptions {
        cmd: vec![
            "sh".into(),
            "-c".into(),
            "i=0; while [ $i -lt 80 ]; do sleep 30 >/dev/null 2>&1 & i=$((i+1)); done 2>/dev/null"
                .into(),
        ],
        ..Default::default()
    };
    let _ = env.engine.exec(&id, &x, Default::default());
    let procs = if v2() {
        cgroup_of(p, "")
    } else {
        cgroup_of(p, "pids")
    };
    let n = read(&procs, "cgroup.procs").lines().count();
    assert!(
        (40..=50).contains(&n),
        "{n} processes in the container's cgroup"
    );
    env.engine.remove(&id, true).unwrap();
}

#[test]
fn stats_read_the_cgroup() {
    let env = Env::new();
    let id = detached(&env, |o| o.memory = Some("32m".into()));
    let s = env.engine.stats_sample(&id).unwrap();
    assert!(s.running);
    assert_eq!(s.memory_limit, 32 << 20, "{s:?}");
    assert!(s.memory_usage > 0, "{s:?}");
    assert!(s.pids >= 1, "{s:?}");
    // Docker's stats JSON of the same sample (the API's shape).
    let d = serde_json::to_value(s.to_docker(None)).unwrap();
    assert_eq!(d["memory_stats"]["limit"], 32 << 20, "{d}");
    assert!(
        d["memory_stats"]["usage"].as_u64().unwrap() >= s.memory_usage,
        "{d}"
    );
    assert!(
        d["cpu_stats"]["cpu_usage"]["total_usage"].as_u64().unwrap() > 0,
        "{d}"
    );
    assert_eq!(d["pids_stats"]["current"], s.pids, "{d}");
    assert!(d["read"].as_str().unwrap().ends_with('Z'), "{d}");
    // CPU time grows while the container works.
    let x = engine::ExecOptions {
        cmd: vec![
            "sh".into(),
            "-c".into(),
            "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done".into(),
        ],
        ..Default::default()
    };
    env.engine.exec(&id, &x, Default::default()).unwrap();
    let s2 = env.engine.stats_sample(&id).unwrap();
    assert!(s2.cpu_total_ns > s.cpu_total_ns, "{s:?} -> {s2:?}");
    env.engine.stop(&id, Some(1)).unwrap();
    let s3 = env.engine.stats_sample(&id).unwrap();
    assert!(!s3.running && s3.memory_usage == 0, "{s3:?}");
}

#[test]
fn pause_freezes_the_cgroup_and_unpause_thaws_it() {
    let env = Env::new();
    let id = detached(&env, |o| {
        o.cmd = vec![
            "sh".into(),
            "-c".into(),
            "while true; do date +%s%N; sleep 0.05; done".into(),
        ];
    });
    let p = pid(&env, &id);
    env.engine.pause(&id).unwrap();
    let (_, st) = env.engine.container(&id).unwrap();
    assert_eq!(st.status, engine::Status::Paused);
    let frozen = || {
        if v2() {
            read(&cgroup_of(p, ""), "cgroup.events").contains("frozen 1")
        } else {
            read(&cgroup_of(p, "freezer"), "freezer.state") == "FROZEN"
        }
    };
    assert!(until(Duration::from_secs(5), frozen), "not frozen");
    // Nothing runs: the log does not grow while paused.
    let before = env.logs(&id).lines().count();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(env.logs(&id).lines().count(), before);
    // exec into a paused container is refused, as docker.
    let x = engine::ExecOptions {
        cmd: vec!["true".into()],
        ..Default::default()
    };
    let e = env.engine.exec(&id, &x, Default::default()).unwrap_err();
    assert!(e.to_string().contains("paused"), "{e}");
    env.engine.unpause(&id).unwrap();
    assert!(until(Duration::from_secs(5), || !frozen()), "still frozen");
    assert!(until(Duration::from_secs(5), || env
        .logs(&id)
        .lines()
        .count()
        > before));
    let (_, st) = env.engine.container(&id).unwrap();
    assert_eq!(st.status, engine::Status::Running);
    // A paused container is stopped (thawed, then killed), as docker.
    env.engine.pause(&id).unwrap();
    env.engine.stop(&id, Some(1)).unwrap();
    let (_, st) = env.engine.container(&id).unwrap();
    assert!(!st.running(), "{st:?}");
}

/// `--device HOST:CONTAINER:PERMS` is the device's access in the cgroup
/// (v1 devices controller or the v2 eBPF filter): read-only refuses a
/// write, as docker. /dev/kmsg because it is not one of the standard
/// nodes every container may write (/dev/null is, in docker too).
#[test]
fn device_permissions_reach_the_cgroup() {
    let env = Env::new();
    let write = |perms: &str| {
        let mut o = env.opts(&["sh", "-c", "(echo berth-test > /dev/k) 2>&1; echo rc=$?"]);
        o.network = Some("none".into());
        o.devices = vec![format!("/dev/kmsg:/dev/k:{perms}")];
        let (code, out, err) = env.run(&o);
        assert_eq!(code, 0, "{out} {err}");
        out
    };
    let out = write("r");
    assert!(out.contains("Operation not permitted"), "{out}");
    assert!(out.ends_with("rc=1\n"), "{out}");
    assert_eq!(write("rw"), "rc=0\n");
}

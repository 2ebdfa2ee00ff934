//! Cgroups: limits from config.json, update, pause/resume, ps, events,
//! and removal on delete. On a v1 or hybrid host the limits are read from
//! the v1 hierarchies under /sys/fs/cgroup/<controller>; on a pure cgroup v2
//! host (tests/vm/run-cgroup2.sh) from the cgroup2 files.

mod common;
use common::*;
use serde_json::{json, Value};

fn read(p: std::path::PathBuf) -> String {
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

/// The memory limit file: memory.limit_in_bytes (v1) or memory.max (v2).
fn memory_limit() -> &'static str {
    if cgroup_v2() {
        "memory.max"
    } else {
        "memory.limit_in_bytes"
    }
}

/// The cpu file and value that cpu.shares `shares` (256, 512) is written as:
/// cpu.shares itself on v1, cpu.weight (crun's conversion) on v2.
fn cpu_shares(shares: u64) -> (&'static str, String) {
    if !cgroup_v2() {
        return ("cpu.shares", shares.to_string());
    }
    let weight = match shares {
        256 => 35,
        512 => 59,
        _ => panic!("no cpu.weight known for shares {shares}"),
    };
    ("cpu.weight", weight.to_string())
}

fn sleeping_bundle(resources: Value) -> Bundle {
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    b.edit(|c| {
        let devs = c["linux"]["resources"]["devices"].clone();
        c["linux"]["resources"] = resources;
        c["linux"]["resources"]["devices"] = devs;
    });
    b
}

#[test]
fn limits_from_config_reach_the_host_cgroup() {
    let rt = Runtime::new();
    let b = sleeping_bundle(json!({
        "memory": {"limit": 134217728},
        "pids": {"limit": 100},
        "cpu": {"shares": 512}
    }));
    let id = unique_id("cglim");
    rt.run_detached(&b, &id).ok();
    let path = format!("/{id}");
    assert_eq!(
        read(cgroup_dir("memory", &path).join(memory_limit())),
        "134217728"
    );
    assert_eq!(read(cgroup_dir("pids", &path).join("pids.max")), "100");
    let (file, want) = cpu_shares(512);
    assert_eq!(read(cgroup_dir("cpu", &path).join(file)), want);
    let pid = rt.pid(&id);
    let procs = read(cgroup_dir("memory", &path).join("cgroup.procs"));
    assert!(procs.lines().any(|l| l == pid.to_string()), "{procs}");
    rt.delete_force(&id).ok();
    assert!(
        leftover_cgroups(&id).is_empty(),
        "{:?}",
        leftover_cgroups(&id)
    );
}

#[test]
fn pids_limit_is_enforced() {
    // init stays (a failed fork makes busybox sh exit, and an exited init
    // empties the cgroup); an exec'd shell forks until the limit refuses.
    let rt = Runtime::new();
    let b = sleeping_bundle(json!({"pids": {"limit": 3}}));
    let id = unique_id("pidsmax");
    rt.run_detached(&b, &id).ok();
    let path = format!("/{id}");
    assert_eq!(read(cgroup_dir("pids", &path).join("pids.max")), "3");
    let o = rt.exec(
        &id,
        &[
            "sh",
            "-c",
            "for i in 1 2 3 4 5 6; do sleep 100 & done; wait",
        ],
    );
    o.fails();
    let cur: i32 = read(cgroup_dir("pids", &path).join("pids.current"))
        .parse()
        .unwrap();
    assert!((1..=3).contains(&cur), "pids.current={cur}");
    let events = read(cgroup_dir("pids", &path).join("pids.events"));
    assert_ne!(events, "max 0", "no fork was refused: {events}");
    assert_eq!(rt.status(&id), "running");
}

#[test]
fn custom_cgroups_path() {
    let rt = Runtime::new();
    let mut b = sleeping_bundle(json!({"memory": {"limit": 100663296}}));
    let id = unique_id("cgpath");
    let cgp = format!("/berth-tests/{id}");
    b.edit(|c| c["linux"]["cgroupsPath"] = json!(cgp));
    rt.run_detached(&b, &id).ok();
    assert_eq!(
        read(cgroup_dir("memory", &cgp).join(memory_limit())),
        "100663296"
    );
    assert!(!cgroup_dir("memory", &format!("/{id}")).exists());
    rt.delete_force(&id).ok();
    assert!(!cgroup_dir("memory", &cgp).exists());
    assert!(!cgroup_dir("pids", &cgp).exists());
    let _ = std::fs::remove_dir(cgroup_dir("memory", "/berth-tests"));
    let _ = std::fs::remove_dir(cgroup_dir("pids", "/berth-tests"));
}

#[test]
fn update_memory_flag() {
    let rt = Runtime::new();
    let b = sleeping_bundle(json!({"memory": {"limit": 134217728}, "pids": {"limit": 100}}));
    let id = unique_id("upd");
    rt.run_detached(&b, &id).ok();
    rt.cmd(&["update", "--memory", "64m", &id]).ok();
    let path = format!("/{id}");
    assert_eq!(
        read(cgroup_dir("memory", &path).join(memory_limit())),
        "67108864"
    );
    // Other limits kept.
    assert_eq!(read(cgroup_dir("pids", &path).join("pids.max")), "100");
    rt.cmd(&["update", "--pids-limit", "42", &id]).ok();
    assert_eq!(read(cgroup_dir("pids", &path).join("pids.max")), "42");
    assert_eq!(
        read(cgroup_dir("memory", &path).join(memory_limit())),
        "67108864"
    );
    assert_eq!(rt.status(&id), "running");
}

#[test]
fn update_resources_file() {
    let rt = Runtime::new();
    let b = sleeping_bundle(json!({"memory": {"limit": 134217728}}));
    let id = unique_id("updf");
    rt.run_detached(&b, &id).ok();
    let f = rt.scratch.path().join("res.json");
    std::fs::write(
        &f,
        json!({"memory": {"limit": 50331648}, "pids": {"limit": 77}, "cpu": {"shares": 256}})
            .to_string(),
    )
    .unwrap();
    rt.cmd(&["update", "--resources", f.to_str().unwrap(), &id])
        .ok();
    let path = format!("/{id}");
    assert_eq!(
        read(cgroup_dir("memory", &path).join(memory_limit())),
        "50331648"
    );
    assert_eq!(read(cgroup_dir("pids", &path).join("pids.max")), "77");
    let (file, want) = cpu_shares(256);
    assert_eq!(read(cgroup_dir("cpu", &path).join(file)), want);

    // Invalid JSON fails and changes nothing.
    std::fs::write(&f, "{not json").unwrap();
    let o = rt.cmd(&["update", "--resources", f.to_str().unwrap(), &id]);
    o.fails();
    assert_eq!(read(cgroup_dir("pids", &path).join("pids.max")), "77");
}

#[test]
fn update_stopped_container_fails() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.args(&["true"]);
    let id = unique_id("updst");
    rt.run_args(&b, &id, &["--keep"]).ok();
    let o = rt.cmd(&["update", "--memory", "64m", &id]);
    assert!(o.fails().contains("not running"), "{o}");
}

#[test]
fn pause_and_resume() {
    let rt = Runtime::new();
    let b = sleeping_bundle(json!({}));
    let id = unique_id("pause");
    rt.run_detached(&b, &id).ok();
    let pid = rt.pid(&id);
    rt.cmd(&["pause", &id]).ok();
    assert_eq!(rt.status(&id), "paused");
    let cg = cgroup_dir("freezer", &format!("/{id}"));
    if cgroup_v2() {
        // cgroup.freeze; the tasks sleep in the freezer trap (state S).
        assert_eq!(read(cg.join("cgroup.freeze")), "1");
        let events = read(cg.join("cgroup.events"));
        assert!(events.lines().any(|l| l == "frozen 1"), "{events}");
    } else {
        assert_eq!(read(cg.join("freezer.state")), "FROZEN");
        let st = read(std::path::PathBuf::from(format!("/proc/{pid}/stat")));
        let state = st[st.rfind(')').unwrap() + 2..].chars().next().unwrap();
        assert_eq!(state, 'D', "frozen task state: {st}");
    }
    // pausing twice fails; exec in a paused container fails
    assert!(rt.cmd(&["pause", &id]).fails().contains("paused"));
    let o = rt.exec(&id, &["true"]);
    o.fails();
    rt.cmd(&["resume", &id]).ok();
    assert_eq!(rt.status(&id), "running");
    if cgroup_v2() {
        assert_eq!(read(cg.join("cgroup.freeze")), "0");
        let events = read(cg.join("cgroup.events"));
        assert!(events.lines().any(|l| l == "frozen 0"), "{events}");
    } else {
        assert_eq!(read(cg.join("freezer.state")), "THAWED");
    }
    assert!(rt.cmd(&["resume", &id]).fails().contains("not paused"));
    // A paused container can be deleted with -f.
    rt.cmd(&["pause", &id]).ok();
    rt.delete_force(&id).ok();
    assert!(wait_until(SHORT, || !pid_alive(pid)));
    assert!(
        leftover_cgroups(&id).is_empty(),
        "{:?}",
        leftover_cgroups(&id)
    );
}

#[test]
fn ps_lists_container_pids() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.sh("sleep 1000 & wait");
    let id = unique_id("ps");
    rt.run_detached(&b, &id).ok();
    let pid = rt.pid(&id);
    let mut pids: Vec<i32> = vec![];
    assert!(
        wait_until(SHORT, || {
            let o = rt.cmd(&["ps", "--format", "json", &id]);
            pids = serde_json::from_str(&o.stdout).unwrap_or_default();
            pids.len() == 2
        }),
        "{pids:?}"
    );
    assert!(pids.contains(&pid), "{pids:?} lacks init {pid}");
    let me = std::process::id() as i32;
    assert!(!pids.contains(&me));
    let t = rt.cmd(&["ps", &id]);
    t.ok();
    assert!(t.stdout.lines().next().unwrap().contains("PID"), "{t}");
    assert_eq!(t.stdout.lines().count(), 3, "{t}");
}

#[test]
fn events_stats_prints_json() {
    let rt = Runtime::new();
    let b = sleeping_bundle(json!({"memory": {"limit": 134217728}}));
    let id = unique_id("events");
    rt.run_detached(&b, &id).ok();
    let o = rt.cmd(&["events", "--stats", &id]);
    o.ok();
    let v: Value = serde_json::from_str(o.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {o}"));
    assert_eq!(v["type"], "stats", "{v}");
    assert_eq!(v["id"], id.as_str());
    assert!(v["data"].is_object(), "{v}");
    let s = v.to_string();
    assert!(s.contains("memory") && s.contains("pids"), "{v}");
    assert!(
        v["data"]["pids"]["current"].as_u64().unwrap_or(0) >= 1,
        "{v}"
    );
}

#[test]
fn exec_process_joins_the_cgroup() {
    let rt = Runtime::new();
    let b = sleeping_bundle(json!({}));
    let id = unique_id("execcg");
    rt.run_detached(&b, &id).ok();
    // The memory line of /proc/self/cgroup (v1), the "0::" line on v2.
    let pat = if cgroup_v2() { "^0::" } else { "memory" };
    let o = rt.exec(
        &id,
        &["sh", "-c", &format!("cat /proc/self/cgroup | grep '{pat}'")],
    );
    o.ok();
    assert!(o.stdout.trim().ends_with(":/"), "{o}");
    // From the host: the exec'd process is in the container's memory cgroup.
    let pf = rt.scratch.path().join("exec.pid");
    rt.cmd(&[
        "exec",
        "-d",
        "--pid-file",
        pf.to_str().unwrap(),
        &id,
        "sleep",
        "100",
    ])
    .ok();
    let p = read(pf);
    let procs = read(cgroup_dir("memory", &format!("/{id}")).join("cgroup.procs"));
    assert!(procs.lines().any(|l| l == p), "{p} not in {procs}");
}

#[test]
fn cgroups_removed_after_delete() {
    let rt = Runtime::new();
    let b = sleeping_bundle(json!({"memory": {"limit": 134217728}}));
    let id = unique_id("cgdel");
    rt.create(&b, &id).ok();
    assert!(cgroup_dir("memory", &format!("/{id}")).exists());
    rt.start(&id).ok();
    rt.kill(&id, "KILL").ok();
    assert_eq!(rt.wait_status(&id, "stopped", SHORT), "stopped");
    rt.delete(&id).ok();
    assert!(
        leftover_cgroups(&id).is_empty(),
        "{:?}",
        leftover_cgroups(&id)
    );
}

#[test]
fn cpu_quota_cpuset_and_memory_reservation() {
    // cpu.max / cpuset.cpus / memory.low on cgroup2; the cfs, cpuset and
    // soft-limit files on v1. `update` changes the quota and keeps the rest.
    let rt = Runtime::new();
    let b = sleeping_bundle(json!({
        "cpu": {"quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
        "memory": {"limit": 134217728, "reservation": 67108864}
    }));
    let id = unique_id("cgcpu");
    rt.run_detached(&b, &id).ok();
    let path = format!("/{id}");
    let quota = |want_quota: &str| {
        if cgroup_v2() {
            assert_eq!(
                read(cgroup_dir("cpu", &path).join("cpu.max")),
                format!("{want_quota} 100000")
            );
        } else {
            let cpu = cgroup_dir("cpu", &path);
            assert_eq!(read(cpu.join("cpu.cfs_quota_us")), want_quota);
            assert_eq!(read(cpu.join("cpu.cfs_period_us")), "100000");
        }
    };
    quota("50000");
    assert_eq!(read(cgroup_dir("cpuset", &path).join("cpuset.cpus")), "0");
    assert_eq!(read(cgroup_dir("cpuset", &path).join("cpuset.mems")), "0");
    let low = if cgroup_v2() {
        "memory.low"
    } else {
        "memory.soft_limit_in_bytes"
    };
    assert_eq!(read(cgroup_dir("memory", &path).join(low)), "67108864");
    rt.cmd(&["update", "--cpu-quota", "20000", &id]).ok();
    quota("20000");
    assert_eq!(read(cgroup_dir("cpuset", &path).join("cpuset.cpus")), "0");
    assert_eq!(
        read(cgroup_dir("memory", &path).join(memory_limit())),
        "134217728"
    );
    rt.delete_force(&id).ok();
    assert!(
        leftover_cgroups(&id).is_empty(),
        "{:?}",
        leftover_cgroups(&id)
    );
}

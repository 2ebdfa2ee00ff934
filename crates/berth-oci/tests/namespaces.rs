//! Namespaces: new ones of each type, user namespace id mappings, and
//! joining an existing namespace by path.

mod common;
use common::*;
use serde_json::json;

fn host_ns(name: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{name}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn run_sh(b: &mut Bundle, script: &str) -> Out {
    let rt = Runtime::new();
    b.sh(script);
    rt.run(b, &unique_id("ns"))
}

#[test]
fn pid_namespace_makes_init_pid_1() {
    let mut b = Bundle::new();
    let o = run_sh(&mut b, "echo $$; readlink /proc/self/ns/pid");
    o.ok();
    let mut l = o.stdout.lines();
    assert_eq!(l.next(), Some("1"), "{o}");
    assert_ne!(l.next().unwrap(), host_ns("pid"));
}

#[test]
fn without_pid_namespace_init_sees_host_pids() {
    let mut b = Bundle::new();
    b.remove_namespace("pid");
    let o = run_sh(&mut b, "echo $$; readlink /proc/self/ns/pid");
    o.ok();
    let mut l = o.stdout.lines();
    assert_ne!(l.next(), Some("1"), "{o}");
    assert_eq!(l.next().unwrap(), host_ns("pid"));
}

#[test]
fn uts_ipc_net_mnt_cgroup_are_new() {
    let mut b = Bundle::new();
    let o = run_sh(
        &mut b,
        "for n in uts ipc net mnt cgroup; do readlink /proc/self/ns/$n; done",
    );
    o.ok();
    let got: Vec<&str> = o.stdout.lines().collect();
    for (i, n) in ["uts", "ipc", "net", "mnt", "cgroup"].iter().enumerate() {
        assert_ne!(got[i], host_ns(n), "{n} namespace is the host's: {o}");
    }
}

#[test]
fn net_namespace_has_only_lo() {
    let mut b = Bundle::new();
    let o = run_sh(&mut b, "tail -n +3 /proc/net/dev | cut -d: -f1 | xargs");
    o.ok();
    assert_eq!(o.stdout.trim(), "lo", "{o}");
}

#[test]
fn ipc_namespace_is_isolated() {
    let mut b = Bundle::new();
    let o = run_sh(&mut b, "cat /proc/sysvipc/shm | wc -l");
    o.ok();
    assert_eq!(o.stdout.trim(), "1", "only the header line: {o}");
}

#[test]
fn cgroup_namespace_root_is_slash() {
    let mut b = Bundle::new();
    let o = run_sh(&mut b, "cat /proc/self/cgroup");
    o.ok();
    for l in o.stdout.lines() {
        assert!(l.ends_with(":/"), "{l} in {o}");
    }
}

#[test]
fn without_cgroup_namespace_paths_show_the_container_cgroup() {
    let mut b = Bundle::new();
    b.remove_namespace("cgroup");
    // The memory hierarchy's line (v1), the unified one on a pure v2 host.
    b.sh(if cgroup_v2() {
        "grep '^0::' /proc/self/cgroup"
    } else {
        "grep memory /proc/self/cgroup"
    });
    let rt = Runtime::new();
    let id = unique_id("nocgns");
    let o = rt.run(&b, &id);
    o.ok();
    assert!(o.stdout.trim().ends_with(&format!(":/{id}")), "{o}");
}

#[test]
fn user_namespace_maps_root_to_100000() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    });
    b.sh("id; cat /proc/self/uid_map; sleep 1000");
    let id = unique_id("userns");
    let created = rt.create(&b, &id);
    created.ok();
    rt.start(&id).ok();
    assert_eq!(rt.wait_status(&id, "running", SHORT), "running");
    let pid = rt.pid(&id);
    assert!(wait_until(SHORT, || created.stdout_now().lines().count() >= 2));
    let out = created.stdout_now();
    let mut l = out.lines();
    assert!(
        l.next().unwrap().starts_with("uid=0(root) gid=0(root)"),
        "{out}"
    );
    let map: Vec<&str> = l.next().unwrap().split_whitespace().collect();
    assert_eq!(map, vec!["0", "100000", "65536"], "{out}");
    assert_eq!(
        proc_status_field(pid, "Uid").unwrap(),
        "100000\t100000\t100000\t100000"
    );
    assert_eq!(
        proc_status_field(pid, "Gid").unwrap(),
        "100000\t100000\t100000\t100000"
    );
    let ns = std::fs::read_link(format!("/proc/{pid}/ns/user")).unwrap();
    assert_ne!(ns.to_string_lossy(), host_ns("user"));
}

#[test]
fn user_namespace_with_non_root_user() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    });
    b.sh("id -u; id -g; sleep 1000");
    let id = unique_id("userns2");
    let created = rt.create(&b, &id);
    created.ok();
    rt.start(&id).ok();
    assert_eq!(rt.wait_status(&id, "running", SHORT), "running");
    let pid = rt.pid(&id);
    assert!(wait_until(SHORT, || created.stdout_now().lines().count() >= 2));
    assert_eq!(created.stdout_now(), "1000\n1000\n");
    assert_eq!(
        proc_status_field(pid, "Uid").unwrap(),
        "201000\t201000\t201000\t201000"
    );
}

#[test]
fn join_existing_net_namespace_by_path() {
    let rt = Runtime::new();
    let mut a = Bundle::new();
    a.args(&["sleep", "1000"]);
    let ida = unique_id("nsA");
    rt.run_detached(&a, &ida).ok();
    let pa = rt.pid(&ida);
    let a_net = std::fs::read_link(format!("/proc/{pa}/ns/net")).unwrap();

    let mut b = Bundle::new();
    b.set_namespace(json!({"type": "network", "path": format!("/proc/{pa}/ns/net")}));
    b.set_namespace(json!({"type": "uts", "path": format!("/proc/{pa}/ns/uts")}));
    b.edit(|c| {
        c.as_object_mut().unwrap().remove("hostname");
    });
    b.sh("readlink /proc/self/ns/net; readlink /proc/self/ns/uts; hostname");
    let idb = unique_id("nsB");
    let o = rt.run(&b, &idb);
    o.ok();
    let mut l = o.stdout.lines();
    assert_eq!(l.next().unwrap(), a_net.to_string_lossy(), "{o}");
    let a_uts = std::fs::read_link(format!("/proc/{pa}/ns/uts")).unwrap();
    assert_eq!(l.next().unwrap(), a_uts.to_string_lossy(), "{o}");
    assert_eq!(l.next(), Some("berth"), "A's hostname: {o}");
    // A is unharmed.
    assert_eq!(rt.status(&ida), "running");
}

#[test]
fn join_existing_pid_namespace_by_path() {
    let rt = Runtime::new();
    let mut a = Bundle::new();
    a.args(&["sleep", "1000"]);
    let ida = unique_id("pidA");
    rt.run_detached(&a, &ida).ok();
    let pa = rt.pid(&ida);
    let mut b = Bundle::new();
    b.set_namespace(json!({"type": "pid", "path": format!("/proc/{pa}/ns/pid")}));
    b.sh("echo $$; readlink /proc/self/ns/pid");
    let o = rt.run(&b, &unique_id("pidB"));
    o.ok();
    let mut l = o.stdout.lines();
    assert_ne!(l.next(), Some("1"), "{o}");
    let a_pid = std::fs::read_link(format!("/proc/{pa}/ns/pid")).unwrap();
    assert_eq!(l.next().unwrap(), a_pid.to_string_lossy(), "{o}");
}

#[test]
fn join_nonexistent_namespace_path_fails_cleanly() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.set_namespace(json!({"type": "network", "path": "/proc/999999999/ns/net"}));
    let id = unique_id("nsbad");
    let o = rt.create(&b, &id);
    let e = o.fails();
    assert!(e.contains("/proc/999999999/ns/net"), "{o}");
    assert!(!rt.state_dir(&id).exists());
    assert!(
        leftover_cgroups(&id).is_empty(),
        "{:?}",
        leftover_cgroups(&id)
    );
}

#[test]
fn host_namespaces_when_not_listed() {
    let mut b = Bundle::new();
    b.remove_namespace("network");
    b.remove_namespace("ipc");
    let o = run_sh(
        &mut b,
        "readlink /proc/self/ns/net; readlink /proc/self/ns/ipc",
    );
    o.ok();
    let mut l = o.stdout.lines();
    assert_eq!(l.next().unwrap(), host_ns("net"));
    assert_eq!(l.next().unwrap(), host_ns("ipc"));
}

#[test]
fn new_network_namespace_has_loopback_up() {
    // As runc: `lo` is up (IFF_UP|IFF_LOOPBACK = 0x9) and reachable.
    let rt = Runtime::new();
    let mut b = Bundle::new();
    // (retried until the listener is up, then waited for: no timing)
    b.sh(
        "cat /sys/class/net/lo/flags; nc -l -p 8080 > /tmp/got & l=$!; \
          for i in $(seq 100); do echo hello | nc 127.0.0.1 8080 && break; sleep 0.05; done; \
          wait $l; cat /tmp/got",
    );
    b.edit(|c| c["root"]["readonly"] = serde_json::json!(false));
    let o = rt.run(&b, &unique_id("lo"));
    o.ok();
    assert_eq!(o.stdout, "0x9\nhello\n", "{o}");
}

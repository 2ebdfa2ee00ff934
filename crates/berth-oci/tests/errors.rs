//! Bad input: each case gives a one-line error on stderr, a non-zero exit,
//! and leaves no state dir and no cgroup behind.

mod common;
use common::*;
use serde_json::json;

/// Asserts `create` fails with a one-line error containing every `needle`,
/// and that nothing is left behind.
#[track_caller]
fn create_fails_cleanly(rt: &Runtime, b: &Bundle, needles: &[&str]) -> String {
    let id = unique_id("bad");
    let o = rt.create(b, &id);
    let e = o.fails().to_string();
    assert_eq!(e.trim().lines().count(), 1, "not a one-line error: {o}");
    assert!(e.starts_with("berth-oci: "), "{o}");
    for n in needles {
        assert!(e.contains(n), "error lacks {n:?}: {o}");
    }
    assert!(!rt.state_dir(&id).exists(), "state dir left behind: {o}");
    assert!(
        leftover_cgroups(&id).is_empty(),
        "cgroups left: {:?}",
        leftover_cgroups(&id)
    );
    assert_eq!(rt.cmd(&["list", "-q"]).stdout.trim(), "");
    // `run` fails the same way.
    let o = rt.run(b, &id);
    o.fails();
    assert!(!rt.state_dir(&id).exists(), "run left a state dir: {o}");
    assert!(
        leftover_cgroups(&id).is_empty(),
        "run left cgroups: {:?}",
        leftover_cgroups(&id)
    );
    e
}

#[test]
fn config_not_json() {
    let rt = Runtime::new();
    let b = Bundle::new();
    std::fs::write(b.path().join("config.json"), "{ this is not json").unwrap();
    create_fails_cleanly(&rt, &b, &["config.json"]);
}

#[test]
fn missing_config() {
    let rt = Runtime::new();
    let b = Bundle::new();
    std::fs::remove_file(b.path().join("config.json")).unwrap();
    create_fails_cleanly(&rt, &b, &["config.json"]);
}

#[test]
fn wrong_type_names_the_field() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.edit(|c| c["process"]["user"]["uid"] = json!("root"));
    create_fails_cleanly(&rt, &b, &["process.user.uid"]);
    let mut b = Bundle::new();
    b.edit(|c| c["process"]["args"] = json!("sh -c true"));
    create_fails_cleanly(&rt, &b, &["process.args"]);
    let mut b = Bundle::new();
    b.edit(|c| c["linux"]["resources"]["memory"] = json!({"limit": "lots"}));
    create_fails_cleanly(&rt, &b, &["linux.resources.memory.limit"]);
}

#[test]
fn missing_rootfs() {
    let rt = Runtime::new();
    let b = Bundle::new();
    std::fs::remove_dir_all(b.rootfs()).unwrap();
    create_fails_cleanly(&rt, &b, &["root.path"]);
}

#[test]
fn missing_bundle() {
    let rt = Runtime::new();
    let id = unique_id("nobundle");
    let o = rt.cmd(&["create", "--bundle", "/nonexistent/bundle", &id]);
    let e = o.fails();
    assert!(e.contains("/nonexistent/bundle"), "{o}");
    assert!(!rt.state_dir(&id).exists());
}

#[test]
fn unknown_capability() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.edit(|c| {
        c["process"]["capabilities"]["bounding"]
            .as_array_mut()
            .unwrap()
            .push(json!("CAP_TEST"));
    });
    create_fails_cleanly(&rt, &b, &["CAP_TEST"]);
}

#[test]
fn unavailable_capability_fails_at_create() {
    // CAP_SYS_RESOURCE is not in this host's bounding set: the container
    // can never get it. runc applies capabilities before it waits for
    // `start`, so `create` fails; here it must not be reported as created
    // (and then die with 127 after `start` returned 0).
    let bnd = proc_status_field(std::process::id() as i32, "CapBnd").unwrap_or_default();
    if u64::from_str_radix(&bnd, 16).is_ok_and(|b| b & (1 << 24) != 0) {
        // (E.g. in tests/vm/run-cgroup2.sh's VM.)
        common::skip_host("CAP_SYS_RESOURCE is in this host's bounding set");
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    b.edit(|c| {
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push(json!("CAP_SYS_RESOURCE"));
        }
    });
    let e = create_fails_cleanly(&rt, &b, &["process.capabilities"]);
    let _ = e;
}

#[test]
fn relative_mount_destination() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.add_mount(json!({"destination": "relative/dir", "type": "tmpfs", "source": "tmpfs"}));
    create_fails_cleanly(&rt, &b, &["destination", "relative/dir"]);
}

#[test]
fn bind_mount_missing_source() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.add_mount(json!({"destination": "/data", "type": "bind", "source": "/nonexistent/src", "options": ["bind"]}));
    create_fails_cleanly(&rt, &b, &["/nonexistent/src"]);
}

#[test]
fn unknown_mount_type() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.add_mount(json!({"destination": "/x", "type": "nosuchfs", "source": "none"}));
    create_fails_cleanly(&rt, &b, &["/x"]);
}

#[test]
fn bad_oci_version_and_empty_args() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.edit(|c| c["ociVersion"] = json!("0.1.0"));
    create_fails_cleanly(&rt, &b, &["ociVersion"]);
    let mut b = Bundle::new();
    b.edit(|c| c["process"]["args"] = json!([]));
    create_fails_cleanly(&rt, &b, &["process.args"]);
}

#[test]
fn hostname_without_uts_namespace() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.remove_namespace("uts");
    create_fails_cleanly(&rt, &b, &["hostname"]);
}

#[test]
fn sysctl_without_namespace() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.remove_namespace("network");
    b.edit(|c| c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"}));
    create_fails_cleanly(&rt, &b, &["net.ipv4.ip_forward"]);
}

#[test]
fn invalid_resources_value() {
    // The kernel refuses a memory limit below what is in use: create fails
    // and the cgroup it made is removed.
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.edit(|c| c["linux"]["resources"]["cpu"] = json!({"cpus": "9999"}));
    create_fails_cleanly(&rt, &b, &["cpu"]);
}

#[test]
fn checkpoint_is_unsupported() {
    let rt = Runtime::new();
    let o = rt.cmd(&["checkpoint", "whatever"]);
    assert!(o.fails().contains("not supported"), "{o}");
}

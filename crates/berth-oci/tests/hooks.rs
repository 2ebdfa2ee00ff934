//! OCI hooks: order, the state on stdin, failures and timeouts.

mod common;
use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A hook that appends "<name> <state json>" to `log`.
fn log_hook(name: &str, log: &std::path::Path) -> Value {
    json!({
        "path": "/bin/sh",
        "args": ["sh", "-c", format!("printf '%s %s\\n' \"$0\" \"$(cat)\" >> {}", log.display()), name]
    })
}

#[test]
fn all_hooks_run_in_order_with_state() {
    let rt = Runtime::new();
    let logdir = tempfile::tempdir().unwrap();
    let log = logdir.path().join("log");
    let mut b = Bundle::new();
    b.args(&["true"]);
    b.edit(|c| {
        c["hooks"] = json!({
            "prestart": [log_hook("prestart", &log)],
            "createRuntime": [log_hook("createRuntime", &log)],
            "createContainer": [log_hook("createContainer", &log)],
            "startContainer": [log_hook("startContainer", &log)],
            "poststart": [log_hook("poststart", &log)],
            "poststop": [log_hook("poststop", &log)]
        });
        // startContainer runs inside the container: make the log reachable
        // there at the same path.
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": logdir.path(), "type": "bind", "source": logdir.path(), "options": ["bind"]
        }));
    });
    let id = unique_id("hooks");
    rt.create(&b, &id).ok();
    let pid = rt.pid(&id);
    let after_create = std::fs::read_to_string(&log).unwrap_or_default();
    let names: Vec<&str> = after_create
        .lines()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["prestart", "createRuntime", "createContainer"],
        "{after_create}"
    );
    rt.start(&id).ok();
    assert_eq!(rt.wait_status(&id, "stopped", SHORT), "stopped");
    rt.delete(&id).ok();
    let all = std::fs::read_to_string(&log).unwrap();
    let names: Vec<&str> = all.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(
        names,
        vec![
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop"
        ],
        "{all}"
    );
    let bundle = std::fs::canonicalize(b.path()).unwrap();
    for l in all.lines() {
        let (name, js) = l.split_once(' ').unwrap();
        let v: Value =
            serde_json::from_str(js).unwrap_or_else(|e| panic!("{name}: bad state {e}: {js}"));
        assert_eq!(v["id"], id.as_str(), "{name}: {v}");
        assert_eq!(v["bundle"], bundle.to_str().unwrap(), "{name}: {v}");
        assert!(v["ociVersion"].is_string(), "{name}: {v}");
        let status = v["status"].as_str().unwrap_or("");
        match name {
            "prestart" | "createRuntime" | "createContainer" => {
                assert!(status == "created" || status == "creating", "{name}: {v}");
                assert_eq!(v["pid"], pid, "{name}: {v}");
            }
            "startContainer" | "poststart" => {
                assert!(status == "running" || status == "created", "{name}: {v}");
                assert_eq!(v["pid"], pid, "{name}: {v}");
            }
            "poststop" => assert_eq!(status, "stopped", "{v}"),
            _ => unreachable!(),
        }
    }
}

#[test]
fn hooks_get_their_env_and_args() {
    let rt = Runtime::new();
    let logdir = tempfile::tempdir().unwrap();
    let log = logdir.path().join("log");
    let mut b = Bundle::new();
    b.edit(|c| {
        c["hooks"] = json!({"prestart": [{
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("echo \"$FOO|$1|$HOME\" > {}", log.display()), "zero", "one"],
            "env": ["FOO=bar"]
        }]});
    });
    rt.run(&b, &unique_id("hookenv")).ok();
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "bar|one|\n");
}

#[test]
fn failing_prestart_hook_fails_create_and_leaves_nothing() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    b.edit(|c| {
        c["hooks"] = json!({"prestart": [
            {"path": "/bin/sh", "args": ["sh", "-c", "echo hook-said-no >&2; exit 3"]}
        ]});
    });
    let id = unique_id("hookfail");
    let o = rt.create(&b, &id);
    let e = o.fails();
    assert!(e.contains("prestart") && e.contains("hook-said-no"), "{o}");
    assert!(!rt.state_dir(&id).exists(), "state dir left");
    assert!(
        leftover_cgroups(&id).is_empty(),
        "{:?}",
        leftover_cgroups(&id)
    );
    assert_eq!(rt.cmd(&["list", "-q"]).stdout.trim(), "");
    // No container process survives: nothing runs `sleep 1000` from this rootfs.
    let rootfs = std::fs::canonicalize(b.rootfs()).unwrap();
    let survivors: Vec<_> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| std::fs::read_link(format!("/proc/{p}/root")).is_ok_and(|r| r == rootfs))
        .collect();
    assert!(survivors.is_empty(), "{survivors:?}");
}

#[test]
fn failing_create_runtime_and_create_container_hooks() {
    for kind in ["createRuntime", "createContainer"] {
        let rt = Runtime::new();
        let mut b = Bundle::new();
        b.edit(|c| {
            c["hooks"] = json!({kind: [{"path": "/bin/false"}]});
        });
        let id = unique_id("hookfail2");
        let o = rt.create(&b, &id);
        assert!(o.fails().contains(kind), "{o}");
        assert!(!rt.state_dir(&id).exists());
        assert!(
            leftover_cgroups(&id).is_empty(),
            "{:?}",
            leftover_cgroups(&id)
        );
    }
}

#[test]
fn hook_timeout() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.edit(|c| {
        c["hooks"] = json!({"createRuntime": [
            {"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}
        ]});
    });
    let id = unique_id("hooktimeout");
    let t = Instant::now();
    let o = rt.create(&b, &id);
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "timeout not honoured"
    );
    assert!(o.fails().contains("timed out"), "{o}");
    assert!(!rt.state_dir(&id).exists());
    assert!(
        leftover_cgroups(&id).is_empty(),
        "{:?}",
        leftover_cgroups(&id)
    );
}

#[test]
fn missing_hook_binary_fails_create() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.edit(|c| c["hooks"] = json!({"prestart": [{"path": "/nonexistent/hook"}]}));
    let id = unique_id("hookmissing");
    let o = rt.create(&b, &id);
    assert!(o.fails().contains("/nonexistent/hook"), "{o}");
    assert!(!rt.state_dir(&id).exists());
}

#[test]
fn failing_poststart_and_poststop_only_warn() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    b.edit(|c| {
        c["hooks"] = json!({
            "poststart": [{"path": "/bin/false"}],
            "poststop": [{"path": "/bin/false"}]
        });
    });
    let id = unique_id("hookwarn");
    rt.create(&b, &id).ok();
    let o = rt.start(&id);
    // The spec: a poststart failure is logged, the container keeps running.
    assert_eq!(rt.status(&id), "running", "{o}");
    let o = rt.delete_force(&id);
    o.ok();
    assert!(o.stderr.contains("poststop"), "a warning is expected: {o}");
    assert!(!rt.state_dir(&id).exists());
}

/// The runtime-tools `poststart` program: the process's first write comes
/// before the poststart hook's (start waits until the process first
/// sleeps or exits, briefly, before running the hooks). Repeated, as it
/// was a race.
#[test]
fn poststart_hook_runs_after_the_process_first_steps() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.sh("echo process >> /output");
    let out = b.rootfs().join("output");
    b.edit(|c| {
        c["root"]["readonly"] = json!(false);
        c["hooks"] = json!({"poststart": [{
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("echo hook >> {}", out.display())]
        }]});
    });
    for i in 0..15 {
        let _ = std::fs::remove_file(&out);
        let id = unique_id("poststart");
        rt.create(&b, &id).ok();
        rt.start(&id).ok();
        assert_eq!(rt.wait_status(&id, "stopped", SHORT), "stopped");
        rt.delete(&id).ok();
        let got = std::fs::read_to_string(&out).unwrap_or_default();
        assert_eq!(got, "process\nhook\n", "run {i}");
    }
    // A process that keeps running does not hold start up for long.
    b.args(&["sh", "-c", "while :; do :; done"]);
    let id = unique_id("poststart-busy");
    rt.create(&b, &id).ok();
    rt.start(&id).ok();
    assert_eq!(rt.status(&id), "running");
    rt.delete_force(&id).ok();
}

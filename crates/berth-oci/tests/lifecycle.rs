//! Container lifecycle: create, start, state, kill, delete, list, run.

mod common;
use common::*;
use serde_json::Value;

#[test]
fn create_start_kill_delete() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let id = unique_id("life");
    let pidfile = rt.scratch.path().join("pid");
    rt.create_args(&b, &id, &["--pid-file", pidfile.to_str().unwrap()])
        .ok();

    let st = rt.state(&id);
    assert_eq!(st["status"], "created", "{st}");
    assert_eq!(st["id"], id.as_str());
    let pid = st["pid"].as_i64().unwrap() as i32;
    assert!(pid > 0, "{st}");
    assert!(pid_alive(pid));
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap().trim(),
        pid.to_string(),
        "--pid-file must hold the state pid"
    );
    assert_eq!(
        Value::from(std::fs::canonicalize(b.path()).unwrap().to_str().unwrap()),
        st["bundle"]
    );
    assert!(st["ociVersion"].is_string());
    assert!(st["created"].as_str().unwrap_or("").ends_with('Z'), "{st}");

    rt.start(&id).ok();
    assert_eq!(rt.wait_status(&id, "running", SHORT), "running");
    assert_eq!(rt.pid(&id), pid);

    rt.kill(&id, "KILL").ok();
    assert_eq!(rt.wait_status(&id, "stopped", SHORT), "stopped");
    rt.delete(&id).ok();
    assert!(!rt.state_dir(&id).exists(), "state dir left after delete");
    let o = rt.cmd(&["state", &id]);
    assert!(o.fails().contains("does not exist"), "{o}");
}

#[test]
fn list_quiet_and_json() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let a = unique_id("lista");
    let c = unique_id("listb");
    rt.create(&b, &a).ok();
    rt.run_detached(&b, &c).ok();

    let q = rt.cmd(&["list", "-q"]);
    q.ok();
    let mut ids: Vec<&str> = q.stdout.lines().collect();
    ids.sort();
    let mut want = vec![a.as_str(), c.as_str()];
    want.sort();
    assert_eq!(ids, want, "{q}");

    let j = rt.cmd(&["list", "--format", "json"]);
    j.ok();
    let v: Value = serde_json::from_str(&j.stdout).unwrap_or_else(|e| panic!("{e}: {j}"));
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 2, "{v}");
    let find = |id: &str| arr.iter().find(|x| x["id"] == id).cloned().unwrap();
    assert_eq!(find(&a)["status"], "created");
    assert_eq!(find(&c)["status"], "running");
    assert!(find(&c)["pid"].as_i64().unwrap() > 0);

    let t = rt.cmd(&["list"]);
    t.ok();
    assert!(t.stdout.starts_with("ID"), "{t}");
    assert!(t.stdout.contains(&a) && t.stdout.contains(&c));
}

#[test]
fn list_empty_root() {
    let rt = Runtime::new();
    let o = rt.cmd(&["list", "-q"]);
    o.ok();
    assert_eq!(o.stdout.trim(), "");
    let o = rt.cmd(&["list", "--format", "json"]);
    o.ok();
    let v: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v, serde_json::json!([]));
}

#[test]
fn run_exit_status_is_the_containers() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.sh("echo hello; exit 7");
    let id = unique_id("exit7");
    let o = rt.run(&b, &id);
    assert_eq!(o.code, 7, "{o}");
    assert_eq!(o.stdout, "hello\n");
    // Without --keep the container is gone.
    assert!(!rt.state_dir(&id).exists());
    assert!(
        leftover_cgroups(&id).is_empty(),
        "{:?}",
        leftover_cgroups(&id)
    );
}

#[test]
fn run_killed_by_signal_is_128_plus_n() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    // pid 1 of a pid namespace ignores signals it has no handler for, even
    // from itself, so signal a child shell.
    b.sh("sh -c 'kill -9 $$'; exit $?");
    let id = unique_id("sig");
    let o = rt.run(&b, &id);
    assert_eq!(o.code, 137, "{o}");

    // Init itself killed from outside: SIGKILL always works.
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let id = unique_id("sig2");
    rt.track(&id);
    let child = rt
        .command(&["run", "--bundle", b.path().to_str().unwrap(), &id])
        .spawn()
        .unwrap();
    assert_eq!(rt.wait_status(&id, "running", SHORT), "running");
    rt.kill(&id, "SIGKILL").ok();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(137), "{out:?}");
}

#[test]
fn run_keep_keeps_stopped_container() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.sh("exit 3");
    let id = unique_id("keep");
    let o = rt.run_args(&b, &id, &["--keep"]);
    assert_eq!(o.code, 3, "{o}");
    assert_eq!(rt.status(&id), "stopped");
    rt.delete(&id).ok();
    assert!(!rt.state_dir(&id).exists());
}

#[test]
fn run_detached_returns_while_running() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let id = unique_id("detach");
    let t = std::time::Instant::now();
    rt.run_detached(&b, &id).ok();
    assert!(t.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(rt.status(&id), "running");
    let pid = rt.pid(&id);
    assert!(pid_alive(pid));
}

#[test]
fn delete_running_needs_force() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let id = unique_id("delf");
    rt.run_detached(&b, &id).ok();
    let pid = rt.pid(&id);
    let o = rt.delete(&id);
    let e = o.fails();
    assert!(e.contains("running") || e.contains("not stopped"), "{o}");
    assert_eq!(rt.status(&id), "running", "failed delete must not harm it");
    assert!(pid_alive(pid));
    rt.delete_force(&id).ok();
    assert!(!rt.state_dir(&id).exists());
    assert!(
        wait_until(SHORT, || !pid_alive(pid)),
        "init survived delete -f"
    );
    assert!(
        leftover_cgroups(&id).is_empty(),
        "{:?}",
        leftover_cgroups(&id)
    );
}

#[test]
fn delete_created_container_kills_init() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let id = unique_id("delc");
    rt.create(&b, &id).ok();
    let pid = rt.pid(&id);
    rt.delete(&id).ok();
    assert!(wait_until(SHORT, || !pid_alive(pid)));
    assert!(!rt.state_dir(&id).exists());
    assert!(
        leftover_cgroups(&id).is_empty(),
        "{:?}",
        leftover_cgroups(&id)
    );
}

#[test]
fn kill_all_signals_every_process() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.sh("sleep 1000 & sleep 1000 & wait");
    let id = unique_id("killall");
    rt.run_detached(&b, &id).ok();
    // Wait for the two children.
    let ok = wait_until(SHORT, || {
        let o = rt.cmd(&["ps", "--format", "json", &id]);
        serde_json::from_str::<Vec<i32>>(&o.stdout)
            .map(|v| v.len() >= 3)
            .unwrap_or(false)
    });
    assert!(ok, "children did not appear");
    let o = rt.cmd(&["ps", "--format", "json", &id]);
    let pids: Vec<i32> = serde_json::from_str(&o.stdout).unwrap();
    rt.cmd(&["kill", "--all", &id, "KILL"]).ok();
    assert!(
        wait_until(SHORT, || pids.iter().all(|p| !pid_alive(*p))),
        "kill --all left processes: {pids:?}"
    );
    assert_eq!(rt.wait_status(&id, "stopped", SHORT), "stopped");
}

#[test]
fn kill_default_is_sigterm_and_stopped_cannot_be_killed() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    // pid 1 needs a handler for TERM to die of it.
    b.sh("trap 'exit 42' TERM; while true; do sleep 0.05; done");
    let id = unique_id("term");
    rt.run_detached(&b, &id).ok();
    rt.cmd(&["kill", &id]).ok();
    assert_eq!(rt.wait_status(&id, "stopped", SHORT), "stopped");
    let o = rt.kill(&id, "KILL");
    assert!(o.fails().contains("not running"), "{o}");
    assert_eq!(rt.state(&id)["pid"], 0, "stopped container reports pid 0");
}

#[test]
fn start_twice_fails() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let id = unique_id("start2");
    rt.create(&b, &id).ok();
    rt.start(&id).ok();
    let o = rt.start(&id);
    assert!(
        o.fails().contains("not created") || o.stderr.contains("running"),
        "{o}"
    );
    assert_eq!(rt.status(&id), "running");
}

#[test]
fn start_stopped_container_fails() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.args(&["true"]);
    let id = unique_id("startst");
    rt.run_args(&b, &id, &["--keep"]).ok();
    let o = rt.start(&id);
    o.fails();
    assert!(o.stderr.contains("stopped"), "{o}");
}

#[test]
fn duplicate_id_fails_and_keeps_first() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let id = unique_id("dup");
    rt.create(&b, &id).ok();
    let pid = rt.pid(&id);
    let cg = cgroup_dir("memory", &id);
    assert!(cg.exists());
    let o = rt.create(&b, &id);
    let e = o.fails();
    assert!(e.contains("already exists"), "{o}");
    assert_eq!(e.trim().lines().count(), 1, "one-line error: {o}");
    // The first one is intact: state, process, cgroup, and it still starts.
    assert_eq!(rt.status(&id), "created");
    assert_eq!(rt.pid(&id), pid);
    assert!(pid_alive(pid));
    assert!(
        cg.exists(),
        "duplicate create removed the first container's cgroup"
    );
    rt.start(&id).ok();
    assert_eq!(rt.wait_status(&id, "running", SHORT), "running");
    // run with the same id fails the same way
    let o = rt.run_detached(&b, &id);
    assert!(o.fails().contains("already exists"), "{o}");
    assert_eq!(rt.status(&id), "running");
}

#[test]
fn unknown_id_errors() {
    let rt = Runtime::new();
    for args in [
        vec!["state", "nope-no-such"],
        vec!["start", "nope-no-such"],
        vec!["kill", "nope-no-such", "KILL"],
        vec!["delete", "nope-no-such"],
        vec!["exec", "nope-no-such", "true"],
        vec!["pause", "nope-no-such"],
        vec!["resume", "nope-no-such"],
        vec!["ps", "nope-no-such"],
        vec!["events", "--stats", "nope-no-such"],
        vec!["update", "--memory", "64m", "nope-no-such"],
    ] {
        let o = rt.cmd(&args);
        let e = o.fails();
        assert!(e.contains("does not exist"), "{o}");
    }
    // delete -f of an unknown id is not an error (as runc)
    rt.cmd(&["delete", "-f", "nope-no-such"]).ok();
}

#[test]
fn invalid_ids_are_rejected() {
    let rt = Runtime::new();
    let b = Bundle::new();
    for id in ["../evil", "a/b", "..", "with space"] {
        let o = rt.cmd(&["create", "--bundle", b.path().to_str().unwrap(), id]);
        assert!(o.fails().contains("invalid container id"), "{o}");
    }
    assert!(!b.path().parent().unwrap().join("evil").exists());
}

#[test]
fn container_exit_is_seen_as_stopped() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.args(&["true"]);
    let id = unique_id("exitst");
    rt.create(&b, &id).ok();
    rt.start(&id).ok();
    assert_eq!(rt.wait_status(&id, "stopped", SHORT), "stopped");
    rt.delete(&id).ok();
    assert!(
        leftover_cgroups(&id).is_empty(),
        "{:?}",
        leftover_cgroups(&id)
    );
}

#[test]
fn container_stdio_is_the_create_commands() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.sh("echo out-line; echo err-line >&2");
    let id = unique_id("stdio");
    let created = rt.create(&b, &id);
    created.ok();
    rt.start(&id).ok();
    assert_eq!(rt.wait_status(&id, "stopped", SHORT), "stopped");
    assert!(wait_until(SHORT, || created.stdout_now() == "out-line\n"));
    assert_eq!(created.stderr_now(), "err-line\n");
}

#[test]
fn version_flag() {
    let d = tempfile::tempdir().unwrap();
    let mut c = std::process::Command::new(BIN);
    c.arg("--version");
    let o = run_cmd(c, d.path(), "berth-oci --version");
    o.ok();
    assert!(o.stdout.starts_with("berth-oci version "), "{o}");
    assert!(o.stdout.contains("spec: 1."), "{o}");
}

#[test]
fn spec_writes_valid_config_and_refuses_overwrite() {
    let d = tempfile::tempdir().unwrap();
    let spec = |d: &std::path::Path| {
        let mut c = std::process::Command::new(BIN);
        c.arg("spec").arg("--bundle").arg(d);
        run_cmd(c, d, "berth-oci spec")
    };
    spec(d.path()).ok();
    let cfg = d.path().join("config.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    assert!(v["ociVersion"].as_str().unwrap().starts_with("1."));
    assert_eq!(v["root"]["path"], "rootfs");
    assert!(v["process"]["args"].is_array());
    assert!(v["linux"]["namespaces"].is_array());
    // It parses as an oci-spec Spec too.
    let _: oci_spec::runtime::Spec = serde_json::from_value(v.clone()).unwrap();
    std::fs::write(&cfg, "sentinel").unwrap();
    let o = spec(d.path());
    assert!(o.fails().contains("already exists"), "{o}");
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), "sentinel");
}

#[test]
fn features_prints_json() {
    let d = tempfile::tempdir().unwrap();
    let mut c = std::process::Command::new(BIN);
    c.arg("features");
    let o = run_cmd(c, d.path(), "berth-oci features");
    o.ok();
    let v: Value = serde_json::from_str(&o.stdout).unwrap();
    let ns: Vec<&str> = v["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    for want in ["pid", "network", "mount", "user", "uts", "ipc", "cgroup"] {
        assert!(ns.contains(&want), "{ns:?}");
    }
    assert!(v["ociVersionMax"].is_string());
    assert!(v["hooks"].as_array().unwrap().len() >= 6);
}

#[test]
fn runs_a_bundle_made_by_runc_spec() {
    // `runc spec` lists ambient capabilities without inheritable ones, so
    // the kernel cannot raise them; runc and crun go on, so must we.
    let d = tempfile::tempdir().unwrap();
    let mut c = std::process::Command::new("runc");
    c.arg("spec").current_dir(d.path());
    c.output().expect("runc spec (Debian's runc package)");
    let runc: Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("config.json")).unwrap())
            .unwrap();
    assert!(!runc["process"]["capabilities"]["ambient"]
        .as_array()
        .unwrap()
        .is_empty());
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.edit(|c| {
        *c = runc;
        c["process"]["terminal"] = Value::Bool(false);
    });
    b.sh("grep CapAmb /proc/self/status; echo ran");
    let o = rt.run(&b, &unique_id("runcspec"));
    o.ok();
    assert!(o.stdout.ends_with("ran\n"), "{o}");
}

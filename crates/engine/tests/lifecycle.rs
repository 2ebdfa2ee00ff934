//! Run, exit codes, logs, stop, rm, --rm, names, monitor crash.
mod common;

use common::*;
use engine::{Error, Status};
use std::time::{Duration, Instant};

#[test]
fn run_echo_prints_and_exits_zero() {
    let env = Env::new();
    let (code, out, err) = env.run(&env.opts(&["echo", "hello", "world"]));
    assert_eq!((code, out.as_str(), err.as_str()), (0, "hello world\n", ""));
    let (code, out, err) = env.run(&env.opts(&["sh", "-c", "echo out; echo err >&2; exit 3"]));
    assert_eq!((code, out.as_str(), err.as_str()), (3, "out\n", "err\n"));
}

#[test]
fn missing_monitor_binary_is_a_clear_error() {
    // The monitor is the static berth-monitor; there is no forked fallback.
    let mut env = Env::new();
    env.engine = env.engine.clone().with_monitor_exe(None);
    let e = env
        .run_detached(&env.opts(&["sleep", "100"]))
        .err()
        .unwrap();
    assert!(e.to_string().contains("berth-monitor"), "{e}");
    let ids = env.engine.list(true).unwrap();
    assert_eq!(ids.len(), 1);
    assert_eq!(ids[0].state, engine::Status::Created);
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mi.contains(&ids[0].id), "rootfs left mounted");
    env.engine.remove(&ids[0].id, false).unwrap();
}

#[test]
fn missing_command_is_127() {
    let env = Env::new();
    let e = env
        .run_attached(&env.opts(&["no-such-command"]))
        .err()
        .unwrap();
    assert_eq!(e.exit_code(), 127, "{e}");
    // (docker's words with the built-in runtime and runc; crun's own.)
    assert!(
        e.to_string().contains("executable file not found")
            || (common::test_runtime().is_some() && e.to_string().contains("not found in $PATH")),
        "{e}"
    );
    let e = env.run_attached(&env.opts(&["/etc"])).err().unwrap();
    assert_eq!(e.exit_code(), 126, "{e}");
    // The container stays, created, with the error recorded (as docker).
    let l = env.engine.list(true).unwrap();
    assert_eq!(l.len(), 2);
    assert!(l.iter().all(|s| s.state == Status::Created));
    let v = env.engine.inspect(&l[1].id).unwrap();
    assert_eq!(v["State"]["ExitCode"], 127);
    assert!(v["State"]["Error"].as_str().unwrap().contains("not found"));
    // --rm removes it.
    let mut o = env.opts(&["nope"]);
    o.auto_remove = true;
    assert!(env.run_attached(&o).is_err());
    assert_eq!(env.engine.list(true).unwrap().len(), 2);
}

#[test]
fn detached_run_and_logs() {
    let env = Env::new();
    let mut o = env.opts(&["sh", "-c", "echo one; echo two >&2; echo three"]);
    o.name = Some("logger".into());
    let id = env.run_detached(&o).unwrap();
    assert_eq!(id.len(), 64);
    assert_eq!(env.engine.wait("logger").unwrap(), 0);
    let logs = env.logs(&id[..12]);
    assert!(
        logs.contains("one\n") && logs.contains("two\n") && logs.contains("three\n"),
        "{logs}"
    );
    // The json-file format.
    let raw = std::fs::read_to_string(env.engine.log_path(&id)).unwrap();
    let first: serde_json::Value = serde_json::from_str(raw.lines().next().unwrap()).unwrap();
    assert!(first["log"].as_str().unwrap().ends_with('\n'));
    assert!(first["time"].as_str().unwrap().ends_with('Z'));
    assert!(["stdout", "stderr"].contains(&first["stream"].as_str().unwrap()));
    // tail, streams, timestamps
    let mut out = Vec::new();
    let mut err = Vec::new();
    let lo = engine::LogsOptions {
        tail: Some(1),
        timestamps: true,
        stdout: true,
        ..Default::default()
    };
    env.engine.logs("logger", &lo, &mut out, &mut err).unwrap();
    let s = String::from_utf8(out).unwrap();
    assert!(s.ends_with(" three\n") && s.starts_with("20"), "{s}");
    let mut out = Vec::new();
    let mut err = Vec::new();
    let lo = engine::LogsOptions {
        stderr: true,
        ..Default::default()
    };
    env.engine.logs("logger", &lo, &mut out, &mut err).unwrap();
    assert!(out.is_empty());
    assert_eq!(String::from_utf8(err).unwrap(), "two\n");
    let st = env.engine.list(true).unwrap();
    assert!(st[0].status.starts_with("Exited (0) "), "{}", st[0].status);
}

#[test]
fn follow_logs_until_exit() {
    let env = Env::new();
    let id = env
        .run_detached(&env.opts(&["sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.2; done"]))
        .unwrap();
    let mut out = Vec::new();
    let mut err = Vec::new();
    let lo = engine::LogsOptions {
        follow: true,
        ..Default::default()
    };
    env.engine.logs(&id, &lo, &mut out, &mut err).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), "1\n2\n3\n");
}

#[test]
fn stop_with_trap_exits_within_timeout() {
    let env = Env::new();
    let id = env
        .run_detached(&env.opts(&[
            "sh",
            "-c",
            "trap 'echo got TERM; exit 0' TERM; while true; do sleep 0.1; done",
        ]))
        .unwrap();
    let l = env.engine.list(false).unwrap();
    assert_eq!(l.len(), 1);
    assert!(l[0].status.starts_with("Up "), "{}", l[0].status);
    let t = Instant::now();
    env.engine.stop(&id, Some(10)).unwrap();
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let v = env.engine.inspect(&id).unwrap();
    assert_eq!(v["State"]["Status"], "exited");
    assert_eq!(v["State"]["ExitCode"], 0);
    assert!(env.logs(&id).contains("got TERM"));
    assert!(!mounted(&env.engine.rootfs_path(&id)));
}

#[test]
fn stop_kills_after_timeout() {
    let env = Env::new();
    let id = env
        .run_detached(&env.opts(&["sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"]))
        .unwrap();
    let t = Instant::now();
    env.engine.stop(&id, Some(1)).unwrap();
    let el = t.elapsed();
    assert!(
        el >= Duration::from_secs(1) && el < Duration::from_secs(8),
        "{el:?}"
    );
    assert_eq!(env.engine.wait(&id).unwrap(), 137);
}

#[test]
fn kill_with_signal() {
    let env = Env::new();
    let id = env
        .run_detached(&env.opts(&[
            "sh",
            "-c",
            "trap 'exit 7' USR1; while true; do sleep 0.1; done",
        ]))
        .unwrap();
    assert!(matches!(
        env.engine.kill(&id, Some("NOPE")),
        Err(Error::InvalidArgument(_))
    ));
    env.engine.kill(&id, Some("usr1")).unwrap();
    assert_eq!(env.engine.wait(&id).unwrap(), 7);
    assert!(env.engine.kill(&id, None).is_err());
    // SIGKILL by default.
    let id = env.run_detached(&env.opts(&["sleep", "100"])).unwrap();
    env.engine.kill(&id, None).unwrap();
    assert_eq!(env.engine.wait(&id).unwrap(), 137);
}

#[test]
fn rm_removes_dir_mount_and_cgroup() {
    let env = Env::new();
    let id = env.run_detached(&env.opts(&["sleep", "100"])).unwrap();
    let dir = env.engine.container_dir(&id);
    let rootfs = env.engine.rootfs_path(&id);
    assert!(mounted(&rootfs));
    let cg = cgroup_dir("pids", &id);
    assert!(cg.exists(), "{}", cg.display());
    let e = env.engine.remove(&id, false).unwrap_err();
    assert!(matches!(e, Error::Conflict(_)), "{e}");
    env.engine.remove(&id, true).unwrap();
    assert!(!dir.exists());
    assert!(!mounted(&rootfs));
    assert!(!cg.exists());
    assert!(matches!(
        env.engine.inspect(&id),
        Err(Error::NoSuchContainer(_))
    ));
}

#[test]
fn auto_remove() {
    let env = Env::new();
    let mut o = env.opts(&["echo", "bye"]);
    o.auto_remove = true;
    let (code, out, _) = env.run(&o);
    assert_eq!((code, out.as_str()), (0, "bye\n"));
    assert!(env.engine.list(true).unwrap().is_empty());
    // Detached: removed once it exits.
    let id = env.run_detached(&o).unwrap();
    let dir = env.engine.container_dir(&id);
    assert!(until(Duration::from_secs(10), || !dir.exists()));
    assert!(env.engine.list(true).unwrap().is_empty());
}

/// docker's run through the API: the wait (`removed`, `next-exit`) begins
/// before the start; it returns the run's exit code once the container is
/// removed (a `--rm` one: gone before the wait looks again, its code from
/// its `die` event) or has exited.
#[test]
fn wait_conditions_begun_before_the_start() {
    let env = Env::new();
    let wait_then = |id: &str, cond: engine::WaitCondition, act: &dyn Fn()| -> i32 {
        let (tx, rx) = std::sync::mpsc::channel();
        let (eng, id) = (env.engine.clone(), id.to_string());
        let t = std::thread::spawn(move || {
            eng.wait_for(&id, cond, &mut || tx.send(()).unwrap())
                .unwrap()
        });
        rx.recv().unwrap();
        act();
        t.join().unwrap()
    };
    let mut o = env.opts(&["sh", "-c", "exit 3"]);
    o.auto_remove = true;
    let id = env.create(&o).unwrap();
    let code = wait_then(&id, engine::WaitCondition::Removed, &|| {
        env.engine.start(&id).unwrap()
    });
    assert_eq!(code, 3);
    assert!(!env.engine.container_dir(&id).exists());

    let id = env.create(&env.opts(&["sh", "-c", "exit 5"])).unwrap();
    let code = wait_then(&id, engine::WaitCondition::NextExit, &|| {
        env.engine.start(&id).unwrap()
    });
    assert_eq!(code, 5);
    // `removed` of an exited container: its code once `rm` removes it.
    let code = wait_then(&id, engine::WaitCondition::Removed, &|| {
        env.engine.remove(&id, false).unwrap()
    });
    assert_eq!(code, 5);
}

#[test]
fn names_are_unique() {
    let env = Env::new();
    let mut o = env.opts(&["true"]);
    o.name = Some("web".into());
    let first = env.create(&o).unwrap();
    let e = env.create(&o).unwrap_err();
    assert!(matches!(e, Error::Conflict(_)), "{e}");
    assert!(e.to_string().contains("\"/web\" is already in use"), "{e}");
    assert_eq!(env.engine.lookup("web").unwrap(), first);
    assert_eq!(env.engine.list(true).unwrap().len(), 1);
    // Lookup by prefix, ambiguity, bad names.
    assert_eq!(env.engine.lookup(&first[..5]).unwrap(), first);
    assert!(matches!(
        env.engine.lookup("zzz"),
        Err(Error::NoSuchContainer(_))
    ));
    o.name = Some("bad name".into());
    assert!(env
        .create(&o)
        .unwrap_err()
        .to_string()
        .starts_with("invalid --name"));
    // rename frees the old name
    env.engine.rename("web", "web2").unwrap();
    o.name = Some("web".into());
    env.create(&o).unwrap();
    assert!(matches!(
        env.engine.rename("web2", "web"),
        Err(Error::Conflict(_))
    ));
    // Generated names are unique.
    let mut names = std::collections::HashSet::new();
    for _ in 0..5 {
        let id = env.create(&env.opts(&["true"])).unwrap();
        let (c, _) = env.engine.container(&id).unwrap();
        assert!(names.insert(c.name));
    }
}

#[test]
fn killed_monitor_is_noticed() {
    let env = Env::new();
    let id = env.run_detached(&env.opts(&["sleep", "100"])).unwrap();
    let (_, st) = env.engine.container(&id).unwrap();
    assert!(st.monitor_pid > 0);
    let rss = std::fs::read_to_string(format!("/proc/{}/status", st.monitor_pid))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS"))
        .unwrap()
        .to_string();
    eprintln!("monitor {} {rss}", st.monitor_pid);
    // SAFETY: kill(2) with integer arguments.
    unsafe { libc::kill(st.monitor_pid, libc::SIGKILL) };
    let pid = st.pid;
    assert!(until(Duration::from_secs(5), || {
        std::fs::read_to_string(format!("/proc/{}/stat", st.monitor_pid))
            .map(|s| s.contains(") Z"))
            .unwrap_or(true)
    }));
    let (_, st) = env.engine.container(&id).unwrap();
    assert_eq!(st.status, Status::Exited);
    assert!(st.error.contains("monitor"), "{}", st.error);
    assert!(!mounted(&env.engine.rootfs_path(&id)));
    assert!(until(Duration::from_secs(5), || !std::path::Path::new(
        &format!("/proc/{pid}")
    )
    .exists()
        || std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.contains(") Z"))
            .unwrap_or(true)));
    env.engine.remove(&id, false).unwrap();
}

#[test]
fn cleanup_after_a_crash() {
    let env = Env::new();
    // A container left "running" with a dead monitor and its rootfs mounted,
    // as after a power cut or kill -9 of everything.
    let id = env.create(&env.opts(&["true"])).unwrap();
    let (c, _) = env.engine.container(&id).unwrap();
    let rootfs = env.engine.rootfs_path(&id);
    let upper = env.engine.container_dir(&id).join("upper");
    let work = env.engine.container_dir(&id).join("work");
    let opts = image::overlay_options(&c.lowers, Some(&upper), Some(&work)).unwrap();
    let st = std::process::Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o", &opts])
        .arg(&rootfs)
        .status()
        .unwrap();
    assert!(st.success());
    let state_path = env.engine.container_dir(&id).join("state.json");
    // (A created container has no state.json yet: it reads as created.)
    assert!(!state_path.exists());
    let mut s = serde_json::to_value(engine::State::default()).unwrap();
    s["Status"] = "running".into();
    s["MonitorPid"] = 999_999.into();
    s["MonitorStartTime"] = 1.into();
    std::fs::write(&state_path, serde_json::to_vec(&s).unwrap()).unwrap();
    // A half-created directory.
    let half = env.root().join("containers").join("f".repeat(64));
    std::fs::create_dir_all(half.join("rootfs")).unwrap();
    let changed = env.engine.cleanup().unwrap();
    assert!(changed.contains(&id), "{changed:?}");
    assert!(!mounted(&rootfs));
    assert!(!half.exists());
    let (_, st) = env.engine.container(&id).unwrap();
    assert_eq!(st.status, Status::Exited);
    assert_eq!(st.exit_code, 255);
    assert!(st.error.contains("monitor"), "{}", st.error);
    // It can run again.
    env.engine.start(&id).unwrap();
    assert_eq!(env.engine.wait(&id).unwrap(), 0);
}

#[test]
fn images_in_use_through_the_engine() {
    // The in-use rule every face applies to rmi, image prune and GC: a
    // created container's image and its layers are in use; once it is
    // removed, they are not.
    let env = Env::new();
    let store = env.engine.images();
    let info = store.resolve("busybox").unwrap();
    assert!(engine::inuse::containers_using(store, &info.record.id)
        .unwrap()
        .is_empty());
    let id = env.create(&env.opts(&["true"])).unwrap();
    let users = engine::inuse::containers_using(store, &info.record.id).unwrap();
    assert_eq!(users, vec![(id[..12].to_string(), false)]);
    let keep = engine::inuse::snapshots_in_use(store).unwrap();
    assert!(!keep.is_empty());
    env.engine.remove(&id, true).unwrap();
    assert!(engine::inuse::containers_using(store, &info.record.id)
        .unwrap()
        .is_empty());
    assert!(engine::inuse::snapshots_in_use(store).unwrap().is_empty());
}

/// A start that fails, at whichever step, goes through the one teardown:
/// nothing of the container stays mounted, no cgroup is left, and the
/// container is `created` with the error recorded (as docker).
#[test]
fn failed_start_leaves_nothing_behind() {
    let env = Env::new();
    let left_alone = |id: &str, want: &str| {
        let (_, st) = env.engine.container(id).unwrap();
        assert_eq!(st.status, Status::Created, "{st:?}");
        // (Each runtime words it its own way: "No such file", "no such file".)
        assert!(st.error.to_lowercase().contains(want), "{}", st.error);
        let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!mi.contains(id), "left mounted:\n{mi}");
        for ctrl in ["pids", "memory", "devices"] {
            let cg = cgroup_dir(ctrl, id);
            assert!(!cg.exists(), "{} left", cg.display());
        }
    };
    // The entrypoint does not exist: the runtime fails in the monitor.
    let id = env.create(&env.opts(&["/no/such/entrypoint"])).unwrap();
    assert!(env.engine.start(&id).is_err());
    left_alone(&id, "no such file");
    // A bind mount whose source went between create and start.
    let src = env.dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let mut o = env.opts(&["true"]);
    o.volumes = vec![format!("{}:/data", src.display())];
    let id = env.create(&o).unwrap();
    std::fs::remove_dir(&src).unwrap();
    assert!(env.engine.start(&id).is_err());
    left_alone(&id, "");
    // The root filesystem cannot be mounted (its upper directory is a file).
    let id = env.create(&env.opts(&["true"])).unwrap();
    let upper = env.engine.container_dir(&id).join("upper");
    std::fs::remove_dir_all(&upper).unwrap();
    std::fs::write(&upper, "not a directory").unwrap();
    let e = env.engine.start(&id).unwrap_err();
    assert!(e.to_string().contains("overlay"), "{e}");
    left_alone(&id, "overlay");
    // Each can be removed.
    for s in env.engine.list(true).unwrap() {
        env.engine.remove(&s.id, false).unwrap();
    }
}

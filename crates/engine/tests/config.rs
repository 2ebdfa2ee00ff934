//! Image config and run options reaching the process: env, workdir, user,
//! entrypoint/cmd, hostname, hosts, resources, mounts; exec; inspect.
mod common;

use common::*;
use std::time::Duration;

fn image_env() -> Env {
    let env = Env::new();
    let opts = image::ImportOptions {
        env: vec![
            "PATH=/bin".into(),
            "FROM_IMAGE=yes".into(),
            "OVERRIDE=image".into(),
        ],
        working_dir: Some("/srv/app".into()),
        cmd: Some(vec!["echo".into(), "image-cmd".into()]),
        entrypoint: None,
        labels: [("from".to_string(), "image".to_string())].into(),
        stop_signal: Some("SIGUSR1".into()),
        ..Default::default()
    };
    env.import(
        "app",
        &opts,
        &[
            (
                "etc/passwd",
                "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/sh\n",
            ),
            ("etc/group", "root:x:0:\nwww:x:33:\nstaff:x:50:www\n"),
        ],
    );
    env
}

fn app(env: &Env, cmd: &[&str]) -> engine::CreateFlags {
    let mut o = env.opts(cmd);
    o.image = "app".into();
    o
}

#[test]
fn env_workdir_and_cmd_from_image() {
    let env = image_env();
    let (code, out, _) = env.run(&app(&env, &[]));
    assert_eq!((code, out.as_str()), (0, "image-cmd\n"));
    let mut o = app(
        &env,
        &[
            "sh",
            "-c",
            "pwd; echo $FROM_IMAGE $OVERRIDE $HOSTNAME; echo $PATH; echo $HOME",
        ],
    );
    o.env = vec!["OVERRIDE=user".into()];
    let (code, out, _) = env.run(&o);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "/srv/app");
    let words: Vec<&str> = lines[1].split(' ').collect();
    assert_eq!(&words[..2], &["yes", "user"]);
    assert_eq!(words[2].len(), 12, "hostname is the short id");
    assert_eq!(lines[2], "/bin");
    assert_eq!(lines[3], "/root");
    let mut o = app(&env, &["pwd"]);
    o.workdir = Some("/tmp".into());
    assert_eq!(env.run(&o).1, "/tmp\n");
    let mut o = app(&env, &["pwd"]);
    o.workdir = Some("rel".into());
    assert!(env
        .create(&o)
        .unwrap_err()
        .to_string()
        .starts_with("invalid --workdir \"rel\""));
    // --entrypoint drops the image's CMD.
    let mut o = app(&env, &[]);
    o.entrypoint = Some("hostname".into());
    o.hostname = Some("box".into());
    assert_eq!(env.run(&o).1, "box\n");
    let mut o = app(&env, &["a", "b"]);
    o.entrypoint = Some("echo".into());
    assert_eq!(env.run(&o).1, "a b\n");
}

#[test]
fn user_from_passwd() {
    let env = image_env();
    let mut o = app(&env, &["id"]);
    o.user = Some("www".into());
    assert_eq!(
        env.run(&o).1,
        "uid=33(www) gid=33(www) groups=33(www),50(staff)\n"
    );
    let mut o = app(&env, &["id"]);
    o.user = Some("1000:50".into());
    o.group_add = vec!["www".into()];
    assert_eq!(
        env.run(&o).1,
        "uid=1000 gid=50(staff) groups=33(www),50(staff)\n"
    );
    let mut o = app(&env, &["id"]);
    o.user = Some("nobody".into());
    let e = env.create(&o).unwrap_err();
    assert!(
        e.to_string().starts_with("invalid --user \"nobody\""),
        "{e}"
    );
    assert_eq!(e.exit_code(), 125);
}

#[test]
fn hosts_dns_hostname() {
    let env = Env::new();
    let mut o = env.opts(&[
        "sh",
        "-c",
        "cat /etc/hosts /etc/resolv.conf /etc/hostname; hostname",
    ]);
    o.hostname = Some("web".into());
    o.add_hosts = vec!["db:10.1.2.3".into()];
    o.dns = vec!["9.9.9.9".into()];
    o.dns_search = vec!["example.org".into()];
    let (code, out, _) = env.run(&o);
    assert_eq!(code, 0);
    assert!(out.contains("127.0.0.1\tlocalhost\n"), "{out}");
    assert!(out.contains("10.1.2.3\tdb\n"), "{out}");
    assert!(
        out.contains("nameserver 9.9.9.9\n") && out.contains("search example.org\n"),
        "{out}"
    );
    assert!(out.ends_with("web\nweb\n"), "{out}");
    let mut o = env.opts(&["true"]);
    o.add_hosts = vec!["db:not-an-ip".into()];
    assert_eq!(
        env.create(&o).unwrap_err().to_string(),
        "invalid --add-host \"db:not-an-ip\": invalid IP address"
    );
}

#[test]
fn memory_cpus_pids_ulimit_in_the_cgroup() {
    let env = Env::new();
    let mut o = env.opts(&["sh", "-c", "ulimit -n; sleep 100"]);
    o.memory = Some("64m".into());
    o.cpus = Some("0.5".into());
    o.pids_limit = Some(50);
    o.ulimits = vec!["nofile=512:1024".into()];
    let id = env.run_detached(&o).unwrap();
    let read = |c: &str, f: &str| {
        std::fs::read_to_string(cgroup_dir(c, &id).join(f))
            .unwrap()
            .trim()
            .to_string()
    };
    if cgroup_dir("memory", &id)
        .join("memory.limit_in_bytes")
        .exists()
    {
        assert_eq!(
            read("memory", "memory.limit_in_bytes"),
            (64u64 << 20).to_string()
        );
        assert_eq!(read("cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(read("cpu", "cpu.cfs_period_us"), "100000");
    } else {
        assert_eq!(read("memory", "memory.max"), (64u64 << 20).to_string());
        assert_eq!(read("cpu", "cpu.max"), "50000 100000");
    }
    assert_eq!(read("pids", "pids.max"), "50");
    assert!(until(Duration::from_secs(5), || env.logs(&id) == "512\n"));
    let v = env.engine.inspect(&id).unwrap();
    assert_eq!(v["HostConfig"]["Memory"], 64 << 20);
    assert_eq!(v["HostConfig"]["NanoCpus"], 500_000_000);
    assert_eq!(v["HostConfig"]["PidsLimit"], 50);
    env.engine.remove(&id, true).unwrap();
    for (flag, set) in [
        (
            "--memory",
            Box::new(|o: &mut engine::CreateFlags| o.memory = Some("lots".into()))
                as Box<dyn Fn(&mut engine::CreateFlags)>,
        ),
        (
            "--cpus",
            Box::new(|o: &mut engine::CreateFlags| o.cpus = Some("x".into())),
        ),
        (
            "--ulimit",
            Box::new(|o: &mut engine::CreateFlags| o.ulimits = vec!["nofile=9:1".into()]),
        ),
        (
            "--tmpfs",
            Box::new(|o: &mut engine::CreateFlags| o.tmpfs = vec!["rel".into()]),
        ),
        (
            "--volume",
            Box::new(|o: &mut engine::CreateFlags| o.volumes = vec!["v@l:/x".into()]),
        ),
    ] {
        let mut o = env.opts(&["true"]);
        set(&mut o);
        let e = env.create(&o).unwrap_err().to_string();
        assert!(e.starts_with(&format!("invalid {flag} ")), "{e}");
        assert!(!e.contains('\n'));
    }
}

#[test]
fn bind_mounts_and_tmpfs() {
    let env = Env::new();
    let src = env.dir.path().join("data");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f"), "from host\n").unwrap();
    let mut o = env.opts(&["sh", "-c", "cat /data/f; touch /data/g 2>&1; echo rc=$?; touch /scratch/ok && echo tmpfs-ok; grep ' /scratch ' /proc/self/mounts"]);
    o.volumes = vec![format!("{}:/data:ro", src.display())];
    o.tmpfs = vec!["/scratch:size=1m".into()];
    let (_, out, _) = env.run(&o);
    assert!(out.starts_with("from host\n"), "{out}");
    assert!(out.contains("rc=1") && out.contains("tmpfs-ok"), "{out}");
    assert!(out.contains("size=1024k"), "{out}");
    let mut o = env.opts(&["sh", "-c", "echo hi > /data/g"]);
    o.volumes = vec![format!("{}:/data", src.display())];
    assert_eq!(env.run(&o).0, 0);
    assert_eq!(std::fs::read_to_string(src.join("g")).unwrap(), "hi\n");
}

/// `--volumes-from`: the source's named volume, anonymous volume and bind
/// at their destinations (rw as the source has them, `:ro` read-only),
/// the container's own mount winning on a destination; recorded in
/// `HostConfig.VolumesFrom`; the volumes are in use by the consumer, whose
/// source can be removed (`rm -v` keeps the anonymous volume it uses).
#[test]
fn volumes_from_a_container() {
    let env = Env::new();
    let src = env.dir.path().join("data");
    let other = env.dir.path().join("other");
    std::fs::create_dir(&src).unwrap();
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("f"), "own bind\n").unwrap();
    let mut o = env.opts(&["true"]);
    o.name = Some("store".into());
    o.volumes = vec![
        "vfvol:/v".into(),
        "/anon".into(),
        format!("{}:/b", src.display()),
    ];
    let store = env.create(&o).unwrap();
    let anon = env.engine.inspect(&store).unwrap()["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Destination"] == "/anon")
        .unwrap()["Name"]
        .as_str()
        .unwrap()
        .to_string();

    // rw: writes reach the source's volume and bind
    let mut o = env.opts(&[
        "sh",
        "-c",
        "echo v > /v/a && echo b > /b/c && echo n > /anon/n",
    ]);
    o.volumes_from = vec!["store".into()];
    let (code, out, err) = env.run(&o);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(std::fs::read_to_string(src.join("c")).unwrap(), "b\n");
    let mut o = env.opts(&["cat", "/v/a", "/anon/n"]);
    o.volumes_from = vec!["store:rw".into()];
    assert_eq!(env.run(&o).1, "v\nn\n");

    // :ro: every one read-only; the data is there
    let mut o = env.opts(&[
        "sh",
        "-c",
        "cat /v/a /b/c; for d in /v /b /anon; do touch $d/z 2>/dev/null; echo rc=$?; done",
    ]);
    o.volumes_from = vec!["store:ro".into()];
    let (_, out, err) = env.run(&o);
    assert_eq!(out, "v\nb\nrc=1\nrc=1\nrc=1\n", "{err}");

    // the container's own -v wins on /b; inspect records VolumesFrom
    let mut o = env.opts(&["sh", "-c", "cat /b/f /v/a"]);
    o.volumes_from = vec!["store:ro".into()];
    o.volumes = vec![format!("{}:/b", other.display())];
    let consumer = env.create(&o).unwrap();
    env.engine.start(&consumer).unwrap();
    assert_eq!(env.engine.wait(&consumer).unwrap(), 0);
    assert_eq!(env.logs(&consumer), "own bind\nv\n");
    let i = env.engine.inspect(&consumer).unwrap();
    assert_eq!(
        i["HostConfig"]["VolumesFrom"],
        serde_json::json!(["store:ro"])
    );
    let mounts = i["Mounts"].as_array().unwrap();
    let v = mounts.iter().find(|m| m["Destination"] == "/v").unwrap();
    assert_eq!(
        (&v["Name"], &v["RW"]),
        (&serde_json::json!("vfvol"), &serde_json::json!(false))
    );
    let b = mounts.iter().find(|m| m["Destination"] == "/b").unwrap();
    assert_eq!(b["Source"], other.display().to_string());

    // the source must exist; a bad mode is refused
    let mut o = env.opts(&["true"]);
    o.volumes_from = vec!["nosuch".into()];
    let e = env.create(&o).unwrap_err().to_string();
    assert!(e.contains("--volumes-from") && e.contains("nosuch"), "{e}");
    o.volumes_from = vec!["store:rx".into()];
    let e = env.create(&o).unwrap_err().to_string();
    assert!(e.contains("--volumes-from") && e.contains("rx"), "{e}");

    // the source goes (with -v) while a consumer exists: its anonymous
    // volume stays, and both volumes are in use by the consumer
    env.engine.remove_with_volumes(&store, false).unwrap();
    assert!(env.engine.volume(&anon).is_ok(), "anonymous volume removed");
    for name in ["vfvol", anon.as_str()] {
        let e = env
            .engine
            .remove_volume(name, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("in use") && e.contains(&consumer), "{e}");
    }
}

#[test]
fn exec_output_and_exit_codes() {
    let env = Env::new();
    let mut o = env.opts(&["sleep", "100"]);
    o.env = vec!["FOO=bar".into()];
    o.workdir = Some("/tmp".into());
    let id = env.run_detached(&o).unwrap();
    let (r, w) = std::io::pipe().unwrap();
    let stdio = engine::ExecStdio {
        stdout: Some(w.into()),
        ..Default::default()
    };
    let x = engine::ExecOptions {
        cmd: vec![
            "sh".into(),
            "-c".into(),
            "echo $FOO $BAR; pwd; exit 5".into(),
        ],
        env: vec!["BAR=baz".into()],
        ..Default::default()
    };
    let code = env.engine.exec(&id, &x, stdio).unwrap();
    assert_eq!(code, 5);
    let mut s = String::new();
    std::io::Read::read_to_string(&mut { r }, &mut s).unwrap();
    assert_eq!(s, "bar baz\n/tmp\n");
    let x = engine::ExecOptions {
        cmd: vec!["nope".into()],
        ..Default::default()
    };
    let e = env.engine.exec(&id, &x, Default::default()).unwrap_err();
    assert_eq!(e.exit_code(), 127, "{e}");
    // top sees both processes while an exec runs.
    let x = engine::ExecOptions {
        cmd: vec!["sleep".into(), "30".into()],
        detach: true,
        ..Default::default()
    };
    assert_eq!(env.engine.exec(&id, &x, Default::default()).unwrap(), 0);
    assert!(until(Duration::from_secs(5), || {
        env.engine
            .top(&id)
            .unwrap()
            .processes
            .iter()
            .any(|p| p[3] == "sleep 30")
    }));
    let top = env.engine.top(&id).unwrap();
    assert_eq!(top.titles, vec!["UID", "PID", "PPID", "CMD"]);
    assert!(top.processes.iter().any(|p| p[3] == "sleep 100"), "{top:?}");
    assert!(top.processes.iter().any(|p| p[3] == "sleep 30"), "{top:?}");
    // pause / unpause
    env.engine.pause(&id).unwrap();
    assert_eq!(
        env.engine.inspect(&id).unwrap()["State"]["Status"],
        "paused"
    );
    assert!(env.engine.list(false).unwrap()[0]
        .status
        .ends_with("(Paused)"));
    assert!(env.engine.exec(&id, &x, Default::default()).is_err());
    env.engine.unpause(&id).unwrap();
    assert_eq!(
        env.engine.inspect(&id).unwrap()["State"]["Status"],
        "running"
    );
    env.engine.stop(&id, Some(1)).unwrap();
    let e = env.engine.exec(&id, &x, Default::default()).unwrap_err();
    assert!(e.to_string().contains("not running"), "{e}");
}

#[test]
fn inspect_shape() {
    let env = image_env();
    let mut o = app(&env, &["sh", "-c", "exit 4"]);
    o.name = Some("insp".into());
    o.labels = vec!["a=b".into()];
    o.memory = Some("32m".into());
    let (code, _, _) = env.run(&o);
    assert_eq!(code, 4);
    let v = env.engine.inspect("insp").unwrap();
    assert_eq!(v["Name"], "/insp");
    assert_eq!(v["Path"], "sh");
    assert_eq!(v["Args"], serde_json::json!(["-c", "exit 4"]));
    assert!(v["Image"].as_str().unwrap().starts_with("sha256:"));
    let s = &v["State"];
    assert_eq!(s["Status"], "exited");
    assert_eq!(s["Running"], false);
    assert_eq!(s["Paused"], false);
    assert_eq!(s["OOMKilled"], false);
    assert_eq!(s["Dead"], false);
    assert_eq!(s["Pid"], 0);
    assert_eq!(s["ExitCode"], 4);
    assert!(s["StartedAt"].as_str().unwrap().ends_with('Z'));
    assert!(engine::timeutil::parse(s["FinishedAt"].as_str().unwrap()).is_some());
    let c = &v["Config"];
    assert_eq!(c["Image"], "app");
    assert_eq!(c["WorkingDir"], "/srv/app");
    assert_eq!(c["Cmd"], serde_json::json!(["sh", "-c", "exit 4"]));
    assert_eq!(c["Entrypoint"], serde_json::Value::Null);
    assert_eq!(c["Labels"]["a"], "b");
    assert_eq!(c["Labels"]["from"], "image");
    assert_eq!(c["StopSignal"], "SIGUSR1");
    assert!(c["Env"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("FROM_IMAGE=yes")));
    assert_eq!(c["Hostname"].as_str().unwrap().len(), 12);
    let h = &v["HostConfig"];
    assert_eq!(h["Memory"], 32 << 20);
    assert_eq!(h["RestartPolicy"]["Name"], "no");
    assert_eq!(h["LogConfig"]["Type"], "json-file");
    assert_eq!(v["RestartCount"], 0);
    assert!(v["Mounts"].as_array().unwrap().is_empty());
    assert!(v["Created"].as_str().unwrap().ends_with('Z'));
    // prune removes it
    let r = env
        .engine
        .prune_containers_with(&engine::filters::Filters::new())
        .unwrap();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.containers_deleted.len(), 1);
    assert!(env.engine.inspect("insp").is_err());
}

/// The typed request without any flag syntax, as the API face will give it:
/// docker's JSON field names straight into `CreateOptions`, then run.
#[test]
fn typed_options_from_dockers_json() {
    let env = Env::new();
    let o: engine::CreateOptions = serde_json::from_value(serde_json::json!({
        "Image": "busybox",
        "Cmd": ["sh", "-c", "readlink /proc/self/ns/pid; grep Cpus_allowed_list /proc/self/status; cat /proc/sys/kernel/shmmax"],
        "NetworkMode": "none",
        "PidMode": "host",
        "Sysctls": {"kernel.shmmax": "4242"},
        "CpuShares": 512,
        "CpusetCpus": "0",
        "Memory": 64 << 20,
        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
        "Healthcheck": {"Test": ["NONE"]},
        "Runtime": common::test_runtime(),
    }))
    .unwrap();
    assert_eq!(o.pid_mode, engine::options::NamespaceMode::Host);
    let a = env.engine.run(&o).unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(a.copy_output_and_wait(&mut out, &mut err).unwrap(), 0);
    let out = String::from_utf8_lossy(&out).into_owned();
    let lines: Vec<&str> = out.lines().collect();
    let host_pid = std::fs::read_link("/proc/self/ns/pid").unwrap();
    assert_eq!(lines[0], host_pid.to_string_lossy(), "{out}");
    assert!(
        lines[1].ends_with("\t0") || lines[1].ends_with(" 0"),
        "{out}"
    );
    assert_eq!(lines[2], "4242");
    let id = env.engine.list(true).unwrap()[0].id.clone();
    let v = env.engine.inspect(&id).unwrap();
    let h = &v["HostConfig"];
    assert_eq!(h["PidMode"], "host");
    assert_eq!(h["CpuShares"], 512);
    assert_eq!(h["CpusetCpus"], "0");
    assert_eq!(h["Sysctls"]["kernel.shmmax"], "4242");
    assert_eq!(h["Memory"], 64 << 20);
    assert_eq!(
        v["Config"]["Healthcheck"]["Test"],
        serde_json::json!(["NONE"])
    );
    // A value the engine refuses, given typed: one line naming the flag.
    let mut bad = o.clone();
    bad.sysctls = [("kernel.shmmax".to_string(), "1".to_string())].into();
    bad.ipc_mode = engine::options::NamespaceMode::Host;
    let e = env.engine.create(&bad).unwrap_err().to_string();
    assert!(e.starts_with("invalid --sysctl "), "{e}");
}

//! The container verbs end to end: the real `berth` binary (acting as its
//! own monitor) on a per-test root with a busybox image imported on the
//! spot. Needs root (namespaces, overlay, cgroups).

mod common;

use std::time::{Duration, Instant};

use common::Env;

/// A test root with the busybox image `bb`; removes its containers at the end.
struct Ctr {
    env: Env,
    image_id: String,
}

impl Ctr {
    fn new() -> Ctr {
        let env = Env::new();
        let image_id = env.import_busybox("bb", &[]);
        Ctr { env, image_id }
    }

    fn ok(&self, args: &[&str]) -> String {
        self.env.ok(args)
    }

    /// Run; (exit code, stdout, stderr).
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        self.env.run(args)
    }

    fn ps(&self, all: bool) -> Vec<String> {
        let mut args = vec![
            "ps",
            "--no-trunc",
            "--format",
            "{{.ID}} {{.Names}} {{.Status}}",
        ];
        if all {
            args.push("-a");
        }
        self.ok(&args).lines().map(str::to_string).collect()
    }

    fn until(&self, what: &str, mut f: impl FnMut() -> bool) {
        let t = Instant::now();
        while !f() {
            assert!(t.elapsed() < Duration::from_secs(10), "timed out: {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Ctr {
    fn drop(&mut self) {
        let ids = self.env.output(&["ps", "-a", "-q", "--no-trunc"]);
        for id in String::from_utf8_lossy(&ids.stdout).lines() {
            let _ = self.env.output(&["rm", "-f", id]);
        }
    }
}

#[test]
fn run_attached_output_and_exit_codes() {
    let c = Ctr::new();
    let (code, out, _) = c.run(&["run", "bb", "echo", "hi"]);
    assert_eq!((code, out.as_str()), (0, "hi\n"));

    let (code, out, err) = c.run(&["run", "bb", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(code, 3);
    assert_eq!(out, "out\n");
    assert_eq!(err, "err\n");

    let (code, _, err) = c.run(&["run", "bb", "no-such-command"]);
    assert_eq!(code, 127, "{err}");
    assert!(
        err.starts_with("berth: ") && err.contains("no-such-command"),
        "{err}"
    );

    // Flags after the image belong to the command.
    let (code, out, _) = c.run(&["run", "-e", "A=1", "bb", "sh", "-c", "echo $A -l"]);
    assert_eq!((code, out.as_str()), (0, "1 -l\n"));
}

#[test]
fn bad_flag_values_are_usage_errors() {
    let c = Ctr::new();
    let err = c.env.fails(&["run", "--memory", "lots", "bb", "true"], 125);
    assert!(err.starts_with("berth: invalid --memory"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let err = c
        .env
        .fails(&["run", "--health-interval", "10", "bb", "true"], 125);
    assert!(err.contains("--health-interval"), "{err}");
    let err = c.env.fails(
        &["run", "--pull", "never", "nosuchimage-local-only", "true"],
        125,
    );
    assert!(err.contains("No such image"), "{err}");
    // An unknown flag before the image (docker: "unknown flag: --bogus").
    let err = c.env.fails(&["run", "--bogus=1", "bb", "true"], 125);
    assert!(err.contains("unknown flag: --bogus"), "{err}");
    // The command's own flags after the image are its own.
    let (code, out, _) = c.run(&["run", "--rm", "bb", "ls", "-d", "/"]);
    assert_eq!((code, out.as_str()), (0, "/\n"));
    assert!(c.ps(true).is_empty());
}

#[test]
fn detached_lifecycle() {
    let c = Ctr::new();
    let id = c
        .ok(&[
            "run",
            "-d",
            "--name",
            "web",
            "bb",
            "sh",
            "-c",
            "echo started; exec busybox sleep 60",
        ])
        .trim()
        .to_string();
    assert_eq!(id.len(), 64, "{id}");
    let ps = c.ps(false);
    assert_eq!(ps.len(), 1, "{ps:?}");
    assert!(ps[0].starts_with(&format!("{id} web Up")), "{ps:?}");
    // The default table: docker's columns and the short id.
    let table = c.ok(&["ps"]);
    assert!(
        table.starts_with("CONTAINER ID   IMAGE     COMMAND"),
        "{table}"
    );
    assert!(table.contains(&id[..12]) && !table.contains(&id), "{table}");

    c.until("log line", || c.ok(&["logs", "web"]) == "started\n");

    assert_eq!(c.ok(&["stop", "-t", "1", "web"]), "web\n");
    assert!(c.ps(false).is_empty());
    let all = c.ps(true);
    assert_eq!(all.len(), 1);
    assert!(all[0].contains(" Exited ("), "{all:?}");
    assert_eq!(c.ok(&["rm", "web"]), "web\n");
    assert!(c.ps(true).is_empty());
}

#[test]
fn rm_flag_removes_the_container() {
    let c = Ctr::new();
    let (code, out, _) = c.run(&["run", "--rm", "bb", "echo", "gone"]);
    assert_eq!((code, out.as_str()), (0, "gone\n"));
    assert!(c.ps(true).is_empty(), "{:?}", c.ps(true));
    // `wait` on a detached --rm container prints its code, though the
    // container is gone when it returns.
    let id = c.ok(&["run", "-d", "--rm", "bb", "sh", "-c", "sleep 1; exit 3"]);
    assert_eq!(c.ok(&["wait", id.trim()]), "3\n");
    assert!(c.ps(true).is_empty(), "{:?}", c.ps(true));
    // A --rm container's overlay is volatile (no sync of the host
    // filesystem when it goes); a kept container's is not.
    let root = |args: &[&str]| {
        let mut a = vec!["run"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["bb", "sh", "-c", "grep ' / overlay ' /proc/mounts"]);
        let (code, out, err) = c.run(&a);
        assert_eq!(code, 0, "{err}");
        out
    };
    assert!(root(&["--rm"]).contains("volatile"));
    assert!(!root(&[]).contains("volatile"));
    // Its records are marked volatile; a created --rm container starts
    // (and remounts) as any other.
    // (-v: the rootfs is mounted at create to fill the volume, then again.)
    let id = c
        .ok(&["create", "--rm", "-v", "/data", "bb", "echo", "later"])
        .trim()
        .to_string();
    assert!(c
        .env
        .root()
        .join(format!("containers/{id}/volatile"))
        .exists());
    let (code, out, err) = c.run(&["start", "-a", &id]);
    assert_eq!((code, out.as_str()), (0, "later\n"), "{err}");
    c.until("removed", || {
        !c.env.root().join(format!("containers/{id}")).exists()
    });
    // After a crash (another boot) its upper directory is not trusted: the
    // start fails, and the failed start of a --rm container removes it.
    let id = c
        .ok(&["create", "--rm", "-v", "/data", "bb", "true"])
        .trim()
        .to_string();
    std::fs::write(
        c.env.root().join(format!("containers/{id}/volatile")),
        "other boot\n",
    )
    .unwrap();
    let (code, _, err) = c.run(&["start", &id]);
    assert_ne!(code, 0);
    assert!(err.contains("did not survive"), "{err}");
    assert!(!c.env.root().join(format!("containers/{id}")).exists());
    let ps = c.ps(true);
    assert!(ps.iter().all(|l| !l.contains(&id)), "{ps:?}");
}

#[test]
fn name_conflict_keeps_the_first() {
    let c = Ctr::new();
    let id = c
        .ok(&["create", "--name", "dup", "bb", "true"])
        .trim()
        .to_string();
    let err = c.env.fails(&["run", "--name", "dup", "bb", "true"], 125);
    assert!(err.contains("already in use"), "{err}");
    let all = c.ps(true);
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(all[0].starts_with(&format!("{id} dup Created")), "{all:?}");
}

#[test]
fn exec_output_and_exit_code() {
    let c = Ctr::new();
    c.ok(&["run", "-d", "--name", "ex", "bb", "busybox", "sleep", "60"]);
    let (code, out, _) = c.run(&["exec", "-e", "X=y", "ex", "sh", "-c", "echo in $X; exit 5"]);
    assert_eq!((code, out.as_str()), (5, "in y\n"));
    let (code, out, _) = c.run(&["exec", "-w", "/bin", "ex", "sh", "-c", "pwd"]);
    assert_eq!((code, out.as_str()), (0, "/bin\n"));
    c.env.fails(&["exec", "nosuch", "true"], 1);
    c.ok(&["rm", "-f", "ex"]);
}

#[test]
fn inspect_containers_then_images() {
    let c = Ctr::new();
    let id = c
        .ok(&["create", "--name", "insp", "-l", "k=v", "bb", "echo", "x"])
        .trim()
        .to_string();
    let v: serde_json::Value = serde_json::from_str(&c.ok(&["inspect", "insp"])).unwrap();
    let v = &v[0];
    assert_eq!(v["Id"], id.as_str());
    assert_eq!(v["Name"], "/insp");
    assert_eq!(v["Path"], "echo");
    assert_eq!(v["Args"], serde_json::json!(["x"]));
    assert_eq!(v["State"]["Status"], "created");
    assert_eq!(v["Image"], c.image_id.as_str());
    assert_eq!(v["Config"]["Labels"]["k"], "v");
    assert_eq!(
        c.ok(&["inspect", "--format", "{{.State.Status}} {{.Name}}", "insp"]),
        "created /insp\n"
    );
    // Images too, and --type.
    assert_eq!(
        c.ok(&["inspect", "--format", "{{.Id}}", "bb"]),
        format!("{}\n", c.image_id)
    );
    c.env.fails(&["inspect", "--type", "image", "insp"], 1);
    let err = c.env.fails(&["inspect", "nothing-here"], 1);
    assert!(err.contains("No such object: nothing-here"), "{err}");
}

#[test]
fn rmi_refuses_an_image_in_use() {
    let c = Ctr::new();
    c.ok(&["create", "--name", "user", "bb", "true"]);
    let err = c.env.fails(&["rmi", "bb"], 1);
    assert!(err.contains("is using its referenced image"), "{err}");
    assert_eq!(c.env.names(), vec!["bb:latest".to_string()]);
    // By id: docker's stopped-container conflict.
    let err = c.env.fails(&["rmi", &c.image_id], 1);
    assert!(
        err.contains("image is being used by stopped container"),
        "{err}"
    );
    // A second name of the image may go without -f.
    c.ok(&["tag", "bb", "bb:two"]);
    assert_eq!(c.ok(&["rmi", "bb:two"]), "Untagged: bb:two\n");
    // Under a running container: -f of the last name only untags (the
    // image stays, as <none>); -f by id is refused.
    c.ok(&["rm", "user"]);
    c.ok(&[
        "run", "-d", "--name", "runner", "bb", "busybox", "sleep", "100",
    ]);
    let err = c.env.fails(&["rmi", "-f", &c.image_id], 1);
    assert!(
        err.contains("(cannot be forced) - image is being used by running container"),
        "{err}"
    );
    assert_eq!(c.ok(&["rmi", "-f", "bb"]), "Untagged: bb:latest\n");
    assert_eq!(
        c.ok(&["images", "-q", "--no-trunc"]).trim(),
        c.image_id.as_str()
    );
    assert_eq!(
        c.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]),
        "<none>:<none>\n"
    );
    c.ok(&["rm", "-f", "runner"]);
    c.ok(&["rmi", &c.image_id]);
    assert_eq!(c.ok(&["images", "-q"]), "");
}

#[test]
fn ps_format_and_container_group() {
    let c = Ctr::new();
    c.ok(&["run", "--name", "done", "-l", "a=b", "bb", "true"]);
    assert_eq!(
        c.ok(&[
            "container",
            "ls",
            "-a",
            "--format",
            "{{.Names}} {{.Image}} {{.Command}} {{.Labels}}"
        ]),
        "done bb \"true\" a=b\n"
    );
    assert_eq!(c.ok(&["ps", "-q"]), "");
    assert_eq!(
        c.ok(&["container", "prune", "-f"]).lines().next(),
        Some("Deleted Containers:")
    );
    assert!(c.ps(true).is_empty());
}

#[test]
fn ps_format_mounts_networks_size_label() {
    let c = Ctr::new();
    let host = c.env.path("hostdir");
    std::fs::create_dir(&host).unwrap();
    let bind = format!("{}:/h", host.display());
    c.ok(&[
        "run",
        "--name",
        "m1",
        "-l",
        "k=v",
        "-v",
        "a-volume-name-longer-than-15:/data",
        "-v",
        &bind,
        "--network",
        "none",
        "bb",
        "sh",
        "-c",
        "echo hello > /f",
    ]);
    c.ok(&["create", "--name", "m2", "bb", "true"]);
    let f = r#"{{.Names}}|{{.Mounts}}|{{.Networks}}|{{.Label "k"}}|{{.Label "nope"}}|{{.LocalVolumes}}"#;
    let rows = c.ok(&["ps", "-a", "--no-trunc", "--format", f]);
    let want = format!(
        "m2||bridge|||0\nm1|a-volume-name-longer-than-15,{}|none|v||1\n",
        host.display()
    );
    assert_eq!(rows, want);
    // Truncated as docker's: 15 characters, the last an ellipsis.
    let m = c.ok(&["ps", "-a", "-f", "name=m1", "--format", "{{.Mounts}}"]);
    assert!(m.starts_with("a-volume-name-…,"), "{m}");
    // .Size asks for sizes: the container's layer (the 6 bytes of /f),
    // virtual with the image.
    let size = c.ok(&["ps", "-a", "-f", "name=m1", "--format", "{{.Size}}"]);
    let (rw, virt) = size
        .trim()
        .split_once(" (virtual ")
        .expect("a virtual size");
    assert_eq!(rw, "6B", "{size}");
    assert!(virt.ends_with("MB)") || virt.ends_with("kB)"), "{size}");
    let rf = c.ok(&["ps", "-a", "-f", "name=m1", "--format", "{{.RunningFor}}"]);
    assert!(rf.trim().ends_with(" ago"), "{rf}");
    // The table header of a method call.
    let t = c.ok(&[
        "ps",
        "-a",
        "--format",
        r#"table {{.Label "k"}}\t{{.Networks}}"#,
    ]);
    assert!(t.lines().next().unwrap().starts_with("LABEL"), "{t}");
    assert!(t.lines().next().unwrap().contains("NETWORKS"), "{t}");
    // --format json: docker's keys.
    let j = c.ok(&["ps", "-a", "-f", "name=m1", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(j.trim()).unwrap();
    assert_eq!(v["Networks"], "none");
    assert_eq!(v["LocalVolumes"], "1");
    assert!(v.get("Label").is_none(), "{j}");
}

#[test]
fn run_pulls_a_missing_image() {
    let Some(reg) = common::DockerRegistry::start(None) else {
        return;
    };
    let c = Ctr::new();
    let dest = reg.name("test/bb:1");
    c.ok(&["push", "bb", &dest]);
    let fresh = Ctr {
        env: Env::new(),
        image_id: c.image_id.clone(),
    };
    let (code, out, err) = fresh.run(&["run", "--rm", &dest, "echo", "pulled"]);
    assert_eq!((code, out.as_str()), (0, "pulled\n"), "{err}");
    assert!(
        err.starts_with(&format!("Unable to find image '{dest}' locally\n")),
        "{err}"
    );
    assert!(err.contains("Status: Downloaded newer image"), "{err}");
    // -d prints only the id on stdout.
    let id = fresh.ok(&["run", "-d", &dest, "true"]);
    assert_eq!(id.trim().len(), 64, "{id}");
}

#[test]
fn run_flags_reach_the_container() {
    let c = Ctr::new();
    let vol = c.env.path("vol");
    std::fs::create_dir_all(&vol).unwrap();
    std::fs::write(vol.join("f"), "from-host\n").unwrap();
    let envf = c.env.path("env.list");
    std::fs::write(&envf, "# comment\nFROM_FILE=yes\n\n").unwrap();
    let v = format!("{}:/data:ro", vol.display());
    let script = "echo $FROM_FILE $B; pwd; busybox id -u; cat /etc/hostname; cat /data/f; \
                  grep -q ' /scratch tmpfs' /proc/mounts && echo tmpfs; ls /sys/class/net; \
                  echo x > /rootfile 2>/dev/null || echo read-only";
    let out = c.ok(&[
        "run",
        "--rm",
        "--env-file",
        envf.to_str().unwrap(),
        "-e",
        "B=2",
        "-w",
        "/tmp",
        "-u",
        "1234",
        "-h",
        "box",
        "-v",
        &v,
        "--tmpfs",
        "/scratch",
        "--network",
        "none",
        "--read-only",
        "--entrypoint",
        "sh",
        "bb",
        "-c",
        script,
    ]);
    assert_eq!(
        out,
        "yes 2\n/tmp\n1234\nbox\nfrom-host\ntmpfs\nlo\nread-only\n"
    );
}

#[test]
fn start_attach_wait_and_logs() {
    let c = Ctr::new();
    c.ok(&[
        "create",
        "--name",
        "two",
        "bb",
        "sh",
        "-c",
        "echo one; echo two; exit 2",
    ]);
    let (code, out, _) = c.run(&["start", "-a", "two"]);
    assert_eq!((code, out.as_str()), (2, "one\ntwo\n"));
    assert_eq!(c.ok(&["wait", "two"]), "2\n");
    assert_eq!(c.ok(&["logs", "--tail", "1", "two"]), "two\n");
    let ts = c.ok(&["logs", "-t", "two"]);
    assert!(
        ts.lines().all(|l| l.len() > 20 && l.as_bytes()[4] == b'-'),
        "{ts}"
    );
    // Started again (detached): the output is appended.
    assert_eq!(c.ok(&["start", "two"]), "two\n");
    assert_eq!(c.ok(&["wait", "two"]), "2\n");
    assert_eq!(c.ok(&["logs", "two"]), "one\ntwo\none\ntwo\n");
    c.env.fails(&["logs", "--tail", "many", "two"], 125);
    c.env.fails(&["stop", "nosuch"], 1);
}

/// Layers are not synced when unpacked (their blobs are): after a restart
/// of the machine the tree may be torn, and is unpacked again before a
/// container uses it. Simulated by marking the snapshot as written in
/// another boot and truncating busybox in it.
#[test]
fn layers_unsynced_before_a_restart_are_unpacked_again() {
    let c = Ctr::new();
    c.ok(&["create", "--name", "st", "bb", "echo", "still here"]);
    let mut snaps = Vec::new();
    for e in std::fs::read_dir(c.env.root().join("snapshots"))
        .unwrap()
        .flatten()
    {
        let meta = e.path().join("meta.json");
        if meta.is_file() {
            snaps.push(e.path());
        }
    }
    assert_eq!(snaps.len(), 1, "{snaps:?}");
    let tear = |dir: &std::path::Path| {
        let meta = dir.join("meta.json");
        let mut m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
        assert!(m["unsynced_boot"].is_string(), "{m}");
        m["unsynced_boot"] = "00000000-another-boot".into();
        std::fs::write(&meta, m.to_string()).unwrap();
        std::fs::write(dir.join("fs/bin/busybox"), b"").unwrap();
    };
    // An existing container's start...
    tear(&snaps[0]);
    let (code, out, err) = c.run(&["start", "-a", "st"]);
    assert_eq!((code, out.as_str()), (0, "still here\n"), "{err}");
    // ... and a new container.
    tear(&snaps[0]);
    let (code, out, err) = c.run(&["run", "--rm", "bb", "echo", "new"]);
    assert_eq!((code, out.as_str()), (0, "new\n"), "{err}");
}

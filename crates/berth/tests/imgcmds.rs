//! history, diff, export and commit end to end, compared with what the
//! docker CLI reference documents for `image history`, `container diff`,
//! `container export` and `container commit`. Needs root (overlay mounts,
//! namespaces).

mod common;

use std::process::Stdio;

use common::Env;

/// A root with the image `bb`: busybox with /etc/keep, /etc/change and
/// /etc/gone; removes its containers at the end.
struct Ctx {
    env: Env,
}

impl Ctx {
    fn new() -> Ctx {
        let env = Env::new();
        let tar = berth_testkit::busybox_tar_with(
            &["bin/", "etc/", "tmp/"],
            &[
                "sh", "ls", "cat", "echo", "rm", "mkdir", "sleep", "true", "ln", "readlink",
            ],
            &[
                ("etc/keep", b"keep\n"),
                ("etc/change", b"old\n"),
                ("etc/gone", b"gone\n"),
            ],
        );
        let p = env.path("bb.tar");
        std::fs::write(&p, tar).unwrap();
        env.ok(&["import", "-m", "from a tarball", p.to_str().unwrap(), "bb"]);
        Ctx { env }
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        let ids = self.env.output(&["ps", "-a", "-q", "--no-trunc"]);
        for id in String::from_utf8_lossy(&ids.stdout).lines() {
            let _ = self.env.output(&["rm", "-f", id]);
        }
    }
}

const CHANGE: &str =
    "echo new > /etc/change; rm /etc/gone; mkdir -p /data/sub; echo x > /data/sub/f";

#[test]
fn history_of_an_imported_image() {
    let c = Ctx::new();
    let e = &c.env;
    let out = e.ok(&["history", "bb"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    // docker's columns, aligned as its tabwriter does.
    let h = lines[0];
    for col in ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"] {
        assert!(h.contains(col), "{h}");
    }
    let id = e.ok(&["images", "-q", "bb"]).trim().to_string();
    assert!(lines[1].starts_with(&id), "{out}");
    assert!(lines[1].contains("second"), "{out}");
    assert!(lines[1].contains("berth import"), "{out}");
    assert!(lines[1].trim_end().ends_with("from a tarball"), "{out}");
    assert!(lines[1].contains("MB"), "{out}");
    // -q: ids; --no-trunc: full ids; -H=false: bytes and RFC 3339 times.
    assert_eq!(e.ok(&["image", "history", "-q", "bb"]).trim(), id);
    let full = e.ok(&["history", "--no-trunc", "-q", "bb"]);
    assert!(
        full.trim().starts_with("sha256:") && full.trim().len() == 71,
        "{full}"
    );
    let raw = e.ok(&[
        "history",
        "-H=false",
        "--format",
        "{{.CreatedSince}}|{{.Size}}",
        "bb",
    ]);
    let (t, size) = raw.trim().split_once('|').unwrap();
    assert!(
        t.len() == 20 && t.ends_with('Z') && t.as_bytes()[10] == b'T',
        "{raw}"
    );
    assert!(size.parse::<u64>().unwrap() > 100_000, "{raw}");
    // json: docker's formatter fields.
    let j: serde_json::Value =
        serde_json::from_str(e.ok(&["history", "--format", "json", "bb"]).trim()).unwrap();
    for k in [
        "ID",
        "CreatedSince",
        "CreatedAt",
        "CreatedBy",
        "Size",
        "Comment",
    ] {
        assert!(j.get(k).is_some(), "{j}");
    }
    // --platform: the image's own is found, another is refused.
    let host = format!(
        "linux/{}",
        std::env::consts::ARCH
            .replace("x86_64", "amd64")
            .replace("aarch64", "arm64")
    );
    assert_eq!(
        e.ok(&["history", "-q", "--platform", &host, "bb"]).trim(),
        id
    );
    let err = e.fails(&["history", "--platform", "linux/s390x", "bb"], 1);
    assert_eq!(
        err.trim(),
        "berth: image with reference bb:latest was found but does not match the specified platform: wanted linux/s390x"
    );
    let err = e.fails(&["history", "nope"], 1);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("No such image: nope"), "{err}");
}

#[test]
fn diff_after_run_adds_changes_and_deletes() {
    let c = Ctx::new();
    let e = &c.env;
    e.ok(&["run", "--name", "d1", "bb", "sh", "-c", CHANGE]);
    let out = e.ok(&["diff", "d1"]);
    // docker's format: one "K /path" a line, parents before children,
    // the parent of an added or deleted entry changed.
    let want = [
        "C /etc",
        "C /etc/change",
        "D /etc/gone",
        "A /data",
        "A /data/sub",
        "A /data/sub/f",
    ];
    let lines: Vec<&str> = out.lines().collect();
    for w in want {
        assert!(lines.contains(&w), "{w} missing from:\n{out}");
    }
    for l in &lines {
        assert!(matches!(&l[..2], "A " | "C " | "D "), "{out}");
        assert!(!l.contains("keep"), "{out}");
        // The mount points the runtime made are not changes.
        assert!(
            !l.contains("/etc/hosts") && !l.contains("/etc/resolv.conf"),
            "{out}"
        );
    }
    let pos = |p: &str| lines.iter().position(|l| *l == p).unwrap();
    assert!(pos("C /etc") < pos("C /etc/change") && pos("A /data") < pos("A /data/sub/f"));
    assert_eq!(out, e.ok(&["container", "diff", "d1"]));
    // A container that changed nothing: no change, though the runtime
    // made its mount points (/etc/hosts...) in /etc, as docker's init
    // layer hides them.
    e.ok(&["run", "--name", "d0", "bb", "true"]);
    assert_eq!(e.ok(&["diff", "d0"]), "");
    // Modifying a file leaves its directory unchanged.
    e.ok(&[
        "run",
        "--name",
        "d2",
        "bb",
        "sh",
        "-c",
        "echo z > /etc/keep",
    ]);
    assert_eq!(e.ok(&["diff", "d2"]), "C /etc/keep\n");
    let err = e.fails(&["diff", "nope"], 1);
    assert_eq!(err.trim(), "berth: No such container: nope");
}

#[test]
fn export_then_import_round_trips() {
    let c = Ctx::new();
    let e = &c.env;
    // Symlinks to the host's root and out of the container: archived as
    // links, never followed.
    let script = format!("{CHANGE}; ln -s / /up; ln -s ../../../../etc/shadow /tmp/sh");
    e.ok(&["run", "--name", "x1", "bb", "sh", "-c", &script]);
    let tar = e.path("x1.tar");
    e.ok(&["export", "-o", tar.to_str().unwrap(), "x1"]);
    // stdout when redirected: the same archive.
    let o = e
        .cmd(&["container", "export", "x1"])
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(o.stdout, std::fs::read(&tar).unwrap());
    let mut names = Vec::new();
    let mut ar = tar::Archive::new(std::fs::File::open(&tar).unwrap());
    for en in ar.entries().unwrap() {
        let en = en.unwrap();
        let name = en.path().unwrap().to_string_lossy().into_owned();
        if name == "up" || name == "tmp/sh" {
            assert_eq!(en.header().entry_type(), tar::EntryType::Symlink, "{name}");
        }
        assert!(
            !name.starts_with("up/") && !name.contains("shadow"),
            "{name}"
        );
        names.push(name);
    }
    assert!(names.contains(&"up".to_string()) && names.contains(&"tmp/sh".to_string()));
    assert!(names.contains(&"etc/change".to_string()), "{names:?}");
    assert!(!names.contains(&"etc/gone".to_string()), "{names:?}");
    assert!(names.contains(&"data/sub/f".to_string()), "{names:?}");
    // The container was not running: its read-only view is unmounted.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let view = format!("{}/run/export-", e.root().display());
    assert!(!mounts.contains(&view), "{mounts}");
    e.ok(&["import", tar.to_str().unwrap(), "exported"]);
    let got = e.ok(&[
        "run",
        "--rm",
        "exported",
        "sh",
        "-c",
        "cat /etc/change /etc/keep /data/sub/f; ls /etc",
    ]);
    assert!(got.starts_with("new\nkeep\nx\n"), "{got}");
    assert!(!got.contains("gone"), "{got}");
    // A terminal on stdout is refused, as docker does (util-linux's
    // script gives the command one).
    let cmd = format!(
        "{} --root {} export x1; echo rc=$?",
        common::BERTH,
        e.root().display()
    );
    let o = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("util-linux script");
    let text = String::from_utf8_lossy(&o.stdout).replace('\r', "");
    assert_eq!(
        text,
        "berth: cowardly refusing to save to a terminal. Use the -o flag or redirect\nrc=1\n"
    );
    let err = e.fails(&["export", "-o", tar.to_str().unwrap(), "nope"], 1);
    assert_eq!(err.trim(), "berth: No such container: nope");
}

#[test]
fn commit_with_changes_message_and_author() {
    let c = Ctx::new();
    let e = &c.env;
    e.ok(&["run", "--name", "c1", "bb", "sh", "-c", CHANGE]);
    let id = e
        .ok(&[
            "commit",
            "-c",
            r#"CMD ["cat", "/etc/change"]"#,
            "-c",
            "ENV A=1",
            "-c",
            "ONBUILD RUN true",
            "-m",
            "my change",
            "-a",
            "Jane <jane@example.com>",
            "c1",
            "committed:v1",
        ])
        .trim()
        .to_string();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    // The new image runs with its new CMD and the container's files.
    assert_eq!(e.ok(&["run", "--rm", "committed:v1"]), "new\n");
    let got = e.ok(&[
        "run",
        "--rm",
        "committed:v1",
        "sh",
        "-c",
        "cat /etc/keep /data/sub/f; test -e /etc/gone || echo gone; echo $A",
    ]);
    assert_eq!(got, "keep\nx\ngone\n1\n", "{got}");
    let f = e.ok(&[
        "image",
        "inspect",
        "--format",
        "{{.Id}}|{{.Author}}|{{.Comment}}|{{json .Config.Cmd}}|{{len .RootFS.Layers}}|{{json .Config.OnBuild}}",
        "committed:v1",
    ]);
    assert_eq!(
        f.trim(),
        format!(r#"{id}|Jane <jane@example.com>|my change|["cat","/etc/change"]|2|["RUN true"]"#)
    );
    // history: the commit on top (the container's command as CREATED BY),
    // the parent image's entry named by its id.
    let h = e.ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.ID}}|{{.CreatedBy}}|{{.Comment}}",
        "committed:v1",
    ]);
    let base = e
        .ok(&["images", "-q", "--no-trunc", "bb"])
        .trim()
        .to_string();
    assert_eq!(
        h,
        format!("{id}|sh -c {CHANGE}|my change\n{base}|berth import|from a tarball\n")
    );
    // A container that changed nothing commits an empty layer (size 0B).
    // (The mount points the runtime made at start are no change.)
    e.ok(&["run", "--name", "c2", "bb", "true"]);
    let id2 = e.ok(&["commit", "c2"]).trim().to_string();
    assert_eq!(
        e.ok(&[
            "image",
            "inspect",
            "--format",
            "{{len .RootFS.Layers}}",
            &id2
        ])
        .trim(),
        "1"
    );
    let h2 = e.ok(&["history", "--format", "{{.Size}}", &id2]);
    assert_eq!(h2.lines().next(), Some("0B"), "{h2}");
    let err = e.fails(&["commit", "nope"], 1);
    assert_eq!(err.trim(), "berth: No such container: nope");
    // The image removed under the container: said so, in one line.
    e.ok(&["commit", "c2", "base2"]);
    e.ok(&[
        "run",
        "--name",
        "c3",
        "base2",
        "sh",
        "-c",
        "echo 3 > /tmp/3",
    ]);
    e.ok(&["rmi", "-f", "base2"]);
    let err = e.fails(&["commit", "c3"], 1);
    assert!(
        err.contains("is no longer in the store") && err.lines().count() == 1,
        "{err}"
    );
    // An instruction --change does not take: one line naming it, exit 1
    // (docker: the daemon's 400, as `import -c`).
    let err = e.fails(&["commit", "-c", "RUN x", "c1"], 1);
    assert!(
        err.starts_with("berth: invalid change 'RUN x': RUN is not a valid change command"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn commit_of_a_running_container_pauses_it() {
    let c = Ctx::new();
    let e = &c.env;
    e.ok(&[
        "run",
        "-d",
        "--name",
        "r1",
        "bb",
        "sh",
        "-c",
        "echo hi > /tmp/f; exec sleep 60",
    ]);
    let t = std::time::Instant::now();
    while e.ok(&["diff", "r1"]).lines().all(|l| l != "A /tmp/f") {
        assert!(
            t.elapsed().as_secs() < 10,
            "the container never wrote /tmp/f"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let id = e
        .ok(&["container", "commit", "r1", "snap"])
        .trim()
        .to_string();
    assert!(id.starts_with("sha256:"), "{id}");
    // Running again, not left paused.
    assert_eq!(
        e.ok(&["inspect", "--format", "{{.State.Status}}", "r1"])
            .trim(),
        "running"
    );
    assert_eq!(e.ok(&["run", "--rm", "snap", "cat", "/tmp/f"]), "hi\n");
    // --no-pause (and the deprecated --pause=false) commit without
    // pausing; both together are refused, as docker does.
    for flag in ["--no-pause", "--pause=false"] {
        let id2 = e.ok(&["commit", flag, "r1"]).trim().to_string();
        assert!(id2.starts_with("sha256:"), "{id2}");
    }
    let err = e.fails(&["commit", "--no-pause", "-p", "r1"], 1);
    assert!(
        err.contains("conflicting options: --no-pause and --pause"),
        "{err}"
    );
}

/// An export of a stopped container killed half way (its output never
/// read) leaves the container's rootfs mounted: what a killed run leaves,
/// and `rm` cleans it up like that.
#[test]
fn export_killed_half_way_leaves_nothing_rm_does_not_clean() {
    let ctx = Ctx::new();
    let id = ctx.env.ok(&["create", "bb", "true"]).trim().to_string();
    let rootfs = ctx.env.root().join("containers").join(&id).join("rootfs");
    let mounted = || {
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .any(|l| l.split(' ').nth(4) == Some(rootfs.to_str().unwrap()))
    };
    let mut child = ctx
        .env
        .cmd(&["export", &id])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    while !mounted() {
        assert!(
            t.elapsed().as_secs() < 10,
            "export never mounted the rootfs"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap();
    let _ = child.wait();
    // A host process with "--id ID" in its command line is not a monitor
    // starting the container: rm goes on.
    let mut poser = std::process::Command::new("sh")
        .args(["-c", "sleep 30", "--id", &id])
        .spawn()
        .unwrap();
    ctx.env.ok(&["rm", &id]);
    let _ = poser.kill();
    let _ = poser.wait();
    assert!(!mounted(), "the rootfs stayed mounted");
    let left: Vec<_> = std::fs::read_dir(ctx.env.root().join("run"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().starts_with("export-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

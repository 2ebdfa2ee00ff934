//! The docker CLI reference's examples of `ps --filter`, `images --filter`,
//! `container prune --filter`, `image prune --filter`, `inspect --size`,
//! `inspect --type` and `update`, through the real `berth` binary; where
//! podman prints the same for the same input, compared with it.

mod common;

use std::process::Command;

use common::{require, Env};

struct T {
    env: Env,
}

impl T {
    fn new() -> T {
        let env = Env::new();
        env.import_busybox("bb", &[]);
        T { env }
    }

    fn ok(&self, args: &[&str]) -> String {
        self.env.ok(args)
    }

    /// `ps -a --filter F... --format {{.Names}}`, sorted.
    fn ps(&self, filters: &[&str]) -> Vec<String> {
        let mut args = vec!["ps", "-a", "--format", "{{.Names}}"];
        for f in filters {
            args.push("--filter");
            args.push(f);
        }
        let mut v: Vec<String> = self.ok(&args).lines().map(str::to_string).collect();
        v.sort();
        v
    }
}

impl Drop for T {
    fn drop(&mut self) {
        let ids = self.env.output(&["ps", "-a", "-q", "--no-trunc"]);
        for id in String::from_utf8_lossy(&ids.stdout).lines() {
            let _ = self.env.output(&["rm", "-f", id]);
        }
        let _ = self.env.output(&["volume", "prune", "-f", "-a"]);
    }
}

#[test]
fn ps_filter_reference_examples() {
    let t = T::new();
    // docker's "label" example: containers with the label color, and
    // color=blue.
    t.ok(&[
        "create",
        "--network",
        "none",
        "--name",
        "nostalgic_stallman",
        "--label",
        "color=blue",
        "bb",
        "busybox",
        "sleep",
        "60",
    ]);
    t.ok(&[
        "create",
        "--network",
        "none",
        "--name",
        "recursing_kare",
        "--label",
        "color=red",
        "bb",
        "true",
    ]);
    t.ok(&[
        "create",
        "--network",
        "none",
        "--name",
        "plain",
        "-v",
        "remote-volume:/data",
        "bb",
        "busybox",
        "sleep",
        "60",
    ]);
    assert_eq!(
        t.ps(&["label=color"]),
        ["nostalgic_stallman", "recursing_kare"]
    );
    assert_eq!(t.ps(&["label=color=blue"]), ["nostalgic_stallman"]);
    // "name": a substring (a regular expression) of the name.
    assert_eq!(t.ps(&["name=nostalgic"]), ["nostalgic_stallman"]);
    assert_eq!(t.ps(&["name=nostalgic_stallman"]), ["nostalgic_stallman"]);
    // "exited" and "status".
    assert_eq!(t.ok(&["start", "-a", "recursing_kare"]), "");
    t.ok(&["start", "plain"]);
    assert_eq!(t.ps(&["exited=0"]), ["recursing_kare"]);
    assert!(t.ps(&["exited=137"]).is_empty());
    assert_eq!(t.ps(&["status=running"]), ["plain"]);
    assert_eq!(t.ps(&["status=created"]), ["nostalgic_stallman"]);
    t.ok(&["pause", "plain"]);
    assert_eq!(t.ps(&["status=paused"]), ["plain"]);
    t.ok(&["unpause", "plain"]);
    // Without -a, status=exited lists the exited ones too (docker's).
    assert_eq!(
        t.ok(&["ps", "--filter", "status=exited", "--format", "{{.Names}}"]),
        "recursing_kare\n"
    );
    // "ancestor", "before", "since".
    assert_eq!(t.ps(&["ancestor=bb"]).len(), 3);
    assert_eq!(t.ps(&["ancestor=bb:latest"]).len(), 3);
    assert_eq!(
        t.ps(&["before=plain"]),
        ["nostalgic_stallman", "recursing_kare"]
    );
    assert_eq!(
        t.ps(&["since=nostalgic_stallman"]),
        ["plain", "recursing_kare"]
    );
    // "volume": by name or destination, as docker's example prints it.
    assert_eq!(
        t.ok(&[
            "ps",
            "--filter",
            "volume=remote-volume",
            "--format",
            "table {{.Names}}\t{{.Mounts}}"
        ]),
        "NAMES     MOUNTS\nplain     remote-volume\n"
    );
    assert_eq!(t.ps(&["volume=/data"]), ["plain"]);
    assert_eq!(t.ps(&["network=none"]).len(), 3);
    assert_eq!(t.ps(&["health=none"]).len(), 3);
    assert_eq!(t.ps(&["isolation=default"]).len(), 3);
    // Errors: docker's words.
    let err = t.env.fails(&["ps", "--filter", "bogus=1"], 1);
    assert_eq!(err.trim(), "berth: invalid filter 'bogus'");
    let err = t.env.fails(&["ps", "--filter", "status=asleep"], 1);
    assert_eq!(err.trim(), "berth: invalid filter 'status=asleep'");
    let err = t.env.fails(&["ps", "--filter", "novalue"], 125);
    assert!(
        err.contains("bad format of filter (expected name=value)"),
        "{err}"
    );
}

#[test]
fn images_filter_reference_examples() {
    let t = T::new();
    t.env
        .import_busybox("busybox:uclibc", &["LABEL com.example.version=1.0"]);
    t.ok(&["tag", "busybox:uclibc", "busybox:glibc"]);
    t.env
        .import_busybox("", &["LABEL com.example.version=0.1", "CMD [\"x\"]"]);
    let names = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["images", "--format", "{{.Repository}}:{{.Tag}}"];
        a.extend_from_slice(args);
        let mut v: Vec<String> = t.ok(&a).lines().map(str::to_string).collect();
        v.sort();
        v
    };
    assert_eq!(names(&["--filter", "dangling=true"]), ["<none>:<none>"]);
    assert_eq!(
        names(&["--filter", "label=com.example.version"]),
        ["<none>:<none>", "busybox:glibc", "busybox:uclibc"]
    );
    assert_eq!(
        names(&["--filter", "label=com.example.version=0.1"]),
        ["<none>:<none>"]
    );
    assert_eq!(
        names(&["--filter", "reference=busy*"]),
        ["busybox:glibc", "busybox:uclibc"]
    );
    assert_eq!(
        names(&["--filter", "reference=busybox:uclibc"]),
        ["busybox:uclibc"]
    );
    assert_eq!(
        names(&["--filter", "reference=*:*libc"]),
        ["busybox:glibc", "busybox:uclibc"]
    );
    // REPOSITORY[:TAG] is a reference filter too.
    assert_eq!(names(&["busybox"]), ["busybox:glibc", "busybox:uclibc"]);
    assert_eq!(names(&["busybox:glibc"]), ["busybox:glibc"]);
    let err = t.env.fails(&["images", "--filter", "until=1h"], 1);
    assert_eq!(err.trim(), "berth: invalid filter 'until'");
}

#[test]
fn system_prune_refuses_a_bad_filter_before_asking() {
    // `until` with `--volumes` is refused before the confirmation, as
    // docker: nothing asked, nothing removed.
    let t = T::new();
    let err = t
        .env
        .fails(&["system", "prune", "--volumes", "--filter", "until=1h"], 1);
    assert!(err.contains("\"until\" filter is not supported"), "{err}");
}

#[test]
fn prune_filter_reference_examples() {
    let t = T::new();
    t.ok(&[
        "create",
        "--network",
        "none",
        "--name",
        "old",
        "--label",
        "keep",
        "bb",
        "true",
    ]);
    t.ok(&[
        "create",
        "--network",
        "none",
        "--name",
        "tmp",
        "--label",
        "tmp=1",
        "bb",
        "true",
    ]);
    // `until=5m`: nothing is that old.
    let out = t.ok(&["container", "prune", "--force", "--filter", "until=5m"]);
    assert_eq!(out, "Total reclaimed space: 0B\n");
    let out = t.ok(&["container", "prune", "--force", "--filter", "label!=keep"]);
    assert!(out.starts_with("Deleted Containers:\n"), "{out}");
    assert_eq!(t.ps(&[]), ["old"]);
    let out = t.ok(&[
        "container",
        "prune",
        "--force",
        "--filter",
        "until=2099-01-01T00:00:00Z",
        "--filter",
        "label=keep",
    ]);
    assert!(out.starts_with("Deleted Containers:\n"), "{out}");
    assert!(t.ps(&[]).is_empty());
    let err = t
        .env
        .fails(&["container", "prune", "-f", "--filter", "name=x"], 1);
    assert_eq!(err.trim(), "berth: invalid filter 'name'");

    // image prune: -a with until and label, as docker's examples.
    t.env.import_busybox("deprecated:1", &["LABEL deprecated="]);
    t.env
        .import_busybox("maintained:1", &["LABEL maintainer=john", "CMD [\"y\"]"]);
    let out = t.ok(&["image", "prune", "-a", "--force", "--filter", "until=240h"]);
    assert_eq!(
        out, "Total reclaimed space: 0B\n",
        "imported with no date: kept"
    );
    let out = t.ok(&[
        "image",
        "prune",
        "-a",
        "--force",
        "--filter",
        "label=deprecated",
    ]);
    assert!(out.contains("untagged: deprecated:1"), "{out}");
    let out = t.ok(&[
        "image",
        "prune",
        "-a",
        "--force",
        "--filter",
        "label!=maintainer=john",
    ]);
    assert!(out.contains("untagged: bb:latest"), "{out}");
    assert!(!out.contains("maintained"), "{out}");
    assert_eq!(
        t.ok(&["images", "--format", "{{.Repository}}"]),
        "maintained\n"
    );
    let err = t
        .env
        .fails(&["image", "prune", "-f", "--filter", "reference=x"], 1);
    assert_eq!(err.trim(), "berth: invalid filter 'reference'");
}

#[test]
fn inspect_size_and_type() {
    let t = T::new();
    t.ok(&[
        "run",
        "--network",
        "none",
        "--name",
        "sized",
        "bb",
        "sh",
        "-c",
        "echo 12345 > /data.txt",
    ]);
    t.ok(&["volume", "create", "myvolume"]);
    // docker's example: --size adds SizeRw and SizeRootFs.
    let out = t.ok(&[
        "inspect",
        "--size",
        "--format",
        "{{.SizeRw}} {{.SizeRootFs}}",
        "sized",
    ]);
    let v: Vec<u64> = out.split_whitespace().map(|x| x.parse().unwrap()).collect();
    assert!(v[0] >= 6 && v[1] > v[0], "{out}");
    let plain: serde_json::Value = serde_json::from_str(&t.ok(&["inspect", "sized"])).unwrap();
    assert!(plain[0].get("SizeRw").is_none());
    let sized: serde_json::Value =
        serde_json::from_str(&t.ok(&["container", "inspect", "-s", "sized"])).unwrap();
    assert!(sized[0]["SizeRootFs"].as_u64().unwrap() > 0);
    // --type: docker's example `inspect --type=volume myvolume`.
    assert_eq!(
        t.ok(&[
            "inspect",
            "--type=volume",
            "--format",
            "{{.Name}} {{.Driver}}",
            "myvolume"
        ]),
        "myvolume local\n"
    );
    assert_eq!(
        t.ok(&[
            "inspect",
            "--type",
            "network",
            "--format",
            "{{.Name}}",
            "host"
        ]),
        "host\n"
    );
    assert_eq!(
        t.ok(&[
            "inspect",
            "--type",
            "image",
            "--format",
            "{{index .RepoTags 0}}",
            "bb"
        ]),
        "bb:latest\n"
    );
    let err = t
        .env
        .fails(&["inspect", "--type", "container", "myvolume"], 1);
    assert!(err.contains("No such container: myvolume"), "{err}");
    let err = t.env.fails(&["inspect", "--type", "image", "sized"], 1);
    assert!(err.contains("No such image: sized"), "{err}");
    // No type: docker's order finds each kind.
    assert_eq!(
        t.ok(&[
            "inspect",
            "--format",
            "{{.Name}}",
            "sized",
            "myvolume",
            "none"
        ]),
        "/sized\nmyvolume\nnone\n"
    );
}

#[test]
fn update_reads_back_from_the_cgroup_and_inspect() {
    let t = T::new();
    let id = t
        .ok(&[
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            "upd",
            "-m",
            "64m",
            "bb",
            "busybox",
            "sleep",
            "60",
        ])
        .trim()
        .to_string();
    assert_eq!(
        t.ok(&[
            "update",
            "--memory",
            "96m",
            "--memory-swap",
            "-1",
            "--pids-limit",
            "40",
            "--restart",
            "unless-stopped",
            "upd"
        ]),
        "upd\n"
    );
    let pid = t.ok(&["inspect", "--format", "{{.State.Pid}}", &id]);
    let cg = std::fs::read_to_string(format!("/proc/{}/cgroup", pid.trim())).unwrap();
    let file = |controller: &str, v1: &str, v2: &str| -> String {
        for l in cg.lines() {
            let mut parts = l.splitn(3, ':');
            let (_, ctrls, path) = (
                parts.next(),
                parts.next().unwrap_or(""),
                parts.next().unwrap_or(""),
            );
            let p = if ctrls.split(',').any(|c| c == controller) {
                format!("/sys/fs/cgroup/{controller}{path}/{v1}")
            } else if ctrls.is_empty() {
                format!("/sys/fs/cgroup{path}/{v2}")
            } else {
                continue;
            };
            if let Ok(s) = std::fs::read_to_string(&p) {
                return s.trim().to_string();
            }
        }
        panic!("no {controller} cgroup in {cg}");
    };
    assert_eq!(
        file("memory", "memory.limit_in_bytes", "memory.max"),
        (96u64 << 20).to_string()
    );
    assert_eq!(file("pids", "pids.max", "pids.max"), "40");
    assert_eq!(
        t.ok(&[
            "inspect",
            "--format",
            "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}",
            "upd"
        ]),
        format!("{} 40 unless-stopped\n", 96u64 << 20)
    );
    let err = t.env.fails(&["update", "upd"], 125);
    assert!(err.contains("you must provide one or more flags"), "{err}");
    let err = t.env.fails(&["update", "--memory", "1x", "upd"], 125);
    assert!(err.contains("--memory"), "{err}");
    t.env.fails(&["update", "--cpus", "0.5", "nosuch"], 1);
}

/// The same containers in podman and berth: the filters list the same.
#[test]
fn ps_and_images_filters_match_podman() {
    if !require("podman") {
        return;
    }
    let t = T::new();
    let storage = t.env.path("podman-storage");
    let run = t.env.path("podman-run");
    let podman = |args: &[&str]| {
        let o = Command::new("podman")
            .arg("--root")
            .arg(&storage)
            .arg("--runroot")
            .arg(&run)
            .arg("--storage-driver")
            .arg("vfs")
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "podman {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let tar = t.env.path("busybox.tar");
    podman(&["import", tar.to_str().unwrap(), "localhost/bb:latest"]);
    for cli in ["berth", "podman"] {
        let image = if cli == "podman" {
            "localhost/bb:latest"
        } else {
            "bb"
        };
        let mk: Vec<Vec<&str>> = vec![
            vec![
                "create",
                "--network",
                "none",
                "--name",
                "alpha",
                "--label",
                "color=blue",
                image,
                "true",
            ],
            vec![
                "create",
                "--network",
                "none",
                "--name",
                "beta",
                "--label",
                "color=red",
                "--label",
                "tier",
                image,
                "true",
            ],
            vec![
                "create",
                "--network",
                "none",
                "--name",
                "gamma",
                image,
                "true",
            ],
        ];
        for a in mk {
            if cli == "podman" {
                podman(&a);
            } else {
                t.ok(&a);
            }
        }
    }
    let sorted = |s: String| {
        let mut v: Vec<String> = s.lines().map(str::to_string).collect();
        v.sort();
        v
    };
    for f in [
        "label=color",
        "label=color=red",
        "name=a$",
        "name=^gam",
        "status=created",
        "status=exited",
        "since=alpha",
        "before=gamma",
    ] {
        let args = ["ps", "-a", "--filter", f, "--format", "{{.Names}}"];
        assert_eq!(sorted(t.ok(&args)), sorted(podman(&args)), "--filter {f}");
    }
    podman(&["rm", "-a", "-f"]);
}

/// docker's `publish` and `expose` examples: by host port, by container
/// port, ranges and protocols (a real published port on the bridge).
#[test]
fn ps_publish_and_expose_filters() {
    let t = T::new();
    let port = common::free_port();
    let p = format!("127.0.0.1:{port}:80");
    t.ok(&[
        "run", "-d", "--name", "pub", "-p", &p, "bb", "busybox", "sleep", "60",
    ]);
    t.ok(&[
        "run",
        "-d",
        "--name",
        "quiet",
        "--network",
        "none",
        "bb",
        "busybox",
        "sleep",
        "60",
    ]);
    assert_eq!(t.ps(&[&format!("publish={port}")]), ["pub"]);
    assert_eq!(t.ps(&[&format!("publish={port}/tcp")]), ["pub"]);
    assert!(t.ps(&[&format!("publish={port}/udp")]).is_empty());
    assert_eq!(t.ps(&["expose=80"]), ["pub"]);
    assert_eq!(t.ps(&["expose=8-8080/tcp"]), ["pub"]);
    assert!(t.ps(&["publish=80"]).is_empty());
    assert_eq!(
        t.ok(&["ps", "--filter", "name=pub", "--format", "{{.Ports}}"]),
        format!("127.0.0.1:{port}->80/tcp\n")
    );
}

/// A prune's `until` without a zone is local time, as docker's
/// `GetTimestamp`: under TZ=UTC+9 a wall time one hour ahead of UTC now is
/// eight hours ago, so a container created now is kept; under UTC it goes.
#[test]
fn prune_until_without_a_zone_is_local_time() {
    let t = T::new();
    t.ok(&["create", "--network", "none", "--name", "new", "bb", "true"]);
    let ahead = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
    let secs = ahead
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // RFC 3339 of that instant in UTC, its zone dropped.
    let wall = berth_util::time::rfc3339_nanos(secs, 0);
    let wall = wall[..19].to_string();
    let prune = |tz: &str| {
        let out = t
            .env
            .cmd(&[
                "container",
                "prune",
                "-f",
                "--filter",
                &format!("until={wall}"),
            ])
            .env("TZ", tz)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // POSIX TZ: "JST-9" is nine hours east of UTC (no tzdata needed).
    assert_eq!(prune("JST-9"), "Total reclaimed space: 0B\n");
    assert_eq!(t.ps(&[]), ["new"]);
    assert!(prune("UTC0").starts_with("Deleted Containers:\n"));
    assert!(t.ps(&[]).is_empty());
}

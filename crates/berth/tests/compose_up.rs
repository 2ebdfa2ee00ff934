//! `berth compose` running projects on the engine, end to end with real
//! containers (busybox images, a temp store): dependency conditions
//! (`service_completed_successfully`, `service_healthy`), `up --wait`,
//! names and labels as docker compose gives them, a published port
//! answered from the host, replicas reached by name over a second network,
//! recreate only on config change, `--scale`, `ps --format json`, logs
//! prefixes, exec, a killed `up`, and `down -v` leaving nothing. Needs
//! root.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{free_port_on, Env};

struct Project {
    env: Env,
    dir: PathBuf,
}

impl Project {
    /// A store with image `bb` (busybox with the applets the tests use)
    /// and a project directory `proj` holding `compose`.
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
                &[
                    "sh", "cat", "echo", "true", "false", "sleep", "httpd", "wget", "mkdir",
                    "hostname", "nc", "test", "ls", "nslookup", "ping",
                ],
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

    fn write(&self, compose: &str) {
        std::fs::write(self.dir.join("compose.yaml"), compose).unwrap();
    }

    fn cmd(&self, args: &[&str]) -> std::process::Command {
        let mut full = vec!["compose"];
        full.extend_from_slice(args);
        let mut c = self.env.cmd(&full);
        c.current_dir(&self.dir);
        c
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let o = self.cmd(args).output().unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "compose {args:?}:\nstdout: {out}\nstderr: {err}");
        out
    }

    /// `ps -a --format json`, one object per line.
    fn ps(&self) -> Vec<serde_json::Value> {
        self.ok(&["ps", "-a", "--format", "json"])
            .lines()
            .map(|l| serde_json::from_str(l).expect("ps json line"))
            .collect()
    }

    /// `--profile debug ps -a --format json`.
    fn ps_profile(&self) -> Vec<serde_json::Value> {
        self.ok(&["--profile", "debug", "ps", "-a", "--format", "json"])
            .lines()
            .map(|l| serde_json::from_str(l).expect("ps json line"))
            .collect()
    }

    fn id_of(&self, name: &str) -> String {
        self.ps()
            .into_iter()
            .find(|c| c["Name"] == name)
            .unwrap_or_else(|| panic!("no container {name}"))["ID"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// After `down -v`: no container, no project network or volume.
    fn assert_empty(&self) {
        let ps = self.env.ok(&["ps", "-aq"]);
        assert!(ps.trim().is_empty(), "containers left: {ps}");
        let nets = self.env.ok(&["network", "ls", "--format", "{{.Name}}"]);
        assert!(!nets.contains("proj_"), "networks left: {nets}");
        let vols = self.env.ok(&["volume", "ls", "-q"]);
        assert!(vols.trim().is_empty(), "volumes left: {vols}");
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self.run(&["down", "-v", "-t", "0", "--remove-orphans"]);
    }
}

fn http_get(port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
            let mut body = String::new();
            let _ = s.read_to_string(&mut body);
            if !body.is_empty() {
                return body;
            }
        }
        assert!(Instant::now() < deadline, "port {port} never answered");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn init_seeds_a_volume_web_waits_healthy_port_answers_and_down_v_leaves_nothing() {
    let port = free_port_on("0.0.0.0");
    let Some(p) = Project::new(&format!(
        r#"
services:
  init:
    image: bb
    command: ["sh", "-c", "echo seeded-by-init > /data/index.html"]
    volumes: [data:/data]
  web:
    image: bb
    command: ["httpd", "-f", "-p", "80", "-h", "/data"]
    volumes: [data:/data]
    ports: ["{port}:80"]
    environment:
      GREETING: hello
    depends_on:
      init:
        condition: service_completed_successfully
    healthcheck:
      test: ["CMD", "test", "-f", "/data/index.html"]
      interval: 1s
      start_interval: 200ms
      start_period: 5s
volumes:
  data: {{}}
"#
    )) else {
        return;
    };
    let (code, _, err) = p.run(&["up", "-d", "--wait", "--wait-timeout", "60"]);
    assert_eq!(code, 0, "{err}");
    for line in [
        "Network proj_default  Created",
        "Volume proj_data  Created",
        "Container proj-init-1  Started",
        "Container proj-web-1  Started",
        "Container proj-web-1  Healthy",
    ] {
        assert!(err.contains(line), "no {line:?} in:\n{err}");
    }
    // init ran before web started and wrote the page web serves
    assert!(http_get(port).contains("seeded-by-init"));

    let ps = p.ps();
    assert_eq!(ps.len(), 2, "{ps:?}");
    let web = ps.iter().find(|c| c["Service"] == "web").unwrap();
    assert_eq!(web["Name"], "proj-web-1");
    assert_eq!(web["Project"], "proj");
    assert_eq!(web["State"], "running");
    assert_eq!(web["Health"], "healthy");
    assert_eq!(web["Networks"], "proj_default");
    assert_eq!(
        web["Publishers"],
        serde_json::json!([{"URL": "0.0.0.0", "TargetPort": 80, "PublishedPort": port, "Protocol": "tcp"}])
    );
    let labels = web["Labels"].as_str().unwrap();
    let hash = p.ok(&["config", "--hash", "web"]);
    let hash = hash.split_whitespace().nth(1).unwrap();
    for l in [
        "com.docker.compose.project=proj".to_string(),
        "com.docker.compose.service=web".into(),
        "com.docker.compose.container-number=1".into(),
        "com.docker.compose.oneoff=False".into(),
        format!("com.docker.compose.config-hash={hash}"),
        "com.docker.compose.depends_on=init:service_completed_successfully:false".into(),
        format!("com.docker.compose.project.working_dir={}", p.dir.display()),
        format!(
            "com.docker.compose.project.config_files={}",
            p.dir.join("compose.yaml").display()
        ),
    ] {
        assert!(labels.contains(&l), "no {l} in {labels}");
    }
    let init = ps.iter().find(|c| c["Service"] == "init").unwrap();
    assert_eq!(init["State"], "exited");
    assert_eq!(init["ExitCode"], 0);
    // without -a: running ones only; --services; --status; -q
    let table = p.ok(&["ps"]);
    assert!(table.starts_with("NAME "), "{table}");
    assert!(
        table.contains("proj-web-1") && !table.contains("proj-init-1"),
        "{table}"
    );
    assert_eq!(p.ok(&["ps", "--services"]).trim(), "web");
    assert_eq!(p.ok(&["ps", "--status", "exited", "-q"]).trim(), init["ID"]);
    assert_eq!(
        p.ok(&["ps", "--services", "--status", "exited"]).trim(),
        "init"
    );
    // the statuses are the engine's filter values: a wrong one is its error
    let (code, _, err) = p.run(&["ps", "--status", "sleeping"]);
    assert_ne!(code, 0);
    assert!(err.contains("sleeping"), "{err}");
    // the objects carry compose's labels
    let vol_labels = p
        .env
        .ok(&["volume", "inspect", "-f", "{{json .Labels}}", "proj_data"]);
    assert!(
        vol_labels.contains(r#""com.docker.compose.volume":"data""#),
        "{vol_labels}"
    );
    assert!(
        p.env
            .ok(&[
                "ps",
                "--filter",
                "label=com.docker.compose.service=web",
                "-q"
            ])
            .trim()
            .len()
            == 12
    );
    // exec with -e and -w
    assert_eq!(
        p.ok(&[
            "exec",
            "-T",
            "-e",
            "X=1",
            "-w",
            "/data",
            "web",
            "sh",
            "-c",
            "echo $GREETING$X $(pwd)"
        ])
        .trim(),
        "hello1 /data"
    );
    assert!(p.ok(&["ls"]).contains("proj"));

    let (code, _, err) = p.run(&["down", "-v", "-t", "1"]);
    assert_eq!(code, 0, "{err}");
    // reverse dependency order: web before init
    let web_at = err.find("proj-web-1  Removed").expect(&err);
    let init_at = err.find("proj-init-1  Removed").expect(&err);
    assert!(web_at < init_at, "{err}");
    p.assert_empty();
}

#[test]
fn a_failing_one_shot_stops_its_dependents() {
    let Some(p) = Project::new(
        r#"
services:
  init:
    image: bb
    command: ["sh", "-c", "exit 3"]
  web:
    image: bb
    command: ["sleep", "60"]
    depends_on:
      init: {condition: service_completed_successfully}
"#,
    ) else {
        return;
    };
    let (code, _, err) = p.run(&["up", "-d"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("service \"init\" didn't complete successfully: exit 3"),
        "{err}"
    );
    assert!(!p.ps().iter().any(|c| c["Service"] == "web"));
}

#[test]
fn replicas_reach_each_other_by_name_over_a_second_network() {
    let Some(p) = Project::new(
        r#"
services:
  app:
    image: bb
    command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8000 -h /www"]
    networks: [default, back]
    scale: 2
  client:
    image: bb
    command: ["sleep", "300"]
    networks:
      back:
        aliases: [cli]
networks:
  back: {}
"#,
    ) else {
        return;
    };
    p.ok(&["up", "-d"]);
    let ps = p.ps();
    let names: Vec<&str> = ps.iter().map(|c| c["Name"].as_str().unwrap()).collect();
    assert_eq!(names, ["proj-app-1", "proj-app-2", "proj-client-1"]);
    assert_eq!(ps[0]["Networks"], "proj_back,proj_default");
    assert_eq!(ps[2]["Networks"], "proj_back");
    // the service name (an alias on both networks) answers with both
    // replicas' addresses on `back`; each container's name with its own
    let lookup = |target: &str| -> Vec<String> {
        let out = p.ok(&["exec", "-T", "client", "nslookup", target]);
        let answer = out.split_once("Name:").map(|x| x.1).unwrap_or("");
        answer
            .lines()
            .filter_map(|l| l.strip_prefix("Address: "))
            .map(|a| a.trim().to_string())
            .collect()
    };
    let mut both = lookup("app");
    both.sort();
    let mut each = [lookup("proj-app-1"), lookup("proj-app-2")].concat();
    each.sort();
    assert_eq!(both.len(), 2, "{both:?}");
    assert_eq!(both, each);
    // over TCP, to each replica's httpd (which serves its hostname)
    let mut hosts = Vec::new();
    for ip in &each {
        let out = p.ok(&[
            "exec",
            "-T",
            "client",
            "sh",
            "-c",
            &format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {ip} 8000"),
        ]);
        hosts.push(out.lines().last().unwrap_or("").trim().to_string());
    }
    hosts.sort();
    hosts.dedup();
    assert_eq!(hosts.len(), 2, "{hosts:?}");
    // and the other way round, through client's alias on `back`
    let (code, out, err) = p.run(&[
        "exec", "-T", "--index", "2", "app", "ping", "-c", "1", "-W", "5", "cli",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    p.ok(&["down", "-v", "-t", "0"]);
    p.assert_empty();
}

#[test]
fn recreates_only_on_config_change_and_scales() {
    let base = r#"
services:
  svc:
    image: bb
    command: ["sleep", "300"]
    stop_signal: SIGKILL
    volumes: ["/cache"]
"#;
    let Some(p) = Project::new(base) else {
        return;
    };
    p.ok(&["up", "-d"]);
    let id = p.id_of("proj-svc-1");
    p.ok(&["exec", "-T", "svc", "sh", "-c", "echo kept > /cache/f"]);
    let (_, _, err) = p.run(&["up", "-d"]);
    assert!(err.contains("Container proj-svc-1  Running"), "{err}");
    assert_eq!(p.id_of("proj-svc-1"), id, "unchanged config recreated");
    // --force-recreate
    p.ok(&["up", "-d", "--force-recreate"]);
    let id2 = p.id_of("proj-svc-1");
    assert_ne!(id2, id);
    // a changed config: recreated, unless --no-recreate
    p.write(&format!("{base}    environment: [A=1]\n"));
    p.ok(&["up", "-d", "--no-recreate"]);
    assert_eq!(p.id_of("proj-svc-1"), id2);
    let (_, _, err) = p.run(&["up", "-d"]);
    assert!(err.contains("Container proj-svc-1  Recreated"), "{err}");
    let id3 = p.id_of("proj-svc-1");
    assert_ne!(id3, id2);
    // the anonymous volume went along with both recreates
    assert_eq!(p.ok(&["exec", "-T", "svc", "cat", "/cache/f"]), "kept\n");
    // scale up keeps #1, adds #2 and #3; down removes the highest
    p.ok(&["up", "-d", "--scale", "svc=3"]);
    let names: Vec<String> = p
        .ps()
        .iter()
        .map(|c| c["Name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["proj-svc-1", "proj-svc-2", "proj-svc-3"]);
    assert_eq!(p.id_of("proj-svc-1"), id3);
    p.ok(&["up", "-d", "--scale", "svc=1"]);
    let names: Vec<String> = p
        .ps()
        .iter()
        .map(|c| c["Name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["proj-svc-1"]);
    // an orphan (service gone from the file) is reported, then removed
    p.write("services:\n  other:\n    image: bb\n    command: [\"sleep\", \"300\"]\n");
    let (_, _, err) = p.run(&["up", "-d"]);
    assert!(
        err.contains("Found orphan containers (proj-svc-1)"),
        "{err}"
    );
    p.ok(&["up", "-d", "--remove-orphans"]);
    let names: Vec<String> = p
        .ps()
        .iter()
        .map(|c| c["Name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["proj-other-1"]);
    // stop / start / kill / rm
    p.ok(&["stop", "-t", "0"]);
    assert_eq!(p.ps()[0]["State"], "exited");
    p.ok(&["start"]);
    assert_eq!(p.ps()[0]["State"], "running");
    p.ok(&["kill"]);
    assert_eq!(p.ps()[0]["State"], "exited");
    p.ok(&["rm", "-f"]);
    assert!(p.ps().is_empty());
}

#[test]
fn logs_are_prefixed_by_service_and_number() {
    let Some(p) = Project::new(
        r#"
services:
  a:
    image: bb
    command: ["sh", "-c", "echo one; echo two"]
  bee:
    image: bb
    command: ["echo", "three"]
"#,
    ) else {
        return;
    };
    p.ok(&["up", "-d"]);
    for c in ["proj-a-1", "proj-bee-1"] {
        p.env.ok(&["wait", c]);
    }
    let out = p.ok(&["logs"]);
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    assert_eq!(lines, ["a-1    | one", "a-1    | two", "bee-1  | three"]);
    assert_eq!(p.ok(&["logs", "--no-log-prefix", "bee"]), "three\n");
    assert_eq!(p.ok(&["logs", "--tail", "1", "a"]), "a-1  | two\n");
}

#[test]
fn unsupported_fields_are_named() {
    let Some(p) = Project::new(
        r#"
services:
  s:
    image: bb
    command: ["true"]
    gpus: all
"#,
    ) else {
        return;
    };
    let (code, _, err) = p.run(&["up", "-d"]);
    assert_eq!(code, 1);
    assert!(err.contains("services.s.gpus: not supported"), "{err}");
    assert!(p.ps().is_empty());
    let (_, _, err) = p.run(&["up", "-d", "--scale", "nope=2"]);
    assert!(err.contains("no such service: nope"), "{err}");
}

#[test]
fn a_killed_attached_up_then_up_again_and_down() {
    let Some(p) = Project::new(
        r#"
services:
  s:
    image: bb
    command: ["sh", "-c", "echo started; exec sleep 300"]
"#,
    ) else {
        return;
    };
    let mut child = p
        .cmd(&["up"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !p.ps().iter().any(|c| c["State"] == "running") {
        assert!(Instant::now() < deadline, "up never started the container");
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let (_, _, err) = p.run(&["up", "-d"]);
    assert!(err.contains("Container proj-s-1  Running"), "{err}");
    p.ok(&["down", "-t", "0"]);
    p.assert_empty();
}

#[test]
fn attached_up_streams_prefixed_logs_until_the_containers_exit() {
    let Some(p) = Project::new(
        r#"
services:
  s:
    image: bb
    command: ["sh", "-c", "sleep 1; echo bye"]
"#,
    ) else {
        return;
    };
    let (code, out, err) = p.run(&["up"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "Attaching to s-1\ns-1  | bye\ns-1 exited with code 0\n"
    );
    // as compose v2 (checked over Berth's socket): the containers made,
    // not their start
    assert!(err.contains("Container proj-s-1  Created"), "{err}");
    assert!(!err.contains("Start"), "{err}");
}

#[test]
fn run_rm_starts_dependencies_and_leaves_no_one_off() {
    let Some(p) = Project::new(
        r#"
services:
  init:
    image: bb
    command: ["sh", "-c", "echo seeded > /data/f"]
    volumes: [data:/data]
  tool:
    image: bb
    command: ["false"]
    volumes: [data:/data]
    depends_on:
      init: {condition: service_completed_successfully}
volumes:
  data: {}
"#,
    ) else {
        return;
    };
    let (code, out, err) = p.run(&[
        "run",
        "--rm",
        "-T",
        "-e",
        "X=y",
        "tool",
        "sh",
        "-c",
        "cat /data/f; echo $X",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "seeded\ny\n");
    let (code, _, _) = p.run(&[
        "run",
        "--rm",
        "-T",
        "--no-deps",
        "tool",
        "sh",
        "-c",
        "exit 4",
    ]);
    assert_eq!(code, 4);
    let names: Vec<String> = p
        .ps()
        .iter()
        .map(|c| c["Name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["proj-init-1"]);
    // a detached one-off carries oneoff=True and goes with down
    let id = p.ok(&["run", "-d", "tool", "sleep", "300"]);
    let labels = p
        .env
        .ok(&["inspect", "-f", "{{json .Config.Labels}}", id.trim()]);
    assert!(
        labels.contains(r#""com.docker.compose.oneoff":"True""#),
        "{labels}"
    );
    assert!(p
        .env
        .ok(&["inspect", "-f", "{{.Name}}", id.trim()])
        .starts_with("/proj-tool-run-"));
    p.ok(&["down", "-v", "-t", "0"]);
    p.assert_empty();
}

#[test]
fn service_healthy_waits_for_the_dependency_and_unhealthy_fails() {
    let Some(p) = Project::new(
        r#"
services:
  db:
    image: bb
    command: ["sh", "-c", "sleep 1; touch /tmp/ready; exec sleep 300"]
    stop_signal: SIGKILL
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 200ms
      retries: 30
  web:
    image: bb
    command: ["sleep", "300"]
    stop_signal: SIGKILL
    depends_on:
      db: {condition: service_healthy}
"#,
    ) else {
        return;
    };
    // no --wait: web is started only once db is healthy, so db is healthy
    // as soon as up returns
    p.ok(&["up", "-d"]);
    let ps = p.ps();
    let db = ps.iter().find(|c| c["Service"] == "db").unwrap();
    assert_eq!(db["Health"], "healthy", "{ps:?}");
    let web = ps.iter().find(|c| c["Service"] == "web").unwrap();
    assert_eq!(web["State"], "running");
    p.ok(&["down", "-t", "0"]);

    p.write(
        r#"
services:
  db:
    image: bb
    command: ["sleep", "300"]
    stop_signal: SIGKILL
    healthcheck:
      test: ["CMD", "false"]
      interval: 200ms
      retries: 1
  web:
    image: bb
    command: ["sleep", "300"]
    depends_on:
      db: {condition: service_healthy}
"#,
    );
    let (code, _, err) = p.run(&["up", "-d"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("dependency failed to start: container proj-db-1 is unhealthy"),
        "{err}"
    );
    assert!(!p.ps().iter().any(|c| c["Service"] == "web"));
}

#[test]
fn exit_code_from_stops_the_others_and_returns_the_code() {
    let Some(p) = Project::new(
        r#"
services:
  srv:
    image: bb
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]
  test:
    image: bb
    command: ["sh", "-c", "sleep 1; echo done; exit 7"]
    depends_on: [srv]
"#,
    ) else {
        return;
    };
    let (code, out, err) = p.run(&["up", "--exit-code-from", "test"]);
    assert_eq!(code, 7, "{out}{err}");
    assert!(out.contains("test-1  | done"), "{out}");
    assert!(err.contains("Aborting on container exit"), "{err}");
    // compose's stop, with its lines
    assert!(err.contains("Container proj-srv-1  Stopping"), "{err}");
    assert!(err.contains("Container proj-srv-1  Stopped"), "{err}");
    for c in p.ps() {
        assert_eq!(c["State"], "exited", "{c}");
    }
}

#[test]
fn up_attach_no_attach_and_attach_dependencies_choose_the_logs() {
    let Some(p) = Project::new(
        r#"
services:
  a:
    image: bb
    command: ["sh", "-c", "echo from-a; sleep 1"]
  b:
    image: bb
    command: ["sh", "-c", "echo from-b; sleep 1"]
  quiet:
    image: bb
    attach: false
    command: ["sh", "-c", "echo from-quiet; sleep 1"]
  c:
    image: bb
    command: ["sh", "-c", "echo from-c; sleep 1"]
    depends_on: [a]
"#,
    ) else {
        return;
    };
    let lines = |out: &str| -> Vec<String> {
        let mut v: Vec<String> = out.lines().map(str::to_string).collect();
        v.sort();
        v
    };
    // all but `attach: false` and --no-attach (the ups between stop the
    // project: up leaves a running container running, with no new logs)
    let out = p.ok(&["up", "--no-attach", "b"]);
    assert_eq!(
        lines(&out),
        [
            "Attaching to a-1, c-1",
            "a-1  | from-a",
            "a-1 exited with code 0",
            "c-1  | from-c",
            "c-1 exited with code 0"
        ],
        "{out}"
    );
    // --attach: those only (a service not up is refused before anything)
    p.ok(&["stop", "-t", "0"]);
    let out = p.ok(&["up", "--attach", "quiet"]);
    assert_eq!(
        lines(&out),
        [
            "Attaching to quiet-1",
            "quiet-1  | from-quiet",
            "quiet-1 exited with code 0"
        ],
        "{out}"
    );
    // services named: those; with --attach-dependencies their
    // dependencies' logs too (exits are watched for those named only, as
    // compose's monitor)
    p.ok(&["stop", "-t", "0"]);
    let out = p.ok(&["up", "c"]);
    assert_eq!(
        lines(&out),
        [
            "Attaching to c-1",
            "c-1  | from-c",
            "c-1 exited with code 0"
        ],
        "{out}"
    );
    p.ok(&["stop", "-t", "0"]);
    let out = p.ok(&["up", "c", "--attach-dependencies"]);
    assert_eq!(
        lines(&out),
        [
            "Attaching to a-1, c-1",
            "a-1  | from-a",
            "c-1  | from-c",
            "c-1 exited with code 0"
        ],
        "{out}"
    );
    let (code, _, err) = p.run(&["up", "--no-deps", "c", "--attach", "a"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("cannot attach to services not included in up: a"),
        "{err}"
    );
    for (args, want) in [
        (
            &["up", "--attach", "a", "--attach-dependencies"][..],
            "cannot combine --attach and --attach-dependencies",
        ),
        (
            &["up", "-d", "--attach", "a"][..],
            "--detach cannot be combined",
        ),
        (
            &["up", "--wait", "--abort-on-container-exit"][..],
            "--wait cannot be combined",
        ),
        (
            &[
                "up",
                "--abort-on-container-exit",
                "--abort-on-container-failure",
            ][..],
            "--abort-on-container-failure cannot be combined with --abort-on-container-exit",
        ),
        (
            &["up", "-V", "--no-recreate"][..],
            "--no-recreate and --renew-anon-volumes are incompatible",
        ),
        (
            &["up", "--always-recreate-deps", "--no-recreate"][..],
            "--always-recreate-deps and --no-recreate are incompatible",
        ),
    ] {
        let before = p.env.ok(&["ps", "-aq"]);
        let (code, _, err) = p.run(args);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(p.env.ok(&["ps", "-aq"]), before, "{args:?} made something");
    }
}

#[test]
fn abort_on_container_failure_stops_on_the_first_failure_only() {
    let Some(p) = Project::new(
        r#"
services:
  srv:
    image: bb
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]
  fine:
    image: bb
    command: ["sh", "-c", "echo fine"]
  bad:
    image: bb
    command: ["sh", "-c", "sleep 1; exit 4"]
"#,
    ) else {
        return;
    };
    // `fine` exits 0 first: no abort; `bad` exits 4: the project stops,
    // and its code is up's
    let (code, out, err) = p.run(&["up", "--abort-on-container-failure"]);
    assert_eq!(code, 4, "{out}{err}");
    assert!(out.contains("fine-1 exited with code 0"), "{out}");
    assert!(out.contains("bad-1 exited with code 4"), "{out}");
    assert!(err.contains("Aborting on container exit"), "{err}");
    for c in p.ps() {
        assert_eq!(c["State"], "exited", "{c}");
    }
    // --abort-on-container-exit: the first exit (fine's 0) stops the others
    p.ok(&["rm", "-f"]);
    let (code, out, err) = p.run(&["up", "--abort-on-container-exit"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("Aborting on container exit"), "{err}");
    // srv runs forever unless stopped
    for c in p.ps() {
        assert_eq!(c["State"], "exited", "{c}");
    }
    assert!(out.contains("srv-1 exited with code 0"), "{out}");
}

#[test]
fn renew_anon_volumes_and_always_recreate_deps() {
    let Some(p) = Project::new(
        r#"
services:
  db:
    image: bb
    command: ["sleep", "300"]
    stop_signal: SIGKILL
    volumes: ["/data"]
  web:
    image: bb
    command: ["sleep", "300"]
    stop_signal: SIGKILL
    depends_on: [db]
"#,
    ) else {
        return;
    };
    p.ok(&["up", "-d"]);
    p.ok(&["exec", "-T", "db", "sh", "-c", "echo kept > /data/f"]);
    // a recreate keeps the anonymous volume
    p.ok(&["up", "-d", "--force-recreate", "db"]);
    assert_eq!(p.ok(&["exec", "-T", "db", "cat", "/data/f"]), "kept\n");
    // -V: a new one
    p.ok(&["up", "-d", "--force-recreate", "-V", "db"]);
    let (code, _, _) = p.run(&["exec", "-T", "db", "cat", "/data/f"]);
    assert_ne!(code, 0, "-V kept the old anonymous volume");
    // --force-recreate is for the services named; their dependencies
    // follow --always-recreate-deps
    let db = p.id_of("proj-db-1");
    let web = p.id_of("proj-web-1");
    p.ok(&["up", "-d", "--force-recreate", "web"]);
    assert_eq!(
        p.id_of("proj-db-1"),
        db,
        "db recreated without --always-recreate-deps"
    );
    assert_ne!(p.id_of("proj-web-1"), web);
    p.ok(&["up", "-d", "--always-recreate-deps", "web"]);
    assert_ne!(p.id_of("proj-db-1"), db, "--always-recreate-deps kept db");
}

// compose v2 enables the profiles of the services a command names
// (cmd/compose/compose.go `ToProject`: `project.WithServicesEnabled(services...)`).
#[test]
fn a_service_named_on_the_command_line_enables_its_profiles() {
    let Some(p) = Project::new(
        r#"
services:
  web:
    image: bb
    command: ["sleep", "300"]
  dbg:
    image: bb
    profiles: [debug]
    command: ["sleep", "300"]
"#,
    ) else {
        return;
    };
    let out = p.ok(&["run", "--rm", "dbg", "echo", "ran"]);
    assert_eq!(out, "ran\n");
    p.ok(&["up", "-d", "dbg"]);
    let names: Vec<String> = p
        .ps()
        .iter()
        .map(|c| c["Name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["proj-dbg-1"]);
    // without naming it, the profile stays off
    p.ok(&["up", "-d"]);
    let (code, _, err) = p.run(&["run", "--rm", "nope", "true"]);
    assert_ne!(code, 0);
    assert!(err.contains("no such service: nope"), "{err}");
    p.env.ok(&["rm", "-f", "proj-dbg-1"]);
    p.ok(&["down", "-t", "0"]);
    p.assert_empty();
}

// Ctrl-C twice: the first stops gracefully, the second kills at once
// (compose v2: "press Ctrl+C again to force"), even while the first's stop
// still waits out a 30s stop_grace_period.
#[test]
fn a_second_sigint_kills_while_the_first_stop_waits() {
    use std::io::BufRead;
    let Some(p) = Project::new(
        r#"
services:
  s:
    image: bb
    stop_grace_period: 30s
    command: ["sh", "-c", "trap '' TERM; echo started; while true; do sleep 1; done"]
"#,
    ) else {
        return;
    };
    let mut child = p
        .cmd(&["up"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    // (after `Attaching to s-1`)
    let mut line = String::new();
    while !line.contains("started") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "up ended");
    }
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    // the first one's stop is under way
    let mut seen = String::new();
    loop {
        let mut l = String::new();
        assert!(err.read_line(&mut l).unwrap() > 0, "up ended: {seen}");
        seen.push_str(&l);
        if l.contains("Gracefully Stopping") {
            break;
        }
    }
    let began = Instant::now();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    let took = began.elapsed();
    assert!(
        took < Duration::from_secs(20),
        "up took {took:?} after the second SIGINT ({status:?})"
    );
    let ps = p.ps();
    assert_eq!(ps[0]["State"], "exited", "{ps:?}");
}

// Ctrl-C stops an attached `up` as `compose stop` does: each service with
// its stop_grace_period (here 1s, the TERM ignored: killed after it, not
// after the engine's 10s), with compose's Stopping/Stopped lines.
#[test]
fn ctrl_c_stops_each_service_with_its_stop_grace_period() {
    use std::io::BufRead;
    let Some(p) = Project::new(
        r#"
services:
  s:
    image: bb
    stop_grace_period: 1s
    command: ["sh", "-c", "trap '' TERM; echo started; while true; do sleep 1; done"]
"#,
    ) else {
        return;
    };
    let mut child = p
        .cmd(&["up"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("started") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "up ended");
    }
    let began = Instant::now();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    let took = began.elapsed();
    // well under the engine's default of 10s
    assert!(
        took < Duration::from_secs(8),
        "up took {took:?} ({status:?}): {err}"
    );
    assert!(err.contains("Gracefully Stopping"), "{err}");
    assert!(err.contains("Container proj-s-1  Stopping"), "{err}");
    assert!(err.contains("Container proj-s-1  Stopped"), "{err}");
    // compose v2 (checked over Berth's socket): exit 130, and no
    // "exited with code" for the exits its own stop made
    assert_eq!(status.code(), Some(130), "{err}");
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(!rest.contains("exited with code"), "{rest}");
    // killed once the grace period was out
    assert_eq!(
        p.env
            .ok(&["inspect", "-f", "{{.State.ExitCode}}", "proj-s-1"])
            .trim(),
        "137"
    );
}

// A recreate cut short after its old container went (the final rename
// failed): the new container is left under its temporary name
// `<12 hex>_<name>`. The next `up` finishes it: the same container, under
// the service's name.
#[test]
fn up_finishes_a_recreate_whose_rename_failed() {
    let Some(p) = Project::new(
        r#"
services:
  web:
    image: bb
    command: ["sleep", "300"]
"#,
    ) else {
        return;
    };
    p.ok(&["up", "-d"]);
    let id = p.id_of("proj-web-1");
    let tmp = format!("{}_proj-web-1", &id[..12]);
    p.env.ok(&["rename", "proj-web-1", &tmp]);
    p.ok(&["up", "-d"]);
    let ps = p.ps();
    let names: Vec<&str> = ps.iter().map(|c| c["Name"].as_str().unwrap()).collect();
    assert_eq!(names, ["proj-web-1"], "{ps:?}");
    assert_eq!(
        p.id_of("proj-web-1"),
        id,
        "the finished recreate's container was replaced"
    );
    assert_eq!(ps[0]["State"], "running", "{ps:?}");
    p.ok(&["down", "-t", "0"]);
    p.assert_empty();
}

// A recreate cut short before its old container went (`up` killed
// between the two): the half-made one under the temporary name goes, the
// old one stays the service's container.
#[test]
fn up_undoes_a_recreate_cut_short_before_the_old_container_went() {
    let Some(p) = Project::new(
        r#"
services:
  web:
    image: bb
    command: ["sleep", "300"]
"#,
    ) else {
        return;
    };
    p.ok(&["up", "-d"]);
    let id = p.id_of("proj-web-1");
    let tmp = format!("{}_proj-web-1", &id[..12]);
    p.env.ok(&[
        "create",
        "--name",
        &tmp,
        "--label",
        "com.docker.compose.project=proj",
        "--label",
        "com.docker.compose.service=web",
        "--label",
        "com.docker.compose.container-number=1",
        "--label",
        "com.docker.compose.oneoff=False",
        "bb",
        "sleep",
        "300",
    ]);
    p.ok(&["up", "-d"]);
    let ps = p.ps();
    let names: Vec<&str> = ps.iter().map(|c| c["Name"].as_str().unwrap()).collect();
    assert_eq!(names, ["proj-web-1"], "{ps:?}");
    assert_eq!(p.id_of("proj-web-1"), id, "the old container did not stay");
    p.ok(&["down", "-t", "0"]);
    p.assert_empty();
}

// `ps --format` takes Go templates over compose's container context
// (cmd/formatter/container.go): its field names, `table` with its headers.
#[test]
fn ps_format_takes_go_templates_with_compose_fields() {
    let Some(p) = Project::new(
        r#"
services:
  web:
    image: bb
    command: ["sleep", "300"]
"#,
    ) else {
        return;
    };
    p.ok(&["up", "-d"]);
    assert_eq!(p.ok(&["ps", "--format", "{{.Name}}"]), "proj-web-1\n");
    assert_eq!(
        p.ok(&["ps", "--format", "table {{.Name}}\\t{{.State}}"]),
        "NAME         STATE\nproj-web-1   running\n"
    );
    assert_eq!(
        p.ok(&[
            "ps",
            "--format",
            "{{.Service}} {{.Image}} {{.Command}} {{.Label \"com.docker.compose.project\"}}"
        ]),
        "web bb \"sleep 300\" proj\n"
    );
    let id = p.ok(&["ps", "--format", "{{.ID}}"]);
    assert_eq!(id.trim().len(), 12, "{id}");
    let (code, _, err) = p.run(&["ps", "--format", "{{.Nope}}"]);
    assert_ne!(code, 0);
    assert!(err.contains("Nope"), "{err}");
    p.ok(&["down", "-t", "0"]);
}

// `down` leaves a disabled profile's running container (neither the
// project's to remove nor an orphan) and the network it still uses: compose
// v2 warns "Resource is still in use" and exits 0 (pkg/compose/down.go).
#[test]
fn down_warns_when_a_disabled_profiles_container_still_uses_the_network() {
    let Some(p) = Project::new(
        r#"
services:
  web:
    image: bb
    command: ["sleep", "300"]
  dbg:
    image: bb
    profiles: [debug]
    command: ["sleep", "300"]
"#,
    ) else {
        return;
    };
    p.ok(&["--profile", "debug", "up", "-d"]);
    let (code, _, err) = p.run(&["down", "-t", "0"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(" Network proj_default  Resource is still in use"),
        "{err}"
    );
    assert!(!err.contains("orphan"), "{err}");
    let states: Vec<(String, String)> = p
        .ps_profile()
        .iter()
        .map(|c| {
            (
                c["Name"].as_str().unwrap().into(),
                c["State"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(states, [("proj-dbg-1".to_string(), "running".to_string())]);
    p.ok(&["--profile", "debug", "down", "-t", "0"]);
    p.assert_empty();
}

// `logs` into a closed pipe ends at once and quietly, with the status
// compose has when SIGPIPE kills it (128 + 13).
#[test]
fn logs_into_a_closed_pipe_end_quietly() {
    let Some(p) = Project::new(
        r#"
services:
  s:
    image: bb
    command: ["sh", "-c", "i=0; while test $$i -lt 10000; do echo line-$$i; i=$$((i+1)); done; echo end; exec sleep 300"]
"#,
    ) else {
        return;
    };
    p.ok(&["up", "-d"]);
    // all is logged: more than a pipe holds
    let deadline = Instant::now() + Duration::from_secs(30);
    while !p.ok(&["logs", "--tail", "1"]).contains("end") {
        assert!(Instant::now() < deadline, "never logged");
        std::thread::sleep(Duration::from_millis(100));
    }
    for follow in [false, true] {
        let mut args = vec!["logs"];
        if follow {
            args.push("-f");
        }
        let mut child = p
            .cmd(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // the reader takes one line and goes (`| head -1`)
        let mut first = [0u8; 4];
        child
            .stdout
            .as_mut()
            .unwrap()
            .read_exact(&mut first)
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(141), "follow {follow}: {err}");
        assert!(err.is_empty(), "follow {follow}: {err}");
    }
    p.ok(&["down", "-t", "0"]);
}

// `stop` stops a service before what it depends on even through a
// service that has no container (web -> cache -> db, cache never
// started): web takes 2 s to stop, db none; db must not go first.
#[test]
fn stop_keeps_the_dependency_order_through_a_service_without_containers() {
    let Some(p) = Project::new(
        r#"
services:
  web:
    image: bb
    depends_on: [cache]
    command: ["sh", "-c", "trap 'sleep 2; exit 0' TERM; while true; do sleep 0.2; done"]
  cache:
    image: bb
    depends_on: [db]
    command: ["sleep", "1000"]
  db:
    image: bb
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]
"#,
    ) else {
        return;
    };
    p.ok(&["up", "-d", "--no-deps", "web", "db"]);
    assert!(p.ps().iter().all(|c| c["Service"] != "cache"));
    p.ok(&["stop"]);
    // RFC 3339 in UTC: the seconds, then the fraction padded to 9 digits
    let finished = |name: &str| {
        let id = p.id_of(name);
        let t = p.env.ok(&["inspect", "-f", "{{.State.FinishedAt}}", &id]);
        let t = t.trim();
        let (secs, rest) = t.split_at(19);
        let frac: String = rest
            .trim_start_matches('.')
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        format!("{secs}.{frac:0<9}")
    };
    let (web, db) = (finished("proj-web-1"), finished("proj-db-1"));
    assert!(web <= db, "db stopped at {db}, before web at {web}");
}

// `kill` says Killing then Killed for each container, as compose v2 does.
#[test]
fn kill_says_killing_then_killed() {
    let Some(p) = Project::new(
        r#"
services:
  a:
    image: bb
    command: ["sleep", "1000"]
"#,
    ) else {
        return;
    };
    p.ok(&["up", "-d"]);
    let (code, out, err) = p.run(&["kill"]);
    assert_eq!(code, 0, "{out}{err}");
    let all = format!("{out}{err}");
    let killing = all.find("Container proj-a-1  Killing");
    let killed = all.find("Container proj-a-1  Killed");
    assert!(
        matches!((killing, killed), (Some(a), Some(b)) if a < b),
        "{all}"
    );
}

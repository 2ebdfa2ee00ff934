//! `berth compose`: the model fields docker compose v2 runs that the
//! runner maps (secrets and configs from a file, the environment or
//! inline content; `network_mode: service:`/`container:`/`none`;
//! `volumes_from`; `depends_on.restart`; `env_file` `required`/`format`;
//! `deploy.resources`), services started in parallel where independent,
//! and a recreate whose create fails leaving the old container running.
//! End to end with busybox images in a temp store. Needs root.

mod common;

use std::path::PathBuf;

use common::Env;

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
                    "hostname", "nc", "test", "ls", "nslookup", "ping", "env",
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

    fn id_of(&self, name: &str) -> String {
        self.ps()
            .into_iter()
            .find(|c| c["Name"] == name)
            .unwrap_or_else(|| panic!("no container {name}"))["ID"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self.run(&["down", "-v", "-t", "0", "--remove-orphans"]);
    }
}

impl Project {
    fn inspect(&self, name: &str, format: &str) -> String {
        self.env
            .ok(&["inspect", "-f", format, name])
            .trim()
            .to_string()
    }

    fn exec(&self, svc: &str, script: &str) -> String {
        self.ok(&["exec", "-T", svc, "sh", "-c", script])
    }
}

#[test]
fn secrets_and_configs_from_a_file_the_environment_and_content() {
    let compose = r#"
services:
  s:
    image: bb
    command: ["sleep", "300"]
    stop_signal: SIGKILL
    secrets:
      - tok
      - source: envsec
        target: es
        uid: "1000"
        gid: "1001"
        mode: 0400
    configs:
      - cfg
      - source: inline
        target: /etc/inline.conf
secrets:
  tok:
    file: ./tok.txt
  envsec:
    environment: SECRET_VALUE
configs:
  cfg:
    file: ./cfg.txt
  inline:
    content: "inline $${X}"
"#;
    let Some(p) = Project::new(compose) else {
        return;
    };
    std::fs::write(p.dir.join("tok.txt"), "from-file").unwrap();
    std::fs::write(p.dir.join("cfg.txt"), "config-file").unwrap();
    let o = p
        .cmd(&["up", "-d"])
        .env("SECRET_VALUE", "s3cret")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // file sources: bind-mounted read-only
    assert_eq!(p.exec("s", "cat /run/secrets/tok"), "from-file");
    assert_eq!(p.exec("s", "cat /cfg"), "config-file");
    let (code, _, _) = p.run(&["exec", "-T", "s", "sh", "-c", "echo x > /run/secrets/tok"]);
    assert_ne!(code, 0, "a file secret is writable");
    // environment and content sources: written with uid, gid and mode
    assert_eq!(p.exec("s", "cat /run/secrets/es"), "s3cret");
    let ls = p.exec("s", "ls -ln /run/secrets/es");
    assert!(ls.starts_with("-r--------"), "{ls}");
    assert!(ls.contains(" 1000 ") && ls.contains(" 1001 "), "{ls}");
    assert_eq!(p.exec("s", "cat /etc/inline.conf"), "inline ${X}");
    let ls = p.exec("s", "ls -ln /etc/inline.conf");
    assert!(ls.starts_with("-r--r--r--"), "{ls}");
    // a one-off container gets them too
    let o = p
        .cmd(&[
            "run",
            "--rm",
            "-T",
            "s",
            "cat",
            "/run/secrets/es",
            "/etc/inline.conf",
        ])
        .env("SECRET_VALUE", "s3cret")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "s3cretinline ${X}");
    // the environment variable unset: a clear error, nothing created
    p.ok(&["down", "-t", "0"]);
    let (code, _, err) = p.run(&["up", "-d"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("environment variable \"SECRET_VALUE\" required by secret"),
        "{err}"
    );
    assert!(p.ps().is_empty(), "a container was left");
    // external secrets are swarm's
    p.write(
        r#"
services:
  s:
    image: bb
    command: ["true"]
    secrets: [ext]
secrets:
  ext:
    external: true
"#,
    );
    let (code, _, err) = p.run(&["up", "-d"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("secrets.ext: external secrets are swarm's"),
        "{err}"
    );
    assert!(p.ps().is_empty());
}

#[test]
fn network_mode_service_container_none_and_volumes_from() {
    let Some(p) = Project::new(
        r#"
services:
  web:
    image: bb
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    stop_signal: SIGKILL
    volumes: ["data:/www"]
  side:
    image: bb
    command: ["sleep", "300"]
    stop_signal: SIGKILL
    network_mode: service:web
    volumes_from: ["web:ro"]
  byname:
    image: bb
    command: ["sleep", "300"]
    stop_signal: SIGKILL
    network_mode: container:proj-web-1
    volumes_from: ["container:proj-web-1"]
    depends_on: [web]
  lone:
    image: bb
    command: ["sleep", "300"]
    stop_signal: SIGKILL
    network_mode: none
volumes:
  data:
"#,
    ) else {
        return;
    };
    p.ok(&["up", "-d"]);
    p.exec("web", "echo hello > /www/index.html");
    // side shares web's network namespace and its volumes, read-only
    let got = p.exec("side", "wget -qO- http://127.0.0.1:8080/index.html");
    assert_eq!(got, "hello\n");
    assert_eq!(p.exec("side", "cat /www/index.html"), "hello\n");
    let (code, _, _) = p.run(&["exec", "-T", "side", "sh", "-c", "echo x > /www/y"]);
    assert_ne!(code, 0, "volumes_from :ro is writable");
    // container:NAME, and volumes_from a container keeps its rw mode
    let got = p.exec("byname", "wget -qO- http://127.0.0.1:8080/index.html");
    assert_eq!(got, "hello\n");
    p.exec("byname", "echo written > /www/w");
    assert_eq!(p.exec("web", "cat /www/w"), "written\n");
    // none: the loopback only
    let dev = p.exec("lone", "cat /proc/net/dev");
    let ifaces: Vec<&str> = dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    assert_eq!(ifaces, ["lo"], "{dev}");
    // web recreated: side follows it into the new namespace
    p.write(
        &std::fs::read_to_string(p.dir.join("compose.yaml"))
            .unwrap()
            .replace(
                "    volumes: [\"data:/www\"]\n",
                "    volumes: [\"data:/www\"]\n    environment: [CHANGED=1]\n",
            ),
    );
    let side = p.id_of("proj-side-1");
    p.ok(&["up", "-d"]);
    assert_ne!(p.id_of("proj-side-1"), side, "side not recreated with web");
    let got = p.exec("side", "wget -qO- http://127.0.0.1:8080/index.html");
    assert_eq!(got, "hello\n");
    // web alone recreated by an up of its own: side, stopped with it, is
    // replaced by the next up (its config hash names web's container)
    p.ok(&["up", "-d", "--force-recreate", "--no-deps", "web"]);
    let side = p.id_of("proj-side-1");
    let (_, _, err) = p.run(&["up", "-d"]);
    assert!(err.contains("Container proj-side-1  Recreated"), "{err}");
    assert!(!err.contains("Container proj-byname-1  Recreated"), "{err}");
    assert_ne!(p.id_of("proj-side-1"), side);
    let got = p.exec("side", "wget -qO- http://127.0.0.1:8080/index.html");
    assert_eq!(got, "hello\n");
}

#[test]
fn restart_true_dependents_follow_and_a_failed_recreate_keeps_the_old() {
    let base = r#"
services:
  db:
    image: bb
    command: ["sleep", "300"]
    stop_signal: SIGKILL
    environment: [V=1]
  app:
    image: bb
    command: ["sleep", "300"]
    stop_signal: SIGKILL
    depends_on:
      db:
        condition: service_started
        restart: true
  other:
    image: bb
    command: ["sleep", "300"]
    stop_signal: SIGKILL
    depends_on: [db]
"#;
    let Some(p) = Project::new(base) else {
        return;
    };
    p.ok(&["up", "-d"]);
    let started = |n: &str| p.inspect(n, "{{.State.StartedAt}}");
    let (app0, other0) = (started("proj-app-1"), started("proj-other-1"));
    let (app_id, db_id) = (p.id_of("proj-app-1"), p.id_of("proj-db-1"));
    // db recreated: app (restart: true) stopped and started again, other not
    p.write(&base.replace("V=1", "V=2"));
    let (_, _, err) = p.run(&["up", "-d"]);
    assert!(err.contains("Container proj-db-1  Recreated"), "{err}");
    assert!(err.contains("Container proj-app-1  Stopped"), "{err}");
    assert_ne!(p.id_of("proj-db-1"), db_id);
    assert_eq!(p.id_of("proj-app-1"), app_id, "app recreated");
    let app1 = started("proj-app-1");
    assert_ne!(app1, app0, "app not restarted");
    assert_eq!(started("proj-other-1"), other0, "other restarted");
    for c in p.ps() {
        assert_eq!(c["State"], "running", "{c}");
    }
    // compose restart db: app follows, other does not
    p.ok(&["restart", "-t", "0", "db"]);
    assert_ne!(started("proj-app-1"), app1);
    assert_eq!(started("proj-other-1"), other0);
    // a recreate whose create fails leaves the old container running
    let db = p.id_of("proj-db-1");
    p.write(&base.replace(
        "environment: [V=1]",
        "environment: [V=3]\n    pid: container:no-such-container",
    ));
    let (code, _, err) = p.run(&["up", "-d", "db"]);
    assert_ne!(code, 0);
    assert!(err.contains("no-such-container"), "{err}");
    assert_eq!(p.id_of("proj-db-1"), db);
    let rows = p.ps();
    assert_eq!(rows.len(), 3, "a temporary container was left: {rows:?}");
    let db_row = rows.iter().find(|c| c["Name"] == "proj-db-1").unwrap();
    assert_eq!(db_row["State"], "running");
    // and its restart: true dependent was not stopped for it
    let app_row = rows.iter().find(|c| c["Name"] == "proj-app-1").unwrap();
    assert_eq!(
        app_row["State"], "running",
        "a failed recreate left app stopped"
    );
}

#[test]
fn env_file_optional_and_raw() {
    let Some(p) = Project::new(
        r#"
services:
  s:
    image: bb
    command: ["sleep", "300"]
    stop_signal: SIGKILL
    env_file:
      - path: ./missing.env
        required: false
      - path: ./raw.env
        format: raw
      - ./std.env
"#,
    ) else {
        return;
    };
    std::fs::write(p.dir.join("raw.env"), "A=\"quoted\"\nB=${NOPE:-x}\n").unwrap();
    std::fs::write(p.dir.join("std.env"), "C=\"quoted\"\nD=${NOPE:-x}\n").unwrap();
    p.ok(&["up", "-d"]);
    let got = p.exec("s", "echo \"$A|$B|$C|$D\"");
    assert_eq!(got, "\"quoted\"|${NOPE:-x}|quoted|x\n");
    // a required one missing: an error naming it
    p.write(
        "services:\n  s:\n    image: bb\n    command: [\"true\"]\n    env_file: [./missing.env]\n",
    );
    let (code, _, err) = p.run(&["up", "-d"]);
    assert_eq!(code, 1);
    assert!(err.contains("missing.env"), "{err}");
}

#[test]
fn deploy_resources_mapped_and_the_rest_named() {
    let Some(p) = Project::new(
        r#"
services:
  s:
    image: bb
    command: ["sleep", "300"]
    stop_signal: SIGKILL
    deploy:
      resources:
        limits:
          cpus: "0.5"
          memory: 64M
          pids: 50
        reservations:
          cpus: "0.25"
          memory: 32M
"#,
    ) else {
        return;
    };
    let (code, _, err) = p.run(&["up", "-d"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("services.s.deploy.resources.reservations.cpus: not supported, ignored"),
        "{err}"
    );
    let got = p.inspect(
        "proj-s-1",
        "{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.MemoryReservation}}",
    );
    assert_eq!(got, "500000000 67108864 50 33554432");
}

#[test]
fn independent_services_start_together() {
    // a becomes healthy only once z has started; x waits for a healthy.
    // One service at a time in dependency order (a, x, z) never gets
    // there: z would wait behind x.
    let Some(p) = Project::new(
        r#"
services:
  a:
    image: bb
    command: ["sleep", "300"]
    stop_signal: SIGKILL
    volumes: ["shared:/s"]
    healthcheck:
      test: ["CMD", "test", "-e", "/s/z-was-here"]
      interval: 1s
      start_interval: 1s
      start_period: 30s
  x:
    image: bb
    command: ["sleep", "300"]
    stop_signal: SIGKILL
    depends_on:
      a:
        condition: service_healthy
  z:
    image: bb
    command: ["sh", "-c", "echo > /s/z-was-here; exec sleep 300"]
    stop_signal: SIGKILL
    volumes: ["shared:/s"]
volumes:
  shared:
"#,
    ) else {
        return;
    };
    p.ok(&["up", "-d", "--wait", "--wait-timeout", "60"]);
    for c in p.ps() {
        assert_eq!(c["State"], "running", "{c}");
    }
    // down: everything goes
    p.ok(&["down", "-v", "-t", "0"]);
    assert!(p.ps().is_empty());
}

//! `berth compose build`, `up --build` / `--no-build` and `watch`, end to
//! end with real builds and containers (busybox images, a temp store):
//! images named and labelled as docker compose v2 names and labels them,
//! a container recreated only when a rebuild changed its image, `watch`
//! syncing files (and deletions) into a running container, ignore rules,
//! `sync+restart` restarting, `rebuild` changing the image. Needs root.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::Env;

struct Project {
    env: Env,
    dir: PathBuf,
}

impl Project {
    /// A store with image `bb` and a project directory `proj` holding
    /// `compose` and `app/Dockerfile`.
    fn new(compose: &str, dockerfile: &str) -> Option<Project> {
        if !berth_testkit::require_root("compose builds and runs containers") {
            return None;
        }
        let env = Env::new();
        let tar = env.path("bb.tar");
        std::fs::write(
            &tar,
            berth_testkit::busybox_tar_with(
                &["tmp", "etc"],
                &["sh", "cat", "echo", "sleep", "test", "wc", "ls"],
                &[],
            ),
        )
        .unwrap();
        env.ok(&["import", tar.to_str().unwrap(), "bb:latest"]);
        let dir = env.path("proj");
        std::fs::create_dir_all(dir.join("app")).unwrap();
        std::fs::write(dir.join("compose.yaml"), compose).unwrap();
        std::fs::write(dir.join("app/Dockerfile"), dockerfile).unwrap();
        Some(Project { env, dir })
    }

    fn file(&self, rel: &str, data: &str) {
        let p = self.dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
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

    fn image_id(&self, image: &str) -> String {
        self.env
            .ok(&["image", "inspect", "--format", "{{.Id}}", image])
            .trim()
            .to_string()
    }

    /// The id of the project's only container of `service`.
    fn container(&self, service: &str) -> String {
        self.ok(&["ps", "-aq", service]).trim().to_string()
    }

    /// `exec -T SERVICE sh -c SCRIPT`: (code, stdout).
    fn sh(&self, service: &str, script: &str) -> (i32, String) {
        let (code, out, _) = self.run(&["exec", "-T", service, "sh", "-c", script]);
        (code, out)
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self.run(&["down", "-v", "-t", "0", "--remove-orphans"]);
    }
}

/// Polls `f` until it holds (a bounded wait for an effect).
fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !f() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

const DOCKERFILE: &str = "FROM bb\nARG MSG\nCOPY f.txt /f.txt\nRUN echo $MSG > /msg\n";

#[test]
fn up_builds_and_recreates_only_when_the_image_changed() {
    let Some(p) = Project::new(
        "services:\n  web:\n    build:\n      context: ./app\n      args: [MSG=hi]\n      labels: {x.y: z}\n    command: [sleep, '1000']\n",
        DOCKERFILE,
    ) else {
        return;
    };
    p.file("app/f.txt", "v1\n");
    // no image yet: `up` builds it as <project>-<service>
    let (code, _, err) = p.run(&["up", "-d"]);
    assert_eq!(code, 0, "{err}");
    let first = p.image_id("proj-web");
    assert!(err.contains("Built"), "{err}");
    let labels = p.env.ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Labels}}",
        "proj-web",
    ]);
    let labels: serde_json::Value = serde_json::from_str(labels.trim()).unwrap();
    assert_eq!(labels["com.docker.compose.project"], "proj", "{labels}");
    assert_eq!(labels["com.docker.compose.service"], "web", "{labels}");
    assert_eq!(labels["x.y"], "z", "{labels}");
    let (code, out, err) = p.run(&["exec", "-T", "web", "sh", "-c", "cat /f.txt /msg"]);
    assert_eq!(out, "v1\nhi\n", "exec: {code} {err}");
    let c1 = p.container("web");

    // the image is there: a plain `up` does not build
    let (_, _, err) = p.run(&["up", "-d"]);
    assert!(!err.contains("Building"), "{err}");
    assert_eq!(p.container("web"), c1);

    // `--build` with the context unchanged: every step cached, same image,
    // the container kept
    let (_, _, err) = p.run(&["up", "-d", "--build"]);
    assert!(err.contains("CACHED"), "{err}");
    assert_eq!(p.image_id("proj-web"), first);
    assert_eq!(p.container("web"), c1, "recreated with no change: {err}");

    // the context changed: a new image, the container recreated on it
    p.file("app/f.txt", "v2\n");
    p.ok(&["up", "-d", "--build"]);
    assert_ne!(p.image_id("proj-web"), first);
    let c2 = p.container("web");
    assert_ne!(c2, c1);
    assert_eq!(p.sh("web", "cat /f.txt").1, "v2\n");

    // `down --rmi local` removes the image built for a service without
    // `image:`
    p.ok(&["down", "-t", "0", "--rmi", "local"]);
    let (code, _, _) = p
        .env
        .run(&["image", "inspect", "--format", "{{.Id}}", "proj-web"]);
    assert_ne!(code, 0, "proj-web left behind");
}

#[test]
fn build_then_up_no_build() {
    let Some(p) = Project::new(
        "services:\n  web:\n    image: mine/app:1\n    build:\n      context: ./app\n      args: [MSG]\n    command: [sleep, '1000']\n",
        DOCKERFILE,
    ) else {
        return;
    };
    p.file("app/f.txt", "built\n");
    // nothing built yet: --no-build cannot run the service
    let (code, _, err) = p.run(&["up", "-d", "--no-build"]);
    assert_ne!(code, 0);
    assert!(err.contains("mine/app:1"), "{err}");
    let (code, _, err) = p.run(&["up", "-d", "--build", "--no-build"]);
    assert_ne!(code, 0);
    assert!(err.contains("--no-build"), "{err}");

    // `build --build-arg` (a bare KEY of the service's args gets its value
    // from the command line), quiet
    let (code, out, err) = p.run(&["build", "-q", "--build-arg", "MSG=from-cli"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(!err.contains("#1"), "quiet build printed steps: {err}");
    let id = p.image_id("mine/app:1");
    p.ok(&["up", "-d", "--no-build"]);
    assert_eq!(p.image_id("mine/app:1"), id);
    assert_eq!(p.sh("web", "cat /f.txt /msg").1, "built\nfrom-cli\n");

    // a field the builder cannot honour is named
    p.file(
        "compose.yaml",
        "services:\n  web:\n    image: mine/app:1\n    build:\n      context: ./app\n      additional_contexts: {other: ./app}\n",
    );
    let (code, _, err) = p.run(&["build"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("services.web.build.additional_contexts"),
        "{err}"
    );
}

/// `compose watch` (or `up --watch`) as a child whose output lines
/// arrive on a channel.
struct Watch {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Watch {
    fn start(p: &Project, args: &[&str]) -> Watch {
        let mut child = p
            .cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let out: Box<dyn std::io::Read + Send> = Box::new(child.stdout.take().unwrap());
        let err: Box<dyn std::io::Read + Send> = Box::new(child.stderr.take().unwrap());
        for r in [out, err] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for l in BufReader::new(r).lines().map_while(Result::ok) {
                    if tx.send(l).is_err() {
                        break;
                    }
                }
            });
        }
        let mut w = Watch {
            child,
            lines: rx,
            seen: Vec::new(),
        };
        w.wait_line("Watch enabled");
        w
    }

    fn wait_line(&mut self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !self.seen.iter().any(|l| l.contains(text)) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => self.seen.push(l),
                Err(_) => panic!(
                    "no {text:?} from compose watch; it said:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn watch_syncs_ignores_restarts_and_rebuilds() {
    let Some(p) = Project::new(
        r#"services:
  web:
    build: ./app
    command: [sh, -c, "echo started >> /tmp/starts; exec sleep 1000"]
    develop:
      watch:
        - action: sync
          path: ./app/src
          target: /srv/app
          ignore: ["*.tmp"]
        - action: sync+restart
          path: ./app/conf
          target: /etc/conf
        - action: rebuild
          path: ./app/Dockerfile
"#,
        "FROM bb\nCOPY f.txt /f.txt\n",
    ) else {
        return;
    };
    p.file("app/f.txt", "x\n");
    p.file("app/src/keep.txt", "k\n");
    p.file("app/conf/a.conf", "1\n");
    let mut w = Watch::start(&p, &["watch"]);
    let image1 = p.image_id("proj-web");
    let c1 = p.container("web");

    // a new file (in a new directory) is synced
    p.file("app/src/sub/a.txt", "one\n");
    wait_for("a.txt synced", || {
        p.sh("web", "cat /srv/app/sub/a.txt").1 == "one\n"
    });
    // and a change to it
    p.file("app/src/sub/a.txt", "two\n");
    wait_for("a.txt updated", || {
        p.sh("web", "cat /srv/app/sub/a.txt").1 == "two\n"
    });

    // an ignored file is not synced: once a later file arrived, it is
    // still missing
    p.file("app/src/b.tmp", "ignored\n");
    p.file("app/src/c.txt", "after\n");
    wait_for("c.txt synced", || {
        p.sh("web", "cat /srv/app/c.txt").1 == "after\n"
    });
    assert_ne!(p.sh("web", "test -e /srv/app/b.tmp").0, 0, "b.tmp synced");

    // a deletion is synced
    std::fs::remove_file(p.dir.join("app/src/sub/a.txt")).unwrap();
    wait_for("a.txt removed", || {
        p.sh("web", "test -e /srv/app/sub/a.txt").0 != 0
    });

    // sync+restart: the file there and the container restarted (its
    // command ran twice in the same container)
    assert_eq!(p.sh("web", "wc -l < /tmp/starts").1.trim(), "1");
    p.file("app/conf/a.conf", "2\n");
    wait_for("a.conf synced and web restarted", || {
        p.sh("web", "cat /etc/conf/a.conf").1 == "2\n"
            && p.sh("web", "wc -l < /tmp/starts").1.trim() == "2"
    });
    assert_eq!(p.container("web"), c1);

    // rebuild: a new image and the service recreated on it
    p.file(
        "app/Dockerfile",
        "FROM bb\nCOPY f.txt /f.txt\nRUN echo v2 > /version\n",
    );
    wait_for("web rebuilt and recreated", || {
        p.container("web") != c1 && p.sh("web", "cat /version").1 == "v2\n"
    });
    assert_ne!(p.image_id("proj-web"), image1);
    w.wait_line("successfully built");
}

#[test]
fn up_watch_follows_the_logs_of_a_rebuilt_service_and_stops_on_sigterm() {
    let Some(p) = Project::new(
        r#"services:
  web:
    build: ./app
    command: [sh, -c, "cat /version; exec sleep 1000"]
    develop:
      watch:
        - action: rebuild
          path: ./app/Dockerfile
"#,
        "FROM bb\nRUN echo version-one > /version\n",
    ) else {
        return;
    };
    let mut w = Watch::start(&p, &["up", "--watch"]);
    w.wait_line("Watch enabled");
    w.wait_line("| version-one");
    p.file(
        "app/Dockerfile",
        "FROM bb\nRUN echo version-two > /version\n",
    );
    // the recreated container's output still reaches `up`
    w.wait_line("| version-two");
    let pid = nix::unistd::Pid::from_raw(w.child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(st) = w.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "up --watch did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // compose v2 exits 130 when a signal ended `up --watch`
    assert_eq!(status.code(), Some(130), "{status:?}");
    assert_eq!(p.ok(&["ps", "-q"]).trim(), "", "containers still running");
}

//! Test support: run the real `berth` binary against a per-test store,
//! a real `docker-registry` per test, and a busybox rootfs tarball.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

// Not every test binary uses each of these.
#[allow(unused_imports)]
pub use berth_testkit::{file_tar, free_port, free_port_on, have, require, skip};

pub mod api;

pub const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// A temp dir with a store root under it.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BERTH);
        c.arg("--root").arg(self.root()).args(args);
        // Keep credentials of the machine out of the tests.
        c.env("REGISTRY_AUTH_FILE", self.path("auth.json"));
        c.env_remove("XDG_RUNTIME_DIR");
        c.env("CONTAINERS_REGISTRIES_CONF", self.path("registries.conf"));
        c.stdin(Stdio::null());
        c
    }

    pub fn output(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run berth")
    }

    /// Run; (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        let o = self.output(args);
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    /// Run; assert success; stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.output(args);
        assert!(
            o.status.success(),
            "berth {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    /// Run; assert failure with `code`; stderr (one line checked).
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let o = self.output(args);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(
            o.status.code(),
            Some(code),
            "berth {args:?}: expected exit {code}\nstdout: {}\nstderr: {err}",
            String::from_utf8_lossy(&o.stdout)
        );
        assert!(err.starts_with("berth: "), "{err}");
        err
    }

    /// Write the busybox rootfs tarball and import it as `name`; the id.
    pub fn import_busybox(&self, name: &str, changes: &[&str]) -> String {
        let tar = self.path("busybox.tar");
        if !tar.exists() {
            std::fs::write(&tar, busybox_tar()).unwrap();
        }
        let mut args: Vec<&str> = vec!["import"];
        for c in changes {
            args.push("-c");
            args.push(c);
        }
        let t = tar.to_str().unwrap().to_string();
        args.push(&t);
        if !name.is_empty() {
            args.push(name);
        }
        let id = self.ok(&args).trim().to_string();
        assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
        id
    }

    /// `images --format json`, parsed.
    pub fn images_json(&self) -> Vec<serde_json::Value> {
        self.ok(&["images", "--format", "json"])
            .lines()
            .map(|l| serde_json::from_str(l).expect("images json line parses"))
            .collect()
    }

    /// `repo:tag` of every listed row.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .lines()
            .map(str::to_string)
            .collect();
        v.sort();
        v
    }

    /// Everything in the store (to check failed commands left it alone),
    /// but for the event journal (`events/`), which successful commands
    /// in between append to.
    pub fn snapshot(&self) -> Vec<(PathBuf, u64)> {
        fn walk(p: &Path, out: &mut Vec<(PathBuf, u64)>) {
            if let Ok(rd) = std::fs::read_dir(p) {
                for e in rd.flatten() {
                    let md = e.metadata().unwrap();
                    let name = e.file_name();
                    let n = name.to_string_lossy();
                    if n.ends_with(".lock") || n == "tmp" || n == "events" {
                        continue;
                    }
                    if md.is_dir() {
                        walk(&e.path(), out);
                    } else {
                        out.push((e.path(), md.len()));
                    }
                }
            }
        }
        let mut v = Vec::new();
        walk(&self.root(), &mut v);
        v.sort();
        v
    }
}

/// A tar with `bin/busybox` (Debian's busybox-static) and applet links.
pub fn busybox_tar() -> Vec<u8> {
    berth_testkit::busybox_tar(&["sh", "ls", "cat", "echo", "true"])
}

// ---------------------------------------------------------------------
// docker-registry

fn answers(addr: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if write!(
        s,
        "GET /v2/ HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .is_err()
    {
        return false;
    }
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).is_ok() && line.starts_with("HTTP/")
}

pub struct DockerRegistry {
    pub addr: String,
    pub dir: tempfile::TempDir,
    child: Child,
}

impl DockerRegistry {
    /// Start one on a free port (with htpasswd auth for `user`/`pass` if
    /// given); `None` (the test skipped, see `skip`) if the tools are not
    /// installed.
    pub fn start(auth: Option<(&str, &str)>) -> Option<DockerRegistry> {
        DockerRegistry::start_with(auth, None)
    }

    /// Like [`DockerRegistry::start`], serving HTTPS with this
    /// certificate and key (PEM files) if given.
    pub fn start_with(
        auth: Option<(&str, &str)>,
        tls: Option<(&Path, &Path)>,
    ) -> Option<DockerRegistry> {
        DockerRegistry::start_on("127.0.0.1", auth, tls)
    }

    /// Like [`DockerRegistry::start_with`], listening on `ip`.
    pub fn start_on(
        ip: &str,
        auth: Option<(&str, &str)>,
        tls: Option<(&Path, &Path)>,
    ) -> Option<DockerRegistry> {
        if !Path::new("/usr/bin/docker-registry").exists() {
            skip("/usr/bin/docker-registry is not installed");
            return None;
        }
        if auth.is_some() && !require("htpasswd") {
            return None;
        }
        for attempt in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let addr = format!("{ip}:{}", free_port_on(ip));
            let mut cfg = format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
                dir.path().join("data").display()
            );
            if let Some((cert, key)) = tls {
                cfg.push_str(&format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    cert.display(),
                    key.display()
                ));
            }
            if let Some((u, p)) = auth {
                let out = Command::new("htpasswd")
                    .args(["-Bbn", u, p])
                    .output()
                    .unwrap();
                let hp = dir.path().join("htpasswd");
                std::fs::write(&hp, String::from_utf8_lossy(&out.stdout).trim()).unwrap();
                cfg.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                    hp.display()
                ));
            }
            let cp = dir.path().join("config.yml");
            std::fs::write(&cp, cfg).unwrap();
            let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
            let child = Command::new("/usr/bin/docker-registry")
                .arg("serve")
                .arg(&cp)
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap();
            let mut reg = DockerRegistry { addr, dir, child };
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if answers(&reg.addr) {
                    return Some(reg);
                }
                if let Ok(Some(_)) = reg.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            eprintln!("docker-registry attempt {attempt} did not come up");
        }
        panic!("docker-registry did not start");
    }

    pub fn name(&self, repo_tag: &str) -> String {
        format!("{}/{repo_tag}", self.addr)
    }
}

impl Drop for DockerRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

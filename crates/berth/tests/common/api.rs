//! The API service (`berth system service`) on a per-test store, for the
//! tests that drive it with the docker CLI, raw HTTP and API clients.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::Env;

pub const DOCKER: &str = "/usr/local/bin/docker";

/// A service on `<tmp>/s.sock` over the test store; killed at the end.
pub struct Service {
    pub env: Env,
    pub sock: PathBuf,
    pub child: Child,
}

impl Service {
    /// None (skipped) without the docker CLI.
    pub fn start() -> Option<Service> {
        if !std::path::Path::new(DOCKER).exists() {
            super::skip("/usr/local/bin/docker is not installed");
            return None;
        }
        let env = Env::new();
        let sock = env.path("s.sock");
        let uri = format!("unix://{}", sock.display());
        let child = env
            .cmd(&["system", "service", "--time", "0", &uri])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start berth system service");
        let s = Service { env, sock, child };
        let t = Instant::now();
        while UnixStream::connect(&s.sock).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "the service did not come up"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(s)
    }

    pub fn docker_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(DOCKER);
        c.args(args)
            .env("DOCKER_HOST", format!("unix://{}", self.sock.display()))
            .env("DOCKER_CONFIG", self.env.path("docker-config"))
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_API_VERSION")
            .stdin(Stdio::null());
        c
    }

    pub fn docker_out(&self, args: &[&str]) -> Output {
        self.docker_cmd(args).output().expect("run docker")
    }

    /// docker ARGS; asserts success; stdout.
    pub fn docker(&self, args: &[&str]) -> String {
        let o = self.docker_out(args);
        assert!(
            o.status.success(),
            "docker {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    /// docker ARGS; asserts failure; stderr.
    pub fn docker_fails(&self, args: &[&str]) -> String {
        let o = self.docker_out(args);
        assert!(
            !o.status.success(),
            "docker {args:?} succeeded: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        String::from_utf8_lossy(&o.stderr).into_owned()
    }

    /// One raw request (Connection: close): status, headers (lowercase
    /// names), body.
    pub fn http(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let mut s = UnixStream::connect(&self.sock).unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).unwrap();
        // A refused huge body is answered before it is all sent: write it
        // beside the read, and keep what was read when the server resets
        // the connection on the unread rest.
        let mut w = s.try_clone().unwrap();
        let body = body.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = w.write_all(&body);
        });
        let mut raw = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
                Err(e) if !raw.is_empty() => {
                    eprintln!("read after the response: {e}");
                    break;
                }
                Err(e) => panic!("{method} {path}: {e}"),
            }
        }
        let _ = s.shutdown(std::net::Shutdown::Both);
        let _ = writer.join();
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a response head");
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let mut lines = head.lines();
        let status: u16 = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let mut body = raw[split + 4..].to_vec();
        if headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v == "chunked")
        {
            body = dechunk(&body);
        }
        (status, headers, body)
    }

    pub fn http_json(&self, method: &str, path: &str, body: &[u8]) -> (u16, serde_json::Value) {
        let (st, _, b) = self.http(method, path, body);
        let v = if b.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&b)
                .unwrap_or_else(|e| panic!("{method} {path}: {e}: {}", String::from_utf8_lossy(&b)))
        };
        (st, v)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let ids = self.env.output(&["ps", "-a", "-q", "--no-trunc"]);
        for id in String::from_utf8_lossy(&ids.stdout).lines() {
            let _ = self.env.output(&["rm", "-f", id]);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(i) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..i]).trim(), 16).unwrap_or(0);
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + n]);
        b = &b[i + 2 + n + 2..];
    }
}

impl Service {
    /// Imports a busybox image as `bb` (with `sleep`).
    pub fn busybox(&self) {
        let tar = self.env.path("bb.tar");
        std::fs::write(
            &tar,
            berth_testkit::busybox_tar(&["sh", "echo", "cat", "sleep", "true", "ls"]),
        )
        .unwrap();
        self.env.ok(&["import", tar.to_str().unwrap(), "bb"]);
    }

    /// Polls `f` (a condition on the service's state) for up to 20 s.
    pub fn until(&self, what: &str, mut f: impl FnMut() -> bool) {
        let t = Instant::now();
        while !f() {
            assert!(t.elapsed() < Duration::from_secs(20), "timed out: {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

//! The Docker Engine API service (`berth system service`, crates/api)
//! driven by the real docker CLI (/usr/local/bin/docker) and raw HTTP on
//! its unix socket, on a per-test store. Container tests need root.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::Env;

const DOCKER: &str = "/usr/local/bin/docker";

/// A service on `<tmp>/s.sock` over the test store; killed at the end.
struct Service {
    env: Env,
    sock: PathBuf,
    child: Child,
}

impl Service {
    /// None (skipped) without the docker CLI.
    fn start() -> Option<Service> {
        if !std::path::Path::new(DOCKER).exists() {
            common::skip("/usr/local/bin/docker is not installed");
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

    fn docker_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(DOCKER);
        c.args(args)
            .env("DOCKER_HOST", format!("unix://{}", self.sock.display()))
            .env("DOCKER_CONFIG", self.env.path("docker-config"))
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_API_VERSION")
            .stdin(Stdio::null());
        c
    }

    fn docker_out(&self, args: &[&str]) -> Output {
        self.docker_cmd(args).output().expect("run docker")
    }

    /// docker ARGS; asserts success; stdout.
    fn docker(&self, args: &[&str]) -> String {
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
    fn docker_fails(&self, args: &[&str]) -> String {
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
    fn http(&self, method: &str, path: &str, body: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let mut s = UnixStream::connect(&self.sock).unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).unwrap();
        // A refused huge body may be answered before it is all sent.
        let _ = s.write_all(body);
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
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

    fn http_json(&self, method: &str, path: &str, body: &[u8]) -> (u16, serde_json::Value) {
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

fn dechunk(mut b: &[u8]) -> Vec<u8> {
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
    // A huge body is refused, and nothing is created.
    let mut huge = br#"{"Name":"v","Labels":{"a":""#.to_vec();
    huge.extend(std::iter::repeat(b'x').take(17 << 20));
    huge.extend_from_slice(br#""}}"#);
    let (st, _, _) = s.http("POST", "/v1.50/volumes/create", &huge);
    assert!(st == 413 || st == 400, "{st}");
    assert!(s.docker(&["volume", "ls", "-q"]).trim().is_empty());
}

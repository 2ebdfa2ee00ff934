//! Test support: a real `docker-registry` per test, a minimal fake
//! registry on a std TcpListener, and image builders.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flate2::write::GzEncoder;
use image::manifest::media_type;
use image::{Digest, Reference, Store};
use registry::{Client, ClientConfig, LayerState, Progress};

// ---------------------------------------------------------------------
// tools

// Not every test binary uses each of these.
#[allow(unused_imports)]
pub use berth_testkit::{file_tar, free_port, have, require, skip};

pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A client tuned for tests: quick retries.
pub fn client() -> Client {
    client_with(ClientConfig::default())
}

pub fn client_with(cfg: ClientConfig) -> Client {
    Client::new(ClientConfig {
        retries: 2,
        retry_delay: Duration::from_millis(20),
        ..cfg
    })
    .unwrap()
}

/// Status of `GET path` on addr, if it answers.
pub fn http_status(addr: &str, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

// ---------------------------------------------------------------------
// docker-registry

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
        DockerRegistry::start_with(auth, None, None)
    }

    /// Like [`DockerRegistry::start`], serving HTTPS with this
    /// certificate and key (PEM files) if given.
    /// With `client_ca`, a client certificate that CA signed is required.
    pub fn start_with(
        auth: Option<(&str, &str)>,
        tls: Option<(&Path, &Path)>,
        client_ca: Option<&Path>,
    ) -> Option<DockerRegistry> {
        if !Path::new("/usr/bin/docker-registry").exists() {
            skip("/usr/bin/docker-registry is not installed (apt-get install docker-registry)");
            return None;
        }
        if auth.is_some() && !require("htpasswd") {
            return None;
        }
        for attempt in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let port = free_port();
            let addr = format!("127.0.0.1:{port}");
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
                if let Some(ca) = client_ca {
                    cfg.push_str(&format!("    clientcas:\n      - {}\n", ca.display()));
                }
            }
            if let Some((u, p)) = auth {
                let line = run(Command::new("htpasswd").args(["-Bbn", u, p]));
                let hp = dir.path().join("htpasswd");
                std::fs::write(&hp, line.trim()).unwrap();
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
                if http_status(&reg.addr, "/v2/").is_some() {
                    return Some(reg);
                }
                if let Ok(Some(_)) = reg.child.try_wait() {
                    break; // port taken or bad config: try again
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let log =
                std::fs::read_to_string(reg.dir.path().join("registry.log")).unwrap_or_default();
            eprintln!("docker-registry attempt {attempt} did not come up: {log}");
            drop(reg);
        }
        panic!("docker-registry did not start");
    }

    pub fn reference(&self, repo_tag: &str) -> Reference {
        Reference::parse(&format!("{}/{repo_tag}", self.addr)).unwrap()
    }
}

impl Drop for DockerRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------
// images

/// A tar with `bin/busybox` and a few symlinks to it.
pub fn busybox_tar() -> Vec<u8> {
    berth_testkit::busybox_tar(&["sh", "ls", "cat", "echo"])
}

/// Deterministic pseudo-random bytes (xorshift).
pub fn random_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(n);
    v
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// The blobs of an OCI image built in memory.
#[derive(Clone)]
pub struct ImageBlobs {
    pub manifest: Vec<u8>,
    pub manifest_digest: Digest,
    pub config: Vec<u8>,
    pub config_digest: Digest,
    /// (digest, gzipped bytes, diff id)
    pub layers: Vec<(Digest, Vec<u8>, Digest)>,
}

impl ImageBlobs {
    /// Build from uncompressed layer tars.
    pub fn build(tars: &[Vec<u8>], arch: &str) -> ImageBlobs {
        let layers: Vec<(Digest, Vec<u8>, Digest)> = tars
            .iter()
            .map(|t| {
                let gz = gzip(t);
                (Digest::of_bytes(&gz), gz, Digest::of_bytes(t))
            })
            .collect();
        let diff_ids: Vec<String> = layers.iter().map(|l| l.2.to_string()).collect();
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": arch,
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .unwrap();
        let config_digest = Digest::of_bytes(&config);
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_MANIFEST,
            "config": {"mediaType": media_type::OCI_CONFIG, "digest": config_digest.to_string(), "size": config.len()},
            "layers": layers.iter().map(|(d, b, _)| serde_json::json!({
                "mediaType": media_type::OCI_LAYER_GZIP, "digest": d.to_string(), "size": b.len()
            })).collect::<Vec<_>>(),
        }))
        .unwrap();
        let manifest_digest = Digest::of_bytes(&manifest);
        ImageBlobs {
            manifest,
            manifest_digest,
            config,
            config_digest,
            layers,
        }
    }

    /// Put the blobs in `store` and register them under `name`.
    pub fn store_in(&self, store: &Store, name: &str) -> image::ImageRecord {
        let c = store.content();
        for (_, b, _) in &self.layers {
            c.ingest_bytes(b).unwrap();
        }
        c.ingest_bytes(&self.config).unwrap();
        c.ingest_bytes(&self.manifest).unwrap();
        store
            .register(
                &self.manifest_digest,
                &image::Platform::default(),
                &[Reference::parse(name).unwrap()],
            )
            .unwrap()
    }

    pub fn blob(&self, d: &str) -> Option<Vec<u8>> {
        if d == self.config_digest.to_string() {
            return Some(self.config.clone());
        }
        self.layers
            .iter()
            .find(|l| l.0.to_string() == d)
            .map(|l| l.1.clone())
    }
}

/// Everything in a store, to compare before/after a failed pull (the
/// last figure counts temp files; partial downloads, kept for a resume,
/// are in [`partials`]).
pub fn store_state(store: &Store) -> (Vec<Digest>, Vec<Digest>, usize, usize) {
    (
        store.content().list().unwrap(),
        store.snapshots().list().unwrap(),
        store.list().unwrap().len(),
        std::fs::read_dir(store.content().tmp_dir())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name() != "partial")
            .count(),
    )
}

/// Partial downloads kept in the store's temp area: (file name, size).
pub fn partials(store: &Store) -> Vec<(String, u64)> {
    let dir = store.content().tmp_dir().join("partial");
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<(String, u64)> = rd
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    v.sort();
    v
}

pub fn new_store() -> (tempfile::TempDir, Store) {
    let d = tempfile::tempdir().unwrap();
    let s = Store::open(d.path().join("store")).unwrap();
    (d, s)
}

/// Records progress events.
#[derive(Default)]
pub struct Recorder {
    pub states: Mutex<Vec<(Digest, LayerState)>>,
    pub bytes: Mutex<HashMap<Digest, u64>>,
    pub notes: Mutex<Vec<String>>,
}

impl Recorder {
    pub fn count(&self, s: LayerState) -> usize {
        self.states
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, x)| *x == s)
            .count()
    }
}

impl Progress for Recorder {
    fn layer(&self, digest: &Digest, _size: u64, state: LayerState) {
        self.states.lock().unwrap().push((digest.clone(), state));
    }
    fn bytes(&self, digest: &Digest, done: u64, _total: u64) {
        self.bytes.lock().unwrap().insert(digest.clone(), done);
    }
    fn note(&self, message: &str) {
        self.notes.lock().unwrap().push(message.to_string());
    }
}

// ---------------------------------------------------------------------
// fake registry

#[derive(Debug, Clone)]
pub struct FakeReq {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl FakeReq {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub struct FakeResp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Send only this many body bytes (with the full Content-Length),
    /// then close.
    pub truncate_to: Option<usize>,
    /// Send the body chunked (no Content-Length), as a registry that
    /// does not say how long it is.
    pub chunked: bool,
}

impl FakeResp {
    pub fn new(status: u16) -> FakeResp {
        FakeResp {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            truncate_to: None,
            chunked: false,
        }
    }
    pub fn header(mut self, k: &str, v: impl Into<String>) -> FakeResp {
        self.headers.push((k.to_string(), v.into()));
        self
    }
    pub fn body(mut self, b: impl Into<Vec<u8>>) -> FakeResp {
        self.body = b.into();
        self
    }
    pub fn error(status: u16, code: &str, message: &str) -> FakeResp {
        FakeResp::new(status)
            .header("Content-Type", "application/json")
            .body(format!(
                r#"{{"errors":[{{"code":"{code}","message":"{message}","detail":null}}]}}"#
            ))
    }
}

type Handler = dyn Fn(&FakeReq) -> FakeResp + Send + Sync;

pub struct FakeRegistry {
    pub addr: String,
    pub log: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl FakeRegistry {
    pub fn start(handler: impl Fn(&FakeReq) -> FakeResp + Send + Sync + 'static) -> FakeRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        {
            let (log, stop) = (log.clone(), stop.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (log, handler) = (log.clone(), handler.clone());
                    std::thread::spawn(move || serve_conn(conn, &log, &*handler));
                }
            });
        }
        FakeRegistry { addr, log, stop }
    }

    pub fn reference(&self, repo_tag: &str) -> Reference {
        Reference::parse(&format!("{}/{repo_tag}", self.addr)).unwrap()
    }

    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
    }
}

fn serve_conn(conn: TcpStream, log: &Mutex<Vec<String>>, handler: &Handler) {
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut w = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    while let Some(req) = berth_testkit::read_http_request(&mut r) {
        let req = FakeReq {
            method: req.method,
            path: req.path,
            headers: req.headers,
            body: req.body,
        };
        log.lock()
            .unwrap()
            .push(format!("{} {}", req.method, req.path));
        let resp = handler(&req);
        let mut out = format!("HTTP/1.1 {} X\r\n", resp.status);
        for (k, v) in &resp.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        if resp.chunked {
            out.push_str("Transfer-Encoding: chunked\r\n\r\n");
            let mut bytes = out.into_bytes();
            if req.method != "HEAD" {
                for c in resp.body.chunks(64 << 10) {
                    bytes.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                    bytes.extend_from_slice(c);
                    bytes.extend_from_slice(b"\r\n");
                }
                bytes.extend_from_slice(b"0\r\n\r\n");
            }
            if w.write_all(&bytes).is_err() {
                return;
            }
            continue;
        }
        out.push_str(&format!("Content-Length: {}\r\n\r\n", resp.body.len()));
        let mut bytes = out.into_bytes();
        if req.method != "HEAD" {
            let n = resp.truncate_to.unwrap_or(resp.body.len());
            bytes.extend_from_slice(&resp.body[..n]);
        }
        if w.write_all(&bytes).is_err() {
            return;
        }
        if resp.truncate_to.is_some() {
            let _ = w.shutdown(std::net::Shutdown::Both);
            return;
        }
    }
}

/// Serves an image (or several manifests) from memory, like a registry.
#[derive(Clone, Default)]
pub struct ImageServer {
    pub repo: String,
    /// reference (tag or digest) → (content type, bytes)
    pub manifests: HashMap<String, (String, Vec<u8>)>,
    pub blobs: HashMap<String, Vec<u8>>,
    /// digest → bytes served instead
    pub corrupt: HashMap<String, Vec<u8>>,
    /// digest → bytes to send before closing
    pub truncate: HashMap<String, usize>,
    /// Answer `Range: bytes=N-` with 206 (else ranges are ignored: 200).
    pub ranges: bool,
    /// Require `Authorization: Bearer <token>`; token issued at /token.
    pub bearer: Option<String>,
    /// Credentials the token endpoint wants (Basic), if any.
    pub token_basic: Option<String>,
}

impl ImageServer {
    pub fn for_image(repo: &str, tag: &str, img: &ImageBlobs) -> ImageServer {
        let mut s = ImageServer {
            repo: repo.to_string(),
            ..Default::default()
        };
        s.add_image(tag, img);
        s
    }

    pub fn add_image(&mut self, tag: &str, img: &ImageBlobs) {
        let m = (media_type::OCI_MANIFEST.to_string(), img.manifest.clone());
        self.manifests.insert(tag.to_string(), m.clone());
        self.manifests.insert(img.manifest_digest.to_string(), m);
        self.blobs
            .insert(img.config_digest.to_string(), img.config.clone());
        for (d, b, _) in &img.layers {
            self.blobs.insert(d.to_string(), b.clone());
        }
    }

    pub fn handle(&self, req: &FakeReq, addr: &str) -> FakeResp {
        let path = req.path.split('?').next().unwrap_or("");
        if path == "/token" {
            if let Some(want) = &self.token_basic {
                if req.header("authorization") != Some(want.as_str()) {
                    return FakeResp::new(401).body("bad credentials");
                }
            }
            return FakeResp::new(200)
                .header("Content-Type", "application/json")
                .body(format!(
                    r#"{{"access_token":"{}","expires_in":300}}"#,
                    self.bearer.clone().unwrap_or_default()
                ));
        }
        if let Some(tok) = &self.bearer {
            if req.header("authorization") != Some(format!("Bearer {tok}").as_str()) {
                return FakeResp::error(401, "UNAUTHORIZED", "authentication required").header(
                    "WWW-Authenticate",
                    format!(
                        r#"Bearer realm="http://{addr}/token",service="fake-registry",scope="repository:{}:pull""#,
                        self.repo
                    ),
                );
            }
        }
        if path == "/v2/" {
            return FakeResp::new(200).body("{}");
        }
        let prefix = format!("/v2/{}/", self.repo);
        let Some(rest) = path.strip_prefix(&prefix) else {
            return FakeResp::error(404, "NAME_UNKNOWN", "repository name not known to registry");
        };
        if let Some(r) = rest.strip_prefix("manifests/") {
            return match self.manifests.get(r) {
                Some((ct, b)) => FakeResp::new(200)
                    .header("Content-Type", ct.clone())
                    .header("Docker-Content-Digest", Digest::of_bytes(b).to_string())
                    .body(b.clone()),
                None => FakeResp::error(404, "MANIFEST_UNKNOWN", "manifest unknown"),
            };
        }
        if let Some(d) = rest.strip_prefix("blobs/") {
            let Some(b) = self.blobs.get(d) else {
                return FakeResp::error(404, "BLOB_UNKNOWN", "blob unknown to registry");
            };
            let body = self.corrupt.get(d).cloned().unwrap_or_else(|| b.clone());
            let from = req
                .header("range")
                .and_then(|r| r.strip_prefix("bytes="))
                .and_then(|r| r.strip_suffix('-'))
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| self.ranges && *n < body.len());
            let mut resp = match from {
                Some(n) => FakeResp::new(206)
                    .header("Content-Type", "application/octet-stream")
                    .header(
                        "Content-Range",
                        format!("bytes {n}-{}/{}", body.len() - 1, body.len()),
                    )
                    .body(body[n..].to_vec()),
                None => FakeResp::new(200)
                    .header("Content-Type", "application/octet-stream")
                    .body(body),
            };
            if let Some(n) = self.truncate.get(d) {
                resp.truncate_to = Some(*n);
            }
            return resp;
        }
        FakeResp::error(404, "UNSUPPORTED", "not implemented by the fake")
    }

    /// Start a fake registry serving this.
    pub fn start(self) -> FakeRegistry {
        let addr_slot: Arc<Mutex<String>> = Arc::new(Mutex::new(String::new()));
        let slot = addr_slot.clone();
        let reg = FakeRegistry::start(move |req| {
            let addr = slot.lock().unwrap().clone();
            self.handle(req, &addr)
        });
        *addr_slot.lock().unwrap() = reg.addr.clone();
        reg
    }
}

/// Path of a file inside an image's rootfs (top layer first search).
pub fn rootfs_file(lowers: &[PathBuf], rel: &str) -> Option<PathBuf> {
    lowers
        .iter()
        .map(|l| l.join(rel))
        .find(|p| p.symlink_metadata().is_ok())
}

//! Helpers that the integration tests of several crates share: layer
//! tarballs (busybox, one file), a free loopback port, whether a tool is
//! installed, the form of a shipped binary, and reading one HTTP/1.1
//! request for the tests' stub servers, and the one way a test skips
//! ([`skip`], [`require`], [`require_root`]). Each crate's
//! `tests/common/mod.rs` re-exports what its tests use.
#![forbid(unsafe_code)]

pub mod pki;

use std::io::BufRead;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};

/// Whether `tool` is on PATH (`command -v`).
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// The variable naming the file where skipped tests are listed, one line
/// each (`make test` sets it, then prints the count and the lines).
pub const SKIPS_ENV: &str = "BERTH_TEST_SKIPS";

/// Whether this is a CI run (`CI=true`, as GitHub, GitLab and others set
/// it): there a missing prerequisite fails the test.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A test's prerequisite is missing (root, podman, containerd,
/// docker-registry, script...): the test cannot check what it is about.
/// Under CI ([`ci`]) the test fails here; elsewhere the skip is recorded
/// ([`skip_host`]) and the caller returns.
#[track_caller]
pub fn skip(reason: &str) {
    let line = skip_line(reason);
    if ci() {
        panic!("a prerequisite is missing (CI=true: tests may not skip): {line}");
    }
    record_skip(&line);
}

/// The host's shape makes the test not apply (no cgroup v1 hierarchy on a
/// pure cgroup v2 host, a capability in the bounding set): the skip is
/// recorded as [`skip`]'s, but fails nowhere, CI included.
#[track_caller]
pub fn skip_host(reason: &str) {
    record_skip(&skip_line(reason));
}

#[track_caller]
fn skip_line(reason: &str) -> String {
    let at = std::panic::Location::caller();
    // libtest names each test's thread after the test.
    let name = std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .map(String::from)
        .unwrap_or_else(|| "(test)".to_string());
    format!("{name} ({}:{}): {reason}", at.file(), at.line())
}

/// Prints the skip and appends it to the file named by
/// `$BERTH_TEST_SKIPS` (one short O_APPEND write: parallel tests do not
/// interleave their lines).
fn record_skip(line: &str) {
    eprintln!("skipped: {line}");
    if let Some(p) = std::env::var_os(SKIPS_ENV).filter(|p| !p.is_empty()) {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
        {
            let _ = f.write_all(format!("{line}\n").as_bytes());
        }
    }
}

/// Whether `tool` is installed; if not, the test is skipped ([`skip`]).
#[track_caller]
pub fn require(tool: &str) -> bool {
    if have(tool) {
        return true;
    }
    skip(&format!("{tool} is not installed"));
    false
}

/// Whether this runs as root; if not, the test is skipped ([`skip`]).
#[track_caller]
pub fn require_root(what: &str) -> bool {
    if is_root() {
        return true;
    }
    skip(&format!("needs root ({what})"));
    false
}

/// Whether the effective user is root (from /proc, without libc).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// One HTTP/1.1 request as a test server received it.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    /// In the order received; names lower-cased, names and values trimmed.
    pub headers: Vec<(String, String)>,
    /// `Content-Length` bytes (none if absent or unparsable).
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one request (request line, headers, `Content-Length` body) from
/// `r`. None at end of stream or on an I/O error, including a short body.
/// Header lines without a colon are skipped.
pub fn read_http_request(r: &mut impl BufRead) -> Option<HttpRequest> {
    let mut line = String::new();
    if r.read_line(&mut line).unwrap_or(0) == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).unwrap_or(0) == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let mut req = HttpRequest {
        method,
        path,
        headers,
        body: Vec::new(),
    };
    let len = req
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    req.body.resize(len, 0);
    r.read_exact(&mut req.body).ok()?;
    Some(req)
}

/// A TCP port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    free_port_on("127.0.0.1")
}

/// A TCP port free on `ip` (e.g. "0.0.0.0" for every address) right now.
pub fn free_port_on(ip: &str) -> u16 {
    TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A tar with `bin/`, `bin/busybox` (Debian's busybox-static) and a link
/// `bin/<applet>` -> `busybox` for each of `applets`.
pub fn busybox_tar(applets: &[&str]) -> Vec<u8> {
    busybox_tar_with(&["bin/"], applets, &[])
}

/// A busybox tar in this order: the directories `dirs` (which should
/// include "bin/"), `bin/busybox`, a link per applet, then the `files`
/// (mode 0644).
pub fn busybox_tar_with(dirs: &[&str], applets: &[&str], files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for d in dirs {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_path(d).unwrap();
        h.set_mode(0o755);
        h.set_size(0);
        h.set_cksum();
        b.append(&h, &[][..]).unwrap();
    }
    let bb = std::fs::read("/bin/busybox").expect("busybox-static installed");
    let mut h = tar::Header::new_gnu();
    h.set_path("bin/busybox").unwrap();
    h.set_mode(0o755);
    h.set_size(bb.len() as u64);
    h.set_cksum();
    b.append(&h, &bb[..]).unwrap();
    for l in applets {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_path(format!("bin/{l}")).unwrap();
        h.set_link_name("busybox").unwrap();
        h.set_mode(0o777);
        h.set_size(0);
        h.set_cksum();
        b.append(&h, &[][..]).unwrap();
    }
    for (path, data) in files {
        append_file(&mut b, path, data);
    }
    b.into_inner().unwrap()
}

/// A tar holding one file (mode 0644).
pub fn file_tar(path: &str, data: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    append_file(&mut b, path, data);
    b.into_inner().unwrap()
}

fn append_file(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_path(path).unwrap();
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_cksum();
    b.append(&h, data).unwrap();
}

fn readelf(args: &[&str], exe: &Path) -> String {
    let o = Command::new("readelf")
        .args(args)
        .arg(exe)
        .output()
        .expect("readelf (binutils)");
    assert!(o.status.success());
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Asserts that `exe` is a static PIE (no dynamic loader; ASLR kept) whose
/// relative relocations are packed (DT_RELR), as scripts/berth-gcc links
/// the shipped binaries.
pub fn assert_static_pie_with_relr(exe: impl AsRef<Path>) {
    let exe = exe.as_ref();
    let headers = readelf(&["-hlW"], exe);
    assert!(
        headers.contains("DYN (Position-Independent Executable file)")
            || headers.contains("DYN (Shared object file)"),
        "{headers}"
    );
    assert!(
        !headers.contains("INTERP"),
        "dynamically linked:\n{headers}"
    );
    let sections = readelf(&["-SW"], exe);
    assert!(
        sections.contains(".relr.dyn"),
        "no packed relocations:\n{sections}"
    );
}

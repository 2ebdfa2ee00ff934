//! `GET`/`PUT /containers/{id}/archive` (docker cp) through the socket:
//! docker's extraction rules (an existing directory, noOverwriteDirNonDir,
//! copyUIDGID), symlinks that point out of the container staying inside
//! its root (CVE-2018-15664's class), and a copy failing mid-stream ending
//! as an error, not a clean 200 with a short tar.

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::Path;

use common::api::Service;

/// A tar of `entries`: (path, Some(content)) a file, (path, None) a
/// directory; symlinks as (path, target).
fn tar_of(files: &[(&str, Option<&[u8]>)], links: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (p, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_mode(if data.is_some() { 0o644 } else { 0o755 });
        h.set_uid(0);
        h.set_gid(0);
        match data {
            Some(d) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(d.len() as u64);
                b.append_data(&mut h, p, *d).unwrap();
            }
            None => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                b.append_data(&mut h, p, std::io::empty()).unwrap();
            }
        }
    }
    for (p, t) in links {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        b.append_link(&mut h, p, t).unwrap();
    }
    b.into_inner().unwrap()
}

fn put(s: &Service, c: &str, query: &str, tar: &[u8]) -> (u16, serde_json::Value) {
    s.http_json(
        "PUT",
        &format!("/v1.50/containers/{c}/archive?{query}"),
        tar,
    )
}

/// `ls -ln PATH` in the running container: "uid gid".
fn owner(s: &Service, c: &str, path: &str) -> String {
    let out = s.docker(&["exec", c, "ls", "-lnd", path]);
    let f: Vec<&str> = out.split_whitespace().collect();
    format!("{} {}", f[2], f[3])
}

#[test]
fn archive_put_follows_dockers_rules() {
    if !berth_testkit::require_root("containers") {
        return;
    }
    let Some(s) = Service::start() else { return };
    s.busybox();
    s.docker(&[
        "run",
        "-d",
        "--name",
        "uc",
        "--user",
        "1234:5678",
        "bb",
        "sleep",
        "1000",
    ]);
    // A host file of uid 4321: without -a it keeps the archive's owner
    // (docker's daemon), with -a it belongs to the container's user.
    let src = s.env.path("owned.txt");
    std::fs::write(&src, "owned\n").unwrap();
    std::os::unix::fs::chown(&src, Some(4321), Some(4321)).unwrap();
    s.docker(&["cp", src.to_str().unwrap(), "uc:/"]);
    assert_eq!(owner(&s, "uc", "/owned.txt"), "4321 4321");
    s.docker(&["cp", "-a", src.to_str().unwrap(), "uc:/bin/"]);
    assert_eq!(owner(&s, "uc", "/bin/owned.txt"), "1234 5678");

    let t = tar_of(&[("f", Some(b"x"))], &[]);
    // The path must be an existing directory: 404 missing, 400 a file.
    let (st, j) = put(&s, "uc", "path=/no/such", &t);
    assert_eq!(st, 404, "{j}");
    assert!(
        j["message"]
            .as_str()
            .unwrap()
            .contains("Could not find the file"),
        "{j}"
    );
    let (st, j) = put(&s, "uc", "path=/owned.txt", &t);
    assert_eq!(st, 400, "{j}");
    assert!(
        j["message"].as_str().unwrap().contains("not a directory"),
        "{j}"
    );
    // noOverwriteDirNonDir: a directory may not replace the file.
    let d = tar_of(&[("owned.txt", None), ("owned.txt/in", Some(b"y"))], &[]);
    let (st, j) = put(&s, "uc", "path=/&noOverwriteDirNonDir=true", &d);
    assert!(st >= 400, "{st} {j}");
    assert!(
        j["message"].as_str().unwrap().contains("non-directory"),
        "{j}"
    );
    assert_eq!(s.docker(&["exec", "uc", "cat", "/owned.txt"]), "owned\n");
    // Without it, as docker's archive package: the file is replaced.
    let (st, j) = put(&s, "uc", "path=/", &d);
    assert_eq!(st, 200, "{j}");
    assert_eq!(s.docker(&["exec", "uc", "cat", "/owned.txt/in"]), "y");
    // Bytes after the archive's end marker (padding) are read before the
    // answer: a client still sending them gets its 200, not a closed
    // connection (docker cp's "broken pipe" under load).
    let mut padded = tar_of(&[("pad", Some(b"p"))], &[]);
    padded.extend(std::iter::repeat_n(0u8, 8 << 20));
    let (st, j) = put(&s, "uc", "path=/", &padded);
    assert_eq!(st, 200, "{j}");
    assert_eq!(s.docker(&["exec", "uc", "cat", "/pad"]), "p");

    // top's ps_args: the engine's rule (docker's default -ef only).
    let (st, j) = s.http_json("GET", "/v1.50/containers/uc/top?ps_args=aux", b"");
    assert_eq!(st, 400, "{j}");
    assert!(j["message"].as_str().unwrap().contains("ps_args"), "{j}");
    let (st, j) = s.http_json("GET", "/v1.50/containers/uc/top?ps_args=-ef", b"");
    assert_eq!(st, 200, "{j}");
    let o = s.env.output(&["top", "uc", "aux"]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && e.contains("ps_args"), "{e}");
}

/// Symlinks in the container that point out of it (absolute, `..`) are
/// resolved inside its root both ways, stopped or running: nothing of the
/// host is read or written.
#[test]
fn archive_symlinks_stay_inside_the_container() {
    if !berth_testkit::require_root("containers") {
        return;
    }
    let Some(s) = Service::start() else { return };
    s.busybox();
    let host = s.env.path("hostdir");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("secret"), "host secret\n").unwrap();
    let hostp = host.to_str().unwrap().trim_start_matches('/').to_string();
    let dotdot = format!("../../../../../../../../../{hostp}");
    let abs = format!("/{hostp}");
    s.docker(&["create", "--name", "cv", "bb", "sleep", "1000"]);
    let links = tar_of(&[], &[("up", dotdot.as_str()), ("abs", abs.as_str())]);
    let (st, j) = put(&s, "cv", "path=/", &links);
    assert_eq!(st, 200, "{j}");
    let out = s.env.path("out");
    std::fs::create_dir_all(&out).unwrap();
    let payload = s.env.path("payload.txt");
    std::fs::write(&payload, "from the client\n").unwrap();

    for running in [false, true] {
        if running {
            s.docker(&["start", "cv"]);
        }
        for l in ["up", "abs"] {
            // Reading through the link: the host's file is not found.
            let e = s.docker_fails(&["cp", &format!("cv:/{l}/secret"), out.to_str().unwrap()]);
            assert!(e.contains("Could not find the file"), "{l}: {e}");
            assert!(!out.join("secret").exists());
            // Writing through it: refused (no such directory in the
            // container) and nothing lands on the host.
            s.docker_fails(&["cp", payload.to_str().unwrap(), &format!("cv:/{l}/")]);
            let t = tar_of(&[("planted", Some(b"p"))], &[]);
            let (st, _) = put(&s, "cv", &format!("path=/{l}"), &t);
            assert_eq!(st, 404, "{l}");
            // A tar whose own symlink points out, then a file below it.
            let t = tar_of(&[], &[(&format!("t{l}{running}"), l)]);
            assert_eq!(put(&s, "cv", "path=/", &t).0, 200);
            let below = tar_of(&[(&format!("t{l}{running}/planted"), Some(b"p"))], &[]);
            let _ = put(&s, "cv", "path=/", &below);
        }
    }
    let mut names: Vec<String> = std::fs::read_dir(&host)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["secret"], "the host directory was written");
    assert_eq!(
        std::fs::read_to_string(host.join("secret")).unwrap(),
        "host secret\n"
    );
    // The same directory made inside the container: the copy lands there.
    let mk = tar_of(&[(hostp.as_str(), None)], &[]);
    assert_eq!(put(&s, "cv", "path=/", &mk).0, 200);
    s.docker(&["cp", payload.to_str().unwrap(), "cv:/up/"]);
    assert!(!host.join("payload.txt").exists());
    s.docker(&["cp", "cv:/abs/payload.txt", out.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(out.join("payload.txt")).unwrap(),
        "from the client\n"
    );
    assert_eq!(std::fs::metadata(host.join("secret")).unwrap().nlink(), 1);
}

/// One raw GET: the status and the raw bytes after the head, read to the
/// connection's end (an abort included).
fn raw_get(sock: &Path, path: &str) -> (u16, Vec<u8>) {
    let mut c = UnixStream::connect(sock).unwrap();
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, raw[split + 4..].to_vec())
}

/// A file that cannot be read whole (sysfs says 4096 bytes, gives a few)
/// fails the copy after the head went out: the connection is aborted
/// without the last chunk, and docker cp fails, instead of a 200 with a
/// corrupt tar.
#[test]
fn archive_failing_mid_stream_is_an_error() {
    if !berth_testkit::require_root("containers") {
        return;
    }
    let sysdir = Path::new("/sys/devices/virtual/net/lo");
    if !sysdir.join("mtu").exists() {
        common::skip("no /sys/devices/virtual/net/lo/mtu");
        return;
    }
    let Some(s) = Service::start() else { return };
    s.busybox();
    s.docker(&[
        "create",
        "--name",
        "sy",
        "-v",
        "/sys/devices/virtual/net/lo:/lo:ro",
        "bb",
        "true",
    ]);
    let (st, body) = raw_get(&s.sock, "/v1.50/containers/sy/archive?path=/lo/mtu");
    assert_eq!(st, 200);
    assert!(
        !body.ends_with(b"0\r\n\r\n"),
        "the truncated archive ended as a success"
    );
    let o = s.docker_out(&["cp", "sy:/lo/mtu", "-"]);
    assert!(!o.status.success(), "docker cp succeeded on a short file");
}

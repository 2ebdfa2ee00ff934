//! A malicious or broken registry: blobs and manifests longer than
//! declared, redirect loops, a full disk while pulling. Every failure is
//! one clear line and leaves nothing behind: no image record, blob,
//! snapshot, temp file or partial download.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use image::manifest::media_type;
use image::Platform;
use registry::{Error, NoProgress};

fn image() -> ImageBlobs {
    ImageBlobs::build(
        &[
            file_tar("etc/hello", b"hello"),
            file_tar("data/blob", &random_bytes(3, 300_000)),
        ],
        "amd64",
    )
}

/// Pull `name` from `reg` into a fresh store; the error, and the store
/// checked to be untouched.
fn pull_fails(reg: &FakeRegistry, name: &str) -> Error {
    let (_d, store) = new_store();
    let err = client()
        .pull(
            &store,
            &reg.reference(name),
            &Platform::default(),
            &NoProgress,
        )
        .unwrap_err();
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "one line: {msg}");
    assert_eq!(store_state(&store), (vec![], vec![], 0, 0), "{msg}");
    assert!(partials(&store).is_empty(), "{msg}: {:?}", partials(&store));
    err
}

#[test]
fn blob_longer_than_declared_is_refused_and_nothing_kept() {
    let img = image();
    let big = img.layers[1].0.to_string();
    let mut longer = img.layers[1].1.clone();
    longer.extend_from_slice(&random_bytes(9, 5000));
    // With a Content-Length that says so, and chunked (no length: the
    // extra bytes are only seen once read).
    for chunked in [false, true] {
        let mut srv = ImageServer::for_image("evil/img", "v1", &img);
        srv.corrupt.insert(big.clone(), longer.clone());
        let reg = FakeRegistry::start(move |req| {
            let mut resp = srv.handle(req, "");
            resp.chunked = chunked;
            resp
        });
        let err = pull_fails(&reg, "evil/img:v1");
        let msg = err.to_string();
        assert!(matches!(err, Error::SizeMismatch { .. }), "{msg}");
        assert!(msg.contains(&big) && msg.contains("size mismatch"), "{msg}");
        // Not retried: more bytes than declared is not a broken transfer.
        let gets = reg
            .requests()
            .iter()
            .filter(|r| r.contains(&format!("blobs/{big}")))
            .count();
        assert_eq!(gets, 1, "chunked={chunked}");
    }
}

#[test]
fn manifest_larger_than_declared_or_than_the_limit_is_refused() {
    let img = image();
    // An index whose descriptor gives the manifest a smaller size.
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_INDEX,
        "manifests": [{
            "mediaType": media_type::OCI_MANIFEST,
            "digest": img.manifest_digest.to_string(),
            "size": img.manifest.len() - 10,
            "platform": {"architecture": Platform::default().architecture, "os": "linux"},
        }],
    }))
    .unwrap();
    let mut srv = ImageServer::for_image("evil/img", "v1", &img);
    srv.manifests.insert(
        "multi".into(),
        (media_type::OCI_INDEX.into(), index.clone()),
    );
    let reg = srv.start();
    let err = pull_fails(&reg, "evil/img:multi");
    let msg = err.to_string();
    assert!(matches!(err, Error::Invalid { .. }), "{msg}");
    assert!(
        msg.contains(&format!("manifest {}: size mismatch", img.manifest_digest)),
        "{msg}"
    );

    // A "manifest" that never ends (chunked, past the 16 MiB limit).
    let huge = vec![b' '; (16 << 20) + 100];
    let mut srv = ImageServer::for_image("evil/img", "v1", &img);
    srv.manifests
        .insert("huge".into(), (media_type::OCI_MANIFEST.into(), huge));
    let reg = FakeRegistry::start(move |req| {
        let mut resp = srv.handle(req, "");
        resp.chunked = req.path.contains("manifests/huge");
        resp
    });
    let err = pull_fails(&reg, "evil/img:huge");
    assert!(err.to_string().contains("limit"), "{err}");
}

#[test]
fn redirect_loop_is_a_clear_error_and_not_retried() {
    let img = image();
    let srv = ImageServer::for_image("evil/img", "v1", &img);
    let big = img.layers[1].0.to_string();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let reg = FakeRegistry::start(move |req| {
        if req.path.contains(&format!("blobs/{big}")) {
            h.fetch_add(1, Ordering::SeqCst);
            // Round and round between two URLs.
            let next = if req.path.ends_with("?x") {
                req.path.trim_end_matches("?x").to_string()
            } else {
                format!("{}?x", req.path)
            };
            return FakeResp::new(307).header("Location", next);
        }
        srv.handle(req, "")
    });
    let err = pull_fails(&reg, "evil/img:v1");
    let msg = err.to_string();
    assert!(matches!(err, Error::Refused { .. }), "{msg}");
    assert!(msg.contains("redirect loop"), "{msg}");
    // One attempt: the first request and its 10 redirects.
    assert_eq!(hits.load(Ordering::SeqCst), 11, "{msg}");
}

#[test]
fn wrong_digest_from_registry_keeps_nothing() {
    let img = image();
    let mut srv = ImageServer::for_image("evil/img", "v1", &img);
    let big = img.layers[1].0.to_string();
    // Same size, other bytes.
    srv.corrupt
        .insert(big.clone(), random_bytes(11, img.layers[1].1.len()));
    let reg = srv.start();
    let err = pull_fails(&reg, "evil/img:v1");
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A tmpfs of `size` mounted on a temp dir, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        run(Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path()));
        Tmpfs { dir }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
fn full_disk_during_pull_says_no_space_left_and_store_stays_consistent() {
    if !is_root() {
        eprintln!("skipping: mounting a tmpfs needs root");
        return;
    }
    // A 4 MB incompressible layer into a 2 MB store.
    let img = ImageBlobs::build(
        &[
            file_tar("etc/hello", b"hello"),
            file_tar("data/big", &random_bytes(5, 4 << 20)),
        ],
        "amd64",
    );
    let reg = ImageServer::for_image("big/img", "v1", &img).start();
    let fs = Tmpfs::mount("2m");
    let root = fs.dir.path().join("store");
    let store = image::Store::open(&root).unwrap();
    let err = client()
        .pull(
            &store,
            &reg.reference("big/img:v1"),
            &Platform::default(),
            &NoProgress,
        )
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("No space left on device"), "{msg}");
    assert!(!msg.contains("truncated"), "{msg}");
    assert!(
        msg.contains(&root.display().to_string()),
        "names the file: {msg}"
    );
    assert!(!msg.contains('\n'), "{msg}");
    assert_eq!(store_state(&store), (vec![], vec![], 0, 0), "{msg}");
    assert!(partials(&store).is_empty(), "{:?}", partials(&store));
    // Not retried: the blob was asked for once.
    let d = img.layers[1].0.to_string();
    let gets = reg
        .requests()
        .iter()
        .filter(|r| r.contains(&format!("blobs/{d}")))
        .count();
    assert_eq!(gets, 1);

    // A small blob whose files do not fit (4 MB of zeros, gzipped): the
    // unpacker's full disk, said as such.
    let img = ImageBlobs::build(&[file_tar("data/zeros", &vec![0u8; 4 << 20])], "amd64");
    let reg = ImageServer::for_image("zero/img", "v1", &img).start();
    let err = client()
        .pull(
            &store,
            &reg.reference("zero/img:v1"),
            &Platform::default(),
            &NoProgress,
        )
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("No space left on device"), "{msg}");
    assert!(!msg.contains("truncated") && !msg.contains('\n'), "{msg}");
    assert_eq!(store_state(&store), (vec![], vec![], 0, 0), "{msg}");
    assert!(partials(&store).is_empty(), "{:?}", partials(&store));
}

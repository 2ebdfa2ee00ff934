//! Pulls against a minimal fake registry: bearer-token challenge flow,
//! corrupt / truncated blobs, bad manifests, retries, registry down.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use image::{Digest, Platform};
use registry::{ClientConfig, Credentials, Error, LayerState, NoProgress};

fn small_image() -> ImageBlobs {
    ImageBlobs::build(
        &[
            file_tar("etc/hello", b"hello from layer one"),
            file_tar("data/blob", &random_bytes(7, 200_000)),
        ],
        "amd64",
    )
}

#[test]
fn bearer_challenge_flow_with_credentials() {
    let img = small_image();
    let mut srv = ImageServer::for_image("test/img", "v1", &img);
    srv.bearer = Some("tok-123".into());
    srv.token_basic = Some(Credentials::new("alice", "s3cret").basic_header());
    let reg = srv.start();
    let (_d, store) = new_store();

    // Without credentials the token service refuses: a clear auth error.
    let err = client()
        .pull(
            &store,
            &reg.reference("test/img:v1"),
            &Platform::default(),
            &NoProgress,
        )
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Auth { .. }), "{msg}");
    assert!(msg.contains(&reg.addr) && msg.contains("log in"), "{msg}");
    assert_eq!(store_state(&store).0.len(), 0);

    // With credentials from an auth file: token fetched once, then reused.
    let authdir = tempfile::tempdir().unwrap();
    let authfile = authdir.path().join("auth.json");
    registry::auth::store_credentials(&authfile, &reg.addr, &Credentials::new("alice", "s3cret"))
        .unwrap();
    let c = client_with(ClientConfig {
        auth_file: Some(authfile.clone()),
        ..Default::default()
    });
    let progress = Recorder::default();
    let rec = c
        .pull(
            &store,
            &reg.reference("test/img:v1"),
            &Platform::default(),
            &progress,
        )
        .unwrap();
    assert_eq!(rec.id, img.config_digest);
    assert_eq!(rec.manifest_digest, img.manifest_digest);
    let lowers = store.prepare_rootfs(&rec).unwrap();
    let hello = rootfs_file(&lowers, "etc/hello").unwrap();
    assert_eq!(std::fs::read(hello).unwrap(), b"hello from layer one");
    let tokens: Vec<String> = reg
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("GET /token"))
        .collect();
    // One refused anonymous attempt (first pull), then one with credentials.
    assert_eq!(tokens.len(), 2, "{tokens:?}");
    assert!(
        tokens[1].contains("scope=repository%3Atest%2Fimg%3Apull")
            || tokens[1].contains("scope=repository:test/img:pull"),
        "{tokens:?}"
    );
    assert!(tokens[1].contains("service=fake-registry"), "{tokens:?}");
    assert_eq!(progress.count(LayerState::Complete), 2);
    // Unpacked while downloading: no separate extraction pass.
    assert_eq!(progress.count(LayerState::Extracting), 0);
    assert_eq!(
        *progress
            .bytes
            .lock()
            .unwrap()
            .get(&img.layers[1].0)
            .unwrap(),
        img.layers[1].1.len() as u64
    );
    // login() verifies against /v2/ through the token flow.
    let c2 = client();
    let written = c2
        .login(
            &reg.addr,
            &Credentials::new("alice", "s3cret"),
            Some(&authdir.path().join("other.json")),
        )
        .unwrap();
    assert!(written.ends_with("other.json"));
    let e = c2
        .login(
            &reg.addr,
            &Credentials::new("alice", "wrong"),
            Some(&authdir.path().join("bad.json")),
        )
        .unwrap_err();
    assert!(e.to_string().contains("rejected"), "{e}");
    assert!(!authdir.path().join("bad.json").exists());
}

#[test]
fn corrupt_blob_fails_with_digest_and_leaves_store_unchanged() {
    let img = small_image();
    let mut srv = ImageServer::for_image("test/img", "v1", &img);
    let bad = img.layers[1].0.to_string();
    let mut wrong = img.layers[1].1.clone();
    let mid = wrong.len() / 2;
    wrong[mid] ^= 0xff;
    srv.corrupt.insert(bad.clone(), wrong);
    let reg = srv.start();
    let (_d, store) = new_store();
    let before = store_state(&store);
    let err = client()
        .pull(
            &store,
            &reg.reference("test/img:v1"),
            &Platform::default(),
            &NoProgress,
        )
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{msg}");
    assert!(
        msg.contains(&bad) && msg.contains("digest mismatch"),
        "{msg}"
    );
    assert!(msg.contains(&reg.addr) && msg.contains("test/img"), "{msg}");
    assert_eq!(store_state(&store), before);
    // The wrong bytes are not kept for a resume.
    let hex = bad.strip_prefix("sha256:").unwrap();
    assert!(partials(&store).iter().all(|(n, _)| n != hex));
}

#[test]
fn corrupt_config_and_manifest_header_are_refused() {
    let img = small_image();
    let mut srv = ImageServer::for_image("test/img", "v1", &img);
    srv.corrupt
        .insert(img.config_digest.to_string(), b"{\"evil\":1}".to_vec());
    let reg = srv.start();
    let (_d, store) = new_store();
    let err = client()
        .pull(
            &store,
            &reg.reference("test/img:v1"),
            &Platform::default(),
            &NoProgress,
        )
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&img.config_digest.to_string()), "{msg}");
    assert_eq!(store_state(&store), (vec![], vec![], 0, 0));

    // A by-digest pull whose body does not hash to the digest.
    let other = Digest::of_bytes(b"something else");
    let mut srv = ImageServer::for_image("test/img", "v1", &img);
    srv.manifests.insert(
        other.to_string(),
        (
            image::manifest::media_type::OCI_MANIFEST.into(),
            img.manifest.clone(),
        ),
    );
    let reg = srv.start();
    let r = reg.reference(&format!("test/img@{other}"));
    let err = client()
        .pull(&store, &r, &Platform::default(), &NoProgress)
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{msg}");
    assert!(
        msg.contains(&other.to_string()) && msg.contains(&img.manifest_digest.to_string()),
        "{msg}"
    );
    assert_eq!(store_state(&store), (vec![], vec![], 0, 0));
}

#[test]
fn truncated_blob_fails_after_retries_and_leaves_store_unchanged() {
    let img = small_image();
    let mut srv = ImageServer::for_image("test/img", "v1", &img);
    let d = img.layers[1].0.to_string();
    srv.truncate.insert(d.clone(), 1000);
    let reg = srv.start();
    let (_d, store) = new_store();
    let err = client()
        .pull(
            &store,
            &reg.reference("test/img:v1"),
            &Platform::default(),
            &NoProgress,
        )
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Truncated { .. }), "{msg}");
    assert!(msg.contains(&d) && msg.contains("truncated"), "{msg}");
    // Nothing visible; the bytes received are kept for a resume.
    assert_eq!(store_state(&store), (vec![], vec![], 0, 0));
    assert_eq!(
        partials(&store),
        vec![(d.strip_prefix("sha256:").unwrap().to_string(), 1000)]
    );
    // retries = 2: three attempts at the blob.
    let gets = reg
        .requests()
        .iter()
        .filter(|r| r.contains(&format!("blobs/{d}")))
        .count();
    assert_eq!(gets, 3);
}

#[test]
fn manifest_not_json_and_unknown_media_type() {
    let img = small_image();
    let mut srv = ImageServer::for_image("test/img", "v1", &img);
    srv.manifests.insert(
        "notjson".into(),
        (
            "application/vnd.oci.image.manifest.v1+json".into(),
            b"<html>oops</html>".to_vec(),
        ),
    );
    srv.manifests.insert(
        "weird".into(),
        (
            "application/vnd.example.thing+json".into(),
            br#"{"schemaVersion":2,"mediaType":"application/vnd.example.thing+json"}"#.to_vec(),
        ),
    );
    // A valid manifest whose layer has an unknown media type.
    let mut m: serde_json::Value = serde_json::from_slice(&img.manifest).unwrap();
    m["layers"][0]["mediaType"] = "application/x-strange-layer".into();
    srv.manifests.insert(
        "strange-layer".into(),
        (
            image::manifest::media_type::OCI_MANIFEST.into(),
            serde_json::to_vec(&m).unwrap(),
        ),
    );
    let reg = srv.start();
    let (_d, store) = new_store();
    let c = client();
    let pull = |tag: &str| {
        c.pull(
            &store,
            &reg.reference(&format!("test/img:{tag}")),
            &Platform::default(),
            &NoProgress,
        )
        .unwrap_err()
        .to_string()
    };
    let e = pull("notjson");
    assert!(
        e.contains("manifest notjson") && e.contains("not a JSON manifest"),
        "{e}"
    );
    let e = pull("weird");
    assert!(
        e.contains("unsupported media type") && e.contains("application/vnd.example.thing+json"),
        "{e}"
    );
    let e = pull("strange-layer");
    assert!(
        e.contains("unsupported media type") && e.contains("application/x-strange-layer"),
        "{e}"
    );
    let e = pull("missing");
    assert!(
        e.contains("HTTP 404 MANIFEST_UNKNOWN: manifest unknown") && e.contains("manifest missing"),
        "{e}"
    );
    assert!(e.starts_with(&format!("{}/test/img: ", reg.addr)), "{e}");
    // No blob was downloaded for any of them.
    assert!(!reg.requests().iter().any(|r| r.contains("/blobs/")));
    assert_eq!(store_state(&store), (vec![], vec![], 0, 0));
}

#[test]
fn registry_down_is_a_clear_error() {
    let port = free_port();
    let (_d, store) = new_store();
    let r = image::Reference::parse(&format!("127.0.0.1:{port}/test/img:v1")).unwrap();
    let err = client()
        .pull(&store, &r, &Platform::default(), &NoProgress)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("cannot reach registry 127.0.0.1:{port}: connection refused")
    );
}

#[test]
fn transient_errors_are_retried() {
    let img = small_image();
    let srv = ImageServer::for_image("test/img", "v1", &img);
    let fails = Arc::new(AtomicUsize::new(0));
    let f2 = fails.clone();
    let addr_slot = Arc::new(std::sync::Mutex::new(String::new()));
    let slot = addr_slot.clone();
    let reg = FakeRegistry::start(move |req| {
        // Every first two requests for each blob and the manifest: 503 / 429.
        if req.method == "GET" && (req.path.contains("/blobs/") || req.path.contains("/manifests/"))
        {
            let n = f2.fetch_add(1, Ordering::SeqCst);
            if n % 3 != 2 {
                let status = if n % 2 == 0 { 503 } else { 429 };
                return FakeResp::error(status, "TOOMANYREQUESTS", "slow down");
            }
        }
        srv.handle(req, &slot.lock().unwrap())
    });
    *addr_slot.lock().unwrap() = reg.addr.clone();
    let (_d, store) = new_store();
    let c = client_with(ClientConfig {
        max_parallel: 1,
        ..Default::default()
    });
    let rec = c
        .pull(
            &store,
            &reg.reference("test/img:v1"),
            &Platform::default(),
            &NoProgress,
        )
        .unwrap();
    assert_eq!(rec.id, img.config_digest);
    assert!(fails.load(Ordering::SeqCst) >= 12);

    // Always failing: the last status is reported with the registry's code.
    let reg = FakeRegistry::start(|_| FakeResp::error(503, "UNAVAILABLE", "maintenance"));
    let e = client()
        .pull(
            &store,
            &reg.reference("test/img:v2"),
            &Platform::default(),
            &NoProgress,
        )
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}/test/img: manifest v2: HTTP 503 UNAVAILABLE: maintenance",
            reg.addr
        )
    );
    assert_eq!(reg.requests().len(), 3);
}

#[test]
fn pull_twice_downloads_nothing_and_by_digest_needs_no_request() {
    let img = small_image();
    let reg = ImageServer::for_image("test/img", "v1", &img).start();
    let (_d, store) = new_store();
    let c = client();
    let r = reg.reference("test/img:v1");
    c.pull(&store, &r, &Platform::default(), &NoProgress)
        .unwrap();
    let n = reg.requests().len();
    let p = Recorder::default();
    let rec = c.pull(&store, &r, &Platform::default(), &p).unwrap();
    let new: Vec<String> = reg.requests()[n..].to_vec();
    assert_eq!(new, vec!["GET /v2/test/img/manifests/v1".to_string()]);
    assert_eq!(p.count(LayerState::Exists), 2);
    assert_eq!(p.count(LayerState::Downloading), 0);
    // By digest, already present: no request at all.
    let n = reg.requests().len();
    let rd = reg.reference(&format!("test/img@{}", rec.manifest_digest));
    c.pull(&store, &rd, &Platform::default(), &NoProgress)
        .unwrap();
    assert_eq!(reg.requests().len(), n);
    let info = store.resolve(&rd.to_string()).unwrap();
    assert_eq!(info.record.id, rec.id);
}

#[test]
fn snapshot_present_blob_missing_and_shared_layers() {
    // The same layer twice in one image: downloaded once, two snapshots.
    let t = file_tar("x", b"same");
    let img = ImageBlobs::build(&[t.clone(), file_tar("y", b"other"), t], "amd64");
    let reg = ImageServer::for_image("test/img", "v1", &img).start();
    let (_d, store) = new_store();
    let rec = client()
        .pull(
            &store,
            &reg.reference("test/img:v1"),
            &Platform::default(),
            &NoProgress,
        )
        .unwrap();
    let gets = reg
        .requests()
        .iter()
        .filter(|r| r.contains(&img.layers[0].0.to_string()))
        .count();
    assert_eq!(gets, 1);
    assert_eq!(store.snapshots().list().unwrap().len(), 3);
    for c in rec.chain_ids() {
        assert!(store.snapshots().exists(&c));
    }
}

#[test]
fn missing_snapshot_or_missing_blob_is_repaired_minimally() {
    let img = small_image();
    let reg = ImageServer::for_image("test/img", "v1", &img).start();
    let (_d, store) = new_store();
    let c = client();
    let r = reg.reference("test/img:v1");
    let rec = c
        .pull(&store, &r, &Platform::default(), &NoProgress)
        .unwrap();
    let chains = rec.chain_ids();

    // Snapshots gone, blobs present: unpacked locally, nothing downloaded.
    for ch in &chains {
        assert!(store.snapshots().remove(ch).unwrap());
    }
    let n = reg.requests().len();
    let p = Recorder::default();
    c.pull(&store, &r, &Platform::default(), &p).unwrap();
    assert!(!reg.requests()[n..].iter().any(|r| r.contains("/blobs/")));
    assert_eq!(p.count(LayerState::Extracting), 2);
    assert!(chains.iter().all(|ch| store.snapshots().exists(ch)));

    // A blob gone, snapshot present: only that blob is downloaded.
    let gone = &img.layers[0].0;
    assert!(store.content().delete(gone).unwrap());
    let n = reg.requests().len();
    c.pull(&store, &r, &Platform::default(), &NoProgress)
        .unwrap();
    let blob_gets: Vec<String> = reg.requests()[n..]
        .iter()
        .filter(|r| r.contains("/blobs/"))
        .cloned()
        .collect();
    assert_eq!(blob_gets, vec![format!("GET /v2/test/img/blobs/{gone}")]);
    assert!(store.content().exists(gone));
}

/// A blob already in the store is not trusted for being there: one of the
/// wrong size (cut short by a crash or a damaged disk) is downloaded again
/// and replaced, and a damaged config is fetched again.
#[test]
fn blob_in_store_with_wrong_size_is_fetched_again() {
    let img = small_image();
    let reg = ImageServer::for_image("test/img", "v1", &img).start();
    let (_d, store) = new_store();
    let c = client();
    let r = reg.reference("test/img:v1");
    c.pull(&store, &r, &Platform::default(), &NoProgress)
        .unwrap();
    let layer = &img.layers[1].0;
    let path = store.content().blob_path(layer);
    let good = std::fs::read(&path).unwrap();
    std::fs::write(&path, &good[..good.len() / 3]).unwrap();
    let cfg_path = store.content().blob_path(&img.config_digest);
    let mut cfg = std::fs::read(&cfg_path).unwrap();
    cfg[0] = b' ';
    std::fs::write(&cfg_path, &cfg).unwrap();
    let n = reg.requests().len();
    c.pull(&store, &r, &Platform::default(), &NoProgress)
        .unwrap();
    let mut blob_gets: Vec<String> = reg.requests()[n..]
        .iter()
        .filter(|r| r.contains("/blobs/"))
        .cloned()
        .collect();
    blob_gets.sort();
    let mut want = vec![
        format!("GET /v2/test/img/blobs/{layer}"),
        format!("GET /v2/test/img/blobs/{}", img.config_digest),
    ];
    want.sort();
    assert_eq!(blob_gets, want);
    assert_eq!(std::fs::read(&path).unwrap(), good);
    assert_eq!(std::fs::read(&cfg_path).unwrap(), img.config);
}

/// A layer blob in the store damaged where unpacking cannot see it (the
/// gzip header's mtime) is caught by its digest when its snapshot is
/// unpacked again, and downloaded again.
#[test]
fn damaged_blob_in_store_is_caught_by_its_digest_and_fetched_again() {
    let img = small_image();
    let reg = ImageServer::for_image("test/img", "v1", &img).start();
    let (_d, store) = new_store();
    let c = client();
    let r = reg.reference("test/img:v1");
    let rec = c
        .pull(&store, &r, &Platform::default(), &NoProgress)
        .unwrap();
    let layer = &img.layers[1].0;
    let path = store.content().blob_path(layer);
    // The gzip header's mtime (unpacking sees nothing wrong), then a byte
    // in the compressed data (unpacking fails): both found damaged.
    for at in [4, img.layers[1].1.len() / 2] {
        for ch in rec.chain_ids() {
            assert!(store.snapshots().remove(&ch).unwrap());
        }
        let mut b = std::fs::read(&path).unwrap();
        b[at] ^= 0x55;
        std::fs::write(&path, &b).unwrap();
        let n = reg.requests().len();
        c.pull(&store, &r, &Platform::default(), &NoProgress)
            .unwrap();
        let blob_gets: Vec<String> = reg.requests()[n..]
            .iter()
            .filter(|r| r.contains("/blobs/"))
            .cloned()
            .collect();
        assert_eq!(blob_gets, vec![format!("GET /v2/test/img/blobs/{layer}")]);
        assert_eq!(std::fs::read(&path).unwrap(), img.layers[1].1);
        assert!(rec.chain_ids().iter().all(|c| store.snapshots().exists(c)));
    }
}

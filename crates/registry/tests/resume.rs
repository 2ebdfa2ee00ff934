//! Resuming interrupted blob downloads: the bytes received are kept in the
//! store's partial file, re-hashed on the next attempt and only the rest
//! is asked for with `Range: bytes=N-`; a registry that answers 200
//! instead of 206 gets a full download; wrong bytes after a resume fail
//! the pull clearly and are discarded. Against a fake registry that
//! breaks connections off on purpose (see common/mod.rs).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use image::Platform;
use registry::{ClientConfig, Error, NoProgress};

/// One small layer and one of ~600 kB of random (incompressible) data.
fn image_with_big_layer() -> ImageBlobs {
    ImageBlobs::build(
        &[
            file_tar("etc/hello", b"hello"),
            file_tar("data/blob", &random_bytes(11, 600_000)),
        ],
        "amd64",
    )
}

/// A fake registry serving `srv`, breaking the first `break_first` GETs
/// of `blob` off after `cut` bytes; records every Range header sent for
/// that blob (None for a GET without one).
struct Flaky {
    reg: FakeRegistry,
    ranges: Arc<Mutex<Vec<Option<String>>>>,
}

fn flaky(srv: ImageServer, blob: String, break_first: usize, cut: usize) -> Flaky {
    let ranges = Arc::new(Mutex::new(Vec::new()));
    let seen = ranges.clone();
    let gets = AtomicUsize::new(0);
    let slot = Arc::new(Mutex::new(String::new()));
    let slot2 = slot.clone();
    let reg = FakeRegistry::start(move |req| {
        let mut resp = srv.handle(req, &slot2.lock().unwrap());
        if req.method == "GET" && req.path.ends_with(&format!("/blobs/{blob}")) {
            seen.lock()
                .unwrap()
                .push(req.header("range").map(str::to_string));
            if gets.fetch_add(1, Ordering::SeqCst) < break_first {
                resp.truncate_to = Some(cut.min(resp.body.len()));
            }
        }
        resp
    });
    *slot.lock().unwrap() = reg.addr.clone();
    Flaky { reg, ranges }
}

fn no_retry() -> registry::Client {
    registry::Client::new(ClientConfig {
        retries: 0,
        ..Default::default()
    })
    .unwrap()
}

fn hex(d: &image::Digest) -> String {
    d.hex().to_string()
}

/// The image is complete and correct in the store.
fn assert_pulled(store: &image::Store, rec: &image::ImageRecord, img: &ImageBlobs) {
    for (d, b, _) in &img.layers {
        assert_eq!(&std::fs::read(store.content().blob_path(d)).unwrap(), b);
    }
    let lowers = store.prepare_rootfs(rec).unwrap();
    let data = std::fs::read(rootfs_file(&lowers, "data/blob").unwrap()).unwrap();
    assert_eq!(data, random_bytes(11, 600_000));
    assert!(partials(store).is_empty(), "{:?}", partials(store));
}

/// The big-layer image on a [`flaky`] registry (with or without Range
/// support) that breaks the big blob's first `breaks` downloads off after
/// `cut` bytes, and an empty store.
struct Setup {
    img: ImageBlobs,
    big: image::Digest,
    f: Flaky,
    store: image::Store,
    r: image::Reference,
    _dir: tempfile::TempDir,
}

fn setup(ranges: bool, breaks: usize, cut: usize) -> Setup {
    let img = image_with_big_layer();
    let big = img.layers[1].0.clone();
    let mut srv = ImageServer::for_image("test/img", "v1", &img);
    srv.ranges = ranges;
    let f = flaky(srv, big.to_string(), breaks, cut);
    let (dir, store) = new_store();
    let r = f.reg.reference("test/img:v1");
    Setup {
        img,
        big,
        f,
        store,
        r,
        _dir: dir,
    }
}

impl Setup {
    /// A pull without retries (its error as `Client::pull` returns it).
    #[allow(clippy::result_large_err)]
    fn pull(&self) -> Result<image::ImageRecord, Error> {
        no_retry().pull(&self.store, &self.r, &Platform::default(), &NoProgress)
    }

    fn ranges(&self) -> Vec<Option<String>> {
        self.f.ranges.lock().unwrap().clone()
    }
}

#[test]
fn interrupted_pull_resumes_with_range() {
    let s = setup(true, 1, 250_000);
    // The connection drops mid-blob and no retry is allowed: the pull
    // fails, nothing is visible, the bytes received are kept.
    let err = s.pull().unwrap_err();
    assert!(matches!(err, Error::Truncated { .. }), "{err}");
    assert_eq!(store_state(&s.store), (vec![], vec![], 0, 0));
    assert_eq!(partials(&s.store), vec![(hex(&s.big), 250_000)]);

    // The next pull asks only for the rest and completes the image.
    let rec = s.pull().unwrap();
    assert_eq!(s.ranges(), vec![None, Some("bytes=250000-".to_string())]);
    assert_pulled(&s.store, &rec, &s.img);
}

#[test]
fn transient_break_mid_blob_is_retried_with_range() {
    // Broken off twice: the second retry continues where the first did.
    let s = setup(true, 2, 200_000);
    let rec = client_with(ClientConfig {
        retries: 2,
        ..Default::default()
    })
    .pull(&s.store, &s.r, &Platform::default(), &NoProgress)
    .unwrap();
    assert_eq!(
        s.ranges(),
        vec![
            None,
            Some("bytes=200000-".to_string()),
            Some("bytes=400000-".to_string())
        ]
    );
    assert_pulled(&s.store, &rec, &s.img);
}

#[test]
fn registry_without_ranges_gets_a_full_download() {
    // `ranges` off: the fake answers a Range request with 200 and the
    // whole blob, as registries without range support do.
    let s = setup(false, 1, 300_000);
    s.pull().unwrap_err();
    assert_eq!(partials(&s.store), vec![(hex(&s.big), 300_000)]);
    let rec = s.pull().unwrap();
    assert_eq!(s.ranges(), vec![None, Some("bytes=300000-".to_string())]);
    assert_pulled(&s.store, &rec, &s.img);
}

#[test]
fn wrong_bytes_after_resume_fail_clearly_and_are_discarded() {
    let s = setup(true, 1, 250_000);
    s.pull().unwrap_err();
    // The kept bytes are damaged (say, a crash lost part of them).
    let partial = s
        .store
        .content()
        .tmp_dir()
        .join("partial")
        .join(hex(&s.big));
    let mut bytes = std::fs::read(&partial).unwrap();
    bytes[1000] ^= 0xff;
    std::fs::write(&partial, &bytes).unwrap();

    let err = s.pull().unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{msg}");
    assert!(
        msg.contains(&s.big.to_string())
            && msg.contains("resumed at byte 250000")
            && msg.contains("discarded"),
        "{msg}"
    );
    assert_eq!(store_state(&s.store), (vec![], vec![], 0, 0));
    assert!(partials(&s.store).is_empty(), "{:?}", partials(&s.store));

    // The next pull starts over and succeeds.
    let rec = s.pull().unwrap();
    assert_eq!(s.ranges().last().unwrap(), &None);
    assert_pulled(&s.store, &rec, &s.img);
}

#[test]
fn complete_partial_needs_no_blob_request() {
    let s = setup(true, 0, 0);
    // A pull killed after the last byte arrived, before the commit.
    let dir = s.store.content().tmp_dir().join("partial");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(hex(&s.big)), &s.img.layers[1].1).unwrap();
    let rec = s.pull().unwrap();
    assert!(s.ranges().is_empty());
    assert_pulled(&s.store, &rec, &s.img);
}

#[test]
fn partial_abandoned_for_a_day_is_expired_by_the_next_pull() {
    let s = setup(true, 1, 250_000);
    s.pull().unwrap_err();
    assert_eq!(partials(&s.store), vec![(hex(&s.big), 250_000)]);
    // Left for more than a day, beside another image's old partial.
    let dir = s.store.content().tmp_dir().join("partial");
    let other = dir.join("ab".repeat(32));
    std::fs::write(&other, b"old bytes").unwrap();
    let long_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(25 * 3600);
    for p in [dir.join(hex(&s.big)), other.clone()] {
        std::fs::File::open(&p)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
    }
    // The next pull removes both first, so it downloads from zero.
    let rec = s.pull().unwrap();
    assert_eq!(s.ranges(), vec![None, None]);
    assert!(!other.exists());
    assert_pulled(&s.store, &rec, &s.img);
}

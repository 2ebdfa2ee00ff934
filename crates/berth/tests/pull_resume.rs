//! `berth pull` killed (SIGKILL) in the middle of a layer: nothing is
//! registered, the bytes received stay in the store's partial file, and
//! the next pull asks only for the rest (`Range: bytes=N-`). Against a
//! small registry stub on a std TcpListener that sends half of the layer
//! and then stalls.

mod common;

use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{file_tar, Env};
use image::Digest;

struct Image {
    manifest: Vec<u8>,
    config: Vec<u8>,
    config_digest: Digest,
    layer: Vec<u8>,
    layer_digest: Digest,
}

fn image() -> Image {
    // Incompressible content, so the gzip blob is large enough to split.
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let data: Vec<u8> = (0..400_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let tar = file_tar("data/blob", &data);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let layer = gz.finish().unwrap();
    let layer_digest = Digest::of_bytes(&layer);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [Digest::of_bytes(&tar).to_string()]},
    }))
    .unwrap();
    let config_digest = Digest::of_bytes(&config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest.to_string(), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer_digest.to_string(), "size": layer.len()}],
    }))
    .unwrap();
    Image {
        manifest,
        config,
        config_digest,
        layer,
        layer_digest,
    }
}

/// Serves `img` as `test/big:1`. The first GET of the layer sends `half`
/// bytes and stalls; later GETs honour `Range: bytes=N-` with a 206.
/// Records the Range header of every layer GET.
fn serve(img: Arc<Image>, half: usize) -> (String, Arc<Mutex<Vec<Option<String>>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let ranges = Arc::new(Mutex::new(Vec::new()));
    let seen = ranges.clone();
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            let (img, seen) = (img.clone(), seen.clone());
            std::thread::spawn(move || conn_loop(conn, &img, half, &seen));
        }
    });
    (addr, ranges)
}

fn conn_loop(conn: TcpStream, img: &Image, half: usize, seen: &Mutex<Vec<Option<String>>>) {
    let mut w = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    while let Some(req) = berth_testkit::read_http_request(&mut r) {
        let (method, path) = (req.method.as_str(), req.path.as_str());
        let range = req.header("range").map(str::to_string);
        let layer_path = format!("/v2/test/big/blobs/{}", img.layer_digest);
        let (status, ctype, extra, data): (u16, &str, String, &[u8]) = if path == "/v2/" {
            (200, "application/json", String::new(), b"{}")
        } else if path == "/v2/test/big/manifests/1" {
            (
                200,
                "application/vnd.oci.image.manifest.v1+json",
                format!(
                    "Docker-Content-Digest: {}\r\n",
                    Digest::of_bytes(&img.manifest)
                ),
                &img.manifest,
            )
        } else if path == format!("/v2/test/big/blobs/{}", img.config_digest) {
            (200, "application/octet-stream", String::new(), &img.config)
        } else if path == layer_path && method == "GET" {
            let first = {
                let mut s = seen.lock().unwrap();
                s.push(range.clone());
                s.len() == 1
            };
            if first {
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
                    img.layer.len()
                );
                let _ = w.write_all(head.as_bytes());
                let _ = w.write_all(&img.layer[..half]);
                let _ = w.flush();
                // Stall until the client is killed.
                std::thread::sleep(Duration::from_secs(60));
                return;
            }
            match range
                .as_deref()
                .and_then(|r| r.strip_prefix("bytes="))
                .and_then(|r| r.strip_suffix('-'))
                .and_then(|n| n.parse::<usize>().ok())
            {
                Some(n) => (
                    206,
                    "application/octet-stream",
                    format!(
                        "Content-Range: bytes {n}-{}/{}\r\n",
                        img.layer.len() - 1,
                        img.layer.len()
                    ),
                    &img.layer[n..],
                ),
                None => (200, "application/octet-stream", String::new(), &img.layer),
            }
        } else {
            (404, "application/json", String::new(), br#"{"errors":[]}"#)
        };
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\n{extra}Content-Length: {}\r\n\r\n",
            data.len()
        );
        let mut out = head.into_bytes();
        if method != "HEAD" {
            out.extend_from_slice(data);
        }
        if w.write_all(&out).is_err() {
            return;
        }
    }
}

#[test]
fn pull_killed_mid_layer_resumes_with_range() {
    let img = Arc::new(image());
    let half = img.layer.len() / 2;
    let (addr, ranges) = serve(img.clone(), half);
    let e = Env::new();
    let name = format!("{addr}/test/big:1");
    let partial = e.root().join("tmp/partial").join(img.layer_digest.hex());

    let mut child = e.cmd(&["pull", "-q", &name]).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
        if got == half as u64 {
            break;
        }
        assert!(Instant::now() < deadline, "partial file has {got} bytes");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(e.ok(&["images", "-q"]).trim(), "");
    assert!(!e
        .root()
        .join("blobs/sha256")
        .join(img.layer_digest.hex())
        .exists());
    assert_eq!(std::fs::metadata(&partial).unwrap().len(), half as u64);

    e.ok(&["pull", "-q", &name]);
    assert_eq!(
        *ranges.lock().unwrap(),
        vec![None, Some(format!("bytes={half}-"))]
    );
    let blob = std::fs::read(e.root().join("blobs/sha256").join(img.layer_digest.hex())).unwrap();
    assert_eq!(blob, img.layer);
    assert!(!partial.exists());
    assert_eq!(
        e.ok(&["images", "-q", "--no-trunc"]).trim(),
        img.config_digest.to_string()
    );
}

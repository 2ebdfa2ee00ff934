//! Pull and push against Debian's `docker-registry` (distribution), with
//! skopeo and podman for interoperability. Each test starts its own
//! registry on a free port; tests skip when the tools are missing.

mod common;

use std::process::Command;

use common::*;
use image::manifest::media_type;
use image::{Digest, Platform, Reference};
use registry::{ClientConfig, Credentials, Error, LayerState, NoProgress, PushOptions};

/// Import a busybox rootfs with podman and copy it to the registry with
/// skopeo; returns false (skip) if the tools are missing.
fn skopeo_push_busybox(reg: &DockerRegistry, dest: &str) -> bool {
    if !require("podman") || !require("skopeo") {
        return false;
    }
    let tar = reg.dir.path().join("bb.tar");
    std::fs::write(&tar, busybox_tar()).unwrap();
    let name = format!(
        "localhost/berth-registry-test/bb:{}",
        reg.addr.replace([':', '.'], "-")
    );
    run(Command::new("podman").arg("import").arg(&tar).arg(&name));
    run(Command::new("skopeo").args([
        "copy",
        "--quiet",
        "--dest-tls-verify=false",
        &format!("containers-storage:{name}"),
        &format!("docker://{}/{dest}", reg.addr),
    ]));
    let _ = Command::new("podman").args(["rmi", "-f", &name]).output();
    true
}

#[test]
fn pull_skopeo_pushed_image_by_tag_and_digest() {
    let Some(reg) = DockerRegistry::start(None) else {
        return;
    };
    if !skopeo_push_busybox(&reg, "test/bb:1") {
        return;
    }
    let (_d, store) = new_store();
    let c = client();
    let p = Recorder::default();
    let rec = c
        .pull(
            &store,
            &reg.reference("test/bb:1"),
            &Platform::default(),
            &p,
        )
        .unwrap();
    assert_eq!(p.count(LayerState::Complete), 1);
    let lowers = store.prepare_rootfs(&rec).unwrap();
    let bb = rootfs_file(&lowers, "bin/busybox").expect("bin/busybox in the snapshot");
    assert_eq!(
        std::fs::read(bb).unwrap(),
        std::fs::read("/bin/busybox").unwrap()
    );
    assert_eq!(
        std::fs::read_link(rootfs_file(&lowers, "bin/sh").unwrap()).unwrap(),
        std::path::Path::new("busybox")
    );
    // Second pull: only the manifest is fetched.
    let p2 = Recorder::default();
    let again = c
        .pull(
            &store,
            &reg.reference("test/bb:1"),
            &Platform::default(),
            &p2,
        )
        .unwrap();
    assert_eq!(again.id, rec.id);
    assert_eq!(p2.count(LayerState::Downloading), 0);
    assert_eq!(p2.count(LayerState::Exists), 1);
    // By digest into a fresh store.
    let (_d2, store2) = new_store();
    let by_digest = reg.reference(&format!("test/bb@{}", rec.manifest_digest));
    let rec2 = c
        .pull(&store2, &by_digest, &Platform::default(), &NoProgress)
        .unwrap();
    assert_eq!(rec2.id, rec.id);
    assert!(store2.resolve(&by_digest.to_string()).is_ok());
    // Unknown tag: the registry's error code in the message.
    let e = c
        .pull(
            &store2,
            &reg.reference("test/bb:nope"),
            &Platform::default(),
            &NoProgress,
        )
        .unwrap_err();
    assert_eq!(e.status(), Some(404));
    assert!(e.to_string().contains("MANIFEST_UNKNOWN"), "{e}");
}

#[test]
fn push_then_skopeo_inspect_and_copy_back() {
    let Some(reg) = DockerRegistry::start(None) else {
        return;
    };
    let (_d, store) = new_store();
    let img = ImageBlobs::build(&[busybox_tar()], "amd64");
    img.store_in(&store, "local/bb:1");
    let c = client();
    let p = Recorder::default();
    let dest = reg.reference("test/pushed:1");
    let digest = c
        .push(&store, "local/bb:1", &dest, &PushOptions::default(), &p)
        .unwrap();
    assert_eq!(digest, img.manifest_digest);
    assert_eq!(p.count(LayerState::Pushed), 2); // layer + config
                                                // Second push uploads nothing.
    let p2 = Recorder::default();
    c.push(&store, "local/bb:1", &dest, &PushOptions::default(), &p2)
        .unwrap();
    assert_eq!(p2.count(LayerState::Exists), 2);
    assert_eq!(p2.count(LayerState::Pushing), 0);
    if !require("skopeo") {
        return;
    }
    let out = run(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        &format!("docker://{}/test/pushed:1", reg.addr),
    ]));
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["Digest"], digest.to_string());
    assert_eq!(j["Layers"][0], img.layers[0].0.to_string());
    let oci = reg.dir.path().join("oci-copy");
    run(Command::new("skopeo").args([
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        &format!("docker://{}/test/pushed:1", reg.addr),
        &format!("oci:{}:copied", oci.display()),
    ]));
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(oci.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], digest.to_string());
    assert!(oci
        .join("blobs/sha256")
        .join(img.layers[0].0.hex())
        .exists());
}

#[test]
fn multi_layer_roundtrip_and_chunked_upload() {
    let Some(reg) = DockerRegistry::start(None) else {
        return;
    };
    let (_d, src) = new_store();
    let r1 = random_bytes(1, 3 << 20);
    let r2 = random_bytes(2, 700_000);
    let img = ImageBlobs::build(
        &[
            busybox_tar(),
            file_tar("data/one", &r1),
            file_tar("data/two", &r2),
        ],
        "amd64",
    );
    img.store_in(&src, "local/multi:1");
    // Chunked (PATCH) uploads, 1 MiB each.
    let c = client_with(ClientConfig {
        upload_chunk_size: Some(1 << 20),
        ..Default::default()
    });
    c.push(
        &src,
        "local/multi:1",
        &reg.reference("test/multi:1"),
        &PushOptions::default(),
        &NoProgress,
    )
    .unwrap();
    let (_d2, dst) = new_store();
    let p = Recorder::default();
    let rec = client()
        .pull(
            &dst,
            &reg.reference("test/multi:1"),
            &Platform::default(),
            &p,
        )
        .unwrap();
    let orig = src.resolve("local/multi:1").unwrap().record;
    assert_eq!(rec.id, orig.id);
    assert_eq!(rec.layers, orig.layers);
    assert_eq!(p.count(LayerState::Complete), 3);
    for (d, _, _) in &img.layers {
        assert_eq!(
            std::fs::read(dst.content().blob_path(d)).unwrap(),
            std::fs::read(src.content().blob_path(d)).unwrap()
        );
    }
    let lowers = dst.prepare_rootfs(&rec).unwrap();
    assert_eq!(
        std::fs::read(rootfs_file(&lowers, "data/one").unwrap()).unwrap(),
        r1
    );
    assert_eq!(
        std::fs::read(rootfs_file(&lowers, "data/two").unwrap()).unwrap(),
        r2
    );
    assert!(rootfs_file(&lowers, "bin/busybox").is_some());
}

#[test]
fn index_platform_selection() {
    let Some(reg) = DockerRegistry::start(None) else {
        return;
    };
    let (_d, src) = new_store();
    let amd = ImageBlobs::build(&[file_tar("arch", b"amd64")], "amd64");
    let arm = ImageBlobs::build(&[file_tar("arch", b"arm64")], "arm64");
    amd.store_in(&src, "local/amd:1");
    // register() checks the platform only for indexes, so arm64 stores fine.
    arm.store_in(&src, "local/arm:1");
    let c = client();
    let repo = reg.reference("test/multi-arch:x").repository();
    for (name, img) in [("local/amd:1", &amd), ("local/arm:1", &arm)] {
        let dest = repo.with_digest(img.manifest_digest.clone());
        assert_eq!(
            c.push(&src, name, &dest, &PushOptions::default(), &NoProgress)
                .unwrap(),
            img.manifest_digest
        );
    }
    let entry = |img: &ImageBlobs, arch: &str| {
        serde_json::json!({
            "mediaType": media_type::OCI_MANIFEST,
            "digest": img.manifest_digest.to_string(),
            "size": img.manifest.len(),
            "platform": {"os": "linux", "architecture": arch},
        })
    };
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_INDEX,
        "manifests": [entry(&amd, "amd64"), entry(&arm, "arm64")],
    }))
    .unwrap();
    let tagged = repo.with_tag("multi").unwrap();
    let idx_digest = c
        .put_manifest(&tagged, media_type::OCI_INDEX, &index)
        .unwrap();
    assert_eq!(idx_digest, Digest::of_bytes(&index));

    for (plat, want) in [("linux/arm64", &arm), ("linux/amd64", &amd)] {
        let (_d, store) = new_store();
        let rec = c
            .pull(
                &store,
                &tagged,
                &Platform::parse(plat).unwrap(),
                &NoProgress,
            )
            .unwrap();
        assert_eq!(rec.manifest_digest, want.manifest_digest, "{plat}");
        assert_eq!(rec.index_digest, Some(idx_digest.clone()));
        assert_eq!(rec.platform.to_string(), plat);
        let lowers = store.prepare_rootfs(&rec).unwrap();
        let arch = std::fs::read_to_string(rootfs_file(&lowers, "arch").unwrap()).unwrap();
        assert_eq!(format!("linux/{arch}"), plat);
        // Only the selected image's blobs were stored.
        let other = if plat == "linux/arm64" { &amd } else { &arm };
        assert!(!store.content().exists(&other.layers[0].0));
    }
    let (_d3, store) = new_store();
    let e = c
        .pull(
            &store,
            &tagged,
            &Platform::parse("linux/s390x").unwrap(),
            &NoProgress,
        )
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no manifest for platform linux/s390x") && e.contains("linux/arm64"),
        "{e}"
    );
    assert_eq!(store_state(&store), (vec![], vec![], 0, 0));
}

#[test]
fn cross_repository_mount() {
    let Some(reg) = DockerRegistry::start(None) else {
        return;
    };
    let (_d, store) = new_store();
    let img = ImageBlobs::build(&[file_tar("a", &random_bytes(3, 100_000))], "amd64");
    img.store_in(&store, "local/m:1");
    let c = client();
    c.push(
        &store,
        "local/m:1",
        &reg.reference("test/a:1"),
        &PushOptions::default(),
        &NoProgress,
    )
    .unwrap();
    let p = Recorder::default();
    let opts = PushOptions {
        mount_from: vec!["test/a".into()],
        ..Default::default()
    };
    c.push(&store, "local/m:1", &reg.reference("test/b:1"), &opts, &p)
        .unwrap();
    assert_eq!(
        p.count(LayerState::Mounted),
        2,
        "{:?}",
        p.states.lock().unwrap()
    );
    assert_eq!(p.count(LayerState::Pushing), 0);
    let (_d2, dst) = new_store();
    let rec = c
        .pull(
            &dst,
            &reg.reference("test/b:1"),
            &Platform::default(),
            &NoProgress,
        )
        .unwrap();
    assert_eq!(rec.id, img.config_digest);
}

#[test]
fn htpasswd_basic_auth_and_login() {
    let Some(reg) = DockerRegistry::start(Some(("tester", "pa55word"))) else {
        return;
    };
    let (_d, store) = new_store();
    let img = ImageBlobs::build(&[file_tar("f", b"secret content")], "amd64");
    img.store_in(&store, "local/s:1");
    let authdir = tempfile::tempdir().unwrap();
    let authfile = authdir.path().join("auth.json");
    let c = client_with(ClientConfig {
        auth_file: Some(authfile.clone()),
        ..Default::default()
    });
    let dest = reg.reference("test/private:1");
    // No credentials: a clear 401.
    let e = c
        .push(
            &store,
            "local/s:1",
            &dest,
            &PushOptions::default(),
            &NoProgress,
        )
        .unwrap_err();
    assert_eq!(e.status(), Some(401), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("HTTP 401") && msg.contains("authentication required"),
        "{msg}"
    );
    assert!(msg.contains(&reg.addr) && msg.contains("log in"), "{msg}");
    // Wrong password: login fails and stores nothing.
    let e = c
        .login(&reg.addr, &Credentials::new("tester", "wrong"), None)
        .unwrap_err();
    assert!(matches!(e, Error::Auth { .. }), "{e}");
    assert!(!authfile.exists());
    // Right one: stored, then push and pull work with a fresh client.
    let written = registry::login(&reg.addr, "tester", "pa55word", Some(&authfile)).unwrap();
    assert_eq!(written, authfile);
    let c = client_with(ClientConfig {
        auth_file: Some(authfile.clone()),
        ..Default::default()
    });
    c.push(
        &store,
        "local/s:1",
        &dest,
        &PushOptions::default(),
        &NoProgress,
    )
    .unwrap();
    let (_d2, dst) = new_store();
    let rec = c
        .pull(&dst, &dest, &Platform::default(), &NoProgress)
        .unwrap();
    assert_eq!(rec.id, img.config_digest);
    if require("skopeo") {
        let out = run(Command::new("skopeo").args([
            "inspect",
            "--tls-verify=false",
            "--authfile",
            authfile.to_str().unwrap(),
            &format!("docker://{}/test/private:1", reg.addr),
        ]));
        assert!(out.contains(&img.manifest_digest.to_string()));
    }
    assert!(registry::logout(&reg.addr, Some(&authfile)).unwrap());
    let c = client_with(ClientConfig {
        auth_file: Some(authfile.clone()),
        ..Default::default()
    });
    let (_d3, dst) = new_store();
    let e = c
        .pull(&dst, &dest, &Platform::default(), &NoProgress)
        .unwrap_err();
    assert_eq!(e.status(), Some(401), "{e}");
}

#[test]
fn push_by_wrong_digest_is_refused() {
    let Some(reg) = DockerRegistry::start(None) else {
        return;
    };
    let (_d, store) = new_store();
    let img = ImageBlobs::build(&[file_tar("f", b"x")], "amd64");
    img.store_in(&store, "local/x:1");
    let wrong = Digest::of_bytes(b"nope");
    let dest: Reference = reg
        .reference("test/x:1")
        .repository()
        .with_digest(wrong.clone());
    let e = client()
        .push(
            &store,
            "local/x:1",
            &dest,
            &PushOptions::default(),
            &NoProgress,
        )
        .unwrap_err();
    assert!(e.to_string().contains(&wrong.to_string()), "{e}");
}

/// A store holding an amd64 + arm64 index tagged `local/multi:1` (the
/// amd64 image selected), with the arm64 content only if `complete`.
fn store_with_index(complete: bool) -> (tempfile::TempDir, image::Store, Vec<u8>, [ImageBlobs; 2]) {
    let (d, store) = new_store();
    let amd = ImageBlobs::build(&[file_tar("arch", b"amd64")], "amd64");
    let arm = ImageBlobs::build(&[file_tar("arch", b"arm64")], "arm64");
    let entry = |img: &ImageBlobs, arch: &str| {
        serde_json::json!({
            "mediaType": media_type::OCI_MANIFEST,
            "digest": img.manifest_digest.to_string(),
            "size": img.manifest.len(),
            "platform": {"os": "linux", "architecture": arch},
        })
    };
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_INDEX,
        "manifests": [entry(&amd, "amd64"), entry(&arm, "arm64")],
    }))
    .unwrap();
    let c = store.content();
    for img in [&amd, &arm].into_iter().take(if complete { 2 } else { 1 }) {
        for (_, b, _) in &img.layers {
            c.ingest_bytes(b).unwrap();
        }
        c.ingest_bytes(&img.config).unwrap();
        c.ingest_bytes(&img.manifest).unwrap();
    }
    let idx = c.ingest_bytes(&index).unwrap();
    let rec = store
        .register(
            &idx,
            &Platform::parse("linux/amd64").unwrap(),
            &[Reference::parse("local/multi:1").unwrap()],
        )
        .unwrap();
    assert_eq!(rec.index_digest, Some(idx));
    (d, store, index, [amd, arm])
}

#[test]
fn push_whole_index_when_every_platform_is_present() {
    let Some(reg) = DockerRegistry::start(None) else {
        return;
    };
    let (_d, store, index, [amd, arm]) = store_with_index(true);
    let idx_digest = Digest::of_bytes(&index);
    let c = client();
    let p = Recorder::default();
    let dest = reg.reference("test/multi:1");
    let digest = c
        .push(&store, "local/multi:1", &dest, &PushOptions::default(), &p)
        .unwrap();
    assert_eq!(digest, idx_digest);
    assert!(p.notes.lock().unwrap().is_empty());
    // Both images' layer and config went up.
    assert_eq!(p.count(LayerState::Pushed), 4);
    // The tag serves the index, byte for byte, as an OCI index; each
    // platform manifest is there by digest.
    let top = c.fetch_manifest(&dest).unwrap();
    assert_eq!(top.bytes, index);
    assert_eq!(top.content_type.as_deref(), Some(media_type::OCI_INDEX));
    for img in [&amd, &arm] {
        let r = dest.repository().with_digest(img.manifest_digest.clone());
        let m = c.fetch_manifest(&r).unwrap();
        assert_eq!(m.bytes, img.manifest);
        assert_eq!(m.content_type.as_deref(), Some(media_type::OCI_MANIFEST));
        assert!(c.blob_exists(&r, &img.layers[0].0).unwrap());
    }
    // A pull of the other platform from there works.
    let (_d2, other) = new_store();
    let rec = c
        .pull(
            &other,
            &dest,
            &Platform::parse("linux/arm64").unwrap(),
            &NoProgress,
        )
        .unwrap();
    assert_eq!(rec.manifest_digest, arm.manifest_digest);
    assert_eq!(rec.index_digest, Some(idx_digest.clone()));
    if require("skopeo") {
        let raw = run(Command::new("skopeo").args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{}/test/multi:1", reg.addr),
        ]));
        assert_eq!(raw.as_bytes(), &index[..]);
    }

    // --platform: one platform's manifest, as a single-platform image.
    let single = reg.reference("test/single:1");
    let opts = PushOptions {
        platform: Some(Platform::parse("linux/arm64").unwrap()),
        ..Default::default()
    };
    let d = c
        .push(&store, "local/multi:1", &single, &opts, &NoProgress)
        .unwrap();
    assert_eq!(d, arm.manifest_digest);
    assert_eq!(c.fetch_manifest(&single).unwrap().bytes, arm.manifest);
}

#[test]
fn push_of_incomplete_index_pushes_the_image_manifest() {
    let Some(reg) = DockerRegistry::start(None) else {
        return;
    };
    // As after a pull: the index and the amd64 image only.
    let (_d, store, index, [amd, arm]) = store_with_index(false);
    let c = client();
    let p = Recorder::default();
    let dest = reg.reference("test/partial:1");
    let digest = c
        .push(&store, "local/multi:1", &dest, &PushOptions::default(), &p)
        .unwrap();
    assert_eq!(digest, amd.manifest_digest);
    let notes = p.notes.lock().unwrap().clone();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].contains(&Digest::of_bytes(&index).to_string())
            && notes[0].contains("linux/arm64")
            && notes[0].contains("linux/amd64 manifest only"),
        "{notes:?}"
    );
    let top = c.fetch_manifest(&dest).unwrap();
    assert_eq!(top.bytes, amd.manifest);
    let r = dest.repository().with_digest(arm.manifest_digest.clone());
    assert!(c.fetch_manifest(&r).is_err());
    // Pushing by the index digest cannot work without its content.
    let by_index = dest.repository().with_digest(Digest::of_bytes(&index));
    let e = c
        .push(
            &store,
            "local/multi:1",
            &by_index,
            &PushOptions::default(),
            &NoProgress,
        )
        .unwrap_err();
    assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");
}

mod common;

use std::fs;

use common::*;
use image::manifest::Platform;
use image::{ArchiveFormat, Error, ImportOptions, Reference, Store};

fn r(s: &str) -> Reference {
    Reference::parse(s).unwrap()
}

fn roundtrip(format: ArchiveFormat) {
    let tmp = tempfile::tempdir().unwrap();
    let a = Store::open(tmp.path().join("a")).unwrap();
    let l1 = tar_of(&[E::Dir("bin/"), E::File("bin/tool", b"tool")]);
    let l2 = tar_of(&[E::File("etc/conf", b"conf"), E::Link("etc/l", "conf")]);
    let l3 = tar_of(&[E::File("top", b"top")]);
    let m = build_image(&a, &[l1, l2, l3], "amd64", "tool");
    let rec = a
        .register(&m, &Platform::default(), &[r("app:1"), r("app:2")])
        .unwrap();
    let imported = a
        .import(
            &tar_of(&[E::File("x", b"x")])[..],
            &ImportOptions {
                cmd: Some(vec!["/x".into()]),
                ..Default::default()
            },
            &[r("localhost:5000/imp:v")],
        )
        .unwrap();
    let mut out = Vec::new();
    a.save(&["app:1", "localhost:5000/imp:v"], format, &mut out)
        .unwrap();

    let b = Store::open(tmp.path().join("b")).unwrap();
    let loaded = b.load(&out[..]).unwrap();
    assert_eq!(loaded.len(), 2);
    let got = b.resolve("app:1").unwrap();
    assert_eq!(got.record.id, rec.id, "image id (config digest) survives");
    assert!(
        b.resolve("app:2").is_err(),
        "only the asked-for tag is saved"
    );
    assert_eq!(got.record.chain_ids(), rec.chain_ids());
    let lowers = b.prepare_rootfs(&got.record).unwrap();
    assert_eq!(fs::read(lowers[0].join("top")).unwrap(), b"top");
    assert_eq!(fs::read(lowers[1].join("etc/conf")).unwrap(), b"conf");
    assert_eq!(fs::read(lowers[2].join("bin/tool")).unwrap(), b"tool");
    let imp = b.resolve("localhost:5000/imp:v").unwrap();
    assert_eq!(imp.record.id, imported.id);
    let cfg = b.config(&imp.record).unwrap();
    assert_eq!(cfg.config.unwrap().cmd.unwrap(), vec!["/x"]);
    if format == ArchiveFormat::Oci {
        // OCI keeps the exact manifest
        assert_eq!(got.record.manifest_digest, rec.manifest_digest);
    }
    // saving again from b gives an archive a fresh store can load too
    let mut again = Vec::new();
    b.save(&["app:1"], format, &mut again).unwrap();
    let c = Store::open(tmp.path().join("c")).unwrap();
    assert_eq!(c.load(&again[..]).unwrap()[0].id, rec.id);
}

#[test]
fn docker_archive_roundtrip() {
    roundtrip(ArchiveFormat::Docker);
}

#[test]
fn oci_layout_roundtrip() {
    roundtrip(ArchiveFormat::Oci);
}

#[test]
fn docker_archive_layout_is_docker_compatible() {
    let tmp = tempfile::tempdir().unwrap();
    let a = Store::open(tmp.path().join("a")).unwrap();
    let m = build_image(&a, &[tar_of(&[E::File("f", b"f")])], "amd64", "sh");
    let rec = a
        .register(&m, &Platform::default(), &[r("busybox")])
        .unwrap();
    let mut out = Vec::new();
    a.save(&["busybox"], ArchiveFormat::Docker, &mut out)
        .unwrap();
    let mut ar = tar::Archive::new(&out[..]);
    let mut names = Vec::new();
    let mut manifest = None;
    let mut repos = None;
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().to_string_lossy().into_owned();
        let mut s = String::new();
        if p == "manifest.json" {
            std::io::Read::read_to_string(&mut e, &mut s).unwrap();
            manifest = Some(s);
        } else if p == "repositories" {
            std::io::Read::read_to_string(&mut e, &mut s).unwrap();
            repos = Some(s);
        }
        names.push(p);
    }
    let diff = &rec.layers[0].diff_id;
    assert!(names.contains(&format!("{}.json", rec.id.hex())));
    assert!(names.contains(&format!("{}/layer.tar", diff.hex())));
    let mj: serde_json::Value = serde_json::from_str(&manifest.unwrap()).unwrap();
    assert_eq!(mj[0]["RepoTags"][0], "busybox:latest");
    assert_eq!(mj[0]["Config"], format!("{}.json", rec.id.hex()));
    let rj: serde_json::Value = serde_json::from_str(&repos.unwrap()).unwrap();
    assert_eq!(rj["busybox"]["latest"], rec.id.hex());
}

#[test]
fn load_rejects_garbage_and_bad_blobs() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Store::open(tmp.path().join("s")).unwrap();
    let junk = tar_of(&[E::File("hello.txt", b"hi")]);
    let e = s.load(&junk[..]).unwrap_err();
    assert!(matches!(e, Error::Archive(_)), "{e}");
    let wrong = format!("blobs/sha256/{}", image::Digest::of_bytes(b"other").hex());
    let bad = tar_of(&[E::File(&wrong, b"content")]);
    let e = s.load(&bad[..]).unwrap_err();
    assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");
    assert!(s.content().list().unwrap().is_empty());
}

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

/// Nothing of a failed import or load is left: no image, blob, snapshot
/// or temp file.
fn assert_untouched(s: &Store) {
    assert!(s.list().unwrap().is_empty(), "no image");
    assert!(s.content().list().unwrap().is_empty(), "no blob");
    assert!(s.snapshots().list().unwrap().is_empty(), "no snapshot");
    let tmp: Vec<_> = fs::read_dir(s.content().tmp_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(tmp.is_empty(), "temp files left: {tmp:?}");
}

#[test]
fn import_of_truncated_or_foreign_input_registers_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Store::open(tmp.path().join("s")).unwrap();
    let big: Vec<u8> = (0..100_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let full = tar_of(&[E::File("a", b"a"), E::File("big", &big), E::File("z", b"z")]);
    let inputs: Vec<(&str, Vec<u8>)> = vec![
        (
            "random bytes",
            (0..3000u32).map(|i| (i * 131 % 256) as u8).collect(),
        ),
        ("text", b"this is not a tar archive\n".repeat(40)),
        ("cut in a file's data", full[..50_000].to_vec()),
        ("cut in a header", full[..512 + 512 + 100].to_vec()),
        ("gzip, cut", {
            let g = gzip(&full);
            g[..g.len() / 2].to_vec()
        }),
        ("gzip of garbage", gzip(&b"garbage".repeat(500))),
    ];
    for (what, input) in inputs {
        let e = s
            .import(&input[..], &ImportOptions::default(), &[r("imp/bad:1")])
            .unwrap_err();
        assert!(!e.to_string().contains('\n'), "{what}: {e}");
        assert!(
            !e.to_string().chars().any(|c| c.is_control()),
            "{what}: {e:?}"
        );
        assert_untouched(&s);
    }
    // The whole file imports.
    let rec = s
        .import(&full[..], &ImportOptions::default(), &[r("imp/ok:1")])
        .unwrap();
    let lowers = s.prepare_rootfs(&rec).unwrap();
    assert_eq!(fs::read(lowers[0].join("big")).unwrap(), big);
}

/// docker imports an empty tar, and an empty file, as an image with one
/// empty layer (moby's DecompressStream takes a zero-byte stream for an
/// empty layer, docker/docker#18170); so does berth.
#[test]
fn import_of_empty_tar_or_empty_file_is_an_empty_image_as_docker() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Store::open(tmp.path().join("s")).unwrap();
    for (name, input) in [
        ("imp/empty-tar:1", vec![0u8; 10240]),
        ("imp/empty-file:1", vec![]),
    ] {
        let rec = s
            .import(&input[..], &ImportOptions::default(), &[r(name)])
            .unwrap();
        assert_eq!(rec.layers.len(), 1);
        let lowers = s.prepare_rootfs(&rec).unwrap();
        assert_eq!(fs::read_dir(&lowers[0]).unwrap().count(), 0, "{name}");
    }
}

#[test]
fn load_of_truncated_or_broken_archive_registers_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let a = Store::open(tmp.path().join("a")).unwrap();
    let big: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 253) as u8).collect();
    let l1 = tar_of(&[E::File("big", &big)]);
    let l2 = tar_of(&[E::File("top", b"top")]);
    let m = build_image(&a, &[l1, l2], "amd64", "sh");
    a.register(&m, &Platform::default(), &[r("app:1")]).unwrap();
    for format in [ArchiveFormat::Docker, ArchiveFormat::Oci] {
        let mut out = Vec::new();
        a.save(&["app:1"], format, &mut out).unwrap();
        let b = Store::open(tmp.path().join(format!("b{format:?}"))).unwrap();
        // Cut anywhere: at a third, in the middle, just before the end
        // (the index or manifest.json is last).
        for cut in [out.len() / 3, out.len() / 2, out.len() - 1500] {
            assert!(b.load(&out[..cut]).is_err(), "{format:?} cut at {cut}");
            assert_untouched(&b);
        }
        assert_eq!(b.load(&out[..]).unwrap().len(), 1);
    }

    // A docker archive whose layer is not a tar (its diff id made to match).
    let junk = b"not a tar, just bytes".repeat(100);
    let diff = image::Digest::of_bytes(&junk);
    let cfg = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff.to_string()]},
    })
    .to_string();
    let mj = serde_json::json!([{
        "Config": "c.json", "RepoTags": ["junk:1"], "Layers": ["l/layer.tar"],
    }])
    .to_string();
    let ar = tar_of(&[
        E::File("c.json", cfg.as_bytes()),
        E::File("l/layer.tar", &junk),
        E::File("manifest.json", mj.as_bytes()),
    ]);
    let c = Store::open(tmp.path().join("c")).unwrap();
    let e = c.load(&ar[..]).unwrap_err();
    assert!(e.to_string().contains("layer"), "{e}");
    assert_untouched(&c);
}

/// A blob already in the store with the wrong size (damaged) is not
/// trusted: register refuses it, and a load replaces it.
#[test]
fn blob_in_store_with_wrong_size_is_not_trusted() {
    let tmp = tempfile::tempdir().unwrap();
    let a = Store::open(tmp.path().join("a")).unwrap();
    let m = build_image(&a, &[tar_of(&[E::File("f", b"data")])], "amd64", "sh");
    let rec = a.register(&m, &Platform::default(), &[r("app:1")]).unwrap();
    let mut out = Vec::new();
    a.save(&["app:1"], ArchiveFormat::Oci, &mut out).unwrap();
    let layer = &rec.layers[0].digest;
    let path = a.content().blob_path(layer);
    let good = fs::read(&path).unwrap();
    fs::write(&path, &good[..good.len() / 2]).unwrap();
    let e = a
        .register(&m, &Platform::default(), &[r("app:2")])
        .unwrap_err();
    assert!(matches!(e, Error::SizeMismatch { .. }), "{e}");
    // A load brings the right bytes back.
    a.load(&out[..]).unwrap();
    assert_eq!(fs::read(&path).unwrap(), good);
    assert!(a.resolve("app:1").is_ok());
}

/// A tmpfs of `size` mounted on a temp dir, unmounted on drop.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(st.success());
        Tmpfs(dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.0.path())
            .status();
    }
}

/// A full disk during import or load is the store's error, naming the
/// file ("No space left on device"), not a bad archive; nothing is left.
#[test]
fn full_disk_during_import_or_load_says_no_space_left() {
    if !is_root() {
        eprintln!("skipping: mounting a tmpfs needs root");
        return;
    }
    let big: Vec<u8> = {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        (0..3 << 20)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    };
    let rootfs = tar_of(&[E::File("big", &big)]);
    // An archive of it, made where there is room.
    let tmp = tempfile::tempdir().unwrap();
    let a = Store::open(tmp.path().join("a")).unwrap();
    a.import(&rootfs[..], &ImportOptions::default(), &[r("big:1")])
        .unwrap();
    let mut archive = Vec::new();
    a.save(&["big:1"], ArchiveFormat::Docker, &mut archive)
        .unwrap();

    let fs = Tmpfs::mount("1m");
    let root = fs.0.path().join("store");
    let s = Store::open(&root).unwrap();
    let e = s
        .import(&rootfs[..], &ImportOptions::default(), &[r("big:1")])
        .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("No space left on device"), "{msg}");
    assert!(msg.contains(&root.display().to_string()), "{msg}");
    assert!(!matches!(e, Error::Archive(_)), "{msg}");
    assert_untouched(&s);
    let e = s.load(&archive[..]).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("No space left on device"), "{msg}");
    assert!(!matches!(e, Error::Archive(_)), "{msg}");
    assert_untouched(&s);
}

/// A layer blob damaged where unpacking cannot see it (the gzip header's
/// mtime, not covered by its CRC) is caught by its digest when a snapshot
/// is unpacked from it again (first use after a crash or a removal).
#[test]
fn damaged_blob_is_caught_by_its_digest_when_unpacked_again() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Store::open(tmp.path().join("s")).unwrap();
    let rec = s
        .import(
            &tar_of(&[E::File("f", b"data")])[..],
            &ImportOptions::default(),
            &[r("imp/x:1")],
        )
        .unwrap();
    for c in rec.chain_ids() {
        assert!(s.snapshots().remove(&c).unwrap());
    }
    let path = s.content().blob_path(&rec.layers[0].digest);
    let mut b = fs::read(&path).unwrap();
    assert_eq!(&b[..2], &[0x1f, 0x8b]);
    b[4] ^= 0x55; // MTIME
    fs::write(&path, &b).unwrap();
    let e = s.prepare_rootfs(&rec).unwrap_err().to_string();
    assert!(
        e.contains("damaged") && e.contains("digest mismatch"),
        "{e}"
    );
    assert!(s.snapshots().list().unwrap().is_empty());
}

mod common;

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use common::*;
use image::manifest::Platform;
use image::{Digest, Error, ImportOptions, Reference, Store};

fn r(s: &str) -> Reference {
    Reference::parse(s).unwrap()
}

fn store() -> (tempfile::TempDir, Store) {
    let d = tempfile::tempdir().unwrap();
    let s = Store::open(d.path().join("root")).unwrap();
    (d, s)
}

#[test]
fn register_resolve_and_list() {
    let (_d, s) = store();
    let l1 = tar_of(&[E::Dir("bin/"), E::File("bin/sh", b"shell")]);
    let l2 = tar_of(&[E::File("etc/motd", b"hi")]);
    let m = build_image(&s, &[l1, l2], "amd64", "sh");
    let rec = s
        .register(
            &m,
            &Platform::default(),
            &[r("busybox"), r("localhost:5000/x/y:v1")],
        )
        .unwrap();
    assert_eq!(rec.manifest_digest, m);
    assert_eq!(rec.layers.len(), 2);
    assert_eq!(rec.index_digest, None);
    for q in [
        "busybox",
        "busybox:latest",
        "docker.io/library/busybox:latest",
        "localhost:5000/x/y:v1",
        &rec.id.to_string(),
        rec.id.hex(),
        rec.id.short(),
        &rec.id.hex()[..6],
        &format!("busybox@{m}"),
    ] {
        let info = s.resolve(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        assert_eq!(info.record.id, rec.id, "{q}");
    }
    let info = s.resolve("busybox").unwrap();
    let tags: Vec<String> = info.repo_tags.iter().map(|t| t.familiar()).collect();
    assert_eq!(tags, vec!["busybox:latest", "localhost:5000/x/y:v1"]);
    assert_eq!(info.repo_digests.len(), 2);
    assert!(matches!(s.resolve("alpine"), Err(Error::ImageNotFound(_))));
    let e = s.resolve("Alpine").unwrap_err().to_string();
    assert!(e.contains("Alpine"), "{e}");
    assert_eq!(s.list().unwrap().len(), 1);
    let cfg = s.config(&rec).unwrap();
    assert_eq!(cfg.config.unwrap().cmd.unwrap(), vec!["sh"]);
    // digest reference that does not match
    let other = Digest::of_bytes(b"other");
    assert!(s
        .register(&m, &Platform::default(), &[r(&format!("busybox@{other}"))])
        .is_err());
}

#[test]
fn register_refuses_missing_layers() {
    let (_d, s) = store();
    let m = build_image(&s, &[tar_of(&[E::File("a", b"a")])], "amd64", "sh");
    let rec_layers = match s.read_manifest(&m, None).unwrap() {
        image::ManifestDoc::Image(_, man) => man.layers,
        _ => unreachable!(),
    };
    s.content().delete(&rec_layers[0].digest).unwrap();
    let e = s.register(&m, &Platform::default(), &[r("a")]).unwrap_err();
    assert!(matches!(e, Error::BlobNotFound(_)), "{e}");
    assert!(s.list().unwrap().is_empty());
}

#[test]
fn index_platform_selection() {
    let (_d, s) = store();
    let amd = build_image(&s, &[tar_of(&[E::File("arch", b"amd64")])], "amd64", "a");
    let arm = build_image(&s, &[tar_of(&[E::File("arch", b"arm64")])], "arm64", "b");
    let idx = build_index(
        &s,
        &[
            (Platform::new("linux", "amd64", None), amd.clone()),
            (Platform::new("linux", "arm64", Some("v8")), arm.clone()),
        ],
    );
    let rec = s
        .register(
            &idx,
            &Platform::parse("linux/arm64").unwrap(),
            &[r("multi")],
        )
        .unwrap();
    assert_eq!(rec.manifest_digest, arm);
    assert_eq!(rec.index_digest.as_ref(), Some(&idx));
    assert_eq!(rec.platform.architecture, "arm64");
    let rec2 = s
        .register(&idx, &Platform::default(), &[r("multi:amd")])
        .unwrap();
    assert_eq!(rec2.manifest_digest, amd);
    // the repo@index-digest name follows the most recent registration
    assert_eq!(
        s.resolve(&format!("multi@{idx}")).unwrap().record.id,
        rec2.id
    );
    assert_eq!(s.resolve("multi:latest").unwrap().record.id, rec.id);
    let e = s
        .register(
            &idx,
            &Platform::parse("linux/ppc64le").unwrap(),
            &[r("multi")],
        )
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("linux/ppc64le") && e.contains(&idx.to_string()),
        "{e}"
    );
}

#[test]
fn prepare_rootfs_orders_lowers_and_verifies() {
    let (_d, s) = store();
    let tars: Vec<Vec<u8>> = (0..5)
        .map(|i| tar_of(&[E::File(&format!("layer{i}"), format!("{i}").as_bytes())]))
        .collect();
    let m = build_image(&s, &tars, "amd64", "sh");
    let rec = s.register(&m, &Platform::default(), &[r("five")]).unwrap();
    let lowers = s.prepare_rootfs(&rec).unwrap();
    assert_eq!(lowers.len(), 5);
    for (k, dir) in lowers.iter().enumerate() {
        let i = 4 - k; // top first
        assert_eq!(
            fs::read(dir.join(format!("layer{i}"))).unwrap(),
            format!("{i}").as_bytes()
        );
    }
    let chains = rec.chain_ids();
    assert_eq!(lowers[0], s.snapshots().fs_path(&chains[4]));
    assert_eq!(
        s.snapshots().meta(&chains[3]).unwrap().parent.as_ref(),
        Some(&chains[2])
    );
    // idempotent
    assert_eq!(s.prepare_rootfs(&rec).unwrap(), lowers);
    let opts =
        image::overlay_options(&lowers, Some(Path::new("/u")), Some(Path::new("/w"))).unwrap();
    assert!(opts.starts_with(&format!("lowerdir={}:", lowers[0].display())));
}

/// Marks snapshot `c` as written without a sync in another boot.
fn from_another_boot(s: &Store, c: &image::ChainId) {
    let mut m = s.snapshots().meta(c).unwrap();
    m.unsynced_boot = Some("00000000-another-boot".into());
    let p = s.snapshots().path(c).join("meta.json");
    fs::write(p, serde_json::to_vec(&m).unwrap()).unwrap();
}

#[test]
fn snapshots_unsynced_before_a_restart_are_unpacked_again() {
    use image::SnapshotState::*;
    let (_d, s) = store();
    let tars = vec![
        tar_of(&[E::File("a", b"bottom layer")]),
        tar_of(&[E::File("b", b"top layer")]),
    ];
    let m = build_image(&s, &tars, "amd64", "sh");
    let rec = s.register(&m, &Platform::default(), &[r("two")]).unwrap();
    let lowers = s.prepare_rootfs(&rec).unwrap();
    let chains = rec.chain_ids();
    for c in &chains {
        let m = s.snapshots().meta(c).unwrap();
        assert_eq!(m.unsynced_boot.as_deref(), Some(image::boot_id()));
    }
    // A torn file in the top layer, unreadable metadata in the bottom one.
    from_another_boot(&s, &chains[1]);
    fs::write(lowers[0].join("b"), b"").unwrap();
    fs::write(
        s.snapshots().path(&chains[0]).join("meta.json"),
        b"{\"chain",
    )
    .unwrap();
    for c in &chains {
        assert_eq!(s.snapshots().state(c), Stale);
        assert!(!s.snapshots().exists(c));
    }
    s.revalidate_lowers(&lowers).unwrap();
    assert_eq!(fs::read(lowers[0].join("b")).unwrap(), b"top layer");
    assert_eq!(fs::read(lowers[1].join("a")).unwrap(), b"bottom layer");
    for c in &chains {
        assert_eq!(s.snapshots().state(c), Ready);
    }
    // A snapshot whose name did not reach the disk (its directory is not
    // synced either): gone, and unpacked again for the container too.
    fs::remove_dir_all(s.snapshots().path(&chains[1])).unwrap();
    assert_eq!(s.snapshots().state(&chains[1]), Missing);
    s.revalidate_lowers(&lowers).unwrap();
    assert_eq!(fs::read(lowers[0].join("b")).unwrap(), b"top layer");
    // The same through prepare_rootfs (a new container), and a pull's
    // `exists` check.
    from_another_boot(&s, &chains[1]);
    fs::remove_file(lowers[0].join("b")).unwrap();
    assert_eq!(s.prepare_rootfs(&rec).unwrap(), lowers);
    assert_eq!(fs::read(lowers[0].join("b")).unwrap(), b"top layer");
    assert_eq!(
        fs::read_dir(s.root().join("tmp"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("del-")
            })
            .count(),
        0,
        "stale trees are deleted"
    );
    // Lowers that are not snapshots of this store are left alone.
    s.revalidate_lowers(&["/nonexistent/fs"]).unwrap();
}

#[test]
fn gc_makes_kept_snapshots_durable_before_their_blobs_go() {
    let (_d, s) = store();
    let tars = vec![tar_of(&[E::File("a", b"A")]), tar_of(&[E::File("b", b"B")])];
    let m = build_image(&s, &tars, "amd64", "sh");
    let rec = s.register(&m, &Platform::default(), &[r("kept")]).unwrap();
    let lowers = s.prepare_rootfs(&rec).unwrap();
    let chains = rec.chain_ids();
    // The bottom one from before a restart: unpacked again, then synced.
    from_another_boot(&s, &chains[0]);
    fs::write(lowers[1].join("a"), b"").unwrap();
    s.remove("kept", false).unwrap();
    let keep: HashSet<_> = [chains[1].clone()].into_iter().collect();
    let rep = s.gc(&keep).unwrap();
    assert_eq!(rep.snapshots.len(), 0);
    for (c, l) in chains.iter().zip(&rec.layers) {
        assert!(
            !s.content().exists(&l.digest),
            "layer blob {} kept",
            l.digest
        );
        assert_eq!(s.snapshots().meta(c).unwrap().unsynced_boot, None);
        assert!(s.snapshots().exists(c));
    }
    assert_eq!(fs::read(lowers[1].join("a")).unwrap(), b"A");
    s.revalidate_lowers(&lowers).unwrap();
    // Stale with its blob gone and no image that has it: a clear error.
    from_another_boot(&s, &chains[1]);
    let e = s.revalidate_lowers(&lowers).unwrap_err().to_string();
    assert!(
        e.contains("restart of the machine") && e.contains("remove the containers"),
        "{e}"
    );
}

#[test]
fn diff_id_mismatch_leaves_no_snapshot() {
    let (_d, s) = store();
    let t = tar_of(&[E::File("a", b"a")]);
    let bogus = Digest::of_bytes(b"bogus");
    let m = image_with_bad_diff(&s, t, bogus.clone());
    let rec = s.register(&m, &Platform::default(), &[r("bad")]).unwrap();
    let e = s.prepare_rootfs(&rec).unwrap_err();
    assert!(matches!(e, Error::DiffIdMismatch { .. }), "{e}");
    assert!(e.to_string().contains(&bogus.to_string()));
    assert!(s.snapshots().list().unwrap().is_empty());
    assert_eq!(fs::read_dir(s.root().join("tmp")).unwrap().count(), 0);
}

fn image_with_bad_diff(s: &Store, t: Vec<u8>, bogus: Digest) -> Digest {
    common::build_image_with(s, &[t], "amd64", "sh", Some(vec![bogus]))
}

#[test]
fn empty_image_gets_empty_lower() {
    let (_d, s) = store();
    let m = build_image(&s, &[], "amd64", "true");
    let rec = s.register(&m, &Platform::default(), &[r("empty")]).unwrap();
    let lowers = s.prepare_rootfs(&rec).unwrap();
    assert_eq!(lowers.len(), 1);
    assert!(lowers[0].is_dir());
}

#[test]
fn untag_remove_and_gc() {
    let (_d, s) = store();
    let shared = tar_of(&[E::File("base", b"base")]);
    let a = build_image(
        &s,
        &[shared.clone(), tar_of(&[E::File("a", b"a")])],
        "amd64",
        "a",
    );
    let b = build_image(&s, &[shared, tar_of(&[E::File("b", b"b")])], "amd64", "b");
    let ra = s
        .register(&a, &Platform::default(), &[r("a"), r("a:2")])
        .unwrap();
    let rb = s.register(&b, &Platform::default(), &[r("b")]).unwrap();
    s.prepare_rootfs(&ra).unwrap();
    s.prepare_rootfs(&rb).unwrap();
    assert_eq!(s.snapshots().list().unwrap().len(), 3);
    let blobs_before = s.content().list().unwrap();
    // nothing unreferenced yet (apart from the temp dir being empty)
    let rep = s.gc(&HashSet::new()).unwrap();
    assert!(rep.blobs.is_empty() && rep.snapshots.is_empty(), "{rep:?}");
    // untag one of two tags: image stays
    assert_eq!(s.untag(&r("a:2")).unwrap(), None);
    assert!(s.resolve("a").is_ok());
    // removing by id with several tags needs force
    s.tag("a", &r("a:3")).unwrap();
    assert!(s.remove(ra.id.hex(), false).is_err());
    assert_eq!(s.remove(ra.id.hex(), true).unwrap(), vec![ra.id.clone()]);
    assert!(s.resolve("a:3").is_err());
    // stale temp file from a killed writer
    fs::write(s.root().join("tmp/blob-1-2-3"), b"junk").unwrap();
    let rep = s.gc(&HashSet::new()).unwrap();
    assert_eq!(rep.temp_files, 1);
    // a's manifest, config and own layer go; shared base stays
    assert_eq!(rep.blobs.len(), 3, "{rep:?}");
    assert_eq!(rep.snapshots, vec![ra.chain_ids()[1].clone()]);
    assert!(s.snapshots().exists(&rb.chain_ids()[0]));
    assert_eq!(s.content().list().unwrap().len(), blobs_before.len() - 3);
    // keep set protects a container's snapshot (and its parents)
    let keep: HashSet<_> = [rb.chain_ids()[1].clone()].into_iter().collect();
    assert_eq!(s.remove("b", false).unwrap(), vec![rb.id.clone()]);
    let rep = s.gc(&keep).unwrap();
    assert!(rep.snapshots.is_empty(), "{rep:?}");
    assert!(s.content().list().unwrap().is_empty());
    let rep = s.gc(&HashSet::new()).unwrap();
    assert_eq!(rep.snapshots.len(), 2);
    assert!(s.snapshots().list().unwrap().is_empty());
}

#[test]
fn failed_ingest_leaves_blob_list_unchanged() {
    let (_d, s) = store();
    s.content().ingest(&b"one"[..], None).unwrap();
    let before = s.content().list().unwrap();
    assert!(s
        .content()
        .ingest(&b"two"[..], Some(Digest::of_bytes(b"one")))
        .is_err());
    assert_eq!(s.content().list().unwrap(), before);
}

#[test]
fn import_creates_single_layer_image() {
    let (_d, s) = store();
    let t = tar_of(&[E::Dir("app/"), E::File("app/run", b"#!/bin/sh\necho hi\n")]);
    let opts = ImportOptions {
        cmd: Some(vec!["/app/run".into()]),
        env: vec!["A=1".into()],
        working_dir: Some("/app".into()),
        entrypoint: Some(vec!["/bin/sh".into()]),
        ..Default::default()
    };
    let rec = s.import(&gzip(&t)[..], &opts, &[r("imported:v1")]).unwrap();
    assert_eq!(rec.layers.len(), 1);
    assert_eq!(rec.layers[0].diff_id, Digest::of_bytes(&t));
    let cfg = s.config(&rec).unwrap();
    let c = cfg.config.unwrap();
    assert_eq!(c.cmd.unwrap(), vec!["/app/run"]);
    assert_eq!(c.env, vec!["A=1"]);
    assert_eq!(c.working_dir.as_deref(), Some("/app"));
    assert_eq!(c.entrypoint.unwrap(), vec!["/bin/sh"]);
    let lowers = s.prepare_rootfs(&rec).unwrap();
    assert_eq!(
        fs::read(lowers[0].join("app/run")).unwrap(),
        b"#!/bin/sh\necho hi\n"
    );
    // same input, same id
    let rec2 = s.import(&t[..], &opts, &[r("imported:v2")]).unwrap();
    assert_eq!(rec2.id, rec.id);
}

#[test]
fn concurrent_registrations_keep_metadata_consistent() {
    let (_d, s) = store();
    let m = build_image(&s, &[tar_of(&[E::File("x", b"x")])], "amd64", "x");
    std::thread::scope(|sc| {
        for t in 0..8 {
            let s = s.clone();
            let m = m.clone();
            sc.spawn(move || {
                for k in 0..5 {
                    s.register(&m, &Platform::default(), &[r(&format!("img:t{t}-{k}"))])
                        .unwrap();
                }
            });
        }
    });
    let info = s.resolve("img:t0-0").unwrap();
    assert_eq!(info.repo_tags.len(), 40);
    // the file is valid JSON and no temp files remain
    let names: Vec<String> = fs::read_dir(s.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains(".tmp-")), "{names:?}");
}

#[test]
fn remove_by_short_id_with_several_tags_needs_force() {
    let (_d, s) = store();
    let t = tar_of(&[E::File("x", b"x")]);
    let rec = s
        .import(&t[..], &ImportOptions::default(), &[r("a:1"), r("b:1")])
        .unwrap();
    let short = rec.id.short().to_string();
    assert!(matches!(
        s.remove(&short, false),
        Err(image::Error::Conflict(_))
    ));
    assert_eq!(s.list().unwrap()[0].repo_tags.len(), 2);
    assert_eq!(s.remove(&short, true).unwrap(), vec![rec.id.clone()]);
    assert!(s.list().unwrap().is_empty());
}

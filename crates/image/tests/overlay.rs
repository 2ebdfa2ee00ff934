//! Mounts overlayfs over unpacked snapshots to check that whiteouts and
//! opaque directories really hide lower content. Needs root.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use image::manifest::Platform;
use image::{overlay_options, Reference, Store};
use nix::mount::{mount, umount2, MntFlags, MsFlags};

fn whiteout_tar() -> Vec<u8> {
    // OCI whiteout entries are plain files named .wh.<name>.
    tar_of(&[
        E::File("etc/.wh.secret", b""),
        E::File("data/.wh..wh..opq", b""),
        E::File("data/new", b"new"),
        E::File("etc/added", b"added"),
    ])
}

#[test]
fn whiteouts_hide_lower_files_under_overlayfs() {
    if !berth_testkit::require_root("an overlayfs mount") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path().join("root")).unwrap();
    let base = tar_of(&[
        E::Dir("etc/"),
        E::File("etc/secret", b"s3cr3t"),
        E::File("etc/keep", b"keep"),
        E::Dir("data/"),
        E::File("data/old", b"old"),
        E::Link("etc/link", "keep"),
    ]);
    let m = build_image(&store, &[base, whiteout_tar()], "amd64", "sh");
    let rec = store
        .register(&m, &Platform::default(), &[Reference::parse("wh").unwrap()])
        .unwrap();
    let lowers = store.prepare_rootfs(&rec).unwrap();
    let upper = tmp.path().join("upper");
    let work = tmp.path().join("work");
    let merged = tmp.path().join("merged");
    for d in [&upper, &work, &merged] {
        fs::create_dir(d).unwrap();
    }
    let opts = overlay_options(&lowers, Some(&upper), Some(&work)).unwrap();
    if let Err(e) = mount(
        Some("overlay"),
        &merged,
        Some("overlay"),
        MsFlags::empty(),
        Some(opts.as_str()),
    ) {
        // As root the mount must work: a failure is the test's.
        panic!("cannot mount overlayfs at {}: {e}", merged.display());
    }
    let check = || -> Result<(), String> {
        let p = |s: &str| merged.join(s);
        if p("etc/secret").symlink_metadata().is_ok() {
            return Err("etc/secret should be hidden by the whiteout".into());
        }
        if fs::read(p("etc/keep")).map_err(|e| e.to_string())? != b"keep" {
            return Err("etc/keep changed".into());
        }
        if fs::read(p("etc/added")).map_err(|e| e.to_string())? != b"added" {
            return Err("etc/added missing".into());
        }
        if fs::read_link(p("etc/link")).map_err(|e| e.to_string())? != Path::new("keep") {
            return Err("etc/link wrong".into());
        }
        let mut data: Vec<String> = fs::read_dir(p("data"))
            .map_err(|e| e.to_string())?
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        data.sort();
        if data != vec!["new".to_string()] {
            return Err(format!("opaque data/ should only hold 'new', has {data:?}"));
        }
        Ok(())
    };
    let res = check();
    umount2(&merged, MntFlags::MNT_DETACH).unwrap();
    res.unwrap();
}

#[test]
fn read_only_overlay_without_upper() {
    if !berth_testkit::require_root("an overlayfs mount") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path().join("root")).unwrap();
    let m = build_image(
        &store,
        &[
            tar_of(&[E::File("a", b"1")]),
            tar_of(&[E::File("a", b"2"), E::File("b", b"b")]),
        ],
        "amd64",
        "sh",
    );
    let rec = store
        .register(&m, &Platform::default(), &[Reference::parse("ro").unwrap()])
        .unwrap();
    let lowers = store.prepare_rootfs(&rec).unwrap();
    let merged = tmp.path().join("merged");
    fs::create_dir(&merged).unwrap();
    let opts = overlay_options(&lowers, None, None).unwrap();
    if let Err(e) = mount(
        Some("overlay"),
        &merged,
        Some("overlay"),
        MsFlags::MS_RDONLY,
        Some(opts.as_str()),
    ) {
        // As root the mount must work: a failure is the test's.
        panic!("cannot mount overlayfs at {}: {e}", merged.display());
    }
    let a = fs::read(merged.join("a"));
    let b = fs::read(merged.join("b"));
    umount2(&merged, MntFlags::MNT_DETACH).unwrap();
    assert_eq!(a.unwrap(), b"2", "top layer wins");
    assert_eq!(b.unwrap(), b"b");
}

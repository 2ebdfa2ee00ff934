//! Mount destinations resolve inside the rootfs (CVE-2021-30465's class)
//! and nothing is mounted under /proc (CVE-2019-16884's), whatever links
//! the rootfs holds or a racing process swaps in.

mod common;
use common::*;
use serde_json::json;
use std::path::Path;

fn mountinfo_has(mi: &str, dest: &str) -> bool {
    mi.lines()
        .any(|l| l.split_whitespace().nth(4) == Some(dest))
}

/// Nothing was created or mounted in `dir` on the host.
fn untouched(dir: &Path) {
    assert_eq!(
        std::fs::read_dir(dir).unwrap().count(),
        0,
        "something was created in {}",
        dir.display()
    );
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let d = dir.to_string_lossy();
    assert!(
        !mi.lines().any(|l| l
            .split_whitespace()
            .nth(4)
            .is_some_and(|m| m.starts_with(&*d))),
        "a mount landed in {d}"
    );
}

#[test]
fn cve_2021_30465_mount_destination_symlink_stays_in_root() {
    let host = tempfile::tempdir().unwrap();
    let outside = host.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let src = host.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("marker"), "bind").unwrap();
    let mut b = Bundle::new();
    // Absolute and climbing links to a host directory.
    std::os::unix::fs::symlink(&outside, b.rootfs().join("evil")).unwrap();
    std::os::unix::fs::symlink("../../../../../../..", b.rootfs().join("tmp/up")).unwrap();
    b.add_mount(json!({"destination": "/evil/t", "type": "tmpfs", "source": "tmpfs"}));
    b.add_mount(json!({"destination": "/evil", "type": "tmpfs", "source": "tmpfs"}));
    b.add_mount(
        json!({"destination": "/tmp/up/b", "type": "bind", "source": src,
        "options": ["rbind"]}),
    );
    let inside = outside
        .strip_prefix("/")
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let rt = Runtime::new();
    b.sh("cat /proc/self/mountinfo; cat /b/marker");
    let o = rt.run(&b, &unique_id("cve30465"));
    o.ok();
    untouched(&outside);
    assert!(mountinfo_has(&o.stdout, &format!("/{inside}")), "{o}");
    assert!(mountinfo_has(&o.stdout, "/b"), "{o}");
    assert!(o.stdout.ends_with("bind"), "{o}");
    assert!(!host.path().join("b").exists() && !Path::new("/b").exists());
}

/// The original exploit: a directory of the rootfs (a volume shared with
/// another container) is swapped for a symlink to a host directory while
/// the runtime sets up a mount below it.
#[test]
fn cve_2021_30465_mount_destination_race_stays_in_root() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let host = tempfile::tempdir().unwrap();
    let outside = host.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let mut b = Bundle::new();
    let shared = b.rootfs().join("shared");
    std::fs::create_dir(&shared).unwrap();
    b.add_mount(json!({"destination": "/shared/d/x", "type": "tmpfs", "source": "tmpfs"}));
    b.args(&["true"]);
    let stop = Arc::new(AtomicBool::new(false));
    let racer = {
        let (stop, shared, outside) = (stop.clone(), shared.clone(), outside.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let _ = std::fs::create_dir(shared.join("d.dir"));
                let _ = std::fs::rename(shared.join("d.dir"), shared.join("d"));
                let _ = std::os::unix::fs::symlink(&outside, shared.join("d.lnk"));
                // A symlink cannot replace a directory by rename: remove
                // the directory (and what the runtime made in it) first.
                let _ = std::fs::remove_dir(shared.join("d/x"));
                let _ = std::fs::remove_dir(shared.join("d"));
                let _ = std::fs::rename(shared.join("d.lnk"), shared.join("d"));
            }
        })
    };
    let rt = Runtime::new();
    for i in 0..40 {
        // Failures are fine (the racer pulls directories away); escapes are not.
        let _ = rt.run(&b, &unique_id(&format!("race{i}")));
    }
    stop.store(true, Ordering::Relaxed);
    racer.join().unwrap();
    untouched(&outside);
}

#[test]
fn mount_under_proc_is_refused() {
    let rt = Runtime::new();
    for (dest, link) in [
        ("/proc/self/attr", None),
        ("/data", Some("/proc/self/attr")),
    ] {
        let mut b = Bundle::new();
        if let Some(l) = link {
            std::os::unix::fs::symlink(l, b.rootfs().join("data")).unwrap();
        }
        b.add_mount(json!({"destination": dest, "type": "tmpfs", "source": "tmpfs"}));
        let o = rt.run(&b, &unique_id("procmnt"));
        let err = o.fails();
        assert!(
            err.contains(dest) && err.contains("inside /proc"),
            "{dest}: {err}"
        );
    }
    // A bind of a file lxcfs emulates is allowed, as runc allows it.
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("uptime"), "1.00 2.00\n").unwrap();
    let mut b = Bundle::new();
    b.add_mount(json!({"destination": "/proc/uptime", "type": "bind",
        "source": host.path().join("uptime"), "options": ["bind"]}));
    b.sh("cat /proc/uptime");
    let o = rt.run(&b, &unique_id("lxcfs"));
    o.ok();
    assert_eq!(o.stdout, "1.00 2.00\n", "{o}");
}

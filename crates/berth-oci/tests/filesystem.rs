//! The container's filesystem: read-only root, mounts, masked and
//! read-only paths, devices, hostname, sysctl.

mod common;
use common::*;
use serde_json::json;

fn run_in(b: &mut Bundle, script: &str) -> Out {
    let rt = Runtime::new();
    b.sh(script);
    rt.run(b, &unique_id("fs"))
}

#[test]
fn readonly_root() {
    let mut b = Bundle::new();
    b.edit(|c| c["root"]["readonly"] = json!(true));
    let o = run_in(&mut b, "touch /newfile; echo rc=$?");
    o.ok();
    assert_eq!(o.stdout, "rc=1\n", "{o}");
    assert!(o.stderr.contains("Read-only"), "{o}");
    assert!(!b.rootfs().join("newfile").exists());

    let mut b = Bundle::new();
    b.edit(|c| c["root"]["readonly"] = json!(false));
    let o = run_in(&mut b, "touch /newfile; echo rc=$?");
    assert_eq!(o.stdout, "rc=0\n", "{o}");
    assert!(b.rootfs().join("newfile").exists());
}

fn mountinfo_line<'a>(mi: &'a str, dest: &str) -> Option<&'a str> {
    mi.lines()
        .rfind(|l| l.split_whitespace().nth(4) == Some(dest))
}

#[test]
fn tmpfs_mount_with_options() {
    let mut b = Bundle::new();
    b.add_mount(json!({
        "destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs",
        "options": ["nosuid", "nodev", "noexec", "size=1m", "mode=700"]
    }));
    let o = run_in(
        &mut b,
        "stat -c %a /mnt/t; touch /mnt/t/x && echo written; cat /proc/self/mountinfo",
    );
    o.ok();
    let mut l = o.stdout.lines();
    assert_eq!(l.next(), Some("700"), "{o}");
    assert_eq!(l.next(), Some("written"), "{o}");
    let line = mountinfo_line(&o.stdout, "/mnt/t").unwrap_or_else(|| panic!("no /mnt/t: {o}"));
    let opts = line.split_whitespace().nth(5).unwrap();
    for f in ["nosuid", "nodev", "noexec"] {
        assert!(opts.split(',').any(|x| x == f), "{f} missing: {line}");
    }
    assert!(line.contains("size=1024k"), "{line}");
    assert!(line.contains("mode=700"), "{line}");
}

#[test]
fn bind_mount_host_dir_rw() {
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("from-host"), "hello from host\n").unwrap();
    let mut b = Bundle::new();
    b.add_mount(json!({
        "destination": "/data", "type": "bind", "source": host.path(),
        "options": ["bind"]
    }));
    let o = run_in(
        &mut b,
        "cat /data/from-host; echo from-ctr > /data/from-ctr",
    );
    o.ok();
    assert_eq!(o.stdout, "hello from host\n", "{o}");
    assert_eq!(
        std::fs::read_to_string(host.path().join("from-ctr")).unwrap(),
        "from-ctr\n"
    );
}

#[test]
fn bind_mount_readonly() {
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("f"), "orig\n").unwrap();
    let mut b = Bundle::new();
    b.add_mount(json!({
        "destination": "/data", "type": "bind", "source": host.path(),
        "options": ["bind", "ro"]
    }));
    let o = run_in(
        &mut b,
        "cat /data/f; echo new > /data/f; echo rc=$?; touch /data/g; echo rc=$?",
    );
    o.ok();
    assert_eq!(o.stdout, "orig\nrc=1\nrc=1\n", "{o}");
    assert_eq!(
        std::fs::read_to_string(host.path().join("f")).unwrap(),
        "orig\n"
    );
    assert!(!host.path().join("g").exists());
    // The host's own mount stays writable.
    std::fs::write(host.path().join("h"), "x").unwrap();
}

#[test]
fn bind_mount_file() {
    let host = tempfile::tempdir().unwrap();
    let f = host.path().join("file.conf");
    std::fs::write(&f, "key=value\n").unwrap();
    let mut b = Bundle::new();
    b.add_mount(json!({
        "destination": "/etc/app/file.conf", "type": "none", "source": f,
        "options": ["rbind", "ro"]
    }));
    let o = run_in(&mut b, "cat /etc/app/file.conf");
    o.ok();
    assert_eq!(o.stdout, "key=value\n", "{o}");
}

/// A host dir with a tmpfs mounted on `sub` (unmounted on drop).
struct HostSubmount {
    dir: tempfile::TempDir,
}

impl HostSubmount {
    fn new() -> HostSubmount {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "tmpfs"])
            .arg(dir.path().join("sub"))
            .status()
            .unwrap();
        assert!(st.success());
        std::fs::write(dir.path().join("sub/inner"), "inner\n").unwrap();
        std::fs::write(dir.path().join("top"), "top\n").unwrap();
        HostSubmount { dir }
    }
}

impl Drop for HostSubmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path().join("sub"))
            .status();
    }
}

#[test]
fn rbind_includes_submounts_and_bind_does_not() {
    let h = HostSubmount::new();
    let mut b = Bundle::new();
    b.add_mount(
        json!({"destination": "/r", "type": "bind", "source": h.dir.path(), "options": ["rbind"]}),
    );
    b.add_mount(
        json!({"destination": "/n", "type": "bind", "source": h.dir.path(), "options": ["bind"]}),
    );
    let o = run_in(
        &mut b,
        "cat /r/top /r/sub/inner; cat /n/top; ls /n/sub | wc -l",
    );
    o.ok();
    assert_eq!(o.stdout, "top\ninner\ntop\n0\n", "{o}");
}

#[test]
fn masked_paths() {
    let mut b = Bundle::new();
    std::fs::create_dir_all(b.rootfs().join("secret")).unwrap();
    std::fs::write(b.rootfs().join("secret/key"), "s3cr3t").unwrap();
    std::fs::write(b.rootfs().join("secretfile"), "s3cr3t").unwrap();
    b.edit(|c| {
        let m = c["linux"]["maskedPaths"].as_array_mut().unwrap();
        m.push(json!("/secret"));
        m.push(json!("/secretfile"));
        m.push(json!("/does/not/exist"));
    });
    let o = run_in(
        &mut b,
        "cat /proc/timer_list | wc -c; cat /proc/kcore 2>/dev/null | wc -c; \
         ls -A /secret | wc -l; cat /secretfile | wc -c; ls -A /proc/acpi | wc -l; \
         stat -c %t,%T /proc/timer_list",
    );
    o.ok();
    let l: Vec<&str> = o.stdout.lines().map(str::trim).collect();
    assert_eq!(l, vec!["0", "0", "0", "0", "0", "1,3"], "{o}");
}

#[test]
fn readonly_paths() {
    let mut b = Bundle::new();
    b.edit(|c| {
        c["root"]["readonly"] = json!(false);
        c["linux"]["readonlyPaths"]
            .as_array_mut()
            .unwrap()
            .push(json!("/rodir"));
    });
    std::fs::create_dir_all(b.rootfs().join("rodir")).unwrap();
    let o = run_in(
        &mut b,
        "echo 1 > /proc/sys/kernel/ns_last_pid; echo rc=$?; \
         touch /rodir/x; echo rc=$?; touch /rwfile; echo rc=$?; \
         echo 1 > /proc/sysrq-trigger; echo rc=$?",
    );
    o.ok();
    assert_eq!(o.stdout, "rc=1\nrc=1\nrc=0\nrc=1\n", "{o}");
}

#[test]
fn linux_devices_are_created() {
    let mut b = Bundle::new();
    b.edit(|c| {
        c["linux"]["devices"] = json!([
            {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o640, "uid": 0, "gid": 0},
            {"path": "/dev/sub/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666}
        ]);
    });
    let o = run_in(
        &mut b,
        "stat -c '%t %T %a %F %u %g' /dev/fuse; stat -c '%t %T %a' /dev/sub/mynull; \
         echo x > /dev/sub/mynull && echo wrote",
    );
    o.ok();
    assert_eq!(
        o.stdout, "a e5 640 character special file 0 0\n1 3 666\nwrote\n",
        "{o}"
    );
}

#[test]
fn default_devices_work() {
    let mut b = Bundle::new();
    let o = run_in(
        &mut b,
        "echo x > /dev/null && echo null-ok; head -c 4 /dev/zero | wc -c; \
         head -c 4 /dev/urandom | wc -c; echo x > /dev/full; echo full-rc=$?; \
         for d in null zero full random urandom tty; do stat -c '%n %t,%T %a' /dev/$d; done; \
         for l in ptmx fd stdin; do readlink /dev/$l; done; test -d /dev/pts && test -d /dev/shm && echo dirs",
    );
    o.ok();
    let want = "null-ok\n4\n4\nfull-rc=1\n\
        /dev/null 1,3 666\n/dev/zero 1,5 666\n/dev/full 1,7 666\n\
        /dev/random 1,8 666\n/dev/urandom 1,9 666\n/dev/tty 5,0 666\n\
        pts/ptmx\n/proc/self/fd\n/proc/self/fd/0\ndirs\n";
    assert_eq!(o.stdout, want, "{o}");
}

#[test]
fn device_cgroup_denies_unlisted_devices() {
    // /dev/fuse exists (mknod is allowed) but the device cgroup only allows
    // access to devices the config lists: a node made inside cannot be opened.
    let mut b = Bundle::with_applets(&["mknod"]);
    b.edit(|c| {
        c["process"]["capabilities"]["bounding"] = json!(["CAP_MKNOD", "CAP_DAC_OVERRIDE"]);
        c["process"]["capabilities"]["effective"] = json!(["CAP_MKNOD", "CAP_DAC_OVERRIDE"]);
        c["process"]["capabilities"]["permitted"] = json!(["CAP_MKNOD", "CAP_DAC_OVERRIDE"]);
    });
    let o = run_in(
        &mut b,
        "mknod /dev/mem2 c 1 1 && echo made; head -c 1 /dev/mem2 > /dev/null; echo rc=$?",
    );
    o.ok();
    assert!(o.stdout.starts_with("made\nrc=1"), "{o}");
    assert!(o.stderr.contains("Operation not permitted"), "{o}");
}

#[test]
fn hostname_and_domainname() {
    let mut b = Bundle::new();
    b.edit(|c| {
        c["hostname"] = json!("myhost");
        c["domainname"] = json!("example.org");
    });
    let o = run_in(
        &mut b,
        "hostname; uname -n; cat /proc/sys/kernel/domainname",
    );
    o.ok();
    assert_eq!(o.stdout, "myhost\nmyhost\nexample.org\n", "{o}");
    // The host's names are untouched.
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_ne!(h.trim(), "myhost");
}

#[test]
fn sysctl_in_net_namespace() {
    let mut b = Bundle::new();
    let host_before = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let want = if host_before.trim() == "1" { "0" } else { "1" };
    b.edit(|c| {
        c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": want, "kernel.shmmni": "1234"});
    });
    let o = run_in(
        &mut b,
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni; sysctl -n net.ipv4.ip_forward",
    );
    o.ok();
    assert_eq!(o.stdout, format!("{want}\n1234\n{want}\n"), "{o}");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        host_before,
        "the host's sysctl changed"
    );
}

#[test]
fn proc_and_sys_are_the_containers() {
    let mut b = Bundle::new();
    let o = run_in(
        &mut b,
        &format!(
            "ls /proc | grep -E '^[0-9]+$' | xargs; touch /sys/x 2>/dev/null; echo rc=$?; \
             test -e /sys/fs/cgroup/{} && echo cg",
            // A v1 hierarchy, or the cgroup2 root on a pure v2 host.
            if cgroup_v2() {
                "cgroup.controllers"
            } else {
                "memory"
            }
        ),
    );
    o.ok();
    let mut l = o.stdout.lines();
    // pid 1 (sh) and the pipeline's processes only: no host pids.
    let pids: Vec<i32> = l
        .next()
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert!(pids.contains(&1), "{o}");
    assert!(pids.iter().all(|p| *p < 20), "host pids visible: {o}");
    assert_eq!(l.next(), Some("rc=1"), "/sys must be read-only: {o}");
    assert_eq!(l.next(), Some("cg"), "{o}");
}

#[test]
fn tmpcopyup_copies_image_content() {
    let mut b = Bundle::new();
    std::fs::create_dir_all(b.rootfs().join("var/cache")).unwrap();
    std::fs::write(b.rootfs().join("var/cache/seed"), "seed\n").unwrap();
    b.add_mount(json!({
        "destination": "/var/cache", "type": "tmpfs", "source": "tmpfs",
        "options": ["tmpcopyup"]
    }));
    let o = run_in(
        &mut b,
        "cat /var/cache/seed; echo new > /var/cache/n && echo w",
    );
    o.ok();
    assert_eq!(o.stdout, "seed\nw\n", "{o}");
    assert!(
        !b.rootfs().join("var/cache/n").exists(),
        "wrote through to the image"
    );
}

#[test]
fn recursive_readonly_bind() {
    // `rro` makes the bind mount and every mount below it read-only
    // (mount_setattr with AT_RECURSIVE); plain `ro` only the top one.
    let host = tempfile::tempdir().unwrap();
    let sub = host.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let st = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "tmpfs"])
        .arg(&sub)
        .status()
        .unwrap();
    assert!(st.success());
    let mut b = Bundle::new();
    b.add_mount(json!({
        "destination": "/data", "type": "bind", "source": host.path(),
        "options": ["rbind", "rro"]
    }));
    let o = run_in(
        &mut b,
        "touch /data/x 2>/dev/null && echo top-writable; touch /data/sub/y 2>/dev/null && echo sub-writable; echo done",
    );
    let _ = std::process::Command::new("umount").arg(&sub).status();
    o.ok();
    assert_eq!(o.stdout, "done\n", "{o}");
}

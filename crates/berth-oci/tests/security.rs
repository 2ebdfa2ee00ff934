//! Security regressions: symlinked mount destinations, leaked fds, the
//! cwd, and /proc/PID/exe.

mod common;
use common::*;
use serde_json::json;
use std::os::fd::AsRawFd;

/// The capabilities in our own bounding set (what a privileged container can get here).
fn host_capabilities() -> Vec<String> {
    let mut v: Vec<String> = caps::read(None, caps::CapSet::Bounding)
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    v.sort();
    v
}

fn host_mounts_under(p: &std::path::Path) -> Vec<String> {
    let p = std::fs::canonicalize(p).unwrap();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .nth(4)
                .is_some_and(|m| std::path::Path::new(m).starts_with(&p))
        })
        .map(String::from)
        .collect()
}

#[test]
fn symlink_mount_destination_stays_in_rootfs() {
    let hostdir = tempfile::tempdir().unwrap();
    std::fs::write(hostdir.path().join("precious"), "host data\n").unwrap();
    let mut b = Bundle::new();
    // rootfs/evil -> <absolute host path>; rootfs/up -> ../../../../..
    std::os::unix::fs::symlink(hostdir.path(), b.rootfs().join("evil")).unwrap();
    std::os::unix::fs::symlink("../../../../../../..", b.rootfs().join("up")).unwrap();
    b.add_mount(json!({"destination": "/evil", "type": "tmpfs", "source": "tmpfs"}));
    b.add_mount(json!({"destination": "/up/escaped", "type": "tmpfs", "source": "tmpfs"}));
    b.add_mount(
        json!({"destination": "/../../../../escaped2", "type": "tmpfs", "source": "tmpfs"}),
    );
    let rt = Runtime::new();
    let id = unique_id("symlink");
    b.args(&["sleep", "1000"]);
    // The symlink's target exists inside the rootfs too (as it would in an
    // image that tries this): resolution in the root must land there.
    let inside = b.rootfs().join(hostdir.path().strip_prefix("/").unwrap());
    std::fs::create_dir_all(&inside).unwrap();
    rt.run_detached(&b, &id).ok();
    // While it runs (mounts exist), nothing is mounted on the host path.
    assert!(
        host_mounts_under(hostdir.path()).is_empty(),
        "{:?}",
        host_mounts_under(hostdir.path())
    );
    // Inside, /evil resolves (in the root) to a tmpfs: writing there must
    // not reach the host directory.
    rt.exec(
        &id,
        &[
            "sh",
            "-c",
            "echo pwned > /evil/precious; echo x > /escaped/x; echo y > /escaped2/y",
        ],
    )
    .ok();
    assert_eq!(
        std::fs::read_to_string(hostdir.path().join("precious")).unwrap(),
        "host data\n"
    );
    assert!(!std::path::Path::new("/escaped").exists());
    assert!(!std::path::Path::new("/escaped2").exists());
    // And the container's mount namespace really has the tmpfs inside its root.
    let pid = rt.pid(&id);
    let mi = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let hd = hostdir.path().to_str().unwrap();
    assert!(
        mi.lines().any(|l| l.split_whitespace().nth(4) == Some(hd)),
        "tmpfs should be at {hd} inside the container root:\n{mi}"
    );
    rt.delete_force(&id).ok();
    assert!(host_mounts_under(hostdir.path()).is_empty());
    assert_eq!(std::fs::read_dir(hostdir.path()).unwrap().count(), 1);
}

#[test]
fn dangling_symlink_mount_destination_is_created_inside_rootfs() {
    // rootfs/evil -> /<host path> that does not exist in the rootfs: the
    // mount point must be created inside the rootfs (runc's MkdirAllInRoot,
    // and the runtime's own unit test rootfs::mkdir_all_stays_inside_root).
    let hostdir = tempfile::tempdir().unwrap();
    let mut b = Bundle::new();
    std::os::unix::fs::symlink(hostdir.path(), b.rootfs().join("evil")).unwrap();
    b.add_mount(json!({"destination": "/evil/sub", "type": "tmpfs", "source": "tmpfs"}));
    b.sh("echo x > /evil/sub/f && cat /evil/sub/f");
    let rt = Runtime::new();
    let o = rt.run(&b, &unique_id("dangling"));
    // Whatever happens, the host path is untouched.
    assert_eq!(std::fs::read_dir(hostdir.path()).unwrap().count(), 0);
    assert!(host_mounts_under(hostdir.path()).is_empty());
    o.ok();
    assert_eq!(o.stdout, "x\n");
    assert!(b
        .rootfs()
        .join(hostdir.path().strip_prefix("/").unwrap())
        .join("sub")
        .is_dir());
}

#[test]
fn symlink_bind_mount_destination_stays_in_rootfs() {
    let hostdir = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("payload"), "payload\n").unwrap();
    let mut b = Bundle::new();
    std::os::unix::fs::symlink(hostdir.path(), b.rootfs().join("evil")).unwrap();
    std::fs::create_dir_all(b.rootfs().join(hostdir.path().strip_prefix("/").unwrap())).unwrap();
    b.add_mount(
        json!({"destination": "/evil", "type": "bind", "source": src.path(), "options": ["bind"]}),
    );
    b.sh("cat /evil/payload");
    let rt = Runtime::new();
    let o = rt.run(&b, &unique_id("symbind"));
    o.ok();
    assert_eq!(o.stdout, "payload\n");
    assert_eq!(std::fs::read_dir(hostdir.path()).unwrap().count(), 0);
    assert!(host_mounts_under(hostdir.path()).is_empty());
}

#[test]
fn symlink_device_path_stays_in_rootfs() {
    let hostdir = tempfile::tempdir().unwrap();
    let mut b = Bundle::new();
    // Remove the /dev tmpfs so that /dev is the image's, with a hostile symlink.
    b.edit(|c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| !m["destination"].as_str().unwrap().starts_with("/dev"));
        c["linux"]["devices"] = json!([
            {"path": "/dev/evil/null2", "type": "c", "major": 1, "minor": 3}
        ]);
    });
    std::os::unix::fs::symlink(hostdir.path(), b.rootfs().join("dev/evil")).unwrap();
    let rt = Runtime::new();
    let _ = rt.run(&b, &unique_id("symdev"));
    assert_eq!(
        std::fs::read_dir(hostdir.path()).unwrap().count(),
        0,
        "device node created on the host"
    );
}

#[test]
fn no_fds_leak_into_the_container() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.sh("ls /proc/self/fd | xargs");
    let id = unique_id("fds");
    let o = rt.run(&b, &id);
    o.ok();
    // 0 1 2, and 3 is the directory ls itself opened.
    assert_eq!(o.stdout.trim(), "0 1 2 3", "{o}");

    // create + start path, and an extra fd the caller passes to the runtime.
    let extra = std::fs::File::open("/etc/hostname").unwrap();
    let raw = extra.as_raw_fd();
    let id = unique_id("fds2");
    rt.track(&id);
    let mut c = rt.command(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    // SAFETY: the pre_exec closure only calls async-signal-safe dup2/fcntl.
    unsafe {
        use std::os::unix::process::CommandExt;
        c.pre_exec(move || {
            // Keep the file open across exec as fd 7.
            if libc::dup2(raw, 7) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let created = rt.cmd_with(c, "create with fd 7");
    created.ok();
    rt.start(&id).ok();
    assert_eq!(rt.wait_status(&id, "stopped", SHORT), "stopped");
    assert!(wait_until(SHORT, || !created.stdout_now().is_empty()));
    assert_eq!(created.stdout_now().trim(), "0 1 2 3", "{created}");
}

#[test]
fn preserve_fds_passes_exactly_n() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.sh("ls /proc/self/fd | xargs; cat <&3");
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), "via fd 3\n").unwrap();
    let f = std::fs::File::open(tmp.path()).unwrap();
    let raw = f.as_raw_fd();
    let id = unique_id("pfds");
    rt.track(&id);
    let mut c = rt.command(&[
        "run",
        "--preserve-fds",
        "1",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    // SAFETY: the pre_exec closure only calls async-signal-safe dup2/fcntl.
    unsafe {
        use std::os::unix::process::CommandExt;
        c.pre_exec(move || {
            if libc::dup2(raw, 3) < 0 || libc::dup2(raw, 4) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let o = rt.cmd_with(c, "run --preserve-fds 1");
    o.ok();
    assert_eq!(
        o.stdout, "0 1 2 3 4\nvia fd 3\n",
        "fd 4 (ls's own dir fd) only; {o}"
    );
}

#[test]
fn cwd_is_inside_the_container() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    std::fs::write(b.rootfs().join("marker-in-rootfs"), "").unwrap();
    b.sh("readlink /proc/self/cwd; ls /proc/self/cwd/../../../../ | grep -c marker-in-rootfs");
    let o = rt.run(&b, &unique_id("cwd"));
    o.ok();
    assert_eq!(o.stdout, "/\n1\n", "{o}");
}

#[test]
fn cwd_via_proc_self_fd_cannot_reach_host() {
    // CVE-2024-21626: a cwd of /proc/self/fd/N must never resolve to a
    // runtime fd pointing at a host directory.
    let rt = Runtime::new();
    for n in 3..12 {
        let mut b = Bundle::new();
        std::fs::write(b.rootfs().join("marker-in-rootfs"), "").unwrap();
        b.edit(|c| c["process"]["cwd"] = json!(format!("/proc/self/fd/{n}")));
        b.sh("ls ../../../../ | grep -c marker-in-rootfs");
        let o = rt.run(&b, &unique_id("cve"));
        if o.success() {
            assert_eq!(o.stdout.trim(), "1", "cwd {n} escaped the rootfs: {o}");
        }
    }
}

#[test]
fn proc_self_exe_is_not_the_runtime() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.sh("readlink /proc/self/exe; sleep 1000");
    let id = unique_id("exe");
    let created = rt.create(&b, &id);
    created.ok();
    rt.start(&id).ok();
    assert!(wait_until(SHORT, || !created.stdout_now().is_empty()));
    assert_eq!(created.stdout_now(), "/bin/busybox\n");
    let pid = rt.pid(&id);
    use std::os::unix::fs::MetadataExt;
    let exe = std::fs::metadata(format!("/proc/{pid}/exe")).unwrap();
    let bb = std::fs::metadata(b.rootfs().join("bin/busybox")).unwrap();
    let me = std::fs::metadata(BIN).unwrap();
    assert_eq!(
        (exe.dev(), exe.ino()),
        (bb.dev(), bb.ino()),
        "init is not busybox"
    );
    assert_ne!((exe.dev(), exe.ino()), (me.dev(), me.ino()));
    let o = rt.exec(&id, &["readlink", "/proc/self/exe"]);
    o.ok();
    assert_eq!(o.stdout, "/bin/busybox\n");
}

#[test]
fn runtime_binary_is_not_reachable_from_a_shared_pid_namespace() {
    // CVE-2019-5736: container B is created (its init is still the runtime,
    // waiting for start) in container A's pid namespace. A process of A must
    // not be able to open B's /proc/PID/exe, i.e. the host's runtime binary.
    // A is privileged (all capabilities): otherwise the capability check of
    // ptrace access alone protects B.
    let rt = Runtime::new();
    let mut a = Bundle::new();
    let all = serde_json::Value::from(host_capabilities());
    a.edit(|c| {
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set] = all.clone();
        }
    });
    a.args(&["sleep", "1000"]);
    let ida = unique_id("cvea");
    rt.run_detached(&a, &ida).ok();
    let pa = rt.pid(&ida);
    let mut bb = Bundle::new();
    bb.args(&["sleep", "1000"]);
    bb.set_namespace(json!({"type": "pid", "path": format!("/proc/{pa}/ns/pid")}));
    let idb = unique_id("cveb");
    rt.create(&bb, &idb).ok();
    assert_eq!(rt.status(&idb), "created");
    let o = rt.exec(
        &ida,
        &[
            "sh",
            "-c",
            "for p in /proc/[0-9]*; do head -c 4 $p/exe 2>/dev/null | wc -c | grep -q 4 && \
             echo \"$p $(readlink $p/exe)\"; done",
        ],
    );
    o.ok();
    // A binary that is on a read-only mount already runs as it is (as on the
    // read-only / of tests/vm/run-cgroup2.sh's VM).
    let bin_ro = on_readonly_mount(std::path::Path::new(BIN));
    for l in o.stdout.lines() {
        // The runtime runs from a read-only detached mount of its binary
        // (shown as "/") or a sealed memfd copy: readable, never writable.
        assert!(
            l.ends_with("/bin/busybox")
                || l.ends_with("sleep")
                || l.ends_with(" /")
                || l.ends_with("/memfd:berth-oci (deleted)")
                || (bin_ro && l.ends_with(&format!(" {BIN}"))),
            "a container process can read a non-container executable: {l}\n{o}"
        );
    }
    let before = std::fs::read(BIN).unwrap();
    let w = rt.exec(
        &ida,
        &[
            "sh",
            "-c",
            "for p in /proc/[0-9]*; do readlink $p/exe | grep -q busybox || \
             { printf XXXX >> $p/exe && echo WROTE $p; }; done; true",
        ],
    );
    w.ok();
    assert!(
        !w.stdout.contains("WROTE"),
        "the runtime copy was writable: {w}"
    );
    assert!(
        std::fs::read(BIN).unwrap() == before,
        "the runtime binary changed"
    );
}

/// Docker's default capability set (what `berth run` gives containers).
const DOCKER_CAPS: &[&str] = oci_runtime::capabilities::DOCKER_DEFAULT;

#[test]
fn readonly_and_masked_proc_paths_cannot_be_undone() {
    // With Docker's capabilities, a container cannot remount /proc/sys
    // read-write, unmount a mask, or mount a fresh proc to get around them.
    let mut b = Bundle::new();
    let caps = serde_json::Value::from(DOCKER_CAPS.to_vec());
    b.edit(|c| {
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set] = caps.clone();
        }
        c["linux"]["maskedPaths"] =
            serde_json::json!(["/proc/kcore", "/proc/timer_list", "/proc/acpi"]);
    });
    b.sh(
        "echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo WROTE-SYS; \
         mount -o remount,rw /proc/sys 2>/dev/null && echo REMOUNTED; \
         umount /proc/timer_list 2>/dev/null && echo UNMASKED; \
         mkdir -p /tmp/p && mount -t proc proc /tmp/p 2>/dev/null && echo NEWPROC; \
         head -c 10 /proc/timer_list | wc -c; echo done",
    );
    b.edit(|c| c["root"]["readonly"] = serde_json::json!(false));
    let rt = Runtime::new();
    let o = rt.run(&b, &unique_id("remount"));
    o.ok();
    assert_eq!(o.stdout, "0\ndone\n", "a protection was undone: {o}");
}

#[test]
fn cve_2025_31133_masked_path_dev_null_symlink_does_not_unmask() {
    // A /dev/null that is a symlink (here to a procfs file) must not be what
    // masks /proc/timer_list: the runtime refuses instead of binding the target.
    // The swap happens after the runtime made /dev/null and before it masks
    // (as a container sharing /dev would race it): in a createContainer
    // hook, which runs in the container's mount namespace at that point.
    let rt = Runtime::new();
    let mut b = Bundle::new();
    let null = b.rootfs().join("dev/null");
    let swap = format!(
        "rm -f {n} && ln -s /proc/sys/kernel/core_pattern {n}",
        n = null.display()
    );
    b.edit(|c| {
        c["linux"]["maskedPaths"] = json!(["/proc/timer_list"]);
        c["hooks"] = json!({"createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", swap]}]});
    });
    b.sh("head -c 64 /proc/timer_list | wc -c");
    let o = rt.run(&b, &unique_id("mask"));
    if o.success() {
        assert_eq!(
            o.stdout.trim(),
            "0",
            "/proc/timer_list was not masked by /dev/null: {o}"
        );
    } else {
        assert!(o.stderr.contains("/dev/null"), "{o}");
    }
}

#[test]
fn cve_2025_52881_sysctl_write_is_not_redirected_by_a_mount() {
    // A mount over a /proc/sys file (here a bind of a host file, placed
    // after the runtime's mounts by a createContainer hook, as a racing
    // mount from a container sharing the namespace would) must not receive
    // the runtime's sysctl write. (A mounts[] entry under /proc is refused.)
    let rt = Runtime::new();
    let mut b = Bundle::new();
    let host = rt.scratch.path().join("host-file");
    std::fs::write(&host, "sentinel\n").unwrap();
    let over = format!(
        "mount --bind {} {}/proc/sys/net/ipv4/ip_forward",
        host.display(),
        b.rootfs().display()
    );
    b.edit(|c| {
        c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
        c["hooks"] = json!({"createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", over]}]});
    });
    b.args(&["true"]);
    let o = rt.run(&b, &unique_id("sysctl"));
    assert_eq!(
        std::fs::read_to_string(&host).unwrap(),
        "sentinel\n",
        "the sysctl write went through the mount: {o}"
    );
    assert!(!o.success(), "{o}");
    assert!(o.stderr.contains("net.ipv4.ip_forward"), "{o}");
}

#[test]
fn cve_2025_52881_oom_score_adj_write_is_not_redirected_by_a_mount() {
    // The same for the process's own /proc files (oom_score_adj here; the
    // LSM labels of attr/ take the same path): written only to procfs.
    let rt = Runtime::new();
    let mut b = Bundle::new();
    let host = rt.scratch.path().join("host-file");
    std::fs::write(&host, "sentinel\n").unwrap();
    let over = format!(
        "mount --bind {} {}/proc/1/task/1/oom_score_adj",
        host.display(),
        b.rootfs().display()
    );
    b.edit(|c| {
        c["process"]["oomScoreAdj"] = json!(500);
        c["hooks"] = json!({"createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", over]}]});
    });
    b.args(&["true"]);
    let o = rt.run(&b, &unique_id("oomadj"));
    assert_eq!(
        std::fs::read_to_string(&host).unwrap(),
        "sentinel\n",
        "the oom_score_adj write went through the mount: {o}"
    );
    assert!(!o.success(), "{o}");
    assert!(o.stderr.contains("oomScoreAdj"), "{o}");
}

#[test]
fn state_root_is_private_to_root() {
    // Container states hold config.json (environment included): the state
    // root is 0700, and a looser existing one is tightened.
    use std::os::unix::fs::PermissionsExt;
    let rt = Runtime::new();
    std::fs::set_permissions(rt.root_path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut b = Bundle::new();
    b.args(&["true"]);
    rt.run(&b, &unique_id("priv")).ok();
    let mode = std::fs::metadata(rt.root_path())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700);
}

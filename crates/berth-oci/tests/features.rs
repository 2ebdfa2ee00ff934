//! Config fields beyond the basics: seccomp (actions, args, errnoRet,
//! notify), time namespace, personality, ioPriority, scheduler,
//! --preserve-fds, --no-pivot, rootfsPropagation, sysctl.

mod common;
use common::*;
use serde_json::json;

fn run_sh(b: &mut Bundle, script: &str) -> Out {
    let rt = Runtime::new();
    b.sh(script);
    rt.run(b, &unique_id("feat"))
}

#[test]
fn seccomp_errno_and_args() {
    let mut b = Bundle::new();
    b.edit(|c| {
        c["root"]["readonly"] = json!(false);
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                // mkdir fails with EACCES; chmod only for mode 0777 (arg 1), with EPERM.
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                {"names": ["chmod", "fchmodat"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 1, "value": 511, "op": "SCMP_CMP_EQ"}]},
                {"names": ["no_such_syscall"], "action": "SCMP_ACT_ERRNO"}
            ]
        });
    });
    let rt = Runtime::new();
    b.sh("rm -rf /tmp/d /tmp/f; mkdir /tmp/d 2>&1; touch /tmp/f; chmod 644 /tmp/f && echo chmod644-ok; chmod 777 /tmp/f 2>&1; true");
    let cache = rt.root.path().join("@seccomp-cache");
    let cached = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&cache)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    };
    // The first run compiles the profile and caches the program; the second
    // installs the cached program; a damaged cache entry is compiled again.
    for round in 0..3 {
        if round == 2 {
            std::fs::write(&cached()[0], b"bad").unwrap();
        }
        let o = rt.run(&b, &unique_id("feat"));
        o.ok();
        assert!(
            o.stdout.contains("Permission denied"),
            "mkdir must get EACCES (round {round}): {o}"
        );
        assert!(o.stdout.contains("chmod644-ok"), "{o}");
        assert!(
            o.stdout.contains("Operation not permitted"),
            "chmod 0777 must get EPERM (round {round}): {o}"
        );
        let files = cached();
        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!(std::fs::metadata(&files[0]).unwrap().len() % 8, 0);
    }
    // The cache is not a container.
    let o = rt.cmd(&["list", "-q"]);
    o.ok();
    assert_eq!(o.stdout.trim(), "", "{o}");
}

#[test]
fn seccomp_kill_process_default() {
    // SCMP_ACT_KILL_PROCESS on uname: the process dies of SIGSYS.
    let mut b = Bundle::new();
    b.edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["uname"], "action": "SCMP_ACT_KILL_PROCESS"}]
        });
    });
    let rt = Runtime::new();
    b.args(&["uname"]);
    let o = rt.run(&b, &unique_id("seckill"));
    assert_eq!(o.code, 128 + 31, "uname must die of SIGSYS: {o}");
}

#[test]
fn seccomp_notify_sends_listener_fd() {
    use std::os::unix::net::UnixListener;
    let d = tempfile::tempdir().unwrap();
    let sock = d.path().join("notify.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let got = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        use std::os::fd::AsRawFd;
        // Receive the payload (the container process state) and one fd.
        let mut buf = vec![0u8; 8192];
        let mut cmsg = [0u8; 64];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr() as *mut _,
            iov_len: buf.len(),
        };
        // SAFETY: msghdr is plain data; all-zero is a valid value.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cmsg.as_mut_ptr() as *mut _;
        msg.msg_controllen = cmsg.len();
        // SAFETY: msg points at iov and cmsg, which outlive the call.
        let n = unsafe { libc::recvmsg(s.as_raw_fd(), &mut msg, 0) };
        assert!(n > 0);
        let has_fd = msg.msg_controllen > 0;
        (
            String::from_utf8_lossy(&buf[..n as usize]).into_owned(),
            has_fd,
        )
    });
    let mut b = Bundle::new();
    b.edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": sock,
            "listenerMetadata": "meta-42",
            "syscalls": [{"names": ["mknodat"], "action": "SCMP_ACT_NOTIFY"}]
        });
    });
    b.args(&["true"]);
    let rt = Runtime::new();
    let id = unique_id("notify");
    rt.run(&b, &id).ok();
    let (payload, has_fd) = got.join().unwrap();
    assert!(has_fd, "no descriptor received");
    let v: serde_json::Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(v["metadata"], "meta-42");
    assert_eq!(v["fds"], json!(["seccompFd"]));
    assert_eq!(v["state"]["id"], id);
}

#[test]
fn time_namespace_offsets() {
    let mut b = Bundle::new();
    b.set_namespace(json!({"type": "time"}));
    b.edit(|c| {
        c["linux"]["timeOffsets"] =
            json!({"boottime": {"secs": 86400 * 365}, "monotonic": {"secs": 1000}})
    });
    let o = run_sh(&mut b, "cut -d. -f1 /proc/uptime");
    o.ok();
    let up: u64 = o.stdout.trim().parse().unwrap();
    assert!(up >= 86400 * 365, "boottime offset not applied: {o}");
}

#[test]
fn personality_linux32() {
    let mut b = Bundle::new();
    b.edit(|c| c["linux"]["personality"] = json!({"domain": "LINUX32"}));
    let o = run_sh(&mut b, "uname -m");
    o.ok();
    assert_eq!(o.stdout.trim(), "i686", "{o}");
}

#[test]
fn io_priority_and_scheduler() {
    let mut b = Bundle::new();
    b.edit(|c| {
        c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 6});
        c["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 5});
    });
    let o = run_sh(&mut b, "cut -d' ' -f19,41 /proc/self/stat");
    o.ok();
    // Field 19 is nice, field 41 the policy (3 = SCHED_BATCH).
    assert_eq!(o.stdout.trim(), "5 3", "{o}");
}

#[test]
fn preserve_fds_pass_through() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("passed");
    std::fs::write(&f, "through fd 3\n").unwrap();
    let mut b = Bundle::new();
    b.sh("cat <&3; ls /proc/self/fd | tr '\\n' ' '");
    let rt = Runtime::new();
    let mut c = rt.command(&[
        "run",
        "--preserve-fds",
        "1",
        "--bundle",
        b.path().to_str().unwrap(),
        &unique_id("pfd"),
    ]);
    let file = std::fs::File::open(&f).unwrap();
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let raw = file.as_raw_fd();
    // SAFETY: the pre_exec closure only calls async-signal-safe dup2/fcntl.
    unsafe {
        c.pre_exec(move || {
            // dup2 onto itself would keep close-on-exec: clear it instead.
            let r = if raw == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(raw, 3)
            };
            if r < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let o = rt.cmd_with(c, "run --preserve-fds 1");
    o.ok();
    assert!(o.stdout.starts_with("through fd 3\n"), "{o}");
    assert!(
        o.stdout.contains(" 3 "),
        "fd 3 must be open in the container: {o}"
    );
}

#[test]
fn no_pivot_runs() {
    let mut b = Bundle::new();
    b.sh("echo no-pivot-ok; cat /proc/self/mountinfo | head -1");
    let rt = Runtime::new();
    let o = rt.run_args(&b, &unique_id("nopivot"), &["--no-pivot"]);
    o.ok();
    assert!(o.stdout.starts_with("no-pivot-ok"), "{o}");
}

#[test]
fn rootfs_propagation_shared() {
    let mut b = Bundle::new();
    b.edit(|c| c["linux"]["rootfsPropagation"] = json!("shared"));
    let o = run_sh(&mut b, "awk '$5 == \"/\"' /proc/self/mountinfo");
    o.ok();
    assert!(
        o.stdout.contains("shared:"),
        "root must be a shared mount: {o}"
    );
}

#[test]
fn sysctl_in_own_namespaces() {
    let mut b = Bundle::new();
    b.edit(|c| {
        c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.shmmax": "65536"})
    });
    let o = run_sh(
        &mut b,
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax",
    );
    o.ok();
    assert_eq!(o.stdout, "1\n65536\n", "{o}");
}

#[test]
fn idmapped_bind_mount() {
    // Files owned by 1000 on disk show as 0 through the mount, and root's
    // writes land on disk as 1000.
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("f"), "data\n").unwrap();
    std::os::unix::fs::chown(host.path(), Some(1000), Some(1000)).unwrap();
    std::os::unix::fs::chown(host.path().join("f"), Some(1000), Some(1000)).unwrap();
    let mut b = Bundle::new();
    b.add_mount(json!({
        "destination": "/data", "type": "bind", "source": host.path(), "options": ["bind", "idmap"],
        "uidMappings": [{"containerID": 1000, "hostID": 0, "size": 1}],
        "gidMappings": [{"containerID": 1000, "hostID": 0, "size": 1}]
    }));
    let o = run_sh(
        &mut b,
        "stat -c %u:%g /data/f; echo x > /data/new && echo wrote",
    );
    o.ok();
    assert_eq!(o.stdout, "0:0\nwrote\n", "{o}");
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(host.path().join("new")).unwrap();
    assert_eq!((m.uid(), m.gid()), (1000, 1000));
}

#[test]
fn idmapped_mount_uses_container_user_namespace() {
    // In a user namespace (0 -> 100000), an idmap mount without mappings of
    // its own uses the container's: host root's files show as owned by root.
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("f"), "data\n").unwrap();
    let mut b = Bundle::new();
    b.set_namespace(json!({"type": "user"}));
    b.edit(|c| {
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    });
    b.add_mount(json!({
        "destination": "/data", "type": "bind", "source": host.path(), "options": ["bind", "idmap"]
    }));
    // The rootfs must be reachable by the mapped root.
    let st = std::process::Command::new("chown")
        .args(["-R", "100000:100000"])
        .arg(b.path())
        .status()
        .unwrap();
    assert!(st.success());
    let o = run_sh(&mut b, "stat -c %u:%g /data/f; cat /proc/self/uid_map");
    o.ok();
    assert!(o.stdout.starts_with("0:0\n"), "{o}");
}

#[test]
fn idmap_without_mappings_is_refused() {
    let host = tempfile::tempdir().unwrap();
    let mut b = Bundle::new();
    b.add_mount(json!({
        "destination": "/data", "type": "bind", "source": host.path(), "options": ["bind", "idmap"]
    }));
    b.args(&["true"]);
    let rt = Runtime::new();
    let id = unique_id("idmapbad");
    let o = rt.run(&b, &id);
    let e = o.fails();
    assert!(e.contains("mounts[") && e.contains("uidMappings"), "{o}");
    assert!(!rt.state_dir(&id).exists());
}

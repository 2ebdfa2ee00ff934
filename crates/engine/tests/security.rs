//! Docker's security defaults inside the container, and the flags that change them.
mod common;

use common::*;

fn status_field(env: &Env, o: &engine::CreateFlags, field: &str) -> String {
    let (code, out, err) = env.run(o);
    assert_eq!(code, 0, "{out} {err}");
    out.lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("{field} missing: {out}"))
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}

#[test]
fn default_capabilities_and_seccomp() {
    let env = Env::new();
    let o = env.opts(&["cat", "/proc/self/status"]);
    assert_eq!(status_field(&env, &o, "CapEff:"), "00000000a80425fb");
    assert_eq!(status_field(&env, &o, "CapBnd:"), "00000000a80425fb");
    assert_eq!(status_field(&env, &o, "Seccomp:"), "2");
    assert_eq!(status_field(&env, &o, "NoNewPrivs:"), "0");
    // The profile works: fork (clone without namespace flags) is allowed,
    // mount and unshare (need CAP_SYS_ADMIN) are not.
    let out = env.out(&[
        "sh",
        "-c",
        "echo $(echo nested); mount -t tmpfs t /tmp 2>&1; echo rc=$?",
    ]);
    assert!(out.starts_with("nested\n"), "{out}");
    assert!(out.contains("rc=1") || out.contains("rc=255"), "{out}");
}

#[test]
fn cap_add_drop_privileged_and_unconfined() {
    let env = Env::new();
    let mut o = env.opts(&["cat", "/proc/self/status"]);
    o.cap_drop = vec!["ALL".into()];
    o.cap_add = vec!["kill".into()];
    assert_eq!(status_field(&env, &o, "CapEff:"), "0000000000000020");
    let mut o = env.opts(&["cat", "/proc/self/status"]);
    o.cap_drop = vec!["NET_RAW".into(), "CAP_MKNOD".into()];
    assert_eq!(
        status_field(&env, &o, "CapEff:"),
        format!("{:016x}", 0xa80425fbu64 & !(1 << 13) & !(1 << 27))
    );
    let mut o = env.opts(&["cat", "/proc/self/status"]);
    o.security_opt = vec!["seccomp=unconfined".into(), "no-new-privileges".into()];
    assert_eq!(status_field(&env, &o, "Seccomp:"), "0");
    assert_eq!(status_field(&env, &o, "NoNewPrivs:"), "1");
    let mut o = env.opts(&["cat", "/proc/self/status"]);
    o.privileged = true;
    assert_eq!(status_field(&env, &o, "Seccomp:"), "0");
    // All capabilities the engine holds (a sandbox may hold fewer than the kernel knows).
    let bnd = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:").map(|v| v.trim().to_string()))
        .unwrap();
    assert_eq!(status_field(&env, &o, "CapEff:"), bnd);
    // Errors name the flag.
    let mut o = env.opts(&["true"]);
    o.cap_add = vec!["BOGUS".into()];
    let e = env.create(&o).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid --cap-add \"BOGUS\": unknown capability"
    );
    assert_eq!(e.exit_code(), 125);
    let mut o = env.opts(&["true"]);
    o.security_opt = vec!["weird".into()];
    assert!(env
        .create(&o)
        .unwrap_err()
        .to_string()
        .starts_with("invalid --security-opt \"weird\""));
}

#[test]
fn custom_seccomp_profile() {
    let env = Env::new();
    let p = env.dir.path().join("deny-mkdir.json");
    std::fs::write(
        &p,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#,
    )
    .unwrap();
    let mut o = env.opts(&["sh", "-c", "mkdir /tmp/x 2>&1; echo rc=$?"]);
    o.security_opt = vec![format!("seccomp={}", p.display())];
    let (_, out, _) = env.run(&o);
    assert!(
        out.contains("Operation not permitted") && out.contains("rc=1"),
        "{out}"
    );
}

#[test]
fn masked_and_readonly_paths() {
    let env = Env::new();
    // A masked /proc file that exists on this kernel reads empty.
    let f = [
        "/proc/keys",
        "/proc/timer_list",
        "/proc/kcore",
        "/proc/sched_debug",
    ]
    .into_iter()
    .find(|f| std::path::Path::new(f).exists())
    .expect("a maskable /proc file");
    let (code, out, err) = env.run(&env.opts(&[
        "sh",
        "-c",
        &format!("wc -c < {f}; ls /sys/firmware | wc -l; echo 1 > /proc/sys/kernel/domainname 2>/dev/null || echo ro"),
    ]));
    assert_eq!((code, out.as_str()), (0, "0\n0\nro\n"), "{err}");
    let mut o = env.opts(&["sh", "-c", "ls /sys/firmware | wc -l"]);
    o.privileged = true;
    let (_, out, _) = env.run(&o);
    assert_ne!(out.trim(), "0", "privileged: nothing masked");
}

#[test]
fn read_only_rootfs() {
    let env = Env::new();
    let mut o = env.opts(&[
        "sh",
        "-c",
        "touch /x 2>&1; echo rc=$?; touch /dev/shm/ok && echo shm-ok",
    ]);
    o.read_only = true;
    let (_, out, _) = env.run(&o);
    assert!(
        out.contains("Read-only file system") && out.contains("rc=1"),
        "{out}"
    );
    assert!(out.contains("shm-ok"), "{out}");
    let out = env.out(&["sh", "-c", "touch /x && echo rw-ok"]);
    assert_eq!(out, "rw-ok\n");
}

#[test]
fn default_mounts_and_namespaces() {
    let env = Env::new();
    let out = env.out(&["cat", "/proc/self/mounts"]);
    for (dest, ty) in [
        ("/proc", "proc"),
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
        ("/dev/mqueue", "mqueue"),
        ("/sys", "sysfs"),
        ("/etc/hosts", ""),
        ("/etc/hostname", ""),
        ("/etc/resolv.conf", ""),
    ] {
        assert!(
            out.lines().any(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                f[1] == dest && (ty.is_empty() || f[2] == ty)
            }),
            "{dest} {ty} missing:\n{out}"
        );
    }
    let shm = out
        .lines()
        .find(|l| l.split(' ').nth(1) == Some("/dev/shm"))
        .unwrap();
    assert!(shm.contains("size=65536k"), "{shm}");
    let pts = out
        .lines()
        .find(|l| l.split(' ').nth(1) == Some("/dev/pts"))
        .unwrap();
    assert!(pts.contains("gid=5"), "{pts}");
    let sys = out
        .lines()
        .find(|l| l.split(' ').nth(1) == Some("/sys"))
        .unwrap();
    assert!(sys.contains("ro,"), "{sys}");
    // pid namespace: we are 1; the default bridge network: eth0 and lo.
    let out = env.out(&["sh", "-c", "echo $$; ls /sys/class/net"]);
    assert_eq!(out, "1\neth0\nlo\n");
    // The host's network: the same interfaces as ours. (The exited
    // container's veth goes a moment after `run` returned, so the two
    // counts are compared until they agree.)
    let mut o = env.opts(&["sh", "-c", "ls /sys/class/net | wc -l"]);
    o.network = Some("host".into());
    let t = std::time::Instant::now();
    loop {
        let (_, out, _) = env.run(&o);
        let host = std::fs::read_dir("/sys/class/net").unwrap().count();
        if out.trim() == host.to_string() {
            break;
        }
        assert!(
            t.elapsed() < std::time::Duration::from_secs(10),
            "host network: {} interfaces inside, {host} outside",
            out.trim()
        );
    }
}

/// `sh -c SCRIPT` in a container made by `f`: (exit code, stdout + stderr).
fn sh(env: &Env, script: &str, f: impl FnOnce(&mut engine::CreateFlags)) -> (i32, String) {
    let mut o = env.opts(&["sh", "-c", script]);
    f(&mut o);
    let (code, out, err) = env.run(&o);
    (code, out + &err)
}

const UNSHARE: &str = "busybox unshare -Urm true 2>&1; echo rc=$?";

/// Issue 10, part 8: Docker's default profile denies namespace creation
/// (unshare, clone with namespace flags, mount) without CAP_SYS_ADMIN.
/// With the containers-common profile berth used before, `unshare -Urm`
/// (a user namespace needs no capability from the kernel) worked.
#[test]
fn seccomp_default_denies_unshare_without_sys_admin() {
    let env = Env::new();
    let (code, out) = sh(&env, UNSHARE, |_| {});
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Operation not permitted") && out.contains("rc=1"),
        "{out}"
    );
    // A user namespace alone, too.
    let (_, out) = sh(&env, "busybox unshare -U true 2>&1; echo rc=$?", |_| {});
    assert!(out.contains("Operation not permitted"), "{out}");
    // In an exec as well: it runs under the container's filter.
    let id = env.run_detached(&env.opts(&["sleep", "100"])).unwrap();
    let (r, w) = std::io::pipe().unwrap();
    let stdio = engine::ExecStdio {
        stdout: Some(w.into()),
        ..Default::default()
    };
    let x = engine::ExecOptions {
        cmd: vec!["sh".into(), "-c".into(), UNSHARE.into()],
        ..Default::default()
    };
    assert_eq!(env.engine.exec(&id, &x, stdio).unwrap(), 0);
    let mut s = String::new();
    std::io::Read::read_to_string(&mut { r }, &mut s).unwrap();
    assert!(
        s.contains("Operation not permitted") && s.contains("rc=1"),
        "{s}"
    );
    let _ = env.engine.remove(&id, true);
}

/// As docker: --privileged drops the profile; --cap-add SYS_ADMIN selects
/// its CAP_SYS_ADMIN rules; seccomp=unconfined drops it (and the kernel
/// needs no capability for a user namespace).
#[test]
fn seccomp_unshare_with_privileged_cap_add_or_unconfined() {
    let env = Env::new();
    let ok = |out: &str| out.trim_end().ends_with("rc=0");
    let (_, out) = sh(&env, UNSHARE, |o| o.privileged = true);
    assert!(ok(&out), "privileged: {out}");
    let (_, out) = sh(&env, UNSHARE, |o| o.cap_add = vec!["SYS_ADMIN".into()]);
    assert!(ok(&out), "--cap-add SYS_ADMIN: {out}");
    let (_, out) = sh(&env, UNSHARE, |o| {
        o.cap_add = vec!["SYS_ADMIN".into()];
        o.security_opt = vec!["seccomp=unconfined".into()];
    });
    assert!(ok(&out), "unconfined + SYS_ADMIN: {out}");
    let (_, out) = sh(&env, UNSHARE, |o| {
        o.security_opt = vec!["seccomp=unconfined".into()];
    });
    assert!(ok(&out), "unconfined: {out}");
    // An explicit seccomp=builtin is the default profile.
    let (_, out) = sh(&env, UNSHARE, |o| {
        o.security_opt = vec!["seccomp=builtin".into()];
    });
    assert!(out.contains("Operation not permitted"), "builtin: {out}");
}

/// personality(2): Docker's profile allows PER_LINUX, PER_LINUX32 (and with
/// UNAME26) and the query, nothing else (here: PER_LINUX32|ADDR_NO_RANDOMIZE).
#[test]
fn seccomp_personality_filter() {
    let env = Env::new();
    let script = "busybox linux32 uname -m; busybox linux64 uname -m; \
                  busybox linux32 -R true 2>&1; echo rc=$?";
    let (code, out) = sh(&env, script, |_| {});
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "i686", "{out}");
    assert_eq!(lines[1], std::env::consts::ARCH, "{out}");
    assert!(
        out.contains("personality(0x40008): Operation not permitted") && out.contains("rc=1"),
        "{out}"
    );
    let (_, out) = sh(&env, "busybox linux32 -R true 2>&1; echo rc=$?", |o| {
        o.security_opt = vec!["seccomp=unconfined".into()];
    });
    assert!(out.trim_end().ends_with("rc=0"), "{out}");
}

/// no-new-privileges (bare, =true) sets NoNewPrivs with the default profile
/// loaded after it; =false leaves it off.
#[test]
fn seccomp_with_no_new_privileges() {
    let env = Env::new();
    for (opt, nnp) in [
        ("no-new-privileges", "1"),
        ("no-new-privileges=true", "1"),
        ("no-new-privileges=false", "0"),
    ] {
        let mut o = env.opts(&["cat", "/proc/self/status"]);
        o.security_opt = vec![opt.into()];
        assert_eq!(status_field(&env, &o, "NoNewPrivs:"), nnp, "{opt}");
        assert_eq!(status_field(&env, &o, "Seccomp:"), "2", "{opt}");
        assert_eq!(status_field(&env, &o, "Seccomp_filters:"), "1", "{opt}");
    }
    let (_, out) = sh(&env, UNSHARE, |o| {
        o.security_opt = vec!["no-new-privileges".into()];
    });
    assert!(out.contains("Operation not permitted"), "{out}");
}

/// A profile file: applied even with --privileged (as docker); a bad or
/// missing one is refused in one line that names it, exit 125.
#[test]
fn seccomp_profile_file_errors_and_privileged() {
    let env = Env::new();
    let p = env.dir.path().join("deny-mkdir.json");
    std::fs::write(
        &p,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#,
    )
    .unwrap();
    let (_, out) = sh(&env, "mkdir /tmp/x 2>&1; echo rc=$?", |o| {
        o.security_opt = vec![format!("seccomp={}", p.display())];
        o.privileged = true;
    });
    assert!(
        out.contains("Operation not permitted") && out.contains("rc=1"),
        "{out}"
    );
    let bad = env.dir.path().join("bad.json");
    for (text, why) in [
        (
            "{\"defaultAction\": ",
            "invalid seccomp profile: EOF while parsing",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_PERMIT"}]}"#,
            "invalid seccomp profile: syscalls[0].action: unknown action \"SCMP_ACT_PERMIT\"",
        ),
    ] {
        std::fs::write(&bad, text).unwrap();
        let mut o = env.opts(&["true"]);
        o.security_opt = vec![format!("seccomp={}", bad.display())];
        let e = env.create(&o).unwrap_err();
        let m = e.to_string();
        assert!(
            m.starts_with(&format!(
                "invalid --security-opt \"seccomp={}\": {why}",
                bad.display()
            )),
            "{m}"
        );
        assert!(!m.contains('\n'), "{m}");
        assert_eq!(e.exit_code(), 125);
    }
    let mut o = env.opts(&["true"]);
    let missing = env.dir.path().join("missing.json");
    o.security_opt = vec![format!("seccomp={}", missing.display())];
    let e = env.create(&o).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "invalid --security-opt \"seccomp={}\": cannot read the seccomp profile: No such file or directory (os error 2)",
            missing.display()
        )
    );
    assert_eq!(e.exit_code(), 125);
}

/// The runtime compiles a profile once per distinct profile (the bounding
/// set changes it) and reuses the program from its cache afterwards.
#[test]
fn seccomp_compiled_program_is_cached() {
    let env = Env::new();
    let cache = env.engine.run_root().join(oci_runtime::seccomp::CACHE_DIR);
    let programs = || -> Vec<(std::path::PathBuf, std::time::SystemTime)> {
        let mut v: Vec<_> = std::fs::read_dir(&cache)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".bpf"))
                    .map(|e| (e.path(), e.metadata().unwrap().modified().unwrap()))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    env.out(&["true"]);
    let first = programs();
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(std::fs::metadata(&first[0].0).unwrap().len() > 1000);
    env.out(&["true"]);
    assert_eq!(programs(), first, "the cached program is reused");
    let mut o = env.opts(&["true"]);
    o.cap_add = vec!["SYS_ADMIN".into()];
    assert_eq!(env.run(&o).0, 0);
    assert_eq!(programs().len(), 2);
}

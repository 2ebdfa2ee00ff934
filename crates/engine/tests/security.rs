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

/// The host files a dynamically linked `exe` loads (its interpreter and
/// libraries), as (path in the image, contents), from ldd.
fn loader_files(exe: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let out = std::process::Command::new("ldd").arg(exe).output().unwrap();
    let mut v = Vec::new();
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        let path = match l.split_once("=>") {
            Some((_, r)) => r.split_whitespace().next(),
            None => l.split_whitespace().next(),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            v.push((p[1..].to_string(), std::fs::read(p).unwrap()));
        }
    }
    v
}

/// CVE-2019-5736 from a library caller (this test process: multi-threaded,
/// not berth): a container replaces a program with `#!/proc/self/exe`, so
/// that the process exec_start starts becomes, inside the container, the
/// program that entered it. A container process opens its /proc/PID/exe
/// and tries to write through it. That program must be the exec helper
/// running from a sealed copy (a read-only mount or a sealed memfd), never
/// a fork of the caller (this test's binary) nor the helper's file.
#[test]
fn cve_2019_5736_exec_from_library_caller() {
    use engine::{ExecConfig, ExecIo, ExecStartOptions, ExecStdio};
    use std::io::Write;
    use std::os::fd::OwnedFd;
    use std::os::unix::net::UnixStream;
    use std::time::Duration;
    let env = Env::new();
    // The helper: a copy (a failed test overwrites the copy, not the build's).
    let real = std::path::PathBuf::from(env!("CARGO_BIN_EXE_berth-internal"));
    let bin = env.dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let helper = bin.join("berth-internal");
    std::fs::copy(&real, &helper).unwrap();
    let before = std::fs::read(&helper).unwrap();
    let eng = env.engine.clone().with_helper_exe(Some(helper.clone()));
    // busybox, with what the helper (and this test binary) need to run in
    // the container once /evil makes them its interpreter.
    let mut libs = loader_files(&helper);
    libs.extend(loader_files(&std::env::current_exe().unwrap()));
    let mut dirs: Vec<String> = vec!["bin/".into(), "etc/".into(), "tmp/".into()];
    for (p, _) in &libs {
        let mut d = String::new();
        for c in p.split('/').collect::<Vec<_>>().split_last().unwrap().1 {
            d = format!("{d}{c}/");
            if !dirs.contains(&d) {
                dirs.push(d.clone());
            }
        }
    }
    let dirs: Vec<&str> = dirs.iter().map(String::as_str).collect();
    let files: Vec<(&str, &[u8])> = libs.iter().map(|(p, d)| (p.as_str(), &d[..])).collect();
    let applets = [
        "sh", "ls", "cat", "echo", "sleep", "printf", "readlink", "chmod", "test",
    ];
    let tar = berth_testkit::busybox_tar_with(&dirs, &applets, &files);
    eng.images()
        .import(
            &tar[..],
            &image::ImportOptions::default(),
            &[image::Reference::parse("bbx").unwrap()],
        )
        .unwrap();
    // The attacker: plants /evil, then watches for a process that is not
    // busybox, holds its executable open and tries to write through it.
    let ld: Vec<String> = libs.iter().map(|(p, _)| format!("/{p}")).collect();
    let attacker = format!(
        r#"chmod 755 {ld}; printf '#!/proc/self/exe\n' > /evil; chmod 755 /evil
while :; do for p in /proc/[0-9]*; do
  l=$(readlink $p/exe)
  case "$l" in *busybox*|"") ;; *)
    exec 3<$p/exe || continue
    echo "$p $l" > /found
    n=0; while [ $n -lt 150 ]; do
      printf XXXX 2>>/found >> /proc/self/fd/3 && {{ echo WROTE >> /found; break; }}
      n=$((n+1)); sleep 0.02
    done
    echo done >> /found; exec sleep 1000;;
  esac
done; done"#,
        ld = ld.join(" ")
    );
    let mut o = env.opts(&["sh", "-c", &attacker]);
    o.image = "bbx".into();
    let id = env.run_detached(&o).unwrap();
    let upper = eng.container_dir(&id).join("upper");
    assert!(
        until(Duration::from_secs(10), || upper.join("evil").exists()),
        "/evil planted"
    );
    // The victim: whatever runs as /evil's interpreter blocks writing to a
    // full socket, so the attacker has all the time it needs.
    let (mine, theirs) = UnixStream::pair().unwrap();
    theirs.set_nonblocking(true).unwrap();
    while (&theirs).write(&[b'x'; 4096]).is_ok() {}
    theirs.set_nonblocking(false).unwrap();
    let theirs = OwnedFd::from(theirs);
    let cfg = ExecConfig {
        cmd: vec!["/evil".into()],
        ..Default::default()
    };
    let x = eng.exec_create(&id, &cfg).unwrap();
    let s = eng
        .exec_start(
            &x,
            &ExecStartOptions::default(),
            ExecIo::Fds(ExecStdio {
                stdin: None,
                stdout: Some(theirs.try_clone().unwrap()),
                stderr: Some(theirs),
            }),
        )
        .unwrap();
    let found = || std::fs::read_to_string(upper.join("found")).unwrap_or_default();
    assert!(
        until(Duration::from_secs(20), || !found().is_empty()),
        "the attacker found no victim"
    );
    drop(mine); // the victim dies of EPIPE
    let _ = s.wait();
    assert!(
        until(Duration::from_secs(20), || found().contains("done")),
        "the attacker did not give up: {}",
        found()
    );
    let found = found();
    let _ = env.engine.remove(&id, true);
    assert!(
        std::fs::read(&helper).unwrap() == before,
        "the helper was overwritten from the container: {found}"
    );
    assert!(!found.contains("WROTE"), "{found}");
    // What entered the container was a sealed copy: a memfd, or a
    // read-only mount (not this test's binary, which is busy while it
    // runs, nor the helper's file).
    assert!(
        found.contains("memfd:") || found.contains("Read-only file system"),
        "not a sealed copy: {found}"
    );
}

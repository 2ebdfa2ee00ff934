//! The known container escapes, each tried as an attacker would, through
//! the real `berth` binary: a malicious image or container process against
//! `run`, `exec` and their options. Named after the CVE of each class.

mod common;

use common::Env;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const APPLETS: &[&str] = &[
    "sh", "ls", "cat", "echo", "true", "sleep", "printf", "readlink", "grep", "chmod", "id",
    "test", "[",
];

fn image(env: &Env) {
    let tar = env.path("bb.tar");
    std::fs::write(
        &tar,
        berth_testkit::busybox_tar_with(&["etc", "tmp"], APPLETS, &[("marker-in-rootfs", b"")]),
    )
    .unwrap();
    env.ok(&["import", "-c", "CMD [\"sh\"]", tar.to_str().unwrap(), "bb"]);
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// CVE-2024-21626: a working directory of /proc/self/fd/N (from `-w`, an
/// image's WORKDIR, or `exec -w`) must never be a directory of the host's
/// that a descriptor of the engine's pointed at while it set up the process.
#[test]
fn cve_2024_21626_workdir_through_a_leaked_fd_stays_in_the_container() {
    let env = Env::new();
    image(&env);
    let probe = "ls ../../../../ | grep -c marker-in-rootfs; true";
    for n in 3..16 {
        let w = format!("/proc/self/fd/{n}");
        let o = env.output(&["run", "--rm", "-w", &w, "bb", "sh", "-c", probe]);
        if o.status.success() {
            let out = String::from_utf8_lossy(&o.stdout);
            assert_eq!(out.trim(), "1", "run -w {w} reached the host: {out}");
        }
    }
    // The same through an image's WORKDIR.
    env.ok(&[
        "import",
        "-c",
        "WORKDIR /proc/self/fd/5",
        env.path("bb.tar").to_str().unwrap(),
        "bbwd",
    ]);
    let o = env.output(&["run", "--rm", "bbwd", "sh", "-c", probe]);
    if o.status.success() {
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "1");
    }
    let id = env.ok(&["run", "-d", "bb", "sleep", "100"]);
    let id = id.trim();
    for n in 3..16 {
        let w = format!("/proc/self/fd/{n}");
        let o = env.output(&["exec", "-w", &w, id, "sh", "-c", probe]);
        if o.status.success() {
            let out = String::from_utf8_lossy(&o.stdout);
            assert_eq!(out.trim(), "1", "exec -w {w} reached the host: {out}");
        }
    }
    env.ok(&["rm", "-f", id]);
}

/// A copy of the berth binary in the test's directory (so that a failed
/// test overwrites the copy, never the build's), with its helpers.
fn berth_copy(env: &Env) -> PathBuf {
    let dir = env.path("bin");
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("berth");
    std::fs::copy(common::BERTH, &copy).unwrap();
    copy
}

fn copy_cmd(env: &Env, copy: &Path, args: &[&str]) -> Command {
    let real = Path::new(common::BERTH).parent().unwrap();
    let mut c = Command::new(copy);
    c.arg("--root").arg(env.root()).args(args);
    c.env("BERTH_MONITOR", real.join("berth-monitor"));
    c.env("BERTH_INIT", real.join("berth-init"));
    c.env_remove("BERTH_HELPER");
    c.stdin(Stdio::null());
    c
}

/// CVE-2019-5736: a container replaces a program with `#!/proc/self/exe`,
/// so that the process `berth exec` starts becomes berth itself, inside the
/// container. A container process then opens /proc/PID/exe and, once that
/// process is gone, reopens it for writing: with the host's binary behind
/// it, the next berth command runs the attacker's code as host root. berth
/// must enter containers from a copy of itself that nobody can write.
#[test]
fn cve_2019_5736_exec_cannot_overwrite_the_berth_binary() {
    let env = Env::new();
    image(&env);
    let copy = berth_copy(&env);
    let before = std::fs::read(&copy).unwrap();
    // The attacker: plants /evil, then watches for a process that is not
    // busybox, holds its executable open and tries to write through it.
    let attacker = r#"printf '#!/proc/self/exe\n' > /evil; chmod 755 /evil
while :; do for p in /proc/[0-9]*; do
  l=$(readlink $p/exe)
  case "$l" in *busybox*|"") ;; *)
    exec 3<$p/exe || continue
    echo "$p $l" > /found
    n=0; while [ $n -lt 150 ]; do
      printf XXXX >> /proc/self/fd/3 2>/dev/null && { echo WROTE >> /found; break; }
      n=$((n+1)); sleep 0.02
    done
    echo done >> /found; exec sleep 1000;;
  esac
done; done"#;
    let out = copy_cmd(&env, &copy, &["run", "-d", "bb", "sh", "-c", attacker])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let upper = env.root().join("containers").join(&id).join("upper");
    wait_for("/evil planted", Duration::from_secs(10), || {
        upper.join("evil").exists()
    });
    // The victim: berth run as /evil's interpreter; it blocks writing its
    // usage error to a full stderr, so the attacker has all the time it needs.
    let (mine, theirs) = UnixStream::pair().unwrap();
    theirs.set_nonblocking(true).unwrap();
    let chunk = [b'x'; 4096];
    while (&theirs).write(&chunk).is_ok() {}
    theirs.set_nonblocking(false).unwrap();
    let mut victim = copy_cmd(&env, &copy, &["exec", &id, "/evil"])
        .stdout(Stdio::null())
        .stderr(Stdio::from(OwnedFd::from(theirs)))
        .spawn()
        .unwrap();
    wait_for(
        "the attacker found the victim",
        Duration::from_secs(20),
        || std::fs::read_to_string(upper.join("found")).is_ok_and(|s| !s.is_empty()),
    );
    drop(mine); // the victim dies of EPIPE
    let _ = victim.wait();
    wait_for("the attacker gave up", Duration::from_secs(20), || {
        std::fs::read_to_string(upper.join("found")).is_ok_and(|s| s.contains("done"))
    });
    let found = std::fs::read_to_string(upper.join("found")).unwrap();
    let _ = Command::new(common::BERTH)
        .arg("--root")
        .arg(env.root())
        .args(["rm", "-f", &id])
        .output();
    assert!(
        std::fs::read(&copy).unwrap() == before,
        "the berth binary was overwritten from the container: {found}"
    );
    assert!(!found.contains("WROTE"), "{found}");
}

/// `-u` with a uid or gid that setresuid(2) reads as "unchanged" (-1) ran
/// the process as root; every value outside 0..2^32-1 is refused.
#[test]
fn user_id_out_of_range_is_refused() {
    let env = Env::new();
    image(&env);
    for u in [
        "4294967295",
        "0:4294967295",
        "2147483648",
        "4294967296",
        "-1",
        "1:-1",
    ] {
        let err = env.fails(&["run", "--rm", "-u", u, "bb", "id"], 125);
        assert!(err.lines().count() == 1 && err.contains(u), "{u}: {err}");
    }
    // The largest valid id still works.
    let out = env.ok(&["run", "--rm", "-u", "2147483647:2147483647", "bb", "id"]);
    assert!(out.contains("uid=2147483647"), "{out}");
}

/// CVE-2021-41091: the store held image layers (setuid binaries, device
/// nodes) and container root filesystems that every host user could reach.
/// The store root is private to root, and an existing open one is tightened.
#[test]
fn cve_2021_41091_store_is_private_to_root() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    // The test's directory is open to all, as /var/lib is.
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    image(&env);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&env.root()), 0o700);
    let id = env.ok(&["run", "-d", "bb", "sleep", "100"]);
    let rootfs = env.root().join("containers").join(id.trim()).join("rootfs");
    assert!(rootfs.join("bin/busybox").exists());
    // As an unprivileged user (nobody), nothing under the root is reachable.
    if berth_testkit::have("setpriv") {
        for p in [env.root().join("snapshots"), rootfs.join("bin")] {
            let o = Command::new("setpriv")
                .args([
                    "--reuid=65534",
                    "--regid=65534",
                    "--clear-groups",
                    "--",
                    "ls",
                ])
                .arg(&p)
                .output()
                .unwrap();
            assert!(!o.status.success(), "nobody can list {}", p.display());
        }
    }
    env.ok(&["rm", "-f", id.trim()]);
    // A store made loose (by an older version, or by hand) is tightened.
    std::fs::set_permissions(env.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
    env.ok(&["images"]);
    assert_eq!(mode(&env.root()), 0o700);
}

/// A berth process: pid, where /proc/PID/exe points, its (dev, ino), and
/// whether it is in another mount namespace than ours (a container's).
type Sample = (String, String, (u64, u64), bool);

fn own_ns() -> Option<PathBuf> {
    std::fs::read_link("/proc/self/ns/mnt").ok()
}

/// The berth processes with `verb` and this store's root in their command line.
fn berth_processes(env: &Env, verb: &str) -> Vec<Sample> {
    berth_processes_under(&env.root(), verb)
}

fn berth_processes_under(root: &Path, verb: &str) -> Vec<Sample> {
    use std::os::unix::fs::MetadataExt;
    let root = root.to_string_lossy().into_owned();
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if !(cmd.contains(" internal ") && cmd.contains(verb) && cmd.contains(&root)) {
            continue;
        }
        let (Ok(link), Ok(md)) = (
            std::fs::read_link(e.path().join("exe")),
            std::fs::metadata(e.path().join("exe")),
        ) else {
            continue;
        };
        // Until it re-executes, a fresh berth process is its file; what
        // matters is what it is once in a container's mount namespace.
        let ns = std::fs::read_link(e.path().join("ns/mnt")).ok();
        let pid = e.file_name().to_string_lossy().into_owned();
        let inside = ns != own_ns();
        v.push((
            pid,
            link.to_string_lossy().into_owned(),
            (md.dev(), md.ino()),
            inside,
        ));
    }
    v
}

/// CVE-2019-5736 on the monitor's paths into a container: `internal
/// create-start` (run, start, restarts) and `internal healthcheck` run from
/// a read-only mount or a sealed memfd of berth, never from its file.
#[test]
fn cve_2019_5736_create_start_and_healthcheck_run_from_a_sealed_copy() {
    let env = Env::new();
    image(&env);
    // A sealed memfd copy, or a read-only mount of the binary (the same
    // inode as the file: access(2) tells the mount's read-only flag).
    assert!(Command::new("sh")
        .args(["-c", &format!("test -w {}", common::BERTH)])
        .status()
        .unwrap()
        .success());
    let sealed = |pid: &str, link: &str| {
        link.starts_with("/memfd:")
            || link == "/"
                && !Command::new("sh")
                    .args(["-c", &format!("test -w /proc/{pid}/exe")])
                    .status()
                    .unwrap()
                    .success()
    };
    // Healthchecks: the probe sleeps, so its berth process is there to see.
    let id = env.ok(&[
        "run",
        "-d",
        "--health-cmd",
        "sleep 2",
        "--health-interval",
        "1s",
        "bb",
        "sleep",
        "100",
    ]);
    let id = id.trim();
    let mut seen = Vec::new();
    wait_for("a healthcheck process", Duration::from_secs(20), || {
        seen = berth_processes(&env, "healthcheck");
        !seen.is_empty()
    });
    // The probe's berth process waits for it: it has re-executed by then.
    wait_for(
        "a sealed healthcheck process",
        Duration::from_secs(20),
        || {
            seen = berth_processes(&env, "healthcheck");
            seen.iter().any(|(pid, link, _, _)| sealed(pid, link))
        },
    );
    for (pid, link, _, inside) in &seen {
        assert!(
            !inside || sealed(pid, link),
            "healthcheck {pid} entered a container as {link}"
        );
    }
    env.ok(&["rm", "-f", id]);
    // create-start is brief: watch while containers start, until one is seen.
    let id = env.ok(&["create", "bb", "true"]);
    let id = id.trim();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let stop = stop.clone();
        let root = env.root();
        std::thread::spawn(move || {
            // Every sample, until one was caught inside the container.
            let mut seen: Vec<Sample> = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && !seen.iter().any(|s| s.3) {
                seen.extend(berth_processes_under(&root, "create-start"));
            }
            seen
        })
    };
    let t = Instant::now();
    while !watcher.is_finished() && t.elapsed() < Duration::from_secs(60) {
        env.ok(&["start", "-a", id]);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = watcher.join().unwrap();
    assert!(
        seen.iter().any(|s| s.3),
        "no create-start process was seen in a container in 60 s of starts"
    );
    for (pid, link, _, inside) in &seen {
        assert!(
            !inside || sealed(pid, link),
            "create-start {pid} entered a container as {link}"
        );
    }
    env.ok(&["rm", "-f", id]);
}

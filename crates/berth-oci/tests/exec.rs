//! `exec`: a new process in a running container.

mod common;
use common::*;
use serde_json::json;

fn running(rt: &Runtime) -> (Bundle, String) {
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    b.edit(|c| c["process"]["env"] = json!(["PATH=/bin", "BASE=1"]));
    let id = unique_id("exec");
    rt.run_detached(&b, &id).ok();
    (b, id)
}

#[test]
fn exec_output_and_exit_status() {
    let rt = Runtime::new();
    let (_b, id) = running(&rt);
    let o = rt.exec(&id, &["sh", "-c", "echo hi; echo err >&2; exit 5"]);
    assert_eq!(o.code, 5, "{o}");
    assert_eq!(o.stdout, "hi\n");
    assert_eq!(o.stderr, "err\n");
    let o = rt.exec(&id, &["sh", "-c", "echo $$; readlink /proc/1/exe"]);
    o.ok();
    let mut l = o.stdout.lines();
    assert_ne!(l.next(), Some("1"));
    assert_eq!(
        l.next(),
        Some("/bin/busybox"),
        "exec is in the pid namespace: {o}"
    );
    // Killed by a signal: 128+n.
    let o = rt.exec(&id, &["sh", "-c", "kill -9 $$"]);
    assert_eq!(o.code, 137, "{o}");
}

#[test]
fn exec_env_cwd_user() {
    let rt = Runtime::new();
    let (_b, id) = running(&rt);
    let o = rt.exec(
        &id,
        &[
            "-e",
            "FOO=bar",
            "-e",
            "BASE=2",
            "--cwd",
            "/etc",
            "sh",
            "-c",
            "echo $FOO $BASE; pwd",
        ],
    );
    o.ok();
    assert_eq!(o.stdout, "bar 2\n/etc\n", "{o}");
    let o = rt.exec(&id, &["-u", "1000:1000", "id"]);
    o.ok();
    assert!(o.stdout.starts_with("uid=1000(user) gid=1000(user)"), "{o}");
    let o = rt.exec(
        &id,
        &["-u", "1000:1000", "--additional-gids", "2000", "id", "-G"],
    );
    o.ok();
    assert_eq!(o.stdout.trim(), "1000 2000", "{o}");
    // The container's own env is inherited.
    let o = rt.exec(&id, &["sh", "-c", "echo $BASE"]);
    assert_eq!(o.stdout, "1\n");
}

#[test]
fn exec_sees_the_containers_namespaces() {
    let rt = Runtime::new();
    let (_b, id) = running(&rt);
    let pid = rt.pid(&id);
    let o = rt.exec(
        &id,
        &[
            "sh",
            "-c",
            "for n in mnt net uts ipc pid cgroup; do readlink /proc/self/ns/$n; done; hostname",
        ],
    );
    o.ok();
    let lines: Vec<&str> = o.stdout.lines().collect();
    for (i, n) in ["mnt", "net", "uts", "ipc", "pid", "cgroup"]
        .iter()
        .enumerate()
    {
        let want = std::fs::read_link(format!("/proc/{pid}/ns/{n}")).unwrap();
        assert_eq!(lines[i], want.to_string_lossy(), "{n}: {o}");
    }
    assert_eq!(lines[6], "berth");
}

#[test]
fn exec_process_json() {
    let rt = Runtime::new();
    let (_b, id) = running(&rt);
    let p = rt.scratch.path().join("process.json");
    std::fs::write(
        &p,
        json!({
            "args": ["sh", "-c", "echo $X; pwd; id -u; grep NoNewPrivs /proc/self/status"],
            "env": ["PATH=/bin", "X=from-json"],
            "cwd": "/tmp",
            "user": {"uid": 1000, "gid": 1000},
            "noNewPrivileges": true
        })
        .to_string(),
    )
    .unwrap();
    let o = rt.cmd(&["exec", "--process", p.to_str().unwrap(), &id]);
    o.ok();
    let l: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(&l[..3], &["from-json", "/tmp", "1000"], "{o}");
    assert!(l[3].ends_with('1'), "{o}");
}

#[test]
fn exec_detached_with_pid_file() {
    let rt = Runtime::new();
    let (_b, id) = running(&rt);
    let pf = rt.scratch.path().join("exec.pid");
    let t = std::time::Instant::now();
    rt.cmd(&[
        "exec",
        "-d",
        "--pid-file",
        pf.to_str().unwrap(),
        &id,
        "sleep",
        "500",
    ])
    .ok();
    assert!(t.elapsed() < std::time::Duration::from_secs(10));
    let pid: i32 = std::fs::read_to_string(&pf)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(pid_alive(pid));
    let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap();
    assert_eq!(cmdline, "sleep\u{0}500\u{0}");
    let init = rt.pid(&id);
    let a = std::fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap();
    let b = std::fs::read_link(format!("/proc/{init}/ns/pid")).unwrap();
    assert_eq!(a, b);
    // It is in `ps` and dies with the container.
    let o = rt.cmd(&["ps", "--format", "json", &id]);
    let pids: Vec<i32> = serde_json::from_str(&o.stdout).unwrap();
    assert!(pids.contains(&pid), "{pids:?}");
    rt.delete_force(&id).ok();
    assert!(wait_until(SHORT, || !pid_alive(pid)));
}

#[test]
fn exec_in_stopped_or_created_container_fails() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.args(&["true"]);
    let id = unique_id("execst");
    rt.run_args(&b, &id, &["--keep"]).ok();
    let o = rt.exec(&id, &["true"]);
    assert!(o.fails().contains("stopped"), "{o}");

    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let id = unique_id("execcr");
    rt.create(&b, &id).ok();
    let o = rt.exec(&id, &["true"]);
    assert!(o.fails().contains("created"), "{o}");
}

#[test]
fn exec_missing_executable_fails() {
    let rt = Runtime::new();
    let (b, id) = running(&rt);
    let o = rt.exec(&id, &["no-such-binary"]);
    let e = o.fails();
    assert!(e.contains("executable file not found"), "{o}");
    assert_eq!(rt.status(&id), "running");
    // execve itself fails (an executable without a format the kernel
    // knows): detached too, the error and the status reach the caller.
    let bad = b.rootfs().join("bad");
    std::fs::write(&bad, "garbage\n").unwrap();
    std::fs::set_permissions(&bad, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let o = rt.cmd(&["exec", "-d", &id, "/bad"]);
    let e = o.fails();
    assert!(e.contains("/bad") && e.contains("Exec format error"), "{o}");
    assert_eq!(rt.status(&id), "running");
}

#[test]
fn exec_no_fd_leak_and_caps_of_container() {
    let rt = Runtime::new();
    let (_b, id) = running(&rt);
    let o = rt.exec(
        &id,
        &[
            "sh",
            "-c",
            "ls /proc/self/fd | xargs; grep CapBnd /proc/self/status",
        ],
    );
    o.ok();
    let mut l = o.stdout.lines();
    assert_eq!(l.next(), Some("0 1 2 3"), "{o}");
    let bnd =
        u64::from_str_radix(l.next().unwrap().split_whitespace().nth(1).unwrap(), 16).unwrap();
    assert_eq!(bnd, (1u64 << 29) | (1 << 5) | (1 << 10), "{o}");
}

//! Shared helpers for the berth-oci integration tests: busybox bundles, a
//! wrapper around the real binary with a per-test `--root`, and polling.
//!
//! Every test gets its own state root (a tempdir) and unique container ids
//! (cgroup paths default to `/<id>`), so tests can run in parallel.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::cell::RefCell;
use std::fs::File;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

// Not every test binary uses each of these.
#[allow(unused_imports)]
pub use berth_testkit::{have, require, skip, skip_host};

pub const BIN: &str = env!("CARGO_BIN_EXE_berth-oci");

/// How long any single runtime command may take before the test fails.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(60);

/// Applets linked into every rootfs (besides the ones a test asks for).
pub const APPLETS: &[&str] = &[
    "sh",
    "ls",
    "cat",
    "id",
    "echo",
    "sleep",
    "touch",
    "grep",
    "readlink",
    "stat",
    "mkdir",
    "hostname",
    "dnsdomainname",
    "tty",
    "env",
    "pwd",
    "head",
    "wc",
    "true",
    "false",
    "test",
    "ps",
    "mount",
    "sysctl",
    "uname",
    "rm",
    "tr",
    "sed",
    "cut",
    "awk",
    "nc",
    "dd",
    "ln",
    "kill",
    "nproc",
    "printf",
    "xargs",
];

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A container id unique across tests and test binaries.
pub fn unique_id(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("bt-{prefix}-{}-{n}", std::process::id())
}

/// Result of one command.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub out_path: PathBuf,
    pub err_path: PathBuf,
    pub cmdline: String,
}

impl Out {
    pub fn success(&self) -> bool {
        self.code == 0
    }

    /// Panics with the whole story unless the command succeeded.
    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "command failed: {}\nstdout: {}\nstderr: {}",
            self.cmdline, self.stdout, self.stderr
        );
        self
    }

    /// Panics unless the command failed; returns stderr.
    #[track_caller]
    pub fn fails(&self) -> &str {
        assert_ne!(
            self.code, 0,
            "command unexpectedly succeeded: {}\nstdout: {}\nstderr: {}",
            self.cmdline, self.stdout, self.stderr
        );
        &self.stderr
    }

    /// Re-reads stdout: a created/detached container writes to the stdio
    /// of the command that created it, after that command returned.
    pub fn stdout_now(&self) -> String {
        std::fs::read_to_string(&self.out_path).unwrap_or_default()
    }

    pub fn stderr_now(&self) -> String {
        std::fs::read_to_string(&self.err_path).unwrap_or_default()
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` -> {}\nstdout: {}\nstderr: {}",
            self.cmdline, self.code, self.stdout, self.stderr
        )
    }
}

fn read_all(mut f: File) -> String {
    let mut s = String::new();
    let _ = f.rewind();
    let _ = f.read_to_string(&mut s);
    s
}

/// Runs `cmd` with stdout/stderr in files (a detached container may keep
/// them open forever, so no pipes), killing it after CMD_TIMEOUT.
pub fn run_cmd(mut cmd: Command, dir: &Path, label: &str) -> Out {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let out_path = dir.join(format!("{n}.stdout"));
    let err_path = dir.join(format!("{n}.stderr"));
    let open = |p: &Path| {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(p)
            .unwrap()
    };
    let fo = open(&out_path);
    let fe = open(&err_path);
    cmd.stdout(Stdio::from(fo.try_clone().unwrap()))
        .stderr(Stdio::from(fe.try_clone().unwrap()));
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {label}: {e}"));
    drop(cmd);
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t.elapsed() > CMD_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "command timed out after {:?}: {label}\nstdout: {}\nstderr: {}",
                CMD_TIMEOUT,
                read_all(fo),
                read_all(fe)
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    use std::os::unix::process::ExitStatusExt;
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    Out {
        code,
        stdout: read_all(fo),
        stderr: read_all(fe),
        out_path,
        err_path,
        cmdline: label.to_string(),
    }
}

/// A bundle: `rootfs/` with busybox, and a config.json from `berth-oci spec`.
pub struct Bundle {
    pub dir: tempfile::TempDir,
    pub config: Value,
}

impl Bundle {
    /// A bundle whose config comes from `berth-oci spec`, with terminal off
    /// and `args` = ["true"].
    pub fn new() -> Bundle {
        Self::with_applets(&[])
    }

    pub fn with_applets(extra: &[&str]) -> Bundle {
        let dir = tempfile::Builder::new()
            .prefix("berth-bundle-")
            .tempdir()
            .unwrap();
        let rootfs = dir.path().join("rootfs");
        for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "root"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::set_permissions(
            rootfs.join("tmp"),
            std::os::unix::fs::PermissionsExt::from_mode(0o1777),
        )
        .unwrap();
        let bb = rootfs.join("bin/busybox");
        if std::fs::hard_link("/bin/busybox", &bb).is_err() {
            std::fs::copy("/bin/busybox", &bb).unwrap();
        }
        for a in APPLETS.iter().chain(extra.iter()) {
            let l = rootfs.join("bin").join(a);
            if !l.exists() {
                std::os::unix::fs::symlink("busybox", l).unwrap();
            }
        }
        std::fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nuser:x:1000:1000:user:/home/user:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            rootfs.join("etc/group"),
            "root:x:0:\nnogroup:x:65534:\nuser:x:1000:\nextra:x:2000:\n",
        )
        .unwrap();
        let out = run_cmd(
            {
                let mut c = Command::new(BIN);
                c.arg("spec").arg("--bundle").arg(dir.path());
                c
            },
            dir.path(),
            "berth-oci spec",
        );
        out.ok();
        let config: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap())
                .unwrap();
        for f in std::fs::read_dir(dir.path()).unwrap().flatten() {
            let n = f.file_name().to_string_lossy().into_owned();
            if n.ends_with(".stdout") || n.ends_with(".stderr") {
                let _ = std::fs::remove_file(f.path());
            }
        }
        let mut b = Bundle { dir, config };
        b.config["process"]["terminal"] = json!(false);
        b.config["process"]["args"] = json!(["true"]);
        b.save();
        b
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// Sets process.args.
    pub fn args(&mut self, args: &[&str]) -> &mut Self {
        self.config["process"]["args"] = json!(args);
        self.save();
        self
    }

    /// Sets process.args to `sh -c script`.
    pub fn sh(&mut self, script: &str) -> &mut Self {
        self.args(&["sh", "-c", script])
    }

    /// Edits the config and saves it.
    pub fn edit(&mut self, f: impl FnOnce(&mut Value)) -> &mut Self {
        f(&mut self.config);
        self.save();
        self
    }

    pub fn save(&self) {
        std::fs::write(
            self.path().join("config.json"),
            serde_json::to_string_pretty(&self.config).unwrap(),
        )
        .unwrap();
    }

    /// Appends to `mounts`.
    pub fn add_mount(&mut self, m: Value) -> &mut Self {
        self.config["mounts"].as_array_mut().unwrap().push(m);
        self.save();
        self
    }

    /// Removes the namespace of type `t` from linux.namespaces.
    pub fn remove_namespace(&mut self, t: &str) -> &mut Self {
        self.config["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != t);
        self.save();
        self
    }

    /// Adds (or replaces) a namespace entry.
    pub fn set_namespace(&mut self, ns: Value) -> &mut Self {
        let t = ns["type"].clone();
        let list = self.config["linux"]["namespaces"].as_array_mut().unwrap();
        list.retain(|n| n["type"] != t);
        list.push(ns);
        self.save();
        self
    }
}

/// The runtime binary with a private `--root`; deletes (with -f) every
/// container it created when dropped.
pub struct Runtime {
    pub root: tempfile::TempDir,
    pub scratch: tempfile::TempDir,
    ids: RefCell<Vec<String>>,
}

impl Runtime {
    pub fn new() -> Runtime {
        Runtime {
            root: tempfile::Builder::new()
                .prefix("berth-root-")
                .tempdir()
                .unwrap(),
            scratch: tempfile::Builder::new()
                .prefix("berth-out-")
                .tempdir()
                .unwrap(),
            ids: RefCell::new(Vec::new()),
        }
    }

    pub fn root_path(&self) -> &Path {
        self.root.path()
    }

    /// A Command for the binary with `--root` set, stdin from /dev/null.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--root").arg(self.root.path()).args(args);
        c.stdin(Stdio::null());
        c
    }

    /// Registers `id` for cleanup.
    pub fn track(&self, id: &str) {
        let mut ids = self.ids.borrow_mut();
        if !ids.iter().any(|x| x == id) {
            ids.push(id.to_string());
        }
    }

    /// Runs `berth-oci --root R args...`.
    pub fn cmd(&self, args: &[&str]) -> Out {
        // Any id-taking command may leave a container: track the last arg
        // of create/run.
        let label = format!(
            "berth-oci --root {} {}",
            self.root.path().display(),
            args.join(" ")
        );
        run_cmd(self.command(args), self.scratch.path(), &label)
    }

    /// Runs a prepared Command (stdin etc. set by the caller).
    pub fn cmd_with(&self, c: Command, label: &str) -> Out {
        run_cmd(c, self.scratch.path(), label)
    }

    pub fn create(&self, b: &Bundle, id: &str) -> Out {
        self.track(id);
        self.cmd(&["create", "--bundle", b.path().to_str().unwrap(), id])
    }

    pub fn create_args(&self, b: &Bundle, id: &str, extra: &[&str]) -> Out {
        self.track(id);
        let mut a = vec!["create", "--bundle", b.path().to_str().unwrap()];
        a.extend_from_slice(extra);
        a.push(id);
        self.cmd(&a)
    }

    /// `run` in the foreground.
    pub fn run(&self, b: &Bundle, id: &str) -> Out {
        self.track(id);
        self.cmd(&["run", "--bundle", b.path().to_str().unwrap(), id])
    }

    pub fn run_args(&self, b: &Bundle, id: &str, extra: &[&str]) -> Out {
        self.track(id);
        let mut a = vec!["run", "--bundle", b.path().to_str().unwrap()];
        a.extend_from_slice(extra);
        a.push(id);
        self.cmd(&a)
    }

    /// `run -d`.
    pub fn run_detached(&self, b: &Bundle, id: &str) -> Out {
        self.run_args(b, id, &["-d"])
    }

    pub fn start(&self, id: &str) -> Out {
        self.cmd(&["start", id])
    }

    pub fn delete(&self, id: &str) -> Out {
        self.cmd(&["delete", id])
    }

    pub fn delete_force(&self, id: &str) -> Out {
        self.cmd(&["delete", "-f", id])
    }

    pub fn kill(&self, id: &str, sig: &str) -> Out {
        self.cmd(&["kill", id, sig])
    }

    /// `state ID` parsed; panics if it fails.
    #[track_caller]
    pub fn state(&self, id: &str) -> Value {
        let o = self.cmd(&["state", id]);
        o.ok();
        serde_json::from_str(&o.stdout)
            .unwrap_or_else(|e| panic!("state is not JSON ({e}): {}", o.stdout))
    }

    #[track_caller]
    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap_or("").to_string()
    }

    #[track_caller]
    pub fn pid(&self, id: &str) -> i32 {
        self.state(id)["pid"].as_i64().unwrap_or(0) as i32
    }

    /// Polls `state` until the status is `want` (bounded); returns the last status.
    pub fn wait_status(&self, id: &str, want: &str, timeout: Duration) -> String {
        let t = Instant::now();
        loop {
            let o = self.cmd(&["state", id]);
            let s = serde_json::from_str::<Value>(&o.stdout)
                .ok()
                .and_then(|v| v["status"].as_str().map(String::from))
                .unwrap_or_else(|| format!("<state failed: {}>", o.stderr.trim()));
            if s == want || t.elapsed() > timeout {
                return s;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `exec ID args...`
    pub fn exec(&self, id: &str, args: &[&str]) -> Out {
        let mut a = vec!["exec", id];
        a.extend_from_slice(args);
        self.cmd(&a)
    }

    pub fn state_dir(&self, id: &str) -> PathBuf {
        self.root.path().join(id)
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let mut c = Command::new(BIN);
            c.arg("--root")
                .arg(self.root.path())
                .args(["delete", "-f", id])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let _ = c.status();
            // Belt and braces: the cgroup dirs of a container the runtime forgot.
            for p in cgroup_dirs(id) {
                let _ = std::fs::remove_dir(p);
            }
        }
    }
}

/// The v1 hierarchies on this host.
pub const CGROUP_V1: &[&str] = &[
    "memory", "pids", "cpu", "cpuacct", "cpuset", "blkio", "devices", "freezer", "systemd",
];

/// True on a pure cgroup v2 host: the unified hierarchy is mounted at
/// /sys/fs/cgroup itself (tests/vm/run-cgroup2.sh boots one).
pub fn cgroup_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// Host directory of cgroup `path` (e.g. "/id") in hierarchy `sub`; on a
/// pure cgroup v2 host every controller lives in the one hierarchy.
pub fn cgroup_dir(sub: &str, path: &str) -> PathBuf {
    let base = PathBuf::from("/sys/fs/cgroup");
    let base = if cgroup_v2() { base } else { base.join(sub) };
    base.join(path.trim_start_matches('/'))
}

/// Every directory `/id` could have in the host's hierarchies.
fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    if cgroup_v2() {
        return vec![cgroup_dir("", id)];
    }
    CGROUP_V1
        .iter()
        .map(|s| cgroup_dir(s, id))
        .chain(std::iter::once(
            PathBuf::from("/sys/fs/cgroup/unified").join(id.trim_start_matches('/')),
        ))
        .collect()
}

/// Every hierarchy in which `/id` still exists.
pub fn leftover_cgroups(id: &str) -> Vec<PathBuf> {
    cgroup_dirs(id).into_iter().filter(|p| p.exists()).collect()
}

/// Whether `path` is on a read-only mount (per /proc/self/mountinfo), as the
/// runtime binary is in tests/vm/run-cgroup2.sh's VM, whose / is read-only.
pub fn on_readonly_mount(path: &Path) -> bool {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut best: Option<(usize, bool)> = None;
    for line in info.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        if f.len() < 6 {
            continue;
        }
        let mp = PathBuf::from(f[4].replace("\\040", " "));
        if !path.starts_with(&mp) {
            continue;
        }
        let ro = f[5].split(',').any(|o| o == "ro");
        let depth = mp.components().count();
        // A later mount on the same point hides the earlier one.
        if best.map_or(true, |(d, _)| depth >= d) {
            best = Some((depth, ro));
        }
    }
    best.is_some_and(|(_, ro)| ro)
}

/// Polls `f` until it returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    loop {
        if f() {
            return true;
        }
        if t.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until a file exists and is non-empty, returning its content.
pub fn wait_file(path: &Path, timeout: Duration) -> Option<String> {
    let mut out = None;
    wait_until(timeout, || match std::fs::read_to_string(path) {
        Ok(s) if !s.is_empty() => {
            out = Some(s);
            true
        }
        _ => false,
    });
    out
}

/// A host field of /proc/PID/status ("Uid", "CapEff"...).
pub fn proc_status_field(pid: i32, field: &str) -> Option<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
}

/// Whether the host pid is alive (not a zombie).
pub fn pid_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let st = s.rfind(')').and_then(|i| s[i + 2..].chars().next());
            !matches!(st, Some('Z') | Some('X') | None)
        }
        Err(_) => false,
    }
}

pub const SHORT: Duration = Duration::from_secs(10);

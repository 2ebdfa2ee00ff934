//! Test support: a per-test engine root with a busybox image imported from
//! Debian's busybox-static.
#![allow(dead_code)]

use engine::{CreateOptions, Engine};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct Env {
    pub dir: tempfile::TempDir,
    pub engine: Engine,
}

const APPLETS: &[&str] = &[
    "sh", "ls", "cat", "echo", "true", "false", "sleep", "grep", "id", "pwd", "env", "touch",
    "mkdir", "ps", "head", "hostname", "mount", "umount", "yes", "test", "wc", "kill",
];

/// A tar of /bin/busybox with applet links, plus `extra` files.
pub fn busybox_tar(extra: &[(&str, &str)]) -> Vec<u8> {
    let files: Vec<(&str, &[u8])> = extra.iter().map(|(p, d)| (*p, d.as_bytes())).collect();
    berth_testkit::busybox_tar_with(&["bin/", "etc/", "tmp/"], APPLETS, &files)
}

impl Env {
    pub fn new() -> Env {
        // Short paths: overlay options and sockets have length limits.
        let dir = tempfile::Builder::new()
            .prefix("be")
            .tempdir_in("/tmp")
            .unwrap();
        // The monitor is the static berth-monitor (build it first: `cargo
        // build -p berth-monitor`), next to our helper in the target dir.
        let helper = std::path::PathBuf::from(env!("CARGO_BIN_EXE_berth-internal"));
        let monitor = helper.with_file_name("berth-monitor");
        assert!(
            monitor.is_file(),
            "{} is missing: run `cargo build -p berth-monitor -p berth-init` first",
            monitor.display()
        );
        let engine = Engine::open(dir.path().join("r"))
            .unwrap()
            .with_monitor_exe(Some(monitor))
            .with_helper_exe(Some(helper));
        let env = Env { dir, engine };
        env.import("busybox", &image::ImportOptions::default(), &[]);
        env
    }

    pub fn import(&self, name: &str, opts: &image::ImportOptions, extra: &[(&str, &str)]) {
        let tar = busybox_tar(extra);
        let r = image::Reference::parse(name).unwrap();
        self.engine
            .images()
            .import(&tar[..], opts, &[r])
            .expect("import busybox");
    }

    /// Options to run `cmd` in busybox, with the runtime of the suite:
    /// `$BERTH_TEST_RUNTIME` (`crun`, `runc`, a path: an external OCI
    /// runtime through `--runtime`), else the built-in one. `make test`
    /// runs the lifecycle suite with each.
    pub fn opts(&self, cmd: &[&str]) -> CreateOptions {
        CreateOptions {
            image: "busybox".into(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            runtime: test_runtime(),
            ..Default::default()
        }
    }

    /// Attached run: (exit code, stdout, stderr).
    pub fn run(&self, o: &CreateOptions) -> (i32, String, String) {
        let a = self.engine.run(o).expect("run");
        let mut out = Vec::new();
        let mut err = Vec::new();
        let code = a.wait(&mut out, &mut err).expect("wait");
        (
            code,
            String::from_utf8_lossy(&out).into_owned(),
            String::from_utf8_lossy(&err).into_owned(),
        )
    }

    pub fn out(&self, cmd: &[&str]) -> String {
        let (code, out, err) = self.run(&self.opts(cmd));
        assert_eq!(code, 0, "{cmd:?}: stdout {out} stderr {err}");
        out
    }

    pub fn root(&self) -> PathBuf {
        self.engine.root().to_path_buf()
    }

    pub fn logs(&self, id: &str) -> String {
        let mut out = Vec::new();
        let mut err = Vec::new();
        self.engine
            .logs(id, &engine::LogsOptions::default(), &mut out, &mut err)
            .unwrap();
        String::from_utf8_lossy(&out).into_owned() + &String::from_utf8_lossy(&err)
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // Leave nothing running or mounted behind.
        if let Ok(list) = self.engine.list(true) {
            for s in list {
                let _ = self.engine.remove(&s.id, true);
            }
        }
    }
}

/// The external runtime the suite runs with (`$BERTH_TEST_RUNTIME`).
pub fn test_runtime() -> Option<PathBuf> {
    std::env::var_os("BERTH_TEST_RUNTIME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

pub fn mounted(p: &Path) -> bool {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let want = p.to_string_lossy();
    mi.lines().any(|l| l.split(' ').nth(4) == Some(&want))
}

pub fn until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < timeout {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// The container's cgroup dir in the given v1 controller (or v2).
pub fn cgroup_dir(controller: &str, id: &str) -> PathBuf {
    let v1 = Path::new("/sys/fs/cgroup").join(controller);
    if v1.join("cgroup.procs").exists() {
        v1.join("berth").join(id)
    } else {
        Path::new("/sys/fs/cgroup/berth").join(id)
    }
}

//! berth-oci run by an unprivileged user (`berthtest`, created if missing,
//! with /etc/subuid and /etc/subgid ranges).
//!
//! Each test builds a bundle the user owns, with the config from
//! `berth-oci spec --rootless` run as that user, and runs the runtime
//! through `runuser -u berthtest` with a private XDG_RUNTIME_DIR (so the
//! default state root is `$XDG_RUNTIME_DIR/berth-oci`).

mod common;
use common::*;
use serde_json::{json, Value};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

const USER: &str = "berthtest";

/// The test user and its subordinate id ranges.
struct TestUser {
    uid: u32,
    gid: u32,
    subuid: u32,
    subgid: u32,
    /// The runtime binary, reachable by the user.
    bin: PathBuf,
}

fn sh(script: &str) -> std::process::Output {
    Command::new("sh").args(["-c", script]).output().unwrap()
}

/// Start of `USER`'s range in /etc/subuid or /etc/subgid, added if missing.
fn ensure_subid(file: &str) -> u32 {
    let cur = std::fs::read_to_string(file).unwrap_or_default();
    let find = |s: &str| {
        s.lines().find_map(|l| {
            let f: Vec<&str> = l.trim().split(':').collect();
            (f.len() == 3 && f[0] == USER && f[2].parse::<u32>().ok()? >= 65536)
                .then(|| f[1].parse::<u32>().ok())
                .flatten()
        })
    };
    if let Some(s) = find(&cur) {
        return s;
    }
    // A start past every range already given out.
    let start = cur
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.trim().split(':').collect();
            Some(f.get(1)?.parse::<u64>().ok()? + f.get(2)?.parse::<u64>().ok()?)
        })
        .max()
        .unwrap_or(0)
        .max(200000);
    let sep = if cur.is_empty() || cur.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    std::fs::write(file, format!("{cur}{sep}{USER}:{start}:65536\n")).unwrap();
    start as u32
}

fn user() -> &'static TestUser {
    static U: OnceLock<TestUser> = OnceLock::new();
    U.get_or_init(|| {
        if !sh(&format!("id -u {USER}")).status.success() {
            let o = sh(&format!("useradd -m {USER} || id -u {USER}"));
            assert!(
                o.status.success(),
                "useradd: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        let num = |flag: &str| -> u32 {
            let o = sh(&format!("id {flag} {USER}"));
            String::from_utf8_lossy(&o.stdout).trim().parse().unwrap()
        };
        let (uid, gid) = (num("-u"), num("-g"));
        let subuid = ensure_subid("/etc/subuid");
        let subgid = ensure_subid("/etc/subgid");
        // The binary under target/ may sit in a directory the user cannot
        // traverse: then use a world-readable copy.
        let bin = if as_user(&["test", "-x", BIN]).status.success() {
            PathBuf::from(BIN)
        } else {
            let d = std::env::temp_dir().join(format!("berth-oci-rootless-{}", std::process::id()));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::set_permissions(&d, PermissionsExt::from_mode(0o755)).unwrap();
            let b = d.join("berth-oci");
            std::fs::copy(BIN, &b).unwrap();
            std::fs::set_permissions(&b, PermissionsExt::from_mode(0o755)).unwrap();
            b
        };
        TestUser {
            uid,
            gid,
            subuid,
            subgid,
            bin,
        }
    })
}

fn as_user(args: &[&str]) -> std::process::Output {
    Command::new("runuser")
        .args(["-u", USER, "--"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn chown_r(p: &Path, uid: u32, gid: u32) {
    let o = Command::new("chown")
        .arg("-R")
        .arg(format!("{uid}:{gid}"))
        .arg(p)
        .output()
        .unwrap();
    assert!(o.status.success(), "chown -R {}: {o:?}", p.display());
}

/// A bundle owned by the user, config from `berth-oci spec --rootless`
/// (run as the user), terminal off.
struct RBundle {
    inner: Bundle,
}

impl RBundle {
    fn new() -> RBundle {
        let u = user();
        let inner = Bundle::with_applets(&["chown", "chgrp"]);
        // Bundle hard-links /bin/busybox: chown -R would chown the host's.
        let bb = inner.rootfs().join("bin/busybox");
        std::fs::remove_file(&bb).unwrap();
        std::fs::copy("/bin/busybox", &bb).unwrap();
        std::fs::remove_file(inner.path().join("config.json")).unwrap();
        chown_r(inner.path(), u.uid, u.gid);
        std::fs::set_permissions(inner.path(), PermissionsExt::from_mode(0o755)).unwrap();
        let o = as_user(&[
            u.bin.to_str().unwrap(),
            "spec",
            "--rootless",
            "--bundle",
            inner.path().to_str().unwrap(),
        ]);
        assert!(o.status.success(), "spec --rootless as {USER}: {o:?}");
        let config: Value = serde_json::from_str(
            &std::fs::read_to_string(inner.path().join("config.json")).unwrap(),
        )
        .unwrap();
        let mut b = RBundle { inner };
        b.inner.config = config;
        b.inner.edit(|c| {
            c["process"]["terminal"] = json!(false);
            c["process"]["args"] = json!(["true"]);
        });
        b
    }

    fn path(&self) -> &Path {
        self.inner.path()
    }

    fn sh(&mut self, script: &str) -> &mut Self {
        self.inner.sh(script);
        self
    }

    fn edit(&mut self, f: impl FnOnce(&mut Value)) -> &mut Self {
        self.inner.edit(f);
        self
    }
}

/// berth-oci as the user, with a private XDG_RUNTIME_DIR; deletes what it
/// created when dropped.
struct URuntime {
    xdg: tempfile::TempDir,
    scratch: tempfile::TempDir,
    ids: std::cell::RefCell<Vec<String>>,
    /// Unset XDG_RUNTIME_DIR (default root /tmp/berth-oci-UID).
    no_xdg: bool,
}

impl URuntime {
    fn new() -> URuntime {
        let u = user();
        let xdg = tempfile::Builder::new()
            .prefix("berth-xdg-")
            .tempdir()
            .unwrap();
        std::os::unix::fs::chown(xdg.path(), Some(u.uid), Some(u.gid)).unwrap();
        std::fs::set_permissions(xdg.path(), PermissionsExt::from_mode(0o700)).unwrap();
        URuntime {
            xdg,
            scratch: tempfile::Builder::new()
                .prefix("berth-out-")
                .tempdir()
                .unwrap(),
            ids: Default::default(),
            no_xdg: false,
        }
    }

    /// The default state root the runtime should use.
    fn root(&self) -> PathBuf {
        if self.no_xdg {
            PathBuf::from(format!("/tmp/berth-oci-{}", user().uid))
        } else {
            self.xdg.path().join("berth-oci")
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let u = user();
        let mut c = Command::new("runuser");
        c.args(["-u", USER, "--", "env"]);
        if self.no_xdg {
            c.args(["-u", "XDG_RUNTIME_DIR"]);
        } else {
            c.arg(format!("XDG_RUNTIME_DIR={}", self.xdg.path().display()));
        }
        c.arg(&u.bin)
            .args(args)
            .stdin(Stdio::null())
            .current_dir("/");
        c
    }

    fn cmd(&self, args: &[&str]) -> Out {
        let label = format!("runuser -u {USER} -- berth-oci {}", args.join(" "));
        run_cmd(self.command(args), self.scratch.path(), &label)
    }

    fn track(&self, id: &str) {
        self.ids.borrow_mut().push(id.to_string());
    }

    fn run(&self, b: &RBundle, id: &str, extra: &[&str]) -> Out {
        self.track(id);
        let mut a = vec!["run", "--bundle", b.path().to_str().unwrap()];
        a.extend_from_slice(extra);
        a.push(id);
        self.cmd(&a)
    }

    fn create(&self, b: &RBundle, id: &str) -> Out {
        self.track(id);
        self.cmd(&["create", "--bundle", b.path().to_str().unwrap(), id])
    }

    #[track_caller]
    fn state(&self, id: &str) -> Value {
        let o = self.cmd(&["state", id]);
        o.ok();
        serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("state not JSON ({e}): {o}"))
    }

    fn wait_status(&self, id: &str, want: &str) -> String {
        let mut last = String::new();
        wait_until(SHORT, || {
            let o = self.cmd(&["state", id]);
            last = serde_json::from_str::<Value>(&o.stdout)
                .ok()
                .and_then(|v| v["status"].as_str().map(String::from))
                .unwrap_or_else(|| format!("<state failed: {}>", o.stderr.trim()));
            last == want
        });
        last
    }

    fn list(&self) -> Vec<String> {
        self.cmd(&["list", "-q"])
            .stdout
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    }
}

impl Drop for URuntime {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let _ = self
                .command(&["delete", "-f", id])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Host "0 UID 1"-style lines of a uid_map, normalised.
fn map_lines(s: &str) -> Vec<String> {
    s.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn spec_rootless_maps_the_caller() {
    let u = user();
    let b = RBundle::new();
    let c = &b.inner.config;
    assert_eq!(
        c["linux"]["uidMappings"],
        json!([{"containerID": 0, "hostID": u.uid, "size": 1}])
    );
    assert_eq!(
        c["linux"]["gidMappings"],
        json!([{"containerID": 0, "hostID": u.gid, "size": 1}])
    );
    let ns: Vec<&str> = c["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["type"].as_str())
        .collect();
    assert!(ns.contains(&"user"), "{ns:?}");
    assert!(
        !ns.contains(&"network"),
        "rootless spec keeps a network ns: {ns:?}"
    );
    assert!(c["linux"].get("resources").is_none(), "{}", c["linux"]);
    // The file belongs to the user who ran `spec`.
    let md = std::fs::metadata(b.path().join("config.json")).unwrap();
    assert_eq!(md.uid(), u.uid);
}

#[test]
fn rootless_run_is_root_inside() {
    let u = user();
    let rt = URuntime::new();
    let mut b = RBundle::new();
    b.sh("id; cat /proc/self/uid_map; echo --; cat /proc/self/gid_map; echo --; cat /proc/self/setgroups");
    let id = unique_id("rl-run");
    let o = rt.run(&b, &id, &[]);
    o.ok();
    let parts: Vec<&str> = o.stdout.split("--\n").collect();
    assert_eq!(parts.len(), 3, "{o}");
    assert!(parts[0].starts_with("uid=0(root) gid=0(root)"), "{o}");
    assert_eq!(map_lines(parts[0])[1..], [format!("0 {} 1", u.uid)], "{o}");
    assert_eq!(map_lines(parts[1]), [format!("0 {} 1", u.gid)], "{o}");
    assert_eq!(parts[2].trim(), "deny", "{o}");
    // run removed it from the default root.
    assert!(rt.list().is_empty(), "{:?}", rt.list());
}

#[test]
fn rootless_exit_code_propagates() {
    let rt = URuntime::new();
    let mut b = RBundle::new();
    b.sh("exit 9");
    let o = rt.run(&b, &unique_id("rl-exit"), &[]);
    assert_eq!(o.code, 9, "{o}");
}

#[test]
fn rootless_lifecycle() {
    let u = user();
    let rt = URuntime::new();
    let mut b = RBundle::new();
    b.sh("trap 'exit 0' TERM; echo up; while true; do sleep 0.1; done");
    let id = unique_id("rl-life");
    rt.create(&b, &id).ok();
    // State in $XDG_RUNTIME_DIR/berth-oci, owned by the user.
    let sd = rt.root().join(&id);
    assert!(sd.is_dir(), "no state dir {}", sd.display());
    assert_eq!(std::fs::metadata(&sd).unwrap().uid(), u.uid);
    let st = rt.state(&id);
    assert_eq!(st["status"], "created", "{st}");
    let pid = st["pid"].as_i64().unwrap() as i32;
    assert!(pid > 0);
    assert_eq!(
        proc_status_field(pid, "Uid")
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap(),
        u.uid.to_string(),
        "init does not run as the user on the host"
    );
    assert_eq!(rt.list(), std::slice::from_ref(&id));

    rt.cmd(&["start", &id]).ok();
    assert_eq!(rt.wait_status(&id, "running"), "running");
    rt.cmd(&["kill", &id, "TERM"]).ok();
    assert_eq!(rt.wait_status(&id, "stopped"), "stopped");
    assert!(wait_until(SHORT, || !pid_alive(pid)));
    rt.cmd(&["delete", &id]).ok();
    assert!(!sd.exists(), "state dir left after delete");
    assert!(rt.list().is_empty());
    let o = rt.cmd(&["state", &id]);
    o.fails();
}

#[test]
fn rootless_kill_and_delete_force() {
    let rt = URuntime::new();
    let mut b = RBundle::new();
    b.sh("sleep 1000");
    let id = unique_id("rl-force");
    rt.run(&b, &id, &["-d"]).ok();
    let pid = rt.state(&id)["pid"].as_i64().unwrap() as i32;
    rt.cmd(&["kill", &id, "KILL"]).ok();
    assert_eq!(rt.wait_status(&id, "stopped"), "stopped");
    rt.cmd(&["delete", &id]).ok();

    let id = unique_id("rl-force");
    rt.run(&b, &id, &["-d"]).ok();
    let pid2 = rt.state(&id)["pid"].as_i64().unwrap() as i32;
    assert_ne!(pid, pid2);
    rt.cmd(&["delete", "-f", &id]).ok();
    assert!(wait_until(SHORT, || !pid_alive(pid2)));
    assert!(rt.list().is_empty());
}

#[test]
fn rootless_exec() {
    let u = user();
    let rt = URuntime::new();
    let mut b = RBundle::new();
    b.sh("sleep 1000");
    let id = unique_id("rl-exec");
    rt.run(&b, &id, &["-d"]).ok();
    let o = rt.cmd(&[
        "exec",
        &id,
        "sh",
        "-c",
        "id -u; id -g; cat /proc/self/uid_map; cat /proc/1/cmdline",
    ]);
    o.ok();
    let l = map_lines(&o.stdout);
    assert_eq!(l[0], "0", "{o}");
    assert_eq!(l[1], "0", "{o}");
    assert_eq!(l[2], format!("0 {} 1", u.uid), "{o}");
    assert!(
        l[3].starts_with("sleep"), // sh -c execs its last command,
        "exec is not in the container's pid ns: {o}"
    );
    let o = rt.cmd(&["exec", &id, "sh", "-c", "exit 4"]);
    assert_eq!(o.code, 4, "{o}");
    // exec -d, then the exec'd process is seen from a second exec.
    rt.cmd(&["exec", "-d", &id, "sleep", "777"]).ok();
    let mut seen = String::new();
    let found = wait_until(SHORT, || {
        seen = rt.cmd(&["exec", &id, "ps"]).stdout;
        seen.contains("sleep 777")
    });
    assert!(found, "{seen}");
    rt.cmd(&["delete", "-f", &id]).ok();
}

#[test]
fn rootless_subid_range_mapping() {
    let u = user();
    let rt = URuntime::new();
    let mut b = RBundle::new();
    b.edit(|c| {
        c["linux"]["uidMappings"] = json!([
            {"containerID": 0, "hostID": u.uid, "size": 1},
            {"containerID": 1, "hostID": u.subuid, "size": 65536}
        ]);
        c["linux"]["gidMappings"] = json!([
            {"containerID": 0, "hostID": u.gid, "size": 1},
            {"containerID": 1, "hostID": u.subgid, "size": 65536}
        ]);
        // chown needs CAP_CHOWN, which the rootless default set lacks;
        // /tmp must be writable.
        for k in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][k]
                .as_array_mut()
                .unwrap()
                .push(json!("CAP_CHOWN"));
        }
        c["root"]["readonly"] = json!(false);
    });
    b.sh(
        "cat /proc/self/uid_map; echo --; cat /proc/self/gid_map; echo --; \
          touch /tmp/x && chown 1000:1000 /tmp/x && stat -c %u:%g /tmp/x",
    );
    let id = unique_id("rl-subid");
    let o = rt.run(&b, &id, &[]);
    o.ok();
    let parts: Vec<&str> = o.stdout.split("--\n").collect();
    assert_eq!(parts.len(), 3, "{o}");
    assert_eq!(
        map_lines(parts[0]),
        [format!("0 {} 1", u.uid), format!("1 {} 65536", u.subuid)],
        "{o}"
    );
    assert_eq!(
        map_lines(parts[1]),
        [format!("0 {} 1", u.gid), format!("1 {} 65536", u.subgid)],
        "{o}"
    );
    assert_eq!(parts[2].trim(), "1000:1000", "{o}");
    // On the host: container 1000 is subuid + 999.
    let md = std::fs::metadata(b.inner.rootfs().join("tmp/x")).unwrap();
    assert_eq!((md.uid(), md.gid()), (u.subuid + 999, u.subgid + 999));
}

#[test]
fn rootless_subid_range_needs_the_users_own_range() {
    // A range the user was not given: newuidmap refuses, and so must run.
    let u = user();
    let rt = URuntime::new();
    let mut b = RBundle::new();
    b.edit(|c| {
        c["linux"]["uidMappings"] = json!([
            {"containerID": 0, "hostID": u.uid, "size": 1},
            {"containerID": 1, "hostID": 1, "size": 100}
        ]);
    });
    let id = unique_id("rl-badrange");
    let o = rt.run(&b, &id, &[]);
    let err = o.fails();
    assert!(
        err.contains("newuidmap"),
        "error does not name newuidmap: {o}"
    );
    assert!(rt.list().is_empty(), "{:?}", rt.list());
}

#[test]
fn rootless_without_resources_skips_cgroups() {
    let rt = URuntime::new();
    let mut b = RBundle::new();
    b.sh("echo ran");
    let id = unique_id("rl-nocg");
    let o = rt.run(&b, &id, &[]);
    o.ok();
    assert_eq!(o.stdout, "ran\n", "{o}");
    assert!(
        leftover_cgroups(&id).is_empty(),
        "{:?}",
        leftover_cgroups(&id)
    );
    // Detached too: the container runs with no cgroup of its own.
    let id = unique_id("rl-nocg");
    b.sh("sleep 1000");
    rt.run(&b, &id, &["-d"]).ok();
    assert_eq!(rt.state(&id)["status"], "running");
    assert!(
        leftover_cgroups(&id).is_empty(),
        "{:?}",
        leftover_cgroups(&id)
    );
    rt.cmd(&["delete", "-f", &id]).ok();
}

#[test]
fn rootless_memory_limit_is_a_clear_error() {
    // No delegated cgroup on this host (no systemd): a limit cannot be
    // applied, and silently running unlimited would be wrong.
    let rt = URuntime::new();
    let mut b = RBundle::new();
    b.edit(|c| c["linux"]["resources"] = json!({"memory": {"limit": 67108864}}));
    b.sh("echo ran");
    let id = unique_id("rl-mem");
    let o = rt.run(&b, &id, &[]);
    let err = o.fails();
    assert!(
        !o.stdout.contains("ran"),
        "ran without its memory limit: {o}"
    );
    assert!(
        err.contains("linux.resources"),
        "the error does not say linux.resources cannot be applied: {o}"
    );
    assert!(rt.list().is_empty(), "{:?}", rt.list());
    assert!(
        leftover_cgroups(&id).is_empty(),
        "{:?}",
        leftover_cgroups(&id)
    );
}

/// Cgroup directories `/NAME` made by root in the given hierarchies and
/// given to the user; removed (children first) on drop.
struct Delegated {
    name: String,
    subs: Vec<PathBuf>,
}

impl Delegated {
    fn new(subs: &[&str]) -> Delegated {
        let u = user();
        let name = unique_id("deleg");
        let mut v = Vec::new();
        for s in subs {
            let d = PathBuf::from("/sys/fs/cgroup").join(s).join(&name);
            std::fs::create_dir(&d).unwrap();
            if *s == "cpuset" {
                for f in ["cpuset.cpus", "cpuset.mems"] {
                    let val =
                        std::fs::read_to_string(PathBuf::from("/sys/fs/cgroup/cpuset").join(f))
                            .unwrap();
                    std::fs::write(d.join(f), val.trim()).unwrap();
                }
            }
            chown_r(&d, u.uid, u.gid);
            v.push(d);
        }
        Delegated { name, subs: v }
    }
}

impl Drop for Delegated {
    fn drop(&mut self) {
        for d in &self.subs {
            if let Ok(rd) = std::fs::read_dir(d) {
                for e in rd.flatten() {
                    if e.path().is_dir() {
                        let _ = std::fs::remove_dir(e.path());
                    }
                }
            }
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// The v1 hierarchies mounted here (common's list, plus hugetlb if mounted).
fn v1_hierarchies() -> Vec<&'static str> {
    let mut v: Vec<&str> = CGROUP_V1
        .iter()
        .copied()
        .filter(|s| {
            Path::new("/sys/fs/cgroup")
                .join(s)
                .join("cgroup.procs")
                .exists()
        })
        .collect();
    if Path::new("/sys/fs/cgroup/hugetlb/cgroup.procs").exists() {
        v.push("hugetlb");
    }
    v
}

#[test]
fn rootless_partly_delegated_cgroup_fails_cleanly() {
    // Root gave the user some hierarchies but not all (here: the v1 ones,
    // not the unified one of a hybrid host, or not hugetlb): create fails
    // part-way through making the cgroup, and must undo what it made.
    let hier = v1_hierarchies();
    if hier.is_empty() {
        common::skip_host("no cgroup v1 hierarchies");
        return;
    }
    // Leave out the last hierarchy the runtime will visit.
    let given: Vec<&str> = hier[..hier.len() - 1].to_vec();
    let unified = Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists();
    let given = if unified { hier.clone() } else { given };
    let dl = Delegated::new(&given);
    let rt = URuntime::new();
    let mut b = RBundle::new();
    let id = unique_id("rl-deleg");
    let cg = format!("/{}/{id}", dl.name);
    b.edit(|c| {
        c["linux"]["cgroupsPath"] = json!(cg);
        c["linux"]["resources"] = json!({"memory": {"limit": 67108864}});
    });
    b.sh("echo ran");
    let o = rt.run(&b, &id, &[]);
    o.fails();
    assert!(rt.list().is_empty(), "{:?}", rt.list());
    let left: Vec<PathBuf> = dl
        .subs
        .iter()
        .map(|d| d.join(&id))
        .filter(|p| p.exists())
        .collect();
    assert!(
        left.is_empty(),
        "a failed create left cgroup directories: {left:?}\n{o}"
    );
}

#[test]
fn rootless_default_root_without_xdg_runtime_dir() {
    let u = user();
    let mut rt = URuntime::new();
    rt.no_xdg = true;
    let mut b = RBundle::new();
    b.sh("sleep 1000");
    let id = unique_id("rl-noxdg");
    rt.run(&b, &id, &["-d"]).ok();
    let sd = PathBuf::from(format!("/tmp/berth-oci-{}", u.uid)).join(&id);
    assert!(sd.is_dir(), "state not in {}", sd.display());
    assert!(rt.list().contains(&id));
    rt.cmd(&["delete", "-f", &id]).ok();
    assert!(!sd.exists());
}

#[test]
fn rootless_cannot_touch_roots_containers() {
    // A container of root's, in a root-owned state dir, is out of reach.
    let root_rt = Runtime::new();
    let b = {
        let mut b = Bundle::new();
        b.sh("sleep 1000");
        b
    };
    let id = unique_id("rl-rootc");
    root_rt.run_detached(&b, &id).ok();
    let root = root_rt.root_path().to_str().unwrap().to_string();
    let rt = URuntime::new();
    let o = rt.cmd(&["--root", &root, "kill", &id, "KILL"]);
    o.fails();
    assert_eq!(root_rt.status(&id), "running");
    let o = rt.cmd(&["--root", &root, "delete", "-f", &id]);
    o.fails();
    assert_eq!(root_rt.status(&id), "running");
    root_rt.delete_force(&id).ok();
}

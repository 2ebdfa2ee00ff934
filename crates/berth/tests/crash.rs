//! Crash safety and races of the store, with the real `berth` binary:
//! prunes looping beside parallel `run -d`, `rmi` racing a create, berth
//! processes killed with SIGKILL half way (`run -d`, `rm -f`, `import`),
//! corrupted records. After each, the invariants: every id `run -d`
//! printed is there, `ps -a` shows everything on disk, and nothing (mount,
//! cgroup, process, temp file) is left once the containers are removed.
//! Needs root (namespaces, overlay, cgroups).

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Env;

struct Ctr {
    env: Env,
}

impl Ctr {
    fn new() -> Ctr {
        let env = Env::new();
        env.import_busybox("bb", &[]);
        Ctr { env }
    }

    fn ok(&self, args: &[&str]) -> String {
        self.env.ok(args)
    }

    /// (exit code, stdout, stderr).
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        self.env.run(args)
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.env
            .cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn containers_dir(&self) -> PathBuf {
        self.env.root().join("containers")
    }

    /// `ps -a`: (full id, name, status) rows.
    fn ps_all(&self) -> Vec<(String, String, String)> {
        self.ok(&[
            "ps",
            "-a",
            "--no-trunc",
            "--format",
            "{{.ID}}\t{{.Names}}\t{{.Status}}",
        ])
        .lines()
        .map(|l| {
            let mut f = l.splitn(3, '\t').map(str::to_string);
            (
                f.next().unwrap_or_default(),
                f.next().unwrap_or_default(),
                f.next().unwrap_or_default(),
            )
        })
        .collect()
    }

    /// The entries of `containers/` (after a `ps -a`, which reclaims
    /// what killed processes left): each must be a container `ps -a` shows.
    fn assert_ps_shows_everything_on_disk(&self) {
        let ps: Vec<String> = self.ps_all().into_iter().map(|r| r.0).collect();
        let mut disk: Vec<String> = std::fs::read_dir(self.containers_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        disk.sort();
        let mut shown = ps.clone();
        shown.sort();
        assert_eq!(disk, shown, "containers/ holds what ps -a does not show");
    }

    /// Removes every container, then: nothing of them is left on the host.
    fn remove_all_and_check_nothing_left(&self) {
        let ids: Vec<String> = self.ps_all().into_iter().map(|r| r.0).collect();
        for id in &ids {
            self.ok(&["rm", "-f", id]);
        }
        self.assert_nothing_left(&ids);
    }

    fn assert_nothing_left(&self, ids: &[String]) {
        let left: Vec<_> = std::fs::read_dir(self.containers_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "left in containers/: {left:?}");
        let root = self.env.root();
        let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let rootfs_mounts: Vec<&str> = mi
            .lines()
            .filter(|l| l.contains(root.join("containers").to_str().unwrap()))
            .collect();
        assert!(rootfs_mounts.is_empty(), "still mounted: {rootfs_mounts:?}");
        for id in ids {
            for cg in cgroup_dirs(id) {
                assert!(!cg.exists(), "cgroup {} left", cg.display());
            }
        }
        // No monitor (whose command line names the root) is left.
        let me = root.to_string_lossy().into_owned();
        let t = Instant::now();
        loop {
            let procs = processes_naming(&me);
            if procs.is_empty() {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "processes left: {procs:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let tmp: Vec<_> = std::fs::read_dir(root.join("tmp"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("blob-") || n.starts_with("snap-") || n.starts_with("del-"))
            .collect();
        assert!(tmp.is_empty(), "left in tmp/: {tmp:?}");
    }
}

impl Drop for Ctr {
    fn drop(&mut self) {
        let ids = self.env.output(&["ps", "-a", "-q", "--no-trunc"]);
        for id in String::from_utf8_lossy(&ids.stdout).lines() {
            let _ = self.env.output(&["rm", "-f", id]);
        }
    }
}

/// The cgroup directories a container of this id would have (`/berth/<id>`
/// in each hierarchy).
fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut v = vec![Path::new("/sys/fs/cgroup/berth").join(id)];
    if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
        for e in rd.flatten() {
            v.push(e.path().join("berth").join(id));
        }
    }
    v
}

/// Pids whose command line contains `s`.
fn processes_naming(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if !n.bytes().all(|b| b.is_ascii_digit()) || n == std::process::id().to_string() {
            continue;
        }
        if let Ok(c) = std::fs::read(e.path().join("cmdline")) {
            let c = String::from_utf8_lossy(&c).replace('\0', " ");
            if c.contains(s) {
                out.push(format!("{n}: {c}"));
            }
        }
    }
    out
}

/// SIGKILL through kill(1), as the other tests do.
fn sigkill(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// A process that exited already (its pid unused now, but for reuse).
fn dead_pid() -> u32 {
    let mut c = Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid
}

/// Prunes (`container prune`, `system prune`, `image prune -a`) loop
/// beside 20 parallel `run -d`: every run prints an id of a container that
/// runs afterwards, no prune removes one of them nor fails.
#[test]
fn prune_loop_beside_parallel_run_removes_nothing_being_created() {
    let c = Arc::new(Ctr::new());
    // Keeps `bb` in use by a running container (else `image prune -a`
    // may rightly remove it before the first create).
    let keeper = c
        .ok(&["run", "-d", "bb", "busybox", "sleep", "300"])
        .trim()
        .to_string();
    let done = Arc::new(AtomicBool::new(false));
    let deleted = Arc::new(Mutex::new(Vec::<String>::new()));
    let prune_failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut pruners = Vec::new();
    for args in [
        vec!["container", "prune", "-f"],
        vec!["system", "prune", "-f"],
        vec!["image", "prune", "-a", "-f"],
    ] {
        let (c, done, deleted, fails) = (
            c.clone(),
            done.clone(),
            deleted.clone(),
            prune_failures.clone(),
        );
        pruners.push(std::thread::spawn(move || {
            let mut rounds = 0;
            while !done.load(Ordering::SeqCst) {
                let (code, out, err) = c.run(&args);
                if code != 0 {
                    fails
                        .lock()
                        .unwrap()
                        .push(format!("{args:?}: {code}: {err}"));
                }
                deleted
                    .lock()
                    .unwrap()
                    .extend(out.lines().map(str::to_string));
                rounds += 1;
            }
            rounds
        }));
    }
    let mut runners = Vec::new();
    for _ in 0..4 {
        let c = c.clone();
        runners.push(std::thread::spawn(move || {
            let mut ids = Vec::new();
            for _ in 0..5 {
                let (code, out, err) = c.run(&["run", "-d", "bb", "busybox", "sleep", "300"]);
                assert_eq!(code, 0, "run -d failed beside the prunes: {err}");
                ids.push(out.trim().to_string());
            }
            ids
        }));
    }
    let ids: Vec<String> = runners
        .into_iter()
        .flat_map(|r| r.join().unwrap())
        .collect();
    done.store(true, Ordering::SeqCst);
    let rounds: Vec<i32> = pruners.into_iter().map(|p| p.join().unwrap()).collect();
    assert!(rounds.iter().all(|r| *r > 0), "{rounds:?}");
    let fails = prune_failures.lock().unwrap();
    assert!(fails.is_empty(), "prunes failed: {fails:?}");
    let deleted = deleted.lock().unwrap();
    assert_eq!(ids.len(), 20);
    for id in ids.iter().chain([&keeper]) {
        assert_eq!(id.len(), 64, "{id}");
        assert!(!deleted.contains(id), "a prune removed {id}");
        assert_eq!(
            c.ok(&["inspect", "-f", "{{.State.Status}}", id]).trim(),
            "running",
            "{id}"
        );
    }
    c.assert_ps_shows_everything_on_disk();
    c.remove_all_and_check_nothing_left();
}

/// `rmi` beside a create of its image: either the image goes and the
/// create fails cleanly ("No such image"), or the container is made and
/// runs and `rmi` refuses; never a container without its layers.
#[test]
fn rmi_racing_a_create_never_leaves_a_container_without_its_image() {
    let c = Ctr::new();
    for i in 0..6 {
        c.env.import_busybox("bb2", &[&format!("LABEL round={i}")]);
        let run = c.spawn(&[
            "run", "-d", "--pull", "never", "bb2", "busybox", "sleep", "300",
        ]);
        let (rcode, _, rerr) = c.run(&["rmi", "bb2"]);
        let o = run.wait_with_output().unwrap();
        let (out, err) = (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        );
        if o.status.success() {
            let id = out.trim();
            assert_eq!(
                c.ok(&["inspect", "-f", "{{.State.Status}}", id]).trim(),
                "running"
            );
            assert_ne!(rcode, 0, "rmi removed the image of container {id}");
            assert!(rerr.contains("conflict"), "{rerr}");
            c.ok(&["rm", "-f", id]);
            c.ok(&["rmi", "bb2"]);
        } else {
            assert_eq!(rcode, 0, "neither rmi nor run: {rerr} / {err}");
            // (Gone before `run` looked, or before its create resolved it.)
            assert!(
                err.contains("No such image") || err.contains("image not found: bb2"),
                "round {i}: {err}"
            );
        }
    }
    c.assert_ps_shows_everything_on_disk();
    c.remove_all_and_check_nothing_left();
}

/// `run -d` killed at many points of its create and start: whatever is
/// left is shown by `ps -a` (or reclaimed), and `container prune` and
/// `rm -f` remove it with its mounts, cgroups and processes.
#[test]
fn run_killed_during_create_leaves_nothing_unseen() {
    let c = Ctr::new();
    let dir = c.containers_dir();
    c.ps_all(); // (makes containers/)
    let mut seen = Vec::new();
    const LATER_MS: [u64; 10] = [20, 40, 60, 80, 100, 130, 160, 200, 260, 350];
    for round in 0..16 {
        let mut run = c.spawn(&["run", "-d", "bb", "busybox", "sleep", "300"]);
        if round < 6 {
            // As soon as its directory appears (mid create).
            let t = Instant::now();
            while std::fs::read_dir(&dir).map_or(0, |d| d.count()) == 0
                && t.elapsed() < Duration::from_secs(10)
            {
                std::hint::spin_loop();
            }
            std::thread::sleep(Duration::from_micros(round * 300));
        } else {
            // Later: in the create, the start, the monitor's start.
            std::thread::sleep(Duration::from_millis(LATER_MS[round as usize - 6]));
        }
        sigkill(&mut run);
        // Prunes right away: a start the killed run left to its monitor
        // is no leftover to them.
        c.ok(&["container", "prune", "-f"]);
        c.ok(&["system", "prune", "-f"]);
        // A monitor it launched finishes the start on its own (or fails
        // it); the verdicts below are on what is left after that.
        let root = c.env.root().to_string_lossy().into_owned();
        let t = Instant::now();
        while processes_naming(&root)
            .iter()
            .any(|p| p.contains("create-start"))
        {
            assert!(t.elapsed() < Duration::from_secs(20), "a start never ended");
            std::thread::sleep(Duration::from_millis(20));
        }
        c.assert_ps_shows_everything_on_disk();
        let ps = c.ps_all();
        assert!(ps.len() <= 1, "{ps:?}");
        seen.extend(ps.iter().map(|r| r.0.clone()));
        // A container left stopped goes with prune; a running one with rm -f.
        let pruned = c.ok(&["container", "prune", "-f"]);
        for (id, _, status) in &ps {
            if !status.starts_with("Up") {
                assert!(pruned.contains(id.as_str()), "{status}: {pruned}");
            }
        }
        c.remove_all_and_check_nothing_left();
    }
    c.assert_nothing_left(&seen);
}

/// `rm -f` killed at many points: the container is either gone (its name
/// free again) or still listed, and `rm NAME` then removes it.
#[test]
fn rm_killed_half_way_leaves_a_container_rm_removes() {
    let c = Ctr::new();
    for round in 0..8u64 {
        let name = format!("victim{round}");
        let id = c
            .ok(&[
                "run", "-d", "--name", &name, "bb", "busybox", "sleep", "300",
            ])
            .trim()
            .to_string();
        let mut rm = c.spawn(&["rm", "-f", &name]);
        std::thread::sleep(Duration::from_millis(5 * round));
        sigkill(&mut rm);
        c.assert_ps_shows_everything_on_disk();
        let ps = c.ps_all();
        if let Some((_, n, status)) = ps.iter().find(|r| r.0 == id) {
            assert_eq!(n, &name);
            assert!(
                !status.contains("Removal In Progress"),
                "its remover is dead: {status}"
            );
            let (code, _, err) = c.run(&["rm", "-f", &name]);
            assert_eq!(code, 0, "rm {name} after a killed rm -f: {err}");
        }
        assert!(c.ps_all().is_empty());
        // The name is free again.
        c.ok(&["create", "--name", &name, "bb", "true"]);
        c.ok(&["rm", &name]);
        c.assert_nothing_left(&[id]);
    }
}

/// A container whose removal was interrupted (its state left "removing"
/// by a process that died) is dead, and `rm NAME` removes it.
#[test]
fn interrupted_removal_shows_dead_and_rm_by_name_removes_it() {
    let c = Ctr::new();
    let id = c
        .ok(&["create", "--name", "halfgone", "bb", "true"])
        .trim()
        .to_string();
    let st = c.containers_dir().join(&id).join("state.json");
    std::fs::write(&st, r#"{"Status": "removing"}"#).unwrap();
    let ps = c.ps_all();
    assert_eq!(ps.len(), 1);
    assert_eq!(ps[0].2, "Dead", "{ps:?}");
    let err = c.ok(&["inspect", "-f", "{{.State.Error}}", "halfgone"]);
    assert!(err.contains("removal") && err.lines().count() == 1, "{err}");
    c.ok(&["rm", "halfgone"]);
    c.assert_nothing_left(&[id]);
}

/// A truncated `config.v2.json`: `ps -a` shows the container dead,
/// `inspect` says why in one line, and `rm -f` removes it (its process too).
#[test]
fn truncated_config_shows_dead_and_rm_f_removes_it() {
    let c = Ctr::new();
    let id = c
        .ok(&[
            "run", "-d", "--name", "broken", "bb", "busybox", "sleep", "300",
        ])
        .trim()
        .to_string();
    let cfg = c.containers_dir().join(&id).join("config.v2.json");
    let data = std::fs::read(&cfg).unwrap();
    std::fs::write(&cfg, &data[..data.len() / 2]).unwrap();
    let ps = c.ps_all();
    assert_eq!(ps.len(), 1, "{ps:?}");
    assert_eq!(ps[0], (id.clone(), "broken".into(), "Dead".into()));
    let (code, out, err) = c.run(&["inspect", "broken"]);
    assert_ne!(code, 0, "{out}");
    assert!(
        err.starts_with("berth: ") && err.contains("config.v2.json") && err.lines().count() == 1,
        "{err}"
    );
    c.ok(&["rm", "-f", "broken"]);
    assert!(c.ps_all().is_empty());
    c.assert_nothing_left(&[id]);

    // Stopped, and with its state unreadable too: container prune takes it.
    let id = c.ok(&["create", "bb", "true"]).trim().to_string();
    std::fs::write(c.containers_dir().join(&id).join("state.json"), b"{\"Sta").unwrap();
    assert_eq!(c.ps_all()[0].2, "Dead");
    let pruned = c.ok(&["container", "prune", "-f"]);
    assert!(pruned.contains(&id), "{pruned}");
    c.assert_nothing_left(&[id]);
}

/// What a killed `import` left in tmp/ (and entries made by hand with a
/// dead owner) is reclaimed by `system prune`, which counts it; entries
/// of live processes stay.
#[test]
fn temp_files_of_killed_processes_are_reclaimed_and_counted_by_system_prune() {
    let c = Ctr::new();
    let tmp = c.env.root().join("tmp");
    // A real one: an import killed while it reads its input.
    let mut imp = c
        .env
        .cmd(&["import", "-", "half"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = imp.stdin.take().unwrap();
    let tar = common::busybox_tar();
    stdin.write_all(&tar[..tar.len() / 2]).unwrap();
    stdin.flush().unwrap();
    let blob_of_import = || {
        std::fs::read_dir(&tmp)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("blob-"))
    };
    let t = Instant::now();
    while !blob_of_import() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "import made no temp blob"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    sigkill(&mut imp);
    drop(stdin);
    // The next command that takes a lease (this create) reclaims it.
    c.ok(&["create", "bb", "true"]);
    assert!(!blob_of_import(), "the killed import's temp blob stayed");
    // By hand: a snapshot being unpacked and a blob, by a process gone.
    let dead = dead_pid();
    let snap = tmp.join(format!("snap-{dead}.12345-1-0"));
    std::fs::create_dir_all(snap.join("fs/usr")).unwrap();
    std::fs::write(snap.join("fs/usr/big"), vec![7u8; 3 << 20]).unwrap();
    std::fs::write(
        tmp.join(format!("blob-{dead}.12345-1-1")),
        vec![1u8; 2 << 20],
    )
    .unwrap();
    let out = c.ok(&["system", "prune", "-f"]);
    let total = out
        .lines()
        .find_map(|l| l.strip_prefix("Total reclaimed space: "))
        .unwrap_or_else(|| panic!("{out}"));
    let mb: f64 = total
        .strip_suffix("MB")
        .unwrap_or_else(|| panic!("{total}"))
        .parse()
        .unwrap();
    assert!(mb >= 5.0, "{out}");
    let left: Vec<String> = std::fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("blob-") || n.starts_with("snap-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // The image and the container stay.
    assert_eq!(c.ok(&["images", "-q"]).lines().count(), 1);
    assert_eq!(
        c.ps_all().len(),
        0,
        "system prune removes stopped containers"
    );
}

/// Whether some process holds a flock on `path` (checked with flock(1)).
fn locked(path: &Path) -> bool {
    !Command::new("flock")
        .args(["-n", "-x"])
        .arg(path)
        .arg("true")
        .status()
        .unwrap()
        .success()
}

/// A `run -d` stopped (SIGSTOP) once its container's record is written,
/// before it runs, while it holds neither the store lock nor a lease (stepped with
/// SIGCONT/SIGSTOP until then; a run that gets past that point is let go
/// and another is tried): prunes leave that container alone, and once
/// continued the run prints its id and the container runs.
#[test]
fn run_stopped_between_create_and_start_is_not_pruned() {
    let c = Ctr::new();
    let dir = c.containers_dir();
    c.ps_all(); // (makes containers/)
    let root = c.env.root();
    for _attempt in 0..20 {
        let run = c.spawn(&["run", "-d", "bb", "busybox", "sleep", "300"]);
        let signal = |s: &str| {
            Command::new("kill")
                .args([s, &run.id().to_string()])
                .status()
                .unwrap()
        };
        let t = Instant::now();
        let caught = loop {
            assert!(t.elapsed() < Duration::from_secs(30), "no stop point");
            signal("-STOP");
            let made = std::fs::read_dir(&dir)
                .unwrap()
                .flatten()
                .find(|e| e.path().join("config.v2.json").exists());
            if let Some(e) = made {
                if e.path().join("state.json").exists() {
                    break None; // Past the point: it started.
                }
                if !locked(&root.join("containers.lock")) && !locked(&root.join("gc.lock")) {
                    break Some(e.file_name().to_string_lossy().into_owned());
                }
            }
            signal("-CONT");
            std::thread::sleep(Duration::from_micros(100));
        };
        if let Some(id) = &caught {
            // (Not system prune: it waits for the container lock a start
            // may hold; the prune loop test has it.)
            for args in [
                &["container", "prune", "-f"][..],
                &["image", "prune", "-a", "-f"],
            ] {
                let out = c.ok(args);
                assert!(!out.contains(id.as_str()), "{args:?} removed it: {out}");
            }
            assert!(dir.join(id).join("config.v2.json").exists());
        }
        signal("-CONT");
        let o = run.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let printed = String::from_utf8_lossy(&o.stdout).trim().to_string();
        assert_eq!(
            c.ok(&["inspect", "-f", "{{.State.Status}}", &printed])
                .trim(),
            "running"
        );
        c.remove_all_and_check_nothing_left();
        if let Some(id) = caught {
            assert_eq!(printed, id);
            return;
        }
    }
    panic!("no run was caught between its create and its start in 20 tries");
}

/// `run -d` killed while the monitor it launched is starting the
/// container (its `internal create-start` runs): prunes right then leave
/// the container to that start, which ends with it running.
#[test]
fn run_killed_while_its_monitor_starts_the_container_is_not_pruned() {
    let c = Ctr::new();
    let root = c.env.root().to_string_lossy().into_owned();
    for _attempt in 0..10 {
        let mut run = c.spawn(&["run", "-d", "bb", "busybox", "sleep", "300"]);
        let t = Instant::now();
        let mut caught = false;
        while t.elapsed() < Duration::from_secs(20) {
            if processes_naming(&root)
                .iter()
                .any(|p| p.contains("create-start"))
            {
                caught = true;
                break;
            }
            if run.try_wait().unwrap().is_some() {
                break;
            }
        }
        sigkill(&mut run);
        let pruned = c.ok(&["container", "prune", "-f"]);
        c.ok(&["system", "prune", "-f"]);
        let t = Instant::now();
        while processes_naming(&root)
            .iter()
            .any(|p| p.contains("create-start"))
        {
            assert!(t.elapsed() < Duration::from_secs(20), "a start never ended");
            std::thread::sleep(Duration::from_millis(20));
        }
        let ps = c.ps_all();
        if caught {
            assert_eq!(ps.len(), 1, "pruned during its start ({pruned}): {ps:?}");
            assert!(ps[0].2.starts_with("Up"), "{ps:?}");
        }
        c.assert_ps_shows_everything_on_disk();
        c.remove_all_and_check_nothing_left();
        if caught {
            return;
        }
    }
    panic!("no run was caught while its monitor started the container");
}

/// `network prune` looping beside `run -d` on a user network: the run
/// either fails cleanly at its create (the network gone before, nothing
/// made) or makes a container that runs on it; the network it attaches to
/// is never removed under it.
#[test]
fn network_prune_beside_create_never_removes_a_network_being_attached() {
    let c = Arc::new(Ctr::new());
    c.ps_all(); // (makes containers/)
    let mut made = 0;
    for i in 0..5 {
        let net = format!("crashnet{i}");
        c.ok(&["network", "create", &net]);
        let done = Arc::new(AtomicBool::new(false));
        let pruner = {
            let (c, done) = (c.clone(), done.clone());
            std::thread::spawn(move || {
                let mut fails = Vec::new();
                // From the moment the create has made its directory.
                let dir = c.containers_dir();
                while !done.load(Ordering::SeqCst)
                    && std::fs::read_dir(&dir).map_or(0, |d| d.count()) == 0
                {
                    std::hint::spin_loop();
                }
                while !done.load(Ordering::SeqCst) {
                    let (code, _, err) = c.run(&["network", "prune", "-f"]);
                    if code != 0 {
                        fails.push(err);
                    }
                }
                fails
            })
        };
        let (code, out, err) = c.run(&[
            "run",
            "-d",
            "--network",
            &net,
            "bb",
            "busybox",
            "sleep",
            "300",
        ]);
        done.store(true, Ordering::SeqCst);
        let fails = pruner.join().unwrap();
        assert!(fails.is_empty(), "network prune failed: {fails:?}");
        if code == 0 {
            let id = out.trim();
            assert_eq!(
                c.ok(&["inspect", "-f", "{{.State.Status}}", id]).trim(),
                "running"
            );
            c.ok(&["network", "inspect", &net]);
            made += 1;
        } else {
            assert!(err.contains("not found"), "{err}");
            assert!(c.ps_all().is_empty(), "a failed run left {:?}", c.ps_all());
        }
        c.remove_all_and_check_nothing_left();
        let _ = c.run(&["network", "rm", &net]);
    }
    assert!(made > 0, "no run got its container made");
}

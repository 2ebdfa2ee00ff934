//! Many berth processes on one store at once, with prunes looping beside
//! them and kill -9 thrown into pull, run and rm; then the store's
//! invariants. `BERTH_STRESS=N` sets the number of runs (and execs); the
//! default is small enough for `make test`. For the big run:
//! `BERTH_STRESS=1000 cargo test -p berth --test stress -- --nocapture`.

mod common;

use common::{DockerRegistry, Env};
use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn count() -> usize {
    std::env::var("BERTH_STRESS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24)
}

/// A small deterministic pseudo-random sequence (xorshift), per thread.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn berth(env: &Env, args: &[&str]) -> Command {
    let mut c = env.cmd(args);
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

/// Starts `args` and SIGKILLs it after up to `max_ms`.
fn killed(env: &Env, args: &[&str], rng: &mut Rng, max_ms: u64) {
    let mut child = berth(env, args).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(rng.below(max_ms)));
    let _ = child.kill();
    let _ = child.wait();
}

fn hex_dirs(dir: &std::path::Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
                .collect()
        })
        .unwrap_or_default()
}

fn ps_ids(env: &Env) -> BTreeSet<String> {
    env.ok(&["ps", "-a", "-q", "--no-trunc"])
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn parallel_run_exec_rm_with_prunes_and_kill_9() {
    let n = count();
    let env = Arc::new(Env::new());
    std::fs::write(
        env.path("busybox.tar"),
        berth_testkit::busybox_tar(&["sh", "sleep", "true"]),
    )
    .unwrap();
    env.import_busybox("bb", &[]);
    env.import_busybox("bb2", &[]);
    // bb is in use all along (image prune -a leaves it); bb2 only while a
    // worker's container uses it, so prunes race its creates.
    let anchor = env
        .ok(&["run", "-d", "bb", "sleep", "600"])
        .trim()
        .to_string();
    let tar = env.path("busybox.tar").to_string_lossy().into_owned();
    let registry = DockerRegistry::start(None);
    let remote = registry.as_ref().map(|r| {
        let name = r.name("stress/bb:1");
        env.ok(&["tag", "bb", &name]);
        env.ok(&["push", &name]);
        name
    });

    let done = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let kept = Arc::new(Mutex::new(Vec::<String>::new()));
    let execs = Arc::new(AtomicUsize::new(0));
    let fail = |f: &Arc<Mutex<Vec<String>>>, what: String| f.lock().unwrap().push(what);

    // Workers: run -d, exec into it, then keep it or remove it.
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (env, failures, kept, execs, tar) = (
                env.clone(),
                failures.clone(),
                kept.clone(),
                execs.clone(),
                tar.clone(),
            );
            std::thread::spawn(move || {
                for i in (w..n).step_by(4) {
                    let image = if i % 2 == 0 { "bb" } else { "bb2" };
                    let o = berth(
                        &env,
                        &["run", "-d", "--pull", "never", image, "sleep", "3600"],
                    )
                    .output()
                    .unwrap();
                    let id = String::from_utf8_lossy(&o.stdout).trim().to_string();
                    let err = String::from_utf8_lossy(&o.stderr);
                    if image == "bb2" && !o.status.success() && err.contains("bb2") {
                        // Pruned before this create took it: docker's error
                        // and nothing made. Import it again (a create too).
                        let _ = berth(&env, &["import", &tar, "bb2"]).output();
                        continue;
                    }
                    if !o.status.success() || id.len() != 64 {
                        fail(
                            &failures,
                            format!("run -d: {}", String::from_utf8_lossy(&o.stderr).trim()),
                        );
                        continue;
                    }
                    let o = berth(&env, &["exec", &id, "true"]).output().unwrap();
                    execs.fetch_add(1, Ordering::Relaxed);
                    if !o.status.success() {
                        fail(
                            &failures,
                            format!(
                                "exec {id}: {:?} {}",
                                o.status.code(),
                                String::from_utf8_lossy(&o.stderr).trim()
                            ),
                        );
                    }
                    if i % 3 == 0 {
                        kept.lock().unwrap().push(id);
                    } else {
                        let o = berth(&env, &["rm", "-f", &id]).output().unwrap();
                        if !o.status.success() {
                            fail(
                                &failures,
                                format!(
                                    "rm -f {id}: {}",
                                    String::from_utf8_lossy(&o.stderr).trim()
                                ),
                            );
                        }
                    }
                }
            })
        })
        .collect();

    // Prunes looping beside: they must never fail, nor take what is in use.
    let pruner = {
        let (env, failures, done) = (env.clone(), failures.clone(), done.clone());
        std::thread::spawn(move || {
            let prunes: [&[&str]; 3] = [
                &["container", "prune", "-f"],
                &["image", "prune", "-a", "-f"],
                &["system", "prune", "-f"],
            ];
            let mut k = 0;
            while !done.load(Ordering::Relaxed) {
                let args = prunes[k % prunes.len()];
                k += 1;
                let o = berth(&env, args).output().unwrap();
                if !o.status.success() {
                    fail(
                        &failures,
                        format!("{args:?}: {}", String::from_utf8_lossy(&o.stderr).trim()),
                    );
                }
            }
        })
    };

    // kill -9 thrown into run, rm and pull.
    let killer = {
        let (env, done, remote) = (env.clone(), done.clone(), remote.clone());
        std::thread::spawn(move || {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
            let mut k = 0;
            while !done.load(Ordering::Relaxed) {
                let name = format!("victim{k}");
                k += 1;
                killed(
                    &env,
                    &["run", "-d", "--name", &name, "bb", "sleep", "300"],
                    &mut rng,
                    60,
                );
                killed(&env, &["rm", "-f", &name], &mut rng, 40);
                if let Some(r) = &remote {
                    killed(&env, &["pull", r], &mut rng, 80);
                }
            }
        })
    };

    for w in workers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    pruner.join().unwrap();
    killer.join().unwrap();

    let failures = failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "{} failures in {n} runs and {} execs:\n{}",
        failures.len(),
        execs.load(Ordering::Relaxed),
        failures.join("\n")
    );

    // Every container run -d printed and the user did not remove is there
    // (it may have exited since: the check is that nothing took it).
    let kept = kept.lock().unwrap().clone();
    let all = ps_ids(&env);
    for id in kept.iter().chain([&anchor]) {
        assert!(
            all.contains(id),
            "container {id} that run -d printed is gone"
        );
    }
    // What is on disk is what ps -a shows (a killed run or rm included).
    let containers = env.root().join("containers");
    let listed = ps_ids(&env);
    assert_eq!(
        hex_dirs(&containers),
        listed,
        "ps -a and containers/ differ"
    );
    // And all of it can be removed: nothing left behind afterwards.
    for id in &listed {
        env.ok(&["rm", "-f", id]);
    }
    env.ok(&["system", "prune", "-a", "-f"]);
    assert!(ps_ids(&env).is_empty());
    assert!(hex_dirs(&containers).is_empty(), "containers/ not empty");
    let root = env.root().to_string_lossy().into_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let left: Vec<&str> = mounts.lines().filter(|l| l.contains(&root)).collect();
        let tmp: Vec<_> = std::fs::read_dir(env.root().join("tmp"))
            .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        let tmp: Vec<_> = tmp.into_iter().filter(|n| n != "partial").collect();
        if left.is_empty() && tmp.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "left behind: mounts {left:?}, tmp {tmp:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // No monitor of this store is still running.
    let mut monitors = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(&root) {
                monitors.push(cmd);
            }
        }
    }
    assert!(monitors.is_empty(), "processes left: {monitors:?}");
}

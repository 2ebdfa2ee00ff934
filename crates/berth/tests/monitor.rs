//! The monitor (berth-monitor) and init (berth-init) end to end: stdin,
//! terminals, attach, --init, restart policies, healthchecks, a killed
//! monitor, json-file logs. Needs root and the static helpers built
//! (`cargo build -p berth-monitor -p berth-init`, as `make test` does).

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::Env;

struct Ctr {
    env: Env,
}

impl Ctr {
    fn new() -> Ctr {
        let dir = std::path::Path::new(common::BERTH).parent().unwrap();
        for h in ["berth-monitor", "berth-init"] {
            assert!(
                dir.join(h).is_file(),
                "{h} is missing next to berth: run `cargo build -p berth-monitor -p berth-init` first"
            );
        }
        let env = Env::new();
        env.import_busybox("bb", &[]);
        Ctr { env }
    }

    fn ok(&self, args: &[&str]) -> String {
        self.env.ok(args)
    }

    /// Run with `input` on stdin; (exit code, stdout, stderr).
    fn run_in(&self, args: &[&str], input: &[u8]) -> (i32, String, String) {
        let mut cmd = self.env.cmd(args);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut ch = cmd.spawn().unwrap();
        let mut si = ch.stdin.take().unwrap();
        si.write_all(input).unwrap();
        drop(si);
        let o = ch.wait_with_output().unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    fn inspect(&self, id: &str, f: &str) -> String {
        self.ok(&["inspect", "-f", f, id]).trim().to_string()
    }

    fn state_json(&self, id: &str) -> serde_json::Value {
        let p = self
            .env
            .root()
            .join("containers")
            .join(id)
            .join("state.json");
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    }

    fn until(&self, what: &str, mut f: impl FnMut() -> bool) {
        let t = Instant::now();
        while !f() {
            assert!(t.elapsed() < Duration::from_secs(20), "timed out: {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The children of the container's init (host pids) and whether each
    /// is a zombie (zombies have left the cgroup, so `top` cannot list them).
    fn children(&self, id: &str) -> Vec<(i32, bool)> {
        let init: i32 = self.inspect(id, "{{.State.Pid}}").parse().unwrap();
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(p) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let st = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            let Some((_, rest)) = st.rsplit_once(") ") else {
                continue;
            };
            let f: Vec<&str> = rest.split_whitespace().collect();
            if f.get(1).and_then(|pp| pp.parse::<i32>().ok()) == Some(init) {
                out.push((p, f[0] == "Z"));
            }
        }
        out
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

#[test]
fn interactive_stdin_reaches_the_container() {
    let c = Ctr::new();
    let (code, out, err) = c.run_in(&["run", "-i", "bb", "cat"], b"hi\nthere\n");
    assert_eq!((code, out.as_str()), (0, "hi\nthere\n"), "{err}");
    // Without -i the container's stdin is empty.
    let (code, out, _) = c.run_in(&["run", "bb", "cat"], b"ignored\n");
    assert_eq!((code, out.as_str()), (0, ""));
    // The exit status is the container's.
    let (code, out, _) = c.run_in(
        &["run", "-i", "bb", "sh", "-c", "read x; echo got $x; exit 4"],
        b"line\n",
    );
    assert_eq!((code, out.as_str()), (4, "got line\n"));
}

#[test]
fn tty_gives_a_terminal_of_the_callers_size() {
    if !common::require("script") {
        return;
    }
    let c = Ctr::new();
    let cmd = format!(
        "stty rows 33 cols 77; {} --root {} run -t bb sh -c 'busybox tty; busybox stty size; exit 3'",
        common::BERTH,
        c.env.root().display()
    );
    let o = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("/dev/pts/"), "{out}");
    assert!(out.contains("33 77"), "{out}");
    assert_eq!(o.status.code(), Some(3), "{out}");
    // Output went to the log as stdout.
    let id = c.ok(&["ps", "-a", "-q", "--no-trunc"]).trim().to_string();
    let logs = c.env.output(&["logs", &id]);
    assert!(String::from_utf8_lossy(&logs.stdout).contains("33 77"));
}

#[test]
fn attach_sees_output_and_sends_input() {
    let c = Ctr::new();
    let id = c
        .ok(&[
            "run",
            "-d",
            "-i",
            "bb",
            "sh",
            "-c",
            "echo ready; read x; echo got $x; echo bye >&2; exit 5",
        ])
        .trim()
        .to_string();
    c.until("ready in the log", || {
        String::from_utf8_lossy(&c.env.output(&["logs", &id]).stdout).contains("ready")
    });
    let (code, out, err) = c.run_in(&["attach", &id], b"hello\n");
    assert_eq!(code, 5, "{err}");
    assert_eq!(out, "got hello\n");
    assert_eq!(err, "bye\n");
    // A stopped container cannot be attached to.
    let o = c.env.output(&["attach", &id]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn start_attached_interactive() {
    let c = Ctr::new();
    let id = c.ok(&["create", "-i", "bb", "cat"]).trim().to_string();
    let (code, out, err) = c.run_in(&["start", "-a", "-i", &id], b"x\ny\n");
    assert_eq!((code, out.as_str()), (0, "x\ny\n"), "{err}");
    // Again, with stdin at EOF at once.
    let (code, out, _) = c.run_in(&["start", "-a", "-i", &id], b"");
    assert_eq!((code, out.as_str()), (0, ""));
}

#[test]
fn init_reaps_zombies_and_forwards_signals() {
    let c = Ctr::new();
    // A shell that orphans a short-lived child, then execs a long sleep.
    let script = "(busybox sleep 2 &); exec busybox sleep 1000";
    // With berth-init (PID 1) the orphan comes to init, which reaps it:
    // only the command is left.
    let with = c
        .ok(&["run", "-d", "--init", "bb", "sh", "-c", script])
        .trim()
        .to_string();
    c.until("the orphan re-parented to init", || {
        c.children(&with).len() == 2
    });
    c.until("the orphan reaped under --init", || {
        let p = c.children(&with);
        p.len() == 1 && !p[0].1
    });
    // Without an init the orphan stays a zombie (the sleep does not reap).
    let without = c
        .ok(&["run", "-d", "bb", "sh", "-c", script])
        .trim()
        .to_string();
    c.until("a zombie without --init", || {
        c.children(&without).iter().any(|(_, z)| *z)
    });
    // As docker: Path is the command, HostConfig.Init records the flag.
    assert_eq!(
        c.inspect(&with, "{{.Path}} {{.HostConfig.Init}}"),
        "sh true"
    );
    // stop's SIGTERM reaches the sleep through init: 143, not SIGKILL's 137.
    c.ok(&["stop", "-t", "60", &with]);
    assert_eq!(c.inspect(&with, "{{.State.ExitCode}}"), "143");
    let (code, out, _) = c.run_in(&["run", "--rm", "--init", "bb", "sh", "-c", "exit 7"], b"");
    assert_eq!((code, out.as_str()), (7, ""));
    let (code, _, err) = c.run_in(&["run", "--rm", "--init", "bb", "nosuchcmd"], b"");
    assert_eq!(code, 127, "{err}");
}

#[test]
fn restart_on_failure_counts_and_stops() {
    let c = Ctr::new();
    let id = c
        .ok(&[
            "run",
            "-d",
            "--restart",
            "on-failure:2",
            "bb",
            "sh",
            "-c",
            "echo run; exit 1",
        ])
        .trim()
        .to_string();
    c.until("three runs, then exited", || {
        let logs = c.env.output(&["logs", &id]);
        String::from_utf8_lossy(&logs.stdout).lines().count() == 3
            && c.inspect(&id, "{{.State.Status}}") == "exited"
    });
    assert_eq!(
        c.inspect(&id, "{{.RestartCount}} {{.State.ExitCode}}"),
        "2 1"
    );
    // on-failure does not restart a success.
    let ok = c
        .ok(&["run", "-d", "--restart", "on-failure", "bb", "true"])
        .trim()
        .to_string();
    c.until("exited", || c.inspect(&ok, "{{.State.Status}}") == "exited");
    assert_eq!(c.inspect(&ok, "{{.RestartCount}}"), "0");
}

#[test]
fn restart_always_restarts_and_stop_prevents_it() {
    let c = Ctr::new();
    let id = c
        .ok(&["run", "-d", "--restart", "always", "bb", "echo", "tick"])
        .trim()
        .to_string();
    // Between its runs it shows "restarting" (as docker), never "exited".
    let mut seen = std::collections::BTreeSet::new();
    c.until("restarted twice", || {
        seen.insert(c.inspect(&id, "{{.State.Status}}"));
        c.inspect(&id, "{{.RestartCount}}")
            .parse::<u32>()
            .unwrap_or(0)
            >= 2
    });
    assert!(!seen.contains("exited"), "{seen:?}");
    c.ok(&["stop", &id]);
    let st = c.inspect(&id, "{{.State.Status}}");
    assert_eq!(st, "exited");
    assert_eq!(c.state_json(&id)["MonitorPid"], 0);
    // A long-running one: stop kills it and it stays stopped.
    let long = c
        .ok(&[
            "run",
            "-d",
            "--restart",
            "always",
            "bb",
            "busybox",
            "sleep",
            "1000",
        ])
        .trim()
        .to_string();
    c.ok(&["stop", "-t", "1", &long]);
    assert_eq!(
        c.inspect(&long, "{{.State.Status}} {{.RestartCount}}"),
        "exited 0"
    );
    assert_eq!(c.state_json(&long)["MonitorPid"], 0);
}

#[test]
fn kill_is_a_manual_stop_unless_another_signal_than_the_stop_signal() {
    let c = Ctr::new();
    // docker kill (SIGKILL): the restart policy does not restart it.
    let id = c
        .ok(&[
            "run",
            "-d",
            "--restart",
            "always",
            "bb",
            "busybox",
            "sleep",
            "1000",
        ])
        .trim()
        .to_string();
    c.ok(&["kill", &id]);
    // Exited with no restart counted: the exit decided against a restart
    // (a restart would have recorded `restarting` and counted it).
    c.until("exited", || c.inspect(&id, "{{.State.Status}}") == "exited");
    assert_eq!(
        c.inspect(&id, "{{.State.ExitCode}} {{.RestartCount}}"),
        "137 0"
    );
    assert_eq!(c.state_json(&id)["MonitorPid"], 0);
    let script = "trap 'exit 3' USR1; while :; do busybox sleep 1; done";
    // Without a configured stop signal, any signal of `kill` counts.
    let any = c
        .ok(&["run", "-d", "--restart", "always", "bb", "sh", "-c", script])
        .trim()
        .to_string();
    c.ok(&["kill", "-s", "USR1", &any]);
    c.until("exited", || {
        c.inspect(&any, "{{.State.Status}}") == "exited"
    });
    assert_eq!(
        c.inspect(&any, "{{.State.ExitCode}} {{.RestartCount}}"),
        "3 0"
    );
    // With one, another signal is not a stop: the policy restarts it.
    let other = c
        .ok(&[
            "run",
            "-d",
            "--restart",
            "always",
            "--stop-signal",
            "SIGTERM",
            "bb",
            "sh",
            "-c",
            script,
        ])
        .trim()
        .to_string();
    c.ok(&["kill", "-s", "USR1", &other]);
    c.until("restarted", || {
        c.inspect(&other, "{{.RestartCount}}") == "1"
            && c.inspect(&other, "{{.State.Status}}") == "running"
    });
    c.ok(&["rm", "-f", &other]);
}

#[test]
fn wait_returns_at_the_next_exit_through_restarts() {
    let c = Ctr::new();
    let id = c
        .ok(&[
            "run",
            "-d",
            "--restart",
            "always",
            "bb",
            "sh",
            "-c",
            "while [ ! -e /go ]; do busybox sleep 0.1; done; busybox rm /go; exit 7",
        ])
        .trim()
        .to_string();
    let mut waiter = c
        .env
        .cmd(&["wait", &id])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    c.ok(&["exec", &id, "busybox", "touch", "/go"]);
    let t = Instant::now();
    let status = loop {
        if let Some(s) = waiter.try_wait().unwrap() {
            break s;
        }
        if t.elapsed() > Duration::from_secs(20) {
            let _ = waiter.kill();
            let _ = waiter.wait();
            panic!(
                "wait did not return; the container: {}",
                c.inspect(&id, "{{.State.Status}} {{.RestartCount}}")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut out = String::new();
    std::io::Read::read_to_string(&mut waiter.stdout.take().unwrap(), &mut out).unwrap();
    assert!(status.success());
    assert_eq!(out.trim(), "7");
    // The policy started it again: a new run to wait for.
    c.until("restarted", || {
        c.inspect(&id, "{{.State.Status}} {{.RestartCount}}") == "running 1"
    });
    c.ok(&["rm", "-f", &id]);
}

#[test]
fn health_becomes_healthy_or_unhealthy() {
    let c = Ctr::new();
    let good = c
        .ok(&[
            "run",
            "-d",
            "--health-cmd",
            "cat /ok",
            "--health-interval",
            "100ms",
            "--health-retries",
            "1",
            "bb",
            "sh",
            "-c",
            "echo fine > /ok; exec busybox sleep 1000",
        ])
        .trim()
        .to_string();
    let bad = c
        .ok(&[
            "run",
            "-d",
            "--health-cmd",
            "cat /nonexistent",
            "--health-interval",
            "100ms",
            "--health-retries",
            "2",
            "bb",
            "busybox",
            "sleep",
            "1000",
        ])
        .trim()
        .to_string();
    c.until("healthy", || {
        c.inspect(&good, "{{.State.Health.Status}}") == "healthy"
    });
    let h: serde_json::Value =
        serde_json::from_str(&c.inspect(&good, "{{json .State.Health}}")).unwrap();
    assert_eq!(h["FailingStreak"], 0);
    let last = h["Log"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["ExitCode"], 0);
    assert_eq!(last["Output"], "fine\n");
    let ps = c.ok(&["ps", "--no-trunc", "--format", "{{.ID}} {{.Status}}"]);
    assert!(
        ps.lines()
            .any(|l| l.starts_with(&good) && l.ends_with("(healthy)")),
        "{ps}"
    );
    c.until("unhealthy", || {
        c.inspect(&bad, "{{.State.Health.Status}}") == "unhealthy"
    });
    let streak: i64 = c
        .inspect(&bad, "{{.State.Health.FailingStreak}}")
        .parse()
        .unwrap();
    assert!(streak >= 2, "{streak}");
    // --no-healthcheck: no State.Health.
    let none = c
        .ok(&[
            "run",
            "-d",
            "--no-healthcheck",
            "bb",
            "busybox",
            "sleep",
            "1000",
        ])
        .trim()
        .to_string();
    assert_eq!(c.inspect(&none, "{{json .State.Health}}"), "null");
}

/// Host processes whose command line is exactly `args`.
fn processes_running(args: &[&str]) -> usize {
    let want: Vec<u8> = args
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            let p = e.path();
            std::fs::read(p.join("cmdline")).is_ok_and(|c| c == want)
                && std::fs::read_to_string(p.join("stat"))
                    .is_ok_and(|s| !s.rsplit_once(") ").is_some_and(|(_, r)| r.starts_with('Z')))
        })
        .count()
}

#[test]
fn health_timeout_kills_the_probe_and_fails() {
    let c = Ctr::new();
    let marker = ["busybox", "sleep", "4711"];
    let id = c
        .ok(&[
            "run",
            "-d",
            "--health-cmd",
            "echo probing; exec busybox sleep 4711",
            "--health-interval",
            "100ms",
            "--health-timeout",
            "1s",
            "--health-retries",
            "3",
            "bb",
            "busybox",
            "sleep",
            "1000",
        ])
        .trim()
        .to_string();
    c.until("three timed-out probes", || {
        c.inspect(&id, "{{.State.Health.FailingStreak}}")
            .parse::<i64>()
            .unwrap_or(0)
            >= 3
    });
    assert_eq!(c.inspect(&id, "{{.State.Health.Status}}"), "unhealthy");
    let h: serde_json::Value =
        serde_json::from_str(&c.inspect(&id, "{{json .State.Health}}")).unwrap();
    let last = h["Log"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["ExitCode"], -1);
    assert_eq!(
        last["Output"], "Health check exceeded timeout (1s): probing\n",
        "{h}"
    );
    // Each timed-out probe was killed: they do not pile up (at most the
    // current one runs).
    let n = processes_running(&marker);
    assert!(n <= 1, "{n} probes still running");
    c.ok(&["rm", "-f", &id]);
    c.until("no probe left", || processes_running(&marker) == 0);
}

#[test]
fn killed_monitor_leaves_the_container_exited_and_unmounted() {
    let c = Ctr::new();
    let id = c
        .ok(&["run", "-d", "bb", "busybox", "sleep", "1000"])
        .trim()
        .to_string();
    let mon = c.state_json(&id)["MonitorPid"].as_i64().unwrap() as i32;
    assert!(mon > 0);
    let comm = std::fs::read_to_string(format!("/proc/{mon}/comm")).unwrap();
    assert_eq!(comm.trim(), "berth-monitor");
    std::process::Command::new("kill")
        .args(["-9", &mon.to_string()])
        .status()
        .unwrap();
    c.until("the monitor gone", || {
        std::fs::read_to_string(format!("/proc/{mon}/stat"))
            .map(|s| s.rsplit_once(") ").is_some_and(|(_, r)| r.starts_with('Z')))
            .unwrap_or(true)
    });
    let ps = c.ok(&["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Status}}"]);
    assert!(
        ps.lines()
            .any(|l| l.starts_with(&id) && l.contains("Exited (137)")),
        "{ps}"
    );
    let err = c.inspect(&id, "{{.State.Error}}");
    assert!(err.contains("monitor"), "{err}");
    let rootfs = c.env.root().join("containers").join(&id).join("rootfs");
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mi.contains(rootfs.to_str().unwrap()),
        "{} still mounted",
        rootfs.display()
    );
    c.ok(&["rm", &id]);
}

/// SIGKILLs the container's monitor and waits until it is gone; its pid.
fn kill_monitor(c: &Ctr, id: &str) -> i32 {
    let mon = c.state_json(id)["MonitorPid"].as_i64().unwrap() as i32;
    assert!(mon > 0);
    let comm = std::fs::read_to_string(format!("/proc/{mon}/comm")).unwrap();
    assert_eq!(comm.trim(), "berth-monitor");
    kill9(mon);
    c.until("the monitor gone", || !alive(mon));
    mon
}

fn kill9(pid: i32) {
    std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
}

/// Whether `pid` runs (a zombie does not).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(") ")
                .is_some_and(|(_, r)| !r.starts_with('Z'))
        })
        .unwrap_or(false)
}

/// A restart policy survives its monitor: the next command that reads the
/// store (here `ps`) finds the monitor dead and applies the policy.
///
/// The container's own processes outlive a SIGKILLed monitor (it is their
/// subreaper, not their parent). Berth does what docker does when the
/// containerd shim of a container dies (containerd's cleanupAfterDeadShim):
/// the container is killed and its run ends with 137, as nothing is left to
/// log its output, relay attach streams or collect its exit code; then the
/// policy restarts it as after any exit. `ps` reports it at once (restarting
/// or running again), never as running with a process nobody monitors.
fn killed_monitor_restarts(policy: &str) {
    let c = Ctr::new();
    let id = c
        .ok(&[
            "run",
            "-d",
            "--restart",
            policy,
            "bb",
            "busybox",
            "sleep",
            "1000",
        ])
        .trim()
        .to_string();
    let old: i32 = c.inspect(&id, "{{.State.Pid}}").parse().unwrap();
    assert!(old > 0);
    let mon = kill_monitor(&c, &id);
    let t = Instant::now();
    c.until("running again with a new pid", || {
        let ps = c.ok(&["ps", "--no-trunc", "--format", "{{.ID}} {{.Status}}"]);
        let up = ps.lines().any(|l| l.starts_with(&id) && l.contains(" Up "));
        up && c
            .inspect(&id, "{{.State.Pid}}")
            .parse::<i32>()
            .is_ok_and(|p| p > 0 && p != old)
    });
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    // The old run was ended (killed), not left behind unmonitored.
    c.until("the old process gone", || !alive(old));
    assert_eq!(c.inspect(&id, "{{.RestartCount}}"), "1");
    let new_mon = c.state_json(&id)["MonitorPid"].as_i64().unwrap() as i32;
    assert!(new_mon > 0 && new_mon != mon && alive(new_mon));
    // It is monitored again: a stop is a stop.
    c.ok(&["stop", "-t", "1", &id]);
    assert_eq!(c.inspect(&id, "{{.State.Status}}"), "exited");
    c.ok(&["rm", &id]);
}

#[test]
fn killed_monitor_of_a_restart_always_container_restarts_it() {
    killed_monitor_restarts("always");
}

#[test]
fn killed_monitor_of_an_unless_stopped_container_restarts_it() {
    killed_monitor_restarts("unless-stopped");
}

#[test]
fn killed_monitor_of_a_restart_no_container_stays_exited() {
    let c = Ctr::new();
    let id = c
        .ok(&[
            "run",
            "-d",
            "--restart",
            "no",
            "bb",
            "busybox",
            "sleep",
            "1000",
        ])
        .trim()
        .to_string();
    let old: i32 = c.inspect(&id, "{{.State.Pid}}").parse().unwrap();
    kill_monitor(&c, &id);
    let ps = c.ok(&["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Status}}"]);
    assert!(
        ps.lines()
            .any(|l| l.starts_with(&id) && l.contains("Exited (137)")),
        "{ps}"
    );
    c.until("the old process gone", || !alive(old));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(c.inspect(&id, "{{.State.Status}}"), "exited");
    assert_eq!(c.inspect(&id, "{{.State.Pid}}"), "0");
    assert_eq!(c.inspect(&id, "{{.RestartCount}}"), "0");
    c.ok(&["rm", &id]);
}

/// `system boot` after a restart of the machine, simulated: the state
/// records another boot id, and the container's processes and monitor are
/// gone (killed here, the monitor first so that it records nothing).
#[test]
fn system_boot_restarts_containers_after_a_reboot() {
    let c = Ctr::new();
    let always = c
        .ok(&[
            "run",
            "-d",
            "--restart",
            "always",
            "bb",
            "busybox",
            "sleep",
            "1000",
        ])
        .trim()
        .to_string();
    let no = c
        .ok(&["run", "-d", "bb", "busybox", "sleep", "1000"])
        .trim()
        .to_string();
    let mut olds = Vec::new();
    for id in [&always, &no] {
        let old: i32 = c.inspect(id, "{{.State.Pid}}").parse().unwrap();
        let p = c.env.root().join("containers").join(id).join("state.json");
        let mut st = c.state_json(id);
        assert!(st["BootId"].as_str().is_some_and(|b| !b.is_empty()), "{st}");
        st["BootId"] = "00000000-0000-0000-0000-000000000000".into();
        std::fs::write(&p, serde_json::to_vec(&st).unwrap()).unwrap();
        kill_monitor(&c, id);
        kill9(old);
        c.until("the container's process gone", || !alive(old));
        olds.push(old);
    }
    let out = c.ok(&["system", "boot"]);
    assert_eq!(out.trim(), always, "{out}");
    assert_eq!(c.inspect(&always, "{{.State.Status}}"), "running");
    let pid: i32 = c.inspect(&always, "{{.State.Pid}}").parse().unwrap();
    assert!(pid > 0 && pid != olds[0] && alive(pid));
    assert_eq!(c.inspect(&always, "{{.RestartCount}}"), "1");
    // Without a policy it is recorded as ended with the machine.
    assert_eq!(c.inspect(&no, "{{.State.Status}}"), "exited");
    assert!(c
        .inspect(&no, "{{.State.Error}}")
        .contains("machine restarted"));
    // Once per boot: nothing more to do.
    assert_eq!(c.ok(&["system", "boot"]).trim(), "");
    c.ok(&["rm", "-f", &always, &no]);
}

#[test]
fn json_file_logs_as_docker_writes_them() {
    let c = Ctr::new();
    let (code, _, _) = c.run_in(
        &[
            "run",
            "--name",
            "logger",
            "bb",
            "sh",
            "-c",
            "echo 'a<b>&\"c'; echo err >&2; echo -n partial",
        ],
        b"",
    );
    assert_eq!(code, 0);
    let id = c.inspect("logger", "{{.Id}}");
    let path = c
        .env
        .root()
        .join("containers")
        .join(&id)
        .join(format!("{id}-json.log"));
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    // Docker's escaping of HTML characters.
    assert!(
        lines[0].starts_with(r#"{"log":"a\u003cb\u003e\u0026\"c\n","stream":"stdout","time":""#),
        "{}",
        lines[0]
    );
    let mut streams = Vec::new();
    for l in &lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let t = v["time"].as_str().unwrap();
        // RFC3339Nano with nine digits, UTC.
        assert_eq!(t.len(), 30, "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t}");
        streams.push((
            v["stream"].as_str().unwrap().to_string(),
            v["log"].as_str().unwrap().to_string(),
        ));
    }
    assert!(streams.contains(&("stderr".into(), "err\n".into())));
    assert!(streams.contains(&("stdout".into(), "partial".into())));
    let out = c.ok(&["logs", "logger"]);
    assert!(out.contains("a<b>&\"c\n"), "{out}");
}

#[test]
fn exec_with_a_tty() {
    if !common::require("script") {
        return;
    }
    let c = Ctr::new();
    let id = c
        .ok(&["run", "-d", "bb", "busybox", "sleep", "1000"])
        .trim()
        .to_string();
    let cmd = format!(
        "stty rows 21 cols 55; {} --root {} exec -t {id} sh -c 'busybox tty; busybox stty size; exit 6'",
        common::BERTH,
        c.env.root().display()
    );
    let o = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("/dev/pts/"), "{out}");
    assert!(out.contains("21 55"), "{out}");
    assert_eq!(o.status.code(), Some(6), "{out}");
}

#[test]
fn external_runtimes_through_the_monitor() {
    let c = Ctr::new();
    for rt in ["runc", "crun"] {
        if !common::require(rt) {
            continue;
        }
        // crun 1.8 refuses a hybrid host whose cgroup2 hierarchy holds a
        // controller (hugetlb here, until scripts/hugetlb-v1.sh moves it).
        let v2 = std::fs::read_to_string("/sys/fs/cgroup/unified/cgroup.subtree_control");
        if rt == "crun" && v2.is_ok_and(|c| !c.trim().is_empty()) {
            berth_testkit::skip_host("crun refuses a hybrid host with cgroup2 controllers");
            continue;
        }
        let (code, out, err) = c.run_in(&["run", "--rm", "--runtime", rt, "bb", "echo", rt], b"");
        assert_eq!((code, out.trim()), (0, rt), "{err}");
        let (code, out, err) = c.run_in(
            &[
                "run",
                "--rm",
                "-i",
                "--runtime",
                rt,
                "bb",
                "sh",
                "-c",
                "cat; exit 3",
            ],
            b"in\n",
        );
        assert_eq!((code, out.as_str()), (3, "in\n"), "{err}");
        // -t: the runtime's console socket is ours; the master goes on to
        // the monitor.
        if common::require("script") {
            let cmd = format!(
                "stty rows 22 cols 66; {} --root {} run --rm -t --runtime {rt} bb sh -c 'busybox stty size; exit 4'",
                common::BERTH,
                c.env.root().display()
            );
            let o = std::process::Command::new("script")
                .args(["-qec", &cmd, "/dev/null"])
                .stdin(Stdio::null())
                .output()
                .unwrap();
            let out = String::from_utf8_lossy(&o.stdout);
            assert!(out.contains("22 66"), "{rt}: {out}");
            assert_eq!(o.status.code(), Some(4), "{rt}: {out}");
            // exec -t through the runtime: the pty of our size, stdin, the
            // exit code.
            let id = c
                .ok(&[
                    "run",
                    "-d",
                    "--runtime",
                    rt,
                    "bb",
                    "busybox",
                    "sleep",
                    "1000",
                ])
                .trim()
                .to_string();
            let cmd = format!(
                "stty rows 23 cols 77; {} --root {} exec -it {id} sh -c 'busybox stty size; read x; echo got-$x; exit 5'",
                common::BERTH,
                c.env.root().display()
            );
            let mut ch = std::process::Command::new("script")
                .args(["-qec", &cmd, "/dev/null"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            // The terminal buffers the line until the process reads it.
            ch.stdin.take().unwrap().write_all(b"typed\r").unwrap();
            let t = Instant::now();
            let st = loop {
                if let Some(st) = ch.try_wait().unwrap() {
                    break st;
                }
                if t.elapsed() > Duration::from_secs(20) {
                    let _ = ch.kill();
                    let _ = ch.wait();
                    panic!("{rt}: exec -t did not finish");
                }
                std::thread::sleep(Duration::from_millis(50));
            };
            let mut seen = Vec::new();
            std::io::Read::read_to_end(&mut ch.stdout.take().unwrap(), &mut seen).unwrap();
            let text = String::from_utf8_lossy(&seen);
            assert!(text.contains("23 77"), "{rt}: {text}");
            assert!(text.contains("got-typed"), "{rt}: {text}");
            assert_eq!(st.code(), Some(5), "{rt}: {text}");
            c.ok(&["rm", "-f", &id]);
        }
    }
}

#[test]
fn foreground_run_forwards_signals() {
    use std::io::BufRead;
    let c = Ctr::new();
    let mut cmd = c.env.cmd(&[
        "run",
        "bb",
        "sh",
        "-c",
        "trap 'echo got; exit 9' TERM; echo ready; while true; do busybox sleep 0.1; done",
    ]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut ch = cmd.spawn().unwrap();
    let mut out = std::io::BufReader::new(ch.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    std::process::Command::new("kill")
        .args(["-TERM", &ch.id().to_string()])
        .status()
        .unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let st = ch.wait().unwrap();
    assert_eq!(rest, "got\n");
    assert_eq!(st.code(), Some(9));
}

#[test]
fn run_it_detaches_with_ctrl_p_ctrl_q() {
    if !common::require("script") {
        return;
    }
    let c = Ctr::new();
    let mut t = Term::spawn(&c, "run -it --name detachme bb sh");
    // The prompt comes through berth's relay, which starts once the
    // terminal is raw.
    t.read_until("/ # ");
    t.send(b"echo typed\r");
    t.read_until("typed\r\n");
    t.send(&[0x10, 0x11]);
    assert_eq!(t.wait(), Some(0));
    // Detached: the container goes on.
    assert_eq!(c.inspect("detachme", "{{.State.Status}}"), "running");
}

#[test]
fn detach_keys_replace_ctrl_p_ctrl_q() {
    let c = Ctr::new();
    // Docker's format is checked before anything is created.
    let err = c.env.fails(
        &["run", "-it", "--detach-keys", "ctrl-foo", "bb", "sh"],
        125,
    );
    assert!(err.contains("Invalid detach keys (ctrl-foo)"), "{err}");
    assert!(c.ok(&["ps", "-aq"]).is_empty());
    if !common::require("script") {
        return;
    }
    let mut t = Term::spawn(&c, "run -it --detach-keys ctrl-a,x --name dk bb sh");
    t.read_until("/ # ");
    // ctrl-p ctrl-q and a lone ctrl-a go to the container now.
    t.send(&[0x10, 0x11, 0x01, b'y']);
    t.send(b"\x15echo still-attached\r");
    t.read_until("still-attached\r\n");
    t.send(&[0x01, b'x']);
    assert_eq!(t.wait(), Some(0));
    assert_eq!(c.inspect("dk", "{{.State.Status}}"), "running");
    // attach takes them too.
    let mut t = Term::spawn(&c, "attach --detach-keys ctrl-b dk");
    t.send(b"echo re-attached\r");
    t.read_until("re-attached\r\n");
    t.send(&[0x02]);
    assert_eq!(t.wait(), Some(0));
    assert_eq!(c.inspect("dk", "{{.State.Status}}"), "running");
}

#[test]
fn json_file_splits_long_lines_at_16k() {
    let c = Ctr::new();
    let (code, _, _) = c.run_in(
        &[
            "run",
            "--name",
            "longline",
            "bb",
            "sh",
            "-c",
            "i=0; while [ $i -lt 20000 ]; do printf x; i=$((i+1)); done; echo",
        ],
        b"",
    );
    assert_eq!(code, 0);
    let id = c.inspect("longline", "{{.Id}}");
    let path = c
        .env
        .root()
        .join("containers")
        .join(&id)
        .join(format!("{id}-json.log"));
    let text = std::fs::read_to_string(&path).unwrap();
    let logs: Vec<String> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["log"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(logs.len(), 2);
    assert_eq!(logs[0], "x".repeat(16384));
    assert_eq!(logs[1], format!("{}\n", "x".repeat(20000 - 16384)));
    // `logs` joins the partial entry with the rest.
    let out = c.ok(&["logs", "longline"]);
    assert_eq!(out, format!("{}\n", "x".repeat(20000)));
}

#[test]
fn large_stdin_while_the_container_writes_more() {
    let c = Ctr::new();
    // More input than the pipes hold, and twice as much output: the monitor
    // must keep draining output while the container is slow to read.
    let input: String = (0..20000).map(|i| format!("line {i}\n")).collect();
    let (code, out, err) = c.run_in(
        &[
            "run",
            "--rm",
            "-i",
            "bb",
            "sh",
            "-c",
            "while read l; do echo $l; echo $l; done",
        ],
        input.as_bytes(),
    );
    assert_eq!(code, 0, "{err}");
    let want: String = input.lines().map(|l| format!("{l}\n{l}\n")).collect();
    assert_eq!(out.len(), want.len());
    assert!(out == want);
}

/// `berth ARGS` on a terminal (script(1) gives it a pty): type into it and
/// read what it shows.
struct Term {
    child: std::process::Child,
    input: std::process::ChildStdin,
    out: std::process::ChildStdout,
    seen: Vec<u8>,
}

impl Term {
    fn spawn(c: &Ctr, args: &str) -> Term {
        let cmd = format!("{} --root {} {args}", common::BERTH, c.env.root().display());
        let mut child = std::process::Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let input = child.stdin.take().unwrap();
        let out = child.stdout.take().unwrap();
        Term {
            child,
            input,
            out,
            seen: Vec::new(),
        }
    }

    fn send(&mut self, b: &[u8]) {
        self.input.write_all(b).unwrap();
    }

    /// Reads until the output so far contains `want`.
    fn read_until(&mut self, want: &str) {
        use std::io::Read;
        let mut buf = [0u8; 1024];
        while !String::from_utf8_lossy(&self.seen).contains(want) {
            let n = self.out.read(&mut buf).unwrap();
            assert!(
                n > 0,
                "no {want:?}: {}",
                String::from_utf8_lossy(&self.seen)
            );
            self.seen.extend_from_slice(&buf[..n]);
        }
    }

    /// Waits for berth to exit; its status.
    fn wait(mut self) -> Option<i32> {
        self.child.wait().unwrap().code()
    }
}

/// `berth exec` (with and without -t, each runtime) run from a process
/// that is no subreaper leaves no process behind: the exec helper, and
/// with an external runtime the runtime, are gone once berth returns (the
/// helper, not berth, is the subreaper of `RT exec --detach`).
#[test]
fn exec_leaves_no_stray_process() {
    if !common::require("script") {
        return;
    }
    let c = Ctr::new();
    let mark = format!("BERTH_EXEC_MARK={:x}", std::process::id());
    let marked = || -> Vec<String> {
        let mut v = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(env) = std::fs::read(e.path().join("environ")) else {
                continue;
            };
            if env.split(|b| *b == 0).any(|kv| kv == mark.as_bytes()) {
                v.push(std::fs::read_to_string(e.path().join("stat")).unwrap_or_default());
            }
        }
        v
    };
    let mut rts = vec![None];
    for rt in ["runc", "crun"] {
        let v2 = std::fs::read_to_string("/sys/fs/cgroup/unified/cgroup.subtree_control");
        if common::require(rt) && !(rt == "crun" && v2.is_ok_and(|c| !c.trim().is_empty())) {
            rts.push(Some(rt));
        }
    }
    for rt in rts {
        let mut args = vec!["run", "-d"];
        if let Some(r) = rt {
            args.extend(["--runtime", r]);
        }
        args.extend(["bb", "busybox", "sleep", "1000"]);
        let id = c.ok(&args).trim().to_string();
        let (k, v) = mark.split_once('=').unwrap();
        for flags in ["", "-t", "-it"] {
            let cmd = format!(
                "{} --root {} exec {flags} {id} sh -c 'echo hi; exit 3'",
                common::BERTH,
                c.env.root().display()
            );
            let o = std::process::Command::new("script")
                .args(["-qec", &cmd, "/dev/null"])
                .env(k, v)
                .stdin(Stdio::null())
                .output()
                .unwrap();
            let out = String::from_utf8_lossy(&o.stdout);
            assert!(out.contains("hi"), "{rt:?} {flags}: {out}");
            assert_eq!(o.status.code(), Some(3), "{rt:?} {flags}: {out}");
            let t = Instant::now();
            while !marked().is_empty() && t.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(20));
            }
            assert!(marked().is_empty(), "{rt:?} {flags}: left {:?}", marked());
        }
        c.ok(&["rm", "-f", &id]);
    }
}

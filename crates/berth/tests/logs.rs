//! `berth logs` and the log drivers through the real CLI: `--log-driver`,
//! `--log-opt`, `--since`/`--until` in docker's forms, `-f` while the
//! container runs, `--details`, the none driver. Needs root and the
//! static helpers built (`cargo build -p berth-monitor -p berth-init`).

mod common;

use common::Env;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, UNIX_EPOCH};

/// A store with `bb`: busybox with the applets these tests use.
fn env() -> Env {
    let env = Env::new();
    let tar = env.path("bb.tar");
    std::fs::write(
        &tar,
        berth_testkit::busybox_tar(&["sh", "echo", "sleep", "cat", "test", "true"]),
    )
    .unwrap();
    env.ok(&["import", tar.to_str().unwrap(), "bb"]);
    env
}

#[test]
fn log_driver_flags_in_inspect_and_refused_ones() {
    let env = env();
    let id = env.ok(&["create", "bb", "true"]);
    let lc = |id: &str| -> serde_json::Value {
        serde_json::from_str(&env.ok(&[
            "inspect",
            "-f",
            "{{json .HostConfig.LogConfig}}",
            id.trim(),
        ]))
        .unwrap()
    };
    assert_eq!(
        lc(&id),
        serde_json::json!({"Type": "json-file", "Config": {}})
    );
    let id = env.ok(&[
        "create",
        "--log-driver",
        "local",
        "--log-opt",
        "max-size=1m",
        "--log-opt",
        "max-file=2",
        "bb",
        "true",
    ]);
    assert_eq!(
        lc(&id),
        serde_json::json!({"Type": "local", "Config": {"max-file": "2", "max-size": "1m"}})
    );
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.LogPath}}", id.trim()]).trim(),
        ""
    );
    let before = env.ok(&["ps", "-aq"]);
    let err = env.fails(&["run", "--log-driver", "syslog", "bb", "true"], 125);
    assert!(err.contains("syslog") && err.lines().count() == 1, "{err}");
    let err = env.fails(&["run", "--log-opt", "max-sise=1m", "bb", "true"], 125);
    assert!(err.contains("'max-sise'"), "{err}");
    let err = env.fails(&["create", "--log-opt", "compress", "bb", "true"], 125);
    assert!(
        err.contains("--log-opt") && err.contains("compress"),
        "{err}"
    );
    let err = env.fails(
        &[
            "create",
            "--log-opt",
            "max-file=3",
            "--log-opt",
            "compress=true",
            "bb",
            "true",
        ],
        125,
    );
    assert!(err.contains("max-size is not set"), "{err}");
    assert_eq!(env.ok(&["ps", "-aq"]), before, "nothing created");
}

/// Seconds and nanoseconds of an RFC 3339 time.
fn unix(t: &str) -> (u64, u32) {
    let d = engine::timeutil::parse(t)
        .unwrap()
        .duration_since(UNIX_EPOCH)
        .unwrap();
    (d.as_secs(), d.subsec_nanos())
}

#[test]
fn logs_since_and_until_in_docker_forms() {
    for driver in ["json-file", "local"] {
        since_and_until(driver);
    }
}

fn since_and_until(driver: &str) {
    let env = env();
    env.ok(&[
        "run",
        "--name",
        "abc",
        "--log-driver",
        driver,
        "bb",
        "sh",
        "-c",
        "echo a; sleep 1.1; echo b; sleep 1.1; echo c",
    ]);
    let ts = env.ok(&["logs", "-t", "abc"]);
    let times: Vec<&str> = ts.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(times.len(), 3, "{ts}");
    // docker's fixed nine digits.
    assert!(
        times.iter().all(|t| t.len() == 30 && t.ends_with('Z')),
        "{ts}"
    );
    let tb = times[1];
    let (secs, nanos) = unix(tb);
    let logs = |args: &[&str]| {
        let mut a = vec!["logs"];
        a.extend_from_slice(args);
        a.push("abc");
        let o = env.cmd(&a).env("TZ", "UTC").output().unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    };
    // RFC 3339 with nanoseconds, inclusive at both ends.
    assert_eq!(logs(&["--since", tb]), "b\nc\n");
    assert_eq!(logs(&["--until", tb]), "a\nb\n");
    assert_eq!(logs(&["--since", tb, "--until", tb]), "b\n");
    // Unix seconds with and without the fraction.
    let frac = format!("{secs}.{nanos:09}");
    assert_eq!(logs(&["--since", &frac]), "b\nc\n");
    assert_eq!(logs(&["--since", &secs.to_string()]), "b\nc\n");
    // A time without a zone is local ($TZ here), as docker's.
    let local = tb.trim_end_matches('Z');
    assert_eq!(logs(&["--since", local]), "b\nc\n");
    assert_eq!(logs(&["--until", "2000-01-01"]), "");
    assert_eq!(logs(&["--since", "2000-01-01T00:00"]), "a\nb\nc\n");
    assert_eq!(logs(&["--since", "2000-01-01T00:00:00+02:00"]), "a\nb\nc\n");
    // Go durations before now (and after it, negative).
    assert_eq!(logs(&["--since", "1h"]), "a\nb\nc\n");
    assert_eq!(logs(&["--until", "1h30m"]), "");
    assert_eq!(logs(&["--until", "-1m"]), "a\nb\nc\n");
    // With --tail and -t.
    assert_eq!(logs(&["--since", tb, "-n", "1"]), "c\n");
    assert_eq!(
        logs(&["--until", tb, "-t"]),
        ts.lines()
            .take(2)
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    );
    let err = env.fails(&["logs", "--since", "yesterday", "abc"], 125);
    assert!(
        err.contains("--since") && err.contains("yesterday"),
        "{err}"
    );
}

#[test]
fn logs_follow_sees_later_lines_and_ends_with_the_container() {
    let env = env();
    let t = env.path("t");
    std::fs::create_dir(&t).unwrap();
    let vol = format!("{}:/t", t.display());
    let id = env
        .ok(&[
            "run",
            "-d",
            "-v",
            &vol,
            "bb",
            "sh",
            "-c",
            "echo first; while [ ! -e /t/go ]; do sleep 0.05; done; echo second; sleep 0.3; echo third >&2",
        ])
        .trim()
        .to_string();
    let mut ch = env
        .cmd(&["logs", "-f", &id])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let out = ch.stdout.take().unwrap();
    let err = ch.stderr.take().unwrap();
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx2.send(format!("err:{l}"));
        }
    });
    let wait = Duration::from_secs(20);
    assert_eq!(rx.recv_timeout(wait).unwrap(), "first");
    // Nothing more until the container goes on; the follower still runs.
    assert!(rx.recv_timeout(Duration::from_millis(500)).is_err());
    assert!(ch.try_wait().unwrap().is_none());
    std::fs::write(t.join("go"), "").unwrap();
    assert_eq!(rx.recv_timeout(wait).unwrap(), "second");
    assert_eq!(rx.recv_timeout(wait).unwrap(), "err:third");
    // The container exited: so does the follower, by itself.
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(s) = ch.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < wait, "logs -f still running");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    // -f on a stopped container prints and returns; --tail counts both
    // streams.
    assert_eq!(env.ok(&["logs", "-f", "-n", "2", &id]), "second\n");
}

#[test]
fn none_driver_logs_fail_as_docker() {
    let env = env();
    let out = env.ok(&[
        "run",
        "--name",
        "quiet",
        "--log-driver",
        "none",
        "bb",
        "echo",
        "hi",
    ]);
    assert_eq!(out, "hi\n", "attached output does not need a log");
    let err = env.fails(&["logs", "quiet"], 1);
    assert_eq!(
        err.trim(),
        "berth: configured logging driver does not support reading"
    );
}

#[test]
fn details_prefix_the_label_and_env_attributes() {
    let env = env();
    env.ok(&[
        "run",
        "--name",
        "det",
        "--label",
        "com.example.team=blue",
        "-e",
        "STAGE=prod",
        "--log-opt",
        "labels=com.example.team",
        "--log-opt",
        "env=STAGE",
        "bb",
        "sh",
        "-c",
        "echo one; echo two >&2",
    ]);
    let o = env.output(&["logs", "--details", "det"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "STAGE=prod,com.example.team=blue one\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "STAGE=prod,com.example.team=blue two\n"
    );
    assert_eq!(env.ok(&["logs", "det"]), "one\n");
    // Without attributes docker still writes the separating space.
    env.ok(&["run", "--name", "plain", "bb", "echo", "x"]);
    assert_eq!(env.ok(&["logs", "--details", "plain"]), " x\n");
    let t = env.ok(&["logs", "--details", "-t", "det"]);
    assert!(
        t.ends_with("Z STAGE=prod,com.example.team=blue one\n"),
        "{t}"
    );
}

#[test]
fn local_driver_through_the_cli() {
    let env = env();
    env.ok(&[
        "run",
        "--name",
        "loc",
        "--log-driver",
        "local",
        "--log-opt",
        "max-size=2k",
        "bb",
        "sh",
        "-c",
        "i=0; while [ $i -lt 300 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done",
    ]);
    let all = env.ok(&["logs", "loc"]);
    let last: Vec<&str> = all.lines().rev().take(3).collect();
    assert_eq!(last[0], "line-299-xxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    assert_eq!(env.ok(&["logs", "-n", "2", "loc"]).lines().count(), 2);
    let id = env.ok(&["inspect", "-f", "{{.Id}}", "loc"]);
    let dir = env
        .root()
        .join("containers")
        .join(id.trim())
        .join("local-logs");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names[0], "container.log");
    assert!(names[1..].iter().all(|n| n.ends_with(".gz")), "{names:?}");
    assert!(names.len() == 5, "{names:?}");
}

//! Log drivers through the engine API (no CLI): json-file rotation and
//! compression, the local driver, none, attributes and `--details`,
//! following across rotations.

mod common;

use common::Env;
use engine::logs::{LogConfig, LogDriver};
use engine::{CreateFlags, LogsOptions};
use std::path::{Path, PathBuf};

fn with_log(mut o: CreateFlags, driver: LogDriver, opts: &[(&str, &str)]) -> CreateFlags {
    o.log_config = LogConfig {
        driver,
        config: opts
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    o
}

fn logs(env: &Env, id: &str, o: &LogsOptions) -> (String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    env.engine.logs(id, o, &mut out, &mut err).unwrap();
    (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

/// The files of a directory whose names start with `prefix`, sorted.
fn files(dir: &Path, prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect();
    v.sort();
    v
}

/// `N` numbered lines of about 60 bytes.
const LINES: &str = "i=0; while [ $i -lt 300 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done";

fn numbered(from: usize, to: usize) -> String {
    (from..to)
        .map(|i| format!("line-{i}-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"))
        .collect()
}

#[test]
fn json_file_rotates_by_size_keeping_max_file_files() {
    let env = Env::new();
    let o = with_log(
        env.opts(&["sh", "-c", LINES]),
        LogDriver::JsonFile,
        &[("max-size", "2k"), ("max-file", "3")],
    );
    let id = env.run_detached(&o).unwrap();
    assert_eq!(env.engine.wait(&id).unwrap(), 0);
    let dir = env.engine.container_dir(&id);
    let log = format!("{id}-json.log");
    assert_eq!(
        files(&dir, &log),
        vec![log.clone(), format!("{log}.1"), format!("{log}.2")]
    );
    for f in files(&dir, &log) {
        let n = std::fs::metadata(dir.join(&f)).unwrap().len();
        // Rotated once a file reached 2000 bytes: one entry more at most.
        assert!(n < 2000 + 200, "{f}: {n} bytes");
    }
    // Read across the files, oldest first, with no gap.
    let (out, _) = logs(&env, &id, &LogsOptions::default());
    let first: usize = out
        .lines()
        .next()
        .and_then(|l| l.split('-').nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(first > 0, "the oldest lines were dropped");
    assert_eq!(out, numbered(first, 300));
    let (tail, _) = logs(
        &env,
        &id,
        &LogsOptions {
            tail: Some(2),
            ..Default::default()
        },
    );
    assert_eq!(tail, numbered(298, 300));
}

#[test]
fn json_file_compresses_rotated_files() {
    let env = Env::new();
    let o = with_log(
        env.opts(&["sh", "-c", LINES]),
        LogDriver::JsonFile,
        &[("max-size", "2k"), ("max-file", "4"), ("compress", "true")],
    );
    let id = env.run_detached(&o).unwrap();
    assert_eq!(env.engine.wait(&id).unwrap(), 0);
    let dir = env.engine.container_dir(&id);
    let log = format!("{id}-json.log");
    // The monitor waits for its compressor before it records the exit.
    assert_eq!(
        files(&dir, &log),
        vec![
            log.clone(),
            format!("{log}.1.gz"),
            format!("{log}.2.gz"),
            format!("{log}.3.gz")
        ]
    );
    let gz = std::fs::read(dir.join(format!("{log}.1.gz"))).unwrap();
    assert_eq!(&gz[..2], &[0x1f, 0x8b], "gzip magic");
    let (out, _) = logs(&env, &id, &LogsOptions::default());
    let first: usize = out
        .lines()
        .next()
        .unwrap()
        .split('-')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(out, numbered(first, 300));
    // --since skips whole compressed files older than it (by their header)
    // and still selects entry by entry.
    let (ts, _) = logs(
        &env,
        &id,
        &LogsOptions {
            timestamps: true,
            ..Default::default()
        },
    );
    let lines: Vec<&str> = ts.lines().collect();
    let m = lines.len() / 2;
    let since = lines[m].split_once(' ').unwrap().0;
    let want: String = lines[m..]
        .iter()
        .map(|l| format!("{}\n", l.split_once(' ').unwrap().1))
        .collect();
    let (out, _) = logs(
        &env,
        &id,
        &LogsOptions {
            since: Some(since.into()),
            ..Default::default()
        },
    );
    assert_eq!(out, want);
}

#[test]
fn local_driver_round_trip() {
    let env = Env::new();
    let o = with_log(
        env.opts(&["sh", "-c", "echo one; echo two >&2; echo -n partial"]),
        LogDriver::Local,
        &[],
    );
    let id = env.run_detached(&o).unwrap();
    assert_eq!(env.engine.wait(&id).unwrap(), 0);
    let (out, err) = logs(&env, &id, &LogsOptions::default());
    assert_eq!((out.as_str(), err.as_str()), ("one\npartial", "two\n"));
    // Its own binary format in docker's place for it; no json-file log.
    let dir = env.engine.container_dir(&id);
    let raw = std::fs::read(dir.join("local-logs/container.log")).unwrap();
    let len = u32::from_be_bytes(raw[..4].try_into().unwrap()) as usize;
    assert_eq!(len, 12 + "one\n".len());
    assert_eq!(&raw[len + 4..len + 8], &raw[..4], "trailing length");
    assert!(!dir.join(format!("{id}-json.log")).exists());
    let v = env.engine.inspect(&id).unwrap();
    assert_eq!(
        v["HostConfig"]["LogConfig"],
        serde_json::json!({"Type": "local", "Config": {}})
    );
    assert_eq!(v["LogPath"], "");
    // -t, --tail and a stream.
    let (out, _) = logs(
        &env,
        &id,
        &LogsOptions {
            timestamps: true,
            tail: Some(1),
            stdout: true,
            ..Default::default()
        },
    );
    assert!(out.starts_with("20") && out.ends_with("Z partial"), "{out}");
}

#[test]
fn local_driver_rotates_and_compresses_by_default_options() {
    let env = Env::new();
    let o = with_log(
        env.opts(&["sh", "-c", LINES]),
        LogDriver::Local,
        &[("max-size", "3k")],
    );
    let id = env.run_detached(&o).unwrap();
    assert_eq!(env.engine.wait(&id).unwrap(), 0);
    let dir = env.engine.container_dir(&id).join("local-logs");
    // Five files (the default), the rotated ones compressed.
    assert_eq!(
        files(&dir, "container.log"),
        vec![
            "container.log",
            "container.log.1.gz",
            "container.log.2.gz",
            "container.log.3.gz",
            "container.log.4.gz"
        ]
    );
    let (out, _) = logs(&env, &id, &LogsOptions::default());
    let first: usize = out
        .lines()
        .next()
        .unwrap()
        .split('-')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(out, numbered(first, 300));
}

#[test]
fn none_driver_keeps_nothing_and_logs_fail() {
    let env = Env::new();
    let o = with_log(env.opts(&["echo", "hi"]), LogDriver::None, &[]);
    let id = env.run_detached(&o).unwrap();
    assert_eq!(env.engine.wait(&id).unwrap(), 0);
    let e = env
        .engine
        .logs(
            &id,
            &LogsOptions::default(),
            &mut Vec::new(),
            &mut Vec::new(),
        )
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "configured logging driver does not support reading"
    );
    let dir = env.engine.container_dir(&id);
    assert!(files(&dir, &id).is_empty(), "{:?}", files(&dir, ""));
    assert!(!dir.join("local-logs").exists());
    // Attached output does not depend on the log.
    let (code, out, _) = env.run(&with_log(env.opts(&["echo", "hi"]), LogDriver::None, &[]));
    assert_eq!((code, out.as_str()), (0, "hi\n"));
}

#[test]
fn details_show_labels_env_and_tag_attributes() {
    let env = Env::new();
    for driver in [LogDriver::JsonFile, LogDriver::Local] {
        let mut o = with_log(
            env.opts(&["echo", "hi"]),
            driver,
            &[
                ("labels", "com.example.team,absent"),
                ("env", "STAGE"),
                ("tag", "{{.Name}}"),
            ],
        );
        o.labels = vec!["com.example.team=a b".into(), "other=x".into()];
        o.env = vec!["STAGE=prod/1".into()];
        o.name = Some(format!("tagged-{driver}"));
        let id = env.run_detached(&o).unwrap();
        assert_eq!(env.engine.wait(&id).unwrap(), 0);
        let (out, _) = logs(
            &env,
            &id,
            &LogsOptions {
                details: true,
                ..Default::default()
            },
        );
        assert_eq!(
            out,
            format!("STAGE=prod%2F1,com.example.team=a+b,tag=tagged-{driver} hi\n"),
            "{driver}"
        );
        let (plain, _) = logs(&env, &id, &LogsOptions::default());
        assert_eq!(plain, "hi\n");
    }
    // json-file writes them as docker's `attrs`.
    let id = env.engine.lookup("tagged-json-file").unwrap();
    let raw = std::fs::read_to_string(env.engine.log_path(&id)).unwrap();
    assert!(
        raw.starts_with(
            r#"{"log":"hi\n","stream":"stdout","attrs":{"STAGE":"prod/1","com.example.team":"a b","tag":"tagged-json-file"},"time":""#
        ),
        "{raw}"
    );
}

#[test]
fn bad_log_options_are_refused_at_create() {
    let env = Env::new();
    for (driver, opts, want) in [
        (
            LogDriver::JsonFile,
            vec![("max-sise", "1m")],
            "unknown log opt 'max-sise' for log driver json-file",
        ),
        (LogDriver::JsonFile, vec![("max-file", "x")], "max-file=x"),
        (
            LogDriver::JsonFile,
            vec![("compress", "true")],
            "max-size is not set",
        ),
        (LogDriver::Local, vec![("max-size", "-1")], "max-size=-1"),
    ] {
        let o = with_log(env.opts(&["true"]), driver, &opts);
        let e = env.create(&o).unwrap_err();
        assert_eq!(e.exit_code(), 125, "{e}");
        assert!(e.to_string().contains(want), "{opts:?}: {e}");
        assert!(!e.to_string().contains('\n'));
    }
    assert!(env.engine.list(true).unwrap().is_empty());
    // Options go with the driver: none takes any (as docker's).
    let o = with_log(env.opts(&["true"]), LogDriver::None, &[("max-size", "x")]);
    env.create(&o).unwrap();
}

#[test]
fn follow_reads_on_across_rotations() {
    let env = Env::new();
    for (driver, compress) in [
        (LogDriver::JsonFile, "false"),
        (LogDriver::JsonFile, "true"),
        (LogDriver::Local, "true"),
    ] {
        let o = with_log(
            env.opts(&[
                "sh",
                "-c",
                "i=0; while [ $i -lt 300 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); [ $((i % 20)) = 0 ] && sleep 0.05; done",
            ]),
            driver,
            &[("max-size", "1k"), ("max-file", "100"), ("compress", compress)],
        );
        let id = env.run_detached(&o).unwrap();
        let (out, _) = logs(
            &env,
            &id,
            &LogsOptions {
                follow: true,
                ..Default::default()
            },
        );
        let got: Vec<&str> = out
            .lines()
            .map(|l| l.split('-').nth(1).unwrap_or("?"))
            .collect();
        assert_eq!(
            out,
            numbered(0, 300),
            "{driver} compress={compress}: {got:?}"
        );
        let dir: PathBuf = env.engine.container_dir(&id);
        let n = std::fs::read_dir(&dir).unwrap().count()
            + std::fs::read_dir(dir.join("local-logs"))
                .map(|d| d.count())
                .unwrap_or(0);
        assert!(n > 10, "{driver}: {n} files");
    }
}

#[test]
fn json_file_with_one_file_begins_it_again() {
    let env = Env::new();
    let o = with_log(
        env.opts(&["sh", "-c", LINES]),
        LogDriver::JsonFile,
        &[("max-size", "2k")],
    );
    let id = env.run_detached(&o).unwrap();
    assert_eq!(env.engine.wait(&id).unwrap(), 0);
    let dir = env.engine.container_dir(&id);
    let log = format!("{id}-json.log");
    assert_eq!(files(&dir, &log), vec![log.clone()]);
    let n = std::fs::metadata(dir.join(&log)).unwrap().len();
    assert!(n < 2000 + 200, "{n} bytes");
    let (out, _) = logs(&env, &id, &LogsOptions::default());
    let first: usize = out
        .lines()
        .next()
        .unwrap()
        .split('-')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(first > 250, "{first}");
    assert_eq!(out, numbered(first, 300));
}

/// `logs_until`: a follower of a container that writes nothing more ends
/// once its caller says stop (the API's client hung up).
#[test]
fn follow_ends_when_the_caller_stops() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let env = Env::new();
    let id = env
        .run_detached(&env.opts(&["sh", "-c", "echo first; exec sleep 1000"]))
        .unwrap();
    assert!(common::until(std::time::Duration::from_secs(20), || {
        logs(&env, &id, &LogsOptions::default()).0 == "first\n"
    }));
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let (eng, id2, stop2) = (env.engine.clone(), id.clone(), stop.clone());
    std::thread::spawn(move || {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let r = eng.logs_until(
            &id2,
            &LogsOptions {
                follow: true,
                ..Default::default()
            },
            &mut out,
            &mut err,
            &|| stop2.load(Ordering::SeqCst),
        );
        let _ = tx.send((r.is_ok(), out));
    });
    stop.store(true, Ordering::SeqCst);
    let (ok, out) = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the follower ended");
    assert!(ok);
    assert_eq!(String::from_utf8_lossy(&out), "first\n");
    assert!(
        env.engine.state(&id).unwrap().running(),
        "the container goes on"
    );
    env.engine.remove(&id, true).unwrap();
}

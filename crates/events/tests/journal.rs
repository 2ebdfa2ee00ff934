//! The journal through its API: concurrent appenders (threads and
//! processes), rotation, a torn line, time windows, filters, following.

use events::{attrs, Filters, Journal, Message, Query, CONTAINER, NETWORK, VOLUME};
use std::collections::BTreeSet;
use std::io::Write;
use std::time::Duration;

fn all(j: &Journal, q: &Query) -> Vec<Message> {
    let mut v = Vec::new();
    j.read(q, |m| {
        v.push(m);
        true
    })
    .unwrap();
    v
}

fn ev(action: &str, id: &str) -> Message {
    Message::new(
        CONTAINER,
        action,
        id,
        attrs([("name", id), ("image", "busybox")]),
    )
}

/// Run as a child process by the tests below: appends $EVENTS_CHILD_N
/// events for writer $EVENTS_CHILD_TAG (to a journal capped at
/// $EVENTS_CHILD_MAX bytes if set) and prints each appended message as
/// `EVENT <json>` (with `--nocapture`), for the parent to compare.
#[test]
fn child_writer() {
    let (Ok(root), Ok(tag), Ok(n)) = (
        std::env::var("EVENTS_CHILD_ROOT"),
        std::env::var("EVENTS_CHILD_TAG"),
        std::env::var("EVENTS_CHILD_N"),
    ) else {
        return;
    };
    let mut j = Journal::new(std::path::Path::new(&root));
    if let Ok(max) = std::env::var("EVENTS_CHILD_MAX") {
        j = j.with_max_size(max.parse().unwrap());
    }
    let out = std::io::stdout();
    for i in 0..n.parse::<usize>().unwrap() {
        let m = ev("start", &format!("{tag}-{i}"));
        j.append(&m).unwrap();
        let line = serde_json::to_string(&m).unwrap();
        writeln!(out.lock(), "EVENT {line}").unwrap();
    }
}

/// A writer in another process (as the CLI, a monitor's cleanup and a
/// healthcheck are) and a follower here agree on every event, in order
/// and field for field, across the rotation the writes cause.
#[test]
fn follower_and_writer_in_a_child_process_agree() {
    let dir = tempfile::tempdir().unwrap();
    // One rotation in 60 events of about 200 bytes: a follower never falls
    // two behind (the journal keeps one rotated file).
    let max = 8192;
    let j = Journal::new(dir.path()).with_max_size(max);
    let mut cur = j.tail(&Query::default()).unwrap();
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_writer", "--test-threads=1", "--nocapture"])
        .env("EVENTS_CHILD_ROOT", dir.path())
        .env("EVENTS_CHILD_TAG", "c")
        .env("EVENTS_CHILD_N", "60")
        .env("EVENTS_CHILD_MAX", max.to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while seen.len() < 60 && std::time::Instant::now() < deadline {
        cur.follow(Duration::from_millis(200), &mut |m| {
            seen.push(m);
            true
        })
        .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let written: Vec<Message> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        // (libtest may print the test's name first on the same line.)
        .filter_map(|l| l.split_once("EVENT ").map(|(_, j)| j))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(written.len(), 60);
    let ids = |v: &[Message]| v.iter().map(|m| m.actor.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&seen), ids(&written));
    // Field for field (a reader fills docker's deprecated fields).
    let written: Vec<Message> = written
        .into_iter()
        .map(Message::with_legacy_fields)
        .collect();
    assert!(seen == written, "{seen:?}\n{written:?}");
    assert!(j.rotated_path().exists(), "the journal rotated meanwhile");
    // And a reader afterwards sees the same (what the rotation kept).
    let after = all(&j, &Query::default());
    assert!(!after.is_empty());
    assert!(after[..] == written[written.len() - after.len()..]);
}

#[test]
fn appenders_in_processes_and_threads_lose_and_tear_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..4)
        .map(|p| {
            std::process::Command::new(&exe)
                .args(["--exact", "child_writer", "--test-threads=1"])
                .env("EVENTS_CHILD_ROOT", dir.path())
                .env("EVENTS_CHILD_TAG", format!("p{p}"))
                .env("EVENTS_CHILD_N", "300")
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    std::thread::scope(|s| {
        for t in 0..4 {
            let root = dir.path().to_path_buf();
            s.spawn(move || {
                let j = Journal::new(&root);
                for i in 0..300 {
                    j.append(&ev("start", &format!("t{t}-{i}"))).unwrap();
                }
            });
        }
    });
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let got = all(&Journal::new(dir.path()), &Query::default());
    let ids: BTreeSet<String> = got.iter().map(|m| m.actor.id.clone()).collect();
    assert_eq!(got.len(), 2400, "every event once");
    assert_eq!(ids.len(), 2400);
    // Every line is whole JSON.
    let text = std::fs::read_to_string(Journal::new(dir.path()).path()).unwrap();
    for l in text.lines() {
        serde_json::from_str::<Message>(l).unwrap_or_else(|e| panic!("{l}: {e}"));
    }
}

#[test]
fn rotation_keeps_one_file_and_the_newest_events() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::new(dir.path()).with_max_size(4096);
    for i in 0..200 {
        j.append(&ev("start", &format!("c{i}"))).unwrap();
    }
    let cur = std::fs::metadata(j.path()).unwrap().len();
    let old = std::fs::metadata(j.rotated_path()).unwrap().len();
    assert!(cur <= 4096 && old <= 4096, "{cur} {old}");
    let names: Vec<_> = std::fs::read_dir(j.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(names, ["events.lock", "events.log", "events.log.1"]);
    let got = all(&j, &Query::default());
    assert!(got.len() > 20, "{}", got.len());
    // The newest ones, in order, ending with the last.
    let n: Vec<usize> = got
        .iter()
        .map(|m| m.actor.id[1..].parse().unwrap())
        .collect();
    assert_eq!(*n.last().unwrap(), 199);
    assert!(n.windows(2).all(|w| w[1] == w[0] + 1), "{n:?}");
}

/// A journal keeps its files open between appends: a rotation by another
/// writer (another process's journal) and a store removed and made again
/// are noticed, no event lost or written to a file nobody reads.
#[test]
fn kept_files_follow_rotation_by_others_and_a_new_store() {
    let dir = tempfile::tempdir().unwrap();
    let a = Journal::new(dir.path()).with_max_size(4096);
    let b = Journal::new(dir.path()).with_max_size(4096);
    for i in 0..60 {
        // Alternating writers: b's rotations replace the file a holds open.
        let j = if i % 2 == 0 { &a } else { &b };
        j.append(&ev("start", &format!("c{i}"))).unwrap();
    }
    assert!(a.rotated_path().exists(), "no rotation happened");
    let n: Vec<usize> = all(&a, &Query::default())
        .iter()
        .map(|m| m.actor.id[1..].parse().unwrap())
        .collect();
    assert_eq!(*n.last().unwrap(), 59);
    assert!(n.windows(2).all(|w| w[1] == w[0] + 1), "{n:?}");
    // The store goes and comes back: the kept files are stale.
    std::fs::remove_dir_all(a.dir()).unwrap();
    a.append(&ev("create", "after")).unwrap();
    let got = all(&b, &Query::default());
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].actor.id, "after");
    // A clone shares the kept files and writes to the same journal.
    a.clone().append(&ev("start", "clone")).unwrap();
    assert_eq!(all(&b, &Query::default()).len(), 2);
}

#[test]
fn torn_line_is_passed_over() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::new(dir.path());
    j.append(&ev("create", "a")).unwrap();
    // A writer killed half-way through its line.
    let line = ev("start", "torn").to_line();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(j.path())
        .unwrap();
    f.write_all(&line[..line.len() / 2]).unwrap();
    drop(f);
    // Nothing after it yet: the torn tail is not an event.
    let got = all(&j, &Query::default());
    assert_eq!(got.len(), 1);
    j.append(&ev("start", "b")).unwrap();
    j.append(&ev("stop", "c")).unwrap();
    let ids: Vec<_> = all(&j, &Query::default())
        .into_iter()
        .map(|m| m.actor.id)
        .collect();
    assert_eq!(ids, ["a", "b", "c"]);
}

#[test]
fn since_until_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::new(dir.path());
    let mut m = ev("create", "a");
    m.time_nano = 1_000;
    m.time = 0;
    j.append(&m).unwrap();
    for (t, action, typ, id) in [
        (2_000, "start", CONTAINER, "a"),
        (3_000, "create", VOLUME, "v"),
        (4_000, "connect", NETWORK, "n"),
        (5_000, "die", CONTAINER, "a"),
    ] {
        let mut m = Message::new(typ, action, id, attrs([("name", id)]));
        m.time_nano = t;
        j.append(&m).unwrap();
    }
    let q = |since, until, f: &[&str]| Query {
        since,
        until,
        filters: Filters::parse(f).unwrap(),
    };
    let actions = |q: Query| -> Vec<String> {
        all(&j, &q)
            .into_iter()
            .map(|m| format!("{} {}", m.typ, m.action))
            .collect()
    };
    assert_eq!(
        actions(q(Some(2_000), Some(4_000), &[])),
        ["container start", "volume create", "network connect"]
    );
    assert_eq!(
        actions(q(None, None, &["type=container"])),
        ["container create", "container start", "container die"]
    );
    assert_eq!(
        actions(q(
            None,
            None,
            &["type=container", "event=die", "event=create"]
        )),
        ["container create", "container die"]
    );
    assert_eq!(
        actions(q(Some(1_500), None, &["container=a"])),
        ["container start", "container die"]
    );
    assert_eq!(
        actions(q(None, None, &["volume=v", "network=n"])),
        Vec::<String>::new()
    );
    // Legacy fields filled for container events only.
    let got = all(&j, &q(None, None, &[]));
    assert_eq!(got[0].status, "create");
    assert_eq!(got[0].id, "a");
    assert_eq!(got[0].from, "busybox");
    assert_eq!(got[2].status, "");
}

#[test]
fn follow_sees_appends_across_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::new(dir.path()).with_max_size(8192);
    j.append(&ev("create", "before")).unwrap();
    let mut cur = j.tail(&Query::default()).unwrap();
    let writer = {
        let j = j.clone();
        std::thread::spawn(move || {
            for i in 0..100 {
                j.append(&ev("start", &format!("f{i}"))).unwrap();
                if i % 10 == 0 {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        })
    };
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while seen.len() < 100 && std::time::Instant::now() < deadline {
        cur.follow(Duration::from_millis(200), &mut |m| {
            seen.push(m.actor.id);
            true
        })
        .unwrap();
    }
    writer.join().unwrap();
    let want: Vec<String> = (0..100).map(|i| format!("f{i}")).collect();
    assert_eq!(seen.len(), want.len(), "{seen:?}");
    assert_eq!(seen, want);
    assert!(j.rotated_path().exists(), "the journal rotated meanwhile");
}

#[test]
fn follow_of_a_journal_not_yet_written() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::new(dir.path());
    let mut cur = j.tail(&Query::default()).unwrap();
    let mut seen = Vec::new();
    assert!(!cur
        .follow(Duration::from_millis(50), &mut |m| {
            seen.push(m);
            true
        })
        .unwrap());
    j.append(&ev("create", "x")).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while seen.is_empty() && std::time::Instant::now() < deadline {
        cur.follow(Duration::from_millis(100), &mut |m| {
            seen.push(m);
            true
        })
        .unwrap();
    }
    assert_eq!(seen.len(), 1);
}

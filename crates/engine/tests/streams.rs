//! exec and attach as streams, driven from Rust without a terminal: the
//! built-in runtime and the external ones (runc, crun) where installed.

mod common;

use common::{until, Env};
use engine::{
    AttachOptions, Chunk, ExecConfig, ExecIo, ExecStartOptions, ExecStream, OutputStream,
    StreamKind,
};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The runtimes to run each test with: built-in, then runc and crun.
fn runtimes() -> Vec<Option<PathBuf>> {
    let mut v = vec![None];
    for rt in ["runc", "crun"] {
        if !berth_testkit::require(rt) {
            continue;
        }
        // crun 1.8 refuses a hybrid host whose cgroup2 hierarchy holds a
        // controller (as in crates/berth/tests/monitor.rs).
        let v2 = std::fs::read_to_string("/sys/fs/cgroup/unified/cgroup.subtree_control");
        if rt == "crun" && v2.is_ok_and(|c| !c.trim().is_empty()) {
            berth_testkit::skip_host("crun refuses a hybrid host with cgroup2 controllers");
            continue;
        }
        v.push(Some(PathBuf::from(rt)));
    }
    v
}

fn sleeper(env: &Env, rt: &Option<PathBuf>) -> String {
    let mut o = env.opts(&["sleep", "1000"]);
    o.runtime = rt.clone();
    env.run_detached(&o).unwrap()
}

fn cfg(cmd: &[&str]) -> ExecConfig {
    ExecConfig {
        cmd: cmd.iter().map(|s| s.to_string()).collect(),
        attach_stdout: true,
        attach_stderr: true,
        ..Default::default()
    }
}

fn start(env: &Env, id: &str, c: &ExecConfig) -> (String, ExecStream) {
    let x = env.engine.exec_create(id, c).unwrap();
    let s = env
        .engine
        .exec_start(&x, &ExecStartOptions::default(), ExecIo::Streams)
        .unwrap_or_else(|e| panic!("exec_start {c:?}: {e}"));
    (x, s)
}

/// Reads the stream's output until it contains `want` (within 20 s).
fn read_until(s: &mut ExecStream, got: &mut String, want: &str) {
    let t = Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 4096];
    while !got.contains(want) {
        match s.next_chunk_until(&mut buf, Some(t)).unwrap() {
            Chunk::Data(_, n) => got.push_str(&String::from_utf8_lossy(&buf[..n])),
            Chunk::TimedOut | Chunk::End => panic!("no {want:?} in {got:?}"),
        }
    }
}

#[test]
fn exec_stream_stdin_in_output_out_half_close_ends_cat() {
    let env = Env::new();
    for rt in runtimes() {
        let id = sleeper(&env, &rt);
        let mut c = cfg(&["cat"]);
        c.attach_stdin = true;
        let (_, mut s) = start(&env, &id, &c);
        let mut w = s.take_stdin().expect("stdin");
        assert_eq!(w.send(b"hello\n").unwrap(), engine::Sent::Sent);
        let mut got = String::new();
        read_until(&mut s, &mut got, "hello\n");
        w.send(b"bye").unwrap();
        // EOF on cat's stdin: it ends, the stream too.
        w.close().unwrap();
        let mut out = Vec::new();
        let mut err = Vec::new();
        s.copy_output(&mut out, &mut err).unwrap();
        assert_eq!(String::from_utf8_lossy(&out), "bye", "{rt:?}");
        assert!(err.is_empty(), "{rt:?}");
        assert_eq!(s.wait().unwrap(), 0, "{rt:?}");
        env.engine.remove(&id, true).unwrap();
    }
}

#[test]
fn exec_stream_stderr_apart_and_multiplexed_framing() {
    let env = Env::new();
    for rt in runtimes() {
        let id = sleeper(&env, &rt);
        let script = "echo out; echo err >&2; exit 3";
        let (_, mut s) = start(&env, &id, &cfg(&["sh", "-c", script]));
        let mut out = Vec::new();
        let mut err = Vec::new();
        s.copy_output(&mut out, &mut err).unwrap();
        assert_eq!(
            (out.as_slice(), err.as_slice()),
            (&b"out\n"[..], &b"err\n"[..])
        );
        assert_eq!(s.wait().unwrap(), 3, "{rt:?}");
        // docker's stdcopy framing: [stream, 0, 0, 0, size BE] data.
        let (_, mut s) = start(&env, &id, &cfg(&["sh", "-c", script]));
        let mut body = Vec::new();
        s.copy_multiplexed(&mut body).unwrap();
        assert_eq!(s.wait().unwrap(), 3);
        let mut frames = Vec::new();
        let mut b = &body[..];
        while !b.is_empty() {
            assert!(b.len() >= 8 && b[1..4] == [0, 0, 0], "{body:?}");
            let n = u32::from_be_bytes([b[4], b[5], b[6], b[7]]) as usize;
            frames.push((b[0], b[8..8 + n].to_vec()));
            b = &b[8 + n..];
        }
        let of = |k: u8| -> Vec<u8> {
            frames
                .iter()
                .filter(|(s, _)| *s == k)
                .flat_map(|(_, d)| d.clone())
                .collect()
        };
        assert_eq!(of(1), b"out\n", "{rt:?} {frames:?}");
        assert_eq!(of(2), b"err\n", "{rt:?} {frames:?}");
        // Stdout only: stderr goes nowhere.
        let mut c = cfg(&["sh", "-c", script]);
        c.attach_stderr = false;
        let (_, mut s) = start(&env, &id, &c);
        let mut buf = [0u8; 64];
        let mut kinds = Vec::new();
        loop {
            match s.next_chunk(&mut buf).unwrap() {
                Chunk::Data(k, _) => kinds.push(k),
                Chunk::End => break,
                Chunk::TimedOut => unreachable!(),
            }
        }
        assert!(kinds.iter().all(|k| *k == StreamKind::Stdout), "{kinds:?}");
        assert_eq!(s.wait().unwrap(), 3);
        env.engine.remove(&id, true).unwrap();
    }
}

#[test]
fn exec_stream_tty_resize_and_exit_code_with_inspect() {
    let env = Env::new();
    for rt in runtimes() {
        let id = sleeper(&env, &rt);
        let mut c = cfg(&[
            "sh",
            "-c",
            "busybox stty size; read a; busybox stty size; read b; busybox stty size; exit 7",
        ]);
        c.tty = true;
        c.attach_stdin = true;
        c.console_size = Some([20, 70]);
        let (x, mut s) = start(&env, &id, &c);
        assert!(s.tty());
        let mut w = s.take_stdin().unwrap();
        let mut got = String::new();
        read_until(&mut s, &mut got, "20 70");
        // Running: inspect and the container's ExecIDs show it (the pid
        // once the helper has recorded it).
        assert!(until(Duration::from_secs(5), || env
            .engine
            .exec_inspect(&x)
            .is_ok_and(|i| i.pid > 0)));
        let i = env.engine.exec_inspect(&x).unwrap();
        assert!(
            i.running && i.exit_code.is_none() && i.pid == s.pid(),
            "{i:?}"
        );
        assert_eq!(i.container_id, id);
        assert_eq!(i.process_config.entrypoint, "sh");
        assert!(i.process_config.tty && i.open_stdin);
        let ins = env.engine.inspect(&id).unwrap();
        assert_eq!(ins["ExecIDs"], serde_json::json!([x]), "{rt:?}");
        // Resized by id (as docker's /exec/{id}/resize), then by the stream.
        env.engine.exec_resize(&x, 30, 90).unwrap();
        w.send(b"x\r").unwrap();
        read_until(&mut s, &mut got, "30 90");
        s.resize(33, 99).unwrap();
        w.send(b"y\r").unwrap();
        read_until(&mut s, &mut got, "33 99");
        let mut rest = Vec::new();
        s.copy_multiplexed(&mut rest).unwrap();
        assert_eq!(s.wait().unwrap(), 7, "{rt:?}: {got}");
        let i = env.engine.exec_inspect(&x).unwrap();
        assert!(!i.running && i.exit_code == Some(7), "{i:?}");
        assert!(env.engine.inspect(&id).unwrap()["ExecIDs"].is_null());
        // An exec runs once.
        let e = env
            .engine
            .exec_start(&x, &ExecStartOptions::default(), ExecIo::Streams)
            .err()
            .expect("second start");
        assert!(e.to_string().contains("has already run"), "{e}");
        // Records go with the container.
        env.engine.remove(&id, true).unwrap();
        let e = env.engine.exec_inspect(&x).unwrap_err();
        assert_eq!(e.to_string(), format!("No such exec instance: {x}"));
    }
}

/// No child of ours is left (zombie or running) by execs, whether waited
/// for, dropped unread, or detached; we never become a subreaper.
#[test]
fn exec_leaves_no_zombie_or_stray_process() {
    let env = Env::new();
    let children = || -> Vec<String> {
        let me = std::process::id().to_string();
        let mut v = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            // pid (comm) state ppid ...
            let after = &stat[stat.rfind(')').map(|i| i + 2).unwrap_or(0)..];
            let f: Vec<&str> = after.split(' ').collect();
            if f.get(1) == Some(&me.as_str()) {
                v.push(stat);
            }
        }
        v
    };
    for rt in runtimes() {
        let id = sleeper(&env, &rt);
        let before = children();
        let (_, s) = start(&env, &id, &cfg(&["true"]));
        assert_eq!(s.wait().unwrap(), 0);
        let mut c = cfg(&["sh", "-c", "exit 0"]);
        c.tty = true;
        let (_, s) = start(&env, &id, &c);
        // Its parent is the helper, not us.
        let ppid = std::fs::read_to_string(format!("/proc/{}/stat", s.pid()))
            .map(|st| {
                st.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .split(' ')
                    .nth(2)
                    .unwrap_or("")
                    .to_string()
            })
            .unwrap_or_default();
        assert_ne!(ppid, std::process::id().to_string(), "{rt:?}");
        assert_eq!(s.wait().unwrap(), 0);
        let (_, s) = start(&env, &id, &cfg(&["sh", "-c", "echo dropped"]));
        drop(s);
        let x = env.engine.exec_create(&id, &cfg(&["sleep", "1"])).unwrap();
        let d = env
            .engine
            .exec_start(
                &x,
                &ExecStartOptions {
                    detach: true,
                    ..Default::default()
                },
                ExecIo::Streams,
            )
            .unwrap();
        drop(d);
        // The detached one is recorded when it ends, by its helper.
        assert!(until(Duration::from_secs(10), || env
            .engine
            .exec_inspect(&x)
            .is_ok_and(|i| i.exit_code == Some(0))));
        // (Other tests of this process have children too: no zombie of
        // ours stays, and none is an exec helper of this test's.)
        let zombies = || {
            children()
                .into_iter()
                .filter(|s| s.rsplit(')').next().is_some_and(|r| r.starts_with(" Z")))
                .count()
        };
        let _ = &before;
        assert!(
            until(Duration::from_secs(5), || zombies() == 0),
            "{rt:?}: {:?}",
            children()
        );
        env.engine.remove(&id, true).unwrap();
    }
}

#[test]
fn exec_errors_as_docker() {
    let env = Env::new();
    for rt in runtimes() {
        let id = sleeper(&env, &rt);
        let e = env.engine.exec_create(&id, &cfg(&[])).unwrap_err();
        assert!(e.to_string().contains("no command"), "{e}");
        let x = env.engine.exec_create(&id, &cfg(&["nope"])).unwrap();
        let e = env
            .engine
            .exec_start(&x, &ExecStartOptions::default(), ExecIo::Streams)
            .err()
            .expect("not found");
        assert_eq!(e.exit_code(), 127, "{rt:?}: {e}");
        let e = env.engine.exec_inspect(&"0".repeat(64)).unwrap_err();
        assert!(matches!(e, engine::Error::NoSuchExec(_)), "{e}");
        let mut c = cfg(&["true"]);
        c.detach_keys = "ctrl-aa".into();
        let e = env.engine.exec_create(&id, &c).unwrap_err();
        assert!(e.to_string().contains("Invalid detach keys"), "{e}");
        env.engine.remove(&id, true).unwrap();
    }
}

#[test]
fn attach_stream_logs_stdin_and_exit_code() {
    let env = Env::new();
    for rt in runtimes() {
        let mut o = env.opts(&["sh", "-c", "echo early; echo e2 >&2; cat"]);
        o.interactive = true;
        o.runtime = rt.clone();
        let id = env.run_detached(&o).unwrap();
        assert!(until(Duration::from_secs(10), || env
            .logs(&id)
            .contains("e2")));
        let opts = AttachOptions {
            stderr: false,
            logs: true,
            ..Default::default()
        };
        let mut a = env.engine.attach_stream(&id, &opts).unwrap();
        assert!(!a.tty());
        let mut buf = [0u8; 256];
        // The log first (stdout only, as asked).
        match a.next_chunk(&mut buf).unwrap() {
            Chunk::Data(StreamKind::Stdout, n) => assert_eq!(&buf[..n], b"early\n"),
            c => panic!("{c:?}"),
        }
        let mut w = a.take_stdin().expect("stdin");
        w.send(b"abc\n").unwrap();
        match a
            .next_chunk_until(&mut buf, Some(Instant::now() + Duration::from_secs(10)))
            .unwrap()
        {
            Chunk::Data(StreamKind::Stdout, n) => assert_eq!(&buf[..n], b"abc\n"),
            c => panic!("{rt:?}: {c:?}"),
        }
        // attach's end of input leaves the container's stdin open.
        w.close().unwrap();
        assert_eq!(
            a.next_chunk_until(&mut buf, Some(Instant::now() + Duration::from_millis(300)))
                .unwrap(),
            Chunk::TimedOut
        );
        assert!(env.engine.state(&id).unwrap().running());
        env.engine.kill(&id, None).unwrap();
        assert_eq!(a.wait().unwrap(), 137, "{rt:?}");
        // A stopped container: its log only.
        let opts = AttachOptions {
            stream: false,
            logs: true,
            ..Default::default()
        };
        let mut a = env.engine.attach_stream(&id, &opts).unwrap();
        let mut out = Vec::new();
        let mut err = Vec::new();
        a.copy_output(&mut out, &mut err).unwrap();
        assert_eq!(
            (out.as_slice(), err.as_slice()),
            (&b"early\nabc\n"[..], &b"e2\n"[..])
        );
        assert!(env.engine.attach(&id).is_err());
        env.engine.remove(&id, true).unwrap();
    }
}

#[test]
fn run_attached_stdin_once_and_tty_resize() {
    let env = Env::new();
    for rt in runtimes() {
        // run -i: the end of our input ends the container's (StdinOnce).
        let mut o = env.opts(&["sh", "-c", "cat; echo done >&2; exit 4"]);
        o.interactive = true;
        o.runtime = rt.clone();
        let mut a = env.run_attached(&o).unwrap();
        let mut w = a.take_stdin().unwrap();
        w.send(b"in\n").unwrap();
        w.close().unwrap();
        let mut out = Vec::new();
        let mut err = Vec::new();
        a.copy_output(&mut out, &mut err).unwrap();
        assert_eq!(
            (out.as_slice(), err.as_slice()),
            (&b"in\n"[..], &b"done\n"[..])
        );
        assert_eq!(a.wait().unwrap(), 4, "{rt:?}");
        // run -it: the pty resized through the monitor; detach keys detach.
        let mut o = env.opts(&["sh", "-c", "read a; busybox stty size; read b"]);
        o.interactive = true;
        o.tty = true;
        o.runtime = rt.clone();
        let mut a = env.run_attached(&o).unwrap();
        a.resize(25, 81).unwrap();
        let mut w = a.take_stdin().unwrap();
        w.send(b"go\r").unwrap();
        let mut got = String::new();
        let mut buf = [0u8; 256];
        let t = Instant::now() + Duration::from_secs(20);
        while !got.contains("25 81") {
            match a.next_chunk_until(&mut buf, Some(t)).unwrap() {
                Chunk::Data(k, n) => {
                    assert_eq!(k, StreamKind::Stdout);
                    got.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
                c => panic!("{rt:?}: {c:?} {got}"),
            }
        }
        assert_eq!(w.send(b"\x10\x11").unwrap(), engine::Sent::Detached);
        drop(a);
        let id = env.engine.list(false).unwrap()[0].id.clone();
        assert!(env.engine.state(&id).unwrap().running());
        env.engine.remove(&id, true).unwrap();
    }
}

/// Two starts of one exec at once (docker: the second gets 409): exactly
/// one runs it, the other gets a conflict, and the winner's pid is
/// recorded by the time it has the stream.
#[test]
fn exec_start_race_runs_the_exec_once() {
    let env = Env::new();
    for rt in runtimes() {
        exec_start_race(&env, &rt);
    }
}

fn exec_start_race(env: &Env, rt: &Option<PathBuf>) {
    let id = sleeper(env, rt);
    for round in 0..6 {
        let c = cfg(&["sh", "-c", &format!("echo {round} >> /tmp/ran")]);
        let x = env.engine.exec_create(&id, &c).unwrap();
        let gate = std::sync::Barrier::new(2);
        let results: Vec<_> = std::thread::scope(|s| {
            let ts: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| {
                        gate.wait();
                        env.engine
                            .exec_start(&x, &ExecStartOptions::default(), ExecIo::Streams)
                    })
                })
                .collect();
            ts.into_iter().map(|t| t.join().unwrap()).collect()
        });
        let (won, lost): (Vec<_>, Vec<_>) = results.into_iter().partition(|r| r.is_ok());
        assert_eq!((won.len(), lost.len()), (1, 1), "{rt:?} round {round}");
        let err = lost.into_iter().next().unwrap().err().unwrap();
        assert!(matches!(err, engine::Error::Conflict(_)), "{err}");
        let s = won.into_iter().next().unwrap().unwrap();
        let pid = s.pid();
        assert!(pid > 0);
        let i = env.engine.exec_inspect(&x).unwrap();
        assert!(i.pid == pid || i.exit_code.is_some(), "{i:?} pid {pid}");
        assert_eq!(s.wait().unwrap(), 0);
    }
    let (_, mut s) = start(env, &id, &cfg(&["cat", "/tmp/ran"]));
    let mut out = String::new();
    read_until(&mut s, &mut out, "5\n");
    assert_eq!(out, "0\n1\n2\n3\n4\n5\n", "{rt:?}: each exec ran once");
    env.engine.remove(&id, true).unwrap();
}

/// Records are replaced whole: an inspect racing the starts and the
/// helpers' writes (pid, exit) always reads a record that parses.
#[test]
fn exec_records_are_never_torn_under_concurrent_inspect() {
    let env = Env::new();
    for rt in runtimes() {
        records_whole(&env, &rt);
    }
}

fn records_whole(env: &Env, rt: &Option<PathBuf>) {
    let id = sleeper(env, rt);
    let ids = std::sync::Mutex::new(Vec::<String>::new());
    let stop = std::sync::atomic::AtomicBool::new(false);
    let reads = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let v = ids.lock().unwrap().clone();
                for x in &v {
                    let i = env.engine.exec_inspect(x);
                    assert!(i.is_ok(), "inspect {x}: {:?}", i.err());
                    n += 1;
                }
            }
            n
        });
        for n in 0..8 {
            // A long environment: records of different sizes.
            let mut c = cfg(&["true"]);
            c.env = vec![format!("PAD={}", "x".repeat(n * 300))];
            let x = env.engine.exec_create(&id, &c).unwrap();
            ids.lock().unwrap().push(x.clone());
            let s = env
                .engine
                .exec_start(&x, &ExecStartOptions::default(), ExecIo::Streams)
                .unwrap();
            assert_eq!(s.wait().unwrap(), 0);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        reader.join().unwrap()
    });
    assert!(reads > 0);
    env.engine.remove(&id, true).unwrap();
}

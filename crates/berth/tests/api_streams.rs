//! The API service's hijacked streams (attach, exec start), driven by the
//! real docker CLI (/usr/local/bin/docker) and raw HTTP on its socket:
//! docker's `run` flow (create, attach, wait, start), stdin half-close,
//! ttys (under `script`, a pty), exec create/start/inspect/resize, the 409
//! of a second start, and a client hanging up mid-stream (nothing left in
//! the service). Needs root.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::api::Service;

fn service() -> Option<Service> {
    if !berth_testkit::require_root("containers") {
        return None;
    }
    let s = Service::start()?;
    s.busybox();
    Some(s)
}

/// docker ARGS with `input` on stdin: (exit code, stdout, stderr).
fn docker_stdin(s: &Service, args: &[&str], input: &[u8]) -> (i32, String, String) {
    let mut c = s.docker_cmd(args);
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("run docker");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let w = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let o = child.wait_with_output().unwrap();
    w.join().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// `script -qec 'docker ARGS' /dev/null`: the CLI on a pty (its stdin
/// /dev/null); (exit code, output with the pty's \r removed).
fn docker_on_pty(s: &Service, shell: &str) -> (i32, String) {
    let o = std::process::Command::new("script")
        .args(["-qec", shell, "/dev/null"])
        .env("DOCKER_HOST", format!("unix://{}", s.sock.display()))
        .env("DOCKER_CONFIG", s.env.path("docker-config"))
        .env_remove("DOCKER_CONTEXT")
        .stdin(Stdio::null())
        .output()
        .expect("run script");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).replace('\r', ""),
    )
}

#[test]
fn docker_run_attaches_before_start() {
    let Some(s) = service() else { return };
    // create, attach, wait (removed), start: the first output is not lost.
    for _ in 0..3 {
        assert_eq!(s.docker(&["run", "--rm", "bb", "echo", "hi"]), "hi\n");
    }
    let (code, out, err) = docker_stdin(
        &s,
        &[
            "run",
            "--rm",
            "bb",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ],
        b"",
    );
    assert_eq!((code, out.as_str(), err.as_str()), (3, "out\n", "err\n"));
    // Without --rm: wait's next-exit.
    let o = s.docker_out(&["run", "--name", "kept", "bb", "sh", "-c", "exit 4"]);
    assert_eq!(o.status.code(), Some(4));
    // stdin: the CLI half-closes the connection at its end; the
    // container's stdin ends (StdinOnce), its output goes on.
    let (code, out, _) = docker_stdin(
        &s,
        &["run", "-i", "--rm", "bb", "sh", "-c", "cat; echo after"],
        b"data\nmore\n",
    );
    assert_eq!((code, out.as_str()), (0, "data\nmore\nafter\n"));
    // A big input, back-pressured both ways.
    let big: Vec<u8> = (0..2_000_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let (code, out, _) = docker_stdin(&s, &["run", "-i", "--rm", "bb", "cat"], &big);
    assert_eq!(code, 0);
    assert!(out.as_bytes() == big.as_slice(), "{} bytes back", out.len());
    // start -a: attach, then start.
    s.docker(&[
        "create",
        "--name",
        "later",
        "bb",
        "sh",
        "-c",
        "echo started; exit 6",
    ]);
    let o = s.docker_out(&["start", "-a", "later"]);
    assert_eq!(o.status.code(), Some(6));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "started\n");
    // The --rm ones are gone.
    let left = s.docker(&["ps", "-a", "--format", "{{.Names}}"]);
    let mut left: Vec<&str> = left.lines().collect();
    left.sort();
    assert_eq!(left, ["kept", "later"]);
}

#[test]
fn docker_run_and_exec_with_a_tty() {
    if !berth_testkit::require("script") {
        return;
    }
    let Some(s) = service() else { return };
    let (code, out) = docker_on_pty(
        &s,
        "stty rows 30 cols 100; docker run -it --rm bb sh -c 'test -t 0 && test -t 1 && echo in-tty; busybox stty size; exit 2'",
    );
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("in-tty\n") && out.contains("30 100\n"),
        "{out:?}"
    );
    s.docker(&["run", "-d", "--name", "tt", "bb", "sleep", "300"]);
    let (code, out) = docker_on_pty(
        &s,
        "stty rows 20 cols 70; docker exec -it tt sh -c 'test -t 0 && echo exec-tty; busybox stty size; exit 9'",
    );
    assert_eq!(code, 9, "{out}");
    // (The pty echoes what `script` types at its end of input.)
    assert!(
        out.contains("exec-tty\n") && out.contains("20 70\n"),
        "{out:?}"
    );
}

#[test]
fn docker_exec_and_attach() {
    let Some(s) = service() else { return };
    s.docker(&["run", "-d", "--name", "ctr", "bb", "sleep", "300"]);
    assert_eq!(s.docker(&["exec", "ctr", "echo", "hi"]), "hi\n");
    let o = s.docker_out(&["exec", "ctr", "sh", "-c", "echo o; echo e >&2; exit 5"]);
    assert_eq!(o.status.code(), Some(5));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "o\n");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "e\n");
    let (code, out, _) = docker_stdin(&s, &["exec", "-i", "ctr", "cat"], b"input\n");
    assert_eq!((code, out.as_str()), (0, "input\n"));
    assert_eq!(
        s.docker(&[
            "exec",
            "-e",
            "A=b",
            "-w",
            "/bin",
            "ctr",
            "sh",
            "-c",
            "echo $A $PWD"
        ]),
        "b /bin\n"
    );
    // exec -d: started, not waited for.
    s.docker(&["exec", "-d", "ctr", "sh", "-c", "echo d > /d"]);
    s.until("the detached exec ran", || {
        s.docker_out(&["exec", "ctr", "cat", "/d"]).stdout == b"d\n"
    });
    // A command that cannot run: docker's message in the stream, 127.
    let o = s.docker_out(&["exec", "ctr", "nosuch"]);
    assert_eq!(o.status.code(), Some(127));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("executable file not found"), "{text}");
    let e = s.docker_fails(&["exec", "nosuch", "true"]);
    assert!(e.contains("No such container"), "{e}");

    // attach to a running container: its output from now on, its exit code.
    s.docker(&[
        "run",
        "-d",
        "--name",
        "att",
        "bb",
        "sh",
        "-c",
        "while [ ! -e /go ]; do sleep 0.1; done; echo one; echo two >&2; exit 7",
    ]);
    let child = s
        .docker_cmd(&["attach", "att"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The attach is in place once the monitor counts it: wait for the
    // service's event, then let the container go on.
    s.until("the attach event", || {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let (_, _, body) = s.http(
            "GET",
            &format!(
                "/v1.50/events?since=0&until={now}&filters=%7B%22event%22%3A%5B%22attach%22%5D%7D"
            ),
            b"",
        );
        String::from_utf8_lossy(&body).contains("\"attach\"")
    });
    s.docker(&["exec", "att", "sh", "-c", ": > /go"]);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "one\n");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "two\n");
}

/// A raw hijacked request on the service's socket: the response head
/// (status line and headers) read, the connection left open.
fn hijack(s: &Service, path: &str, body: &str) -> (UnixStream, String) {
    let mut c = UnixStream::connect(&s.sock).unwrap();
    write!(
        c,
        "POST {path} HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(c.read(&mut b).unwrap(), 1, "EOF in the head: {head:?}");
        head.push(b[0]);
    }
    (c, String::from_utf8(head).unwrap())
}

/// docker's frames until EOF: (stdout, stderr).
fn demux(mut r: impl Read) -> (Vec<u8>, Vec<u8>) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut h = [0u8; 8];
    while r.read_exact(&mut h).is_ok() {
        let n = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
        let mut d = vec![0u8; n];
        r.read_exact(&mut d).unwrap();
        match h[0] {
            1 => out.extend_from_slice(&d),
            2 => err.extend_from_slice(&d),
            k => panic!("stream {k}"),
        }
    }
    (out, err)
}

fn exec_create(s: &Service, c: &str, body: serde_json::Value) -> String {
    let (st, v) = s.http_json(
        "POST",
        &format!("/v1.50/containers/{c}/exec"),
        body.to_string().as_bytes(),
    );
    assert_eq!(st, 201, "{v}");
    v["Id"].as_str().unwrap().to_string()
}

#[test]
fn exec_endpoints_raw() {
    let Some(s) = service() else { return };
    s.docker(&["run", "-d", "--name", "ctr", "bb", "sleep", "300"]);
    // Hijacked start with stdin; the client's half-close ends the
    // process's stdin, the output goes on until it exits.
    let id = exec_create(
        &s,
        "ctr",
        serde_json::json!({"AttachStdin": true, "AttachStdout": true, "AttachStderr": true,
            "Cmd": ["sh", "-c", "cat; echo done >&2; exit 3"], "Env": null}),
    );
    let (st, v) = s.http_json("GET", &format!("/v1.50/exec/{id}/json"), b"");
    assert_eq!(st, 200);
    assert_eq!(v["Running"], false);
    assert!(v["ExitCode"].is_null(), "{v}");
    assert_eq!(v["ProcessConfig"]["entrypoint"], "sh");
    let (mut c, head) = hijack(&s, &format!("/v1.50/exec/{id}/start"), "{}");
    assert!(head.starts_with("HTTP/1.1 101 UPGRADED\r\n"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/vnd.docker.multiplexed-stream"),
        "{head}"
    );
    c.write_all(b"abc").unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let (out, err) = demux(&mut c);
    assert_eq!(
        (out.as_slice(), err.as_slice()),
        (&b"abc"[..], &b"done\n"[..])
    );
    let (_, v) = s.http_json("GET", &format!("/v1.50/exec/{id}/json"), b"");
    assert_eq!(
        (v["Running"].as_bool(), v["ExitCode"].as_i64()),
        (Some(false), Some(3))
    );
    // Started once: a second start is docker's 409.
    let (st, v) = s.http_json("POST", &format!("/v1.50/exec/{id}/start"), b"{}");
    assert_eq!(st, 409, "{v}");
    let (st, _) = s.http_json("GET", "/v1.50/exec/nosuch/json", b"");
    assert_eq!(st, 404);
    let (st, v) = s.http_json("POST", "/v1.50/containers/ctr/exec", br#"{"Cmd":[]}"#);
    assert_eq!(st, 400, "{v}");

    // Two clients racing to start one exec: one runs it, one gets 409.
    for _ in 0..3 {
        let id = exec_create(
            &s,
            "ctr",
            serde_json::json!({"AttachStdout": true, "Cmd": ["echo", "once"]}),
        );
        let path = format!("/v1.50/exec/{id}/start");
        let racers: Vec<_> = (0..2)
            .map(|_| {
                let sock = s.sock.clone();
                let path = path.clone();
                std::thread::spawn(move || {
                    let mut c = UnixStream::connect(sock).unwrap();
                    write!(c, "POST {path} HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 2\r\n\r\n{{}}").unwrap();
                    let mut head = Vec::new();
                    let mut b = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && c.read(&mut b).unwrap() == 1 {
                        head.push(b[0]);
                    }
                    let status = String::from_utf8_lossy(&head)
                        .split(' ')
                        .nth(1)
                        .unwrap_or("")
                        .to_string();
                    if status == "101" {
                        // The stream runs to its end.
                        assert_eq!(demux(&mut c).0, b"once\n");
                    }
                    status
                })
            })
            .collect();
        let mut got: Vec<String> = racers.into_iter().map(|t| t.join().unwrap()).collect();
        got.sort();
        assert_eq!(got, ["101", "409"]);
    }

    // Detached start: an empty 200; inspect shows it running, resize of
    // a process without a tty is refused.
    let id = exec_create(&s, "ctr", serde_json::json!({"Cmd": ["sleep", "300"]}));
    let (st, _, body) = s.http(
        "POST",
        &format!("/v1.50/exec/{id}/start"),
        br#"{"Detach":true}"#,
    );
    assert_eq!((st, body.len()), (200, 0));
    let (_, v) = s.http_json("GET", &format!("/v1.50/exec/{id}/json"), b"");
    assert_eq!(v["Running"], true, "{v}");
    assert!(v["Pid"].as_i64().unwrap() > 0);
    let (st, _) = s.http_json("POST", &format!("/v1.50/exec/{id}/resize?h=10&w=20"), b"");
    assert_eq!(st, 409);
    let (st, _) = s.http_json("POST", "/v1.50/containers/ctr/resize?h=10&w=20", b"");
    assert_eq!(st, 200);
    let (st, _) = s.http_json("POST", "/v1.50/containers/ctr/resize?h=x&w=20", b"");
    assert_eq!(st, 400);
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

#[test]
fn client_hanging_up_mid_stream_leaves_nothing() {
    let Some(s) = service() else { return };
    let pid = s.child.id();
    s.docker(&[
        "run",
        "-d",
        "--name",
        "talker",
        "bb",
        "sh",
        "-c",
        "while true; do echo tick; sleep 0.05; done",
    ]);
    s.docker(&["run", "-d", "--name", "silent", "bb", "sleep", "300"]);
    // One finished stream first: whatever the service opens once is open.
    assert_eq!(s.docker(&["exec", "talker", "echo", "warm"]), "warm\n");
    let before = fd_count(pid);

    // Attach to the talker, read a frame, hang up.
    let (mut c, head) = hijack(
        &s,
        "/v1.50/containers/talker/attach?stream=1&stdout=1&stderr=1",
        "",
    );
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let mut h = [0u8; 8];
    c.read_exact(&mut h).unwrap();
    assert_eq!(h[0], 1);
    drop(c);
    // Attach to the silent one (nothing to write: the hang-up is seen on
    // the socket), and a talking exec.
    let (c, _) = hijack(
        &s,
        "/v1.50/containers/silent/attach?stream=1&stdout=1&stderr=1",
        "",
    );
    drop(c);
    let id = exec_create(
        &s,
        "talker",
        serde_json::json!({"AttachStdout": true, "Cmd": ["sh", "-c", "while true; do echo x; sleep 0.05; done"]}),
    );
    let (mut c, _) = hijack(&s, &format!("/v1.50/exec/{id}/start"), "{}");
    c.read_exact(&mut h).unwrap();
    drop(c);

    let t = Instant::now();
    while fd_count(pid) > before {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the service holds {} descriptors, {before} before the streams",
            fd_count(pid)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The containers carry on.
    let running = s.docker(&["ps", "--format", "{{.Names}}"]);
    assert!(
        running.contains("talker") && running.contains("silent"),
        "{running}"
    );
    // And the service still serves streams.
    assert_eq!(s.docker(&["exec", "silent", "echo", "still"]), "still\n");
}

/// docker-py (tests/api/dockerpy_streams.py): `containers.run` not
/// detached, `exec_run` (multiplexed, demuxed, tty, streamed, detached),
/// exec inspect.
#[test]
fn docker_py_streams() {
    if !berth_testkit::require_root("containers") || !berth_testkit::require("python3") {
        return;
    }
    let has_module = std::process::Command::new("python3")
        .args(["-c", "import docker"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_module {
        common::skip("the python module docker (docker-py) is not installed");
        return;
    }
    let Some(s) = service() else { return };
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/api/dockerpy_streams.py");
    let o = std::process::Command::new("python3")
        .arg(&script)
        .env("DOCKER_HOST", format!("unix://{}", s.sock.display()))
        .env("BERTH_TEST_IMAGE", "bb")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "docker-py failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

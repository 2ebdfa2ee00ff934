//! An attach to a container that never starts (docker's `run` attaches
//! before its start) waits without holding a thread of the service: many
//! of them leave the service's thread count alone and it keeps answering.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use common::api::Service;

fn threads(pid: u32) -> usize {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// A hijacked attach (stream, stdout) to `c`: the connection, once its
/// `101` head is read.
fn attach(s: &Service, c: &str) -> UnixStream {
    let mut u = UnixStream::connect(&s.sock).unwrap();
    write!(
        u,
        "POST /v1.50/containers/{c}/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(u.read(&mut b).unwrap(), 1, "the attach head");
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    u
}

#[test]
fn attaches_waiting_for_a_start_hold_no_threads() {
    if !berth_testkit::require_root("containers") {
        return;
    }
    let Some(s) = Service::start() else { return };
    s.busybox();
    s.docker(&["create", "--name", "never", "bb", "echo", "hi"]);
    let pid = s.child.id();
    let before = threads(pid);
    const N: usize = 64;
    let conns: Vec<UnixStream> = (0..N).map(|_| attach(&s, "never")).collect();
    // Each waiter looks at the container's state now and then on the
    // blocking pool: a few threads at most, never one per waiter (which
    // would make at least N).
    let during = threads(pid);
    assert!(
        during < N,
        "{N} waiting attaches: {before} threads before, {during} during"
    );
    // The service still answers, and a start hands the output to a waiter.
    assert!(s.docker(&["ps", "-a", "-q"]).trim().len() >= 12);
    s.docker(&["start", "never"]);
    let mut got = Vec::new();
    let mut first = conns.into_iter().next().unwrap();
    first.read_to_end(&mut got).unwrap();
    assert!(
        got.ends_with(b"hi\n"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
}

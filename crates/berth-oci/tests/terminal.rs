//! Terminals: the pty master over --console-socket, and `run` under a pty.

mod common;
use common::*;
use serde_json::json;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::time::Duration;

/// Receives one fd sent with SCM_RIGHTS on `sock`.
fn recv_fd(sock: &std::os::unix::net::UnixStream) -> OwnedFd {
    let mut buf = [0u8; 256];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut cmsg = [0u8; 64];
    // SAFETY: msghdr is plain data; all-zero is a valid value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg.as_mut_ptr().cast();
    msg.msg_controllen = cmsg.len() as _;
    // SAFETY: msg points at iov and cmsg, which outlive the call.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    assert!(n >= 0, "recvmsg: {}", std::io::Error::last_os_error());
    // SAFETY: msg was filled by recvmsg.
    let c = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    assert!(!c.is_null(), "no control message");
    // SAFETY: c is a non-null header inside cmsg, holding one descriptor.
    unsafe {
        assert_eq!((*c).cmsg_level, libc::SOL_SOCKET);
        assert_eq!((*c).cmsg_type, libc::SCM_RIGHTS);
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const i32);
        OwnedFd::from_raw_fd(fd)
    }
}

/// Reads the master until EOF/EIO (the slave side closed) or a deadline.
fn read_master(master: OwnedFd) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut f = std::fs::File::from(master);
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match f.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
        let _ = tx.send(String::from_utf8_lossy(&out).into_owned());
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("reading the pty master timed out")
}

#[test]
fn console_socket_receives_pty_master() {
    let rt = Runtime::new();
    let mut b = Bundle::with_applets(&["stty"]);
    b.edit(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["consoleSize"] = json!({"height": 40, "width": 100});
    });
    b.sh("tty; stty size; readlink /proc/self/fd/0; test -c /dev/console && echo console");
    let sock_path = rt.scratch.path().join("console.sock");
    let listener = UnixListener::bind(&sock_path).unwrap();
    let acceptor = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        recv_fd(&s)
    });
    let id = unique_id("tty");
    rt.create_args(&b, &id, &["--console-socket", sock_path.to_str().unwrap()])
        .ok();
    let master = acceptor.join().unwrap();
    // It is a pty master.
    let mut pn: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one c_uint.
    let r = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut pn) };
    assert_eq!(r, 0, "received fd is not a pty master");
    rt.start(&id).ok();
    let out = read_master(master);
    let lines: Vec<&str> = out.lines().map(|l| l.trim_end_matches('\r')).collect();
    assert!(
        lines
            .first()
            .is_some_and(|t| *t == "/dev/pts/0" || *t == "/dev/console"),
        "{out:?}"
    );
    assert_eq!(lines.get(1), Some(&"40 100"), "consoleSize: {out:?}");
    assert_eq!(lines.get(2), Some(&"/dev/pts/0"), "{out:?}");
    assert_eq!(lines.get(3), Some(&"console"), "{out:?}");
    assert_eq!(rt.wait_status(&id, "stopped", SHORT), "stopped");
}

#[test]
fn terminal_without_console_socket_fails_create() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.edit(|c| c["process"]["terminal"] = json!(true));
    let id = unique_id("ttyno");
    let o = rt.create(&b, &id);
    assert!(o.fails().contains("process.terminal"), "{o}");
    assert!(!rt.state_dir(&id).exists());
    assert!(
        leftover_cgroups(&id).is_empty(),
        "{:?}",
        leftover_cgroups(&id)
    );
}

#[test]
fn run_with_terminal_under_a_pty() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.edit(|c| c["process"]["terminal"] = json!(true));
    b.sh("tty; echo done; exit 3");
    let id = unique_id("ttyrun");
    rt.track(&id);
    let inner = format!(
        "{} --root {} run --bundle {} {}; echo rc=$?",
        BIN,
        rt.root_path().display(),
        b.path().display(),
        id
    );
    let mut c = std::process::Command::new("script");
    c.args(["-qec", &inner, "/dev/null"]);
    c.stdin(std::process::Stdio::null());
    let o = rt.cmd_with(c, &format!("script -qec '{inner}'"));
    let out = o.stdout.replace('\r', "");
    assert!(
        out.contains("/dev/pts/0\n") || out.contains("/dev/console\n"),
        "{o}"
    );
    assert!(out.contains("done\n"), "{o}");
    assert!(out.contains("rc=3"), "exit status through the pty: {o}");
    assert!(!rt.state_dir(&id).exists());
}

#[test]
fn exec_with_tty_and_console_socket() {
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let id = unique_id("ttyexec");
    rt.run_detached(&b, &id).ok();
    let sock_path = rt.scratch.path().join("exec.sock");
    let listener = UnixListener::bind(&sock_path).unwrap();
    let acceptor = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        recv_fd(&s)
    });
    rt.cmd(&[
        "exec",
        "-t",
        "-d",
        "--console-socket",
        sock_path.to_str().unwrap(),
        &id,
        "tty",
    ])
    .ok();
    let master = acceptor.join().unwrap();
    let out = read_master(master);
    assert!(out.trim().starts_with("/dev/pts/"), "{out:?}");
}

#[test]
fn cve_2025_52565_dev_console_symlink_is_not_bind_mounted_through() {
    // /dev/console swapped for a symlink to a procfs file before the runtime
    // binds the pty there (here by a createContainer hook, as a container
    // sharing /dev would race it): the bind must not land on core_pattern.
    let rt = Runtime::new();
    let mut b = Bundle::new();
    let console = b.rootfs().join("dev/console");
    let swap = format!(
        "rm -f {c} && ln -s /proc/sys/kernel/core_pattern {c}",
        c = console.display()
    );
    b.edit(|c| {
        c["process"]["terminal"] = json!(true);
        c["hooks"] = json!({"createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", swap]}]});
    });
    b.sh("cat /proc/sys/kernel/core_pattern");
    let sock_path = rt.scratch.path().join("console.sock");
    let listener = UnixListener::bind(&sock_path).unwrap();
    let acceptor = std::thread::spawn(move || {
        listener.set_nonblocking(false).unwrap();
        listener.accept().ok().map(|(s, _)| recv_fd(&s))
    });
    let id = unique_id("ttycve");
    let o = rt.create_args(&b, &id, &["--console-socket", sock_path.to_str().unwrap()]);
    if o.success() {
        let master = acceptor.join().unwrap().unwrap();
        rt.start(&id).ok();
        let out = read_master(master);
        let host = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
        assert!(
            out.contains(host.trim()),
            "core_pattern was covered by the pty: {out:?}"
        );
    } else {
        assert!(o.stderr.contains("/dev/console"), "{o}");
        let _ = std::os::unix::net::UnixStream::connect(&sock_path);
        let _ = acceptor.join();
    }
}

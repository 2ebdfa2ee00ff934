//! `berth-init [--] COMMAND [ARG...]`: a minimal init for containers (the
//! class of tini, mounted by `berth run --init` at /sbin/docker-init).
//!
//! It blocks every signal and reads them from a signalfd, forks and execs
//! the command (PATH looked up) in its own process group (foreground on a
//! terminal), forwards every signal it receives to that group, reaps every
//! child (it is PID 1 of the container's pid namespace, so orphans come to
//! it), and exits with the command's status (128 + signal when killed).
//! Static and libc-free: it runs on any image.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use tiny::rt::Args;
use tiny::sys::{self, Fork};
use tiny::Buf;

tiny::entry!(main);

const DEFAULT_PATH: &[u8] = b"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn say(parts: &[&[u8]]) {
    let mut b: Buf<512> = Buf::new();
    b.push(b"berth-init: ");
    for p in parts {
        b.push(p);
    }
    b.push(b"\n");
    let _ = sys::write_all(2, b.as_bytes());
}

/// Execs `argv[first..]`, looking the program up in PATH; returns the
/// exit status to use when it cannot: 127 not found, 126 not runnable.
fn exec_command(args: &Args, first: usize) -> i32 {
    let Some(cmd) = args.get(first) else {
        return 127;
    };
    let argv = args.argv_slice_from(first);
    let envp = args.envp_slice();
    let name = cmd.to_bytes();
    if name.is_empty() {
        say(&[b"empty command"]);
        return 127;
    }
    let mut err = sys::Errno(2);
    if name.contains(&b'/') {
        err = sys::execve(cmd, argv, envp);
    } else {
        let path = args.env(b"PATH").unwrap_or(DEFAULT_PATH);
        let mut denied = false;
        for dir in path.split(|c| *c == b':') {
            let mut p: Buf<4096> = Buf::new();
            p.push(if dir.is_empty() { b"." } else { dir })
                .push(b"/")
                .push(name);
            if p.overflow {
                continue;
            }
            let e = sys::execve(p.as_cstr(), argv, envp);
            if e.0 == 13 {
                denied = true;
            }
            err = e;
        }
        if denied {
            err = sys::Errno(13);
        }
    }
    let mut n: Buf<16> = Buf::new();
    n.push_i64(err.0 as i64);
    if err.0 == 2 || err.0 == 20 {
        say(&[b"exec ", name, b": not found"]);
        127
    } else {
        say(&[b"exec ", name, b": errno ", n.as_bytes()]);
        126
    }
}

fn main(args: Args) -> i32 {
    let mut first = 1;
    if args.get(1).is_some_and(|a| a.to_bytes() == b"--") {
        first = 2;
    }
    if args.get(first).is_none() {
        say(&[b"usage: berth-init [--] COMMAND [ARG...]"]);
        return 2;
    }
    let old = match sys::sigprocmask(sys::SIG_SETMASK, sys::ALL_SIGNALS) {
        Ok(o) => o,
        Err(_) => return 125,
    };
    let sfd = match sys::signalfd(sys::ALL_SIGNALS) {
        Ok(f) => f,
        Err(_) => {
            say(&[b"cannot create a signalfd"]);
            return 125;
        }
    };
    // Not PID 1 (run by hand): still reap the orphans of the command.
    let _ = sys::prctl(sys::PR_SET_CHILD_SUBREAPER, 1);
    let child = match sys::fork() {
        Ok(Fork::Child) => {
            sys::close(sfd);
            let _ = sys::setpgid(0, 0);
            // Foreground on a terminal (fails harmlessly without one).
            let _ = sys::tcsetpgrp(0, sys::getpid());
            let _ = sys::sigprocmask(sys::SIG_SETMASK, old);
            sys::exit(exec_command(&args, first));
        }
        Ok(Fork::Parent(p)) => p,
        Err(_) => {
            say(&[b"cannot fork"]);
            return 125;
        }
    };
    // Both sides set the group, so it exists before any signal is forwarded.
    let _ = sys::setpgid(child, child);
    let mut status: Option<i32> = None;
    loop {
        let mut p = [sys::PollFd::new(sfd, sys::POLLIN)];
        let _ = sys::poll(&mut p, -1);
        while let Some(sig) = sys::read_signal(sfd) {
            if sig == sys::SIGCHLD {
                continue;
            }
            if sys::kill(-child, sig).is_err() {
                let _ = sys::kill(child, sig);
            }
        }
        // Reap everything that exited, the command or orphans.
        while let Ok(Some((pid, st))) = sys::wait4(-1, sys::WNOHANG) {
            if pid == child {
                status = Some(sys::exit_code(st));
            }
        }
        if let Some(code) = status {
            return code;
        }
    }
}

//! `berth internal VERB`: what the monitor (`berth-monitor`, a small
//! static program) asks the full berth program to do.
//!
//! - `create-start [--console-fd N] ID`: run with the container's stdio as
//!   fds 0-2 (and the console socket for a tty); creates and starts the
//!   container through the `oci_runtime` library (or the `--runtime`
//!   binary), records it running, and reports `ok PID` or `err MESSAGE` on
//!   fd 3. The container's init is left to the monitor (its subreaper).
//! - `cleanup [--notify FD]... ID`: the monitor's exit command, run once
//!   the init exited and `<dir>/exit` is written: [`Engine::container_exited`]
//!   (records the exit, tears the runtime down, removes `--rm`), sends the
//!   exit code to the attached clients, and applies the restart policy.
//! - `log-compress ID FILE LASTTIME`: gzips a rotated log file
//!   ([`crate::logs`]).
//! - `healthcheck ID`: one probe ([`Engine::run_healthcheck`]).
//! - `restart ID`: the restart policy of a container whose monitor was
//!   found dead ([`Engine::monitor_died`]): the backoff, then the start.
//! - `exec-helper --report-fd N ID EXEC`: the exec helper of a caller that
//!   is not forked ([`crate::runtime::helper`]): the process's stdio as fds
//!   0-2, the process and the reports on the socket N.
//!
//! All take `--root R --run-root RR` first. The verbs that enter a
//! container (create-start, healthcheck, exec-helper) first re-execute
//! from a sealed copy of the program ([`crate::reexec_sealed`],
//! CVE-2019-5736), and refuse to go on when none can be made.

use crate::container::Status;
use crate::error::Result;
use crate::{fsutil, sys, timeutil, Engine};
use std::os::fd::OwnedFd;

const REPORT_FD: i32 = 3;

struct Parsed {
    root: String,
    run_root: String,
    console: Option<i32>,
    report: Option<i32>,
    notify: Vec<i32>,
    id: String,
    /// Arguments after the id (log-compress's file and time).
    rest: Vec<String>,
}

fn parse(args: &[String]) -> Option<Parsed> {
    let mut p = Parsed {
        root: String::new(),
        run_root: String::new(),
        console: None,
        report: None,
        notify: Vec::new(),
        id: String::new(),
        rest: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--root" => p.root = it.next()?.clone(),
            "--run-root" => p.run_root = it.next()?.clone(),
            "--console-fd" => p.console = Some(it.next()?.parse().ok()?),
            "--report-fd" => p.report = Some(it.next()?.parse().ok().filter(|fd| *fd > 2)?),
            "--notify" => p.notify.push(it.next()?.parse().ok()?),
            s if !s.starts_with('-') && p.id.is_empty() => p.id = s.to_string(),
            s if !s.starts_with('-') => p.rest.push(s.to_string()),
            _ => return None,
        }
    }
    (!p.root.is_empty() && !p.run_root.is_empty() && !p.id.is_empty()).then_some(p)
}

/// `main` of `berth internal ...` (args after `internal`); the exit status.
pub fn internal_main(args: &[String]) -> i32 {
    let Some((verb, rest)) = args.split_first() else {
        eprintln!(
            "berth internal: usage: create-start|cleanup|healthcheck|restart|log-compress|exec-helper --root R --run-root RR ID"
        );
        return 125;
    };
    let Some(p) = parse(rest) else {
        eprintln!("berth internal {verb}: bad arguments {rest:?}");
        return 125;
    };
    // What a failure before the verb runs is reported to.
    let fail = |e: &dyn std::fmt::Display| {
        match verb.as_str() {
            "create-start" => report(&format!("err {e}")),
            "exec-helper" => {
                if let Some(fd) = p.report {
                    crate::runtime::helper::report_err(&sys::own_fd(fd), &e.to_string());
                }
            }
            _ => {}
        }
        eprintln!("berth internal {verb}: {e}");
        125
    };
    if matches!(
        verb.as_str(),
        "create-start" | "healthcheck" | "exec-helper"
    ) {
        // Returns once running from a sealed copy (the same arguments and
        // descriptors), or fails: never on from the program's file.
        if let Err(e) = crate::reexec_sealed() {
            return fail(&e);
        }
    }
    let engine = match Engine::open_with(&p.root, &p.run_root) {
        Ok(e) => e,
        Err(e) => return fail(&e),
    };
    match verb.as_str() {
        "create-start" => match create_start(&engine, &p) {
            Ok(pid) => {
                report(&format!("ok {pid}"));
                0
            }
            Err(e) => {
                report(&format!("err {}", e.to_string().replace('\n', " ")));
                1
            }
        },
        "cleanup" => {
            let notify: Vec<OwnedFd> = p.notify.iter().map(|fd| sys::own_fd(*fd)).collect();
            match cleanup(&engine, &p.id, notify) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("berth internal cleanup: {e}");
                    1
                }
            }
        }
        "restart" => match engine.restart_after_exit(&p.id) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("berth internal restart: {e}");
                1
            }
        },
        "log-compress" => match log_compress(&engine, &p) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("berth internal log-compress: {e}");
                1
            }
        },
        "exec-helper" => {
            let (Some(fd), [exec_id]) = (p.report, p.rest.as_slice()) else {
                eprintln!("berth internal exec-helper: usage: --report-fd N ID EXEC");
                return 125;
            };
            crate::ops::exec::exec_helper_main(&engine, &p.id, exec_id, sys::own_fd(fd))
        }
        // A single-threaded process on a sealed copy: its probe's exec
        // helper is forked from it.
        "healthcheck" => match engine.with_inline_exec_helper(true).run_healthcheck(&p.id) {
            Ok(true) => crate::health::HEALTH_STARTING_EXIT,
            Ok(false) => 0,
            Err(e) => {
                eprintln!("berth internal healthcheck: {e}");
                1
            }
        },
        _ => {
            eprintln!("berth internal: unknown verb {verb:?}");
            125
        }
    }
}

/// `log-compress ID FILE LASTTIME`: gzips a log file the monitor rotated
/// (a file of the container's directory only).
fn log_compress(engine: &Engine, p: &Parsed) -> Result<()> {
    let [file, last] = p.rest.as_slice() else {
        return Err(crate::Error::msg("usage: log-compress ID FILE LASTTIME"));
    };
    let file = std::path::PathBuf::from(file);
    let dir = engine.container_dir(&p.id);
    if !file.starts_with(&dir) || file.components().any(|c| c.as_os_str() == "..") {
        return Err(crate::Error::msg(format!(
            "{} is not a log of container {}",
            file.display(),
            p.id
        )));
    }
    crate::logs::compress_file(&file, last)
}

fn report(line: &str) {
    let fd = sys::own_fd(REPORT_FD);
    let _ = nix::unistd::write(&fd, format!("{line}\n").as_bytes());
}

fn create_start(engine: &Engine, p: &Parsed) -> Result<i32> {
    let id = &p.id;
    let c = engine.load_config(id)?;
    let bundle = engine.container_dir(id).join("bundle");
    let spec: oci_spec::runtime::Spec = fsutil::read_json(&bundle.join("config.json"))?;
    let console = p.console.map(sys::own_fd);
    let _ = std::fs::remove_file(engine.container_dir(id).join(crate::exit::EXIT_FILE));
    let pid = crate::runtime::of(c.options.runtime.as_deref())
        .create_start(engine, id, &bundle, spec, console)?;
    // The start_inner caller holds the container's lock while we run.
    let monitor = nix::unistd::getppid().as_raw();
    let mut st = engine.load_state_raw(id).unwrap_or_default();
    st.status = Status::Running;
    st.pid = pid;
    st.pid_start_time = berth_util::proc::stat(pid).map(|s| s.1).unwrap_or(0);
    st.monitor_pid = monitor;
    st.monitor_start_time = berth_util::proc::stat(monitor).map(|s| s.1).unwrap_or(0);
    st.boot_id = image::boot_id().to_string();
    st.exit_code = 0;
    st.error.clear();
    st.oom_killed = false;
    st.started_at = timeutil::now();
    st.finished_at = timeutil::ZERO_TIME.into();
    if let Err(e) = engine.save_state(id, &st) {
        let _ = engine.release_runtime_of(id, Some(&c));
        return Err(e);
    }
    engine.reset_health(&c);
    Ok(pid)
}

fn cleanup(engine: &Engine, id: &str, notify: Vec<OwnedFd>) -> Result<()> {
    let rec = crate::exit::read_exit(engine, id).unwrap_or(crate::exit::ExitRecord {
        exit_code: 255,
        finished_at: timeutil::now(),
    });
    // The network teardown (the kernel waits 20-30 ms to delete a veth)
    // comes after the clients have the exit code; the network lock is held
    // from the teardown's place until its quick part is done.
    let deferring = engine.clone().deferring_network_teardown();
    let restart = deferring.container_exited(id, rec.exit_code, &rec.finished_at);
    // The clients learn the exit code once the container is torn down
    // (and removed with --rm), as `docker run` returns.
    crate::monitor::notify_exit(notify, rec.exit_code);
    for e in crate::network::finish_deferred(&deferring) {
        eprintln!("berth internal cleanup: network teardown: {e}");
    }
    if restart? {
        // Our stdio is /dev/null already; the new monitor is independent.
        engine.restart_after_exit(id)?;
    }
    Ok(())
}

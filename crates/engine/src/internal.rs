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
//!
//! All take `--root R --run-root RR` first.

use crate::container::Status;
use crate::error::{Error, Result};
use crate::{fsutil, sys, timeutil, Engine};
use std::os::fd::OwnedFd;
use std::path::PathBuf;

const REPORT_FD: i32 = 3;

struct Parsed {
    root: String,
    run_root: String,
    console: Option<i32>,
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
            "berth internal: usage: create-start|cleanup|healthcheck|restart|log-compress --root R --run-root RR ID"
        );
        return 125;
    };
    let Some(p) = parse(rest) else {
        eprintln!("berth internal {verb}: bad arguments {rest:?}");
        return 125;
    };
    let engine = match Engine::open_with(&p.root, &p.run_root) {
        Ok(e) => e,
        Err(e) => {
            if verb == "create-start" {
                report(&format!("err {e}"));
            }
            eprintln!("berth internal {verb}: {e}");
            return 125;
        }
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
        "healthcheck" => match engine.run_healthcheck(&p.id) {
            Ok(()) => 0,
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
        return Err(Error::msg("usage: log-compress ID FILE LASTTIME"));
    };
    let file = PathBuf::from(file);
    let dir = engine.container_dir(&p.id);
    if !file.starts_with(&dir) || file.components().any(|c| c.as_os_str() == "..") {
        return Err(Error::msg(format!(
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
    let _ = std::fs::remove_file(engine.container_dir(id).join(EXIT_FILE));
    let pid = match &c.options.runtime {
        None => builtin_create_start(engine, id, &bundle, spec, console)?,
        Some(rt) => external_create_start(engine, id, &bundle, rt, console)?,
    };
    // The start_inner caller holds the container's lock while we run.
    let monitor = nix::unistd::getppid().as_raw();
    let mut st = engine.load_state_raw(id).unwrap_or_default();
    st.status = Status::Running;
    st.pid = pid;
    st.pid_start_time = oci_runtime::state::proc_stat(pid).map(|s| s.1).unwrap_or(0);
    st.monitor_pid = monitor;
    st.monitor_start_time = oci_runtime::state::proc_stat(monitor)
        .map(|s| s.1)
        .unwrap_or(0);
    st.boot_id = image::boot_id().to_string();
    st.exit_code = 0;
    st.error.clear();
    st.oom_killed = false;
    st.started_at = timeutil::now();
    st.finished_at = timeutil::ZERO_TIME.into();
    if let Err(e) = engine.save_state(id, &st) {
        engine.release_runtime(id);
        return Err(e);
    }
    engine.reset_health(id);
    Ok(pid)
}

fn builtin_create_start(
    engine: &Engine,
    id: &str,
    bundle: &std::path::Path,
    spec: oci_spec::runtime::Spec,
    console: Option<OwnedFd>,
) -> Result<i32> {
    let st = oci_runtime::create::create(oci_runtime::create::CreateOptions {
        id: id.to_string(),
        bundle: bundle.to_path_buf(),
        root: engine.run_root().to_path_buf(),
        pid_file: None,
        console,
        no_pivot: false,
        no_new_keyring: false,
        preserve_fds: 0,
        systemd_cgroup: false,
        spec: Some(spec),
    })?;
    if let Err(e) = oci_runtime::ops::start(engine.run_root(), id) {
        let _ = oci_runtime::ops::delete(engine.run_root(), id, true);
        return Err(e.into());
    }
    Ok(st.pid)
}

fn external_create_start(
    engine: &Engine,
    id: &str,
    bundle: &std::path::Path,
    rt: &PathBuf,
    console: Option<OwnedFd>,
) -> Result<i32> {
    // With a tty the runtime gets a console socket path of ours; the
    // master it sends is passed on to the monitor's console socket.
    let relay = match &console {
        Some(_) => Some(ConsoleRelay::new()?),
        None => None,
    };
    let r = external_run(engine, id, bundle, rt, relay.as_ref());
    if let (Ok(_), Some(rel), Some(mon)) = (&r, &relay, &console) {
        if let Err(e) = rel.pass_to(mon) {
            let _ = std::process::Command::new(rt)
                .arg("--root")
                .arg(engine.run_root())
                .args(["delete", "--force", id])
                .status();
            return Err(e);
        }
    }
    r
}

/// A temporary console socket for an external runtime.
pub(crate) struct ConsoleRelay {
    dir: PathBuf,
    listener: std::os::unix::net::UnixListener,
}

impl ConsoleRelay {
    pub(crate) fn new() -> Result<ConsoleRelay> {
        // A short path: socket paths are limited to 108 bytes.
        let dir = PathBuf::from(format!("/tmp/berth-console-{:016x}", fsutil::random_u64()));
        std::fs::create_dir(&dir)
            .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
        let listener = std::os::unix::net::UnixListener::bind(dir.join("s")).map_err(|e| {
            let _ = std::fs::remove_dir_all(&dir);
            Error::io("console socket", e)
        })?;
        Ok(ConsoleRelay { dir, listener })
    }

    pub(crate) fn path(&self) -> PathBuf {
        self.dir.join("s")
    }

    /// The master the runtime sent (it has returned: no waiting).
    pub(crate) fn take_master(&self) -> Result<OwnedFd> {
        self.listener
            .set_nonblocking(true)
            .map_err(|e| Error::io("console socket", e))?;
        let (conn, _) = self
            .listener
            .accept()
            .map_err(|e| Error::msg(format!("the runtime sent no console: {e}")))?;
        let conn = OwnedFd::from(conn);
        crate::exec_tty::recv_master(&conn)
    }

    /// Takes the master the runtime sent and sends it on to `to`.
    fn pass_to(&self, to: &OwnedFd) -> Result<()> {
        use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
        use std::os::fd::AsRawFd;
        let master = self.take_master()?;
        let fds = [master.as_raw_fd()];
        sendmsg::<()>(
            to.as_raw_fd(),
            &[std::io::IoSlice::new(b"m")],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        )
        .map_err(|e| Error::msg(format!("cannot pass the console to the monitor: {e}")))?;
        Ok(())
    }
}

impl Drop for ConsoleRelay {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn external_run(
    engine: &Engine,
    id: &str,
    bundle: &std::path::Path,
    rt: &PathBuf,
    relay: Option<&ConsoleRelay>,
) -> Result<i32> {
    let dir = engine.container_dir(id);
    let pidfile = dir.join("init.pid");
    let logf = dir.join("runtime.log");
    let run = |args: &[&str]| -> Result<()> {
        let out = std::process::Command::new(rt)
            .arg("--root")
            .arg(engine.run_root())
            .arg("--log")
            .arg(&logf)
            .args(args)
            .status()
            .map_err(|e| Error::io(format!("cannot run {}", rt.display()), e))?;
        if out.success() {
            return Ok(());
        }
        let log = std::fs::read_to_string(&logf).unwrap_or_default();
        let last = log
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l)
                    .ok()
                    .and_then(|v| v["msg"].as_str().map(String::from))
                    .unwrap_or_else(|| l.to_string())
            })
            .unwrap_or_else(|| format!("{} {} failed", rt.display(), args[0]));
        Err(crate::error::classify(last))
    };
    let b = bundle.to_string_lossy().into_owned();
    let p = pidfile.to_string_lossy().into_owned();
    let cs = relay.map(|r| r.path().to_string_lossy().into_owned());
    match &cs {
        Some(cs) => run(&[
            "create",
            "--bundle",
            &b,
            "--pid-file",
            &p,
            "--console-socket",
            cs,
            id,
        ])?,
        None => run(&["create", "--bundle", &b, "--pid-file", &p, id])?,
    }
    if let Err(e) = run(&["start", id]) {
        let _ = run(&["delete", "--force", id]);
        return Err(e);
    }
    std::fs::read_to_string(&pidfile)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| Error::msg("the runtime wrote no pid file"))
}

/// The monitor's record of the exit (written atomically before cleanup).
pub(crate) const EXIT_FILE: &str = "exit";

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct ExitRecord {
    pub exit_code: i32,
    pub finished_at: String,
}

pub(crate) fn read_exit(engine: &Engine, id: &str) -> Option<ExitRecord> {
    fsutil::read_json(&engine.container_dir(id).join(EXIT_FILE)).ok()
}

fn cleanup(engine: &Engine, id: &str, notify: Vec<OwnedFd>) -> Result<()> {
    let rec = read_exit(engine, id).unwrap_or(ExitRecord {
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

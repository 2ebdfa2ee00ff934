//! The per-container monitor (the class of conmon).
//!
//! `start` forks; the child calls `setsid` and forks again, so the monitor
//! is a daemon re-parented away from the caller, with stdio on /dev/null
//! and only the descriptors it needs. It makes itself a child subreaper,
//! creates and starts the container through the `oci_runtime` library (or
//! execs an external runtime), and reports the init pid or the error over a
//! pipe. Then it holds the container's stdout/stderr pipes, appends
//! docker json-file entries to `<id>-json.log`, relays the raw output to
//! an attached caller (docker's stdcopy framing over a socketpair), waits
//! for the init to exit (pidfd), records the exit in state.json, deletes
//! the OCI container (cgroup), unmounts the rootfs and, with `--rm`,
//! removes the container.

use crate::container::Status;
use crate::error::{Error, Result};
use crate::sys;
use crate::Engine;
use std::fs::File;
use std::io::{BufRead, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const STREAM_STDOUT: u8 = 1;
const STREAM_STDERR: u8 = 2;
/// Our frame carrying the exit code (4 bytes, big endian).
const STREAM_EXIT: u8 = 0xfe;

/// Everything the monitor needs, prepared before the fork.
pub(crate) struct Launch {
    pub id: String,
    pub bundle: PathBuf,
    pub spec: oci_spec::runtime::Spec,
    pub runtime: Option<PathBuf>,
    pub auto_remove: bool,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Report {
    pid: i32,
    error: Option<String>,
}

/// Forks the monitor; returns the container's init pid once it runs.
/// `attach` is the monitor's end of a socketpair for an attached caller.
pub(crate) fn spawn(engine: &Engine, launch: &Launch, attach: Option<OwnedFd>) -> Result<i32> {
    let (sync_r, sync_w) = sys::pipe().map_err(|e| Error::io("pipe", e))?;
    match sys::fork().map_err(|e| Error::io("fork", e))? {
        sys::Forked::Child => {
            let mut keep = vec![sync_w.as_raw_fd()];
            if let Some(a) = &attach {
                keep.push(a.as_raw_fd());
            }
            sys::close_fds_except(&keep);
            let _ = sys::setsid();
            match sys::fork() {
                Ok(sys::Forked::Child) => {
                    if let Some(exe) = engine.monitor_exe() {
                        let e = exec_monitor(exe, engine, launch, &sync_w, attach.as_ref());
                        report(
                            &sync_w,
                            &Report {
                                pid: 0,
                                error: Some(format!(
                                    "cannot run the monitor {}: {e}",
                                    exe.display()
                                )),
                            },
                        );
                        sys::exit_now(1)
                    }
                    let code = monitor_main(engine, launch, sync_w, attach);
                    sys::exit_now(code)
                }
                _ => sys::exit_now(0),
            }
        }
        sys::Forked::Parent(pid) => {
            drop(sync_w);
            drop(attach);
            let _ = sys::waitpid(pid, false);
            let mut line = String::new();
            let mut r = std::io::BufReader::new(File::from(sync_r));
            let _ = r.read_line(&mut line);
            let rep: Report = serde_json::from_str(line.trim()).map_err(|_| {
                Error::msg(format!(
                    "container {}: the monitor exited before reporting",
                    crate::fsutil::short_id(&launch.id)
                ))
            })?;
            match rep.error {
                Some(e) => Err(crate::error::classify(e)),
                None => Ok(rep.pid),
            }
        }
    }
}

const SYNC_FD: i32 = 3;
const ATTACH_FD: i32 = 4;

/// Replaces the forked process with the small monitor binary: the sync pipe
/// becomes fd 3 and the attach socket fd 4. Returns only on failure.
fn exec_monitor(
    exe: &std::path::Path,
    engine: &Engine,
    l: &Launch,
    sync: &OwnedFd,
    attach: Option<&OwnedFd>,
) -> std::io::Error {
    let s = match sys::dup_above(sync.as_raw_fd(), 10) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let a = match attach
        .map(|a| sys::dup_above(a.as_raw_fd(), 10))
        .transpose()
    {
        Ok(a) => a,
        Err(e) => return e,
    };
    if let Err(e) = sys::dup_to(s, SYNC_FD) {
        return e;
    }
    if let Some(a) = a {
        if let Err(e) = sys::dup_to(a, ATTACH_FD) {
            return e;
        }
    }
    let mut args = vec![
        "berth-monitor".to_string(),
        "--root".into(),
        engine.root().to_string_lossy().into_owned(),
        "--run-root".into(),
        engine.run_root().to_string_lossy().into_owned(),
        "--id".into(),
        l.id.clone(),
    ];
    if a.is_some() {
        args.push("--attach".into());
    }
    sys::execv(exe, &args)
}

/// `main` of the monitor binary (`berth-monitor`, or a CLI's hidden
/// monitor mode): `--root R --run-root RR --id ID [--attach]`, the sync
/// pipe on fd 3 and the attach socket on fd 4. Never returns.
pub fn monitor_process_main(args: &[String]) -> ! {
    let get = |k: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let sync = sys::own_fd(SYNC_FD);
    let attach = args
        .iter()
        .any(|a| a == "--attach")
        .then(|| sys::own_fd(ATTACH_FD));
    let fail = |m: String| -> ! {
        report(
            &sync,
            &Report {
                pid: 0,
                error: Some(m),
            },
        );
        sys::exit_now(1)
    };
    let (Some(root), Some(run_root), Some(id)) = (get("--root"), get("--run-root"), get("--id"))
    else {
        fail("berth-monitor: usage: --root DIR --run-root DIR --id ID [--attach]".into())
    };
    let engine = match Engine::open_with(&root, &run_root) {
        Ok(e) => e,
        Err(e) => fail(e.to_string()),
    };
    let c = match engine.load_config(&id) {
        Ok(c) => c,
        Err(e) => fail(e.to_string()),
    };
    let bundle = engine.container_dir(&id).join("bundle");
    let spec = match crate::fsutil::read_json(&bundle.join("config.json")) {
        Ok(s) => s,
        Err(e) => fail(e.to_string()),
    };
    let launch = Launch {
        id,
        bundle,
        spec,
        runtime: c.options.runtime.clone(),
        auto_remove: c.host_config.auto_remove,
    };
    let code = monitor_main(&engine, &launch, sync, attach);
    sys::exit_now(code)
}

fn report(sync: &OwnedFd, r: &Report) {
    if let Ok(mut s) = serde_json::to_string(r) {
        s.push('\n');
        let _ = nix::unistd::write(sync, s.as_bytes());
    }
}

/// Creates and starts the container; (init pid, its start time).
fn create_and_start(engine: &Engine, l: &Launch) -> Result<i32> {
    match &l.runtime {
        None => {
            let st = oci_runtime::create::create(oci_runtime::create::CreateOptions {
                id: l.id.clone(),
                bundle: l.bundle.clone(),
                root: engine.run_root().to_path_buf(),
                pid_file: None,
                console: None,
                no_pivot: false,
                no_new_keyring: false,
                preserve_fds: 0,
                systemd_cgroup: false,
                spec: Some(l.spec.clone()),
            })?;
            if let Err(e) = oci_runtime::ops::start(engine.run_root(), &l.id) {
                let _ = oci_runtime::ops::delete(engine.run_root(), &l.id, true);
                return Err(e.into());
            }
            Ok(st.pid)
        }
        Some(rt) => {
            let dir = engine.container_dir(&l.id);
            let pidfile = dir.join("init.pid");
            let logf = dir.join("runtime.log");
            let run = |args: &[&str]| -> Result<()> {
                let out = std::process::Command::new(rt)
                    .arg("--root")
                    .arg(engine.run_root())
                    .arg("--log")
                    .arg(&logf)
                    .args(args)
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::inherit())
                    .stderr(std::process::Stdio::inherit())
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
            let b = l.bundle.to_string_lossy().into_owned();
            let p = pidfile.to_string_lossy().into_owned();
            run(&["create", "--bundle", &b, "--pid-file", &p, &l.id])?;
            if let Err(e) = run(&["start", &l.id]) {
                let _ = run(&["delete", "--force", &l.id]);
                return Err(e);
            }
            let pid: i32 = std::fs::read_to_string(&pidfile)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .ok_or_else(|| Error::msg("the runtime wrote no pid file"))?;
            Ok(pid)
        }
    }
}

fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + data.len());
    v.extend_from_slice(&[stream, 0, 0, 0]);
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(data);
    v
}

fn monitor_main(engine: &Engine, l: &Launch, sync: OwnedFd, attach: Option<OwnedFd>) -> i32 {
    // The published host ports stay bound while the container lives.
    let held_ports = crate::network::hold_ports(engine, &l.id);
    let _ = sys::set_child_subreaper();
    let _ = std::env::set_current_dir("/");
    let devnull = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        Ok(f) => f,
        Err(_) => return 1,
    };
    let pipes = sys::pipe().and_then(|o| sys::pipe().map(|e| (o, e)));
    let ((out_r, out_w), (err_r, err_w)) = match pipes {
        Ok(p) => p,
        Err(e) => {
            report(
                &sync,
                &Report {
                    pid: 0,
                    error: Some(format!("pipe: {e}")),
                },
            );
            return 1;
        }
    };
    let _ = sys::dup_to(devnull.as_raw_fd(), 0);
    let _ = sys::dup_to(out_w.as_raw_fd(), 1);
    let _ = sys::dup_to(err_w.as_raw_fd(), 2);
    drop(out_w);
    drop(err_w);
    let res = create_and_start(engine, l);
    // Our copies of the write ends go, so the pipes reach EOF with the container.
    let _ = sys::dup_to(devnull.as_raw_fd(), 1);
    let _ = sys::dup_to(devnull.as_raw_fd(), 2);
    let pid = match res {
        Ok(p) => p,
        Err(e) => {
            report(
                &sync,
                &Report {
                    pid: 0,
                    error: Some(e.to_string()),
                },
            );
            return 1;
        }
    };
    let me = std::process::id() as i32;
    let mut st = engine.load_state_raw(&l.id).unwrap_or_default();
    st.status = Status::Running;
    st.pid = pid;
    st.pid_start_time = oci_runtime::state::proc_stat(pid).map(|s| s.1).unwrap_or(0);
    st.monitor_pid = me;
    st.monitor_start_time = oci_runtime::state::proc_stat(me).map(|s| s.1).unwrap_or(0);
    st.exit_code = 0;
    st.error.clear();
    st.oom_killed = false;
    st.stopped_by_user = false;
    st.started_at = crate::timeutil::now();
    st.finished_at = crate::timeutil::ZERO_TIME.into();
    if let Err(e) = engine.save_state(&l.id, &st) {
        report(
            &sync,
            &Report {
                pid: 0,
                error: Some(e.to_string()),
            },
        );
        engine.release_runtime(&l.id);
        return 1;
    }
    let pidfd = oci_runtime::sys::pidfd_open(pid).ok();
    report(&sync, &Report { pid, error: None });
    drop(sync);

    let code = relay(engine, l, pid, pidfd, out_r, err_r, attach.as_ref());
    drop(held_ports); // free before the state says exited (a restart binds them again)
    finish(engine, l, code, attach)
}

/// Logs and relays output until the init exits and the pipes drain;
/// returns the exit code.
fn relay(
    engine: &Engine,
    l: &Launch,
    pid: i32,
    pidfd: Option<OwnedFd>,
    out_r: OwnedFd,
    err_r: OwnedFd,
    attach: Option<&OwnedFd>,
) -> i32 {
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(engine.log_path(&l.id))
        .ok();
    let mut loggers = [
        crate::logs::StreamLogger::new("stdout"),
        crate::logs::StreamLogger::new("stderr"),
    ];
    let pipes = [out_r, err_r];
    let mut open = [true, true];
    let mut attach_ok = attach.is_some();
    let mut exit: Option<i32> = None;
    let mut deadline: Option<Instant> = None;
    let mut buf = vec![0u8; 32 * 1024];
    let mut sink = Vec::new();
    loop {
        let mut fds = Vec::new();
        let mut which = Vec::new();
        for (i, p) in pipes.iter().enumerate() {
            if open[i] {
                fds.push(p.as_raw_fd());
                which.push(i as i32);
            }
        }
        if exit.is_none() {
            if let Some(pf) = &pidfd {
                fds.push(pf.as_raw_fd());
                which.push(-1);
            }
        }
        let timeout = match deadline {
            Some(d) => d.saturating_duration_since(Instant::now()).as_millis() as i32,
            None => 1000,
        };
        let rev = oci_runtime::sys::poll_many(&fds, timeout).unwrap_or_else(|_| vec![0; fds.len()]);
        for (k, r) in rev.iter().enumerate() {
            if *r == 0 {
                continue;
            }
            let w = which[k];
            if w < 0 {
                continue;
            }
            let i = w as usize;
            match nix::unistd::read(&pipes[i], &mut buf) {
                Ok(0) | Err(_) => {
                    open[i] = false;
                    sink.clear();
                    loggers[i].flush(&mut sink);
                    if let Some(f) = log.as_mut() {
                        let _ = f.write_all(&sink);
                    }
                }
                Ok(n) => {
                    sink.clear();
                    loggers[i].feed(&buf[..n], &mut sink);
                    if let Some(f) = log.as_mut() {
                        let _ = f.write_all(&sink);
                    }
                    if attach_ok {
                        let s = if i == 0 { STREAM_STDOUT } else { STREAM_STDERR };
                        if let Some(a) = attach {
                            if sys::send_all(a.as_raw_fd(), &frame(s, &buf[..n])).is_err() {
                                attach_ok = false;
                            }
                        }
                    }
                }
            }
        }
        // Reap: the init, and orphans re-parented to us (subreaper).
        while let Ok(Some((p, status))) = sys::waitpid(-1, true) {
            if p == pid {
                exit = Some(sys::exit_code(status));
            }
        }
        if exit.is_none() && pidfd.is_none() && oci_runtime::sys::kill(pid, 0).is_err() {
            // Not our child (external runtime not re-parented): no status.
            exit = Some(255);
        }
        if exit.is_some() && deadline.is_none() {
            // Whatever still holds the pipes gets a moment to finish.
            deadline = Some(Instant::now() + Duration::from_secs(2));
        }
        if exit.is_some() && (!open[0] && !open[1] || deadline.is_some_and(|d| Instant::now() >= d))
        {
            break;
        }
    }
    exit.unwrap_or(255)
}

fn oom_killed(id: &str) -> bool {
    let files = [
        format!("/sys/fs/cgroup/memory/berth/{id}/memory.oom_control"),
        format!("/sys/fs/cgroup/berth/{id}/memory.events"),
    ];
    files.iter().any(|f| {
        std::fs::read_to_string(f)
            .map(|s| {
                s.lines().any(|l| {
                    l.strip_prefix("oom_kill ")
                        .and_then(|n| n.trim().parse::<u64>().ok())
                        .is_some_and(|n| n > 0)
                })
            })
            .unwrap_or(false)
    })
}

fn finish(engine: &Engine, l: &Launch, code: i32, attach: Option<OwnedFd>) -> i32 {
    let oom = oom_killed(&l.id);
    if let Ok(_lock) = engine.lock_container(&l.id) {
        // Cgroup and mounts go first: once state.json says exited, they are gone.
        engine.release_runtime(&l.id);
        let mut st = engine.load_state_raw(&l.id).unwrap_or_default();
        st.status = Status::Exited;
        st.exit_code = code;
        st.oom_killed = oom;
        st.pid = 0;
        st.monitor_pid = 0;
        st.finished_at = crate::timeutil::now();
        let _ = engine.save_state(&l.id, &st);
    }
    if l.auto_remove {
        let _ = engine.remove_auto(&l.id);
    }
    if let Some(a) = &attach {
        let _ = sys::send_all(a.as_raw_fd(), &frame(STREAM_EXIT, &code.to_be_bytes()));
    }
    0
}

/// An attached `run`/`start -a`: the container's output as it comes, then
/// its exit code.
pub struct Attached {
    pub(crate) engine: Engine,
    pub(crate) id: String,
    pub(crate) sock: UnixStream,
}

impl Attached {
    /// The container's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Copies the container's stdout and stderr to `out` and `err` until it
    /// exits; returns its exit code.
    pub fn wait(mut self, out: &mut dyn Write, err: &mut dyn Write) -> Result<i32> {
        let mut hdr = [0u8; 8];
        loop {
            if self.sock.read_exact(&mut hdr).is_err() {
                break;
            }
            let len = u32::from_be_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]) as usize;
            let mut data = vec![0u8; len];
            if self.sock.read_exact(&mut data).is_err() {
                break;
            }
            match hdr[0] {
                STREAM_STDOUT => {
                    let _ = out.write_all(&data);
                    let _ = out.flush();
                }
                STREAM_STDERR => {
                    let _ = err.write_all(&data);
                    let _ = err.flush();
                }
                STREAM_EXIT if len == 4 => {
                    return Ok(i32::from_be_bytes([data[0], data[1], data[2], data[3]]));
                }
                _ => {}
            }
        }
        // The monitor went away without an exit frame.
        let st = self.engine.state(&self.id)?;
        if st.running() {
            return Err(Error::msg(format!(
                "lost the connection to container {}",
                crate::fsutil::short_id(&self.id)
            )));
        }
        Ok(st.exit_code)
    }
}

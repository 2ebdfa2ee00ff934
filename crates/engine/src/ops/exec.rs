//! `exec`: docker's exec model. [`Engine::exec_create`] records an exec
//! instance under the container (`execs/<id>.json`, docker's exec inspect
//! shape), [`Engine::exec_start`] runs it and gives an [`ExecStream`]
//! (stdin, output, resize, exit code), [`Engine::exec_inspect`] and
//! [`Engine::exec_resize`] work by id from any process. The process is
//! started and waited for by the exec helper ([`crate::runtime::helper`]),
//! which records its pid (before the caller hears of it) and exit code;
//! records go with the container, and ended ones after [`EXEC_KEEP`].
//!
//! Each record changes under its exec's lock (`execs/<id>.lock`), by a
//! read-modify-write replacing the file atomically: two starts of one exec
//! never both run it (the second gets docker's conflict), and a reader
//! never sees a record half-written.

use crate::container::Status;
use crate::error::{Error, Result};
use crate::runtime::{self, helper, ExecStdio};
use crate::stream::{poll_in, Chunk, OutputStream, Resizer, StdinWriter, StreamKind};
use crate::user::LayerView;
use crate::{fsutil, spec, sys, Engine};
use berth_util::fs::{AtomicWrite, Durability};
use berth_util::lock::FileLock;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long an ended exec's record is kept for `exec_inspect` (docker
/// keeps ended execs until its periodic clean-up, every 5 minutes).
pub const EXEC_KEEP: Duration = Duration::from_secs(5 * 60);

/// Docker's `ExecConfig` (the body of `POST /containers/{id}/exec`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecConfig {
    /// The user (`-u`; empty: the container's).
    pub user: String,
    pub privileged: bool,
    pub tty: bool,
    /// The pty's initial size, [rows, cols] (docker's [height, width]).
    pub console_size: Option<[u16; 2]>,
    pub attach_stdin: bool,
    pub attach_stderr: bool,
    pub attach_stdout: bool,
    /// Deprecated in docker's API: `exec_start`'s `detach` decides.
    pub detach: bool,
    /// Overrides the detach keys (docker's `--detach-keys` syntax).
    pub detach_keys: String,
    /// Added to (or replacing in) the container's environment.
    pub env: Vec<String>,
    /// The working directory (empty: the container's).
    pub working_dir: String,
    pub cmd: Vec<String>,
}

/// The one-shot [`Engine::exec`]'s options are an [`ExecConfig`].
pub type ExecOptions = ExecConfig;

/// Docker's exec inspect `ProcessConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessConfig {
    pub privileged: bool,
    pub user: String,
    pub tty: bool,
    pub entrypoint: String,
    pub arguments: Vec<String>,
}

/// Docker's exec inspect result (`GET /exec/{id}/json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecInspect {
    #[serde(rename = "ID")]
    pub id: String,
    pub running: bool,
    /// `null` until the process has exited.
    pub exit_code: Option<i32>,
    pub process_config: ProcessConfig,
    pub open_stdin: bool,
    pub open_stderr: bool,
    pub open_stdout: bool,
    pub can_remove: bool,
    #[serde(rename = "ContainerID")]
    pub container_id: String,
    /// The detach keys as bytes, base64 as Go's []byte.
    pub detach_keys: String,
    pub pid: i32,
}

/// The stored record: the inspect view and the config to start.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ExecRecord {
    #[serde(flatten)]
    inspect: ExecInspect,
    #[serde(rename = "Config")]
    config: ExecConfig,
    /// Started once (an exec runs at most once).
    #[serde(rename = "Started", default)]
    started: bool,
}

/// `exec_start`'s options (docker's `ExecStartCheck`).
#[derive(Debug, Clone, Default)]
pub struct ExecStartOptions {
    /// Return once the process runs; its output is dropped.
    pub detach: bool,
    /// The pty's size, [rows, cols] (default: the config's).
    pub console_size: Option<[u16; 2]>,
}

/// Where an exec'd process's stdio goes.
#[derive(Debug, Default)]
pub enum ExecIo {
    /// Pipes (or the pty) held by the [`ExecStream`]: stdin writer,
    /// output chunks. Streams not attached are /dev/null.
    #[default]
    Streams,
    /// The caller's descriptors, used by the process directly (no
    /// copying; not with a tty).
    Fds(ExecStdio),
}

fn records_dir(e: &Engine, cid: &str) -> PathBuf {
    e.container_dir(cid).join("execs")
}

fn valid_exec_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Engine {
    /// docker's `exec create`: checks the container runs and records the
    /// exec; its id.
    pub fn exec_create(&self, container: &str, cfg: &ExecConfig) -> Result<String> {
        self.create_exec(container, cfg, false).map(|(id, _, _)| id)
    }

    /// exec_create; (exec id, container id, record path). `starting`: the
    /// record is written as started at once (the one-shot [`Engine::exec`]:
    /// one write fewer).
    fn create_exec(
        &self,
        container: &str,
        cfg: &ExecConfig,
        starting: bool,
    ) -> Result<(String, String, PathBuf)> {
        if cfg.cmd.is_empty() {
            return Err(Error::invalid("exec: no command specified"));
        }
        let keys = crate::stream::parse_detach_keys(Some(&cfg.detach_keys))?;
        let cid = self.lookup(container)?;
        self.check_exec_runnable(&cid)?;
        let dir = records_dir(self, &cid);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => gc_records(&dir),
            Err(e) => return Err(Error::io(format!("cannot create {}", dir.display()), e)),
        }
        let id = fsutil::random_id()?;
        let rec = ExecRecord {
            inspect: ExecInspect {
                id: id.clone(),
                running: false,
                exit_code: None,
                process_config: ProcessConfig {
                    privileged: cfg.privileged,
                    user: cfg.user.clone(),
                    tty: cfg.tty,
                    entrypoint: cfg.cmd[0].clone(),
                    arguments: cfg.cmd[1..].to_vec(),
                },
                open_stdin: cfg.attach_stdin,
                open_stderr: cfg.attach_stderr,
                open_stdout: cfg.attach_stdout,
                can_remove: false,
                container_id: cid.clone(),
                detach_keys: if cfg.detach_keys.is_empty() {
                    String::new()
                } else {
                    base64_of(&keys)
                },
                pid: 0,
            },
            config: cfg.clone(),
            started: false,
        };
        let mut rec = rec;
        if starting {
            rec.started = true;
            rec.inspect.running = true;
        }
        let path = dir.join(format!("{id}.json"));
        new_record(&path, &rec)?;
        // docker's exec_create event (the command in the action).
        self.log_container_id(
            &cid,
            &format!("exec_create: {}", cfg.cmd.join(" ")),
            &[("execID", &id)],
        );
        Ok((id, cid, path))
    }

    fn check_exec_runnable(&self, cid: &str) -> Result<()> {
        let st = self.state(cid)?;
        match st.status {
            Status::Running => Ok(()),
            Status::Paused => Err(Error::Conflict(format!(
                "container {cid} is paused, unpause the container before exec"
            ))),
            _ => Err(Error::Conflict(format!("container {cid} is not running"))),
        }
    }

    /// The container and path of exec `id`'s record.
    fn find_exec(&self, id: &str) -> Result<(String, PathBuf)> {
        if valid_exec_id(id) {
            let containers = self.root().join("containers");
            if let Ok(rd) = std::fs::read_dir(&containers) {
                for ent in rd.flatten() {
                    // Containers only: not the trash of one being removed.
                    if !crate::store::is_full_id(&ent.file_name().to_string_lossy()) {
                        continue;
                    }
                    let p = ent.path().join("execs").join(format!("{id}.json"));
                    if p.is_file() {
                        return Ok((ent.file_name().to_string_lossy().into_owned(), p));
                    }
                }
            }
        }
        Err(Error::NoSuchExec(id.to_string()))
    }

    /// docker's `exec inspect`.
    pub fn exec_inspect(&self, id: &str) -> Result<ExecInspect> {
        let (cid, path) = self.find_exec(id)?;
        let rec = read_record(&path)?;
        let mut i = rec.inspect;
        if i.running && !self.exec_alive(&cid, i.pid) {
            // Its helper was killed: it will not record the exit.
            i.running = false;
        }
        Ok(i)
    }

    fn exec_alive(&self, cid: &str, pid: i32) -> bool {
        self.state(cid).is_ok_and(|s| s.running())
            && pid > 0
            && std::path::Path::new(&format!("/proc/{pid}")).exists()
    }

    /// The ids of the container's running execs (inspect's `ExecIDs`).
    pub fn exec_ids(&self, container_id: &str) -> Vec<String> {
        let mut out = Vec::new();
        let Ok(rd) = std::fs::read_dir(records_dir(self, container_id)) else {
            return out;
        };
        for ent in rd.flatten() {
            let name = ent.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".json") || name.starts_with('.') {
                continue;
            }
            if let Ok(rec) = read_record(&ent.path()) {
                let i = rec.inspect;
                if i.running && self.exec_alive(container_id, i.pid) {
                    out.push(i.id);
                }
            }
        }
        out.sort();
        out
    }

    /// docker's exec resize: the size of a running tty exec's pty.
    pub fn exec_resize(&self, id: &str, rows: u16, cols: u16) -> Result<()> {
        let i = self.exec_inspect(id)?;
        if !i.running {
            return Err(Error::Conflict(format!("exec {id} is not running")));
        }
        if !i.process_config.tty {
            return Err(Error::Conflict(format!("exec {id} has no tty")));
        }
        // The process's terminal, through its descriptors.
        for fd in 0..3 {
            let p = format!("/proc/{}/fd/{fd}", i.pid);
            // The container's process chose what its descriptors are: not
            // blocked on a FIFO's open, and only a pty (Unix98 majors
            // 136-143) is resized.
            let Ok(f) = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
                .open(&p)
            else {
                continue;
            };
            let is_pty = f.metadata().is_ok_and(|m| {
                use std::os::unix::fs::{FileTypeExt, MetadataExt};
                m.file_type().is_char_device()
                    && (136..=143).contains(&nix::sys::stat::major(m.rdev()))
            });
            if !is_pty {
                continue;
            }
            if sys::set_winsize(f.as_raw_fd(), rows, cols).is_ok() {
                return Ok(());
            }
        }
        Err(Error::msg(format!("exec {id}: cannot find its terminal")))
    }

    /// docker's `exec start`: runs the exec once. With `detach` it returns
    /// once the process runs (the stream gives only the exit code).
    pub fn exec_start(&self, id: &str, opts: &ExecStartOptions, io: ExecIo) -> Result<ExecStream> {
        let (cid, path) = self.find_exec(id)?;
        self.start_exec(id, &cid, &path, opts, io, true)
    }

    fn start_exec(
        &self,
        id: &str,
        cid: &str,
        path: &std::path::Path,
        opts: &ExecStartOptions,
        io: ExecIo,
        check: bool,
    ) -> Result<ExecStream> {
        let cid = cid.to_string();
        let path = path.to_path_buf();
        // Checked and marked started at once: one start of an exec runs it.
        let lock = lock_record(&path)?;
        let mut rec = read_record(&path)?;
        if rec.started && check {
            return Err(Error::Conflict(if rec.inspect.running {
                format!("Error: Exec command {id} is already running")
            } else {
                format!("Error: Exec command {id} has already run")
            }));
        }
        if check {
            self.check_exec_runnable(&cid)?;
        }
        let cfg = rec.config.clone();
        let tty = cfg.tty && !opts.detach;
        if tty && matches!(io, ExecIo::Fds(_)) {
            return Err(Error::invalid(
                "exec: a tty process's input and output are its pty: start it with streams",
            ));
        }
        let size = opts.console_size.or(cfg.console_size);
        let c = self.load_config(&cid)?;
        let process = self.exec_process(&c, &cfg, tty, size)?;
        let cmd = cfg.cmd.join(" ");
        self.log_container(&c, &format!("exec_start: {cmd}"), &[("execID", id)]);
        if !rec.started {
            rec.started = true;
            rec.inspect.running = true;
            write_record(&path, &rec)?;
        }
        drop(lock);
        // The process's ends of the pipes, and ours.
        let mut stdin_w = None;
        let mut out_r = None;
        let mut err_r = None;
        let stdio = match io {
            ExecIo::Fds(s) => s,
            ExecIo::Streams if tty || opts.detach => ExecStdio::default(),
            ExecIo::Streams => {
                let mut s = ExecStdio::default();
                if cfg.attach_stdin {
                    let (r, w) = sys::pipe().map_err(|e| Error::io("pipe", e))?;
                    s.stdin = Some(r);
                    stdin_w = Some(w);
                }
                if cfg.attach_stdout {
                    let (r, w) = sys::pipe().map_err(|e| Error::io("pipe", e))?;
                    s.stdout = Some(w);
                    out_r = Some(r);
                }
                if cfg.attach_stderr {
                    let (r, w) = sys::pipe().map_err(|e| Error::io("pipe", e))?;
                    s.stderr = Some(w);
                    err_r = Some(r);
                }
                s
            }
        };
        let rt = runtime::for_container(self, &cid);
        let log = records_dir(self, &cid).join(format!("{id}.runtime.log"));
        let rec = ExecRecorder {
            engine: self.clone(),
            container: c,
            exec_id: id.to_string(),
            path: path.clone(),
        };
        let started = helper::start(
            self,
            rt.as_ref(),
            &helper::Job {
                cid: &cid,
                exec_id: id,
                process: &process,
                log: &log,
            },
            stdio,
            &rec,
        );
        let mut started = match started {
            Ok(s) => s,
            Err(err) => {
                let _ = update_record(&path, |r| {
                    r.inspect.running = false;
                });
                return Err(err);
            }
        };
        // The process runs: a failure from here on kills it, and its exit
        // is recorded (by its helper, else here).
        let ends = (|| -> Result<_> {
            let keys = if tty {
                crate::stream::parse_detach_keys(Some(&cfg.detach_keys))?
            } else {
                Vec::new()
            };
            let mut master = None;
            if let Some(m) = started.master.take() {
                let m = Arc::new(m);
                if cfg.attach_stdin {
                    let w = m.try_clone().map_err(|e| Error::io("pty", e))?;
                    stdin_w = Some(w);
                }
                if cfg.attach_stdout || cfg.attach_stderr {
                    out_r = Some(m.try_clone().map_err(|e| Error::io("pty", e))?);
                }
                master = Some(m);
            }
            Ok((keys, master))
        })();
        let (keys, master) = match ends {
            Ok(x) => x,
            Err(err) => {
                if helper::abort(started.pid, &mut started.report).is_none() {
                    let _ = update_record(&path, |r| {
                        r.inspect.running = false;
                        r.inspect.exit_code = Some(128 + libc::SIGKILL);
                    });
                }
                return Err(err);
            }
        };
        Ok(ExecStream {
            id: id.to_string(),
            tty,
            stdin: stdin_w.map(|w| StdinWriter::fd(w, keys)),
            out: out_r,
            err: err_r,
            master,
            report: started.report,
            pid: started.pid,
            code: None,
            ended: false,
        })
    }

    /// The OCI process of an exec, with docker's defaults (the container's
    /// env, user and working directory).
    fn exec_process(
        &self,
        c: &crate::Container,
        cfg: &ExecConfig,
        tty: bool,
        size: Option<[u16; 2]>,
    ) -> Result<oci_spec::runtime::Process> {
        let cid = c.id.as_str();
        let spec: Value = fsutil::read_json(&self.container_dir(cid).join("bundle/config.json"))?;
        let mut p = spec["process"].clone();
        p["args"] = json!(cfg.cmd);
        p["terminal"] = json!(tty);
        p.as_object_mut().map(|o| o.remove("consoleSize"));
        if let (true, Some([rows, cols])) = (tty, size) {
            // The runtime sizes the pty before the process runs.
            p["consoleSize"] = json!({"height": rows, "width": cols});
        }
        let env = crate::options::parse_env(&cfg.env)?;
        let base: Vec<String> = c.process_env.clone();
        p["env"] = json!(spec::replace_or_append_env(&base, &env));
        if !cfg.user.is_empty() {
            let view = LayerView {
                lowers: vec![self.rootfs_path(cid)],
            };
            let eu = crate::user::resolve(&cfg.user, &[], &view)?;
            p["user"] = json!({"uid": eu.uid, "gid": eu.gid});
            if !eu.additional_gids.is_empty() {
                p["user"]["additionalGids"] = json!(eu.additional_gids);
            }
        }
        let w = &cfg.working_dir;
        if !w.is_empty() {
            if !w.starts_with('/') {
                return Err(Error::flag(
                    "--workdir",
                    w,
                    "the working directory needs to be an absolute path",
                ));
            }
            p["cwd"] = json!(w);
        }
        if cfg.privileged {
            let all = crate::caps::host_all();
            p["capabilities"] = json!({"bounding": all, "effective": all, "permitted": all});
        }
        serde_json::from_value(p).map_err(|e| Error::msg(format!("exec process: {e}")))
    }

    /// `exec` in one call: create, start with the caller's descriptors
    /// (`None`: /dev/null), wait; the exit code (0 with `detach` once it
    /// runs).
    pub fn exec(&self, container: &str, opts: &ExecOptions, stdio: ExecStdio) -> Result<i32> {
        let (id, cid, path) = self.create_exec(container, opts, true)?;
        let s = self.start_exec(
            &id,
            &cid,
            &path,
            &ExecStartOptions {
                detach: opts.detach,
                console_size: None,
            },
            ExecIo::Fds(stdio),
            false,
        )?;
        if opts.detach {
            return Ok(0);
        }
        s.wait()
    }
}

/// Records what the exec helper sees, in the helper's process.
struct ExecRecorder {
    engine: Engine,
    container: crate::Container,
    exec_id: String,
    path: PathBuf,
}

impl helper::Recorder for ExecRecorder {
    fn running(&self, pid: i32) -> Result<()> {
        update_record(&self.path, |r| {
            if r.inspect.exit_code.is_none() {
                r.inspect.pid = pid;
            }
        })
    }

    fn exited(&self, code: i32) {
        // docker's exec_die, written by the helper that saw the exit.
        self.engine.log_container(
            &self.container,
            "exec_die",
            &[("execID", &self.exec_id), ("exitCode", &code.to_string())],
        );
        let _ = update_record(&self.path, |r| {
            r.inspect.running = false;
            r.inspect.exit_code = Some(code);
        });
    }
}

/// `internal exec-helper --report-fd N CID EXEC` (see
/// [`crate::runtime::helper`]), running from a sealed copy: reads the
/// process from the report socket and serves it; the exit status.
pub(crate) fn exec_helper_main(e: &Engine, cid: &str, exec_id: &str, report: OwnedFd) -> i32 {
    let process = match helper::read_process(&report) {
        Ok(p) => p,
        Err(err) => return helper::report_err(&report, &format!("exec helper: {err}")),
    };
    if !valid_exec_id(exec_id) || !crate::store::is_full_id(cid) {
        return helper::report_err(&report, &format!("exec helper: bad exec {cid}/{exec_id}"));
    }
    let c = match e.load_config(cid) {
        Ok(c) => c,
        Err(err) => return helper::report_err(&report, &err.to_string()),
    };
    let dir = records_dir(e, cid);
    let path = dir.join(format!("{exec_id}.json"));
    let log = dir.join(format!("{exec_id}.runtime.log"));
    let rt = runtime::of(c.options.runtime.as_deref());
    let rec = ExecRecorder {
        engine: e.clone(),
        container: c,
        exec_id: exec_id.to_string(),
        path,
    };
    let job = helper::Job {
        cid,
        exec_id,
        process: &process,
        log: &log,
    };
    helper::fork_and_serve(e, rt.as_ref(), &job, &report, &rec)
}

// Records are replaced whole (temp file, rename; berth_util's AtomicWrite)
// under the exec's lock: a reader sees the old record or the new one.
// Nothing is fsynced: an exec does not outlive a reboot.

fn record_json(rec: &ExecRecord) -> Result<Vec<u8>> {
    serde_json::to_vec(rec).map_err(|e| Error::msg(format!("exec record: {e}")))
}

/// The exec's lock, `<id>.lock` next to its record `<id>.json`.
fn lock_path(record: &Path) -> PathBuf {
    record.with_extension("lock")
}

fn lock_record(path: &Path) -> Result<FileLock> {
    Ok(FileLock::exclusive(&lock_path(path))?)
}

/// Writes a record whole (a new one, or in place of the old under the
/// exec's lock).
fn write_record(path: &Path, rec: &ExecRecord) -> Result<()> {
    let data = record_json(rec)?;
    Ok(AtomicWrite::new(Durability::Atomic).write(path, &data)?)
}

fn new_record(path: &Path, rec: &ExecRecord) -> Result<()> {
    // A fresh random id: no one else knows it yet, no lock to take.
    write_record(path, rec)
}

fn read_record(path: &Path) -> Result<ExecRecord> {
    fsutil::read_json::<ExecRecord>(path)
}

/// Read-modify-write under the exec's lock.
fn update_record(path: &Path, f: impl FnOnce(&mut ExecRecord)) -> Result<()> {
    let _l = lock_record(path)?;
    let mut r = read_record(path)?;
    f(&mut r);
    write_record(path, &r)
}

/// Removes the records of execs ended more than [`EXEC_KEEP`] ago.
fn gc_records(dir: &std::path::Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for ent in rd.flatten() {
        let p = ent.path();
        // A lock goes with its record.
        if p.extension().is_some_and(|x| x == "lock") {
            continue;
        }
        let old = ent
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > EXEC_KEEP);
        if !old {
            continue;
        }
        // Ended, or stuck "running" with no process (its start failed or
        // its helper was killed before recording the exit); anything else
        // (a killed writer's temp file) too.
        let ended = read_record(&p)
            .map(|r| {
                let i = r.inspect;
                !i.running || i.pid <= 0 || !Path::new(&format!("/proc/{}", i.pid)).exists()
            })
            .unwrap_or(true);
        if ended {
            let _ = std::fs::remove_file(&p);
            if p.extension().is_some_and(|x| x == "json") {
                let _ = std::fs::remove_file(lock_path(&p));
            }
        }
    }
}

fn base64_of(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A started exec: its stdin, output and exit code.
pub struct ExecStream {
    id: String,
    tty: bool,
    stdin: Option<StdinWriter>,
    /// stdout's pipe, or the pty master.
    out: Option<OwnedFd>,
    err: Option<OwnedFd>,
    master: Option<Arc<OwnedFd>>,
    report: helper::Report,
    pid: i32,
    /// The exit code, once the helper reported it (-1: it went away).
    code: Option<i32>,
    ended: bool,
}

impl ExecStream {
    /// The exec's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The process's host pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The process's stdin (with `AttachStdin`), once.
    pub fn take_stdin(&mut self) -> Option<StdinWriter> {
        self.stdin.take()
    }

    /// stdout's reader (the pty's output with a tty), for a caller that
    /// reads the streams itself rather than through [`OutputStream`].
    pub fn take_stdout(&mut self) -> Option<std::fs::File> {
        self.out.take().map(std::fs::File::from)
    }

    /// stderr's reader (none with a tty).
    pub fn take_stderr(&mut self) -> Option<std::fs::File> {
        self.err.take().map(std::fs::File::from)
    }

    /// Resizes the pty (no-op without a tty).
    pub fn resizer(&self) -> Resizer {
        match &self.master {
            Some(m) => Resizer::master(m.clone()),
            None => Resizer::none(),
        }
    }

    pub fn resize(&self, rows: u16, cols: u16) -> Result<()> {
        self.resizer().resize(rows, cols)
    }

    /// Drops the output not read yet and returns the exit code.
    pub fn wait(mut self) -> Result<i32> {
        let mut buf = vec![0u8; 16 * 1024];
        while !matches!(
            self.next_chunk(&mut buf)
                .map_err(|e| Error::io("exec", e))?,
            Chunk::End
        ) {}
        match self.code {
            Some(c) if c >= 0 => Ok(c),
            _ => Err(Error::msg(format!(
                "exec {}: the exec helper went away",
                fsutil::short_id(&self.id)
            ))),
        }
    }

    /// Reads one output descriptor: `Some(n)`, or `None` at its end.
    fn read_one(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<Option<usize>> {
        loop {
            match nix::unistd::read(fd, buf) {
                Ok(0) => return Ok(None),
                Ok(n) => return Ok(Some(n)),
                Err(nix::errno::Errno::EINTR) => {}
                Err(nix::errno::Errno::EAGAIN) => return Ok(Some(0)),
                // EIO: the pty's last slave descriptor closed.
                Err(nix::errno::Errno::EIO) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl OutputStream for ExecStream {
    fn tty(&self) -> bool {
        self.tty
    }

    fn next_chunk_until(&mut self, buf: &mut [u8], deadline: Option<Instant>) -> io::Result<Chunk> {
        loop {
            if self.ended {
                return Ok(Chunk::End);
            }
            let exited = self.code.is_some();
            // After the exit: what is left in the pipes now, not what
            // processes it left behind may write later.
            let dl = if exited {
                Some(Instant::now())
            } else {
                deadline
            };
            let mut fds = Vec::with_capacity(3);
            if let Some(f) = &self.out {
                fds.push(f.as_fd());
            }
            if let Some(f) = &self.err {
                fds.push(f.as_fd());
            }
            if !exited {
                fds.push(self.report.as_fd());
            }
            let ready = poll_in(&fds, dl)?;
            drop(fds);
            let mut i = 0;
            let mut any = false;
            for kind in [StreamKind::Stdout, StreamKind::Stderr] {
                let slot = match kind {
                    StreamKind::Stdout => &mut self.out,
                    StreamKind::Stderr => &mut self.err,
                };
                let Some(fd) = slot.as_ref() else {
                    continue;
                };
                let r = ready[i];
                i += 1;
                if !r {
                    continue;
                }
                any = true;
                match Self::read_one(fd, buf)? {
                    Some(0) => {}
                    Some(n) => return Ok(Chunk::Data(kind, n)),
                    None => *slot = None,
                }
            }
            if !exited {
                if ready[i] {
                    self.code = Some(self.report.exit_code().unwrap_or(-1));
                    continue;
                }
            } else if !any {
                self.out = None;
                self.err = None;
                self.ended = true;
                return Ok(Chunk::End);
            }
            if !ready.iter().any(|r| *r) {
                return Ok(Chunk::TimedOut);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gc_removes_old_ended_and_stuck_records_only() {
        let d = tempfile::tempdir().unwrap();
        let write = |name: &str, running: bool, pid: i32, old: bool| {
            let rec = ExecRecord {
                inspect: ExecInspect {
                    id: name.into(),
                    running,
                    pid,
                    ..Default::default()
                },
                config: ExecConfig::default(),
                started: true,
            };
            let p = d.path().join(format!("{name}.json"));
            std::fs::write(&p, serde_json::to_vec(&rec).unwrap()).unwrap();
            let age = if old { EXEC_KEEP * 2 } else { Duration::ZERO };
            let f = std::fs::File::options().write(true).open(&p).unwrap();
            f.set_modified(std::time::SystemTime::now() - age).unwrap();
        };
        let me = std::process::id() as i32;
        write("ended", false, 0, true);
        write("stuck", true, 0, true);
        write("gone", true, i32::MAX, true);
        write("alive", true, me, true);
        write("recent", true, 0, false);
        gc_records(d.path());
        let left = |n: &str| d.path().join(format!("{n}.json")).exists();
        assert!(!left("ended") && !left("stuck") && !left("gone"));
        assert!(left("alive") && left("recent"));
    }

    #[test]
    fn records_are_never_seen_torn() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.json");
        let rec = |n: usize| ExecRecord {
            inspect: ExecInspect::default(),
            config: ExecConfig {
                cmd: vec!["y".repeat(n)],
                ..Default::default()
            },
            started: false,
        };
        new_record(&p, &rec(1)).unwrap();
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            let reader = s.spawn(|| {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    read_record(&p).unwrap();
                    n += 1;
                }
                n
            });
            for i in 0..400 {
                // Long, then short: an in-place rewrite would be seen torn.
                let len = if i % 2 == 0 { 20_000 } else { 3 };
                update_record(&p, |r| r.config.cmd = vec!["z".repeat(len)]).unwrap();
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            assert!(reader.join().unwrap() > 0);
        });
        // Only the record and its lock are left.
        let mut names: Vec<String> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["x.json", "x.lock"]);
    }

    #[test]
    fn inspect_shape_is_dockers() {
        let i = ExecInspect {
            id: "x".into(),
            exit_code: None,
            ..Default::default()
        };
        let v = serde_json::to_value(&i).unwrap();
        for k in [
            "ID",
            "Running",
            "ExitCode",
            "ProcessConfig",
            "OpenStdin",
            "OpenStderr",
            "OpenStdout",
            "CanRemove",
            "ContainerID",
            "DetachKeys",
            "Pid",
        ] {
            assert!(v.get(k).is_some(), "{k} missing: {v}");
        }
        assert!(v["ExitCode"].is_null());
        assert_eq!(
            v["ProcessConfig"],
            json!({"privileged": false, "user": "", "tty": false, "entrypoint": "", "arguments": []})
        );
        assert_eq!(base64_of(&[0x10, 0x11]), "EBE=");
    }

    #[test]
    fn config_reads_dockers_json() {
        let c: ExecConfig = serde_json::from_str(
            r#"{"AttachStdin":true,"AttachStdout":true,"Tty":true,"Cmd":["sh"],"ConsoleSize":[24,80],"WorkingDir":"/tmp"}"#,
        )
        .unwrap();
        assert!(c.attach_stdin && c.attach_stdout && !c.attach_stderr && c.tty);
        assert_eq!(c.console_size, Some([24, 80]));
        assert_eq!(c.working_dir, "/tmp");
    }
}

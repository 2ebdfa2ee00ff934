//! Starting the per-container monitor (`berth-monitor`, crates/monitor,
//! conmon's design) and talking to it.
//!
//! `spawn` forks; the child calls `setsid` and forks again, so the monitor
//! is a daemon re-parented away from the caller, with stdio on /dev/null,
//! the start report pipe on fd 3 and an attached caller's socket on fd 4.
//! The monitor runs `berth internal create-start` (see [`crate::internal`])
//! and passes its report on: `ok PID` or `err MESSAGE`. Everything after
//! (logs, attach socket, exit, `berth internal cleanup`) is the monitor's.
//!
//! The attach protocol (`<container dir>/attach`, and the socketpair of an
//! attached `run`/`start -a`): the monitor sends docker stdcopy frames
//! (`[stream, 0, 0, 0, len u32 BE] data`; stream 1 stdout, 2 stderr; with a
//! tty everything is stream 1), and once the container is cleaned up a
//! frame of stream 0xfe carrying the exit code (i32 BE). Clients send
//! frames of kind 0 (stdin data), 1 (close stdin), 2 (resize: rows, cols
//! as u16 BE).

use crate::error::{Error, Result};
use crate::stream::{
    frame, Chunk, OutputStream, Resizer, StdinWriter, StreamKind, STREAM_EXIT, STREAM_STDERR,
    STREAM_STDOUT,
};
use crate::sys;
use crate::Engine;
use std::fs::File;
use std::io::{BufRead, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// What the monitor needs besides the id.
pub(crate) struct Launch {
    pub id: String,
    pub stdin: bool,
    pub tty: bool,
    /// `--rm`: the monitor need not fsync the exit record.
    pub volatile: bool,
    pub health_ms: u64,
    /// The start interval (0: no start period): `--health-start MS`.
    pub health_start_ms: u64,
    /// The log's flags (`--log PATH` and the driver's, see
    /// [`crate::logs::monitor_args`]).
    pub log_args: Vec<String>,
}

const SYNC_FD: i32 = 3;
const ATTACH_FD: i32 = 4;
/// The first of the held port sockets (`--held-fds N`).
const HELD_FD0: i32 = 5;

/// Forks the monitor; returns the container's init pid once it runs.
/// `attach` is the monitor's end of a socketpair for an attached caller.
pub(crate) fn spawn(engine: &Engine, launch: &Launch, attach: Option<OwnedFd>) -> Result<i32> {
    let Some(exe) = engine.monitor_exe() else {
        return Err(Error::msg(
            "berth-monitor was not found next to the berth executable (or $BERTH_MONITOR)",
        ));
    };
    let Some(helper) = engine.helper_exe() else {
        return Err(Error::msg(
            "cannot find the berth executable for the monitor",
        ));
    };
    let dir = engine.container_dir(&launch.id);
    let mut args = vec![
        "berth-monitor".to_string(),
        "--exe".into(),
        helper.to_string_lossy().into_owned(),
        "--root".into(),
        engine.root().to_string_lossy().into_owned(),
        "--run-root".into(),
        engine.run_root().to_string_lossy().into_owned(),
        "--id".into(),
        launch.id.clone(),
        "--dir".into(),
        dir.to_string_lossy().into_owned(),
    ];
    args.extend(launch.log_args.iter().cloned());
    if launch.stdin {
        args.push("--stdin".into());
    }
    if launch.tty {
        args.push("--tty".into());
    }
    if attach.is_some() {
        args.push("--attach".into());
    }
    if launch.volatile {
        args.push("--volatile".into());
    }
    if launch.health_ms > 0 {
        args.push("--health".into());
        args.push(launch.health_ms.to_string());
        if launch.health_start_ms > 0 {
            args.push("--health-start".into());
            args.push(launch.health_start_ms.to_string());
        }
    }
    // The published host ports stay bound while the container lives: the
    // monitor holds the sockets. Bound here, before the fork: the forked
    // children of a multi-threaded caller (the API service) only make
    // system calls until they exec.
    let held = crate::network::hold_ports(engine, &launch.id);
    if !held.is_empty() {
        args.push("--held-fds".into());
        args.push(held.len().to_string());
    }
    let (sync_r, sync_w) = sys::pipe().map_err(|e| Error::io("pipe", e))?;
    match sys::fork().map_err(|e| Error::io("fork", e))? {
        sys::Forked::Child => {
            let mut keep = vec![sync_w.as_raw_fd()];
            if let Some(a) = &attach {
                keep.push(a.as_raw_fd());
            }
            keep.extend(held.iter().map(|h| h.as_raw_fd()));
            sys::close_fds_except(&keep);
            let _ = sys::setsid();
            match sys::fork() {
                Ok(sys::Forked::Child) => {
                    let e = exec_monitor(exe, &args, &sync_w, attach.as_ref(), &held);
                    let _ = nix::unistd::write(
                        &sync_w,
                        format!("err cannot run the monitor {}: {e}\n", exe.display()).as_bytes(),
                    );
                    sys::exit_now(1)
                }
                _ => sys::exit_now(0),
            }
        }
        sys::Forked::Parent(pid) => {
            drop(sync_w);
            drop(attach);
            drop(held);
            let _ = sys::waitpid(pid, false);
            let mut line = String::new();
            let mut r = std::io::BufReader::new(File::from(sync_r));
            let _ = r.read_line(&mut line);
            let line = line.trim_end();
            if let Some(p) = line.strip_prefix("ok ") {
                if let Ok(pid) = p.trim().parse::<i32>() {
                    return Ok(pid);
                }
            }
            if let Some(m) = line.strip_prefix("err ") {
                return Err(crate::error::classify(m.to_string()));
            }
            Err(Error::msg(format!(
                "container {}: the monitor exited before reporting",
                crate::fsutil::short_id(&launch.id)
            )))
        }
    }
}

/// In the forked daemon: stdio on /dev/null, the sync pipe on fd 3, the
/// attach socket on fd 4, exec. Returns only on failure.
fn exec_monitor(
    exe: &Path,
    args: &[String],
    sync: &OwnedFd,
    attach: Option<&OwnedFd>,
    held: &[OwnedFd],
) -> std::io::Error {
    // Out of the way of the numbers they go to (3, 4, 5...).
    let s = match sys::dup_above(sync.as_raw_fd(), 100) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let a = match attach
        .map(|a| sys::dup_above(a.as_raw_fd(), 100))
        .transpose()
    {
        Ok(a) => a,
        Err(e) => return e,
    };
    let mut h = Vec::new();
    for fd in held {
        match sys::dup_above(fd.as_raw_fd(), 100) {
            Ok(f) => h.push(f),
            Err(e) => return e,
        }
    }
    sys::stdio_to_dev_null();
    if let Err(e) = sys::dup_to(s, SYNC_FD) {
        return e;
    }
    if let Some(a) = a {
        if let Err(e) = sys::dup_to(a, ATTACH_FD) {
            return e;
        }
    }
    for (i, fd) in h.into_iter().enumerate() {
        if let Err(e) = sys::dup_to(fd, HELD_FD0 + i as i32) {
            return e;
        }
    }
    sys::execv(exe, args)
}

/// An attachment to a container's main process through its monitor
/// (`run`, `start -a`, `attach`): output chunks as they come (and the
/// log first with `logs`), the exit code at the end; stdin and resizes go
/// the other way.
pub struct Attached {
    pub(crate) engine: Engine,
    pub(crate) id: String,
    /// The monitor's socket; `None` without `stream` (logs only).
    pub(crate) sock: Option<UnixStream>,
    pub(crate) tty: bool,
    /// Whether the caller's end of stdin ends the container's (docker's
    /// StdinOnce: run and start attach it so, attach does not).
    pub(crate) stdin_once: bool,
    /// The caller attaches stdin.
    pub(crate) stdin: bool,
    pub(crate) want: [bool; 2],
    pub(crate) detach_keys: Vec<u8>,
    /// Output to give before the live stream (`logs`).
    pub(crate) replay: std::collections::VecDeque<(StreamKind, Vec<u8>)>,
    /// The current frame: its stream and the bytes left of it.
    pub(crate) frame: (u8, usize),
    pub(crate) code: Option<i32>,
    pub(crate) ended: bool,
}

impl Attached {
    pub(crate) fn new(
        engine: &Engine,
        id: String,
        sock: Option<UnixStream>,
        tty: bool,
    ) -> Attached {
        Attached {
            engine: engine.clone(),
            id,
            sock,
            tty,
            stdin_once: true,
            stdin: true,
            want: [true, true],
            detach_keys: crate::stream::DEFAULT_DETACH_KEYS.to_vec(),
            replay: Default::default(),
            frame: (0, 0),
            code: None,
            ended: false,
        }
    }

    /// The container's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Sets the detach keys (docker's `--detach-keys` syntax; empty: the
    /// default), before [`Attached::take_stdin`].
    pub fn set_detach_keys(&mut self, spec: Option<&str>) -> Result<()> {
        self.detach_keys = crate::stream::parse_detach_keys(spec)?;
        Ok(())
    }

    /// The container's stdin, once: with a tty the detach keys detach;
    /// closing it ends the container's stdin for `run` and `start`
    /// (docker's StdinOnce), not for `attach`.
    pub fn take_stdin(&mut self) -> Option<StdinWriter> {
        if !self.stdin {
            return None;
        }
        self.stdin = false;
        let sock = self.sock.as_ref()?.try_clone().ok()?;
        let keys = if self.tty {
            self.detach_keys.clone()
        } else {
            Vec::new()
        };
        Some(StdinWriter::monitor(sock, keys, self.stdin_once))
    }

    /// Resizes the container's pty (no-op without a tty).
    pub fn resizer(&self) -> Resizer {
        match (&self.sock, self.tty) {
            (Some(s), true) => s
                .try_clone()
                .map(Resizer::monitor)
                .unwrap_or_else(|_| Resizer::none()),
            _ => Resizer::none(),
        }
    }

    pub fn resize(&self, rows: u16, cols: u16) -> Result<()> {
        self.resizer().resize(rows, cols)
    }

    /// Drops the output not read yet; the container's exit code once it
    /// has exited (with `stream`), or the recorded one.
    pub fn wait(mut self) -> Result<i32> {
        let mut buf = vec![0u8; 16 * 1024];
        while !matches!(
            self.next_chunk(&mut buf)
                .map_err(|e| Error::io("attach", e))?,
            Chunk::End
        ) {}
        if let Some(code) = self.code {
            return Ok(code);
        }
        // The monitor went away without an exit frame (or logs only).
        let st = match self.engine.state(&self.id) {
            Ok(s) => s,
            Err(Error::NoSuchContainer(_)) => return Ok(255),
            Err(e) => return Err(e),
        };
        if st.running() && self.sock.is_some() {
            return Err(Error::msg(format!(
                "lost the connection to container {}",
                crate::fsutil::short_id(&self.id)
            )));
        }
        Ok(st.exit_code)
    }

    /// Copies stdout to `out` and stderr to `err` until the container
    /// exits; its exit code.
    pub fn copy_output_and_wait(mut self, out: &mut dyn Write, err: &mut dyn Write) -> Result<i32> {
        // A reader gone away is the caller's business (it decides to exit).
        let r = OutputStream::copy_output(&mut self, out, err);
        if let Err(e) = r {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                return Err(Error::io("attach", e));
            }
        }
        self.wait()
    }
}

impl OutputStream for Attached {
    fn tty(&self) -> bool {
        self.tty
    }

    fn next_chunk_until(
        &mut self,
        buf: &mut [u8],
        deadline: Option<std::time::Instant>,
    ) -> std::io::Result<Chunk> {
        use std::os::fd::AsFd;
        loop {
            if let Some((kind, mut data)) = self.replay.pop_front() {
                let n = data.len().min(buf.len());
                buf[..n].copy_from_slice(&data[..n]);
                if n < data.len() {
                    data.drain(..n);
                    self.replay.push_front((kind, data));
                }
                return Ok(Chunk::Data(kind, n));
            }
            if self.ended {
                return Ok(Chunk::End);
            }
            let Some(sock) = self.sock.as_mut() else {
                self.ended = true;
                return Ok(Chunk::End);
            };
            let (kind, left) = self.frame;
            if left > 0 {
                let n = left.min(buf.len());
                if let Err(e) = sock.read_exact(&mut buf[..n]) {
                    if e.kind() == std::io::ErrorKind::UnexpectedEof {
                        self.ended = true;
                        continue;
                    }
                    return Err(e);
                }
                self.frame.1 -= n;
                let k = match kind {
                    STREAM_STDOUT => StreamKind::Stdout,
                    STREAM_STDERR => StreamKind::Stderr,
                    _ => continue,
                };
                if self.want[k as usize - 1] {
                    return Ok(Chunk::Data(k, n));
                }
                continue;
            }
            if deadline.is_some() && !crate::stream::poll_in(&[sock.as_fd()], deadline)?[0] {
                return Ok(Chunk::TimedOut);
            }
            let mut hdr = [0u8; 8];
            match sock.read_exact(&mut hdr) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    self.ended = true;
                    continue;
                }
                Err(e) => return Err(e),
            }
            let len = u32::from_be_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]) as usize;
            if hdr[0] == STREAM_EXIT && len == 4 {
                let mut c = [0u8; 4];
                sock.read_exact(&mut c)?;
                self.code = Some(i32::from_be_bytes(c));
                self.ended = true;
                continue;
            }
            self.frame = (hdr[0], len);
        }
    }
}

/// Copies a connection's output frames to `out` and `err` until the exit
/// frame; its code, or `None` if the monitor closed it without one.
fn read_frames(sock: &mut UnixStream, out: &mut dyn Write, err: &mut dyn Write) -> Option<i32> {
    let mut hdr = [0u8; 8];
    loop {
        sock.read_exact(&mut hdr).ok()?;
        let len = u32::from_be_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]) as usize;
        let mut data = vec![0u8; len];
        sock.read_exact(&mut data).ok()?;
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
                return Some(i32::from_be_bytes([data[0], data[1], data[2], data[3]]));
            }
            _ => {}
        }
    }
}

/// Reads (and drops) a connection's output until the exit frame; `None`
/// if the monitor closed it without one.
pub(crate) fn exit_frame(mut sock: UnixStream) -> Option<i32> {
    read_frames(&mut sock, &mut std::io::sink(), &mut std::io::sink())
}

/// Connects to a running container's attach socket.
pub(crate) fn connect(engine: &Engine, id: &str) -> Result<UnixStream> {
    let dir = File::open(engine.container_dir(id)).map_err(|e| Error::io("container dir", e))?;
    let p = format!("/proc/self/fd/{}/attach", dir.as_raw_fd());
    UnixStream::connect(&p).map_err(|e| {
        Error::msg(format!(
            "cannot attach to container {}: {e}",
            crate::fsutil::short_id(id)
        ))
    })
}

/// Sends the exit frame to the clients the monitor handed over.
pub(crate) fn notify_exit(fds: Vec<OwnedFd>, code: i32) {
    for fd in fds {
        let _ = sys::send_all(fd.as_raw_fd(), &frame(STREAM_EXIT, &code.to_be_bytes()));
    }
}

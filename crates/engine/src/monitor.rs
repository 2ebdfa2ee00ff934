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
use crate::sys;
use crate::Engine;
use std::fs::File;
use std::io::{BufRead, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

pub(crate) const STREAM_STDOUT: u8 = 1;
pub(crate) const STREAM_STDERR: u8 = 2;
/// Our frame carrying the exit code (4 bytes, big endian).
pub(crate) const STREAM_EXIT: u8 = 0xfe;

/// Client frame kinds.
pub const INPUT_STDIN: u8 = 0;
pub const INPUT_CLOSE: u8 = 1;
pub const INPUT_RESIZE: u8 = 2;

/// What the monitor needs besides the id.
pub(crate) struct Launch {
    pub id: String,
    pub stdin: bool,
    pub tty: bool,
    /// `--rm`: the monitor need not fsync the exit record.
    pub volatile: bool,
    pub health_ms: u64,
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
    }
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
                    // The published host ports stay bound while the
                    // container lives: the monitor holds the sockets.
                    let held = crate::network::hold_ports(engine, &launch.id);
                    let mut args = args;
                    if !held.is_empty() {
                        args.push("--held-fds".into());
                        args.push(held.len().to_string());
                    }
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

pub(crate) fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + data.len());
    v.extend_from_slice(&[stream, 0, 0, 0]);
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(data);
    v
}

/// A connection to a container's monitor: the output as it comes, then
/// the exit code; input and resizes go the other way.
pub struct Attached {
    pub(crate) engine: Engine,
    pub(crate) id: String,
    pub(crate) sock: UnixStream,
    pub(crate) tty: bool,
}

/// The sending half of an attachment (stdin, resizes), usable from
/// another thread.
pub struct AttachInput {
    sock: UnixStream,
}

impl AttachInput {
    pub fn send_stdin(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.sock.write_all(&frame(INPUT_STDIN, data))
    }

    /// The container's stdin reaches EOF (docker's StdinOnce).
    pub fn close_stdin(&mut self) -> std::io::Result<()> {
        self.sock.write_all(&frame(INPUT_CLOSE, &[]))
    }

    pub fn resize(&mut self, rows: u16, cols: u16) -> std::io::Result<()> {
        let mut d = rows.to_be_bytes().to_vec();
        d.extend_from_slice(&cols.to_be_bytes());
        self.sock.write_all(&frame(INPUT_RESIZE, &d))
    }
}

impl Attached {
    /// The container's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether the container has a tty (output is raw, one stream).
    pub fn tty(&self) -> bool {
        self.tty
    }

    /// A handle to send input and resizes.
    pub fn input(&self) -> Result<AttachInput> {
        Ok(AttachInput {
            sock: self
                .sock
                .try_clone()
                .map_err(|e| Error::io("attach socket", e))?,
        })
    }

    /// Copies the container's stdout and stderr to `out` and `err` until it
    /// exits; returns its exit code.
    pub fn wait(mut self, out: &mut dyn Write, err: &mut dyn Write) -> Result<i32> {
        if let Some(code) = read_frames(&mut self.sock, out, err) {
            return Ok(code);
        }
        // The monitor went away without an exit frame.
        let st = match self.engine.state(&self.id) {
            Ok(s) => s,
            Err(Error::NoSuchContainer(_)) => return Ok(255),
            Err(e) => return Err(e),
        };
        if st.running() {
            return Err(Error::msg(format!(
                "lost the connection to container {}",
                crate::fsutil::short_id(&self.id)
            )));
        }
        Ok(st.exit_code)
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

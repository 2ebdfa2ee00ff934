//! A process's streams, as a caller drives them: an exec'd process
//! ([`crate::ExecStream`]) or a container's main process through its
//! monitor ([`crate::Attached`]). A terminal in the CLI and an HTTP
//! hijacked connection are both callers: nothing here touches the calling
//! process's own stdin, stdout or terminal.
//!
//! - Input: a [`StdinWriter`]; closing it half-closes the process's stdin
//!   (docker's `StdinOnce`). With a tty it watches for the detach keys
//!   (docker's escape proxy, `ctrl-p,ctrl-q` by default).
//! - Output: [`OutputStream::next_chunk`] gives stdout and stderr as they
//!   come (one stream, stdout, with a tty), until the process ends;
//!   [`OutputStream::copy_output`] copies them to two writers and
//!   [`OutputStream::copy_multiplexed`] to one in docker's stdcopy framing
//!   (`[stream, 0, 0, 0, size u32 BE]` before each chunk), raw with a tty,
//!   as docker's attach and exec endpoints send them.
//! - A [`Resizer`] for a tty, usable from another thread (SIGWINCH).
//! - The exit code at the end.

use crate::error::{Error, Result};
use crate::sys;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;

// The monitor's attach socket protocol: frames of an 8-byte header (kind,
// three zero bytes, big-endian length) and the data; the monitor sends
// output and the exit code, clients send stdin, its end and resizes.
pub(crate) const STREAM_STDOUT: u8 = 1;
pub(crate) const STREAM_STDERR: u8 = 2;
/// Our frame carrying the exit code (4 bytes, big endian).
pub(crate) const STREAM_EXIT: u8 = 0xfe;

/// Client frame kinds.
pub const INPUT_STDIN: u8 = 0;
pub const INPUT_CLOSE: u8 = 1;
pub const INPUT_RESIZE: u8 = 2;

/// One frame of the attach protocol.
pub(crate) fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + data.len());
    v.extend_from_slice(&[stream, 0, 0, 0]);
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(data);
    v
}

/// Which output stream a chunk is from; the number is docker's stdcopy
/// stream type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Stdout = 1,
    Stderr = 2,
}

/// What [`OutputStream::next_chunk`] read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk {
    /// `n` bytes of the buffer, from that stream.
    Data(StreamKind, usize),
    /// Nothing came before the deadline ([`OutputStream::next_chunk_until`]).
    TimedOut,
    /// The process has ended and its output is drained.
    End,
}

/// Docker's stdcopy header of a chunk.
pub fn frame_header(kind: StreamKind, len: usize) -> [u8; 8] {
    let mut h = [kind as u8, 0, 0, 0, 0, 0, 0, 0];
    h[4..8].copy_from_slice(&(len as u32).to_be_bytes());
    h
}

/// Docker's default detach keys: ctrl-p ctrl-q.
pub const DEFAULT_DETACH_KEYS: [u8; 2] = [0x10, 0x11];

/// Docker's `--detach-keys` / `detachKeys` (term.ToBytes): comma-separated
/// keys, each a single character, `ctrl-@`, `ctrl-a`..`ctrl-z`, `ctrl-[`,
/// `ctrl-\`, `ctrl-]`, `ctrl-^`, `ctrl-_` or `DEL`; unset or empty:
/// ctrl-p,ctrl-q.
pub fn parse_detach_keys(spec: Option<&str>) -> Result<Vec<u8>> {
    let Some(s) = spec.filter(|s| !s.is_empty()) else {
        return Ok(DEFAULT_DETACH_KEYS.to_vec());
    };
    const CTRL: &str = "@abcdefghijklmnopqrstuvwxyz[\\]^_";
    let mut out = Vec::new();
    for key in s.split(',') {
        let code = if key.len() == 1 {
            Some(key.as_bytes()[0])
        } else if key == "DEL" {
            Some(127)
        } else {
            key.strip_prefix("ctrl-")
                .filter(|c| c.len() == 1)
                .and_then(|c| CTRL.find(c))
                .map(|i| i as u8)
        };
        match code {
            Some(c) => out.push(c),
            None => {
                return Err(Error::invalid(format!(
                    "Invalid detach keys ({s}) provided: unknown character {key:?}"
                )))
            }
        }
    }
    Ok(out)
}

/// What [`StdinWriter::send`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// The data went to the process.
    Sent,
    /// The detach keys were typed: the caller detaches, the process goes on.
    Detached,
}

enum Sink {
    /// A pipe to the process's stdin, or the pty master.
    Fd(OwnedFd),
    /// The monitor's attach socket (client frames).
    Monitor(UnixStream),
}

/// The process's stdin.
pub struct StdinWriter {
    sink: Sink,
    /// The detach sequence (with a tty; empty: none).
    keys: Vec<u8>,
    /// How much of it the input so far ends with.
    held: usize,
    /// Closing ends the process's stdin (for the monitor: docker's
    /// StdinOnce; a pipe always).
    close_ends: bool,
}

impl StdinWriter {
    pub(crate) fn fd(fd: OwnedFd, keys: Vec<u8>) -> StdinWriter {
        StdinWriter {
            sink: Sink::Fd(fd),
            keys,
            held: 0,
            close_ends: true,
        }
    }

    pub(crate) fn monitor(sock: UnixStream, keys: Vec<u8>, close_ends: bool) -> StdinWriter {
        StdinWriter {
            sink: Sink::Monitor(sock),
            keys,
            held: 0,
            close_ends,
        }
    }

    fn raw(&mut self, data: &[u8]) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        match &mut self.sink {
            Sink::Fd(fd) => sys::send_or_write_all(fd.as_raw_fd(), data),
            Sink::Monitor(s) => s.write_all(&frame(INPUT_STDIN, data)),
        }
    }

    /// Sends `data` to the process. Bytes of a partial detach sequence are
    /// held, and sent once it does not match, as docker's escape proxy does.
    pub fn send(&mut self, data: &[u8]) -> io::Result<Sent> {
        if self.keys.is_empty() {
            self.raw(data)?;
            return Ok(Sent::Sent);
        }
        let mut out = Vec::with_capacity(data.len() + self.keys.len());
        for &b in data {
            if b != self.keys[self.held] {
                out.extend_from_slice(&self.keys[..self.held]);
                self.held = 0;
            }
            if b == self.keys[self.held] {
                self.held += 1;
                if self.held == self.keys.len() {
                    self.held = 0;
                    self.raw(&out)?;
                    return Ok(Sent::Detached);
                }
                continue;
            }
            out.push(b);
        }
        self.raw(&out)?;
        Ok(Sent::Sent)
    }

    /// Whether [`StdinWriter::close`] ends the process's stdin (a pipe, or
    /// an attach with docker's StdinOnce); else the caller's end of input
    /// ends only its attach, as docker's.
    pub fn closes_stdin(&self) -> bool {
        self.close_ends
    }

    /// The caller's input has ended: the process's stdin reads end of
    /// file (for an attach without StdinOnce it stays open, as docker's);
    /// the output goes on.
    pub fn close(self) -> io::Result<()> {
        match self.sink {
            Sink::Fd(_) => Ok(()),
            Sink::Monitor(mut s) if self.close_ends => s.write_all(&frame(INPUT_CLOSE, &[])),
            Sink::Monitor(_) => Ok(()),
        }
    }
}

impl Write for StdinWriter {
    /// As [`StdinWriter::send`]; the detach keys are an error of kind
    /// `ConnectionAborted` ("detached"), see [`is_detached`].
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.send(buf)? {
            Sent::Sent => Ok(buf.len()),
            Sent::Detached => Err(io::Error::new(io::ErrorKind::ConnectionAborted, "detached")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Sets a tty process's window size; cloneable, for a SIGWINCH thread.
#[derive(Clone)]
pub struct Resizer(ResizeTo);

#[derive(Clone)]
enum ResizeTo {
    /// Not a tty: resizing does nothing.
    None,
    Master(Arc<OwnedFd>),
    Monitor(Arc<UnixStream>),
}

impl Resizer {
    pub(crate) fn none() -> Resizer {
        Resizer(ResizeTo::None)
    }

    pub(crate) fn master(m: Arc<OwnedFd>) -> Resizer {
        Resizer(ResizeTo::Master(m))
    }

    pub(crate) fn monitor(s: UnixStream) -> Resizer {
        Resizer(ResizeTo::Monitor(Arc::new(s)))
    }

    /// The pty's new size (no-op without a tty).
    pub fn resize(&self, rows: u16, cols: u16) -> Result<()> {
        match &self.0 {
            ResizeTo::None => Ok(()),
            ResizeTo::Master(m) => {
                sys::set_winsize(m.as_raw_fd(), rows, cols).map_err(|e| Error::io("resize", e))
            }
            ResizeTo::Monitor(s) => {
                let mut d = rows.to_be_bytes().to_vec();
                d.extend_from_slice(&cols.to_be_bytes());
                (&**s)
                    .write_all(&frame(INPUT_RESIZE, &d))
                    .map_err(|e| Error::io("resize", e))
            }
        }
    }
}

/// The output side shared by exec and attach streams.
pub trait OutputStream {
    /// Whether the process has a tty (its output is one raw stream).
    fn tty(&self) -> bool;

    /// Reads the next chunk of output into `buf`, waiting at most until
    /// `deadline` (`None`: as long as it takes).
    fn next_chunk_until(
        &mut self,
        buf: &mut [u8],
        deadline: Option<std::time::Instant>,
    ) -> io::Result<Chunk>;

    /// Reads the next chunk of output into `buf`; [`Chunk::End`] once the
    /// process has ended and its output is drained.
    fn next_chunk(&mut self, buf: &mut [u8]) -> io::Result<Chunk> {
        self.next_chunk_until(buf, None)
    }

    /// Copies stdout to `out` and stderr to `err` until the end.
    fn copy_output(&mut self, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<()> {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match self.next_chunk(&mut buf)? {
                Chunk::Data(StreamKind::Stdout, n) => {
                    out.write_all(&buf[..n])?;
                    out.flush()?;
                }
                Chunk::Data(StreamKind::Stderr, n) => {
                    err.write_all(&buf[..n])?;
                    err.flush()?;
                }
                Chunk::TimedOut => {}
                Chunk::End => return Ok(()),
            }
        }
    }

    /// Copies the output to `w` until the end: docker's stdcopy frames, or
    /// raw with a tty (docker's attach/exec response body).
    fn copy_multiplexed(&mut self, w: &mut dyn Write) -> io::Result<()> {
        let tty = self.tty();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match self.next_chunk(&mut buf)? {
                Chunk::Data(kind, n) => {
                    if !tty {
                        w.write_all(&frame_header(kind, n))?;
                    }
                    w.write_all(&buf[..n])?;
                    w.flush()?;
                }
                Chunk::TimedOut => {}
                Chunk::End => return Ok(()),
            }
        }
    }
}

/// Whether a [`StdinWriter`] write error is the detach keys.
pub fn is_detached(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::ConnectionAborted && e.to_string() == "detached"
}

/// poll(2) on `fds` for input, until `deadline`; which are readable (or
/// hung up). Interrupted polls are retried.
pub(crate) fn poll_in(
    fds: &[std::os::fd::BorrowedFd<'_>],
    deadline: Option<std::time::Instant>,
) -> io::Result<Vec<bool>> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    loop {
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(d) => {
                let left = d.saturating_duration_since(std::time::Instant::now());
                PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32)
                    .unwrap_or(PollTimeout::MAX)
            }
        };
        let mut pfds: Vec<PollFd> = fds
            .iter()
            .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
            .collect();
        match poll(&mut pfds, timeout) {
            Ok(_) => {
                return Ok(pfds
                    .iter()
                    .map(|p| {
                        p.revents()
                            .is_some_and(|r| !(r & !PollFlags::POLLNVAL).is_empty())
                    })
                    .collect())
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_as_docker() {
        assert_eq!(parse_detach_keys(None).unwrap(), vec![0x10, 0x11]);
        assert_eq!(parse_detach_keys(Some("")).unwrap(), vec![0x10, 0x11]);
        assert_eq!(
            parse_detach_keys(Some("ctrl-a,x,DEL,ctrl-@")).unwrap(),
            vec![1, b'x', 127, 0]
        );
        let e = parse_detach_keys(Some("ctrl-aa")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Invalid detach keys (ctrl-aa) provided: unknown character \"ctrl-aa\""
        );
    }

    #[test]
    fn stdin_writer_holds_a_partial_sequence() {
        let (r, w) = crate::sys::pipe().unwrap();
        let mut s = StdinWriter::fd(w, vec![0x10, 0x11]);
        assert_eq!(s.send(b"a\x10").unwrap(), Sent::Sent);
        assert_eq!(s.send(b"b").unwrap(), Sent::Sent);
        assert_eq!(s.send(b"c\x10\x11d").unwrap(), Sent::Detached);
        drop(s);
        let mut got = Vec::new();
        io::Read::read_to_end(&mut std::fs::File::from(r), &mut got).unwrap();
        assert_eq!(got, b"a\x10bc");
    }

    #[test]
    fn header_is_stdcopy() {
        assert_eq!(
            frame_header(StreamKind::Stderr, 258),
            [2, 0, 0, 0, 0, 0, 1, 2]
        );
    }
}

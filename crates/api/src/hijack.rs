//! docker's hijacked connections (`POST /containers/{id}/attach`, `POST
//! /exec/{id}/start`): the HTTP connection becomes the process's stdio.
//!
//! A client sending `Connection: Upgrade` and `Upgrade: tcp` (the docker
//! CLI, docker-py, bollard) gets `101 UPGRADED` with the stream's content
//! type (`application/vnd.docker.multiplexed-stream`: docker's 8-byte frames
//! `[stream, 0, 0, 0, len u32 BE]`; `application/vnd.docker.raw-stream` with
//! a tty); then the connection carries the client's stdin one way and the
//! output the other ([`pump`], blocking code on its own threads). A client
//! without the headers gets `200` and the output as the body (it cannot send
//! stdin: hyper keeps the connection HTTP).
//!
//! Half-close as docker's: when the client shuts down its write side, the
//! process's stdin is closed (an exec, or an attach with the container's
//! StdinOnce and no tty) and the output goes on until the process ends;
//! otherwise the client's end of input ends its stream, as docker's
//! CopyStreams. A client that hangs up ends the stream; the process goes
//! on.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use axum::response::IntoResponse;
use engine::stream::{Chunk, OutputStream, Sent, StdinWriter};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use crate::stream::ChannelWriter;
use crate::{ActiveGuard, ApiError};

/// docker's media types of a hijacked stream.
pub const RAW_STREAM: &str = "application/vnd.docker.raw-stream";
pub const MULTIPLEXED_STREAM: &str = "application/vnd.docker.multiplexed-stream";

/// How often a silent stream looks whether its client hung up or asked to
/// end (the detach keys, the end of its input).
const LOOK: Duration = Duration::from_millis(200);

/// How long a stream's output waits for the client to read the `101`
/// head ([`Conn::head_read`]).
const HEAD_READ: Duration = Duration::from_millis(200);

/// A request that may be hijacked: the upgrade hyper hands over once the
/// `101` response is sent.
pub struct Hijack {
    on_upgrade: Option<OnUpgrade>,
}

impl Hijack {
    /// Whether the client asked for the upgrade (`Upgrade: tcp`, with
    /// `Connection: Upgrade`), and its handle.
    pub fn from_request(headers: &HeaderMap, ext: &mut axum::http::Extensions) -> Hijack {
        let upgrade = headers
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("tcp"))
            && headers
                .get_all(header::CONNECTION)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
        let on_upgrade = if upgrade {
            ext.remove::<OnUpgrade>()
        } else {
            None
        };
        Hijack { on_upgrade }
    }

    /// Whether the connection will be hijacked (else: a 200 body).
    pub fn upgrades(&self) -> bool {
        self.on_upgrade.is_some()
    }

    /// The `101 UPGRADED` answer; `session` runs on the hijacked
    /// connection once hyper hands it over (on the blocking pool), holding
    /// `guard` (the service is busy) until it returns.
    pub fn respond(
        self,
        tty: bool,
        guard: ActiveGuard,
        session: impl FnOnce(Conn, Bytes) + Send + 'static,
    ) -> Response<Body> {
        self.respond_async(tty, guard, move |conn, early| async move {
            let _ = tokio::task::spawn_blocking(move || {
                conn.head_read();
                session(conn, early);
            })
            .await;
        })
    }

    /// As [`Hijack::respond`], for a session that first waits without
    /// holding a thread (an attach waiting for its container's start):
    /// `session` runs as a task and moves its blocking part to the pool
    /// itself (calling [`Conn::head_read`] first).
    pub fn respond_async<F>(
        self,
        tty: bool,
        guard: ActiveGuard,
        session: impl FnOnce(Conn, Bytes) -> F + Send + 'static,
    ) -> Response<Body>
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let Some(on) = self.on_upgrade else {
            return ApiError::internal("hijack: the connection cannot be upgraded").into_response();
        };
        tokio::spawn(async move {
            let Ok(up) = on.await else {
                return;
            };
            let Some((conn, early)) = Conn::from_upgraded(up) else {
                return;
            };
            session(conn, early).await;
            drop(guard);
        });
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        r.extensions_mut()
            .insert(hyper::ext::ReasonPhrase::from_static(b"UPGRADED"));
        let h = r.headers_mut();
        h.insert(header::CONTENT_TYPE, content_type(tty));
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
        r
    }
}

fn content_type(tty: bool) -> HeaderValue {
    HeaderValue::from_static(if tty { RAW_STREAM } else { MULTIPLEXED_STREAM })
}

/// The answer to a client that did not ask for the upgrade: `200` and the
/// output as the body (docker's old clients); its stdin is not read.
pub fn output_body<O: OutputStream + Send + 'static>(out: O) -> Response<Body> {
    let tty = out.tty();
    let body = crate::stream::spawn_writer(move |w| {
        let mut out = out;
        let hung_up = w.clone();
        let _ = copy_output(&mut out, &mut ChanSink(w), &|| hung_up.closed());
    });
    let mut r = Response::new(body);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, content_type(tty));
    r
}

struct ChanSink(ChannelWriter);

impl Write for ChanSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A hijacked connection, as a blocking socket.
pub enum Conn {
    Unix(std::os::unix::net::UnixStream),
    Tcp(std::net::TcpStream),
}

impl Conn {
    /// The socket under hyper's upgrade (the service serves unix and tcp
    /// streams), blocking, and the bytes hyper read past the request (the
    /// client's first input).
    fn from_upgraded(up: hyper::upgrade::Upgraded) -> Option<(Conn, Bytes)> {
        let up = match up.downcast::<TokioIo<tokio::net::UnixStream>>() {
            Ok(p) => {
                let s = p.io.into_inner().into_std().ok()?;
                s.set_nonblocking(false).ok()?;
                return Some((Conn::Unix(s), p.read_buf));
            }
            Err(up) => up,
        };
        let up = match up.downcast::<TokioIo<tokio::net::TcpStream>>() {
            Ok(p) => {
                let s = p.io.into_inner().into_std().ok()?;
                s.set_nonblocking(false).ok()?;
                return Some((Conn::Tcp(s), p.read_buf));
            }
            Err(up) => up,
        };
        // Any other stream (TLS): bridged through a socket pair, its
        // half-closes and hang-ups passed both ways.
        let (mine, theirs) = tokio::net::UnixStream::pair().ok()?;
        tokio::spawn(async move {
            let mut up = TokioIo::new(up);
            let mut theirs = theirs;
            let _ = tokio::io::copy_bidirectional(&mut up, &mut theirs).await;
        });
        let s = mine.into_std().ok()?;
        s.set_nonblocking(false).ok()?;
        Some((Conn::Unix(s), Bytes::new()))
    }

    fn try_clone(&self) -> io::Result<Conn> {
        Ok(match self {
            Conn::Unix(s) => Conn::Unix(s.try_clone()?),
            Conn::Tcp(s) => Conn::Tcp(s.try_clone()?),
        })
    }

    fn shutdown(&self, how: std::net::Shutdown) {
        let _ = match self {
            Conn::Unix(s) => s.shutdown(how),
            Conn::Tcp(s) => s.shutdown(how),
        };
    }

    fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Conn::Unix(s) => s.as_fd(),
            Conn::Tcp(s) => s.as_fd(),
        }
    }

    /// Whether the client has gone (a unix peer's close is a hang-up; a
    /// tcp peer's shows at the next write).
    pub fn hung_up(&self) -> bool {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let mut p = [PollFd::new(self.fd(), PollFlags::empty())];
        matches!(poll(&mut p, PollTimeout::ZERO), Ok(n) if n > 0)
            && p[0]
                .revents()
                .is_some_and(|r| r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR))
    }

    /// Waits (a moment at most) until the client has read what was sent
    /// (the `101` head): clients that read the head through a buffer and
    /// then the socket itself (docker-py) lose output sent with the head.
    pub(crate) fn head_read(&self) {
        let until = Instant::now() + HEAD_READ;
        while Instant::now() < until {
            match crate::sys::unread_output(self.fd()) {
                Ok(0) | Err(_) => return,
                Ok(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    }

    /// Closes the connection both ways (the client reads its end).
    pub fn close(&self) {
        self.shutdown(std::net::Shutdown::Both);
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => s.read(buf),
            Conn::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => s.write(buf),
            Conn::Tcp(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes `msg` to the client as the process's stdout (a frame, raw with a
/// tty): docker's way of telling why a hijacked exec did not run.
pub fn write_message(conn: &mut Conn, tty: bool, msg: &str) {
    let mut v = Vec::with_capacity(msg.len() + 8);
    if !tty {
        v.extend_from_slice(&engine::stream::frame_header(
            engine::StreamKind::Stdout,
            msg.len(),
        ));
    }
    v.extend_from_slice(msg.as_bytes());
    let _ = conn.write_all(&v);
}

/// Copies the output (docker's frames, raw with a tty) to `w` until the
/// process ends, a write fails, or `stop` says so (asked between two
/// chunks, and every [`LOOK`] of silence).
fn copy_output(
    out: &mut dyn OutputStream,
    w: &mut dyn Write,
    stop: &dyn Fn() -> bool,
) -> io::Result<()> {
    let tty = out.tty();
    let mut buf = vec![0u8; 32 * 1024];
    let mut frame = Vec::with_capacity(buf.len() + 8);
    loop {
        if stop() {
            return Ok(());
        }
        match out.next_chunk_until(&mut buf, Some(Instant::now() + LOOK))? {
            Chunk::Data(kind, n) => {
                frame.clear();
                if !tty {
                    frame.extend_from_slice(&engine::stream::frame_header(kind, n));
                }
                frame.extend_from_slice(&buf[..n]);
                w.write_all(&frame)?;
            }
            Chunk::TimedOut => {}
            Chunk::End => return Ok(()),
        }
    }
}

/// Drives a process's streams over a hijacked connection until its output
/// ends (the process ended), the client hangs up, detaches (the detach
/// keys, with a tty) or ends its input when that ends its stream (see the
/// module's doc). `early` is the client's input hyper had already read.
/// The connection is closed at the end; the process is not touched.
pub fn pump(conn: Conn, early: Bytes, out: &mut dyn OutputStream, stdin: Option<StdinWriter>) {
    let tty = out.tty();
    let end = Arc::new(AtomicBool::new(false));
    if let Some(w) = stdin {
        match conn.try_clone() {
            Ok(c) => {
                let end = end.clone();
                // Not joined: a process that does not read its stdin may
                // hold a write until it ends; the thread then ends.
                std::thread::spawn(move || feed(c, early, w, tty, &end));
            }
            Err(_) => end.store(true, Ordering::SeqCst),
        }
    }
    let mut w = match conn.try_clone() {
        Ok(c) => c,
        Err(_) => {
            conn.close();
            return;
        }
    };
    let _ = copy_output(out, &mut w, &|| {
        end.load(Ordering::SeqCst) || conn.hung_up()
    });
    conn.close();
}

/// The client's input to the process's stdin, until the client's end
/// (closing the process's stdin when that is how it ends, else asking the
/// stream to end), its detach keys, or an error.
fn feed(mut conn: Conn, early: Bytes, mut w: StdinWriter, tty: bool, end: &AtomicBool) {
    let ends_stream = !w.closes_stdin() || tty;
    let send =
        |w: &mut StdinWriter, data: &[u8]| -> bool { matches!(w.send(data), Ok(Sent::Sent)) };
    if !early.is_empty() && !send(&mut w, &early) {
        end.store(true, Ordering::SeqCst);
        return;
    }
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => {
                if ends_stream {
                    end.store(true, Ordering::SeqCst);
                } else {
                    let _ = w.close();
                }
                return;
            }
            Ok(n) => {
                if !send(&mut w, &buf[..n]) {
                    end.store(true, Ordering::SeqCst);
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => {
                end.store(true, Ordering::SeqCst);
                return;
            }
        }
    }
}

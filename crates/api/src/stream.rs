//! Response bodies: [`Guarded`] keeps the service busy until a body is
//! sent or dropped (the idle timer); [`channel`] streams what a blocking
//! engine call writes, with back-pressure (a bounded channel: a slow client
//! slows the writer) and hang-up (the writer's next write fails with
//! `BrokenPipe` once the client is gone, so a follower stops).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use http_body::{Frame, SizeHint};
use tokio::sync::mpsc;

use crate::ActiveGuard;

/// A body that holds an [`ActiveGuard`] until it ends or is dropped.
pub struct Guarded {
    inner: Body,
    guard: Option<ActiveGuard>,
}

impl Guarded {
    pub fn new(inner: Body, guard: ActiveGuard) -> Guarded {
        Guarded {
            inner,
            guard: Some(guard),
        }
    }
}

impl http_body::Body for Guarded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let r = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(None) = r {
            self.guard = None;
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The body end of [`channel`]: an error item aborts the response.
pub struct ChannelBody(mpsc::Receiver<io::Result<Bytes>>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data)))
    }
}

/// The writer end of [`channel`], for blocking code: each write is one
/// chunk of the response (sent at once: streams are read as they come).
#[derive(Debug, Clone)]
pub struct ChannelWriter(mpsc::Sender<io::Result<Bytes>>);

impl ChannelWriter {
    /// Whether the client has gone (the body was dropped).
    pub fn closed(&self) -> bool {
        self.0.is_closed()
    }

    /// Resolves when the client has gone (the body was dropped).
    pub async fn hung_up(&self) {
        self.0.closed().await
    }

    /// Sends one chunk; `BrokenPipe` once the client is gone.
    pub fn send(&self, b: Bytes) -> io::Result<()> {
        self.0
            .blocking_send(Ok(b))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client hung up"))
    }

    /// Ends the response as a failure after its head was sent: hyper
    /// drops the connection without the last chunk, so the client sees
    /// a truncated body as an error (as docker's clients do when its
    /// daemon's copy fails), never as a clean end.
    pub fn abort(&self, why: impl std::fmt::Display) {
        let _ = self.0.blocking_send(Err(io::Error::other(why.to_string())));
    }
}

impl io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.send(Bytes::copy_from_slice(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A streamed body and its blocking writer (16 chunks in flight at most).
pub fn channel() -> (ChannelWriter, Body) {
    let (tx, rx) = mpsc::channel(16);
    (ChannelWriter(tx), Body::new(ChannelBody(rx)))
}

/// Runs `f` with a writer on the blocking pool; the body streams what it
/// writes. An error before anything was written can still be answered
/// (see [`crate::containers`]); after that it ends the stream.
pub fn spawn_writer(f: impl FnOnce(ChannelWriter) + Send + 'static) -> Body {
    let (w, body) = channel();
    tokio::task::spawn_blocking(move || f(w));
    body
}

/// A request body read by blocking code (an upload: `PUT .../archive`,
/// image load and import): an async task feeds it chunk by chunk (a bounded
/// channel: the client is read as fast as the engine consumes).
pub struct BodyReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    cur: Bytes,
}

impl BodyReader {
    pub fn new(body: Body) -> BodyReader {
        let (tx, rx) = mpsc::channel(8);
        tokio::spawn(async move {
            let mut body = body;
            loop {
                let frame =
                    std::future::poll_fn(|cx| http_body::Body::poll_frame(Pin::new(&mut body), cx))
                        .await;
                let item = match frame {
                    None => return,
                    Some(Ok(f)) => match f.into_data() {
                        Ok(d) => Ok(d),
                        Err(_) => continue,
                    },
                    Some(Err(e)) => Err(io::Error::other(format!("reading the request body: {e}"))),
                };
                let stop = item.is_err();
                if tx.send(item).await.is_err() || stop {
                    return;
                }
            }
        });
        BodyReader {
            rx,
            cur: Bytes::new(),
        }
    }
}

impl io::Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(r) => self.cur = r?,
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur.split_to(n));
        Ok(n)
    }
}

/// Writes docker's multiplexed frames (8-byte header: stream, 0, 0, 0,
/// big-endian length) of one stream, or the raw bytes for a tty.
pub struct Mux {
    pub w: ChannelWriter,
    pub kind: engine::StreamKind,
    pub tty: bool,
}

impl io::Write for Mux {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.tty {
            return self.w.write(buf);
        }
        let mut v = Vec::with_capacity(buf.len() + 8);
        v.extend_from_slice(&engine::stream::frame_header(self.kind, buf.len()));
        v.extend_from_slice(buf);
        self.w.send(v.into())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A streamed `application/json` response.
pub(crate) fn json_stream(body: Body) -> axum::http::Response<Body> {
    let mut r = axum::http::Response::new(body);
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    r
}

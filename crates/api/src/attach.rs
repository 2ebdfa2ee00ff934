//! `POST /containers/{id}/attach` (hijacked, see [`crate::hijack`]) and
//! `POST /containers/{id}/resize`.
//!
//! docker's `run` attaches before it starts (create, attach, wait, start):
//! an attach to a container that is not running waits in [`Pending`] until
//! this service starts it (`POST /containers/{id}/start`, [`take_start`]),
//! which starts it with the attach socket handed to the monitor, so the
//! first output is not lost. Started some other way (the CLI, a restart
//! policy), the waiting client attaches once it sees it run.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{Response, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use engine::stream::OutputStream;
use engine::{AttachOptions, Attached, Engine};
use tokio::sync::oneshot;

use crate::hijack::{self, Conn, Hijack};
use crate::params::Params;
use crate::{blocking, ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/containers/{id}/attach", post(attach))
        .route("/containers/{id}/resize", post(resize))
}

/// How often a waiting attach looks whether its container was started by
/// someone else, or its client hung up.
const LOOK: Duration = Duration::from_millis(250);

/// What the start hands a waiting attach.
enum Handoff {
    /// Started with this attach's socket.
    Attached(Box<Attached>),
    /// Started (or running already): attach now.
    Started,
}

struct Waiter {
    key: u64,
    opts: AttachOptions,
    tx: oneshot::Sender<Handoff>,
}

/// Attaches waiting for their container's start, by container id.
#[derive(Default)]
pub struct Pending {
    waiters: Mutex<HashMap<String, Vec<Waiter>>>,
    next: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pending")
    }
}

impl Pending {
    fn add(&self, id: &str, opts: AttachOptions) -> (u64, oneshot::Receiver<Handoff>) {
        let key = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let mut m = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(id.to_string())
            .or_default()
            .push(Waiter { key, opts, tx });
        (key, rx)
    }

    /// Removes one waiter; whether it was still there (else a start took
    /// it and hands it over).
    fn remove(&self, id: &str, key: u64) -> bool {
        let mut m = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        let Some(v) = m.get_mut(id) else {
            return false;
        };
        let before = v.len();
        v.retain(|w| w.key != key);
        let found = v.len() != before;
        if v.is_empty() {
            m.remove(id);
        }
        found
    }

    /// The waiters of `id` whose clients are still there.
    fn take(&self, id: &str) -> Vec<Waiter> {
        let mut m = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        m.remove(id)
            .unwrap_or_default()
            .into_iter()
            .filter(|w| !w.tx.is_closed())
            .collect()
    }

    fn put_back(&self, id: &str, ws: Vec<Waiter>) {
        let mut m = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(id.to_string()).or_default().extend(ws);
    }
}

/// The start endpoint's part (`POST /containers/{id}/start`): with attaches
/// waiting, the container is started with the first one's socket (the
/// others attach once it runs). `None`: nobody waits, start as usual.
pub(crate) async fn take_start(
    s: &AppState,
    id: &str,
) -> Option<Result<engine::Changed, ApiError>> {
    let eng = s.engine.clone();
    let name = id.to_string();
    let full = match blocking(move || Ok(eng.lookup(&name)?)).await {
        Ok(f) => f,
        Err(_) => return None,
    };
    let mut ws = s.attaches.take(&full);
    if ws.is_empty() {
        return None;
    }
    let opts = ws[0].opts.clone();
    let eng = s.engine.clone();
    let id2 = full.clone();
    let r = blocking(move || Ok(eng.start_attach_stream(&id2, &opts)?)).await;
    match r {
        Err(e) => {
            // Not started: they go on waiting.
            s.attaches.put_back(&full, ws);
            Some(Err(e))
        }
        Ok(a) => {
            let changed = if a.is_some() {
                engine::Changed::Done
            } else {
                engine::Changed::Already
            };
            let rest = match a {
                Some(a) => {
                    let first = ws.remove(0);
                    let _ = first.tx.send(Handoff::Attached(Box::new(a)));
                    ws
                }
                None => ws,
            };
            for w in rest {
                let _ = w.tx.send(Handoff::Started);
            }
            Some(Ok(changed))
        }
    }
}

/// docker's attach query.
fn attach_options(p: &Params) -> AttachOptions {
    AttachOptions {
        stdin: p.bool("stdin"),
        stdout: p.bool("stdout"),
        stderr: p.bool("stderr"),
        stream: p.bool("stream"),
        logs: p.bool("logs"),
        detach_keys: p.str("detachKeys"),
    }
}

async fn attach(
    State(s): State<AppState>,
    Path(id): Path<String>,
    p: Params,
    req: Request,
) -> Result<Response<Body>, ApiError> {
    let (mut parts, _) = req.into_parts();
    let hijack = Hijack::from_request(&parts.headers, &mut parts.extensions);
    let opts = attach_options(&p);
    engine::stream::parse_detach_keys(opts.detach_keys.as_deref())?;
    let eng = s.engine.clone();
    let (cid, tty, running) = blocking(move || {
        let (c, st) = eng.container(&id)?;
        Ok((c.id, c.config.tty, st.running()))
    })
    .await?;
    let guard = s.activity.enter();
    if opts.stream && !running {
        if !hijack.upgrades() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("container {cid} is not running: attach before start needs the connection upgrade (Upgrade: tcp)"),
            ));
        }
        // docker's run: attach now, the output comes once it starts.
        let (key, rx) = s.attaches.add(&cid, opts.clone());
        let (eng, pending) = (s.engine.clone(), s.attaches.clone());
        return Ok(hijack.respond_async(tty, guard, move |conn, early| {
            wait_start(eng, pending, cid, key, rx, opts, conn, early)
        }));
    }
    let eng = s.engine.clone();
    let o = opts.clone();
    let c2 = cid.clone();
    let a = blocking(move || Ok(eng.attach_stream(&c2, &o)?)).await?;
    if !hijack.upgrades() {
        drop(guard);
        return Ok(hijack::output_body(a));
    }
    Ok(hijack.respond(tty, guard, move |conn, early| run_attached(a, conn, early)))
}

fn run_attached(mut a: Attached, conn: Conn, early: Bytes) {
    let stdin = a.take_stdin();
    hijack::pump(conn, early, &mut a as &mut dyn OutputStream, stdin);
}

/// A hijacked attach waiting for its container's start: a task, not a
/// thread (a container that never starts holds no blocking thread; its
/// state is read on the pool every [`LOOK`], a moment each), until the
/// start's handoff, a start by someone else, the container's removal or
/// the client's hang-up. Then the stream runs on the blocking pool.
#[allow(clippy::too_many_arguments)]
async fn wait_start(
    eng: Engine,
    pending: std::sync::Arc<Pending>,
    cid: String,
    key: u64,
    mut rx: oneshot::Receiver<Handoff>,
    opts: AttachOptions,
    conn: Conn,
    early: Bytes,
) {
    let handoff = loop {
        // The start's handoff, or a look around every LOOK.
        match tokio::time::timeout(LOOK, &mut rx).await {
            Ok(Ok(h)) => break Some(h),
            Ok(Err(_)) => break None,
            Err(_) => {}
        }
        let gone = conn.hung_up();
        let (e, c) = (eng.clone(), cid.clone());
        let state = tokio::task::spawn_blocking(move || e.state(&c).map(|s| s.running())).await;
        let (exists, started) = match state {
            Ok(Ok(running)) => (true, running),
            _ => (false, false),
        };
        if gone || !exists || started {
            if pending.remove(&cid, key) {
                // Hung up, or the container was removed: nothing to do.
                break started.then_some(Handoff::Started);
            }
            // A start took it: the handoff is on its way.
            break (&mut rx).await.ok();
        }
    };
    let _ = tokio::task::spawn_blocking(move || {
        conn.head_read();
        match handoff {
            Some(Handoff::Attached(a)) => run_attached(*a, conn, early),
            Some(Handoff::Started) => match eng.attach_stream(&cid, &opts) {
                Ok(a) => run_attached(a, conn, early),
                Err(_) => conn.close(),
            },
            None => conn.close(),
        }
    })
    .await;
}

/// `resize?h=&w=`: the container's pty.
async fn resize(
    State(s): State<AppState>,
    Path(id): Path<String>,
    p: Params,
) -> Result<Response<Body>, ApiError> {
    let (rows, cols) = size(&p)?;
    let eng = s.engine.clone();
    blocking(move || Ok(eng.resize(&id, rows, cols)?)).await?;
    Ok(StatusCode::OK.into_response())
}

/// docker's `h` and `w` (a resize's query).
pub(crate) fn size(p: &Params) -> Result<(u16, u16), ApiError> {
    let dim = |k: &str| -> Result<u16, ApiError> {
        let v = p.int(k)?.unwrap_or(0);
        u16::try_from(v).map_err(|_| {
            ApiError::bad(format!(
                "invalid value for {k:?}: {v} is not a terminal size (0-65535)"
            ))
        })
    };
    Ok((dim("h")?, dim("w")?))
}

//! Berth's Docker Engine API service (`berth system service`): docker's
//! REST endpoints over a unix socket (or TCP: with TLS as docker's daemon,
//! [`tls`]; without, loopback only), a thin
//! face beside the CLI. It holds no rules and no state: each handler turns
//! docker's JSON and query strings into the engine's typed requests, calls
//! the engine (blocking calls on tokio's blocking pool), and serializes the
//! engine's typed results. Containers keep running when the service stops.
//!
//! - [`bind`]: the listening socket of a `unix://PATH` or `tcp://ADDR` URI
//!   (0660, group `berth` when it exists; a stale socket replaced, a live
//!   one refused), or the one systemd passed (socket activation).
//! - [`serve`]: serves until idle for [`ServeOptions::idle`] (no request in
//!   flight and no open stream), or SIGINT/SIGTERM.
//! - [`router`]: the routes; `/v1.NN/` prefixes are stripped first.
//!
//! One group of endpoints per module: [`system`], [`containers`],
//! [`images`], [`networks`], [`volumes`], [`attach`] and [`exec`] (their
//! hijacked streams: [`hijack`]); [`error`] maps engine errors to docker's
//! `{"message": ...}` with its status codes.
#![deny(unsafe_code)]

pub mod attach;
pub mod build;
pub mod containers;
pub mod error;
pub mod exec;
pub mod hijack;
pub mod images;
pub mod networks;
mod params;
mod stream;
#[allow(unsafe_code)]
mod sys;
pub mod system;
pub mod tls;
pub mod volumes;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, Response, StatusCode, Uri};
use axum::Router;
use engine::Engine;

pub use error::ApiError;
pub use tls::{TlsConfig, TlsFiles};

/// The API version Berth speaks (docker CLI 28.2's).
pub const API_VERSION: &str = engine::system::API_VERSION;
/// The oldest version a client may ask for.
pub const MIN_API_VERSION: &str = engine::system::MIN_API_VERSION;
/// The default socket (podman's `system service` has its own; docker's
/// `/var/run/docker.sock` when the user passes it).
pub const DEFAULT_URI: &str = "unix:///run/berth/berth.sock";
/// The largest JSON body a request may carry.
pub const MAX_JSON_BODY: usize = 16 << 20;

/// Errors of binding and serving (the handlers' are [`ApiError`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

/// A bound listening socket.
#[derive(Debug)]
pub enum Listener {
    Unix {
        listener: std::os::unix::net::UnixListener,
        /// The socket file (removed when the service ends), none when
        /// systemd passed it.
        path: Option<PathBuf>,
    },
    Tcp(std::net::TcpListener),
}

impl Listener {
    /// `unix:///path` or `tcp://127.0.0.1:2375`, as the user wrote it.
    pub fn describe(&self) -> String {
        match self {
            Listener::Unix { path: Some(p), .. } => format!("unix://{}", p.display()),
            Listener::Unix { path: None, .. } => "unix socket passed by systemd".to_string(),
            Listener::Tcp(l) => match l.local_addr() {
                Ok(a) => format!("tcp://{a}"),
                Err(_) => "tcp".to_string(),
            },
        }
    }
}

/// A parsed service URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    /// Any address with TLS; loopback only without.
    Tcp(SocketAddr),
}

impl Endpoint {
    /// `unix://PATH` (absolute) or `tcp://IP:PORT`. `tls`: None without
    /// TLS, Some(verify) with it (verify: `--tlsverify`, clients need a
    /// certificate of the CA). A non-loopback address needs `--tlsverify`:
    /// the API gives root to whoever connects, and `--tls` alone lets
    /// anyone connect. TLS only with tcp.
    pub fn parse(uri: &str, tls: Option<bool>) -> Result<Endpoint, Error> {
        let verify = tls == Some(true);
        let tls = tls.is_some();
        if let Some(p) = uri.strip_prefix("unix://") {
            if tls {
                return Err(Error::Invalid(format!(
                    "--tls and --tlsverify apply to tcp:// addresses, not {uri:?}"
                )));
            }
            if !p.starts_with('/') {
                return Err(Error::Invalid(format!(
                    "invalid URI {uri:?}: the socket path must be absolute (unix:///run/berth/berth.sock)"
                )));
            }
            return Ok(Endpoint::Unix(PathBuf::from(p)));
        }
        if let Some(a) = uri.strip_prefix("tcp://") {
            let addr: SocketAddr = a.parse().map_err(|_| {
                Error::Invalid(format!(
                    "invalid URI {uri:?}: expected tcp://IP:PORT, e.g. tcp://127.0.0.1:2375"
                ))
            })?;
            if !tls && !addr.ip().is_loopback() {
                return Err(Error::Invalid(format!(
                    "refusing {uri:?} without TLS: the API gives root to whoever connects; use --tlsverify with --tlscacert, --tlscert and --tlskey, or a loopback address (127.0.0.1, ::1) or a unix socket"
                )));
            }
            if tls && !verify && !addr.ip().is_loopback() {
                return Err(Error::Invalid(format!(
                    "refusing {uri:?} with --tls but without --tlsverify: clients are not checked and the API gives root to whoever connects; add --tlsverify and --tlscacert, or use a loopback address (127.0.0.1, ::1)"
                )));
            }
            return Ok(Endpoint::Tcp(addr));
        }
        Err(Error::Invalid(format!(
            "invalid URI {uri:?}: expected unix:///PATH or tcp://127.0.0.1:PORT"
        )))
    }
}

/// The socket systemd passed (`LISTEN_PID` is ours, `LISTEN_FDS` >= 1:
/// descriptor 3), if any; the variables are removed so children do not see
/// them.
pub fn activated() -> Result<Option<Listener>, Error> {
    let pid_ok = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok())
        .is_some_and(|p| p == std::process::id());
    let fds = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.trim().parse::<u32>().ok())
        .unwrap_or(0);
    if !pid_ok || fds == 0 {
        return Ok(None);
    }
    for v in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        std::env::remove_var(v);
    }
    let fd = sys::listen_fd3().map_err(io_err(
        "socket activation: descriptor 3 is not a listening socket",
    ))?;
    Ok(Some(fd))
}

/// Binds `endpoint`: a unix socket is created 0660, owned by root and
/// group `berth` when that group exists; a stale socket file is replaced,
/// a live one refused.
pub fn bind(endpoint: &Endpoint) -> Result<Listener, Error> {
    match endpoint {
        Endpoint::Tcp(a) => std::net::TcpListener::bind(a)
            .map(Listener::Tcp)
            .map_err(io_err(format!("cannot listen on tcp://{a}"))),
        Endpoint::Unix(p) => bind_unix(p).map(|l| Listener::Unix {
            listener: l,
            path: Some(p.clone()),
        }),
    }
}

fn bind_unix(path: &Path) -> Result<std::os::unix::net::UnixListener, Error> {
    use std::os::unix::net::{UnixListener, UnixStream};
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_err(format!("cannot create {}", dir.display())))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) => {
            use std::os::unix::fs::FileTypeExt;
            if !m.file_type().is_socket() {
                return Err(Error::Invalid(format!(
                    "{} exists and is not a socket",
                    path.display()
                )));
            }
            if UnixStream::connect(path).is_ok() {
                return Err(Error::Invalid(format!(
                    "another service listens on {}",
                    path.display()
                )));
            }
            std::fs::remove_file(path).map_err(io_err(format!(
                "cannot remove stale socket {}",
                path.display()
            )))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(format!("cannot stat {}", path.display()))(e)),
    }
    let l =
        UnixListener::bind(path).map_err(io_err(format!("cannot listen on {}", path.display())))?;
    let gid = engine::user::host_group_id("berth").map(nix::unistd::Gid::from_raw);
    nix::unistd::chown(path, None, gid)
        .map_err(|e| io_err(format!("cannot chown {}", path.display()))(e.into()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(io_err(format!("cannot chmod {}", path.display())))?;
    Ok(l)
}

/// How [`serve`] runs.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Exit after this long without a request in flight or a stream open;
    /// None: never.
    pub idle: Option<Duration>,
    /// TLS on a tcp listener (`--tls`, `--tlsverify`).
    pub tls: Option<TlsConfig>,
}

/// Requests in flight and the last time one ended: the idle timer.
#[derive(Debug)]
pub struct Activity {
    active: AtomicUsize,
    last: Mutex<Instant>,
}

impl Activity {
    fn new() -> Arc<Activity> {
        Arc::new(Activity {
            active: AtomicUsize::new(0),
            last: Mutex::new(Instant::now()),
        })
    }

    /// Marks a request (or a hijacked stream) busy until the guard drops.
    pub fn enter(self: &Arc<Activity>) -> ActiveGuard {
        self.active.fetch_add(1, Ordering::SeqCst);
        ActiveGuard(self.clone())
    }

    /// How long the service has been idle (zero while busy).
    fn idle_for(&self) -> Duration {
        if self.active.load(Ordering::SeqCst) > 0 {
            return Duration::ZERO;
        }
        self.last.lock().map(|t| t.elapsed()).unwrap_or_default()
    }
}

/// See [`Activity::enter`].
#[derive(Debug)]
pub struct ActiveGuard(Arc<Activity>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        if let Ok(mut t) = self.0.last.lock() {
            *t = Instant::now();
        }
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What every handler gets: the engine, and the activity counter (for
/// hijacked streams that outlive their request).
#[derive(Debug, Clone)]
pub struct AppState {
    pub engine: Engine,
    pub activity: Arc<Activity>,
    /// Attaches waiting for their container's start (docker's `run`).
    pub attaches: Arc<attach::Pending>,
}

/// Serves the API on `listener` until idle for `opts.idle`, SIGINT or
/// SIGTERM. Blocks; runs its own tokio runtime.
pub fn serve(engine: Engine, listener: Listener, opts: ServeOptions) -> Result<(), Error> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(io_err("cannot start the tokio runtime"))?;
    let socket_path = match &listener {
        Listener::Unix { path, .. } => path.clone(),
        Listener::Tcp(_) => None,
    };
    let r = rt.block_on(serve_async(engine, listener, opts));
    if let Some(p) = socket_path {
        let _ = std::fs::remove_file(p);
    }
    // Blocking calls of hung-up clients (a follower between two reads)
    // are not waited for.
    rt.shutdown_timeout(Duration::from_millis(100));
    r
}

async fn serve_async(engine: Engine, listener: Listener, opts: ServeOptions) -> Result<(), Error> {
    let activity = Activity::new();
    let state = AppState {
        engine,
        activity: activity.clone(),
        attaches: Arc::default(),
    };
    let app = router(state);
    let tls = opts.tls.map(|t| tokio_rustls::TlsAcceptor::from(t.0));
    enum L {
        Unix(tokio::net::UnixListener),
        Tcp(tokio::net::TcpListener),
    }
    let l = match listener {
        Listener::Unix { listener, .. } => {
            listener
                .set_nonblocking(true)
                .map_err(io_err("cannot set the socket non-blocking"))?;
            L::Unix(
                tokio::net::UnixListener::from_std(listener)
                    .map_err(io_err("cannot register the socket"))?,
            )
        }
        Listener::Tcp(t) => {
            t.set_nonblocking(true)
                .map_err(io_err("cannot set the socket non-blocking"))?;
            L::Tcp(
                tokio::net::TcpListener::from_std(t)
                    .map_err(io_err("cannot register the socket"))?,
            )
        }
    };
    let idle = idle_timer(activity.clone(), opts.idle);
    tokio::pin!(idle);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(io_err("cannot catch SIGTERM"))?;
    loop {
        let conn = tokio::select! {
            _ = &mut idle => return Ok(()),
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = term.recv() => return Ok(()),
            c = async {
                match &l {
                    L::Unix(u) => u.accept().await.map(|(s, _)| Conn::Unix(s)),
                    L::Tcp(t) => t.accept().await.map(|(s, _)| Conn::Tcp(s)),
                }
            } => c,
        };
        let conn = match conn {
            Ok(c) => c,
            // EMFILE and the like: try again shortly.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let app = app.clone();
        let activity = activity.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match (conn, tls) {
                (Conn::Unix(s), _) => serve_connection(s, app, activity).await,
                (Conn::Tcp(s), None) => serve_connection(s, app, activity).await,
                // A failed handshake (no client certificate, an unknown
                // CA) ends the connection: the client sees rustls's alert.
                (Conn::Tcp(s), Some(acceptor)) => {
                    let handshake = {
                        let _busy = activity.enter();
                        tokio::time::timeout(TLS_HANDSHAKE, acceptor.accept(s)).await
                    };
                    if let Ok(Ok(s)) = handshake {
                        serve_connection(s, app, activity).await
                    }
                }
            }
        });
    }
}

/// How long a client has to finish the TLS handshake.
const TLS_HANDSHAKE: Duration = Duration::from_secs(10);

enum Conn {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream),
}

/// Resolves once the service has been idle for `limit` (never without one).
async fn idle_timer(activity: Arc<Activity>, limit: Option<Duration>) {
    let Some(limit) = limit else {
        return std::future::pending().await;
    };
    loop {
        let idle = activity.idle_for();
        if idle >= limit {
            return;
        }
        let wait = if idle.is_zero() {
            limit.min(Duration::from_millis(500))
        } else {
            limit - idle
        };
        tokio::time::sleep(wait).await;
    }
}

/// One HTTP/1.1 connection (docker's API; upgrades kept for the hijacked
/// attach and exec streams).
async fn serve_connection<S>(stream: S, app: Router, activity: Arc<Activity>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use tower::ServiceExt;
    let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        let app = app.clone();
        let guard = activity.enter();
        async move {
            let resp = match strip_version(req) {
                Ok(req) => app
                    .oneshot(req.map(Body::new))
                    .await
                    .unwrap_or_else(|e| match e {}),
                Err(e) => axum::response::IntoResponse::into_response(e),
            };
            Ok::<_, std::convert::Infallible>(
                resp.map(|b| Body::new(stream::Guarded::new(b, guard))),
            )
        }
    });
    let io = hyper_util::rt::TokioIo::new(stream);
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, svc)
        .with_upgrades()
        .await;
}

/// `/v1.NN/rest` → `/rest`; a version outside [MIN_API_VERSION,
/// API_VERSION] is refused as docker refuses it.
fn strip_version<B>(mut req: Request<B>) -> Result<Request<B>, ApiError> {
    let path = req.uri().path();
    let Some(rest) = path.strip_prefix("/v") else {
        return Ok(req);
    };
    let (ver, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let Some(v) = parse_version(ver) else {
        return Ok(req);
    };
    let max = parse_version(API_VERSION).unwrap_or((1, 50));
    let min = parse_version(MIN_API_VERSION).unwrap_or((1, 24));
    if v > max {
        return Err(ApiError::bad(format!(
            "client version {ver} is too new. Maximum supported API version is {API_VERSION}"
        )));
    }
    if v < min {
        return Err(ApiError::bad(format!(
            "client version {ver} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
        )));
    }
    let pq = match req.uri().query() {
        Some(q) => format!("{tail}?{q}"),
        None => tail.to_string(),
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = pq.parse().ok();
    if let Ok(u) = Uri::from_parts(parts) {
        *req.uri_mut() = u;
    }
    Ok(req)
}

/// `1.50` → (1, 50).
fn parse_version(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Every route; paths without the version prefix.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(system::routes())
        .merge(containers::routes())
        .merge(images::routes())
        .merge(networks::routes())
        .merge(volumes::routes())
        .merge(attach::routes())
        .merge(exec::routes())
        .merge(build::routes())
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_JSON_BODY))
        .with_state(state)
}

async fn not_found(req: Request<Body>) -> Response<Body> {
    axum::response::IntoResponse::into_response(ApiError::new(
        StatusCode::NOT_FOUND,
        format!("page not found: {} {}", req.method(), req.uri().path()),
    ))
}

/// Runs a blocking engine call on tokio's blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("the engine call failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_prefixes() {
        let r = |p: &str| {
            strip_version(Request::builder().uri(p).body(()).unwrap())
                .map(|r| r.uri().to_string())
                .map_err(|e| e.message)
        };
        assert_eq!(
            r("/v1.50/containers/json?all=1").unwrap(),
            "/containers/json?all=1"
        );
        assert_eq!(r("/v1.24/_ping").unwrap(), "/_ping");
        assert_eq!(r("/_ping").unwrap(), "/_ping");
        assert!(r("/v1.51/_ping").unwrap_err().contains("too new"));
        assert!(r("/v1.12/_ping").unwrap_err().contains("too old"));
        // Not a version: left to the router (a 404).
        assert_eq!(r("/volumes/x").unwrap(), "/volumes/x");
    }

    #[test]
    fn endpoints() {
        assert_eq!(
            Endpoint::parse("unix:///run/x.sock", None).unwrap(),
            Endpoint::Unix("/run/x.sock".into())
        );
        assert!(Endpoint::parse("tcp://127.0.0.1:2375", None).is_ok());
        let e = Endpoint::parse("tcp://0.0.0.0:2375", None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("without TLS") && e.contains("--tlsverify"),
            "{e}"
        );
        assert!(Endpoint::parse("tcp://0.0.0.0:2376", Some(true)).is_ok());
        // --tls without --tlsverify: loopback only.
        assert!(Endpoint::parse("tcp://127.0.0.1:2376", Some(false)).is_ok());
        let e = Endpoint::parse("tcp://0.0.0.0:2376", Some(false)).unwrap_err();
        assert!(e.to_string().contains("--tlsverify"), "{e}");
        let e = Endpoint::parse("unix:///run/x.sock", Some(true)).unwrap_err();
        assert!(e.to_string().contains("tcp://"), "{e}");
        assert!(Endpoint::parse("unix://rel.sock", None).is_err());
        assert!(Endpoint::parse("http://x", None).is_err());
    }
}

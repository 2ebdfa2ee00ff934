//! The HTTP side: one [`Client`] per process (cheap to share between
//! threads) holding connection pools, the scheme chosen for each registry
//! and cached authorization per registry and scope. Requests are retried
//! with exponential backoff on connection failures, resets, 429 and 5xx;
//! a 401 triggers the challenge flow (bearer token or basic) once.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use ureq::http::{Response, StatusCode};
use ureq::{Agent, Body, SendBody};

use crate::auth::{load_credentials, parse_challenge, Challenge, Credentials};
use crate::error::{Error, Result};

/// How a [`Client`] talks to registries.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Verify TLS certificates and require HTTPS (`--tls-verify`). When
    /// false every registry is treated as insecure.
    pub tls_verify: bool,
    /// Registries (`host` or `host:port`) that may use plain HTTP or
    /// unverified TLS. Loopback registries (127.0.0.0/8, ::1, localhost)
    /// always use plain HTTP, as docker does.
    pub insecure_registries: Vec<String>,
    /// Credentials file to read (instead of the standard search list).
    pub auth_file: Option<PathBuf>,
    /// Credentials to use for every registry (`--creds user:pass`).
    pub credentials: Option<Credentials>,
    /// Blobs transferred at once during a pull or push.
    pub max_parallel: usize,
    /// Retries after a transient failure (so `retries + 1` attempts).
    pub retries: u32,
    /// First backoff delay; doubled after each retry (capped at 10 s).
    pub retry_delay: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Longest wait for any single read or write on a connection.
    pub io_timeout: Duration,
    /// Chunk size for chunked (PATCH) uploads; `None` uploads each blob
    /// with one PUT, falling back to chunks if the registry refuses it
    /// as too large.
    pub upload_chunk_size: Option<u64>,
    /// User-Agent header.
    pub user_agent: String,
    /// certs.d directories searched for a registry's `HOST[:PORT]/`
    /// CA certificates and client certificate (see [`crate::tls`]).
    pub certs_dirs: Vec<PathBuf>,
    /// One directory of certificates for every registry (podman's
    /// `--cert-dir`), instead of the certs.d search.
    pub cert_dir: Option<PathBuf>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            tls_verify: true,
            insecure_registries: Vec::new(),
            auth_file: None,
            credentials: None,
            max_parallel: 4,
            retries: 4,
            retry_delay: Duration::from_millis(200),
            connect_timeout: Duration::from_secs(15),
            io_timeout: Duration::from_secs(60),
            upload_chunk_size: None,
            user_agent: format!("berth/{}", env!("CARGO_PKG_VERSION")),
            certs_dirs: crate::tls::default_certs_dirs(),
            cert_dir: None,
        }
    }
}

/// The answer to [`Client::get_url`].
pub struct UrlResponse {
    pub status: u16,
    pub last_modified: Option<String>,
    pub content_disposition: Option<String>,
    pub body: Box<dyn Read + Send>,
}

/// A registry client. Share one between threads.
pub struct Client {
    pub(crate) cfg: ClientConfig,
    secure: Agent,
    insecure: Agent,
    hosts: Mutex<HashMap<String, HostState>>,
    /// Per registry with a certificate directory: an agent that trusts
    /// its CAs (and presents its client certificate); `None`: it has none.
    trusted: Mutex<HashMap<String, Option<Agent>>>,
}

#[derive(Default)]
struct HostState {
    scheme: Option<&'static str>,
    /// Authorization header per scope key; `*` for basic auth.
    auth: HashMap<String, String>,
    /// Credentials as resolved (None inside = looked up, none found).
    creds: Option<Option<Credentials>>,
}

/// Access wanted on a repository (bearer token scope).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scope {
    /// `repository:NAME:ACTIONS` entries.
    pub entries: Vec<String>,
}

impl Scope {
    pub fn pull(repo: &str) -> Scope {
        Scope {
            entries: vec![format!("repository:{repo}:pull")],
        }
    }
    pub fn push(repo: &str) -> Scope {
        Scope {
            entries: vec![format!("repository:{repo}:pull,push")],
        }
    }
    pub fn none() -> Scope {
        Scope {
            entries: Vec::new(),
        }
    }
    fn key(&self) -> String {
        self.entries.join(" ")
    }
}

/// Which registry and repository a request is about.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub host: String,
    pub repo: String,
    pub scope: Scope,
}

impl Target {
    pub fn new(host: &str, repo: &str, scope: Scope) -> Target {
        Target {
            host: host.to_string(),
            repo: repo.to_string(),
            scope,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
}

/// A progress callback for uploads: bytes sent so far.
pub(crate) type SentFn<'a> = &'a (dyn Fn(u64) + Sync);

pub(crate) enum ReqBody<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// `len` bytes of `path` starting at `offset` (reopened on retry).
    File {
        path: &'a Path,
        offset: u64,
        len: u64,
        progress: Option<SentFn<'a>>,
    },
}

pub(crate) struct Req<'a> {
    pub method: Method,
    /// `/v2/...` (relative to the registry) or an absolute URL.
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: ReqBody<'a>,
    /// What this request is, for error messages (`manifest latest`).
    pub what: String,
    /// Sent without credentials and never answers a 401 challenge (a
    /// URL that is not a registry's, as a Dockerfile's ADD names).
    pub anonymous: bool,
}

impl<'a> Req<'a> {
    pub fn new(method: Method, url: impl Into<String>, what: impl Into<String>) -> Req<'a> {
        Req {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: ReqBody::Empty,
            what: what.into(),
            anonymous: false,
        }
    }
    pub fn header(mut self, k: &'static str, v: impl Into<String>) -> Req<'a> {
        self.headers.push((k, v.into()));
        self
    }
    pub fn body(mut self, b: ReqBody<'a>) -> Req<'a> {
        self.body = b;
        self
    }
}

/// Host part of `host[:port]` (IPv6 in brackets).
fn host_only(host: &str) -> &str {
    if host.parse::<IpAddr>().is_ok() {
        return host;
    }
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// Whether `host[:port]` is a loopback address or `localhost`.
pub fn is_loopback(host: &str) -> bool {
    let h = host_only(host);
    if h.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match h.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => a.is_loopback(),
        Ok(IpAddr::V6(a)) => {
            a.is_loopback()
                || a.to_ipv4_mapped()
                    .is_some_and(|v4: Ipv4Addr| v4.is_loopback())
        }
        Err(_) => false,
    }
}

/// Host used in URLs for a registry domain (`docker.io` →
/// `registry-1.docker.io`).
pub(crate) fn endpoint(host: &str) -> &str {
    if host == "docker.io" || host == "index.docker.io" {
        "registry-1.docker.io"
    } else {
        host
    }
}

/// The system trust store: `$SSL_CERT_FILE`, else the first CA bundle
/// found (Debian, Fedora, openSUSE, Alpine). Empty: ureq's own roots.
fn load_system_roots() -> Vec<ureq::tls::Certificate<'static>> {
    let mut files: Vec<PathBuf> = Vec::new();
    if let Some(f) = std::env::var_os("SSL_CERT_FILE") {
        files.push(f.into());
    }
    files.extend(
        [
            "/etc/ssl/certs/ca-certificates.crt",
            "/etc/pki/tls/certs/ca-bundle.crt",
            "/etc/ssl/ca-bundle.pem",
            "/etc/ssl/cert.pem",
        ]
        .map(PathBuf::from),
    );
    for f in files {
        let Ok(pem) = std::fs::read(&f) else { continue };
        let certs: Vec<_> = ureq::tls::parse_pem(&pem)
            .filter_map(|i| match i {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        if !certs.is_empty() {
            return certs;
        }
    }
    Vec::new()
}

/// An agent with `cfg`'s timeouts and buffers; `verify`: check
/// certificates against the system roots and `trust`'s CAs.
fn build_agent(cfg: &ClientConfig, verify: bool, trust: Option<&crate::tls::HostTrust>) -> Agent {
    let mut tls = ureq::tls::TlsConfig::builder().disable_verification(!verify);
    if verify {
        let mut roots: Vec<ureq::tls::Certificate<'static>> = load_system_roots();
        if let Some(t) = trust {
            roots.extend(t.cas.iter().cloned());
        }
        if !roots.is_empty() {
            tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&roots));
        }
    }
    if let Some(c) = trust.and_then(|t| t.client.clone()) {
        tls = tls.client_cert(Some(c));
    }
    Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(tls.build())
        .timeout_connect(Some(cfg.connect_timeout))
        .timeout_per_read(Some(cfg.io_timeout))
        .timeout_per_write(Some(cfg.io_timeout))
        .max_redirects(MAX_REDIRECTS)
        .user_agent(cfg.user_agent.as_str())
        // Blobs are served as is; no transparent decompression.
        .accept_encoding("identity")
        .max_idle_connections_per_host(cfg.max_parallel.max(4) * 2)
        // Large blobs stream through these: fewer, larger socket
        // reads and writes (ureq's default is 128 KiB).
        .input_buffer_size(512 << 10)
        .output_buffer_size(512 << 10)
        .build()
        .new_agent()
}

fn header_str<'r>(resp: &'r Response<Body>, name: &str) -> Option<&'r str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

pub(crate) fn header(resp: &Response<Body>, name: &str) -> Option<String> {
    header_str(resp, name).map(str::to_string)
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}

#[derive(Deserialize)]
struct ErrorEntry {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct TokenBody {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

/// A reader that reports the running total to a callback.
struct Counting<'a, R> {
    inner: R,
    done: u64,
    progress: Option<SentFn<'a>>,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if let Some(p) = self.progress {
            p(self.done);
        }
        Ok(n)
    }
}

impl Client {
    /// Build a client.
    pub fn new(cfg: ClientConfig) -> Result<Client> {
        if cfg.max_parallel == 0 {
            return Err(Error::Config("max_parallel must be at least 1".into()));
        }
        Ok(Client {
            secure: build_agent(&cfg, true, None),
            insecure: build_agent(&cfg, false, None),
            cfg,
            hosts: Mutex::new(HashMap::new()),
            trusted: Mutex::new(HashMap::new()),
        })
    }

    /// A plain GET of `url` outside any registry protocol (a Dockerfile's
    /// `ADD https://…`), with this client's transport, TLS settings and
    /// retries: the status, the `Last-Modified` and `Content-Disposition`
    /// headers, and the body.
    pub fn get_url(&self, url: &str) -> Result<UrlResponse> {
        let host = url
            .split("://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap_or("")
            .to_string();
        let t = Target::new(&host, "", Scope::none());
        // Credentials belong to registries: a Dockerfile's URL (which the
        // image's author picks) gets none, even on a registry's host.
        let mut req = Req::new(Method::Get, url, format!("GET {url}"));
        req.anonymous = true;
        let resp = self.send(&t, &req)?;
        Ok(UrlResponse {
            status: resp.status().as_u16(),
            last_modified: header(&resp, "last-modified"),
            content_disposition: header(&resp, "content-disposition"),
            body: Box::new(resp.into_body().into_reader()),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    fn is_insecure(&self, host: &str) -> bool {
        !self.cfg.tls_verify
            || self
                .cfg
                .insecure_registries
                .iter()
                .any(|r| r == host || r == host_only(host))
    }

    /// The agent for a request to `url`: certificates are not checked
    /// for an insecure registry; a registry with a certificate directory
    /// has its own agent.
    fn agent_for(&self, url: &str) -> Result<Agent> {
        let host = url
            .split("://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap_or("");
        if !url.starts_with("https://") {
            // Plain HTTP: no TLS involved.
            return Ok(self.secure.clone());
        }
        if self.is_insecure(host) {
            return Ok(self.insecure.clone());
        }
        Ok(self
            .trusted_agent(host)?
            .unwrap_or_else(|| self.secure.clone()))
    }

    /// The agent trusting `host`'s certificate directory, if it has one
    /// (read once per client).
    fn trusted_agent(&self, host: &str) -> Result<Option<Agent>> {
        let mut g = self.trusted.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(a) = g.get(host) {
            return Ok(a.clone());
        }
        let agent =
            match crate::tls::host_dir(&self.cfg.certs_dirs, self.cfg.cert_dir.as_deref(), host) {
                None => None,
                Some(dir) => {
                    let trust = crate::tls::read_host_dir(&dir)?;
                    Some(build_agent(&self.cfg, true, Some(&trust)))
                }
            };
        g.insert(host.to_string(), agent.clone());
        Ok(agent)
    }

    /// Whether `host` has a certificate directory (so speaks HTTPS).
    fn has_cert_dir(&self, host: &str) -> bool {
        crate::tls::host_dir(&self.cfg.certs_dirs, self.cfg.cert_dir.as_deref(), host).is_some()
    }

    fn with_host<T>(&self, host: &str, f: impl FnOnce(&mut HostState) -> T) -> T {
        let mut g = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        f(g.entry(host.to_string()).or_default())
    }

    /// Credentials for a registry: the configured override, else the
    /// auth files (looked up once per client).
    pub(crate) fn credentials(&self, host: &str) -> Result<Option<Credentials>> {
        if let Some(c) = &self.cfg.credentials {
            return Ok(Some(c.clone()));
        }
        if let Some(c) = self.with_host(host, |h| h.creds.clone()) {
            return Ok(c);
        }
        let c = load_credentials(host, self.cfg.auth_file.as_deref())?;
        self.with_host(host, |h| h.creds = Some(c.clone()));
        Ok(c)
    }

    /// Use these credentials for `host` from now on (login).
    pub fn set_credentials(&self, host: &str, c: Option<Credentials>) {
        self.with_host(host, |h| {
            h.creds = Some(c);
            h.auth.clear();
        });
    }

    /// `https://endpoint` or `http://endpoint`.
    pub(crate) fn base_url(&self, host: &str) -> Result<String> {
        if let Some(s) = self.with_host(host, |h| h.scheme) {
            return Ok(format!("{s}://{}", endpoint(host)));
        }
        // A registry with a certificate directory speaks HTTPS; a
        // loopback one plain HTTP (as docker); an insecure one whichever
        // it answers (HTTPS unverified first); any other HTTPS.
        let scheme = if self.is_insecure(host) {
            self.probe_scheme(host)
        } else if self.has_cert_dir(host) {
            "https"
        } else if is_loopback(host) {
            "http"
        } else {
            "https"
        };
        self.with_host(host, |h| h.scheme = Some(scheme));
        Ok(format!("{scheme}://{}", endpoint(host)))
    }

    /// For an insecure registry: HTTPS (unverified) if it speaks TLS,
    /// else plain HTTP.
    fn probe_scheme(&self, host: &str) -> &'static str {
        let url = format!("https://{}/v2/", endpoint(host));
        match self.insecure.get(&url).call() {
            Ok(_) => "https",
            Err(ureq::Error::Io(e)) if e.kind() == io::ErrorKind::ConnectionRefused => "https",
            Err(ureq::Error::HostNotFound) => "https",
            Err(_) => {
                let url = format!("http://{}/v2/", endpoint(host));
                match self.insecure.get(&url).call() {
                    Ok(_) => "http",
                    Err(_) => "https",
                }
            }
        }
    }

    fn backoff(&self, attempt: u32, retry_after: Option<&str>) -> Duration {
        let cap = Duration::from_secs(10);
        if let Some(secs) = retry_after.and_then(|v| v.trim().parse::<u64>().ok()) {
            return Duration::from_secs(secs).min(cap);
        }
        self.cfg
            .retry_delay
            .saturating_mul(1u32 << attempt.min(16))
            .min(cap)
    }

    /// Send a request with retries and authentication. Any HTTP status is
    /// returned as a response; only transport failures are errors.
    pub(crate) fn send(&self, t: &Target, req: &Req<'_>) -> Result<Response<Body>> {
        let url = if req.url.starts_with("http://") || req.url.starts_with("https://") {
            req.url.clone()
        } else {
            format!("{}{}", self.base_url(&t.host)?, req.url)
        };
        let agent = self.agent_for(&url)?;
        let agent = &agent;
        let mut reauthed = false;
        let mut attempt = 0u32;
        loop {
            let auth = if req.anonymous {
                None
            } else {
                self.cached_auth(t)
            };
            match self.send_once(agent, &url, req, auth.as_deref()) {
                Err(e) => {
                    let (transient, err) = classify(e, &t.host, &req.what);
                    if transient && attempt < self.cfg.retries {
                        std::thread::sleep(self.backoff(attempt, None));
                        attempt += 1;
                        continue;
                    }
                    return Err(err);
                }
                Ok(resp) => {
                    let st = resp.status().as_u16();
                    if st == 401 && !reauthed && !req.anonymous {
                        let challenges: Vec<String> = resp
                            .headers()
                            .get_all("www-authenticate")
                            .iter()
                            .filter_map(|v| v.to_str().ok().map(str::to_string))
                            .collect();
                        if self.authenticate(t, &challenges, auth.as_deref())? {
                            reauthed = true;
                            continue;
                        }
                        return Ok(resp);
                    }
                    if (st == 429 || (st >= 500 && st != 501 && st != 505))
                        && attempt < self.cfg.retries
                    {
                        let ra = header(&resp, "retry-after");
                        std::thread::sleep(self.backoff(attempt, ra.as_deref()));
                        attempt += 1;
                        continue;
                    }
                    return Ok(resp);
                }
            }
        }
    }

    fn send_once(
        &self,
        agent: &Agent,
        url: &str,
        req: &Req<'_>,
        auth: Option<&str>,
    ) -> std::result::Result<Response<Body>, ureq::Error> {
        macro_rules! with_headers {
            ($rb:expr) => {{
                let mut rb = $rb;
                for (k, v) in &req.headers {
                    rb = rb.header(*k, v.as_str());
                }
                if let Some(a) = auth {
                    rb = rb.header("Authorization", a);
                }
                rb
            }};
        }
        let send = |rb: ureq::RequestBuilder<ureq::typestate::WithBody>| match &req.body {
            ReqBody::Empty => rb.send(&[][..]),
            ReqBody::Bytes(b) => rb.send(*b),
            ReqBody::File {
                path,
                offset,
                len,
                progress,
            } => {
                let mut f = File::open(path)?;
                f.seek(SeekFrom::Start(*offset))?;
                let mut reader = Counting {
                    inner: f.take(*len),
                    done: 0,
                    progress: *progress,
                };
                rb.header("Content-Length", len.to_string())
                    .send(SendBody::from_reader(&mut reader))
            }
        };
        match req.method {
            Method::Get => with_headers!(agent.get(url)).call(),
            Method::Head => with_headers!(agent.head(url)).call(),
            Method::Post => send(with_headers!(agent.post(url))),
            Method::Put => send(with_headers!(agent.put(url))),
            Method::Patch => send(with_headers!(agent.patch(url))),
        }
    }

    fn cached_auth(&self, t: &Target) -> Option<String> {
        let key = t.scope.key();
        self.with_host(&t.host, |h| {
            h.auth.get(&key).or_else(|| h.auth.get("*")).cloned()
        })
    }

    /// Answer a 401's challenges; `Ok(true)` if there is something new to
    /// try.
    fn authenticate(&self, t: &Target, challenges: &[String], sent: Option<&str>) -> Result<bool> {
        // Another thread may have authenticated meanwhile: use its answer.
        if let Some(current) = self.cached_auth(t) {
            if sent != Some(current.as_str()) {
                return Ok(true);
            }
        }
        let parsed: Vec<Challenge> = challenges
            .iter()
            .filter_map(|c| parse_challenge(c))
            .collect();
        let creds = self.credentials(&t.host)?;
        if let Some(Challenge::Bearer {
            realm,
            service,
            scope,
        }) = parsed
            .iter()
            .find(|c| matches!(c, Challenge::Bearer { .. }))
        {
            let token = self.fetch_token(
                t,
                realm,
                service.as_deref(),
                scope.as_deref(),
                creds.as_ref(),
            )?;
            let key = t.scope.key();
            self.with_host(&t.host, |h| {
                h.auth.insert(key, format!("Bearer {token}"));
            });
            return Ok(true);
        }
        if parsed.contains(&Challenge::Basic) {
            if let Some(c) = creds {
                let value = c.basic_header();
                if sent == Some(value.as_str()) {
                    return Ok(false); // these very credentials were refused
                }
                self.with_host(&t.host, |h| h.auth.insert("*".into(), value));
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn fetch_token(
        &self,
        t: &Target,
        realm: &str,
        service: Option<&str>,
        challenge_scope: Option<&str>,
        creds: Option<&Credentials>,
    ) -> Result<String> {
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(s) = service {
            query.push(("service", s));
        }
        let mut scopes: Vec<&str> = t.scope.entries.iter().map(String::as_str).collect();
        if scopes.is_empty() {
            if let Some(s) = challenge_scope {
                scopes.push(s);
            }
        }
        for s in &scopes {
            query.push(("scope", s));
        }
        let agent = self.agent_for(realm)?;
        let mut attempt = 0;
        loop {
            let mut rb = agent.get(realm);
            for (k, v) in &query {
                rb = rb.query(*k, *v);
            }
            if let Some(c) = creds {
                rb = rb.header("Authorization", c.basic_header());
            }
            let auth_err = |reason: String| Error::Auth {
                registry: t.host.clone(),
                reason,
            };
            match rb.call() {
                Err(e) => {
                    let (transient, err) = classify(e, &t.host, &format!("token service {realm}"));
                    if transient && attempt < self.cfg.retries {
                        std::thread::sleep(self.backoff(attempt, None));
                        attempt += 1;
                        continue;
                    }
                    return Err(err);
                }
                Ok(mut resp) => {
                    let st = resp.status().as_u16();
                    if (st == 429 || st >= 500) && attempt < self.cfg.retries {
                        std::thread::sleep(self.backoff(attempt, None));
                        attempt += 1;
                        continue;
                    }
                    if st == 401 || st == 403 {
                        return Err(auth_err(match creds {
                            Some(c) => format!(
                                "token service {realm} rejected the credentials of user {:?} (HTTP {st})",
                                c.username
                            ),
                            None => format!(
                                "token service {realm} refused anonymous access (HTTP {st}); log in first"
                            ),
                        }));
                    }
                    if st != 200 {
                        return Err(auth_err(format!(
                            "token service {realm}: HTTP {st}{}",
                            error_detail(&mut resp)
                                .map(|(c, m)| format!(
                                    " {}{}",
                                    c.unwrap_or_default(),
                                    m.map(|m| format!(": {m}")).unwrap_or_default()
                                ))
                                .unwrap_or_default()
                        )));
                    }
                    let body = resp
                        .body_mut()
                        .with_config()
                        .limit(1 << 20)
                        .read_to_vec()
                        .map_err(|e| auth_err(format!("token service {realm}: {e}")))?;
                    let tb: TokenBody = serde_json::from_slice(&body).map_err(|e| {
                        auth_err(format!("token service {realm}: invalid JSON: {e}"))
                    })?;
                    return tb
                        .token
                        .or(tb.access_token)
                        .filter(|s| !s.is_empty())
                        .ok_or_else(|| {
                            auth_err(format!("token service {realm} returned no token"))
                        });
                }
            }
        }
    }

    /// Turn a non-success response into an error naming what failed, the
    /// status and the registry's error code and message.
    pub(crate) fn status_error(&self, t: &Target, what: &str, mut resp: Response<Body>) -> Error {
        let status = resp.status().as_u16();
        let (code, mut message) = error_detail(&mut resp).unwrap_or((None, None));
        if status == 401 {
            let hint = match self.credentials(&t.host) {
                Ok(Some(c)) => format!(
                    "credentials of user {:?} for {} were rejected",
                    c.username, t.host
                ),
                _ => format!(
                    "authentication required (no credentials for {}; log in first)",
                    t.host
                ),
            };
            message = Some(match message {
                Some(m) => format!("{m}: {hint}"),
                None => hint,
            });
        }
        Error::Status {
            registry: t.host.clone(),
            repository: t.repo.clone(),
            what: what.to_string(),
            status,
            code,
            message,
        }
    }
}

/// Code and message from a registry error body (JSON, or short text).
fn error_detail(resp: &mut Response<Body>) -> Option<(Option<String>, Option<String>)> {
    let body = resp
        .body_mut()
        .with_config()
        .limit(64 << 10)
        .read_to_vec()
        .ok()?;
    if let Ok(eb) = serde_json::from_slice::<ErrorBody>(&body) {
        if !eb.errors.is_empty() {
            let codes: Vec<String> = eb.errors.iter().filter_map(|e| e.code.clone()).collect();
            let msgs: Vec<String> = eb
                .errors
                .iter()
                .filter_map(|e| e.message.clone())
                .filter(|m| !m.is_empty())
                .collect();
            return Some((
                (!codes.is_empty()).then(|| codes.join(", ")),
                (!msgs.is_empty()).then(|| msgs.join("; ")),
            ));
        }
    }
    let text = String::from_utf8_lossy(&body);
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() || line.starts_with('<') {
        return Some((None, None));
    }
    let mut line: String = line.chars().take(200).collect();
    if text.len() > line.len() + 1 {
        line.push('…');
    }
    Some((None, Some(line)))
}

/// (transient?, error) for a transport failure.
pub(crate) fn classify(e: ureq::Error, host: &str, what: &str) -> (bool, Error) {
    let unreachable = |reason: String| Error::Unreachable {
        registry: host.to_string(),
        reason,
    };
    let transport = |reason: String| Error::Transport {
        registry: host.to_string(),
        what: what.to_string(),
        reason,
    };
    let refused = |reason: String| Error::Refused {
        registry: host.to_string(),
        what: what.to_string(),
        reason,
    };
    match e {
        ureq::Error::Io(io) => match tls_problem(&io, host) {
            Some(reason) => (false, refused(reason)),
            None => io_error(io, host, what),
        },
        ureq::Error::TooManyRedirects => (
            false,
            refused(format!(
                "redirect loop: more than {MAX_REDIRECTS} redirects"
            )),
        ),
        ureq::Error::RedirectFailed => (
            false,
            refused("redirect failed (no usable Location)".into()),
        ),
        ureq::Error::Tls(m) => (false, refused(format!("TLS: {m}"))),
        ureq::Error::HostNotFound => (false, unreachable("host not found".into())),
        ureq::Error::ConnectionFailed => (true, unreachable("connection failed".into())),
        ureq::Error::Timeout(t) => (true, unreachable(format!("timeout ({t})"))),
        ureq::Error::Protocol(p) => (false, transport(format!("HTTP protocol error: {p}"))),
        other => (false, transport(other.to_string())),
    }
}

/// Redirects followed before a request is given up as a loop.
pub(crate) const MAX_REDIRECTS: u32 = 10;

/// A TLS failure (rustls reports them as `InvalidData` I/O errors), said
/// plainly with what to do about it; `None` for other I/O errors.
fn tls_problem(io: &io::Error, host: &str) -> Option<String> {
    if io.kind() != io::ErrorKind::InvalidData {
        return None;
    }
    let msg = io.to_string();
    let hint = format!(
        "trust its CA in {d}/{host}/ca.crt or {d2}/{host}/ca.crt, or use --tls-verify=false",
        d = crate::tls::CONTAINERS_CERTS_D,
        d2 = crate::tls::DOCKER_CERTS_D,
    );
    if msg.contains("UnknownIssuer") {
        return Some(format!(
            "TLS: certificate signed by unknown authority ({hint})"
        ));
    }
    if let Some(rest) = msg.strip_prefix("invalid peer certificate: ") {
        return Some(format!("TLS: invalid certificate: {rest}"));
    }
    if msg.contains("corrupt message") || msg.contains("InvalidContentType") {
        return Some(
            "TLS handshake failed: the server does not speak TLS (a plain HTTP registry needs --tls-verify=false or an insecure registries entry)".into(),
        );
    }
    if msg.contains("alert: CertificateRequired") || msg.contains("alert: BadCertificate") {
        return Some(format!(
            "TLS handshake failed: {msg}: the registry wants a client certificate it accepts (client.cert and client.key in {}/{host}/)",
            crate::tls::CONTAINERS_CERTS_D
        ));
    }
    if msg.starts_with("received fatal alert")
        || msg.starts_with("peer is incompatible")
        || msg.starts_with("peer misbehaved")
        || msg.starts_with("peer sent no certificates")
    {
        return Some(format!("TLS handshake failed: {msg}"));
    }
    None
}

/// (transient?, error) for an I/O error during a request.
pub(crate) fn io_error(io: io::Error, host: &str, what: &str) -> (bool, Error) {
    use io::ErrorKind::*;
    let kind = io.kind();
    let reason = match kind {
        ConnectionRefused => "connection refused".to_string(),
        ConnectionReset => "connection reset by peer".to_string(),
        ConnectionAborted => "connection aborted".to_string(),
        TimedOut => "timed out".to_string(),
        UnexpectedEof => "connection closed early".to_string(),
        _ => io.to_string(),
    };
    match kind {
        ConnectionRefused | NotConnected | AddrNotAvailable | HostUnreachable
        | NetworkUnreachable => (
            true,
            Error::Unreachable {
                registry: host.to_string(),
                reason,
            },
        ),
        _ => (
            matches!(
                kind,
                ConnectionReset
                    | ConnectionAborted
                    | TimedOut
                    | UnexpectedEof
                    | BrokenPipe
                    | Interrupted
                    | WouldBlock
            ),
            Error::Transport {
                registry: host.to_string(),
                what: what.to_string(),
                reason,
            },
        ),
    }
}

/// Whether a response status is success (2xx).
pub(crate) fn ok(resp: &Response<Body>) -> bool {
    resp.status().is_success()
}

/// Whether a response is 404.
pub(crate) fn not_found(resp: &Response<Body>) -> bool {
    resp.status() == StatusCode::NOT_FOUND
}

/// Shared handle so a client can be used from scoped threads and stored.
pub type SharedClient = Arc<Client>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection() {
        for h in [
            "127.0.0.1:5000",
            "127.1.2.3",
            "localhost",
            "localhost:5000",
            "[::1]:5000",
            "::1",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "10.0.0.1:5000",
            "docker.io",
            "registry.example:443",
            "[fe80::1]:80",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
        assert_eq!(endpoint("docker.io"), "registry-1.docker.io");
        assert_eq!(endpoint("quay.io"), "quay.io");
    }

    #[test]
    fn schemes() {
        let c = Client::new(ClientConfig {
            insecure_registries: vec!["insecure.example".into()],
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            c.base_url("127.0.0.1:5000").unwrap(),
            "http://127.0.0.1:5000"
        );
        assert_eq!(c.base_url("localhost").unwrap(), "http://localhost");
        assert_eq!(c.base_url("quay.io").unwrap(), "https://quay.io");
        assert_eq!(
            c.base_url("docker.io").unwrap(),
            "https://registry-1.docker.io"
        );
        assert!(c.is_insecure("insecure.example:5000"));
        assert!(!c.is_insecure("quay.io"));
    }
}

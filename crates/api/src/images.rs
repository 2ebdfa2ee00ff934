//! Image endpoints: list, inspect, create (pull with docker's JSON
//! progress stream, or import from the body), push (X-Registry-Auth), tag,
//! remove, history, get (save), load, prune.
//!
//! Image names hold slashes (`localhost:5000/a/b`): `/images/{*rest}`
//! routes on the last path element (`json`, `history`, `push`, `tag`,
//! `get`).

use std::sync::Mutex;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Response, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{json, Value};

use crate::params::Params;
use crate::stream::json_stream;
use crate::stream::{spawn_writer, BodyReader, ChannelWriter};
use crate::{blocking, ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/images/json", get(list))
        .route("/images/create", post(create))
        .route("/images/load", post(load))
        .route("/images/prune", post(prune))
        .route("/images/get", get(save_many))
        .route("/distribution/{*rest}", get(distribution))
        .route(
            "/images/{*rest}",
            get(by_name).post(by_name).delete(by_name),
        )
}

async fn list(
    State(s): State<AppState>,
    p: Params,
) -> Result<Json<Vec<engine::images::ImageSummary>>, ApiError> {
    let filters = p.filters()?;
    let eng = s.engine.clone();
    blocking(move || Ok(engine::images::list(eng.images(), &filters)?))
        .await
        .map(Json)
}

/// `/images/NAME/VERB` and `DELETE /images/NAME`.
async fn by_name(
    State(s): State<AppState>,
    method: Method,
    Path(rest): Path<String>,
    headers: HeaderMap,
    p: Params,
) -> Result<Response<Body>, ApiError> {
    let (name, verb) = match rest.rsplit_once('/') {
        Some((n, v)) if method != Method::DELETE => (n.to_string(), v),
        _ => (rest.clone(), ""),
    };
    match (method.as_str(), verb) {
        ("GET", "json") => inspect(s, name).await,
        ("GET", "history") => history(s, name).await,
        ("GET", "get") => save(s, vec![name]).await,
        ("POST", "push") => push(s, name, &headers, &p).await,
        ("POST", "tag") => tag(s, name, &p).await,
        ("DELETE", "") => remove(s, name, &p).await,
        _ => Err(ApiError::not_found(format!(
            "page not found: {method} /images/{rest}"
        ))),
    }
}

async fn inspect(s: AppState, name: String) -> Result<Response<Body>, ApiError> {
    let eng = s.engine.clone();
    let v = blocking(move || Ok(engine::images::inspect(eng.images(), &name)?)).await?;
    Ok(Json(v).into_response())
}

async fn history(s: AppState, name: String) -> Result<Response<Body>, ApiError> {
    let eng = s.engine.clone();
    let v = blocking(move || {
        Ok(eng.history(&engine::history::HistoryRequest {
            image: name,
            platform: None,
        })?)
    })
    .await?;
    Ok(Json(v).into_response())
}

async fn tag(s: AppState, name: String, p: &Params) -> Result<Response<Body>, ApiError> {
    let repo = p
        .str("repo")
        .ok_or_else(|| ApiError::bad("invalid repo \"\": a repository is required"))?;
    let target = match p.str("tag") {
        Some(t) => format!("{repo}:{t}"),
        None => repo,
    };
    let eng = s.engine.clone();
    blocking(move || Ok(engine::images::tag(eng.images(), &name, &target)?)).await?;
    Ok(StatusCode::CREATED.into_response())
}

async fn remove(s: AppState, name: String, p: &Params) -> Result<Response<Body>, ApiError> {
    let (force, noprune) = (p.bool("force"), p.bool("noprune"));
    let eng = s.engine.clone();
    let items = blocking(move || {
        let mut r =
            engine::images::remove(eng.images(), std::slice::from_ref(&name), force, noprune)?;
        let mut items = match r.results.pop() {
            Some((_, res)) => res?,
            None => Vec::new(),
        };
        items.extend(r.collected);
        Ok(items)
    })
    .await?;
    Ok(Json(items).into_response())
}

async fn prune(State(s): State<AppState>, p: Params) -> Result<Response<Body>, ApiError> {
    let filters = p.filters()?;
    let eng = s.engine.clone();
    let r = blocking(move || Ok(engine::images::prune(eng.images(), &filters)?)).await?;
    Ok(Json(r).into_response())
}

/// `GET /images/get?names=a&names=b`.
async fn save_many(State(s): State<AppState>, p: Params) -> Result<Response<Body>, ApiError> {
    let names: Vec<String> =
        p.0.iter()
            .filter(|(k, _)| k == "names")
            .map(|(_, v)| v.clone())
            .collect();
    save(s, names).await
}

/// A docker-archive of the images (every name checked first: a typo is a
/// 404, not a truncated archive).
async fn save(s: AppState, names: Vec<String>) -> Result<Response<Body>, ApiError> {
    if names.is_empty() {
        return Err(ApiError::bad(
            "invalid names: at least one image is required",
        ));
    }
    let eng = s.engine.clone();
    let checked = names.clone();
    blocking(move || {
        for n in &checked {
            eng.images().resolve(n)?;
        }
        Ok(())
    })
    .await?;
    let eng = s.engine.clone();
    let body = spawn_writer(move |w| {
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let _ = eng.images().save(
            &refs,
            image::ArchiveFormat::Docker,
            std::io::BufWriter::with_capacity(1 << 20, w),
        );
    });
    let mut r = Response::new(body);
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/x-tar"),
    );
    Ok(r)
}

/// One JSON line of a progress stream.
fn send_line(w: &ChannelWriter, v: Value) -> bool {
    w.send(format!("{v}\n").into()).is_ok()
}

/// docker's error line, which its clients report as the command's error.
fn error_line(w: &ChannelWriter, msg: &str) {
    send_line(w, json!({"errorDetail": {"message": msg}, "error": msg}));
}

/// `POST /images/load?quiet=`: `{"stream":"Loaded image: x\n"}` lines.
async fn load(State(s): State<AppState>, body: Body) -> Result<Response<Body>, ApiError> {
    let eng = s.engine.clone();
    let input = BodyReader::new(body);
    let out = spawn_writer(move |w| {
        let store = eng.images();
        let r = store
            .load(std::io::BufReader::with_capacity(1 << 20, input))
            .and_then(|recs| {
                let mut lines = Vec::new();
                for rec in recs {
                    store.prepare_rootfs(&rec)?;
                    let info = store.resolve(&rec.id.to_string())?;
                    if info.repo_tags.is_empty() {
                        lines.push(format!("Loaded image ID: {}", rec.id));
                    }
                    for t in &info.repo_tags {
                        lines.push(format!("Loaded image: {}", t.familiar()));
                    }
                }
                Ok(lines)
            });
        match r {
            Ok(lines) => {
                for l in lines {
                    send_line(&w, json!({"stream": format!("{l}\n")}));
                }
            }
            Err(image::Error::Archive(m)) => error_line(&w, &format!("invalid archive: {m}")),
            Err(e) => error_line(&w, &crate::error::image_error(&e).message),
        }
    });
    Ok(json_stream(out))
}

/// `X-Registry-Auth`: base64url JSON credentials (empty or `{}`: none).
fn registry_auth(headers: &HeaderMap) -> Result<Option<registry::Credentials>, ApiError> {
    let Some(h) = headers.get("x-registry-auth") else {
        return Ok(None);
    };
    let s = h.to_str().unwrap_or("").trim();
    if s.is_empty() {
        return Ok(None);
    }
    let bytes = base64::engine::general_purpose::URL_SAFE
        .decode(s)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s))
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(s))
        .map_err(|e| ApiError::bad(format!("invalid X-Registry-Auth header: {e}")))?;
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad(format!("invalid X-Registry-Auth header: {e}")))?;
    let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let (user, pass, token) = (field("username"), field("password"), field("identitytoken"));
    if !token.is_empty() {
        return Ok(Some(registry::Credentials::new("<token>", token)));
    }
    if user.is_empty() {
        return Ok(None);
    }
    Ok(Some(registry::Credentials::new(user, pass)))
}

/// A registry client (registries.conf's insecure registries) with the
/// request's credentials for `r`'s registry.
pub(crate) fn client_for(
    r: &image::Reference,
    creds: Option<registry::Credentials>,
) -> Result<registry::Client, ApiError> {
    let (client, _warning) = registry::service::client(&registry::RegistryOptions::default())?;
    if let Some(c) = creds {
        client.set_credentials(r.domain(), Some(c));
    }
    Ok(client)
}

/// Progress as docker's JSON lines: `{"status":"Downloading",
/// "progressDetail":{"current":N,"total":M},"id":"<short digest>"}`.
struct JsonProgress {
    w: ChannelWriter,
    /// The last state sent per layer (bytes lines only while transferring).
    states: Mutex<std::collections::HashMap<String, registry::LayerState>>,
}

fn short(d: &image::Digest) -> String {
    d.hex().chars().take(12).collect()
}

impl registry::Progress for JsonProgress {
    fn layer(&self, digest: &image::Digest, _size: u64, state: registry::LayerState) {
        let id = short(digest);
        if let Ok(mut m) = self.states.lock() {
            m.insert(id.clone(), state);
        }
        send_line(
            &self.w,
            json!({"status": state.docker_text(), "progressDetail": {}, "id": id}),
        );
    }

    fn bytes(&self, digest: &image::Digest, done: u64, total: u64) {
        let id = short(digest);
        let state = self
            .states
            .lock()
            .ok()
            .and_then(|m| m.get(&id).copied())
            .unwrap_or(registry::LayerState::Downloading);
        send_line(
            &self.w,
            json!({
                "status": state.docker_text(),
                "progressDetail": {"current": done, "total": total},
                "id": id,
            }),
        );
    }

    fn note(&self, line: &str) {
        send_line(&self.w, json!({ "status": line }));
    }
}

/// `POST /images/create`: `fromImage` (+ `tag`, `platform`) pulls;
/// `fromSrc=-` imports the body (`repo`, `tag`, `changes`, `message`).
async fn create(
    State(s): State<AppState>,
    headers: HeaderMap,
    p: Params,
    body: Body,
) -> Result<Response<Body>, ApiError> {
    if let Some(src) = p.str("fromSrc") {
        return import(s, &p, &src, body).await;
    }
    let from = p
        .str("fromImage")
        .ok_or_else(|| ApiError::bad("invalid fromImage \"\": an image or fromSrc is required"))?;
    let name = match p.str("tag") {
        Some(t) if t.starts_with("sha256:") => format!("{from}@{t}"),
        Some(t) => format!("{from}:{t}"),
        None => from,
    };
    let r = image::Reference::parse(&name)?;
    let platform = match p.str("platform") {
        None => image::Platform::host(),
        Some(pl) => image::Platform::parse(&pl).map_err(|_| {
            ApiError::bad(format!(
                "invalid platform {pl:?}: expected os/arch[/variant], e.g. linux/amd64"
            ))
        })?,
    };
    let client = client_for(&r, registry_auth(&headers)?)?;
    let eng = s.engine.clone();
    let body = spawn_writer(move |w| {
        let pulling = registry::service::pulling_line(&r);
        let (id, status) = pulling.split_once(": ").unwrap_or(("", &pulling));
        send_line(&w, json!({"status": status, "id": id}));
        let progress = JsonProgress {
            w: w.clone(),
            states: Mutex::default(),
        };
        match client.pull_image(eng.images(), &r, &platform, &progress) {
            Ok(rep) => {
                send_line(&w, json!({"status": format!("Digest: {}", rep.digest)}));
                send_line(&w, json!({ "status": rep.status(&r) }));
            }
            Err(e) => error_line(&w, &ApiError::from(e).message),
        }
    });
    Ok(json_stream(body))
}

async fn import(
    s: AppState,
    p: &Params,
    src: &str,
    body: Body,
) -> Result<Response<Body>, ApiError> {
    if src != "-" {
        return Err(ApiError::bad(format!(
            "invalid fromSrc {src:?}: importing from a URL is not supported; send the archive in the body (fromSrc=-)"
        )));
    }
    let mut opts = image::ImportOptions::default();
    for (k, v) in &p.0 {
        if k == "changes" {
            opts.apply_change(v)
                .map_err(|e| ApiError::bad(format!("invalid changes {v:?}: {e}")))?;
        }
    }
    opts.comment = p.str("message");
    if let Some(pl) = p.str("platform") {
        opts.platform = Some(image::Platform::parse(&pl).map_err(|_| {
            ApiError::bad(format!(
                "invalid platform {pl:?}: expected os/arch[/variant]"
            ))
        })?);
    }
    opts.created = Some(berth_util::time::format(std::time::SystemTime::now()));
    let names = match p.str("repo") {
        Some(repo) => {
            let n = match p.str("tag") {
                Some(t) => format!("{repo}:{t}"),
                None => repo,
            };
            vec![image::Reference::parse(&n)?]
        }
        None => Vec::new(),
    };
    let eng = s.engine.clone();
    let input = BodyReader::new(body);
    let out = spawn_writer(move |w| {
        let store = eng.images();
        let r = store
            .import(
                std::io::BufReader::with_capacity(1 << 20, input),
                &opts,
                &names,
            )
            .and_then(|rec| store.prepare_rootfs(&rec).map(|_| rec));
        match r {
            Ok(rec) => {
                send_line(&w, json!({"status": rec.id.to_string()}));
            }
            Err(image::Error::Archive(m)) => error_line(&w, &format!("import: {m}")),
            Err(e) => error_line(&w, &crate::error::image_error(&e).message),
        }
    });
    Ok(json_stream(out))
}

/// `POST /images/NAME/push?tag=`: docker's progress lines, then
/// `{"status":"latest: digest: sha256:… size: N"}` and the `aux` digest.
async fn push(
    s: AppState,
    name: String,
    headers: &HeaderMap,
    p: &Params,
) -> Result<Response<Body>, ApiError> {
    let full = match p.str("tag") {
        Some(t) => format!("{name}:{t}"),
        None => name.clone(),
    };
    let dest = image::Reference::parse(&full)?;
    let client = client_for(&dest, registry_auth(headers)?)?;
    let eng = s.engine.clone();
    // A missing image is a 404 before the stream starts.
    let check = full.clone();
    blocking(move || Ok(eng.images().resolve(&check).map(|_| ())?)).await?;
    let eng = s.engine.clone();
    let body = spawn_writer(move |w| {
        send_line(
            &w,
            json!({"status": format!("The push refers to repository [{}]", dest.repository())}),
        );
        let progress = JsonProgress {
            w: w.clone(),
            states: Mutex::default(),
        };
        match client.push_local(eng.images(), &full, &dest, None, &progress) {
            Ok(rep) => {
                send_line(&w, json!({ "status": rep.status(&dest) }));
                let tag = dest.tag().unwrap_or("latest").to_string();
                send_line(
                    &w,
                    json!({"progressDetail": {}, "aux": {"Tag": tag, "Digest": rep.digest.to_string(), "Size": rep.size}}),
                );
            }
            Err(e) => error_line(&w, &ApiError::from(e).message),
        }
    });
    Ok(json_stream(body))
}

/// `GET /distribution/NAME/json`: the registry's descriptor of NAME's
/// manifest (or index) and, for an index, its platforms.
async fn distribution(
    Path(rest): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let name = rest
        .strip_suffix("/json")
        .ok_or_else(|| ApiError::not_found(format!("page not found: GET /distribution/{rest}")))?;
    let r = image::Reference::parse(name)?;
    let client = client_for(&r, registry_auth(&headers)?)?;
    blocking(move || {
        let m = client.fetch_manifest(&r)?;
        let doc: Value = serde_json::from_slice(&m.bytes).unwrap_or(Value::Null);
        let media_type = m
            .content_type
            .clone()
            .or_else(|| doc["mediaType"].as_str().map(str::to_string))
            .unwrap_or_default();
        let platforms: Vec<Value> = doc["manifests"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|d| d.get("platform").cloned())
                    .collect()
            })
            .unwrap_or_default();
        Ok(Json(json!({
            "Descriptor": {
                "mediaType": media_type,
                "digest": m.digest.to_string(),
                "size": m.bytes.len(),
            },
            "Platforms": platforms,
        })))
    })
    .await
}

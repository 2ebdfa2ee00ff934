//! Container endpoints: create, list, inspect, start, stop, kill, restart,
//! wait, remove, rename, pause, unpause, top, update, prune, changes,
//! export, logs, stats, archive (GET, HEAD, PUT).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{json, Value};

use crate::params::{JsonBody, OptJson, Params};
use crate::stream::{spawn_writer, BodyReader, Mux};
use crate::{blocking, ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/containers/create", post(create))
        .route("/containers/json", get(list))
        .route("/containers/prune", post(prune))
        .route("/containers/{id}/json", get(inspect))
        .route("/containers/{id}", axum::routing::delete(remove))
        .route("/containers/{id}/start", post(start))
        .route("/containers/{id}/stop", post(stop))
        .route("/containers/{id}/kill", post(kill))
        .route("/containers/{id}/restart", post(restart))
        .route("/containers/{id}/wait", post(wait))
        .route("/containers/{id}/rename", post(rename))
        .route("/containers/{id}/pause", post(pause))
        .route("/containers/{id}/unpause", post(unpause))
        .route("/containers/{id}/top", get(top))
        .route("/containers/{id}/update", post(update))
        .route("/containers/{id}/changes", get(changes))
        .route("/containers/{id}/export", get(export))
        .route("/containers/{id}/logs", get(logs))
        .route("/containers/{id}/stats", get(stats))
        .route(
            "/containers/{id}/archive",
            get(archive_get).head(archive_head).put(archive_put),
        )
}

fn no_content() -> Response<Body> {
    StatusCode::NO_CONTENT.into_response()
}

fn changed(c: engine::Changed) -> Response<Body> {
    match c {
        engine::Changed::Done => no_content(),
        engine::Changed::Already => StatusCode::NOT_MODIFIED.into_response(),
    }
}

async fn create(
    State(s): State<AppState>,
    p: Params,
    JsonBody(body): JsonBody<engine::api::ContainerCreateBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let name = p.str("name");
    let opts = body.into_options(name.as_deref())?;
    let eng = s.engine.clone();
    let id = blocking(move || Ok(eng.create(&opts)?)).await?;
    Ok((StatusCode::CREATED, Json(json!({"Id": id, "Warnings": []}))))
}

/// docker's `container.Summary` rows: each network with its endpoint
/// (testcontainers reads `Gateway`/`IPAddress` from this list).
async fn list(
    State(s): State<AppState>,
    p: Params,
) -> Result<Json<Vec<engine::api::ContainerSummary>>, ApiError> {
    let opts = engine::ListOptions {
        all: p.bool("all"),
        limit: p.int("limit")?.filter(|n| *n > 0).map(|n| n as usize),
        size: p.bool("size"),
        filters: p.filters()?,
    };
    let eng = s.engine.clone();
    blocking(move || Ok(eng.containers_json(&opts)?))
        .await
        .map(Json)
}

async fn inspect(
    State(s): State<AppState>,
    Path(id): Path<String>,
    p: Params,
) -> Result<Json<engine::ContainerInspect>, ApiError> {
    let size = p.bool("size");
    let eng = s.engine.clone();
    blocking(move || Ok(eng.inspect_container(&id, size)?))
        .await
        .map(Json)
}

async fn start(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response<Body>, ApiError> {
    engine::prime_cgroup_attach();
    // docker's run: an attach waits for this start.
    if let Some(r) = crate::attach::take_start(&s, &id).await {
        return r.map(changed);
    }
    let eng = s.engine.clone();
    blocking(move || Ok(eng.start_changed(&id)?))
        .await
        .map(changed)
}

async fn stop(
    State(s): State<AppState>,
    Path(id): Path<String>,
    p: Params,
) -> Result<Response<Body>, ApiError> {
    let t = p.int("t")?;
    let signal = p.str("signal");
    let eng = s.engine.clone();
    blocking(move || Ok(eng.stop_with(&id, t, signal.as_deref())?))
        .await
        .map(changed)
}

async fn kill(
    State(s): State<AppState>,
    Path(id): Path<String>,
    p: Params,
) -> Result<Response<Body>, ApiError> {
    let signal = p.str("signal");
    let eng = s.engine.clone();
    blocking(move || Ok(eng.kill(&id, signal.as_deref())?)).await?;
    Ok(no_content())
}

async fn restart(
    State(s): State<AppState>,
    Path(id): Path<String>,
    p: Params,
) -> Result<Response<Body>, ApiError> {
    engine::prime_cgroup_attach();
    let t = p.int("t")?;
    let eng = s.engine.clone();
    blocking(move || Ok(eng.restart(&id, t)?)).await?;
    Ok(no_content())
}

/// `wait`: as docker, the headers go once the container is found and the
/// wait begins; the body (`{"StatusCode": N, "Error": null}`) when the
/// condition is met.
async fn wait(
    State(s): State<AppState>,
    Path(id): Path<String>,
    p: Params,
) -> Result<Response<Body>, ApiError> {
    let cond: engine::WaitCondition = p.get("condition").unwrap_or("").parse()?;
    let eng = s.engine.clone();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Result<(), ApiError>>();
    let (w, body) = crate::stream::channel();
    tokio::task::spawn_blocking(move || {
        let mut ready_tx = Some(ready_tx);
        let r = eng.wait_for(&id, cond, &mut || {
            if let Some(t) = ready_tx.take() {
                let _ = t.send(Ok(()));
            }
        });
        match (r, ready_tx) {
            (Err(e), Some(t)) => {
                let _ = t.send(Err(e.into()));
            }
            (r, _) => {
                let v = match r {
                    Ok(code) => json!({"StatusCode": code, "Error": null}),
                    Err(e) => json!({"StatusCode": -1, "Error": {"Message": e.to_string()}}),
                };
                let _ = w.send(format!("{v}\n").into());
            }
        }
    });
    match ready_rx.await {
        Ok(Ok(())) => Ok(crate::stream::json_stream(body)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(ApiError::internal("wait: the engine call ended")),
    }
}

async fn remove(
    State(s): State<AppState>,
    Path(id): Path<String>,
    p: Params,
) -> Result<Response<Body>, ApiError> {
    if p.bool("link") {
        return Err(ApiError::bad("invalid link: links are not supported"));
    }
    let (force, volumes) = (p.bool("force"), p.bool("v"));
    let eng = s.engine.clone();
    blocking(move || {
        if volumes {
            Ok(eng.remove_with_volumes(&id, force)?)
        } else {
            Ok(eng.remove(&id, force)?)
        }
    })
    .await?;
    Ok(no_content())
}

async fn rename(
    State(s): State<AppState>,
    Path(id): Path<String>,
    p: Params,
) -> Result<Response<Body>, ApiError> {
    let name = p
        .str("name")
        .ok_or_else(|| ApiError::bad("invalid name \"\": a new name is required"))?;
    let eng = s.engine.clone();
    blocking(move || Ok(eng.rename(&id, &name)?)).await?;
    Ok(no_content())
}

async fn pause(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response<Body>, ApiError> {
    let eng = s.engine.clone();
    blocking(move || Ok(eng.pause(&id)?)).await?;
    Ok(no_content())
}

async fn unpause(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response<Body>, ApiError> {
    let eng = s.engine.clone();
    blocking(move || Ok(eng.unpause(&id)?)).await?;
    Ok(no_content())
}

async fn top(
    State(s): State<AppState>,
    Path(id): Path<String>,
    p: Params,
) -> Result<Json<engine::TopOutput>, ApiError> {
    let ps_args = p.get("ps_args").unwrap_or("").to_string();
    let eng = s.engine.clone();
    blocking(move || Ok(eng.top_with(&id, &ps_args)?))
        .await
        .map(Json)
}

async fn update(
    State(s): State<AppState>,
    Path(id): Path<String>,
    OptJson(b): OptJson<engine::api::ContainerUpdateBody>,
) -> Result<Json<engine::UpdateReport>, ApiError> {
    let opts = b.into_options();
    let eng = s.engine.clone();
    blocking(move || Ok(eng.update(&id, &opts)?))
        .await
        .map(Json)
}

/// The filters are checked by the engine's prune (docker's report shape).
async fn prune(State(s): State<AppState>, p: Params) -> Result<Response<Body>, ApiError> {
    let filters = p.filters()?;
    let eng = s.engine.clone();
    let r = blocking(move || Ok(eng.prune_containers_with(&filters)?)).await?;
    Ok(Json(r).into_response())
}

async fn changes(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<engine::diff::ContainerChange>>, ApiError> {
    let eng = s.engine.clone();
    blocking(move || Ok(eng.diff(&engine::diff::DiffRequest { container: id })?))
        .await
        .map(Json)
}

/// Streams a blocking writer's output, with `content_type`.
fn stream_response(body: Body, content_type: &'static str) -> Response<Body> {
    let mut r = Response::new(body);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

async fn export(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response<Body>, ApiError> {
    let eng = s.engine.clone();
    let id = blocking(move || Ok(eng.container(&id)?.0.id)).await?;
    let eng = s.engine.clone();
    let body = spawn_writer(move |mut w| {
        if let Err(e) = eng.export(&engine::export::ExportRequest { container: id }, &mut w) {
            w.abort(e);
        }
    });
    Ok(stream_response(body, "application/x-tar"))
}

/// `logs`: docker's multiplexed frames without a tty, the raw bytes with
/// one; `follow` streams until the container stops or the client hangs up.
async fn logs(
    State(s): State<AppState>,
    Path(id): Path<String>,
    p: Params,
) -> Result<Response<Body>, ApiError> {
    let (stdout, stderr) = (p.bool("stdout"), p.bool("stderr"));
    if !stdout && !stderr {
        return Err(ApiError::bad(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let opts = engine::LogsOptions {
        follow: p.bool("follow"),
        tail: engine::logs::parse_tail(p.get("tail").unwrap_or("all"))?,
        timestamps: p.bool("timestamps"),
        since: engine::logs::time_arg(p.get("since")),
        until: engine::logs::time_arg(p.get("until")),
        details: p.bool("details"),
        stdout,
        stderr,
    };
    let eng = s.engine.clone();
    let (id, tty) = blocking(move || {
        let (c, _) = eng.container(&id)?;
        Ok((c.id, c.config.tty))
    })
    .await?;
    let eng = s.engine.clone();
    let body = spawn_writer(move |w| {
        let hung_up = w.clone();
        let mut out = Mux {
            w: w.clone(),
            kind: engine::StreamKind::Stdout,
            tty,
        };
        let mut err = Mux {
            w,
            kind: engine::StreamKind::Stderr,
            tty,
        };
        let _ = eng.logs_until(&id, &opts, &mut out, &mut err, &|| hung_up.closed());
    });
    Ok(stream_response(
        body,
        if tty {
            "application/vnd.docker.raw-stream"
        } else {
            "application/vnd.docker.multiplexed-stream"
        },
    ))
}

/// `stats`: docker's JSON, one object a second while `stream` (the
/// default); `stream=false` one object with the CPU of a second before
/// (`one-shot`: without it).
async fn stats(
    State(s): State<AppState>,
    Path(id): Path<String>,
    p: Params,
) -> Result<Response<Body>, ApiError> {
    let stream = p.get("stream").is_none() || p.bool("stream");
    let one_shot = p.bool("one-shot");
    let eng = s.engine.clone();
    let first = blocking(move || Ok(eng.stats_sample(&id)?)).await?;
    let eng = s.engine.clone();
    let body = spawn_writer(move |w| {
        let line = |cur: &engine::stats::StatsSample, prev: Option<&engine::stats::StatsSample>| {
            let mut v = serde_json::to_vec(&cur.to_docker(prev)).unwrap_or_default();
            v.push(b'\n');
            v
        };
        if !stream {
            let out = if one_shot {
                line(&first, None)
            } else {
                std::thread::sleep(std::time::Duration::from_secs(1));
                match eng.stats_sample(&first.id) {
                    Ok(cur) => line(&cur, Some(&first)),
                    Err(_) => line(&first, None),
                }
            };
            let _ = w.send(out.into());
            return;
        }
        let mut prev: Option<engine::stats::StatsSample> = None;
        let mut cur = first;
        loop {
            if w.send(line(&cur, prev.as_ref()).into()).is_err() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_secs(1));
            if w.closed() {
                return;
            }
            match eng.stats_sample(&cur.id) {
                Ok(next) => prev = Some(std::mem::replace(&mut cur, next)),
                Err(_) => return,
            }
        }
    });
    Ok(crate::stream::json_stream(body))
}

fn archive_path(p: &Params) -> Result<String, ApiError> {
    p.str("path")
        .ok_or_else(|| ApiError::bad("invalid path \"\": a path in the container is required"))
}

/// The `X-Docker-Container-Path-Stat` header: base64 of the JSON stat.
fn stat_header(st: &engine::cp::PathStat) -> Result<HeaderMap, ApiError> {
    let j = serde_json::to_vec(st).map_err(|e| ApiError::internal(e.to_string()))?;
    let b = base64::engine::general_purpose::STANDARD.encode(j);
    let mut h = HeaderMap::new();
    h.insert(
        "x-docker-container-path-stat",
        HeaderValue::from_str(&b).map_err(|e| ApiError::internal(e.to_string()))?,
    );
    Ok(h)
}

async fn archive_head(
    State(s): State<AppState>,
    Path(id): Path<String>,
    p: Params,
) -> Result<Response<Body>, ApiError> {
    let path = archive_path(&p)?;
    let eng = s.engine.clone();
    let st = blocking(move || Ok(eng.path_stat(&id, &path)?)).await?;
    Ok((stat_header(&st)?, StatusCode::OK).into_response())
}

/// `GET archive`: the path is resolved once by the engine, which gives
/// the stat (the header) and then streams the tar from the same handle. A
/// failure before the stat is a docker-shaped error; after it, the
/// response is aborted (the client sees an error, not a short tar).
async fn archive_get(
    State(s): State<AppState>,
    Path(id): Path<String>,
    p: Params,
) -> Result<Response<Body>, ApiError> {
    let path = archive_path(&p)?;
    let eng = s.engine.clone();
    let (stat_tx, stat_rx) =
        tokio::sync::oneshot::channel::<Result<engine::cp::PathStat, ApiError>>();
    let (w, body) = crate::stream::channel();
    tokio::task::spawn_blocking(move || {
        let mut stat_tx = Some(stat_tx);
        let mut out = w.clone();
        let r = eng.archive_from_container(
            &id,
            &path,
            &mut |st| {
                if let Some(t) = stat_tx.take() {
                    let _ = t.send(Ok(st.clone()));
                }
            },
            &mut out,
        );
        match (r, stat_tx) {
            (Err(e), Some(t)) => {
                let _ = t.send(Err(e.into()));
            }
            (Err(e), None) => w.abort(e),
            (Ok(()), _) => {}
        }
    });
    let st = stat_rx
        .await
        .map_err(|_| ApiError::internal("archive: the engine call ended"))??;
    let mut r = stream_response(body, "application/x-tar");
    r.headers_mut().extend(stat_header(&st)?);
    Ok(r)
}

/// `PUT archive`: docker's query (`path`, `noOverwriteDirNonDir`,
/// `copyUIDGID`) as the engine's request.
async fn archive_put(
    State(s): State<AppState>,
    Path(id): Path<String>,
    p: Params,
    body: Body,
) -> Result<Response<Body>, ApiError> {
    let req = engine::cp::ExtractRequest {
        container: id,
        path: archive_path(&p)?,
        no_overwrite_dir_non_dir: p.bool("noOverwriteDirNonDir"),
        copy_uid_gid: p.bool("copyUIDGID"),
    };
    let eng = s.engine.clone();
    let mut input = BodyReader::new(body);
    blocking(move || {
        let r = eng.extract_to_container(&req, &mut input);
        // The tar reader stops at the archive's end marker: what the
        // client still sends after it (the second zero block, padding) is
        // read before the answer, or the connection closes under a client
        // still writing (docker cp: "broken pipe" after a success). After
        // an error, up to 1 MiB, so that the client reads the error.
        let limit = 1 << 20;
        let _ = std::io::copy(
            &mut std::io::Read::take(&mut input, limit),
            &mut std::io::sink(),
        );
        Ok(r?)
    })
    .await?;
    Ok(StatusCode::OK.into_response())
}

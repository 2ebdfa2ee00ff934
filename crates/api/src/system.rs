//! System endpoints: `/_ping` (GET, HEAD), `/version`, `/info`,
//! `/system/df`, `/events` (streamed, filtered), `/auth`.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, Response, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use crate::params::{JsonBody, Params};
use crate::stream::{json_stream, spawn_writer};
use crate::{blocking, ApiError, AppState, API_VERSION};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/_ping", get(ping).head(ping))
        .route("/version", get(version))
        .route("/info", get(info))
        .route("/system/df", get(df))
        .route("/events", get(events))
        .route("/auth", post(auth))
}

/// The headers docker's `/_ping` sends (its client reads `API-Version`
/// to negotiate, `OSType` and `Builder-Version`).
async fn ping() -> Response<Body> {
    let mut r = (StatusCode::OK, "OK").into_response();
    let h = r.headers_mut();
    for (k, v) in [
        ("API-Version", API_VERSION),
        ("Builder-Version", "1"),
        ("Docker-Experimental", "false"),
        ("OSType", "linux"),
        ("Ostype", "linux"),
        ("Cache-Control", "no-cache, no-store, must-revalidate"),
        ("Pragma", "no-cache"),
    ] {
        h.insert(
            axum::http::HeaderName::from_static(static_lower(k)),
            HeaderValue::from_static(v),
        );
    }
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Header names are case-insensitive (HTTP/1 sends them lowercase here).
fn static_lower(k: &'static str) -> &'static str {
    match k {
        "API-Version" => "api-version",
        "Builder-Version" => "builder-version",
        "Docker-Experimental" => "docker-experimental",
        "OSType" | "Ostype" => "ostype",
        "Cache-Control" => "cache-control",
        _ => "pragma",
    }
}

async fn version() -> Json<engine::system::Version> {
    Json(engine::system::version())
}

async fn info(State(s): State<AppState>) -> Result<Json<engine::system::Info>, ApiError> {
    let eng = s.engine.clone();
    blocking(move || Ok(eng.info()?)).await.map(Json)
}

async fn df(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let eng = s.engine.clone();
    let (du, rows) = blocking(move || {
        let du = eng.disk_usage()?;
        // The containers in docker's list shape, with their sizes.
        let rows: Vec<_> = du
            .containers
            .iter()
            .map(|u| {
                let mut row = eng.container_summary(u.summary.clone());
                row.size_rw = Some(u.size_rw as i64);
                row.size_root_fs = Some(u.size_root_fs as i64);
                row
            })
            .collect();
        Ok((du, rows))
    })
    .await?;
    let mut v = serde_json::to_value(&du).map_err(|e| ApiError::internal(e.to_string()))?;
    v["Containers"] = serde_json::to_value(rows).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(v))
}

async fn events(State(s): State<AppState>, p: Params) -> Result<Response<Body>, ApiError> {
    let opts = engine::EventsOptions::with_filters(
        p.get("since").unwrap_or(""),
        p.get("until").unwrap_or(""),
        &p.filters()?,
    )?;
    let eng = s.engine.clone();
    let body = spawn_writer(move |w| {
        let stop = || w.closed();
        let mut f = |m: engine::events::Message| {
            let mut line = m.to_line();
            if line.last() != Some(&b'\n') {
                line.push(b'\n');
            }
            w.send(line.into()).is_ok()
        };
        let _ = eng.events(&opts, &stop, &mut f);
    });
    Ok(json_stream(body))
}

#[derive(Debug, Deserialize)]
struct AuthBody {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default, rename = "serveraddress")]
    server_address: String,
}

/// `/auth`: checks the credentials against the registry (nothing stored:
/// the client keeps them and sends them with each pull and push).
async fn auth(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<AuthBody>,
) -> Result<Json<Value>, ApiError> {
    let host = registry::service::server_host(
        Some(&b.server_address)
            .filter(|s| !s.is_empty())
            .map(|s| s.as_str()),
    );
    blocking(move || {
        let (client, _) = registry::service::client(&registry::RegistryOptions::default())?;
        // login records what worked in a file: one in the store's private
        // tmp/, removed at once.
        let tmp = s
            .engine
            .root()
            .join("tmp")
            .join(format!("api-auth-{}", engine::fsutil::random_u64()));
        let r = client.login(
            &host,
            &registry::Credentials::new(b.username, b.password),
            Some(&tmp),
        );
        let _ = std::fs::remove_file(&tmp);
        r?;
        Ok(Json(
            serde_json::json!({"Status": "Login Succeeded", "IdentityToken": ""}),
        ))
    })
    .await
}

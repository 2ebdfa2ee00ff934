//! Volume endpoints: list, inspect, create, remove, prune.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::params::{OptJson, Params};
use crate::{blocking, ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/volumes", get(list))
        .route("/volumes/create", post(create))
        .route("/volumes/prune", post(prune))
        .route("/volumes/{name}", get(inspect).delete(remove))
}

async fn list(State(s): State<AppState>, p: Params) -> Result<Json<Value>, ApiError> {
    let filters = p.filters()?;
    let eng = s.engine.clone();
    let v = blocking(move || Ok(eng.list_volumes_with(&filters)?)).await?;
    Ok(Json(json!({"Volumes": v, "Warnings": []})))
}

async fn inspect(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<engine::ops::VolumeInspect>, ApiError> {
    let eng = s.engine.clone();
    blocking(move || Ok(eng.inspect_volume(&name)?))
        .await
        .map(Json)
}

/// docker's `VolumeCreateOptions`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    driver: String,
    #[serde(default)]
    driver_opts: Option<BTreeMap<String, String>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

async fn create(
    State(s): State<AppState>,
    OptJson(b): OptJson<CreateBody>,
) -> Result<(StatusCode, Json<engine::volumes::Volume>), ApiError> {
    let eng = s.engine.clone();
    let v = blocking(move || {
        let driver = if b.driver.is_empty() {
            "local"
        } else {
            &b.driver
        };
        Ok(eng.create_volume(
            Some(b.name.as_str()).filter(|n| !n.is_empty()),
            driver,
            b.labels.unwrap_or_default(),
            b.driver_opts.unwrap_or_default(),
        )?)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(v)))
}

async fn remove(
    State(s): State<AppState>,
    Path(name): Path<String>,
    p: Params,
) -> Result<Response, ApiError> {
    let force = p.bool("force");
    let eng = s.engine.clone();
    blocking(move || Ok(eng.remove_volume(&name, force)?)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn prune(
    State(s): State<AppState>,
    p: Params,
) -> Result<Json<engine::VolumesPruneReport>, ApiError> {
    let filters = p.filters()?;
    let eng = s.engine.clone();
    blocking(move || Ok(eng.prune_volumes_with(&filters)?))
        .await
        .map(Json)
}

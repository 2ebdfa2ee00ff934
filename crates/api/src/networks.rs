//! Network endpoints: list, inspect, create, remove, connect, disconnect,
//! prune.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::params::{JsonBody, Params};
use crate::{blocking, ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/networks", get(list))
        .route("/networks/create", post(create))
        .route("/networks/prune", post(prune))
        .route("/networks/{id}", get(inspect).delete(remove))
        .route("/networks/{id}/connect", post(connect))
        .route("/networks/{id}/disconnect", post(disconnect))
}

async fn list(State(s): State<AppState>, p: Params) -> Result<Json<Vec<Value>>, ApiError> {
    let filters = p.filters()?;
    let eng = s.engine.clone();
    blocking(move || Ok(eng.list_networks_with(&filters)?))
        .await
        .map(Json)
}

async fn inspect(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let eng = s.engine.clone();
    blocking(move || Ok(eng.network_inspect(&id)?))
        .await
        .map(Json)
}

/// docker's `NetworkCreateRequest` (the fields Berth honours; IPAM's
/// first config gives the subnet and gateway).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateBody {
    name: String,
    #[serde(default)]
    driver: String,
    #[serde(default)]
    internal: bool,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default, rename = "IPAM")]
    ipam: Option<Ipam>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Ipam {
    #[serde(default)]
    config: Option<Vec<IpamConfig>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IpamConfig {
    #[serde(default)]
    subnet: String,
    #[serde(default)]
    gateway: String,
}

async fn create(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<CreateBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let cfg = b
        .ipam
        .and_then(|i| i.config)
        .and_then(|c| c.into_iter().next())
        .unwrap_or_default();
    let some = |s: String| Some(s).filter(|s| !s.is_empty());
    let c = network::CreateNetwork {
        name: b.name,
        subnet: some(cfg.subnet),
        gateway: some(cfg.gateway),
        driver: some(b.driver),
        internal: b.internal,
        labels: b.labels.unwrap_or_default(),
    };
    let eng = s.engine.clone();
    let n = blocking(move || Ok(engine::network::manager(&eng).create(&c)?)).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"Id": n.id, "Warning": ""})),
    ))
}

async fn remove(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let eng = s.engine.clone();
    blocking(move || Ok(eng.remove_network(&id)?)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// docker's `NetworkConnectRequest`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConnectBody {
    container: String,
    #[serde(default)]
    endpoint_config: Option<EndpointConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EndpointConfig {
    #[serde(default)]
    aliases: Option<Vec<String>>,
    #[serde(default, rename = "IPAMConfig")]
    ipam_config: Option<EndpointIpam>,
}

#[derive(Debug, Default, Deserialize)]
struct EndpointIpam {
    #[serde(default, rename = "IPv4Address")]
    ipv4: String,
}

async fn connect(
    State(s): State<AppState>,
    Path(net): Path<String>,
    JsonBody(b): JsonBody<ConnectBody>,
) -> Result<Response, ApiError> {
    let ep = b.endpoint_config.unwrap_or_default();
    let ip = match ep.ipam_config.map(|i| i.ipv4).filter(|s| !s.is_empty()) {
        Some(s) => Some(s.parse().map_err(|_| {
            ApiError::bad(format!(
                "invalid EndpointConfig.IPAMConfig.IPv4Address {s:?}: not an IPv4 address"
            ))
        })?),
        None => None,
    };
    let join = network::Join {
        aliases: ep.aliases.unwrap_or_default(),
        ip,
        ..Default::default()
    };
    let eng = s.engine.clone();
    blocking(move || Ok(engine::network::connect(&eng, &b.container, &net, &join)?)).await?;
    Ok(StatusCode::OK.into_response())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DisconnectBody {
    container: String,
}

async fn disconnect(
    State(s): State<AppState>,
    Path(net): Path<String>,
    JsonBody(b): JsonBody<DisconnectBody>,
) -> Result<Response, ApiError> {
    let eng = s.engine.clone();
    blocking(move || Ok(engine::network::disconnect(&eng, &b.container, &net)?)).await?;
    Ok(StatusCode::OK.into_response())
}

/// The filters are checked by the engine's prune (docker's report shape).
async fn prune(State(s): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let filters = p.filters()?;
    let eng = s.engine.clone();
    let r = blocking(move || Ok(eng.prune_networks_with(&filters)?)).await?;
    Ok(Json(r).into_response())
}

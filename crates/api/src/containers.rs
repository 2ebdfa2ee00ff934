//! Container endpoints.

use axum::Router;
use serde_json::{json, Value};

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
}

/// A `ps` row in docker's `ContainerSummary` shape (`Names` with their
/// `/`, `Created` in unix seconds).
pub fn summary_value(s: &engine::Summary) -> Value {
    let created = engine::filters::parse_time(&s.created)
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut v = json!({
        "Id": s.id,
        "Names": [format!("/{}", s.names)],
        "Image": s.image,
        "ImageID": s.image_id,
        "Command": s.command,
        "Created": created,
        "Ports": s.ports,
        "Labels": s.labels,
        "State": s.state,
        "Status": s.status,
        "HostConfig": {"NetworkMode": s.networks.first().cloned().unwrap_or_else(|| "default".into())},
        "NetworkSettings": {"Networks": s.networks.iter().map(|n| (n.clone(), json!({}))).collect::<serde_json::Map<String, Value>>()},
        "Mounts": s.mounts.iter().map(|m| json!({"Name": m, "Source": m})).collect::<Vec<_>>(),
    });
    if let Some(rw) = s.size_rw {
        v["SizeRw"] = rw.into();
    }
    if let Some(r) = s.size_root_fs {
        v["SizeRootFs"] = r.into();
    }
    v
}

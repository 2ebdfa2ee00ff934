//! `POST /build`: docker's classic builder endpoint over the builder
//! (`build_run`), as `berth build -` uses it. The body is the context as a
//! tar (gzip allowed); the query string becomes a typed
//! [`build_run::BuildRequest`]; the builder's events become docker's JSON
//! message stream (`{"stream":"Step 1/3 : FROM …\n"}`, `{"aux":{"ID":…}}`,
//! `Successfully built`/`Successfully tagged`, errors as `errorDetail`).
//! The builder's rules stay in `build_run`: this module only translates.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Response};
use axum::routing::post;
use axum::Router;
use base64::Engine as _;
use build_run::{BuildRequest, ContextSource, DockerfileSource, Event};
use serde_json::{json, Value};

use crate::params::Params;
use crate::stream::{json_stream, spawn_writer, BodyReader, ChannelWriter};
use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new().route("/build", post(build))
}

/// A JSON map parameter (`buildargs`, `labels`); docker's `buildargs`
/// values may be null (the key is then left unset).
fn json_map(p: &Params, key: &str) -> Result<BTreeMap<String, String>, ApiError> {
    let Some(s) = p.str(key) else {
        return Ok(BTreeMap::new());
    };
    let m: BTreeMap<String, Option<String>> = serde_json::from_str(&s).map_err(|e| {
        ApiError::bad(format!(
            "invalid {key} {s:?}: expected a JSON object of strings: {e}"
        ))
    })?;
    Ok(m.into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect())
}

/// The request's typed parts (the context is added on the blocking side).
struct Parsed {
    /// A git repository as the context (the body is then ignored).
    remote: Option<String>,
    dockerfile: String,
    tags: Vec<image::Reference>,
    build_args: BTreeMap<String, String>,
    labels: BTreeMap<String, String>,
    target: Option<String>,
    no_cache: bool,
    pull: bool,
    quiet: bool,
    network: Option<String>,
}

fn parse(p: &Params) -> Result<Parsed, ApiError> {
    let remote = p.str("remote").filter(|r| !r.is_empty());
    if let Some(r) = &remote {
        if !build_run::git::is_git_url(r) {
            return Err(ApiError::bad(format!(
                "invalid remote {r:?}: only a git repository is supported as a remote context; send the context as the request body"
            )));
        }
    }
    if let Some(pl) = p.str("platform") {
        let host = image::Platform::host();
        let want = image::Platform::parse(&pl).map_err(|_| {
            ApiError::bad(format!(
                "invalid platform {pl:?}: expected os/arch[/variant], e.g. linux/amd64"
            ))
        })?;
        if want.os != host.os || want.architecture != host.architecture {
            return Err(ApiError::bad(format!(
                "invalid platform {pl:?}: only the host's platform ({}/{}) can be built",
                host.os, host.architecture
            )));
        }
    }
    let network = match p.str("networkmode").as_deref() {
        None | Some("default") => None,
        Some(n @ ("none" | "host" | "bridge")) => Some(n.to_string()),
        Some(n) => {
            return Err(ApiError::bad(format!(
                "invalid networkmode {n:?}: must be default, none, host or bridge"
            )))
        }
    };
    let mut tags = vec![];
    for (k, t) in &p.0 {
        if k != "t" || t.is_empty() {
            continue;
        }
        tags.push(
            image::Reference::parse(t)
                .map_err(|e| ApiError::bad(format!("invalid tag {t:?}: {e}")))?,
        );
    }
    Ok(Parsed {
        remote,
        dockerfile: p.str("dockerfile").unwrap_or_else(|| "Dockerfile".into()),
        tags,
        build_args: json_map(p, "buildargs")?,
        labels: json_map(p, "labels")?,
        target: p.str("target"),
        no_cache: p.bool("nocache"),
        pull: p.bool("pull"),
        quiet: p.bool("q"),
        network,
    })
}

/// `X-Registry-Config`: base64 JSON, registry host → auth config (the
/// credentials for base images the build pulls).
fn registry_config(headers: &HeaderMap) -> Result<BTreeMap<String, Value>, ApiError> {
    let Some(h) = headers.get("x-registry-config") else {
        return Ok(BTreeMap::new());
    };
    let s = h.to_str().unwrap_or("").trim();
    if s.is_empty() {
        return Ok(BTreeMap::new());
    }
    let bytes = base64::engine::general_purpose::URL_SAFE
        .decode(s)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s))
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(s))
        .map_err(|e| ApiError::bad(format!("invalid X-Registry-Config header: {e}")))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad(format!("invalid X-Registry-Config header: {e}")))
}

/// The credentials X-Registry-Config holds for `domain` (docker.io's under
/// its index URL too).
fn credentials(cfg: &BTreeMap<String, Value>, domain: &str) -> Option<registry::Credentials> {
    let v = cfg.iter().find_map(|(k, v)| {
        let host = k
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or("");
        let same = host == domain
            || (domain == "docker.io"
                && matches!(host, "index.docker.io" | "registry-1.docker.io"));
        same.then_some(v)
    })?;
    let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let (user, pass, token) = (field("username"), field("password"), field("identitytoken"));
    if !token.is_empty() {
        return Some(registry::Credentials::new("<token>", token));
    }
    (!user.is_empty()).then(|| registry::Credentials::new(user, pass))
}

fn send(w: &ChannelWriter, v: Value) {
    let _ = w.send(format!("{v}\n").into());
}

fn stream_line(w: &ChannelWriter, s: impl Into<String>) {
    send(w, json!({ "stream": s.into() }));
}

/// `POST /build`.
async fn build(
    State(s): State<AppState>,
    headers: HeaderMap,
    p: Params,
    body: Body,
) -> Result<Response<Body>, ApiError> {
    let parsed = parse(&p)?;
    let auth = registry_config(&headers)?;
    let eng = s.engine.clone();
    let input = BodyReader::new(body);
    let out = spawn_writer(move |w| {
        let quiet = parsed.quiet;
        // A client that hangs up cancels its build (docker's daemon does
        // the same): the RUN running is killed and removed, no image made.
        let cancel = build_run::Cancel::default();
        let watch = {
            let (w, cancel, eng) = (w.clone(), cancel.clone(), eng.clone());
            tokio::runtime::Handle::current().spawn(async move {
                w.hung_up().await;
                let _ = tokio::task::spawn_blocking(move || cancel.cancel(&eng)).await;
            })
        };
        let req = BuildRequest {
            context: match parsed.remote {
                Some(r) => ContextSource::Git(r),
                None => ContextSource::Tar(Box::new(input)),
            },
            dockerfile: DockerfileSource::InContext(parsed.dockerfile),
            tags: parsed.tags.clone(),
            build_args: parsed.build_args,
            target: parsed.target,
            no_cache: parsed.no_cache,
            pull: parsed.pull,
            labels: parsed.labels,
            network: parsed.network,
            cancel,
            ..Default::default()
        };
        let mut line_start = true;
        let last_image = std::cell::RefCell::new(String::new());
        let wp = w.clone();
        let mut progress = |e: Event| {
            if quiet {
                return;
            }
            match e {
                Event::Step {
                    index, total, text, ..
                } => {
                    let nl = if line_start { "" } else { "\n" };
                    line_start = true;
                    stream_line(&wp, format!("{nl}Step {index}/{total} : {text}\n"));
                }
                Event::Cached { .. } => stream_line(&wp, " ---> Using cache\n"),
                Event::Output { data, .. } => {
                    if !data.is_empty() {
                        line_start = data.ends_with(b"\n");
                        stream_line(&wp, String::from_utf8_lossy(data));
                    }
                }
                Event::Done { .. } => {
                    if !line_start {
                        line_start = true;
                        stream_line(&wp, "\n");
                    }
                }
                Event::Pulling { reference } => {
                    stream_line(&wp, format!("Pulling {reference}\n"));
                }
                Event::Image { id, .. } => {
                    // The classic builder's line after each step.
                    let nl = if line_start { "" } else { "\n" };
                    line_start = true;
                    let short: String = id.trim_start_matches("sha256:").chars().take(12).collect();
                    *last_image.borrow_mut() = id.to_string();
                    stream_line(&wp, format!("{nl} ---> {short}\n"));
                }
                Event::Warning { message } => {
                    stream_line(&wp, format!("[WARNING]: {message}\n"));
                }
                Event::Exporting { .. } => {}
            }
        };
        let store = eng.images();
        let pull = |r: &image::Reference| -> Result<(), String> {
            let client = crate::images::client_for(r, credentials(&auth, r.domain()))
                .map_err(|e| e.message)?;
            client
                .pull_image(store, r, &image::Platform::host(), &registry::NoProgress)
                .map(|_| ())
                .map_err(|e| ApiError::from(e).message)
        };
        let res = build_run::build(&eng, req, Some(&pull), &mut progress);
        watch.abort();
        match res {
            Ok(res) => {
                send(&w, json!({"aux": {"ID": res.id}}));
                let short: String = res
                    .id
                    .trim_start_matches("sha256:")
                    .chars()
                    .take(12)
                    .collect();
                if quiet {
                    stream_line(&w, format!("{}\n", res.id));
                } else {
                    // The last steps changed only the config: their image.
                    if *last_image.borrow() != res.id {
                        stream_line(&w, format!(" ---> {short}\n"));
                    }
                    stream_line(&w, format!("Successfully built {short}\n"));
                    for t in &parsed.tags {
                        stream_line(&w, format!("Successfully tagged {}\n", t.familiar()));
                    }
                }
            }
            Err(e) => {
                let msg = e.to_string();
                send(&w, json!({"errorDetail": {"message": msg}, "error": msg}));
            }
        }
    });
    Ok(json_stream(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(q: &[(&str, &str)]) -> Params {
        Params(
            q.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn query_parameters() {
        let p = parse(&params(&[
            ("t", "a:1"),
            ("t", "b"),
            ("buildargs", r#"{"X":"1","Y":null}"#),
            ("labels", r#"{"l":"v"}"#),
            ("nocache", "1"),
            ("networkmode", "default"),
            ("dockerfile", "sub/Dockerfile.x"),
        ]))
        .unwrap();
        assert_eq!(
            p.tags.iter().map(|t| t.familiar()).collect::<Vec<_>>(),
            ["a:1", "b:latest"]
        );
        assert_eq!(p.build_args.len(), 1);
        assert_eq!(p.labels["l"], "v");
        assert!(p.no_cache && !p.pull && !p.quiet);
        assert_eq!(p.network, None);
        assert_eq!(p.dockerfile, "sub/Dockerfile.x");
        let e = |q: &[(&str, &str)]| parse(&params(q)).err().unwrap().message;
        assert!(e(&[("buildargs", "[1]")]).contains("buildargs"));
        assert!(e(&[("networkmode", "container:x")]).contains("networkmode"));
        assert!(
            e(&[("platform", "linux/s390x")]).contains("platform") || cfg!(target_arch = "s390x")
        );
        assert!(e(&[("t", "UPPER")]).contains("invalid tag"));
        assert!(e(&[("remote", "https://h/x.tar.gz")]).contains("remote"));
        let g = parse(&params(&[("remote", "git://h/r.git#main:sub")])).unwrap();
        assert_eq!(g.remote.as_deref(), Some("git://h/r.git#main:sub"));
    }

    #[test]
    fn registry_config_credentials() {
        let mut cfg = BTreeMap::new();
        cfg.insert(
            "https://index.docker.io/v1/".to_string(),
            json!({"username": "u", "password": "p"}),
        );
        cfg.insert("localhost:5000".to_string(), json!({"username": ""}));
        let c = credentials(&cfg, "docker.io").unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "p"));
        assert!(credentials(&cfg, "localhost:5000").is_none());
        assert!(credentials(&cfg, "quay.io").is_none());
    }
}

//! Exec endpoints: `POST /containers/{id}/exec` (create), `POST
//! /exec/{id}/start` (hijacked, see [`crate::hijack`], or detached),
//! `GET /exec/{id}/json`, `POST /exec/{id}/resize`. The engine records
//! and runs the exec (`engine::ops::exec`); a second start of one exec is
//! docker's 409, answered before the connection is hijacked.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{Response, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use engine::stream::OutputStream;
use engine::{ExecConfig, ExecIo, ExecStartOptions};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::hijack::{self, Hijack};
use crate::params::{parse_json, JsonBody, Params};
use crate::{blocking, ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/containers/{id}/exec", post(create))
        .route("/exec/{id}/start", post(start))
        .route("/exec/{id}/json", get(inspect))
        .route("/exec/{id}/resize", post(resize))
}

/// docker's `ExecOptions` body (Go's nil slices arrive as `null`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    user: Option<String>,
    privileged: bool,
    tty: bool,
    console_size: Option<[u16; 2]>,
    attach_stdin: bool,
    attach_stderr: bool,
    attach_stdout: bool,
    detach: bool,
    detach_keys: Option<String>,
    env: Option<Vec<String>>,
    working_dir: Option<String>,
    cmd: Option<Vec<String>>,
}

impl CreateBody {
    fn into_config(self) -> Result<ExecConfig, ApiError> {
        let cmd = self.cmd.unwrap_or_default();
        if cmd.is_empty() {
            return Err(ApiError::bad("No exec command specified"));
        }
        Ok(ExecConfig {
            user: self.user.unwrap_or_default(),
            privileged: self.privileged,
            tty: self.tty,
            console_size: self.console_size.filter(|[h, w]| *h != 0 || *w != 0),
            attach_stdin: self.attach_stdin,
            attach_stderr: self.attach_stderr,
            attach_stdout: self.attach_stdout,
            detach: self.detach,
            detach_keys: self.detach_keys.unwrap_or_default(),
            env: self.env.unwrap_or_default(),
            working_dir: self.working_dir.unwrap_or_default(),
            cmd,
        })
    }
}

/// docker's `ExecStartCheck` body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct StartBody {
    detach: bool,
    console_size: Option<[u16; 2]>,
}

async fn create(
    State(s): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let cfg = body.into_config()?;
    let eng = s.engine.clone();
    let exec = blocking(move || Ok(eng.exec_create(&id, &cfg)?)).await?;
    Ok((StatusCode::CREATED, Json(json!({ "Id": exec }))))
}

async fn start(
    State(s): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response<Body>, ApiError> {
    let (mut parts, body) = req.into_parts();
    let hijack = Hijack::from_request(&parts.headers, &mut parts.extensions);
    let bytes = axum::body::to_bytes(body, crate::MAX_JSON_BODY)
        .await
        .map_err(|e| ApiError::bad(format!("cannot read the request body: {e}")))?;
    let body: StartBody = if bytes.iter().all(u8::is_ascii_whitespace) {
        StartBody::default()
    } else {
        parse_json(&bytes)?
    };
    let opts = ExecStartOptions {
        detach: body.detach,
        console_size: body.console_size.filter(|[h, w]| *h != 0 || *w != 0),
    };
    let guard = s.activity.enter();
    let eng = s.engine.clone();
    let detach = opts.detach;
    let started = blocking(move || match eng.exec_start(&id, &opts, ExecIo::Streams) {
        Ok(s) => Ok(Ok(s)),
        // A command that cannot run: as docker, the stream says why (the
        // exec's exit code, 126 or 127, is in its record).
        Err(e @ (engine::Error::CommandNotFound(_) | engine::Error::CannotInvoke(_)))
            if !detach =>
        {
            let tty = eng.exec_inspect(&id).is_ok_and(|i| i.process_config.tty);
            Ok(Err((e.to_string(), tty)))
        }
        Err(e) => Err(e.into()),
    })
    .await?;
    let mut stream = match started {
        Ok(s) => s,
        Err((msg, tty)) => {
            if !hijack.upgrades() {
                return Err(ApiError::internal(msg));
            }
            return Ok(hijack.respond(tty, guard, move |mut conn, _| {
                hijack::write_message(&mut conn, tty, &format!("{msg}\r\n"));
                conn.close();
            }));
        }
    };
    if detach {
        // It runs on; docker answers an empty 200.
        drop(stream);
        return Ok(StatusCode::OK.into_response());
    }
    if !hijack.upgrades() {
        drop(guard);
        return Ok(hijack::output_body(stream));
    }
    let tty = stream.tty();
    Ok(hijack.respond(tty, guard, move |conn, early| {
        let stdin = stream.take_stdin();
        hijack::pump(conn, early, &mut stream as &mut dyn OutputStream, stdin);
    }))
}

async fn inspect(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<engine::ExecInspect>, ApiError> {
    let eng = s.engine.clone();
    blocking(move || Ok(eng.exec_inspect(&id)?)).await.map(Json)
}

async fn resize(
    State(s): State<AppState>,
    Path(id): Path<String>,
    p: Params,
) -> Result<Response<Body>, ApiError> {
    let (rows, cols) = crate::attach::size(&p)?;
    let eng = s.engine.clone();
    blocking(move || Ok(eng.exec_resize(&id, rows, cols)?)).await?;
    Ok(StatusCode::OK.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_body_takes_go_nulls() {
        let b: CreateBody = parse_json(
            br#"{"User":"","Privileged":false,"Tty":false,"ConsoleSize":null,"AttachStdin":true,"AttachStderr":true,"AttachStdout":true,"Detach":false,"DetachKeys":"","Env":null,"WorkingDir":"","Cmd":["echo","hi"]}"#,
        )
        .unwrap();
        let c = b.into_config().unwrap();
        assert_eq!(c.cmd, ["echo", "hi"]);
        assert!(c.attach_stdin && c.env.is_empty() && c.console_size.is_none());
        let e = parse_json::<CreateBody>(br#"{"Cmd":null}"#)
            .unwrap()
            .into_config()
            .unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        let e = parse_json::<CreateBody>(br#"{"Tty":"yes"}"#).unwrap_err();
        assert!(e.message.contains("Tty"), "{}", e.message);
    }
}

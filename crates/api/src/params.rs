//! Request parsing as docker's server does it: query parameters (its
//! `BoolValue`: empty, `0`, `no`, `false`, `none` are false, anything else
//! true), JSON bodies (at most [`crate::MAX_JSON_BODY`]; errors name the
//! field), `filters` (docker's JSON map).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// The query string's parameters, in order.
#[derive(Debug, Clone, Default)]
pub struct Params(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Params, ApiError> {
        let q = axum::extract::Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad(format!("invalid query string: {}", e.body_text())))?;
        Ok(Params(q.0))
    }
}

impl Params {
    /// The last value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A non-empty string value.
    pub fn str(&self, key: &str) -> Option<String> {
        self.get(key).filter(|v| !v.is_empty()).map(str::to_string)
    }

    /// docker's `BoolValue`.
    pub fn bool(&self, key: &str) -> bool {
        let v = self.get(key).unwrap_or("").trim().to_ascii_lowercase();
        !matches!(v.as_str(), "" | "0" | "no" | "false" | "none")
    }

    /// An integer parameter (absent or empty: None).
    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.get(key).map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::bad(format!(
                    "invalid value for {key:?}: {v:?} is not an integer"
                ))
            }),
        }
    }

    /// `filters`: docker's JSON (`{"label":["a=b"]}`, or the old
    /// `{"label":{"a=b":true}}`), as the engine's typed filters.
    pub fn filters(&self) -> Result<engine::filters::Filters, ApiError> {
        match self.get("filters").map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(engine::filters::Filters::new()),
            Some(s) => engine::filters::Filters::from_json(s).map_err(ApiError::from),
        }
    }
}

/// A JSON body; a malformed one is a 400 naming the field, a huge one 413.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<JsonBody<T>, ApiError> {
        let bytes = body_bytes(req, state).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// An optional JSON body (none or empty: `T::default()`).
#[derive(Debug)]
pub struct OptJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<OptJson<T>, ApiError> {
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptJson(T::default()));
        }
        parse_json(&bytes).map(OptJson)
    }
}

async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| {
        let status = e.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                format!(
                    "request body too large: at most {} MiB of JSON",
                    crate::MAX_JSON_BODY >> 20
                ),
            )
        } else {
            ApiError::new(
                status,
                format!("cannot read the request body: {}", e.body_text()),
            )
        }
    })
}

/// Deserializes `bytes`; the error names the field (`HostConfig.Memory:
/// invalid type: string "x", expected i64 at line 1 column 30`).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        if path.is_empty() || path == "." {
            ApiError::bad(format!("invalid JSON body: {}", e.inner()))
        } else {
            ApiError::bad(format!("invalid JSON body: {path}: {}", e.inner()))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_bools() {
        let p = Params(vec![
            ("a".into(), "1".into()),
            ("b".into(), "false".into()),
            ("c".into(), "True".into()),
            ("d".into(), "0".into()),
        ]);
        assert!(p.bool("a") && p.bool("c"));
        assert!(!p.bool("b") && !p.bool("d") && !p.bool("missing"));
        assert!(Params(vec![("t".into(), "x".into())]).int("t").is_err());
    }

    #[test]
    fn json_errors_name_the_field() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Inner {
            #[serde(rename = "Memory")]
            memory: i64,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Outer {
            #[serde(rename = "HostConfig")]
            host_config: Inner,
        }
        let e = parse_json::<Outer>(br#"{"HostConfig":{"Memory":"lots"}}"#).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.contains("HostConfig.Memory"), "{}", e.message);
        let e = parse_json::<Outer>(b"{not json").unwrap_err();
        assert!(e.message.starts_with("invalid JSON body"), "{}", e.message);
    }
}

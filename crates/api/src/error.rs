//! docker's error responses: `{"message": "..."}` with its status codes.
//! 404 for a missing container, image, network, volume or exec; 409 for a
//! conflict; 400 for a bad parameter; 500 otherwise. (304 for a start of a
//! running container or a stop of a stopped one is a success without a
//! body: see `containers`.)

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// 400: a bad parameter or body (the message names it).
    pub fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "message": self.message })),
        )
            .into_response()
    }
}

/// The status docker answers an image store error with, and its wording.
pub fn image_error(e: &image::Error) -> ApiError {
    match e {
        image::Error::ImageNotFound(s) => ApiError::not_found(format!("No such image: {s}")),
        image::Error::Reference(r) => {
            ApiError::bad(format!("invalid reference format: {}", r.reason))
        }
        image::Error::AmbiguousId(_) => ApiError::bad(e.to_string()),
        image::Error::Conflict(_) => ApiError::new(StatusCode::CONFLICT, e.to_string()),
        e => ApiError::internal(e.to_string()),
    }
}

impl From<engine::Error> for ApiError {
    fn from(e: engine::Error) -> ApiError {
        use engine::Error as E;
        match &e {
            E::NoSuchContainer(_) | E::NoSuchExec(_) | E::NoSuchObject(_) => {
                ApiError::not_found(e.to_string())
            }
            E::InvalidArgument(_) | E::InvalidFilter(_) | E::BadRequest(_) => {
                ApiError::bad(e.to_string())
            }
            E::Conflict(_) => ApiError::new(StatusCode::CONFLICT, e.to_string()),
            E::Image(i) => image_error(i),
            _ => ApiError::internal(e.to_string()),
        }
    }
}

impl From<image::Error> for ApiError {
    fn from(e: image::Error) -> ApiError {
        image_error(&e)
    }
}

impl From<image::ReferenceError> for ApiError {
    fn from(e: image::ReferenceError) -> ApiError {
        ApiError::bad(format!("invalid reference format: {}", e.reason))
    }
}

impl From<registry::Error> for ApiError {
    fn from(e: registry::Error) -> ApiError {
        match &e {
            registry::Error::Status { status: 404, .. } => ApiError::not_found(e.to_string()),
            registry::Error::Status {
                status: 401 | 403, ..
            } => ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()),
            registry::Error::Store { source, .. } => image_error(source),
            registry::Error::Reference(r) => {
                ApiError::bad(format!("invalid reference format: {}", r.reason))
            }
            _ => ApiError::internal(e.to_string()),
        }
    }
}

impl From<network::Error> for ApiError {
    fn from(e: network::Error) -> ApiError {
        use network::Error as E;
        match &e {
            E::NotFound(_) => ApiError::not_found(e.to_string()),
            E::Flag { .. } | E::Invalid(_) => ApiError::bad(e.to_string()),
            E::Conflict(_) | E::PortInUse(_) => ApiError::new(StatusCode::CONFLICT, e.to_string()),
            _ => ApiError::internal(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_get_dockers_statuses() {
        let s = |e: engine::Error| ApiError::from(e).status.as_u16();
        assert_eq!(s(engine::Error::NoSuchContainer("x".into())), 404);
        assert_eq!(
            ApiError::from(engine::Error::NoSuchContainer("x".into())).message,
            "No such container: x"
        );
        assert_eq!(
            s(engine::Error::NoSuchObject("network x not found".into())),
            404
        );
        assert_eq!(s(engine::Error::Conflict("in use".into())), 409);
        assert_eq!(s(engine::Error::invalid("invalid --x")), 400);
        assert_eq!(s(engine::Error::InvalidFilter("bad".into())), 400);
        assert_eq!(s(engine::Error::msg("boom")), 500);
        assert_eq!(
            s(engine::Error::Image(image::Error::ImageNotFound(
                "a:b".into()
            ))),
            404
        );
    }
}

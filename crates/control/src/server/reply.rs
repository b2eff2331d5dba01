//! Error answers: every failure is JSON ([`ErrorBody`]) with a stable code, and input is parsed
//! here with messages that say what is wrong.

use std::time::Duration;

use axum::{
    Json,
    body::Bytes,
    extract::rejection::{BytesRejection, PathRejection, QueryRejection},
    http::{HeaderValue, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use rampart_identity::SvidError;
use serde::de::DeserializeOwned;

use crate::{ControlError, api::ErrorBody};

/// The `WWW-Authenticate` challenge of the API (RFC 6750).
const CHALLENGE: &str = r#"Bearer realm="rampart""#;
const CHALLENGE_INVALID: &str = r#"Bearer realm="rampart", error="invalid_token""#;

/// An error answer.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    challenge: Option<&'static str>,
    retry_after: Option<Duration>,
}

// === impl ApiError ===

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            challenge: None,
            retry_after: None,
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// `409`: the request is valid but the state does not allow it now; `message` says why.
    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// `401` with the bearer challenge; `reason` is what was wrong, never the credential.
    pub(crate) fn unauthorized(reason: &'static str, invalid_token: bool) -> Self {
        let mut error = Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            format!("{reason}: send `Authorization: Bearer <admin token>`"),
        );
        error.challenge = Some(match invalid_token {
            true => CHALLENGE_INVALID,
            false => CHALLENGE,
        });
        error
    }

    /// `401` for a credential other than the admin token (a join token, a client
    /// certificate); `message` says what was wrong, never the credential.
    pub(crate) fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub(crate) fn rate_limited(retry_after: Duration) -> Self {
        let secs = retry_after.as_secs().max(1);
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many failed authentications from this address; retry in {secs} s"),
        );
        error.retry_after = Some(Duration::from_secs(secs));
        error
    }

    pub(crate) fn store_unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the store is unavailable",
        )
    }

    pub(crate) fn overloaded() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "the control plane is busy; retry later",
        )
    }

    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    pub(crate) fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
    }

    pub(crate) fn timeout() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "the request took too long",
        )
    }

    pub(crate) fn body(rejection: BytesRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is too large",
            ),
            _ => Self::bad_request("cannot read the request body"),
        }
    }

    pub(crate) fn query(rejection: QueryRejection) -> Self {
        Self::bad_request(format!(
            "invalid query string: {}",
            detail(&rejection.body_text())
        ))
    }

    pub(crate) fn path(rejection: PathRejection) -> Self {
        Self::bad_request(format!("invalid path: {}", detail(&rejection.body_text())))
    }
}

impl From<ControlError> for ApiError {
    fn from(error: ControlError) -> Self {
        match error {
            ControlError::InvalidHeartbeat { reason }
            | ControlError::InvalidJoinTokenRequest { reason }
            | ControlError::InvalidRequest { reason } => Self::bad_request(reason),
            ControlError::Svid(
                e @ (SvidError::InvalidCsr { .. }
                | SvidError::CsrSignature
                | SvidError::UnsupportedKey { .. }),
            ) => Self::bad_request(e.to_string()),
            ControlError::NotFound { what } => Self::not_found(format!("{what} not found")),
            e @ (ControlError::Rollover { .. } | ControlError::NoCaDir) => {
                Self::conflict(e.to_string())
            }
            ControlError::Store(error) => {
                tracing::error!(%error, "control api: store failure");
                Self::store_unavailable()
            }
            error => {
                tracing::error!(%error, "control api: internal error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.message,
            code: self.code.to_owned(),
        };
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(challenge) = self.challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        if let Some(after) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(after.as_secs()));
        }
        response
    }
}

// === handlers and helpers ===

/// Parses a JSON request body into `T`; a failure says where and what.
pub(crate) fn parse_json<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let body = body.map_err(ApiError::body)?;
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid json body: {e}")))
}

/// The answer for a path no route serves.
pub(crate) async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route for `{}`", uri.path()))
}

/// The answer for a known path with a method it does not serve.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed for this path",
    )
}

/// axum's rejection text without its capitalized preamble (`Failed to …: detail`).
fn detail(text: &str) -> &str {
    text.split_once(": ").map_or(text, |(_, rest)| rest)
}

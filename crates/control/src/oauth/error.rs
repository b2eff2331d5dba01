//! [`OAuthError`]: an RFC 6749 §5.2 error answer (`error`, `error_description`) and its status.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

/// A refusal of the token, introspection or revocation endpoint, answered as RFC 6749 JSON.
///
/// `description` never contains a secret or a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct OAuthError {
    /// The RFC 6749 / 7009 / 8693 error code, e.g. `invalid_client`.
    pub code: &'static str,
    pub description: String,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    error_description: &'a str,
}

// === impl OAuthError ===

impl OAuthError {
    fn new(code: &'static str, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }

    /// The client could not be authenticated (`401`, `WWW-Authenticate: Basic`).
    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::new("invalid_client", description)
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new("invalid_request", description)
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new("invalid_grant", description)
    }

    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new("invalid_scope", description)
    }

    pub fn unsupported_grant_type(description: impl Into<String>) -> Self {
        Self::new("unsupported_grant_type", description)
    }

    pub fn unauthorized_client(description: impl Into<String>) -> Self {
        Self::new("unauthorized_client", description)
    }

    /// The server failed (store, signing): `500 server_error` (RFC 6749 §4.1.2.1 vocabulary).
    pub fn server_error() -> Self {
        Self::new(
            "server_error",
            "the authorization server failed; retry later",
        )
    }

    /// The platform keys' secrets store is sealed: `503 temporarily_unavailable` (fail closed:
    /// nothing is signed and no client secret is checked until it is unsealed).
    pub fn temporarily_unavailable() -> Self {
        Self::new(
            "temporarily_unavailable",
            "the secrets store holding the platform keys is sealed; retry after it is unsealed",
        )
    }

    /// `401` for `invalid_client`, `500` for `server_error`, `503` for
    /// `temporarily_unavailable`, `400` otherwise.
    pub fn status(&self) -> StatusCode {
        match self.code {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
            "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = Body {
            error: self.code,
            error_description: &self.description,
        };
        let mut response = (self.status(), Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.code == "invalid_client" {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Basic realm="rampart""#),
            );
        }
        response
    }
}

impl From<rampart_store::StoreError> for OAuthError {
    fn from(error: rampart_store::StoreError) -> Self {
        tracing::error!(%error, "oauth: store failure");
        Self::server_error()
    }
}

//! Vault's HTTP shapes: the response envelope (`request_id`, `lease_id`, `renewable`,
//! `lease_duration`, `data`, `wrap_info`, `warnings`, `auth`) and the error body
//! `{"errors": [...]}`, so that existing Vault clients read Rampart's answers unchanged.

use std::{
    fmt::Write as _,
    sync::{
        LazyLock,
        atomic::{AtomicU64, Ordering},
    },
    time::SystemTime,
};

use axum::{
    body::Body,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

/// Vault's message for every refused credential or decision.
pub(crate) const PERMISSION_DENIED: &str = "permission denied";
/// Vault's message while sealed.
pub(crate) const SEALED: &str = "Vault is sealed";

/// The process-random half of the request ids; the other half counts.
static ID_PREFIX: LazyLock<u64> = LazyLock::new(|| {
    let mut bytes = [0u8; 8];
    match aws_lc_rs::rand::fill(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes),
        Err(_) => 0,
    }
});
static ID_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Vault's envelope around `data`.
#[derive(Serialize)]
pub(crate) struct Envelope<T> {
    request_id: String,
    lease_id: &'static str,
    renewable: bool,
    lease_duration: u64,
    data: T,
    wrap_info: (),
    warnings: (),
    auth: (),
}

/// An error answer: a status and Vault's `errors` list.
#[derive(Debug)]
pub(crate) struct VaultError {
    status: StatusCode,
    message: Option<String>,
}

// === constructors ===

/// `200` with `data` in the envelope.
pub(crate) fn ok<T: Serialize>(data: T) -> Response {
    json(StatusCode::OK, &envelope(data))
}

/// `status` with `data` in the envelope (a deleted version reads as `404` with its
/// metadata).
pub(crate) fn with_status<T: Serialize>(status: StatusCode, data: T) -> Response {
    json(status, &envelope(data))
}

/// `204`.
pub(crate) fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// `status` with a bare JSON body (the `sys` routes that answer outside the envelope).
pub(crate) fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            let mut response = Response::new(Body::from(bytes));
            *response.status_mut() = status;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) => {
            tracing::error!(%error, "secrets: cannot serialize an answer");
            VaultError::internal().into_response()
        }
    }
}

fn envelope<T>(data: T) -> Envelope<T> {
    Envelope {
        request_id: request_id(),
        lease_id: "",
        renewable: false,
        lease_duration: 0,
        data,
        wrap_info: (),
        warnings: (),
        auth: (),
    }
}

/// A UUID-shaped id, unique in this process.
fn request_id() -> String {
    let n = ID_COUNTER.fetch_add(1, Ordering::Relaxed);
    let p = *ID_PREFIX;
    let mut id = String::with_capacity(36);
    let _ = write!(
        id,
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        p >> 32,
        (p >> 16) & 0xffff,
        p & 0xffff,
        (n >> 48) & 0xffff,
        n & 0xffff_ffff_ffff
    );
    id
}

/// Vault's time format: RFC 3339 in UTC with nanoseconds.
pub(crate) fn time(at: SystemTime) -> String {
    humantime::format_rfc3339_nanos(at).to_string()
}

/// A time in milliseconds since the epoch, in Vault's format.
pub(crate) fn time_ms(ms: i64) -> String {
    let ms = u64::try_from(ms).unwrap_or(0);
    time(SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(ms))
}

// === impl VaultError ===

impl VaultError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: Some(message.into()),
        }
    }

    /// `400` with `message`.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// `403 permission denied`.
    pub(crate) fn denied() -> Self {
        Self::new(StatusCode::FORBIDDEN, PERMISSION_DENIED)
    }

    /// `404` with an empty `errors` list, as Vault answers for a missing secret.
    pub(crate) fn not_found() -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: None,
        }
    }

    /// `405`.
    pub(crate) fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "unsupported operation")
    }

    /// `503 Vault is sealed`.
    pub(crate) fn sealed() -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, SEALED)
    }

    /// `500 internal error`; the cause goes to the log, not to the caller.
    pub(crate) fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }
}

impl IntoResponse for VaultError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Errors<'a> {
            errors: &'a [String],
        }
        let errors = match &self.message {
            Some(m) => std::slice::from_ref(m),
            None => &[],
        };
        json(self.status, &Errors { errors })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_uuid_shaped_and_distinct() {
        let (a, b) = (request_id(), request_id());
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
        assert_ne!(a, b);
    }

    #[test]
    fn times_have_nanoseconds_in_utc() {
        let t = time_ms(1_500);
        assert_eq!(t, "1970-01-01T00:00:01.500000000Z");
    }
}

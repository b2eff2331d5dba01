//! Authentication of every API request with the admin token, and the per-address brake on
//! failed attempts that keeps the token from being guessed.

mod limiter;

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, Method, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use rampart_events::{Event, SecurityEvent, SecurityKind};
use tokio::time::Instant;

pub(crate) use self::limiter::FailureLimiter;
use super::{
    reply::ApiError,
    routes::{logs, mesh, oauth, policy, secrets, svid},
    state::SharedState,
};
use crate::AdminToken;

/// The `service.name` of the events published here.
const SOURCE: &str = "rampart-control";

/// Why credentials were refused; the only detail that leaves this module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    Missing,
    Invalid,
}

/// Lets a request through only with `Authorization: Bearer <admin token>`, except to the
/// routes that authenticate otherwise ([`exempt`]).
///
/// A client address (an IPv6 /64) that failed too often recently gets `429` before its
/// credentials are even looked at, so that guessing stays slow whatever it sends. Every
/// failure is published as a [`SecurityKind::AuthFailed`] event with the client address and
/// the reason, never with what was presented.
pub(crate) async fn authenticate(
    State(state): State<SharedState>,
    request: Request,
    next: Next,
) -> Response {
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr);
    let ip = client.map(|addr| addr.ip());
    if let Some(retry_after) = ip.and_then(|ip| state.failures.blocked(ip, Instant::now())) {
        return ApiError::rate_limited(retry_after).into_response();
    }
    if exempt(request.method(), request.uri().path()) {
        return next.run(request).await;
    }
    let refusal = match check(&state.token, request.headers()) {
        Ok(()) => return next.run(request).await,
        Err(refusal) => refusal,
    };
    let reason = refusal.as_str();
    tracing::warn!(client = ?client, reason, "control api refused credentials");
    state.bus.publish(Event::Security(SecurityEvent::new(
        SecurityKind::AuthFailed,
        SOURCE,
        client,
        reason,
    )));
    record_failure(&state, client);
    ApiError::unauthorized(reason, refusal == Refusal::Invalid).into_response()
}

/// Counts a failed authentication of `client` (admin token, join token or client
/// certificate) against the per-address brake, and publishes when the brake engages.
pub(crate) fn record_failure(state: &SharedState, client: Option<SocketAddr>) {
    if let Some(ip) = client.map(|addr| addr.ip())
        && state.failures.record(ip, Instant::now())
    {
        tracing::warn!(client = ?client, "control api: too many failed authentications");
        state.bus.publish(Event::Security(SecurityEvent::new(
            SecurityKind::RateLimited,
            SOURCE,
            client,
            "too many failed authentications",
        )));
    }
}

/// Routes that do not take the admin token because they authenticate otherwise: a new
/// workload's SVID request carries a join token; a renewal and the mesh routes the
/// workload's current SVID over mTLS; the OAuth token, introspection and revocation
/// endpoints the OAuth client; OAuth discovery and the JWKS are public; the secrets store's
/// Vault-compatible routes take the admin token, an access token or an SVID. Their handlers
/// check those credentials; the per-address brake still applies.
fn exempt(method: &Method, path: &str) -> bool {
    if secrets::owns(path) {
        return true;
    }
    match *method {
        Method::POST => [
            svid::ISSUE_PATH,
            svid::RENEW_PATH,
            mesh::REGISTER_PATH,
            mesh::DEREGISTER_PATH,
            oauth::TOKEN_PATH,
            oauth::INTROSPECT_PATH,
            oauth::REVOKE_PATH,
            policy::SHADOW_PATH,
            logs::INGEST_PATH,
        ]
        .contains(&path),
        Method::GET => [mesh::WATCH_PATH, oauth::DISCOVERY_PATH, oauth::JWKS_PATH].contains(&path),
        _ => false,
    }
}

/// Whether the request carries the admin token (for routes that also take other credentials).
pub(crate) fn has_admin_token(state: &SharedState, headers: &HeaderMap) -> bool {
    check(&state.token, headers).is_ok()
}

// === impl Refusal ===

impl Refusal {
    fn as_str(self) -> &'static str {
        match self {
            Refusal::Missing => "missing credentials",
            Refusal::Invalid => "invalid token",
        }
    }
}

// === helpers ===

fn check(token: &AdminToken, headers: &HeaderMap) -> Result<(), Refusal> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(match headers.contains_key(header::AUTHORIZATION) {
            true => Refusal::Invalid,
            false => Refusal::Missing,
        });
    };
    let value = value.to_str().map_err(|_| Refusal::Invalid)?;
    let Some((scheme, presented)) = value.split_once(' ') else {
        return Err(Refusal::Missing);
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Refusal::Missing);
    }
    match token.verify(presented.trim_matches(' ')) {
        true => Ok(()),
        false => Err(Refusal::Invalid),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use rampart_core::Sensitive;

    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn accepts_only_the_bearer_token() {
        let secret = "t".repeat(40);
        let token = AdminToken::new(Sensitive::new(secret.clone())).unwrap();
        let bearer = format!("Bearer {secret}");
        assert_eq!(check(&token, &headers(&[&bearer])), Ok(()));
        assert_eq!(
            check(&token, &headers(&[&format!("bearer {secret}")])),
            Ok(())
        );
        assert_eq!(check(&token, &headers(&[])), Err(Refusal::Missing));
        assert_eq!(
            check(&token, &headers(&[&format!("Basic {secret}")])),
            Err(Refusal::Missing)
        );
        assert_eq!(check(&token, &headers(&[&secret])), Err(Refusal::Missing));
        assert_eq!(
            check(&token, &headers(&["Bearer nope"])),
            Err(Refusal::Invalid)
        );
        assert_eq!(
            check(&token, &headers(&[&bearer, &bearer])),
            Err(Refusal::Invalid)
        );
    }
}

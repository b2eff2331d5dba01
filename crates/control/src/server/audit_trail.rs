//! Admin audit events: every change made through the control API (policy, identities, CA,
//! OAuth clients and keys, the secrets store's seal and root key, proxies) is published as an
//! [`AdminEvent`] with its actor, target and outcome, whether it succeeded or not. The event
//! log chains them (see `docs/logs.md`).
//!
//! Secret data operations are not admin events: the secrets API publishes a `secret_access`
//! event for each of them (who, path, version, decision).

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, Method, header},
    middleware::Next,
    response::Response,
};
use rampart_events::{AdminEvent, Event, Outcome};

use super::state::SharedState;
use crate::AdminToken;

/// The `service.name` of the events published here.
const SOURCE: &str = "rampart-control";

/// Publishes an admin event for every administrative change request, after it is answered.
pub(crate) async fn record(
    State(state): State<SharedState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(action) = action(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr);
    let actor = actor(&state.token, request.headers());
    let target = request.uri().path().to_string();
    let response = next.run(request).await;
    let status = response.status();
    let outcome = match status.is_success() {
        true => Outcome::Success,
        false => Outcome::Failure,
    };
    state.bus.publish(Event::Admin(
        AdminEvent::new(action, SOURCE, actor, target, outcome)
            .with_client(client)
            .with_detail(format!("status {}", status.as_u16())),
    ));
    response
}

/// The action name of an administrative change, or `None` for reads and data-plane calls.
fn action(method: &Method, path: &str) -> Option<&'static str> {
    let changes = matches!(
        *method,
        Method::POST | Method::PUT | Method::DELETE | Method::PATCH
    );
    if !changes {
        return None;
    }
    Some(match (method.as_str(), path) {
        ("POST", "/v1/policy") => "policy.apply",
        ("DELETE", "/v1/policy/dry-run") => "policy.dry_run.clear",
        ("POST", "/v1/identity/join-tokens") => "identity.join_token.create",
        ("POST", "/v1/identity/revoke") => "identity.revoke",
        ("POST", "/v1/identity/ca/rollover") => "ca.rollover",
        ("POST", "/v1/oauth/clients") => "oauth.client.create",
        ("POST", "/v1/oauth/keys/rotate") => "oauth.keys.rotate",
        ("POST" | "PUT", "/v1/sys/init") => "secrets.init",
        ("POST" | "PUT", "/v1/sys/unseal") => "secrets.unseal",
        ("POST" | "PUT", "/v1/sys/seal") => "secrets.seal",
        ("POST" | "PUT", "/v1/sys/rotate") => "secrets.rotate_root",
        ("DELETE", p) if p.starts_with("/v1/oauth/clients/") => "oauth.client.delete",
        ("DELETE", p) if p.starts_with("/v1/proxies/") => "proxy.remove",
        _ => return None,
    })
}

/// Who asked: the admin token, or nobody known (a refused or unauthenticated request).
fn actor(token: &AdminToken, headers: &HeaderMap) -> &'static str {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let vault = headers.get("x-vault-token").and_then(|v| v.to_str().ok());
    match bearer.or(vault) {
        Some(presented) if token.verify(presented) => "admin-token",
        Some(_) => "invalid-credentials",
        None => "unauthenticated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changes_are_admin_actions() {
        assert_eq!(action(&Method::POST, "/v1/policy"), Some("policy.apply"));
        assert_eq!(action(&Method::GET, "/v1/policy"), None);
        assert_eq!(
            action(&Method::DELETE, "/v1/oauth/clients/abc"),
            Some("oauth.client.delete")
        );
        assert_eq!(
            action(&Method::PUT, "/v1/sys/rotate"),
            Some("secrets.rotate_root")
        );
        assert_eq!(action(&Method::POST, "/v1/events/ingest"), None);
        assert_eq!(action(&Method::POST, "/v1/secret/data/app"), None);
    }
}

//! Authentication of a secrets request (`docs/secrets.md`, "Authentication"): the admin
//! token or an access token of this control plane's issuer in `X-Vault-Token` (or
//! `Authorization: Bearer`), else the workload's SVID as the TLS client certificate.
//! Nothing valid: `403 permission denied` and an `AuthFailed` event, counted against the
//! client address's brake.

use std::{borrow::Cow, net::SocketAddr};

use axum::{Extension, http::HeaderMap};
use rampart_events::{Event, SecurityEvent, SecurityKind};
use rampart_policy::principal_from_claims;

use super::vault::VaultError;
use crate::{
    secrets::{Caller, Credential, workload},
    server::{auth, listener::PeerCertificates, peer, state::SharedState},
};

/// Vault's token header.
pub(crate) const VAULT_TOKEN: &str = "x-vault-token";
/// The `service.name` of the events published here.
const SOURCE: &str = "rampart-control";

/// What the connection and the request carry.
pub(crate) struct Presented<'a> {
    pub(crate) headers: &'a HeaderMap,
    pub(crate) client: Option<SocketAddr>,
    pub(crate) peer: Option<&'a PeerCertificates>,
}

/// The caller, or `403 permission denied`.
pub(crate) async fn caller(
    state: &SharedState,
    presented: &Presented<'_>,
) -> Result<Caller, VaultError> {
    let ip = presented.client.map(|a| a.ip());
    let mtls = presented.peer.is_some();
    match token(presented.headers) {
        Some(Ok(token)) => {
            if state.token.verify(token) {
                return Ok(Caller::admin(ip, mtls));
            }
            match access_token(state, token).await {
                AccessToken::Valid(principal, scopes) => Ok(Caller {
                    principal: Cow::Owned(principal),
                    credential: Credential::AccessToken,
                    scopes,
                    ip,
                    mtls,
                }),
                AccessToken::WrongAudience => Err(refuse(
                    state,
                    presented.client,
                    "access token not issued for the secrets audience",
                )),
                AccessToken::Invalid => Err(refuse(state, presented.client, "invalid token")),
            }
        }
        Some(Err(())) => Err(refuse(state, presented.client, "malformed credentials")),
        None => match presented.peer {
            Some(certs) => {
                let certs = Some(Extension(certs.clone()));
                let peer = peer::authenticate(state, certs, presented.client, "secrets access")
                    .map_err(|_| VaultError::denied())?;
                Ok(Caller {
                    principal: Cow::Owned(workload(&peer.id)),
                    credential: Credential::Svid,
                    scopes: Vec::new(),
                    ip,
                    mtls,
                })
            }
            None => Err(refuse(state, presented.client, "missing credentials")),
        },
    }
}

/// Whether the request carries the admin token (the `sys` routes that need it).
pub(crate) fn is_admin(state: &SharedState, presented: &Presented<'_>) -> Result<(), VaultError> {
    match token(presented.headers) {
        Some(Ok(token)) if state.token.verify(token) => Ok(()),
        Some(_) => Err(refuse(state, presented.client, "invalid token")),
        None => Err(refuse(state, presented.client, "missing credentials")),
    }
}

// === helpers ===

/// The token of `X-Vault-Token`, else of `Authorization: Bearer`; `Err` when a header is
/// repeated or unreadable.
fn token(headers: &HeaderMap) -> Option<Result<&str, ()>> {
    let single = |name| {
        let mut values = headers.get_all(name).iter();
        match (values.next(), values.next()) {
            (None, _) => None,
            (Some(v), None) => Some(v.to_str().map_err(drop)),
            (Some(_), Some(_)) => Some(Err(())),
        }
    };
    if let Some(value) = single(VAULT_TOKEN) {
        return Some(value.map(|v| v.trim()));
    }
    let value = single(axum::http::header::AUTHORIZATION.as_str())?;
    Some(value.and_then(|v| {
        let (scheme, token) = v.split_once(' ').ok_or(())?;
        match scheme.eq_ignore_ascii_case("bearer") {
            true => Ok(token.trim()),
            false => Err(()),
        }
    }))
}

/// What an access token presented to the secrets API turned out to be.
enum AccessToken {
    /// A live token of this control plane for the secrets audience: its principal and scopes.
    Valid(rampart_policy::Principal, Vec<String>),
    /// A live token of this control plane whose `aud` does not name the secrets audience
    /// (`secrets.token_audience`, by default `<issuer>/v1/secret`): a token minted for
    /// another service is refused here.
    WrongAudience,
    /// Not a live token of this control plane.
    Invalid,
}

/// Checks a live access token of this control plane and its audience.
async fn access_token(state: &SharedState, token: &str) -> AccessToken {
    // Only a JWT can be one of ours: skip the work for anything else.
    if token.bytes().filter(|b| *b == b'.').count() != 2 {
        return AccessToken::Invalid;
    }
    let verified = match state.oauth.live_token(token).await {
        Ok(Some(verified)) => verified,
        Ok(None) => return AccessToken::Invalid,
        Err(error) => {
            tracing::warn!(%error, "secrets: cannot check an access token");
            return AccessToken::Invalid;
        }
    };
    if !state.oauth.allows_secrets(&verified.claims) {
        return AccessToken::WrongAudience;
    }
    match principal_from_claims(&verified.claims) {
        Some(principal) => AccessToken::Valid(principal, verified.scopes),
        None => AccessToken::Invalid,
    }
}

/// Publishes the refusal (never what was presented), counts it against the brake and
/// answers `403 permission denied`.
fn refuse(state: &SharedState, client: Option<SocketAddr>, reason: &'static str) -> VaultError {
    tracing::warn!(client = ?client, reason, "secrets api refused credentials");
    state.bus.publish(Event::Security(SecurityEvent::new(
        SecurityKind::AuthFailed,
        SOURCE,
        client,
        format!("secrets api: {reason}"),
    )));
    auth::record_failure(state, client);
    VaultError::denied()
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn vault_token_wins_over_bearer() {
        let h = headers(&[(VAULT_TOKEN, "a"), ("authorization", "Bearer b")]);
        assert_eq!(token(&h), Some(Ok("a")));
        let h = headers(&[("authorization", "bearer b")]);
        assert_eq!(token(&h), Some(Ok("b")));
        let h = headers(&[("authorization", "Basic b")]);
        assert_eq!(token(&h), Some(Err(())));
        let h = headers(&[(VAULT_TOKEN, "a"), (VAULT_TOKEN, "a")]);
        assert_eq!(token(&h), Some(Err(())));
        assert_eq!(token(&HeaderMap::new()), None);
    }
}

//! The `sys` routes of the secrets store (seal status, health, init, unseal, seal, root
//! rotation, mounts) and `auth/token/lookup-self`, in Vault's shapes.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::{
    body::Bytes,
    extract::{RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use base64::Engine as _;
use rampart_secrets::{Secrets, SecretsError};
use serde::Deserialize;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::{
    Client, Peer,
    authn::{self, Presented},
    kv::error_response,
    vault::{self, VaultError},
};
use crate::{secrets::Credential, server::state::SharedState};

/// The only mount.
const MOUNT: &str = "secret/";

#[derive(Deserialize)]
struct InitRequest {
    secret_shares: u8,
    secret_threshold: u8,
}

/// The body of `PUT /v1/sys/unseal`. The share is wiped from memory when the request is
/// dropped, and never shown by `Debug`.
#[derive(Deserialize)]
struct UnsealRequest {
    #[serde(default, deserialize_with = "zeroizing")]
    key: Option<Zeroizing<String>>,
    #[serde(default)]
    reset: bool,
}

impl std::fmt::Debug for UnsealRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnsealRequest")
            .field("key", &self.key.as_ref().map(|_| "[redacted]"))
            .field("reset", &self.reset)
            .finish()
    }
}

/// An optional string deserialized straight into a [`Zeroizing`] buffer.
fn zeroizing<'de, D>(deserializer: D) -> Result<Option<Zeroizing<String>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(Option::<String>::deserialize(deserializer)?.map(Zeroizing::new))
}

/// `GET /v1/sys/seal-status` (no authentication).
pub(crate) async fn seal_status(State(state): State<SharedState>) -> Response {
    match &state.secrets.secrets {
        Some(secrets) => vault::json(StatusCode::OK, &seal_body(&state, secrets)),
        None => disabled(),
    }
}

/// `GET /v1/sys/leader` (no authentication): Rampart runs no HA cluster of secrets servers,
/// which `bao status` / `vault status` read as `ha_enabled: false`.
pub(crate) async fn leader(State(state): State<SharedState>) -> Response {
    match &state.secrets.secrets {
        Some(_) => vault::json(
            StatusCode::OK,
            &json!({
                "ha_enabled": false,
                "is_self": false,
                "leader_address": "",
                "leader_cluster_address": "",
                "performance_standby": false,
                "raft_committed_index": 0,
                "raft_applied_index": 0,
            }),
        ),
        None => disabled(),
    }
}

/// `GET /v1/sys/health` (no authentication): `200` unsealed, `503` sealed, `501` not
/// initialized (or `sealedcode` / `uninitcode` from the query).
pub(crate) async fn health(State(state): State<SharedState>, query: RawQuery) -> Response {
    let Some(secrets) = &state.secrets.secrets else {
        return disabled();
    };
    let status = secrets.status();
    let code = |name: &str, default: StatusCode| {
        query_param(query.0.as_deref(), name)
            .and_then(|v| v.parse::<u16>().ok())
            .and_then(|v| StatusCode::from_u16(v).ok())
            .unwrap_or(default)
    };
    let http = match (status.initialized, status.sealed) {
        (false, _) => code("uninitcode", StatusCode::NOT_IMPLEMENTED),
        (true, true) => code("sealedcode", StatusCode::SERVICE_UNAVAILABLE),
        (true, false) => code("activecode", StatusCode::OK),
    };
    let body = json!({
        "initialized": status.initialized,
        "sealed": status.sealed,
        "standby": false,
        "performance_standby": false,
        "replication_performance_mode": "disabled",
        "replication_dr_mode": "disabled",
        "server_time_utc": unix_now(),
        "version": state.version,
        "cluster_name": "rampart",
        "cluster_id": "",
    });
    vault::json(http, &body)
}

/// `GET /v1/sys/init` (no authentication).
pub(crate) async fn init_status(State(state): State<SharedState>) -> Response {
    match &state.secrets.secrets {
        Some(secrets) => vault::json(
            StatusCode::OK,
            &json!({ "initialized": secrets.status().initialized }),
        ),
        None => disabled(),
    }
}

/// `PUT /v1/sys/init` (admin token): the shares, hex and base64, shown this once. There is
/// no root token: the admin token plays its part (`root_token` is empty).
pub(crate) async fn init(
    State(state): State<SharedState>,
    client: Client,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let client = client.map(|c| c.0.0);
    let secrets = match admin_secrets(&state, client, &headers) {
        Ok(secrets) => secrets,
        Err(refused) => return *refused,
    };
    let request: InitRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return VaultError::bad_request(format!("invalid request: {e}")).into_response(),
    };
    match secrets
        .init(request.secret_shares, request.secret_threshold)
        .await
    {
        Ok(keys) => {
            state.secrets.seal_event(
                client,
                format!(
                    "secrets store initialized: {} shares, threshold {}",
                    request.secret_shares, request.secret_threshold
                ),
            );
            let keys_base64: Vec<String> = keys
                .iter()
                .filter_map(|k| hex::decode(k).ok())
                .map(|b| base64::engine::general_purpose::STANDARD.encode(b))
                .collect();
            vault::json(
                StatusCode::OK,
                &json!({ "keys": keys, "keys_base64": keys_base64, "root_token": "" }),
            )
        }
        Err(e) => error_response(&state, client, e),
    }
}

/// `PUT /v1/sys/unseal` (no authentication): `key` (hex or base64) adds a share, `reset`
/// forgets the shares given so far; answers the seal status.
pub(crate) async fn unseal(
    State(state): State<SharedState>,
    client: Client,
    body: Bytes,
) -> Response {
    let client = client.map(|c| c.0.0);
    let Some(secrets) = &state.secrets.secrets else {
        return disabled();
    };
    let request: UnsealRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return VaultError::bad_request(format!("invalid request: {e}")).into_response(),
    };
    if request.reset {
        if secrets.is_sealed() {
            secrets.seal();
        }
        return vault::json(StatusCode::OK, &seal_body(&state, secrets));
    }
    let Some(key) = request.key else {
        return VaultError::bad_request("missing required 'key' parameter").into_response();
    };
    let was_sealed = secrets.is_sealed();
    let share = share_hex(&key);
    drop(key);
    match secrets.unseal(&share).await {
        Ok(progress) => {
            if was_sealed && !progress.sealed {
                state
                    .secrets
                    .seal_event(client, "secrets store unsealed".to_owned());
            }
            vault::json(StatusCode::OK, &seal_body(&state, secrets))
        }
        Err(e) => {
            if matches!(e, SecretsError::WrongShares) {
                state.secrets.seal_event(
                    client,
                    "secrets unseal failed: the shares do not open the keyring".to_owned(),
                );
            }
            error_response(&state, client, e)
        }
    }
}

/// `PUT /v1/sys/seal` (admin token): `204`, sealed at once.
pub(crate) async fn seal(
    State(state): State<SharedState>,
    client: Client,
    headers: HeaderMap,
) -> Response {
    let client = client.map(|c| c.0.0);
    let secrets = match admin_secrets(&state, client, &headers) {
        Ok(secrets) => secrets,
        Err(refused) => return *refused,
    };
    secrets.seal();
    state
        .secrets
        .seal_event(client, "secrets store sealed".to_owned());
    vault::no_content()
}

/// `PUT /v1/sys/rotate` (admin token): a new active key-encryption key; the existing data
/// keys are rewrapped in the background. `204`.
pub(crate) async fn rotate(
    State(state): State<SharedState>,
    client: Client,
    headers: HeaderMap,
) -> Response {
    let client = client.map(|c| c.0.0);
    let secrets = match admin_secrets(&state, client, &headers) {
        Ok(secrets) => secrets,
        Err(refused) => return *refused,
    };
    match secrets.rotate_root().await {
        Ok(status) => {
            state.secrets.seal_event(
                client,
                format!("secrets root key rotated: term {}", status.term),
            );
            vault::no_content()
        }
        Err(e) => error_response(&state, client, e),
    }
}

/// `GET /v1/sys/key-status` (admin token): the key term and the rewrap progress.
pub(crate) async fn key_status(
    State(state): State<SharedState>,
    client: Client,
    headers: HeaderMap,
) -> Response {
    let client = client.map(|c| c.0.0);
    let secrets = match admin_secrets(&state, client, &headers) {
        Ok(secrets) => secrets,
        Err(refused) => return *refused,
    };
    match secrets.key_status().await {
        Ok(status) => {
            let data = json!({
                "term": status.term,
                "install_time": vault::time_ms(status.active_since_ms),
                "rewrap_remaining": status.rewrap_remaining,
                "rewrapping": status.rewrapping,
            });
            let mut body = data.clone();
            if let Value::Object(map) = &mut body {
                map.insert("data".to_owned(), data);
            }
            vault::json(StatusCode::OK, &body)
        }
        Err(e) => error_response(&state, client, e),
    }
}

/// `GET /v1/sys/mounts` (any authenticated caller): the one KV v2 mount.
pub(crate) async fn mounts(
    State(state): State<SharedState>,
    client: Client,
    peer: Peer,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = authenticated(&state, client, peer, &headers).await {
        return response;
    }
    let mount = mount_entry();
    let mut body = json!({ MOUNT: mount.clone() });
    if let Value::Object(map) = &mut body {
        map.insert("data".to_owned(), json!({ MOUNT: mount }));
    }
    vault::json(StatusCode::OK, &body)
}

/// `GET /v1/sys/internal/ui/mounts/<path>` (any authenticated caller): how the Vault CLI
/// learns that `secret/` is KV version 2.
pub(crate) async fn ui_mount(
    State(state): State<SharedState>,
    axum::extract::Path(rest): axum::extract::Path<String>,
    client: Client,
    peer: Peer,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = authenticated(&state, client, peer, &headers).await {
        return response;
    }
    if rest != MOUNT.trim_end_matches('/') && !rest.starts_with(MOUNT) {
        return VaultError::denied().into_response();
    }
    let mut mount = mount_entry();
    if let Value::Object(map) = &mut mount {
        map.insert("path".to_owned(), Value::from(MOUNT));
    }
    vault::ok(mount)
}

/// `GET /v1/auth/token/lookup-self` (any authenticated caller): a token-shaped description
/// of the caller; the token itself is never echoed (`id` is empty).
pub(crate) async fn lookup_self(
    State(state): State<SharedState>,
    client: Client,
    peer: Peer,
    headers: HeaderMap,
) -> Response {
    let caller = match authenticated(&state, client, peer, &headers).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let (display_name, policies) = match caller.credential {
        Credential::AdminToken => ("admin".to_owned(), ["root"]),
        _ => (caller.principal.id().to_owned(), ["default"]),
    };
    vault::ok(json!({
        "accessor": "",
        "creation_time": unix_now(),
        "creation_ttl": 0,
        "display_name": display_name,
        "entity_id": "",
        "expire_time": null,
        "explicit_max_ttl": 0,
        "id": "",
        "meta": null,
        "num_uses": 0,
        "orphan": true,
        "path": "auth/token/create",
        "policies": policies,
        "renewable": false,
        "ttl": 0,
        "type": "service",
    }))
}

// === helpers ===

/// The caller of a route open to anyone authenticated, or the answer: `403`, or `503`
/// while sealed.
async fn authenticated(
    state: &SharedState,
    client: Client,
    peer: Peer,
    headers: &HeaderMap,
) -> Result<crate::secrets::Caller, Response> {
    let client = client.map(|c| c.0.0);
    let peer = peer.map(|p| p.0);
    let presented = Presented {
        headers,
        client,
        peer: peer.as_ref(),
    };
    let caller = authn::caller(state, &presented)
        .await
        .map_err(IntoResponse::into_response)?;
    match &state.secrets.secrets {
        Some(secrets) if secrets.is_sealed() => Err(VaultError::sealed().into_response()),
        Some(_) => Ok(caller),
        None => Err(disabled()),
    }
}

/// The secrets store, for a caller that presented the admin token; else the refusal (403, or
/// 404 when no store is served).
fn admin_secrets<'s>(
    state: &'s SharedState,
    client: Option<std::net::SocketAddr>,
    headers: &HeaderMap,
) -> Result<&'s Secrets, Box<Response>> {
    let presented = Presented {
        headers,
        client,
        peer: None,
    };
    authn::is_admin(state, &presented).map_err(|e| Box::new(e.into_response()))?;
    state
        .secrets
        .secrets
        .as_ref()
        .ok_or_else(|| Box::new(disabled()))
}

fn seal_body(state: &SharedState, secrets: &Secrets) -> Value {
    let status = secrets.status();
    json!({
        "type": match status.seal_type { "auto" => "rampart-auto", other => other },
        "initialized": status.initialized,
        "sealed": status.sealed,
        "t": status.threshold,
        "n": status.shares,
        "progress": status.progress,
        "nonce": "",
        "version": state.version,
        "build_date": "",
        "migration": false,
        "recovery_seal": false,
        "storage_type": state.store.backend_name(),
        "cluster_name": "rampart",
        "cluster_id": "",
    })
}

fn mount_entry() -> Value {
    json!({
        "type": "kv",
        "description": "key/value secret storage",
        "accessor": "kv_rampart",
        "config": { "default_lease_ttl": 0, "max_lease_ttl": 0, "force_no_cache": false },
        "local": false,
        "seal_wrap": false,
        "external_entropy_access": false,
        "options": { "version": "2" },
        "uuid": "",
    })
}

/// A share as the engine takes it (hex): base64 shares (`keys_base64`) are converted.
fn share_hex(key: &str) -> Zeroizing<String> {
    let key = key.trim();
    if hex::decode(key).map(Zeroizing::new).is_ok() {
        return Zeroizing::new(key.to_owned());
    }
    match base64::engine::general_purpose::STANDARD.decode(key) {
        Ok(bytes) => Zeroizing::new(hex::encode(Zeroizing::new(bytes).as_slice())),
        Err(_) => Zeroizing::new(key.to_owned()),
    }
}

/// The value of `name` in a raw query string.
pub(crate) fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The answer when the control plane runs without a secrets store: Vault's answer for an
/// unmounted path.
pub(crate) fn disabled() -> Response {
    VaultError::new(StatusCode::NOT_FOUND, "the secrets store is not enabled").into_response()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unseal_request_debug_hides_the_share() {
        let request: UnsealRequest = serde_json::from_str(r#"{"key":"0a1b2c3d4e5f"}"#).unwrap();
        let shown = format!("{request:?}");
        assert!(!shown.contains("0a1b2c3d4e5f"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
        assert_eq!(
            request.key.as_deref().map(String::as_str),
            Some("0a1b2c3d4e5f")
        );
        let reset: UnsealRequest = serde_json::from_str(r#"{"reset":true}"#).unwrap();
        assert!(reset.key.is_none() && reset.reset);
    }

    #[test]
    fn shares_are_hex_whatever_the_encoding() {
        assert_eq!(share_hex(" 0a0b ").as_str(), "0a0b");
        assert_eq!(share_hex("CgsM").as_str(), "0a0b0c");
    }
}

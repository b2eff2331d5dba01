//! The KV v2 mount `secret`: one handler for every method under `/v1/secret/…` (Vault's
//! `LIST` is not a method axum routes by), which checks the seal, authenticates, parses the
//! operation, asks the policy and audits, then calls the engine.

use std::{borrow::Cow, net::SocketAddr};

use axum::{
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use rampart_policy::Action;
use rampart_secrets::{SecretsError, is_reserved, validate_path};

use super::{
    Client, Peer,
    authn::{self, Presented},
    ops,
    sys::{disabled, query_param},
    vault::VaultError,
};
use crate::{
    secrets::{Op, Verdict},
    server::state::SharedState,
};

/// The resource of the mount-wide configuration (`admin` on it).
const CONFIG_RESOURCE: &str = "secret/";
/// The merge-patch media type PATCH requires.
const MERGE_PATCH: &str = "application/merge-patch+json";

/// One parsed request: operation, KV path (as given) and version.
pub(crate) struct Target<'a> {
    pub(crate) op: Op,
    pub(crate) path: &'a str,
    pub(crate) version: Option<u64>,
}

/// `ANY /v1/secret/{*rest}`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn dispatch(
    State(state): State<SharedState>,
    method: Method,
    Path(rest): Path<String>,
    RawQuery(query): RawQuery,
    client: Client,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(secrets) = &state.secrets.secrets else {
        return disabled();
    };
    if secrets.is_sealed() {
        return VaultError::sealed().into_response();
    }
    let client = client.map(|c| c.0.0);
    let peer = peer.map(|p| p.0);
    let presented = Presented {
        headers: &headers,
        client,
        peer: peer.as_ref(),
    };
    let caller = match authn::caller(&state, &presented).await {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    let target = match target(&method, &rest, query.as_deref()) {
        Ok(target) => target,
        Err(e) => return e.into_response(),
    };
    if method == Method::PATCH && !is_merge_patch(&headers) {
        return VaultError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("PATCH requires Content-Type `{MERGE_PATCH}`"),
        )
        .into_response();
    }
    // The platform keys' reserved prefix: refused for every caller, the admin token
    // included, before any policy is asked (`docs/secrets.md`, "Platform keys").
    if is_reserved(target.path) {
        let verdict = Verdict {
            allowed: false,
            policies: Cow::Borrowed("reserved-path"),
        };
        let path = target.path.trim_matches('/');
        state
            .secrets
            .audit(&caller, client, target.op, path, target.version, &verdict);
        return VaultError::denied().into_response();
    }
    let (action, resource) = match authorization(&target) {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    let verdict = state.secrets.authorize(&caller, action, &resource).await;
    if !verdict.allowed {
        state.secrets.audit(
            &caller,
            client,
            target.op,
            &resource,
            target.version,
            &verdict,
        );
        return VaultError::denied().into_response();
    }
    let call = Call {
        query: query.as_deref(),
        body: &body,
    };
    let (response, version) = match ops::run(&call, &target, &resource, secrets).await {
        Ok(done) => done,
        Err(e) => (error_response(&state, client, e), target.version),
    };
    state
        .secrets
        .audit(&caller, client, target.op, &resource, version, &verdict);
    response
}

/// What an operation needs besides its target.
pub(crate) struct Call<'a> {
    pub(crate) query: Option<&'a str>,
    pub(crate) body: &'a Bytes,
}

/// The answer to an engine error; an integrity failure is also published.
pub(crate) fn error_response(
    state: &SharedState,
    client: Option<SocketAddr>,
    error: SecretsError,
) -> Response {
    let status = match &error {
        SecretsError::NotFound => return VaultError::not_found().into_response(),
        SecretsError::Reserved => return VaultError::denied().into_response(),
        SecretsError::Sealed | SecretsError::NotInitialized | SecretsError::Busy => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        SecretsError::AlreadyInitialized
        | SecretsError::BadShare
        | SecretsError::WrongShares
        | SecretsError::WrongKey
        | SecretsError::InvalidPath(_)
        | SecretsError::InvalidRequest(_)
        | SecretsError::CasMismatch
        | SecretsError::CasRequired => StatusCode::BAD_REQUEST,
        SecretsError::Integrity { path, version } => {
            state.secrets.integrity(client, path, *version);
            return VaultError::internal().into_response();
        }
        other => {
            tracing::error!(error = %other, "secrets: engine failure");
            return VaultError::internal().into_response();
        }
    };
    VaultError::new(status, error.to_string()).into_response()
}

// === helpers ===

/// Whether the body is declared `application/merge-patch+json` (parameters aside).
fn is_merge_patch(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(MERGE_PATCH))
}

/// The operation `method` on `rest` (`<area>/<path>`) asks for.
fn target<'a>(
    method: &Method,
    rest: &'a str,
    query: Option<&str>,
) -> Result<Target<'a>, VaultError> {
    let (area, path) = rest.split_once('/').unwrap_or((rest, ""));
    let list = method.as_str() == "LIST" || query_param(query, "list") == Some("true");
    let version = match query_param(query, "version") {
        Some(v) => Some(
            v.parse::<u64>()
                .map_err(|_| VaultError::bad_request("invalid `version` parameter"))?,
        ),
        None => None,
    };
    let write = matches!(*method, Method::POST | Method::PUT);
    let op = match (area, method.as_str()) {
        ("data", "GET") if !list => Op::Read,
        ("data", "POST" | "PUT") => Op::Write,
        ("data", "PATCH") => Op::Patch,
        ("data", "DELETE") => Op::Delete,
        ("metadata", _) if list && matches!(method.as_str(), "GET" | "LIST") => Op::List,
        ("metadata", "GET") => Op::ReadMetadata,
        ("metadata", "POST" | "PUT" | "PATCH") => Op::WriteMetadata,
        ("metadata", "DELETE") => Op::DeleteMetadata,
        ("delete", _) if write => Op::Delete,
        ("undelete", _) if write => Op::Undelete,
        ("destroy", _) if write => Op::Destroy,
        ("subkeys", "GET") => Op::Subkeys,
        ("config", "GET") if path.is_empty() => Op::ReadConfig,
        ("config", "POST" | "PUT") if path.is_empty() => Op::WriteConfig,
        ("data" | "metadata" | "delete" | "undelete" | "destroy" | "subkeys" | "config", _) => {
            return Err(VaultError::method_not_allowed());
        }
        _ => {
            return Err(VaultError::new(
                StatusCode::NOT_FOUND,
                format!("no handler for route \"secret/{rest}\". route entry not found."),
            ));
        }
    };
    Ok(Target { op, path, version })
}

/// The Cedar action and the resource path (canonical: slashes trimmed; a list keeps its
/// trailing `/`) of `target`; `400` for a path that breaks the rules.
fn authorization(target: &Target<'_>) -> Result<(Action, String), VaultError> {
    let invalid = |e: SecretsError| VaultError::bad_request(e.to_string());
    match target.op {
        Op::ReadConfig | Op::WriteConfig => Ok((Action::Admin, CONFIG_RESOURCE.to_owned())),
        Op::List => {
            let trimmed = target.path.trim_matches('/');
            let prefix = match trimmed {
                "" => String::new(),
                p => format!("{}/", validate_path(p).map_err(invalid)?),
            };
            Ok((Action::ReadSecret, prefix))
        }
        op => {
            let path = validate_path(target.path).map_err(invalid)?;
            let action = match op {
                Op::Read | Op::ReadMetadata | Op::Subkeys => Action::ReadSecret,
                _ => Action::WriteSecret,
            };
            Ok((action, path))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(method: &str, rest: &str, query: Option<&str>) -> Option<Op> {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        target(&method, rest, query).ok().map(|t| t.op)
    }

    #[test]
    fn methods_and_areas_map_to_operations() {
        assert_eq!(op("GET", "data/a/b", None), Some(Op::Read));
        assert_eq!(op("PUT", "data/a", None), Some(Op::Write));
        assert_eq!(op("POST", "data/a", None), Some(Op::Write));
        assert_eq!(op("PATCH", "data/a", None), Some(Op::Patch));
        assert_eq!(op("DELETE", "data/a", None), Some(Op::Delete));
        assert_eq!(op("LIST", "metadata/a/", None), Some(Op::List));
        assert_eq!(op("GET", "metadata/a/", Some("list=true")), Some(Op::List));
        assert_eq!(op("GET", "metadata/a", None), Some(Op::ReadMetadata));
        assert_eq!(op("POST", "destroy/a", None), Some(Op::Destroy));
        assert_eq!(op("GET", "destroy/a", None), None);
        assert_eq!(op("GET", "config", None), Some(Op::ReadConfig));
        assert_eq!(op("GET", "nope/a", None), None);
        assert_eq!(op("LIST", "data/a", None), None);
    }

    #[test]
    fn list_prefixes_keep_their_slash_and_paths_are_trimmed() {
        let list = Target {
            op: Op::List,
            path: "app/",
            version: None,
        };
        assert_eq!(
            authorization(&list).unwrap(),
            (Action::ReadSecret, "app/".to_owned())
        );
        let root = Target {
            op: Op::List,
            path: "",
            version: None,
        };
        assert_eq!(authorization(&root).unwrap().1, "");
        let read = Target {
            op: Op::Read,
            path: "/app/x/",
            version: None,
        };
        assert_eq!(
            authorization(&read).unwrap(),
            (Action::ReadSecret, "app/x".to_owned())
        );
        let bad = Target {
            op: Op::Write,
            path: "a/../b",
            version: None,
        };
        assert!(authorization(&bad).is_err());
    }
}

//! `POST /v1/mesh/register`, `POST /v1/mesh/deregister` and `GET /v1/mesh/watch`: the
//! sidecars' side of the mesh.
//!
//! None of them takes the admin token (see the auth layer): each authenticates the caller by
//! its current SVID over mTLS, exactly as renewal does, and takes the workload's identity
//! from it.

mod stream;

use std::net::SocketAddr;

use axum::{
    Extension, Json, Router,
    body::Bytes,
    extract::{ConnectInfo, State, rejection::BytesRejection},
    http::StatusCode,
    response::Response,
    routing::{get, post},
};

use crate::{
    api::{DeregisterWorkload, RegisterAck, RegisterWorkload},
    server::{
        listener::PeerCertificates,
        peer::{self, Peer},
        reply::{ApiError, parse_json},
        state::SharedState,
    },
};

/// Where a sidecar registers (and heartbeats) one instance.
pub(crate) const REGISTER_PATH: &str = "/v1/mesh/register";
/// Where a sidecar withdraws one instance.
pub(crate) const DEREGISTER_PATH: &str = "/v1/mesh/deregister";
/// Where a sidecar follows the mesh snapshot.
pub(crate) const WATCH_PATH: &str = "/v1/mesh/watch";

type Client = Option<Extension<ConnectInfo<SocketAddr>>>;

pub(super) fn routes() -> Router<SharedState> {
    Router::new()
        .route(REGISTER_PATH, post(register))
        .route(DEREGISTER_PATH, post(deregister))
        .route(WATCH_PATH, get(watch))
}

/// `200` with the ttl: the instance is in the snapshot (and every watcher has heard of it)
/// when this answers.
async fn register(
    State(state): State<SharedState>,
    client: Client,
    peer: Option<Extension<PeerCertificates>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<RegisterAck>, ApiError> {
    let client = client.map(|Extension(ConnectInfo(addr))| addr);
    let peer = peer::authenticate(&state, peer, client, "mesh registration")?;
    let request: RegisterWorkload = parse_json(body)?;
    request.check().map_err(ApiError::bad_request)?;
    let workload = workload(&peer)?;
    let mesh = state.authority.mesh();
    mesh.register(&peer.id, workload, &request.instance, &request.address)
        .await?;
    tracing::debug!(spiffe_id = %peer.id, instance = %request.instance, address = %request.address, "workload registered");
    // Rounded up: a sidecar that heartbeats every third of it stays registered.
    let ttl = mesh.ttl();
    Ok(Json(RegisterAck {
        ttl_secs: ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0),
    }))
}

/// `204` when the instance was registered, `404` when not.
async fn deregister(
    State(state): State<SharedState>,
    client: Client,
    peer: Option<Extension<PeerCertificates>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let client = client.map(|Extension(ConnectInfo(addr))| addr);
    let peer = peer::authenticate(&state, peer, client, "mesh deregistration")?;
    let request: DeregisterWorkload = parse_json(body)?;
    request.check().map_err(ApiError::bad_request)?;
    match state
        .authority
        .mesh()
        .deregister(&peer.id, &request.instance)
        .await?
    {
        true => {
            tracing::debug!(spiffe_id = %peer.id, instance = %request.instance, "workload deregistered");
            Ok(StatusCode::NO_CONTENT)
        }
        false => Err(ApiError::not_found(format!(
            "no instance `{}` of `{}` is registered",
            request.instance, peer.id
        ))),
    }
}

/// `200` with a stream of newline-delimited JSON snapshots: the current one at once, then one
/// per change, and an empty line every 15 s. The stream ends when the caller's SVID is
/// revoked or expires (it reconnects with its renewed one), or when the server shuts down.
async fn watch(
    State(state): State<SharedState>,
    client: Client,
    peer: Option<Extension<PeerCertificates>>,
) -> Result<Response, ApiError> {
    let client = client.map(|Extension(ConnectInfo(addr))| addr);
    let peer = peer::authenticate(&state, peer, client, "mesh watch")?;
    tracing::debug!(client = ?client, spiffe_id = %peer.id, "mesh watch started");
    Ok(stream::respond(&state, peer))
}

// === helpers ===

/// The `(namespace, service)` of a workload SVID; `403` for an SVID of another shape.
fn workload(peer: &Peer) -> Result<(&str, &str), ApiError> {
    match (peer.id.namespace(), peer.id.service()) {
        (Some(namespace), Some(service)) => Ok((namespace, service)),
        _ => Err(ApiError::forbidden(format!(
            "`{}` is not a workload identity (`/ns/<namespace>/sa/<service>`)",
            peer.id
        ))),
    }
}

//! The secrets store's Vault-compatible API (`docs/secrets.md`, "HTTP API"): the KV v2 mount
//! `secret` under `/v1/secret/…`, the `sys` routes of sealing and mounts, and
//! `auth/token/lookup-self`. These routes authenticate themselves (admin token, access
//! token or SVID; see [`authn`]) and answer in Vault's shapes, errors included.

mod authn;
mod kv;
mod ops;
mod shapes;
mod sys;
mod vault;

use std::net::SocketAddr;

use axum::{
    Extension, Router,
    extract::ConnectInfo,
    routing::{any, get, put},
};

use crate::server::{listener::PeerCertificates, state::SharedState};

/// The prefixes of the routes here: the admin-token layer lets them through.
pub(crate) const PREFIXES: [&str; 3] = ["/v1/secret/", "/v1/sys/", "/v1/auth/"];

type Client = Option<Extension<ConnectInfo<SocketAddr>>>;
type Peer = Option<Extension<PeerCertificates>>;

pub(super) fn routes() -> Router<SharedState> {
    Router::new()
        .route("/v1/secret/{*rest}", any(kv::dispatch))
        .route("/v1/sys/seal-status", get(sys::seal_status))
        .route("/v1/sys/health", get(sys::health).head(sys::health))
        .route("/v1/sys/leader", get(sys::leader))
        .route(
            "/v1/sys/init",
            get(sys::init_status).put(sys::init).post(sys::init),
        )
        .route("/v1/sys/unseal", put(sys::unseal).post(sys::unseal))
        .route("/v1/sys/seal", put(sys::seal).post(sys::seal))
        .route("/v1/sys/rotate", put(sys::rotate).post(sys::rotate))
        .route("/v1/sys/key-status", get(sys::key_status))
        .route("/v1/sys/mounts", get(sys::mounts))
        .route("/v1/sys/internal/ui/mounts/{*rest}", get(sys::ui_mount))
        .route("/v1/auth/token/lookup-self", get(sys::lookup_self))
}

/// Whether `path` is served here (and so not behind the admin-token layer).
pub(crate) fn owns(path: &str) -> bool {
    PREFIXES.iter().any(|p| path.starts_with(p))
}

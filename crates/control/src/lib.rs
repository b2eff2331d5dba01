//! Rampart's control plane server: authenticated admin API, proxy registry and status.
//!
//! This crate owns the control-plane API: the HTTPS listener (h1 and h2 by ALPN) and its
//! routes, the admin token that authenticates every request to it, the brake on failed
//! authentications, the registry of proxies that report to it, the JSON types of the API
//! ([`api`]) and the [`ControlClient`] the CLI uses. For the mesh (see `docs/mesh.md`) it
//! owns the workload CA generations and their rollover, the records of issued SVIDs and
//! their revocation, the registry of workload endpoints and the versioned mesh snapshot
//! streamed to every sidecar. For OAuth2 (see `docs/oauth.md`) it is the authorization
//! server: registered clients, the rotating token signing keys, discovery, JWKS and the token,
//! introspection and revocation endpoints. For the secrets store (see `docs/secrets.md`) it
//! serves the Vault-compatible KV v2 and `sys` API over a `rampart_secrets::Secrets` it is
//! given: authentication, the Cedar decision per request and the audit events, no crypto.
//! It takes its TLS configuration, store, event bus and trust bundle from the caller and
//! builds none of them (it writes files only when a CA rollover creates a generation under the
//! `ca_dir` it was given); it never reads configuration files, never touches the data plane's
//! request path, and never prints, logs or returns the admin token or any credential a client
//! presented.

mod admin_token;
pub mod api;
mod authority;
mod ca_set;
mod client;
mod encoding;
mod error;
mod event_log;
mod join_tokens;
mod mesh;
mod oauth;
mod policy;
mod registry;
mod secrets;
mod server;

pub use crate::admin_token::AdminToken;
pub use crate::client::{
    CA_ENV, ControlClient, DEFAULT_CONTROL_URL, LogPage, LoggedEvent, MeshWatch, TOKEN_ENV,
    VaultReply, WATCH_SILENCE, default_ca_path, default_token_path,
};
pub use crate::error::ControlError;
pub use crate::event_log::{EventLog, Exports, IngestReply};
pub use crate::join_tokens::{
    JOIN_TOKEN_PREFIX, JoinTokens, MAX_JOIN_TOKEN_TTL, NewJoinToken, ParsedJoinToken,
    ca_fingerprint, parse_token,
};
pub use crate::oauth::{DEFAULT_ACCESS_TOKEN_TTL, OAuthSettings};
pub use crate::registry::{LocalProxy, Registry};
pub use crate::server::{
    ControlHandle, ControlOptions, ControlPlane, DEFAULT_WORKLOAD_TTL, Limits, server_alpn,
    workload_bundle,
};

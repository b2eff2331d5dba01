//! Rampart's control plane server: authenticated admin API, proxy registry and status.
//!
//! This crate owns the control-plane API: the HTTPS listener (h1 and h2 by ALPN) and its
//! routes, the admin token that authenticates every request to it, the brake on failed
//! authentications, the registry of proxies that report to it, the JSON types of the API
//! ([`api`]) and the [`ControlClient`] the CLI uses. It takes its TLS configuration, store and
//! event bus from the caller and builds none of them; it never reads configuration files,
//! never touches the data plane's request path, and never prints, logs or returns the admin
//! token or any credential a client presented.

mod admin_token;
pub mod api;
mod client;
mod error;
mod join_tokens;
mod registry;
mod server;

pub use crate::admin_token::AdminToken;
pub use crate::client::{
    CA_ENV, ControlClient, DEFAULT_CONTROL_URL, TOKEN_ENV, default_ca_path, default_token_path,
};
pub use crate::error::ControlError;
pub use crate::join_tokens::{
    JOIN_TOKEN_PREFIX, JoinTokens, MAX_JOIN_TOKEN_TTL, NewJoinToken, ParsedJoinToken,
    ca_fingerprint, parse_token,
};
pub use crate::registry::{LocalProxy, Registry};
pub use crate::server::{
    ControlHandle, ControlOptions, ControlPlane, Limits, server_alpn, workload_bundle,
};

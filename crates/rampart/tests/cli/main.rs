//! Whole-binary tests: the real `rampart` process on loopback, driven like a user would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod config_check;
mod gateway_mesh;
mod oauth;
mod oauth_gateway;
mod policy;
mod reload;
mod sidecar;
mod support;
mod up;
mod upstream_ca;

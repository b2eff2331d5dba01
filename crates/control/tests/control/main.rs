//! The control-plane API over real TLS on loopback: a local CA in a temp dir, a SQLite store,
//! [`rampart_control::ControlClient`] for most calls and raw h1/h2 connections where the
//! exact answer matters.

// Shared helpers outside #[test] fns stop the test with a clear message on any setup failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod auth;
mod errors;
mod events_nats;
mod join_tokens;
mod mesh;
mod oauth;
mod policy;
mod proxies;
mod revoke;
mod rollover;
mod secrets;
mod secrets_authz;
mod secrets_platform;
mod secrets_seal;
mod support;
mod svid;
mod tls;

//! End-to-end tests of rampart-identity: real handshakes over loopback between rustls
//! (through tokio-rustls) or `openssl s_client` and servers built with this crate.

// The helpers shared by tests are not `#[test]` functions, which clippy's in-test allowance
// does not cover; failing loudly is what they are for.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod ca;
mod certs;
mod pinned;
mod refusals;
mod sni;
mod support;

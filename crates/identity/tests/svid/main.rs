//! Tests of SPIFFE SVIDs: issuing from CSRs, verification refusals, and real mutual-TLS
//! handshakes over loopback with tokio-rustls.

// The helpers shared by tests are not `#[test]` functions, which clippy's in-test allowance
// does not cover; failing loudly is what they are for.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod handshake;
mod intermediate;
mod issue;
mod mesh;
mod refusals;
mod revocation;
mod rollover;
mod source;
mod support;

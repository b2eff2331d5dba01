//! Whole-gateway tests: a real [`rampart_proxy::Gateway`] on loopback, real upstream servers
//! (`rampart-testkit`), real clients (hyper, tokio-rustls, raw TCP, `openssl s_client`).
//!
//! Every gateway binds port 0 on its own loopback addresses, so tests run in parallel: ingress
//! listeners on 127.0.0.1 (clients connect from there) and 127.0.0.2, admin on 127.0.0.3,
//! egress on 127.0.0.4; the control address (127.0.0.5) is never bound by the data plane.

// A failed setup step or assertion must stop the test with a clear message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod access;
mod admin;
mod authz;
mod balance;
mod cidr;
mod desync;
mod egress;
mod faults;
mod h2c;
mod jwt;
mod limits;
mod mesh;
mod overload;
mod proxying;
mod rate_limit;
mod reload;
mod resilience;
mod robustness;
mod slowloris;
mod tls;
mod upstream_failures;
mod upstream_protocols;

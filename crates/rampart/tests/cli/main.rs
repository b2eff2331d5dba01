//! Whole-binary tests: the real `rampart` process on loopback, driven like a user would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod config_check;
mod gateway_mesh;
mod logs_audit;
mod logs_exports;
mod logs_pipeline;
mod logs_query;
mod logs_spool;
mod logs_support;
mod logs_trail;
mod oauth;
mod oauth_gateway;
mod policy;
mod policy_gateway;
mod policy_mesh;
mod reload;
mod resilience_control;
mod secrets;
mod secrets_durability;
mod secrets_platform;
mod secrets_shamir;
mod segments_export;
mod sidecar;
mod support;
mod up;
mod upstream_ca;

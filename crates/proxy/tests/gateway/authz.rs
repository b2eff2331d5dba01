//! Authorization at the gateway (`docs/policy.md`, "Enforcement (proxy)"): Cedar policy sets
//! installed with `GatewayHandle::set_policy` decide every request after the token check and
//! before the body; denials are 403 `Forbidden: forbidden` and never reach the upstream.

mod lifecycle;
mod matrix;
mod paths;
mod support;

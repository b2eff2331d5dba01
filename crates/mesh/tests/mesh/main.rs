//! The mesh agent end to end, in one test binary: sidecars in process against a real control
//! plane, under load, and against bad input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bad_input;
mod no_snapshot;
mod policy;
mod revocation_under_load;
mod sidecar;
mod support;
mod tokens;
mod under_load;

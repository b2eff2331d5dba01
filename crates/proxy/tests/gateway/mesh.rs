//! The gateway as a mesh member: mesh listeners (mTLS required, the peer's SPIFFE id as
//! principal), mesh clusters (the target's id expected), sidecar-shaped pairs of gateways, and
//! reactions to SVID, bundle, revocation and directory changes.

mod changes;
mod refusals;
mod sidecars;
pub mod support;

//! Rampart authorization as policy code, on Cedar.
//!
//! - [`schema`]: the embedded Cedar schema of Rampart's world (namespace `Rampart`).
//! - [`Policies`]: policies loaded from `.cedar` files, each with a stable id, validated in
//!   strict mode against the schema.
//! - [`Segments`]: network segments and allowed flows, compiled into Cedar permit policies.
//! - [`PolicyEngine`]: a compiled, immutable, indexed policy set; [`PolicyEngine::decide`]
//!   evaluates one [`Request`] with default deny and fail-closed error handling;
//!   [`PolicyEngine::memo_key`] / [`PolicyEngine::abstraction`] tell what of a request its
//!   decision depends on (e.g. a path only through the outcomes of `like` tests), for memos.
//! - [`principal_from_claims`] / [`scopes_from_claims`]: principals and scopes from verified
//!   token claims.
//! - [`export`]: the segments as Kubernetes `NetworkPolicy` manifests or an nftables ruleset.
//! - [`RequestSpec`] / [`TestFile`]: requests and expected decisions written as text, for
//!   policy tests and `rampart policy explain`.
//!
//! Paths: the engine matches the path it is given verbatim. Callers must pass the output of
//! the proxy's `path::normalize` (the same path that goes upstream), never the raw request path.

mod bundle;
mod cedar_inputs;
mod claims;
mod engine;
mod error;
pub mod export;
mod index;
mod location;
mod memo_key;
mod policies;
mod report;
mod request;
pub mod schema;
mod segments;
mod spec;
mod usage;

pub use bundle::{Distribution, INLINE_FILE, PolicyRelease, PolicySource};
pub use claims::{principal_from_claims, scopes_from_claims};
pub use engine::{Decision, PolicyEngine, SharedEngine};
pub use error::{PolicyError, Problem};
pub use memo_key::{Abstraction, MemoKey, PathClass};
pub use policies::{Policies, PolicyId};
pub use report::{ShadowEntry, ShadowKey, ShadowReport};
pub use request::{ANONYMOUS_ID, Action, Context, Principal, Request, Resource};
pub use segments::{Flow, SEGMENTS_FILE, Segment, Segments};
pub use spec::{Expect, RequestSpec, SpecError, TestCase, TestFile};

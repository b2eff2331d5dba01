//! The API's routes, one module per area, and the layers every route sits behind.
//!
//! To add an area (identity, oauth, policy, watch), write a module here whose `routes()`
//! returns a `Router<SharedState>` and merge it in [`router`]: it is then authenticated and
//! limited like every other route.

mod config;
mod health;
mod identity;
mod join_tokens;
pub(crate) mod logs;
pub(crate) mod mesh;
pub(crate) mod oauth;
pub(crate) mod policy;
mod proxies;
pub(crate) mod secrets;
pub(crate) mod svid;

use axum::{Router, extract::DefaultBodyLimit, middleware};

use super::{Limits, audit_trail, auth, load, reply, state::SharedState};

/// The whole API: routes → fallbacks → body limit → admin audit → authentication → load
/// limits.
pub(crate) fn router(state: SharedState, limits: &Limits) -> Router {
    Router::new()
        .merge(health::routes())
        .merge(proxies::routes())
        .merge(config::routes())
        .merge(join_tokens::routes())
        .merge(svid::routes())
        .merge(mesh::routes())
        .merge(identity::routes())
        .merge(oauth::routes())
        .merge(policy::routes())
        .merge(secrets::routes())
        .merge(logs::routes())
        .fallback(reply::not_found)
        .method_not_allowed_fallback(reply::method_not_allowed)
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            audit_trail::record,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), load::limit))
        .with_state(state)
}

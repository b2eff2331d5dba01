//! `POST /v1/proxies/heartbeat` and `DELETE /v1/proxies/{id}`: proxies that run elsewhere
//! (e.g. a standalone `rampart gateway`) report themselves here.

use axum::{
    Json, Router,
    body::Bytes,
    extract::{
        Path, State,
        rejection::{BytesRejection, PathRejection},
    },
    http::StatusCode,
    routing::{delete, post},
};

use crate::{
    api::{Heartbeat, HeartbeatAck},
    registry::millis,
    server::{
        reply::{ApiError, parse_json},
        state::SharedState,
    },
};

pub(super) fn routes() -> Router<SharedState> {
    Router::new()
        .route("/v1/proxies/heartbeat", post(heartbeat))
        .route("/v1/proxies/{id}", delete(remove))
}

async fn heartbeat(
    State(state): State<SharedState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<HeartbeatAck>, ApiError> {
    let heartbeat: Heartbeat = parse_json(body)?;
    state.registry.heartbeat(&heartbeat).await?;
    Ok(Json(HeartbeatAck {
        ttl_ms: millis(state.registry.ttl()),
    }))
}

/// `204` when the proxy was known, `404` when not.
async fn remove(
    State(state): State<SharedState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(id) = id.map_err(ApiError::path)?;
    match state.registry.remove(&id).await? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::not_found(format!("no proxy `{id}`"))),
    }
}

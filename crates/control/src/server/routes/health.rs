//! `GET /v1/health` and `GET /v1/status`.

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};

use crate::{
    api::{Health, Status},
    registry::millis,
    server::state::SharedState,
};

pub(super) fn routes() -> Router<SharedState> {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/status", get(status))
}

/// `200` with the health, or `503` with it when the store fails.
async fn health(State(state): State<SharedState>) -> Response {
    let health = state.health().await;
    (code(&health), Json(health)).into_response()
}

/// Health plus every known proxy; `503` (and no proxies) when the store fails.
async fn status(State(state): State<SharedState>) -> Response {
    let mut health = state.health().await;
    let proxies = match health.is_ok() {
        true => match state.registry.proxies().await {
            Ok(proxies) => proxies,
            Err(error) => {
                tracing::warn!(%error, "status: cannot list proxies");
                health.status = crate::api::HealthState::Degraded;
                Vec::new()
            }
        },
        false => Vec::new(),
    };
    let workloads = state.authority.mesh().subscribe().borrow().services.clone();
    let status = Status {
        proxy_ttl_ms: millis(state.registry.ttl()),
        proxies,
        workloads,
        health,
    };
    (code(&status.health), Json(status)).into_response()
}

fn code(health: &Health) -> StatusCode {
    match health.is_ok() {
        true => StatusCode::OK,
        false => StatusCode::SERVICE_UNAVAILABLE,
    }
}

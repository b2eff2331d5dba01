//! The outermost layer: a bound on requests in flight (more are shed with `503` at once, never
//! queued) and on how long one request may take.

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::{reply::ApiError, state::SharedState};

pub(crate) async fn limit(
    State(state): State<SharedState>,
    request: Request,
    next: Next,
) -> Response {
    let Ok(_permit) = state.in_flight.clone().try_acquire_owned() else {
        tracing::warn!("control api overloaded; request shed");
        return ApiError::overloaded().into_response();
    };
    match tokio::time::timeout(state.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!("control api request timed out");
            ApiError::timeout().into_response()
        }
    }
}

//! `POST /v1/identity/join-tokens`: a one-time token that bootstraps a workload's identity.
//! The answer is the only place the token ever appears.

use std::time::Duration;

use axum::{
    Json, Router, body::Bytes, extract::State, extract::rejection::BytesRejection,
    http::StatusCode, routing::post,
};

use crate::{
    api::{CreateJoinToken, JoinTokenCreated},
    server::{
        reply::{ApiError, parse_json},
        state::SharedState,
    },
};

pub(super) fn routes() -> Router<SharedState> {
    Router::new().route("/v1/identity/join-tokens", post(create))
}

/// `201` with the token.
async fn create(
    State(state): State<SharedState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<JoinTokenCreated>), ApiError> {
    let request: CreateJoinToken = parse_json(body)?;
    let created = state
        .join_tokens
        .create(
            &request.namespace,
            &request.service,
            Duration::from_secs(request.ttl_secs),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(JoinTokenCreated {
            token: created.token.expose().clone(),
            spiffe_id: created.spiffe_id.to_string(),
            expires_at_ms: created.expires_at_ms(),
        }),
    ))
}

//! The identity admin routes (admin token): `POST /v1/identity/revoke`,
//! `GET /v1/identity/svids`, `GET /v1/identity/ca` and `POST /v1/identity/ca/rollover`.

use axum::{
    Json, Router,
    body::Bytes,
    extract::{
        Query, State,
        rejection::{BytesRejection, QueryRejection},
    },
    routing::{get, post},
};
use serde::Deserialize;

use crate::{
    api::{CaRollover, CaStatus, RevokeRequest, Revoked, SvidList},
    authority::MAX_SVID_LIST,
    server::{
        reply::{ApiError, parse_json},
        state::SharedState,
    },
};

/// The SVIDs listed when no `limit` is given.
const DEFAULT_LIMIT: u32 = 100;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SvidsQuery {
    service: Option<String>,
    namespace: Option<String>,
    limit: Option<u32>,
}

pub(super) fn routes() -> Router<SharedState> {
    Router::new()
        .route("/v1/identity/revoke", post(revoke))
        .route("/v1/identity/svids", get(svids))
        .route("/v1/identity/ca", get(ca))
        .route("/v1/identity/ca/rollover", post(rollover))
}

/// `200` with the serials revoked now; they are in the mesh snapshot when this answers.
/// `404` for a serial the control plane never issued.
async fn revoke(
    State(state): State<SharedState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Revoked>, ApiError> {
    let request: RevokeRequest = parse_json(body)?;
    let revoked = state.authority.revoke(&request).await?;
    Ok(Json(Revoked { revoked }))
}

/// `200` with the issued SVIDs, newest first, of one service (`service`, with `namespace`
/// defaulting to `default`) or one namespace (`namespace` alone), at most `limit` (1 to
/// 1000, default 100).
async fn svids(
    State(state): State<SharedState>,
    query: Result<Query<SvidsQuery>, QueryRejection>,
) -> Result<Json<SvidList>, ApiError> {
    let Query(query) = query.map_err(ApiError::query)?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_SVID_LIST).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "`limit` must be between 1 and {MAX_SVID_LIST}"
        )));
    }
    let svids = state
        .authority
        .list_svids(query.service.as_deref(), query.namespace.as_deref(), limit)
        .await?;
    Ok(Json(SvidList { svids }))
}

/// `200` with the CA generations.
async fn ca(State(state): State<SharedState>) -> Json<CaStatus> {
    Json(state.authority.ca_status().await)
}

/// `200` with the CA generations after the step; `409` with the reason when the step cannot
/// be taken now (nothing prepared, SVIDs of a retiring generation still live, no `ca_dir`).
async fn rollover(
    State(state): State<SharedState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<CaStatus>, ApiError> {
    let request: CaRollover = parse_json(body)?;
    let status = state
        .authority
        .rollover(request.step, request.force)
        .await?;
    Ok(Json(status))
}

//! The policy API (`docs/policy.md`, "Distribution"): the admin routes that read, apply and
//! dry-run Cedar sets (admin token), and `POST /v1/policy/shadow`, where sidecars report
//! dry-run disagreements, authenticated by their SVID over mTLS like mesh registration.

use std::net::SocketAddr;

use axum::{
    Extension, Json, Router,
    body::Bytes,
    extract::{
        ConnectInfo, DefaultBodyLimit, Path, Query, State,
        rejection::{BytesRejection, PathRejection, QueryRejection},
    },
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{delete, get, post},
};
use serde::Deserialize;

use crate::{
    api::{
        ApplyPolicy, DryRunReport, PolicyHistoryEntry, PolicyRejection, PolicyStatus,
        PolicyVersionDetail, ShadowBatch,
    },
    policy::{ApplyError, MAX_HISTORY},
    server::{
        listener::PeerCertificates,
        peer,
        reply::{ApiError, parse_json},
        state::SharedState,
    },
};

/// Where sidecars report shadow disagreements (SVID over mTLS, not the admin token).
pub(crate) const SHADOW_PATH: &str = "/v1/policy/shadow";
/// The largest policy set accepted: 10 000 policies are a few MB of text.
const MAX_POLICY_BODY: usize = 16 * 1024 * 1024;
/// The largest shadow report accepted.
const MAX_SHADOW_BODY: usize = 1024 * 1024;
/// The history entries returned without `?limit=`.
const DEFAULT_HISTORY: u32 = 100;

type Client = Option<Extension<ConnectInfo<SocketAddr>>>;

pub(super) fn routes() -> Router<SharedState> {
    Router::new()
        .route(
            "/v1/policy",
            get(status)
                .post(apply)
                .layer(DefaultBodyLimit::max(MAX_POLICY_BODY)),
        )
        .route("/v1/policy/dry-run", delete(clear_dry_run))
        .route("/v1/policy/history", get(history))
        .route("/v1/policy/versions/{n}", get(version))
        .route("/v1/policy/dry-run-report", get(report))
        .route(
            SHADOW_PATH,
            post(shadow).layer(DefaultBodyLimit::max(MAX_SHADOW_BODY)),
        )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    limit: Option<u32>,
}

async fn status(State(state): State<SharedState>) -> Result<Json<PolicyStatus>, ApiError> {
    Ok(Json(state.policy.status().await?))
}

/// `200` with the new version, or `422` with the problems (nothing stored).
async fn apply(
    State(state): State<SharedState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: ApplyPolicy = parse_json(body)?;
    match state.policy.apply(request).await {
        Ok(applied) => {
            if !applied.unchanged {
                state.authority.mesh().refresh().await?;
            }
            Ok(Json(applied).into_response())
        }
        Err(ApplyError::Invalid(reason)) => Err(ApiError::bad_request(reason)),
        Err(ApplyError::Rejected(rejected)) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(PolicyRejection {
                error: rejected.error,
                code: "invalid_policy".to_owned(),
                problems: rejected.problems,
            }),
        )
            .into_response()),
        Err(ApplyError::Control(e)) => Err(e.into()),
    }
}

/// `204` when a dry run was stopped, `404` when none ran.
async fn clear_dry_run(State(state): State<SharedState>) -> Result<StatusCode, ApiError> {
    let cleared = state.policy.clear_dry_run().await?;
    state.authority.mesh().refresh().await?;
    match cleared {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::not_found("no policy dry run is running")),
    }
}

async fn history(
    State(state): State<SharedState>,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Json<Vec<PolicyHistoryEntry>>, ApiError> {
    let Query(query) = query.map_err(ApiError::query)?;
    let limit = query.limit.unwrap_or(DEFAULT_HISTORY).clamp(1, MAX_HISTORY);
    Ok(Json(state.policy.history(limit).await?))
}

async fn version(
    State(state): State<SharedState>,
    n: Result<Path<u64>, PathRejection>,
) -> Result<Json<PolicyVersionDetail>, ApiError> {
    let Path(n) = n.map_err(ApiError::path)?;
    match state.policy.version(n).await? {
        Some(detail) => Ok(Json(detail)),
        None => Err(ApiError::not_found(format!("no policy version {n}"))),
    }
}

async fn report(State(state): State<SharedState>) -> Json<DryRunReport> {
    Json(state.policy.report())
}

/// `204`: the entries of the current shadow version are merged, the others dropped.
async fn shadow(
    State(state): State<SharedState>,
    client: Client,
    peer: Option<Extension<PeerCertificates>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let client = client.map(|Extension(ConnectInfo(addr))| addr);
    let peer = peer::authenticate(&state, peer, client, "shadow report")?;
    let batch: ShadowBatch = parse_json(body)?;
    let sent = batch.entries.len();
    let kept = state.policy.record_shadow(batch.entries);
    tracing::debug!(spiffe_id = %peer.id, sent, kept, "shadow report merged");
    Ok(StatusCode::NO_CONTENT)
}

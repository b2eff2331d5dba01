//! `GET /v1/config/versions?limit=N`: the configurations the control plane tried to apply.

use axum::{
    Json, Router,
    extract::{Query, State, rejection::QueryRejection},
    routing::get,
};
use rampart_store::ConfigVersion;
use serde::Deserialize;

use crate::{
    api::{ConfigVersionInfo, ConfigVersions},
    registry::unix_ms,
    server::{reply::ApiError, state::SharedState},
};

const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VersionsQuery {
    limit: Option<u32>,
}

pub(super) fn routes() -> Router<SharedState> {
    Router::new().route("/v1/config/versions", get(versions))
}

async fn versions(
    State(state): State<SharedState>,
    query: Result<Query<VersionsQuery>, QueryRejection>,
) -> Result<Json<ConfigVersions>, ApiError> {
    let Query(query) = query.map_err(ApiError::query)?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "`limit` must be between 1 and {MAX_LIMIT}"
        )));
    }
    let versions = state
        .store
        .list_config_versions(limit)
        .await
        .map_err(crate::ControlError::from)?;
    Ok(Json(ConfigVersions {
        versions: versions.iter().map(info).collect(),
    }))
}

fn info(version: &ConfigVersion) -> ConfigVersionInfo {
    ConfigVersionInfo {
        id: version.id,
        hash: version.hash.clone(),
        source: version.source.clone(),
        applied_at_ms: unix_ms(version.applied_at),
        accepted: version.accepted,
        error: version.error.clone(),
    }
}

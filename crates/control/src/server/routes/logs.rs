//! The event pipeline's API (`docs/logs.md`): proxies ship batches to `POST /v1/events/ingest`
//! (mTLS with their SVID, or the admin token); administrators query the log, follow it, and
//! verify or export the audit trail (admin token).

use std::{sync::Arc, time::Duration};

use axum::{
    Extension, Json, Router,
    body::{Body, Bytes},
    extract::{ConnectInfo, DefaultBodyLimit, Query, State, rejection::BytesRejection},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use rampart_logs::{LogError, StoredEvent};
use serde::Deserialize;

use crate::{
    EventLog,
    event_log::{BatchError, MAX_BODY_BYTES},
    server::{listener::PeerCertificates, peer, reply::ApiError, state::SharedState},
};

pub(crate) const INGEST_PATH: &str = "/v1/events/ingest";
/// Longest a tail request waits for new events.
const MAX_WAIT: Duration = Duration::from_secs(30);

pub(super) fn routes() -> Router<SharedState> {
    Router::new()
        .route(
            INGEST_PATH,
            post(ingest).layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
        .route("/v1/logs", get(query))
        .route("/v1/logs/tail", get(tail))
        .route("/v1/audit/verify", get(verify))
        .route("/v1/audit/export", get(export))
        .route("/v1/audit/keys", get(keys))
}

type Client = Option<Extension<ConnectInfo<std::net::SocketAddr>>>;

/// `200 {"stored","duplicates","rejected"}`; `503` with `Retry-After` when the log's queue is
/// full (back-pressure: the proxy keeps the batch in its spool and retries).
async fn ingest(
    State(state): State<SharedState>,
    client: Client,
    peer: Option<Extension<PeerCertificates>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let client = client.map(|Extension(ConnectInfo(addr))| addr);
    // The admin token may ship for anyone (tools, tests); a workload only for itself.
    let sender = match crate::server::auth::has_admin_token(&state, &headers) {
        true => None,
        false => Some(
            peer::authenticate(&state, peer, client, "event ingest")?
                .id
                .to_string(),
        ),
    };
    let log = event_log(&state)?;
    let body = body.map_err(ApiError::body)?;
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok());
    match log.ingest_batch(&body, encoding, sender.as_deref()).await {
        Ok(reply) => Ok(Json(reply).into_response()),
        Err(BatchError::Log(LogError::Busy)) => Ok(busy()),
        Err(BatchError::TooLarge) => Err(ApiError::too_large(BatchError::TooLarge.to_string())),
        Err(error @ (BatchError::Encoding(_) | BatchError::UnsupportedEncoding(_))) => {
            Err(ApiError::bad_request(error.to_string()))
        }
        Err(BatchError::Log(error)) => {
            tracing::error!(%error, "cannot store shipped events");
            Ok(busy())
        }
    }
}

#[derive(Deserialize)]
struct QueryParams {
    #[serde(default)]
    q: String,
    after: Option<i64>,
    /// Seconds a tail waits for new events (at most 30).
    wait: Option<u64>,
}

/// `200 {"events":[{"seq":N,"event":{…}}…]}`, newest first.
async fn query(
    State(state): State<SharedState>,
    params: Result<Query<QueryParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(ApiError::query)?;
    let log = event_log(&state)?;
    let mut q = parse(&params.q)?;
    if let Some(after) = params.after {
        q = q.after(after);
    }
    let events = log.store().query(&q).await.map_err(log_error)?;
    Ok(events_response(&events))
}

/// Like [`query`] but oldest first after `after`, waiting up to `wait` seconds for something
/// new: `rampart logs tail -f` calls it in a loop with the last `seq` it saw.
async fn tail(
    State(state): State<SharedState>,
    params: Result<Query<QueryParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(ApiError::query)?;
    let log = event_log(&state)?;
    let store = log.store();
    let after = match params.after {
        Some(after) => after,
        None => store.last_seq().await.map_err(log_error)?,
    };
    let q = parse(&params.q)?.after(after);
    let wait = Duration::from_secs(params.wait.unwrap_or(20)).min(MAX_WAIT);
    let deadline = tokio::time::Instant::now() + wait;
    let mut news = store.subscribe();
    let mut shutdown = state.shutdown.clone();
    loop {
        let events = store.query(&q).await.map_err(log_error)?;
        if !events.is_empty() {
            return Ok(events_response(&events));
        }
        tokio::select! {
            _ = news.recv() => {}
            _ = tokio::time::sleep_until(deadline) => return Ok(events_response_after(&[], after)),
            _ = shutdown.changed() => return Ok(events_response_after(&[], after)),
            // Other processes writing to a shared database do not wake the broadcast.
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
}

async fn verify(State(state): State<SharedState>) -> Result<Response, ApiError> {
    let log = event_log(&state)?;
    let report = log.store().verify_audit().await.map_err(log_error)?;
    Ok(Json(report).into_response())
}

async fn export(State(state): State<SharedState>) -> Result<Response, ApiError> {
    let log = event_log(&state)?;
    let bytes = log.store().export_audit().await.map_err(log_error)?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from(bytes),
    )
        .into_response())
}

async fn keys(State(state): State<SharedState>) -> Result<Response, ApiError> {
    let log = event_log(&state)?;
    let keys: Vec<serde_json::Value> = log
        .store()
        .audit_keys()
        .iter()
        .map(|k| {
            serde_json::json!({
                "key_id": k.key_id,
                "public_key": k.public_key_base64(),
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "keys": keys })).into_response())
}

// === helpers ===

fn event_log(state: &SharedState) -> Result<&Arc<EventLog>, ApiError> {
    state
        .event_log
        .get()
        .ok_or_else(|| ApiError::unavailable("the event log is not running"))
}

fn parse(q: &str) -> Result<rampart_logs::Query, ApiError> {
    rampart_logs::Query::parse(q).map_err(|e| ApiError::bad_request(e.to_string()))
}

fn log_error(error: LogError) -> ApiError {
    match error {
        LogError::Query(e) => ApiError::bad_request(e.to_string()),
        LogError::Busy => ApiError::overloaded(),
        other => {
            tracing::error!(error = %other, "event log failed");
            ApiError::store_unavailable()
        }
    }
}

fn busy() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "1")],
        Json(serde_json::json!({"error": "busy", "message": "the event log is busy; retry"})),
    )
        .into_response()
}

fn events_response(events: &[StoredEvent]) -> Response {
    let last = events.iter().map(|e| e.seq).max().unwrap_or(0);
    events_response_after(events, last)
}

/// `{"events":[{"seq":N,"event":<record>}…],"last_seq":N}`: records are embedded as stored.
fn events_response_after(events: &[StoredEvent], last: i64) -> Response {
    let mut body =
        String::with_capacity(64 + events.iter().map(|e| e.json.len() + 32).sum::<usize>());
    body.push_str("{\"events\":[");
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str("{\"seq\":");
        body.push_str(&e.seq.to_string());
        body.push_str(",\"event\":");
        body.push_str(&e.json);
        body.push('}');
    }
    body.push_str("],\"last_seq\":");
    body.push_str(&last.to_string());
    body.push('}');
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

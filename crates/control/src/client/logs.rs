//! The event log calls of [`ControlClient`] (admin token): `rampart logs query|tail` and
//! `rampart audit-log verify|export`.

use http::{Method, StatusCode};
use serde::Deserialize;

use super::ControlClient;
use crate::ControlError;

/// One page of the event log.
#[derive(Debug, Clone, Deserialize)]
pub struct LogPage {
    pub events: Vec<LoggedEvent>,
    /// The highest `seq` of the page (or the cursor a tail waited from): where the next tail
    /// starts.
    pub last_seq: i64,
}

/// One stored event: its ingest sequence number and the record as stored.
#[derive(Debug, Clone, Deserialize)]
pub struct LoggedEvent {
    pub seq: i64,
    pub event: serde_json::Value,
}

// === impl ControlClient ===

impl ControlClient {
    /// `GET /v1/logs?q=…`: newest first (oldest first after `after`).
    pub async fn logs_query(
        &self,
        query: &str,
        after: Option<i64>,
    ) -> Result<LogPage, ControlError> {
        let mut path = format!("/v1/logs?q={}", encode(query));
        if let Some(after) = after {
            path.push_str(&format!("&after={after}"));
        }
        let answer = self.call(Method::GET, &path, None).await?;
        answer.decode(&[StatusCode::OK])
    }

    /// `GET /v1/logs/tail?q=…&after=…&wait=…`: events after `after` (from now when `None`),
    /// oldest first, waiting up to `wait_secs` for one.
    pub async fn logs_tail(
        &self,
        query: &str,
        after: Option<i64>,
        wait_secs: u64,
    ) -> Result<LogPage, ControlError> {
        let mut path = format!("/v1/logs/tail?q={}&wait={wait_secs}", encode(query));
        if let Some(after) = after {
            path.push_str(&format!("&after={after}"));
        }
        let answer = self.call(Method::GET, &path, None).await?;
        answer.decode(&[StatusCode::OK])
    }

    /// `GET /v1/audit/verify`: the verification report of the stored audit chain.
    pub async fn audit_verify(&self) -> Result<serde_json::Value, ControlError> {
        let answer = self.call(Method::GET, "/v1/audit/verify", None).await?;
        answer.decode(&[StatusCode::OK])
    }

    /// `GET /v1/audit/export`: the audit trail with its checkpoints, as JSON lines.
    pub async fn audit_export(&self) -> Result<Vec<u8>, ControlError> {
        let answer = self.call(Method::GET, "/v1/audit/export", None).await?;
        match answer.status {
            StatusCode::OK => Ok(answer.body.to_vec()),
            _ => Err(answer.error()),
        }
    }
}

fn encode(query: &str) -> String {
    form_urlencoded::byte_serialize(query.as_bytes()).collect()
}

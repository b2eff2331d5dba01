//! Reading the collector's answer: `200 {"stored","duplicates","rejected"}` is a delivery,
//! `429`/`503` are back-pressure (with `Retry-After` seconds), anything else a refusal.

use crate::sink::{Delivered, SinkError};
use http::StatusCode;
use http::header::RETRY_AFTER;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use std::time::Duration;

/// Most bytes of an answer read.
const MAX_REPLY: usize = 64 * 1024;
/// Characters of a refusal's body kept in the error.
const EXCERPT: usize = 200;

#[derive(serde::Deserialize)]
struct Counts {
    stored: u64,
    duplicates: u64,
    #[serde(default)]
    rejected: u64,
}

pub(super) async fn read(response: http::Response<Incoming>) -> Result<Delivered, SinkError> {
    let status = response.status();
    if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        return Err(SinkError::Busy { retry_after });
    }
    let body = Limited::new(response.into_body(), MAX_REPLY)
        .collect()
        .await
        .map_err(|e| SinkError::Unreachable(format!("reading the answer: {e}")))?
        .to_bytes();
    if status != StatusCode::OK {
        return Err(SinkError::Refused(format!("{status}: {}", excerpt(&body))));
    }
    let counts: Counts = serde_json::from_slice(&body).map_err(|e| {
        SinkError::Refused(format!(
            "200 with an unreadable answer ({e}): {}",
            excerpt(&body)
        ))
    })?;
    Ok(Delivered {
        stored: counts.stored,
        duplicates: counts.duplicates,
        rejected: counts.rejected,
    })
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let mut out: String = text.chars().take(EXCERPT).collect();
    if text.chars().count() > EXCERPT {
        out.push('…');
    }
    out
}

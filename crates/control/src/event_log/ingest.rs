//! Batches shipped by proxies (`POST /v1/events/ingest`): decompress with a cap, parse each
//! line, refuse lines that claim another identity than the sender's, store the rest.

use std::io::Read;

use rampart_events::EventRecord;
use rampart_logs::LogError;
use serde::Serialize;

use super::EventLog;

/// Most bytes of decompressed batch accepted.
pub(crate) const MAX_BATCH_BYTES: usize = 16 << 20;
/// Most bytes of (compressed) body accepted.
pub(crate) const MAX_BODY_BYTES: usize = 8 << 20;

/// The answer to a shipped batch (`docs/logs.md`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct IngestReply {
    pub stored: u64,
    pub duplicates: u64,
    pub rejected: u64,
}

/// Why a batch was refused as a whole.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BatchError {
    #[error("batch is larger than {MAX_BATCH_BYTES} bytes once decompressed")]
    TooLarge,
    #[error("batch is not valid zstd: {0}")]
    Encoding(String),
    #[error("unsupported content encoding `{0}` (use zstd or none)")]
    UnsupportedEncoding(String),
    #[error(transparent)]
    Log(#[from] LogError),
}

// === impl EventLog ===

impl EventLog {
    /// Stores a shipped batch. `encoding` is the `Content-Encoding`; `sender` the SPIFFE id of
    /// the mTLS peer (`None` for the admin token, which may ship for anyone).
    pub(crate) async fn ingest_batch(
        &self,
        body: &[u8],
        encoding: Option<&str>,
        sender: Option<&str>,
    ) -> Result<IngestReply, BatchError> {
        let text = decode(body, encoding)?;
        let mut rejected = 0u64;
        let mut records = Vec::new();
        for line in text.split(|b| *b == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match EventRecord::parse(line) {
                Ok(record) if claims_other(&record, sender) => {
                    rejected += 1;
                    tracing::warn!(sender, id = %record.id, "shipped event claims another identity; rejected");
                }
                Ok(record) => records.push(record),
                Err(error) => {
                    rejected += 1;
                    tracing::warn!(sender, %error, "shipped event rejected");
                }
            }
        }
        metrics::counter!("rampart_events_rejected_total").increment(rejected);
        let outcome = match records.is_empty() {
            true => Default::default(),
            false => self.store.try_ingest(records).await?,
        };
        Ok(IngestReply {
            stored: outcome.stored,
            duplicates: outcome.duplicates,
            rejected,
        })
    }
}

/// Whether `record` says it comes from another workload than the one that sent it.
fn claims_other(record: &EventRecord, sender: Option<&str>) -> bool {
    let Some(sender) = sender else {
        return false;
    };
    #[derive(serde::Deserialize)]
    struct Claimed<'a> {
        #[serde(rename = "rampart.identity", borrow, default)]
        identity: Option<std::borrow::Cow<'a, str>>,
    }
    match serde_json::from_str::<Claimed<'_>>(&record.json) {
        Ok(c) => c.identity.as_deref() != Some(sender),
        Err(_) => true,
    }
}

fn decode(body: &[u8], encoding: Option<&str>) -> Result<Vec<u8>, BatchError> {
    match encoding.map(str::trim) {
        None | Some("") | Some("identity") => {
            if body.len() > MAX_BATCH_BYTES {
                return Err(BatchError::TooLarge);
            }
            Ok(body.to_vec())
        }
        Some("zstd") => {
            let decoder = zstd::stream::read::Decoder::new(body)
                .map_err(|e| BatchError::Encoding(e.to_string()))?;
            // One byte past the cap tells a bomb from a batch of exactly the cap.
            let mut out = Vec::new();
            decoder
                .take(MAX_BATCH_BYTES as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| BatchError::Encoding(e.to_string()))?;
            if out.len() > MAX_BATCH_BYTES {
                return Err(BatchError::TooLarge);
            }
            Ok(out)
        }
        Some(other) => Err(BatchError::UnsupportedEncoding(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zstd_bombs_stop_at_the_cap() {
        let big = vec![b'a'; MAX_BATCH_BYTES + 10];
        let packed = zstd::encode_all(&big[..], 3).unwrap();
        assert!(packed.len() < 1 << 20);
        assert!(matches!(
            decode(&packed, Some("zstd")),
            Err(BatchError::TooLarge)
        ));
        let small = zstd::encode_all(&b"{}\n"[..], 3).unwrap();
        assert_eq!(decode(&small, Some("zstd")).unwrap(), b"{}\n");
        assert!(matches!(
            decode(b"x", Some("br")),
            Err(BatchError::UnsupportedEncoding(_))
        ));
        assert!(matches!(
            decode(b"not zstd", Some("zstd")),
            Err(BatchError::Encoding(_))
        ));
    }
}

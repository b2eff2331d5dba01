//! The serde shapes of the export's lines.

use crate::audit::{
    AuditError, AuditKey, ChainEntry, Checkpoint, CheckpointBody, HASH_LEN, StartPoint,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Header {
    pub format: String,
    pub keys: Vec<KeyLine>,
    pub exported_at: i64,
    pub start: Option<StartLine>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct KeyLine {
    pub key_id: String,
    pub public_key: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StartLine {
    pub chain_seq: i64,
    pub hash: String,
}

/// A record as written.
#[derive(Debug, Serialize)]
pub(super) struct EntryOut<'a> {
    chain_seq: i64,
    event_id: &'a str,
    prev_hash: String,
    hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_text: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub(super) struct CheckpointOut {
    checkpoint: CheckpointLine,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CheckpointLine {
    chain_seq: i64,
    head_hash: String,
    count: i64,
    time_ms: i64,
    key_id: String,
    signature: String,
}

/// Any line after the header: a record or a checkpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LineIn<'a> {
    chain_seq: Option<i64>,
    event_id: Option<String>,
    prev_hash: Option<String>,
    hash: Option<String>,
    #[serde(borrow)]
    event: Option<&'a RawValue>,
    event_text: Option<String>,
    checkpoint: Option<CheckpointLine>,
}

/// A line after the header: a record or a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportItem {
    Entry(ChainEntry),
    Checkpoint(Checkpoint),
}

// === impl Header ===

impl Header {
    pub fn new(keys: &[AuditKey], exported_at: i64, start: Option<StartPoint>) -> Self {
        Self {
            format: super::FORMAT.into(),
            keys: keys
                .iter()
                .map(|k| KeyLine {
                    key_id: k.key_id.clone(),
                    public_key: k.public_key_base64(),
                })
                .collect(),
            exported_at,
            start: start.map(|s| StartLine {
                chain_seq: s.chain_seq,
                hash: hex::encode(s.hash),
            }),
        }
    }

    pub fn keys(&self) -> Result<Vec<AuditKey>, String> {
        self.keys
            .iter()
            .map(|k| {
                AuditKey::parse(&format!("{}:{}", k.key_id, k.public_key)).map_err(|e| match e {
                    AuditError::Key(msg) => msg,
                    other => other.to_string(),
                })
            })
            .collect()
    }

    pub fn start(&self) -> Result<Option<StartPoint>, String> {
        self.start
            .as_ref()
            .map(|s| {
                Ok(StartPoint {
                    chain_seq: s.chain_seq,
                    hash: hash32(&s.hash, "start.hash")?,
                })
            })
            .transpose()
    }
}

// === impl EntryOut ===

impl<'a> EntryOut<'a> {
    pub fn new(entry: &'a ChainEntry) -> Self {
        let raw = embeddable(&entry.body);
        Self {
            chain_seq: entry.chain_seq,
            event_id: &entry.event_id,
            prev_hash: hex::encode(&entry.prev_hash),
            hash: hex::encode(&entry.hash),
            event: raw,
            event_text: raw.is_none().then_some(entry.body.as_str()),
        }
    }
}

// === impl CheckpointOut ===

impl CheckpointOut {
    pub fn new(cp: &Checkpoint) -> Self {
        Self {
            checkpoint: CheckpointLine {
                chain_seq: cp.body.chain_seq,
                head_hash: hex::encode(cp.body.head_hash),
                count: cp.body.count,
                time_ms: cp.body.time_ms,
                key_id: cp.key_id.clone(),
                signature: STANDARD.encode(&cp.signature),
            },
        }
    }
}

// === impl LineIn ===

impl LineIn<'_> {
    /// The record or checkpoint this line holds; the error names what is wrong.
    pub fn into_item(self) -> Result<ExportItem, String> {
        if let Some(cp) = self.checkpoint {
            let stray =
                self.chain_seq.is_some() || self.event.is_some() || self.event_text.is_some();
            if stray {
                return Err("a checkpoint line holds only `checkpoint`".into());
            }
            return cp.into_checkpoint().map(ExportItem::Checkpoint);
        }
        let body = match (self.event, self.event_text) {
            (Some(raw), None) => raw.get().to_owned(),
            (None, Some(text)) => text,
            (Some(_), Some(_)) => return Err("both `event` and `event_text`".into()),
            (None, None) => return Err("neither a record (`event`) nor a `checkpoint`".into()),
        };
        Ok(ExportItem::Entry(ChainEntry {
            chain_seq: self.chain_seq.ok_or("missing `chain_seq`")?,
            event_id: self.event_id.ok_or("missing `event_id`")?,
            prev_hash: hex_field(self.prev_hash, "prev_hash")?,
            hash: hex_field(self.hash, "hash")?,
            body,
        }))
    }
}

// === impl CheckpointLine ===

impl CheckpointLine {
    fn into_checkpoint(self) -> Result<Checkpoint, String> {
        Ok(Checkpoint {
            body: CheckpointBody {
                chain_seq: self.chain_seq,
                head_hash: hash32(&self.head_hash, "checkpoint.head_hash")?,
                count: self.count,
                time_ms: self.time_ms,
            },
            key_id: self.key_id,
            signature: STANDARD
                .decode(&self.signature)
                .map_err(|_| "`checkpoint.signature` is not base64".to_string())?,
        })
    }
}

// === helpers ===

/// `body` as a raw JSON value to embed verbatim, if it is a one-line JSON object that reads
/// back to exactly the same bytes.
fn embeddable(body: &str) -> Option<&RawValue> {
    if !body.starts_with('{') || body.contains(['\n', '\r']) {
        return None;
    }
    serde_json::from_str::<&RawValue>(body)
        .ok()
        .filter(|raw| raw.get() == body)
}

fn hex_field(value: Option<String>, name: &str) -> Result<Vec<u8>, String> {
    let value = value.ok_or_else(|| format!("missing `{name}`"))?;
    hex::decode(&value).map_err(|_| format!("`{name}` is not hex"))
}

fn hash32(value: &str, name: &str) -> Result<[u8; HASH_LEN], String> {
    let bytes = hex::decode(value).map_err(|_| format!("`{name}` is not hex"))?;
    bytes
        .try_into()
        .map_err(|_| format!("`{name}` is not {HASH_LEN} bytes"))
}

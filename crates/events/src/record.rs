//! The stored and shipped form of an event: one flat JSON object with an envelope (unique id,
//! schema version, who emitted it) and the few fields the event log indexes, extracted once.
//!
//! A record is created where the event is first written down (a proxy's spool, or the control
//! plane's own collector) and keeps its id through every retry, so the store can drop duplicates.
//! See `docs/events.md` for the schema.

use crate::model::{Decision, Event};
use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};

/// The version of the record schema this build writes (`rampart.schema`).
pub const SCHEMA_VERSION: u32 = 1;

/// Longest record accepted, in bytes of JSON.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;

/// Which family an event belongs to (`event.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    Access,
    Security,
    Admin,
    Alert,
    Incident,
}

/// Who emits events: the component type, its name and its workload identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `gateway`, `sidecar` or `control` (`observer.type`).
    pub component: String,
    /// The instance's name, e.g. the sidecar's service (`observer.name`).
    pub name: String,
    /// The SPIFFE id it authenticates with, when it has one (`rampart.identity`).
    pub identity: Option<String>,
}

/// One event as stored and shipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    /// A UUIDv7, lower-case and hyphenated (`event.id`); time-ordered, unique.
    pub id: String,
    /// Milliseconds since the Unix epoch (`@timestamp`).
    pub time_ms: i64,
    pub kind: RecordKind,
    /// `event.action`: `http_request` for access events, the security kind (`policy_denied`),
    /// or the admin action (`policy.apply`).
    pub action: String,
    /// `service.name`: the component or service the event is about.
    pub service: String,
    /// `user.id`: the principal or actor, when known.
    pub principal: Option<String>,
    /// `decision` (`allow`/`deny`) for access events, `event.outcome` for admin events.
    pub decision: Option<String>,
    /// `http.response.status_code`, for access events.
    pub status: Option<u16>,
    /// The whole record: one JSON object on one line, no trailing newline.
    pub json: String,
}

/// Why bytes are not a valid record.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("record is {0} bytes; the limit is {MAX_RECORD_BYTES}")]
    TooLarge(usize),
    #[error("record is not a JSON event object: {0}")]
    Json(#[from] serde_json::Error),
    #[error("record field `event.id` is not a UUID")]
    BadId,
    #[error("record has schema version {0}; this build reads up to {SCHEMA_VERSION}")]
    Schema(u32),
}

/// The outcome of ingesting a batch into the event log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestOutcome {
    /// Records newly stored.
    pub stored: u64,
    /// Records whose id was already stored (re-deliveries), dropped.
    pub duplicates: u64,
}

#[derive(Serialize)]
struct Envelope<'a> {
    #[serde(rename = "event.id")]
    id: &'a str,
    #[serde(rename = "rampart.schema")]
    schema: u32,
    #[serde(rename = "observer.type")]
    component: &'a str,
    #[serde(rename = "observer.name")]
    name: &'a str,
    #[serde(rename = "rampart.identity", skip_serializing_if = "Option::is_none")]
    identity: Option<&'a str>,
    #[serde(flatten)]
    event: &'a Event,
}

/// The fields read back from a record's JSON.
#[derive(Deserialize)]
struct Indexed<'a> {
    #[serde(rename = "event.id", borrow)]
    id: std::borrow::Cow<'a, str>,
    #[serde(rename = "rampart.schema", default)]
    schema: u32,
    #[serde(rename = "@timestamp")]
    time_ms: i64,
    #[serde(rename = "event.kind")]
    kind: RecordKind,
    #[serde(rename = "event.action", default, borrow)]
    action: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "service.name", default, borrow)]
    service: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "user.id", default, borrow)]
    principal: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    decision: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "event.outcome", default, borrow)]
    outcome: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "http.response.status_code", default)]
    status: Option<u16>,
}

/// The action name of access events.
pub const ACCESS_ACTION: &str = "http_request";

// === impl RecordKind ===

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Access => "access",
            RecordKind::Security => "security",
            RecordKind::Admin => "admin",
            RecordKind::Alert => "alert",
            RecordKind::Incident => "incident",
        }
    }

    /// Whether records of this kind join the tamper-evident audit chain.
    pub fn is_chained(self) -> bool {
        !matches!(self, RecordKind::Access)
    }
}

impl std::str::FromStr for RecordKind {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        Ok(match s {
            "access" => RecordKind::Access,
            "security" => RecordKind::Security,
            "admin" => RecordKind::Admin,
            "alert" => RecordKind::Alert,
            "incident" => RecordKind::Incident,
            _ => return Err(()),
        })
    }
}

// === impl EventRecord ===

impl EventRecord {
    /// Writes an event down with a new id.
    pub fn from_event(event: &Event, origin: &Origin) -> Self {
        Self::with_id(event, origin, new_id())
    }

    /// Writes an event down with the given id (tests, replays).
    pub fn with_id(event: &Event, origin: &Origin, id: String) -> Self {
        let envelope = Envelope {
            id: &id,
            schema: SCHEMA_VERSION,
            component: &origin.component,
            name: &origin.name,
            identity: origin.identity.as_deref(),
            event,
        };
        // Serialising plain structs of strings and numbers cannot fail; an empty object keeps
        // the id if it ever did.
        let json = serde_json::to_string(&envelope).unwrap_or_else(|_| String::from("{}"));
        let (kind, time, action, service, principal, decision, status) = match event {
            Event::Access(a) => (
                RecordKind::Access,
                a.time,
                ACCESS_ACTION.to_string(),
                a.source.clone(),
                a.principal.clone(),
                Some(decision_str(a.decision).to_string()),
                Some(a.status),
            ),
            Event::Security(s) => (
                RecordKind::Security,
                s.time,
                snake(&s.kind),
                s.source.clone(),
                None,
                None,
                None,
            ),
            Event::Admin(a) => (
                RecordKind::Admin,
                a.time,
                a.action.clone(),
                a.source.clone(),
                Some(a.actor.clone()),
                Some(snake(&a.outcome)),
                None,
            ),
        };
        Self {
            id,
            time_ms: unix_ms(time),
            kind,
            action,
            service,
            principal,
            decision,
            status,
            json,
        }
    }

    /// Reads a record back from its JSON (as shipped or stored), checking the envelope.
    pub fn parse(line: &[u8]) -> Result<Self, RecordError> {
        if line.len() > MAX_RECORD_BYTES {
            return Err(RecordError::TooLarge(line.len()));
        }
        let text = std::str::from_utf8(line)
            .map_err(|e| RecordError::Json(serde::de::Error::custom(format!("not UTF-8: {e}"))))?;
        let text = text.trim_end_matches(['\n', '\r']);
        let ix: Indexed<'_> = serde_json::from_str(text)?;
        if ix.schema > SCHEMA_VERSION {
            return Err(RecordError::Schema(ix.schema));
        }
        if !is_uuid(&ix.id) {
            return Err(RecordError::BadId);
        }
        let decision = ix.decision.or(ix.outcome).map(|c| c.into_owned());
        Ok(Self {
            id: ix.id.into_owned(),
            time_ms: ix.time_ms,
            kind: ix.kind,
            action: ix
                .action
                .map(|c| c.into_owned())
                .unwrap_or_else(|| match ix.kind {
                    RecordKind::Access => ACCESS_ACTION.to_string(),
                    _ => String::new(),
                }),
            service: ix.service.map(|c| c.into_owned()).unwrap_or_default(),
            principal: ix.principal.map(|c| c.into_owned()),
            decision,
            status: ix.status,
            json: text.to_string(),
        })
    }

    /// Whether this record joins the audit chain (security, admin, alert, incident).
    pub fn is_chained(&self) -> bool {
        self.kind.is_chained()
    }
}

/// A new time-ordered event id (UUIDv7).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().hyphenated().to_string()
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::try_parse(s).is_ok()
}

fn decision_str(d: Decision) -> &'static str {
    match d {
        Decision::Allow => "allow",
        Decision::Deny => "deny",
    }
}

fn snake<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AdminEvent, Outcome, SecurityEvent, SecurityKind};

    fn origin() -> Origin {
        Origin {
            component: "sidecar".into(),
            name: "orders".into(),
            identity: Some("spiffe://td/ns/default/sa/orders".into()),
        }
    }

    #[test]
    fn security_record_round_trips_with_envelope() {
        let ev = Event::Security(SecurityEvent::new(
            SecurityKind::PolicyDenied,
            "orders",
            None,
            "principal=x",
        ));
        let rec = EventRecord::from_event(&ev, &origin());
        assert_eq!(rec.kind, RecordKind::Security);
        assert_eq!(rec.action, "policy_denied");
        assert!(rec.is_chained());
        let v: serde_json::Value = serde_json::from_str(&rec.json).unwrap();
        assert_eq!(v["event.id"], rec.id.as_str());
        assert_eq!(v["event.kind"], "security");
        assert_eq!(v["observer.type"], "sidecar");
        assert_eq!(v["rampart.identity"], "spiffe://td/ns/default/sa/orders");
        assert_eq!(v["rampart.schema"], SCHEMA_VERSION);
        let back = EventRecord::parse(rec.json.as_bytes()).unwrap();
        assert_eq!(back, rec);
    }

    #[test]
    fn admin_record_indexes_actor_and_outcome() {
        let ev = Event::Admin(AdminEvent::new(
            "policy.apply",
            "control",
            "admin-token",
            "version 7",
            Outcome::Success,
        ));
        let rec = EventRecord::from_event(&ev, &origin());
        assert_eq!(rec.action, "policy.apply");
        assert_eq!(rec.principal.as_deref(), Some("admin-token"));
        assert_eq!(rec.decision.as_deref(), Some("success"));
        assert_eq!(EventRecord::parse(rec.json.as_bytes()).unwrap(), rec);
    }

    #[test]
    fn ids_are_unique_and_time_ordered() {
        let a = new_id();
        let b = new_id();
        assert_ne!(a, b);
        assert!(a < b, "{a} !< {b}");
    }

    #[test]
    fn bad_records_are_refused_with_reasons() {
        assert!(matches!(
            EventRecord::parse(b"not json"),
            Err(RecordError::Json(_))
        ));
        assert!(matches!(
            EventRecord::parse(br#"{"event.id":"x","@timestamp":1,"event.kind":"access"}"#),
            Err(RecordError::BadId)
        ));
        let big = vec![b' '; MAX_RECORD_BYTES + 1];
        assert!(matches!(
            EventRecord::parse(&big),
            Err(RecordError::TooLarge(_))
        ));
        let future = format!(
            r#"{{"event.id":"{}","rampart.schema":99,"@timestamp":1,"event.kind":"access"}}"#,
            new_id()
        );
        assert!(matches!(
            EventRecord::parse(future.as_bytes()),
            Err(RecordError::Schema(99))
        ));
    }
}

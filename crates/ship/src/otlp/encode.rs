//! Records to OTLP logs: one `LogRecord` per event, body the record JSON, attributes its flat
//! top-level scalar fields, under one resource (`service.name`).

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use rampart_events::{EventRecord, RecordKind};

/// The protobuf body of `POST /v1/logs` for `records`, all observed at `observed_ns`.
pub(crate) fn encode_request(
    service_name: &str,
    records: &[EventRecord],
    observed_ns: u64,
) -> Vec<u8> {
    let log_records = records
        .iter()
        .map(|record| log_record(record, observed_ns))
        .collect();
    let request = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![string_kv("service.name", service_name)],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "rampart.events".to_string(),
                    version: env!("CARGO_PKG_VERSION").to_string(),
                    ..Default::default()
                }),
                log_records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    request.encode_to_vec()
}

/// One record as an OTLP log record.
pub(crate) fn log_record(record: &EventRecord, observed_ns: u64) -> LogRecord {
    let severity = severity(record);
    LogRecord {
        time_unix_nano: u64::try_from(record.time_ms)
            .unwrap_or(0)
            .saturating_mul(1_000_000),
        observed_time_unix_nano: observed_ns,
        severity_number: severity as i32,
        severity_text: severity_text(severity).to_string(),
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue(record.json.clone())),
        }),
        attributes: attributes(&record.json),
        ..Default::default()
    }
}

/// Denials and security findings are warnings, incidents errors, the rest information.
fn severity(record: &EventRecord) -> SeverityNumber {
    match record.kind {
        RecordKind::Access if record.decision.as_deref() == Some("deny") => SeverityNumber::Warn,
        RecordKind::Access | RecordKind::Admin => SeverityNumber::Info,
        RecordKind::Security | RecordKind::Alert => SeverityNumber::Warn,
        RecordKind::Incident => SeverityNumber::Error,
    }
}

fn severity_text(severity: SeverityNumber) -> &'static str {
    match severity {
        SeverityNumber::Warn => "WARN",
        SeverityNumber::Error => "ERROR",
        _ => "INFO",
    }
}

/// The record's top-level strings, integers, floats and booleans; nested values and nulls are
/// left to the body.
fn attributes(json: &str) -> Vec<KeyValue> {
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_str::<serde_json::Value>(json)
    else {
        return Vec::new();
    };
    fields
        .into_iter()
        .filter_map(|(key, value)| {
            let value = match value {
                serde_json::Value::String(s) => any_value::Value::StringValue(s),
                serde_json::Value::Bool(b) => any_value::Value::BoolValue(b),
                serde_json::Value::Number(n) => match n.as_i64() {
                    Some(i) => any_value::Value::IntValue(i),
                    None => any_value::Value::DoubleValue(n.as_f64()?),
                },
                _ => return None,
            };
            Some(KeyValue {
                key,
                value: Some(AnyValue { value: Some(value) }),
                ..Default::default()
            })
        })
        .collect()
}

fn string_kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_string())),
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: &str, decision: Option<&str>) -> EventRecord {
        let mut line = serde_json::json!({
            "event.id": rampart_events::new_id(),
            "rampart.schema": 1,
            "event.kind": kind,
            "@timestamp": 5,
            "service.name": "orders",
            "size": 1.5,
        });
        if let Some(decision) = decision {
            line["decision"] = decision.into();
        }
        EventRecord::parse(line.to_string().as_bytes()).expect("valid record")
    }

    #[test]
    fn severity_follows_kind_and_decision() {
        let cases = [
            ("access", Some("allow"), SeverityNumber::Info),
            ("access", Some("deny"), SeverityNumber::Warn),
            ("admin", None, SeverityNumber::Info),
            ("security", None, SeverityNumber::Warn),
            ("alert", None, SeverityNumber::Warn),
            ("incident", None, SeverityNumber::Error),
        ];
        for (kind, decision, expected) in cases {
            let log = log_record(&record(kind, decision), 7);
            assert_eq!(log.severity_number, expected as i32, "{kind} {decision:?}");
            assert_eq!(log.time_unix_nano, 5_000_000);
            assert_eq!(log.observed_time_unix_nano, 7);
        }
    }

    #[test]
    fn floats_are_doubles_and_the_request_decodes() {
        let rec = record("access", Some("allow"));
        let log = log_record(&rec, 1);
        let size = log
            .attributes
            .iter()
            .find(|kv| kv.key == "size")
            .expect("size");
        assert_eq!(
            size.value.as_ref().and_then(|v| v.value.clone()),
            Some(any_value::Value::DoubleValue(1.5))
        );
        let bytes = encode_request("rampart", &[rec], 1);
        let decoded = ExportLogsServiceRequest::decode(bytes.as_slice()).expect("decodes");
        assert_eq!(decoded.resource_logs[0].scope_logs[0].log_records.len(), 1);
    }
}

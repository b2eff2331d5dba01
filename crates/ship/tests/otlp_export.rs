//! The OTLP exporter against a real OTLP decoder (the official protobuf classes, in
//! `scripts/otlp_receiver.py`): what arrives is what was sent, retries are bounded, a full queue
//! drops and counts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support_otlp/receiver.rs"]
mod receiver;
#[path = "support_nats/records.rs"]
mod records;

use rampart_events::{EventRecord, new_id};
use rampart_ship::{OtlpError, OtlpExporter, OtlpOptions};
use receiver::OtlpReceiver;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::watch;

fn access_denied() -> EventRecord {
    let line = json!({
        "event.id": new_id(),
        "rampart.schema": 1,
        "observer.type": "gateway",
        "observer.name": "edge",
        "event.kind": "access",
        "@timestamp": 1_780_000_000_123_i64,
        "service.name": "orders",
        "http.request.method": "GET",
        "url.path": "/admin",
        "http.response.status_code": 403,
        "event.duration_us": 1234,
        "decision": "deny",
        "tls.established": true,
        "rampart.authz": {"decision": "deny", "policy": ["p1"]},
        "upstream.address": null
    })
    .to_string();
    EventRecord::parse(line.as_bytes()).expect("valid access record")
}

/// The attributes the exporter must derive: the top-level scalars of the JSON.
fn flat_fields(json: &str) -> Value {
    let Value::Object(fields) = serde_json::from_str::<Value>(json).expect("json") else {
        panic!("record is an object")
    };
    Value::Object(
        fields
            .into_iter()
            .filter(|(_, v)| matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_)))
            .collect(),
    )
}

fn options(endpoint: &str) -> OtlpOptions {
    let mut options = OtlpOptions::new(endpoint);
    options.flush_interval = Duration::from_millis(200);
    options.batch_max = 50;
    options.timeout = Duration::from_secs(2);
    options
}

#[tokio::test]
async fn exported_records_decode_to_what_was_sent() {
    let Some(receiver) = OtlpReceiver::start(0).await else {
        return;
    };
    let mut options = options(&receiver.endpoint);
    options.headers = vec![("x-api-key".into(), "k1-secret".into())];
    assert!(
        !format!("{options:?}").contains("k1-secret"),
        "header values never printed"
    );
    let (_stop, shutdown) = watch::channel(false);
    let exporter = OtlpExporter::spawn(options, shutdown).expect("exporter");
    let mut sent = records::records(120);
    sent.push(access_denied());
    let sender = exporter.sender();
    for record in &sent {
        assert!(sender.export(record.clone()));
    }

    let got = receiver.wait_for(sent.len(), Duration::from_secs(20)).await;
    assert_eq!(got.len(), sent.len(), "each record exactly once");
    let by_id: HashMap<&str, &Value> = got
        .iter()
        .map(|r| {
            (
                r["attributes"]["event.id"]
                    .as_str()
                    .expect("event.id attribute"),
                r,
            )
        })
        .collect();
    for record in &sent {
        let r = by_id.get(record.id.as_str()).expect("record received");
        assert_eq!(
            r["body"].as_str(),
            Some(record.json.as_str()),
            "body is the record JSON"
        );
        assert_eq!(
            r["attributes"],
            flat_fields(&record.json),
            "attributes are the flat fields"
        );
        assert_eq!(r["resource"]["service.name"], "rampart");
        assert_eq!(
            r["time_unix_nano"].as_u64(),
            Some(record.time_ms as u64 * 1_000_000)
        );
        assert!(r["observed_time_unix_nano"].as_u64().unwrap_or(0) > 0);
        assert_eq!(r["header_x_api_key"], "k1-secret");
        let (number, text) = match record.kind.as_str() {
            "admin" => (9, "INFO"),
            _ => (13, "WARN"), // security events, and the denied access
        };
        assert_eq!(r["severity_number"], number, "{}", record.json);
        assert_eq!(r["severity_text"], text);
    }
    let denied = by_id[sent[120].id.as_str()];
    assert_eq!(denied["attributes"]["http.response.status_code"], 403);
    assert_eq!(denied["attributes"]["tls.established"], true);
    assert!(
        denied["attributes"].get("rampart.authz").is_none(),
        "nested values stay in the body"
    );

    drop(sender);
    let counts = exporter.finish().await;
    assert_eq!(
        (counts.exported, counts.dropped, counts.failed),
        (121, 0, 0)
    );
}

#[tokio::test]
async fn busy_receivers_are_retried() {
    let Some(receiver) = OtlpReceiver::start(2).await else {
        return;
    };
    let (_stop, shutdown) = watch::channel(false);
    let exporter = OtlpExporter::spawn(options(&receiver.endpoint), shutdown).expect("exporter");
    for record in records::records(3) {
        exporter.sender().export(record);
    }
    receiver.wait_for(3, Duration::from_secs(20)).await;
    let counts = exporter.finish().await;
    assert_eq!((counts.exported, counts.failed), (3, 0));
}

#[tokio::test]
async fn an_unreachable_receiver_is_given_up_and_a_full_queue_drops() {
    let port = rampart_testkit::free_port();
    let mut options = options(&format!("http://127.0.0.1:{port}"));
    options.queue = 4;
    options.batch_max = 2;
    options.max_retries = 1;
    let (stop, shutdown) = watch::channel(false);
    let exporter = OtlpExporter::spawn(options, shutdown).expect("exporter");
    let accepted = records::records(40)
        .into_iter()
        .filter(|r| exporter.sender().export(r.clone()))
        .count();
    assert!(accepted < 40, "a full queue refuses instead of waiting");
    stop.send(true).expect("shutdown");
    let counts = tokio::time::timeout(Duration::from_secs(30), exporter.finish())
        .await
        .expect("bounded retries");
    assert_eq!(counts.exported, 0);
    assert_eq!(counts.dropped, 40 - accepted as u64);
    assert_eq!(
        counts.failed, accepted as u64,
        "every accepted record accounted for"
    );
}

#[tokio::test]
async fn bad_endpoints_and_headers_are_refused_at_start() {
    let (_stop, shutdown) = watch::channel(false);
    let error = OtlpExporter::spawn(OtlpOptions::new("ftp://127.0.0.1:1"), shutdown.clone())
        .err()
        .expect("scheme");
    assert!(matches!(error, OtlpError::Endpoint(..)), "{error}");
    let mut options = OtlpOptions::new("http://127.0.0.1:1");
    options.headers = vec![("bad header".into(), "v".into())];
    let error = OtlpExporter::spawn(options, shutdown)
        .err()
        .expect("header");
    assert!(matches!(error, OtlpError::Header(..)), "{error}");
}

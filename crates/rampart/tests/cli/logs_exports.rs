//! The exporters of `rampart up`: with `logs: {jsonl: FILE, otlp: {endpoint}}` every event the
//! log stores (admin, security and access) is appended to the JSON-lines file and sent to an
//! OTLP collector (`scripts/otlp_receiver.py`, decoding with the PyPI package
//! `opentelemetry-proto`), with the same event ids as the log holds, each exactly once.
//! Without Python's OTLP module the test fails when `CI` is set (scripts/test installs it) and
//! is skipped with a note otherwise.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rampart_testkit::process::{RampartProcess, free_port};
use serde_json::Value;
use tokio::time::{Instant, sleep};

use crate::logs_trail::Trail;
use crate::secrets::text;
use crate::support::*;

fn exports_config(p: &Ports, jsonl: &Path, otlp: &str) -> String {
    format!(
        r#"
admin: {{ listen: "127.0.0.1:{admin}" }}
control: {{ listen: "127.0.0.1:{control}", proxy_ttl: 10s }}
logs:
  jsonl: "{jsonl}"
  otlp: {{ endpoint: "{otlp}" }}
policy:
  cedar: |
    @id("routes")
    permit(principal, action, resource is Rampart::Route);
    @id("no-secret")
    forbid(principal, action, resource) when {{ resource.path like "*secret*" }};
gateway:
  listeners:
    - {{ name: http, address: "127.0.0.1:{http}" }}
  clusters:
    - {{ name: echo, builtin: echo }}
  routes:
    - {{ name: api, match: {{ path_prefix: /api/ }}, cluster: echo }}
"#,
        admin = p.admin,
        control = p.control,
        http = p.http,
        jsonl = jsonl.display(),
    )
}

#[tokio::test]
async fn up_exports_every_stored_event_to_jsonl_and_otlp() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((_receiver, endpoint, received)) = otlp_receiver(tmp.path()).await else {
        return;
    };
    let jsonl = tmp.path().join("logs.jsonl");
    let ports = Ports::new();
    let config = exports_config(&ports, &jsonl, &endpoint);
    let trail = Trail::start(tmp.path(), &config, ports).await;

    // Admin events (issued and refused join tokens), security and access events.
    let token = trail.token();
    for i in 0..3 {
        let service = format!("svc{i}");
        let args = ["identity", "join-token", "--service", &service, "--json"];
        let out = trail.rampart(&args, &token).await;
        assert!(out.status.success(), "{}", text(&out));
    }
    let out = trail
        .rampart(&["identity", "join-token", "--service", "x"], "wrong")
        .await;
    assert!(!out.status.success(), "a wrong token was accepted");
    for i in 0..5 {
        let reply = get(trail.ports.http, &format!("/api/hello/{i}")).await;
        assert_eq!(reply.status(), Some(200), "{reply:?}");
        let reply = get(trail.ports.http, &format!("/api/secret/{i}")).await;
        assert_eq!(reply.status(), Some(403), "{reply:?}");
    }
    trail.settled(9).await;

    // What the log holds.
    let out = trail
        .rampart(&["logs", "query", "limit=10000", "--json"], &token)
        .await;
    assert!(out.status.success(), "{}", text(&out));
    let logged: BTreeMap<String, Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["event.id"].as_str().unwrap().to_owned(), v)
        })
        .collect();
    let kinds: BTreeSet<&str> = logged
        .values()
        .map(|v| v["event.kind"].as_str().unwrap())
        .collect();
    for kind in ["access", "admin", "security"] {
        assert!(
            kinds.contains(kind),
            "no {kind} event in the log: {kinds:?}"
        );
    }
    let ids: BTreeSet<String> = logged.keys().cloned().collect();

    // The JSON-lines file: the same records, each once, byte for byte the stored JSON.
    let lines = until_ids(&ids, || {
        std::fs::read_to_string(&jsonl)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .collect()
    })
    .await;
    for line in &lines {
        let id = line["event.id"].as_str().unwrap();
        assert_eq!(Some(line), logged.get(id), "jsonl record {id}");
    }

    // The OTLP collector: the same ids, body the record JSON, attributes its flat fields.
    let records = until_ids(&ids, || {
        std::fs::read_to_string(&received)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let r: Value = serde_json::from_str(l).unwrap();
                let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
                assert_eq!(r["attributes"]["event.id"], body["event.id"], "{r}");
                assert_eq!(r["attributes"]["event.kind"], body["event.kind"], "{r}");
                body
            })
            .collect()
    })
    .await;
    for body in &records {
        let id = body["event.id"].as_str().unwrap();
        assert_eq!(Some(body), logged.get(id), "OTLP record {id}");
    }
}

/// Polls `read` until its records carry exactly `ids`, each once; fails after the wait.
async fn until_ids(ids: &BTreeSet<String>, read: impl Fn() -> Vec<Value>) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let records = read();
        let got: Vec<String> = records
            .iter()
            .map(|r| r["event.id"].as_str().unwrap().to_owned())
            .collect();
        let unique: BTreeSet<String> = got.iter().cloned().collect();
        assert_eq!(unique.len(), got.len(), "an event exported twice");
        assert!(
            unique.is_subset(ids),
            "exported events the log does not hold: {:?}",
            unique.difference(ids).collect::<Vec<_>>()
        );
        if &unique == ids {
            return records;
        }
        assert!(
            Instant::now() < deadline,
            "exported {} of the {} logged events within {WAIT:?}; missing {:?}",
            unique.len(),
            ids.len(),
            ids.difference(&unique).collect::<Vec<_>>()
        );
        sleep(Duration::from_millis(200)).await;
    }
}

/// `scripts/otlp_receiver.py` on a free port writing into `dir`: the process, its endpoint and
/// its output file.
async fn otlp_receiver(dir: &Path) -> Option<(RampartProcess, String, PathBuf)> {
    let python = std::env::var("RAMPART_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let importable = std::process::Command::new(&python)
        .args([
            "-c",
            "import opentelemetry.proto.collector.logs.v1.logs_service_pb2",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if !importable {
        let message = "python3 cannot import opentelemetry.proto; install it with \
                       `pip install opentelemetry-proto==1.45.2 protobuf`";
        assert!(std::env::var_os("CI").is_none(), "{message}");
        eprintln!("SKIPPED: {message}");
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/otlp_receiver.py");
    let out = dir.join("otlp-received.jsonl");
    let port = free_port();
    let mut process = RampartProcess::spawn(
        &python,
        &[
            script.to_str().unwrap(),
            &port.to_string(),
            out.to_str().unwrap(),
        ],
        &[],
    );
    process.wait_for_port(Ports::addr(port), WAIT).await;
    Some((process, format!("http://127.0.0.1:{port}"), out))
}

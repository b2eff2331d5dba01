//! The audit trail through `rampart up`: admin actions, refused admin tokens and policy
//! denials at the gateway become chained records in `events.db`; `rampart audit-log verify`
//! accepts the trail and, when the database is altered behind the running control plane's back
//! (`logs_tamper.py`, python3's sqlite3), names what was done and where: a record modified,
//! deleted, inserted, two swapped, the newest removed, an id column changed, a checkpoint's
//! signature altered, each undone in turn. An export verifies offline with the control plane's
//! key (`GET /v1/audit/keys`), and a tampered copy of it does not.

use std::path::Path;

use serde_json::Value;

use crate::logs_trail::{Trail, tamper_script};
use crate::secrets::text;
use crate::support::*;

/// A checkpoint after every this many chained records (at the end of a write batch).
const CHECKPOINT_EVERY: i64 = 5;
const DENIALS: usize = 20;
const JOIN_TOKENS: usize = 6;
const BAD_TOKENS: usize = 4;

/// The quickstart's shape with a policy that forbids `*secret*` paths and a checkpoint every
/// 5 chained records (and no timed ones, so checkpoints sit at known places).
fn audit_config(p: &Ports) -> String {
    format!(
        r#"
admin: {{ listen: "127.0.0.1:{admin}" }}
control: {{ listen: "127.0.0.1:{control}", proxy_ttl: 10s }}
logs: {{ checkpoint_every: {CHECKPOINT_EVERY}, checkpoint_interval: 1h }}
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
    )
}

/// Verify fails (exit 1) naming `kind` at `chain_seq` and `event_id`.
fn assert_problem(code: Option<i32>, report: &Value, kind: &str, chain_seq: i64, event_id: &str) {
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(report["ok"], false, "{report}");
    let p = &report["problem"];
    assert_eq!(p["kind"], kind, "{report}");
    assert_eq!(p["chain_seq"], chain_seq, "{report}");
    assert_eq!(p["event_id"], event_id, "{report}");
}

/// Produces chained records: join tokens, refused admin tokens, policy denials (and a few
/// allowed requests, which are access records only).
async fn produce(trail: &Trail) {
    let token = trail.token();
    for i in 0..JOIN_TOKENS {
        let service = format!("svc{i}");
        let args = ["identity", "join-token", "--service", &service, "--json"];
        let out = trail.rampart(&args, &token).await;
        assert!(out.status.success(), "join-token: {}", text(&out));
    }
    for _ in 0..BAD_TOKENS {
        let args = ["identity", "join-token", "--service", "intruder"];
        let out = trail.rampart(&args, "not-the-admin-token").await;
        assert!(!out.status.success(), "a wrong token was accepted");
    }
    for i in 0..DENIALS {
        let reply = get(trail.ports.http, &format!("/api/secret/{i}")).await;
        assert_eq!(reply.status(), Some(403), "{reply:?}");
    }
    for _ in 0..3 {
        let reply = get(trail.ports.http, "/api/hello").await;
        assert_eq!(reply.status(), Some(200), "{reply:?}");
    }
}

#[tokio::test]
async fn audit_log_verify_names_every_kind_of_tampering_in_events_db() {
    let tmp = tempfile::tempdir().unwrap();
    let ports = Ports::new();
    let trail = Trail::start(tmp.path(), &audit_config(&ports), ports).await;
    produce(&trail).await;
    let produced = (JOIN_TOKENS + BAD_TOKENS + DENIALS) as u64;
    let stats = trail.settled(produced).await;
    let chained = stats["chained"].as_u64().unwrap();
    assert!(stats["head"].as_u64().unwrap() >= chained, "{stats}");

    // The events are there, one of each denial.
    let out = trail
        .rampart(
            &[
                "logs",
                "query",
                "action=policy_denied",
                "limit=1000",
                "--json",
            ],
            &trail.token(),
        )
        .await;
    assert!(out.status.success(), "{}", text(&out));
    let denials = String::from_utf8(out.stdout).unwrap().lines().count();
    assert_eq!(denials, DENIALS, "policy_denied records");
    trail.verify_ok(chained, "untouched").await;

    // Where the trail is tampered with: well inside the chain, after a checkpoint, not at one
    // (a forged record there would be caught by the checkpoint first).
    let at: Vec<i64> = serde_json::from_value(stats["checkpoint_seqs"].clone()).unwrap();
    let first = at[0];
    let k = (first + 2..chained as i64 - 3)
        .find(|k| !at.contains(k))
        .unwrap_or_else(|| panic!("no place to tamper with: {stats}"));

    // (a) A record's body is changed.
    let saved = trail.tamper("row", &[&k.to_string()]).await;
    let id = saved["id"].as_str().unwrap().to_owned();
    trail.tamper("modify", &[&k.to_string()]).await;
    let (code, report) = trail.verify(&[]).await;
    assert_problem(code, &report, "modified", k, &id);
    trail.tamper("put", &[&saved.to_string()]).await;
    trail
        .verify_ok(chained, "after undoing the modification")
        .await;

    // (b) A record is deleted: the records after the gap are named.
    let after = trail.tamper("row", &[&(k + 1).to_string()]).await;
    trail.tamper("delete", &[&k.to_string()]).await;
    let (code, report) = trail.verify(&[]).await;
    assert_problem(
        code,
        &report,
        "deleted",
        k + 1,
        after["id"].as_str().unwrap(),
    );
    trail.tamper("put", &[&saved.to_string()]).await;
    trail
        .verify_ok(chained, "after re-inserting the deleted row")
        .await;

    // (c) A forged record that links correctly to its predecessor is slipped in at k (the
    // rest renumbered, the head moved along): its successor links past it.
    let forged = trail.tamper("forge", &[&k.to_string()]).await;
    let (code, report) = trail.verify(&[]).await;
    assert_problem(
        code,
        &report,
        "inserted",
        k,
        forged["forged"].as_str().unwrap(),
    );
    trail.tamper("unforge", &[&k.to_string()]).await;
    trail
        .verify_ok(chained, "after removing the forged record")
        .await;

    // (d) Two records swap places.
    trail
        .tamper("swap", &[&k.to_string(), &(k + 1).to_string()])
        .await;
    let (code, report) = trail.verify(&[]).await;
    assert_problem(code, &report, "reordered", k, after["id"].as_str().unwrap());
    trail
        .tamper("swap", &[&k.to_string(), &(k + 1).to_string()])
        .await;
    trail.verify_ok(chained, "after swapping back").await;

    // (e) The newest record is removed: the chain ends before its head.
    let head = stats["head"].as_i64().unwrap();
    let newest = trail.tamper("row", &[&head.to_string()]).await;
    trail.tamper("delete", &[&head.to_string()]).await;
    let (code, report) = trail.verify(&[]).await;
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(report["problem"]["kind"], "truncated", "{report}");
    assert_eq!(report["problem"]["chain_seq"], head, "{report}");
    trail.tamper("put", &[&newest.to_string()]).await;
    trail
        .verify_ok(chained, "after restoring the newest record")
        .await;

    // (f) A row's id column is changed, not its body: queries would name it by the wrong id.
    let other = "01000000-0000-7000-8000-000000000000";
    trail.tamper("setid", &[&k.to_string(), other]).await;
    let (code, report) = trail.verify(&[]).await;
    assert_problem(code, &report, "modified", k, &id);
    let detail = report["problem"]["detail"].as_str().unwrap();
    assert!(detail.contains(other), "{report}");
    trail.tamper("setid", &[&k.to_string(), &id]).await;
    trail.verify_ok(chained, "after restoring the id").await;

    // (g) A checkpoint's signature is altered.
    let cp = *at.last().unwrap();
    trail.tamper("cpflip", &[&cp.to_string()]).await;
    let (code, report) = trail.verify(&[]).await;
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(report["problem"]["kind"], "bad_checkpoint", "{report}");
    assert_eq!(report["problem"]["chain_seq"], cp, "{report}");
    trail.tamper("cpflip", &[&cp.to_string()]).await;
    trail
        .verify_ok(chained, "after restoring the signature")
        .await;
    let end = trail.tamper("stats", &[]).await;
    assert_eq!(end["chained"], stats["chained"], "{end}");

    export_verifies_offline(&trail, tmp.path(), chained, (k, &id)).await;
}

/// `audit-log export -o F` verifies offline with the control plane's key; a copy with one
/// record changed fails naming it.
/// `record` is `(chain_seq, event id)` of the record to change.
async fn export_verifies_offline(trail: &Trail, dir: &Path, chained: u64, record: (i64, &str)) {
    let (k, id) = record;
    let file = dir.join("audit.jsonl");
    let out = trail
        .rampart(
            &["audit-log", "export", "-o", file.to_str().unwrap()],
            &trail.token(),
        )
        .await;
    assert!(out.status.success(), "{}", text(&out));
    let keys = tamper_script(
        vec![
            "keys".into(),
            trail.url(),
            trail.data.join("ca.pem").display().to_string(),
        ],
        vec![("RAMPART_TOKEN".into(), trail.token())],
    )
    .await;
    let key = &keys["keys"][0];
    let key = format!(
        "{}:{}",
        key["key_id"].as_str().unwrap(),
        key["public_key"].as_str().unwrap()
    );
    let file_arg = file.to_str().unwrap();
    let (code, report) = trail.verify(&["--file", file_arg, "--key", &key]).await;
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["keys_from_export"], false, "{report}");
    assert!(report["records"].as_u64().unwrap() >= chained, "{report}");
    assert!(
        report["checkpoints_verified"].as_u64().unwrap() >= 1,
        "{report}"
    );

    // One record's timestamp changes in a copy of the export.
    let tampered = dir.join("audit-tampered.jsonl");
    let exported = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<String> = exported.lines().map(str::to_owned).collect();
    let at = lines
        .iter()
        .position(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["chain_seq"] == k
        })
        .expect("record k in the export");
    let v: Value = serde_json::from_str(&lines[at]).unwrap();
    assert_eq!(v["event"]["event.id"], id, "{v}");
    lines[at] = bump_timestamp(&lines[at]);
    std::fs::write(&tampered, lines.join("\n") + "\n").unwrap();
    let tampered_arg = tampered.to_str().unwrap();
    let (code, report) = trail.verify(&["--file", tampered_arg, "--key", &key]).await;
    assert_problem(code, &report, "modified", k, id);

    // Not an export at all: a clear error, not a report and not a crash.
    let garbage = dir.join("garbage.jsonl");
    std::fs::write(&garbage, "this is not an audit export\n").unwrap();
    let args = ["audit-log", "verify", "--file", garbage.to_str().unwrap()];
    let out = trail.rampart(&args, &trail.token()).await;
    assert!(!out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("garbage.jsonl"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // Without --key it still checks, with the keys the export carries, and says so.
    let (code, report) = trail.verify(&["--file", file_arg]).await;
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["keys_from_export"], true, "{report}");
}

/// The line with its `@timestamp` one millisecond later.
fn bump_timestamp(line: &str) -> String {
    let key = "\"@timestamp\":";
    let start = line.find(key).expect("a timestamp") + key.len();
    let digits = line[start..]
        .find(|c: char| !c.is_ascii_digit())
        .map_or(line.len(), |n| start + n);
    let ms: u64 = line[start..digits].parse().unwrap();
    format!("{}{}{}", &line[..start], ms + 1, &line[digits..])
}

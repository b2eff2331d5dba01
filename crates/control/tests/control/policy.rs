//! The policy API: applying, rejecting, dry-running and reporting Cedar sets, their history,
//! their distribution through the mesh watch, and seeding from the configuration.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use http::{Method, StatusCode};
use rampart_config::PolicyConfig;
use rampart_control::{
    ControlError,
    api::{ApplyPolicy, MeshSnapshot, ShadowBatch},
};
use rampart_events::SecurityKind;
use rampart_policy::{PolicySource, Segments, ShadowEntry};

use crate::support::{Plane, Settings, next_event, start, start_settings, try_start_settings};

const PUBLIC_READS: &str = "@id(\"public-reads\")\npermit(principal, action == Rampart::Action::\"GET\", resource is Rampart::Route)\nwhen { resource.path like \"/public/*\" };\n";
const ADMIN_READS: &str = "@id(\"admin-reads\")\npermit(principal, action == Rampart::Action::\"GET\", resource is Rampart::Route)\nwhen { resource.path like \"/admin/*\" };\n";
/// Line 3, column 45: `team` is not an attribute of `Workload`.
const BAD: &str = "// a policy with a typo\n@id(\"p-bad\")\npermit(principal is Rampart::Workload, action, resource) when { principal.team == \"x\" };\n";

fn source(files: &[(&str, &str)]) -> PolicySource {
    PolicySource {
        files: files
            .iter()
            .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
            .collect::<BTreeMap<_, _>>(),
        segments: Segments::default(),
    }
}

fn apply(source: PolicySource, author: &str, message: &str, dry_run: bool) -> ApplyPolicy {
    ApplyPolicy {
        source,
        segments_from_current: false,
        author: author.to_owned(),
        message: message.to_owned(),
        dry_run,
    }
}

fn config(cedar: &str) -> PolicyConfig {
    PolicyConfig {
        cedar: Some(cedar.to_owned()),
        ..PolicyConfig::default()
    }
}

/// A disagreement of `count` requests, the last one at unix second `last`.
fn shadow_entry(version: u64, count: u64, path: &str, last: i64) -> ShadowEntry {
    ShadowEntry {
        shadow_version: version,
        from: "orders".into(),
        to: "billing".into(),
        action: "GET".into(),
        enforced_allowed: true,
        shadow_allowed: false,
        policies: vec![],
        sample_path: path.into(),
        count,
        first_seen: 100,
        last_seen: last,
    }
}

async fn enforced_version(plane: &Plane) -> Option<u64> {
    plane
        .client()
        .policy()
        .await
        .unwrap()
        .enforced
        .map(|e| e.version)
}

#[tokio::test]
async fn a_valid_set_is_versioned_with_author_message_and_diff() {
    let plane = start().await;
    assert_eq!(plane.client().policy().await.unwrap().enforced, None);
    assert_eq!(
        *plane.handle.policy().borrow(),
        Default::default(),
        "authorization off"
    );
    let mut events = plane.bus.subscribe();

    let first = source(&[("reads.cedar", PUBLIC_READS)]);
    let applied = plane
        .client()
        .apply_policy(&apply(first.clone(), "alice", "public reads", false))
        .await
        .unwrap();
    assert_eq!((applied.version, applied.unchanged), (1, false));
    assert_eq!(applied.digest, first.digest());
    assert!(
        applied.diff.contains("+++ b/reads.cedar"),
        "{}",
        applied.diff
    );
    let event = next_event(&mut events, SecurityKind::PolicyApplied).await;
    assert!(
        event.detail.contains("version 1") && event.detail.contains("alice"),
        "{event:?}"
    );

    let second = source(&[("reads.cedar", PUBLIC_READS), ("admin.cedar", ADMIN_READS)]);
    let applied = plane
        .client()
        .apply_policy(&apply(second.clone(), "bob", "admin reads", false))
        .await
        .unwrap();
    assert_eq!(applied.version, 2);
    assert!(
        applied.diff.contains("+++ b/admin.cedar"),
        "{}",
        applied.diff
    );
    assert!(
        !applied.diff.contains("reads.cedar\n"),
        "only the change: {}",
        applied.diff
    );

    let again = plane
        .client()
        .apply_policy(&apply(second.clone(), "bob", "same again", false))
        .await
        .unwrap();
    assert!(again.unchanged, "{again:?}");
    assert_eq!(again.version, 2);

    let history = plane.client().policy_history(10).await.unwrap();
    let lines: Vec<_> = history
        .iter()
        .map(|h| {
            (
                h.version,
                h.author.as_str(),
                h.message.as_str(),
                h.mode.as_str(),
                h.origin.as_str(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            (2, "bob", "admin reads", "enforce", "api"),
            (1, "alice", "public reads", "enforce", "api")
        ]
    );
    assert_eq!((history[0].added, history[0].removed), (3, 0));
    let detail = plane.client().policy_version(2).await.unwrap().unwrap();
    assert_eq!(detail.source, second);
    assert!(
        detail.diff.contains("+@id(\"admin-reads\")"),
        "{}",
        detail.diff
    );
    assert_eq!(plane.client().policy_version(7).await.unwrap(), None);

    let status = plane.client().policy().await.unwrap();
    let enforced = status.enforced.unwrap();
    assert_eq!((enforced.version, enforced.author.as_str()), (2, "bob"));
    assert_eq!(enforced.source, second);
    assert_eq!(status.shadow, None);
    let distribution = plane.handle.policy().borrow().clone();
    assert_eq!(distribution.enforced.unwrap().version, 2);
}

#[tokio::test]
async fn an_invalid_set_is_refused_with_pointed_problems_and_changes_nothing() {
    let plane = start().await;
    let good = source(&[("reads.cedar", PUBLIC_READS)]);
    plane
        .client()
        .apply_policy(&apply(good.clone(), "alice", "ok", false))
        .await
        .unwrap();
    let mut events = plane.bus.subscribe();

    let bad = apply(source(&[("bad.cedar", BAD)]), "mallory", "typo", false);
    let body = serde_json::to_string(&bad).unwrap();
    let reply = plane
        .h1(Method::POST, "/v1/policy", Some(&plane.bearer()), &body)
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let json = reply.json();
    assert_eq!(json["code"], "invalid_policy");
    assert!(
        json["error"].as_str().unwrap().contains("validation"),
        "{json}"
    );
    let problems = json["problems"].as_array().unwrap();
    let first = problems[0].as_str().unwrap();
    assert!(first.starts_with("bad.cedar:3:"), "{first}");
    assert!(
        first.contains("[policy p-bad]") && first.contains("team"),
        "{first}"
    );

    match plane.client().apply_policy(&bad).await {
        Err(ControlError::PolicyRejected { problems, .. }) => {
            assert!(problems[0].starts_with("bad.cedar:3:"), "{problems:?}");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    let event = next_event(&mut events, SecurityKind::PolicyRejected).await;
    assert!(
        event.detail.contains("mallory") && event.detail.contains("bad.cedar:3"),
        "{event:?}"
    );

    let history = plane.client().policy_history(10).await.unwrap();
    assert_eq!(history.len(), 1, "nothing stored: {history:?}");
    let status = plane.client().policy().await.unwrap();
    assert_eq!(status.enforced.unwrap().source, good, "the old set stays");
    assert_eq!(
        plane
            .handle
            .policy()
            .borrow()
            .enforced
            .as_ref()
            .unwrap()
            .version,
        1
    );
}

#[tokio::test]
async fn a_request_without_author_is_a_bad_request_and_routes_need_credentials() {
    let plane = start().await;
    let request = apply(source(&[("reads.cedar", PUBLIC_READS)]), " ", "", false);
    match plane.client().apply_policy(&request).await {
        Err(ControlError::Http {
            status: 400,
            message,
        }) => assert!(message.contains("author")),
        other => panic!("expected 400, got {other:?}"),
    }
    for path in [
        "/v1/policy",
        "/v1/policy/history",
        "/v1/policy/dry-run-report",
    ] {
        let reply = plane.h1(Method::GET, path, None, "").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
    }
    let batch = serde_json::to_string(&ShadowBatch::default()).unwrap();
    let reply = plane
        .h1(
            Method::POST,
            "/v1/policy/shadow",
            Some(&plane.bearer()),
            &batch,
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "the shadow route takes an SVID, not the admin token"
    );
}

#[tokio::test]
async fn a_large_set_is_accepted() {
    let plane = start().await;
    let mut text = String::new();
    for i in 0..1000 {
        text.push_str(&format!(
            "@id(\"p{i}\")\npermit(principal, action == Rampart::Action::\"GET\", resource is Rampart::Route)\nwhen {{ resource.path like \"/svc{i}/*\" }};\n"
        ));
    }
    assert!(text.len() > 64 * 1024, "bigger than the default body limit");
    let applied = plane
        .client()
        .with_timeout(Duration::from_secs(60))
        .apply_policy(&apply(
            source(&[("many.cedar", &text)]),
            "alice",
            "many",
            false,
        ))
        .await
        .unwrap();
    assert_eq!(applied.version, 1);
}

#[tokio::test]
async fn a_dry_run_shows_as_shadow_collects_reports_and_stops() {
    let plane = start().await;
    plane
        .client()
        .apply_policy(&apply(
            source(&[("reads.cedar", PUBLIC_READS)]),
            "alice",
            "v1",
            false,
        ))
        .await
        .unwrap();
    let shadow = source(&[("admin.cedar", ADMIN_READS)]);
    let applied = plane
        .client()
        .apply_policy(&apply(shadow.clone(), "bob", "try admin", true))
        .await
        .unwrap();
    assert_eq!(applied.version, 2);
    let status = plane.client().policy().await.unwrap();
    assert_eq!(
        status.enforced.as_ref().unwrap().version,
        1,
        "still enforced"
    );
    let in_shadow = status.shadow.unwrap();
    assert_eq!((in_shadow.version, in_shadow.source), (2, shadow));
    let distribution = plane.handle.policy().borrow().clone();
    assert_eq!(distribution.shadow.unwrap().version, 2);

    let orders = plane.join("orders", "shop").await;
    let batch = ShadowBatch {
        entries: vec![
            shadow_entry(2, 30, "/invoices/1", 110),
            shadow_entry(1, 99, "/old", 200),
        ],
    };
    orders.client().report_shadow(&batch).await.unwrap();
    orders
        .client()
        .report_shadow(&ShadowBatch {
            entries: vec![shadow_entry(2, 7, "/invoices/2", 120)],
        })
        .await
        .unwrap();
    plane
        .handle
        .record_shadow(vec![shadow_entry(2, 3, "/invoices/3", 130)]);
    let report = plane.client().policy_dry_run_report().await.unwrap();
    assert_eq!(report.shadow_version, Some(2));
    assert_eq!(
        report.entries.len(),
        1,
        "merged, other versions dropped: {report:?}"
    );
    assert_eq!(report.entries[0].count, 40);
    assert_eq!(
        report.entries[0].sample_path, "/invoices/3",
        "the latest sample"
    );
    assert_eq!(
        (report.entries[0].first_seen, report.entries[0].last_seen),
        (100, 130)
    );

    let history = plane.client().policy_history(10).await.unwrap();
    assert_eq!(history[0].mode, "dry-run");
    assert!(plane.client().clear_policy_dry_run().await.unwrap());
    assert!(!plane.client().clear_policy_dry_run().await.unwrap());
    let status = plane.client().policy().await.unwrap();
    assert_eq!((status.enforced.unwrap().version, status.shadow), (1, None));
    assert_eq!(plane.handle.policy().borrow().shadow, None);
    let report = plane.client().policy_dry_run_report().await.unwrap();
    assert_eq!((report.shadow_version, report.entries.len()), (None, 0));
    assert_eq!(
        plane.client().policy_history(10).await.unwrap()[0].mode,
        "dry-run-cleared"
    );
}

#[tokio::test]
async fn a_new_set_reaches_mesh_watchers_within_a_second() {
    let plane = start().await;
    let cart = plane.join("cart", "shop").await;
    let mut watch = cart.client().watch_mesh().await.unwrap();
    let first = watch.next().await.unwrap().unwrap();
    assert_eq!(first.policy, Default::default());

    let started = Instant::now();
    let applied = plane
        .client()
        .apply_policy(&apply(
            source(&[("reads.cedar", PUBLIC_READS)]),
            "alice",
            "go",
            false,
        ))
        .await
        .unwrap();
    let seen = until_policy(&mut watch, applied.version).await;
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
    let enforced = seen.policy.enforced.unwrap();
    assert_eq!(enforced.digest, applied.digest);
    assert!(seen.version > first.version);
    eprintln!("policy reached the watcher {elapsed:?} after the POST started");

    let dry = plane
        .client()
        .apply_policy(&apply(
            source(&[("admin.cedar", ADMIN_READS)]),
            "bob",
            "dry",
            true,
        ))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let s = tokio::time::timeout(left, watch.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if s.policy.shadow.as_ref().map(|r| r.version) == Some(dry.version) {
            break;
        }
    }
}

/// The next snapshot (within 1 s) whose enforced policy is `version`.
async fn until_policy(watch: &mut rampart_control::MeshWatch, version: u64) -> MeshSnapshot {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let snapshot = tokio::time::timeout(left, watch.next())
            .await
            .expect("the policy reaches the watcher within 1 s")
            .expect("the stream goes on")
            .unwrap();
        if snapshot.policy.enforced.as_ref().map(|r| r.version) == Some(version) {
            return snapshot;
        }
    }
}

#[tokio::test]
async fn a_restart_keeps_the_applied_set_and_the_config_seeds_only_on_change() {
    let settings = Settings {
        policy: Some(config(PUBLIC_READS)),
        ..Settings::default()
    };
    let plane = start_settings(settings.clone()).await;
    let history = plane.client().policy_history(10).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(
        (
            history[0].author.as_str(),
            history[0].origin.as_str(),
            history[0].mode.as_str()
        ),
        ("config", "config", "enforce")
    );
    let status = plane.client().policy().await.unwrap();
    assert!(
        status
            .enforced
            .unwrap()
            .source
            .files
            .contains_key("inline.cedar")
    );

    let plane = plane.restart().await;
    assert_eq!(
        plane.client().policy_history(10).await.unwrap().len(),
        1,
        "same config: no new version"
    );

    let applied = plane
        .client()
        .apply_policy(&apply(
            source(&[("admin.cedar", ADMIN_READS)]),
            "alice",
            "api",
            false,
        ))
        .await
        .unwrap();
    assert_eq!(applied.version, 2);
    let plane = plane.restart().await;
    assert_eq!(
        enforced_version(&plane).await,
        Some(2),
        "the API's set stays in force"
    );
    assert_eq!(
        plane
            .handle
            .policy()
            .borrow()
            .enforced
            .as_ref()
            .unwrap()
            .version,
        2
    );

    let plane = plane
        .restart_with(Settings {
            policy: None,
            ..settings.clone()
        })
        .await;
    assert_eq!(
        enforced_version(&plane).await,
        Some(2),
        "no section: the stored set stays"
    );

    let plane = plane
        .restart_with(Settings {
            policy: Some(config(ADMIN_READS)),
            ..settings
        })
        .await;
    let history = plane.client().policy_history(10).await.unwrap();
    assert_eq!(
        (history[0].version, history[0].origin.as_str()),
        (3, "config")
    );
    assert_eq!(
        enforced_version(&plane).await,
        Some(3),
        "a changed config set is enforced"
    );
    assert!(
        history[0].added > 0 && history[0].removed > 0,
        "{history:?}"
    );
}

#[tokio::test]
async fn an_invalid_configured_set_fails_the_start_with_its_problems() {
    let settings = Settings {
        policy: Some(PolicyConfig {
            cedar: Some(BAD.to_owned()),
            ..PolicyConfig::default()
        }),
        ..Settings::default()
    };
    match try_start_settings(settings).await {
        Err(ControlError::Policy { reason }) => {
            assert!(reason.contains("inline.cedar:3:"), "{reason}");
        }
        Err(other) => panic!("expected a policy error, got {other}"),
        Ok(_) => panic!("an invalid configured set must not start"),
    }
}

#[tokio::test]
async fn segments_from_current_keeps_the_enforced_segments() {
    let plane = start().await;
    let mut first = source(&[("reads.cedar", PUBLIC_READS)]);
    first.segments = serde_json::from_value(serde_json::json!({
        "segments": [{ "name": "app" }],
        "services": { "orders": "app" },
        "flows": [{ "from": "app", "to": "app" }]
    }))
    .unwrap();
    plane
        .client()
        .apply_policy(&apply(first.clone(), "alice", "with segments", false))
        .await
        .unwrap();

    let mut request = apply(
        source(&[("admin.cedar", ADMIN_READS)]),
        "bob",
        "files only",
        false,
    );
    request.segments_from_current = true;
    let applied = plane.client().apply_policy(&request).await.unwrap();
    assert!(!applied.diff.contains("segments.yaml"), "{}", applied.diff);
    let enforced = plane.client().policy().await.unwrap().enforced.unwrap();
    assert_eq!(enforced.version, 2);
    assert_eq!(enforced.source.segments, first.segments);

    request.segments_from_current = false;
    request.source.files.insert(
        "x.cedar".to_owned(),
        PUBLIC_READS.replace("public-reads", "x"),
    );
    let applied = plane.client().apply_policy(&request).await.unwrap();
    assert!(
        applied.diff.contains("segments.yaml"),
        "segments dropped: {}",
        applied.diff
    );
    let enforced = plane.client().policy().await.unwrap().enforced.unwrap();
    assert_eq!(enforced.source.segments, Segments::default());
}

//! `rampart logs query|tail` against a known mix of requests through the gateway of
//! `rampart up` (issue 7, `docs/logs.md`): exact counts per filter, time bounds, text search,
//! `limit=`, `tail -n`, and a bad query refused with a message naming the field.

use crate::logs_support::*;
use crate::support::*;
use serde_json::Value;
use std::time::Duration;

/// Allowed GETs, forbidden GETs (403 by policy) and unrouted GETs (404).
const ALLOWED: usize = 7;
const FORBIDDEN: usize = 4;
const UNROUTED: usize = 3;

fn gateway_config(p: &Ports) -> String {
    format!(
        r#"
admin: {{ listen: "127.0.0.1:{admin}" }}
control: {{ listen: "127.0.0.1:{control}", proxy_ttl: 10s }}
gateway:
  listeners:
    - {{ name: http, address: "127.0.0.1:{http}" }}
  clusters:
    - {{ name: echo, builtin: echo }}
  routes:
    - {{ name: api, match: {{ path_prefix: /api/ }}, cluster: echo }}
policy:
  cedar: |
    @id("routes")
    permit(principal, action, resource is Rampart::Route);
    @id("no-secret")
    forbid(principal, action, resource)
    when {{ resource.path like "/api/secret*" }};
"#,
        admin = p.admin,
        control = p.control,
        http = p.http,
    )
}

/// The gateway's access records among `records`.
fn gateway_access(records: &[Value]) -> Vec<&Value> {
    records
        .iter()
        .filter(|v| field(v, "event.kind") == "access" && field(v, "observer.type") == "gateway")
        .collect()
}

fn status(v: &Value) -> u64 {
    v["http.response.status_code"].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn logs_query_and_tail_return_exactly_what_was_asked() {
    let plane = Plane::start(gateway_config).await;
    let http = plane.ports.http;
    for i in 0..ALLOWED {
        let r = send(http, "GET", "localhost", &format!("/api/ok/{i}")).await;
        assert_eq!(r.status(), Some(200), "{r:?}");
    }
    for i in 0..FORBIDDEN {
        let r = send(http, "GET", "localhost", &format!("/api/secret/{i}")).await;
        assert_eq!(r.status(), Some(403), "{r:?}");
    }
    for i in 0..UNROUTED {
        let r = send(http, "GET", "localhost", &format!("/nothing/{i}")).await;
        assert_eq!(r.status(), Some(404), "{r:?}");
    }
    let total = ALLOWED + FORBIDDEN + UNROUTED;

    // Every request is stored (the gateway's events go to the log in-process).
    let all = plane
        .query_until("kind=access", Duration::from_secs(15), |f| {
            gateway_access(f).len() >= total
        })
        .await;
    let access = gateway_access(&all);
    assert_eq!(access.len(), total, "{all:?}");
    let service = field(access[0], "service.name").to_owned();
    assert!(
        access.iter().all(|v| field(v, "service.name") == service),
        "one service name for the gateway's access events"
    );
    // Newest first.
    let times: Vec<i64> = all
        .iter()
        .map(|v| v["@timestamp"].as_i64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");

    // status>=400 for the gateway: exactly the 403s and 404s, nothing else.
    let errors = plane.query(&format!("service={service} status>=400")).await;
    assert_eq!(errors.len(), FORBIDDEN + UNROUTED, "{errors:?}");
    assert!(
        errors
            .iter()
            .all(|v| field(v, "event.kind") == "access" && status(v) >= 400),
        "{errors:?}"
    );
    let forbidden = plane.query(&format!("service={service} status=403")).await;
    assert_eq!(forbidden.len(), FORBIDDEN, "{forbidden:?}");
    let ok = plane.query(&format!("service={service} status<400")).await;
    assert_eq!(ok.len(), ALLOWED, "{ok:?}");
    assert!(ok.iter().all(|v| status(v) == 200));

    // decision=deny: the policy's refusals and the unrouted requests (refused by the gateway).
    let denied = plane.query("kind=access decision=deny").await;
    let denied_paths: Vec<&str> = denied.iter().map(|v| field(v, "url.path")).collect();
    assert_eq!(denied.len(), FORBIDDEN + UNROUTED, "{denied_paths:?}");
    assert!(
        denied.iter().all(|v| field(v, "decision") == "deny"
            && (field(v, "url.path").starts_with("/api/secret/")
                || field(v, "url.path").starts_with("/nothing/"))),
        "{denied_paths:?}"
    );
    let allowed = plane.query("kind=access decision=allow").await;
    assert_eq!(allowed.len(), ALLOWED, "{allowed:?}");
    assert!(
        allowed
            .iter()
            .all(|v| field(v, "url.path").starts_with("/api/ok/")),
        "{allowed:?}"
    );
    assert_eq!(
        plane.query("kind=access decision!=deny").await.len(),
        ALLOWED
    );
    // The policy denials are security events too.
    let policy = plane.query("kind=security action=policy_denied").await;
    assert_eq!(policy.len(), FORBIDDEN, "{policy:?}");

    // Time bounds.
    assert_eq!(
        gateway_access(&plane.query("kind=access since=1h").await).len(),
        total
    );
    assert!(
        plane
            .query("kind=access until=2000-01-01T00:00:00Z")
            .await
            .is_empty()
    );

    // Text search: a case-insensitive substring of the record.
    let found = plane.query("SECRET/2").await;
    assert_eq!(
        found.len(),
        2,
        "the access and the policy_denied record: {found:?}"
    );
    assert!(
        found
            .iter()
            .any(|v| field(v, "url.path") == "/api/secret/2")
    );
    let found = plane.query("kind=access \"/nothing/1\"").await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(field(&found[0], "url.path"), "/nothing/1");

    // limit=: the newest N.
    let limited = plane.query("kind=access limit=3").await;
    assert_eq!(limited.len(), 3);
    let ids: Vec<&str> = limited.iter().map(|v| field(v, "event.id")).collect();
    let newest: Vec<&str> = all.iter().take(3).map(|v| field(v, "event.id")).collect();
    assert_eq!(ids, newest);

    // tail -n 5: five lines, oldest first, the last being the newest access.
    let (ok, out, err) = plane
        .rampart(&["logs", "tail", "-n", "5", "kind=access"])
        .await;
    assert!(ok, "{out}\n{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert!(lines[4].contains("/nothing/2"), "{out}");
    assert!(lines[0].contains("/api/secret/2"), "{out}");
    let (ok, out, err) = plane
        .rampart(&["logs", "tail", "-n", "5", "kind=access", "--json"])
        .await;
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 5, "{out}");

    // A bad query: a non-zero exit and a message that names the field.
    let (ok, out, err) = plane.rampart(&["logs", "query", "colour=red"]).await;
    assert!(!ok, "{out}");
    assert!(err.contains("colour"), "{err}");
    let (ok, out, err) = plane.rampart(&["logs", "query", "status>=abc"]).await;
    assert!(!ok, "{out}");
    assert!(err.contains("status"), "{err}");
    let (ok, out, err) = plane.rampart(&["logs", "query", "limit=0"]).await;
    assert!(!ok, "{out}");
    assert!(err.contains("limit"), "{err}");
    let (ok, out, err) = plane.rampart(&["logs", "query", "since=yesterday"]).await;
    assert!(!ok, "{out}");
    assert!(err.contains("since"), "{err}");
}

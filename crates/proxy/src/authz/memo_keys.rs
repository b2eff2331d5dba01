//! The memo's keys in the request path: paths that the sets' policies only test with
//! `like` / `==` share a remembered decision when the tests agree, for the enforced and the
//! shadow set alike; a path read otherwise is remembered per path. Decisions and shadow
//! disagreements are those of deciding every request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::question::unix_now;
use super::{AuthzRt, PolicyState, Verdict};
use crate::authz::Ask;
use crate::metrics::Metrics;
use crate::shared::ConnInfo;
use crate::snapshot::{RouteRt, Snapshot};
use http::Method;
use rampart_policy::{Distribution, PolicyRelease, PolicySource};
use std::collections::BTreeMap;
use std::sync::Arc;

const ENFORCED: &str = r#"
permit(principal, action == Rampart::Action::"GET", resource is Rampart::Route)
when { resource.path like "/public/*" };
forbid(principal, action, resource is Rampart::Route)
when { resource.path like "/admin*" };
"#;

/// Allows only part of what the enforced set allows.
const SHADOW: &str = r#"
permit(principal, action == Rampart::Action::"GET", resource is Rampart::Route)
when { resource.path like "/public/a*" };
"#;

const WHOLE_PATH: &str = r#"
forbid(principal, action, resource is Rampart::Route)
when { ["/public/9"].contains(resource.path) };
"#;

fn release(version: u64, files: &[&str]) -> PolicyRelease {
    let source = PolicySource {
        files: files
            .iter()
            .enumerate()
            .map(|(i, text)| (format!("p{i}.cedar"), (*text).to_owned()))
            .collect::<BTreeMap<_, _>>(),
        segments: Default::default(),
    };
    PolicyRelease {
        version,
        digest: source.digest(),
        source,
    }
}

fn route(metrics: &Metrics) -> Arc<RouteRt> {
    let config = rampart_config::from_str(
        "memo",
        "admin: { listen: \"127.0.0.3:0\" }\ncontrol: { listen: \"127.0.0.5:0\" }\ngateway:\n  listeners: [{ name: http, address: \"127.0.0.1:0\" }]\n  clusters: [{ name: up, endpoints: [\"127.0.0.1:9\"] }]\n  routes: [{ name: all, cluster: up }]\n",
    )
    .unwrap();
    let snap = Snapshot::compile(&config, 1, None, metrics, None).unwrap();
    snap.routes[0].clone()
}

fn conn() -> ConnInfo {
    ConnInfo {
        peer: "127.0.0.1:5000".parse().unwrap(),
        listener: Arc::from("http"),
        tls: false,
        peer_id: None,
        client_cert: None,
    }
}

/// Whether `path` is allowed (anonymous GET).
fn allowed(rt: &AuthzRt, route: &RouteRt, conn: &ConnInfo, path: &str) -> bool {
    let ask = Ask {
        conn,
        own_service: None,
        route,
        host: "localhost",
        path,
        method: &Method::GET,
        verified: None,
        token: None,
        client: conn.peer.ip(),
        observed: false,
    };
    match rt.authorize(true, &ask) {
        Verdict::Allowed(_) => true,
        Verdict::Denied(_) => false,
        Verdict::Off => panic!("authorization off"),
    }
}

#[test]
fn paths_with_equal_test_outcomes_share_a_decision() {
    let metrics = Metrics::new();
    let (route, conn) = (route(&metrics), conn());
    let rt = AuthzRt::new(&metrics);
    rt.install(
        PolicyState::compile(&Distribution {
            enforced: Some(release(1, &[ENFORCED])),
            shadow: Some(release(2, &[SHADOW])),
        })
        .unwrap(),
    );
    let cases = [
        ("/public/1", true),
        ("/public/2", true),
        ("/public/a1", true),
        ("/admin/x", false),
        ("/other", false),
        ("/public/3", true),
    ];
    // Retried (at most 3 times) when the second changes half-way, which empties the memo.
    let mut held = None;
    for _ in 0..3 {
        let start = unix_now();
        for (path, want) in cases {
            assert_eq!(allowed(&rt, &route, &conn, path), want, "{path}");
        }
        // The shadow set denies /public/1, /public/2 and /public/3: each request is a
        // disagreement, remembered or not.
        let disagreements: u64 = rt
            .take_shadow_entries()
            .iter()
            .filter(|e| e.enforced_allowed && !e.shadow_allowed)
            .map(|e| e.count)
            .sum();
        assert_eq!(disagreements, 3);
        if unix_now() == start {
            held = Some(rt.installed.load().memo.len());
            break;
        }
    }
    // /public/1, /public/2 and /public/3 pass the same tests of both sets: one decision.
    assert_eq!(held, Some(4), "decisions remembered");
}

#[test]
fn a_path_read_whole_is_remembered_per_path() {
    let metrics = Metrics::new();
    let (route, conn) = (route(&metrics), conn());
    let rt = AuthzRt::new(&metrics);
    rt.install(
        PolicyState::compile(&Distribution {
            enforced: Some(release(1, &[ENFORCED, WHOLE_PATH])),
            shadow: None,
        })
        .unwrap(),
    );
    let paths: Vec<String> = (0..10).map(|i| format!("/public/{i}")).collect();
    let mut held = None;
    for _ in 0..3 {
        let start = unix_now();
        // Twice: decided, then remembered; the same outcomes.
        for p in paths.iter().chain(&paths) {
            assert_eq!(allowed(&rt, &route, &conn, p), p != "/public/9", "{p}");
        }
        if unix_now() == start {
            held = Some(rt.installed.load().memo.len());
            break;
        }
    }
    assert_eq!(held, Some(10), "decisions remembered");
}

//! Path tricks against path rules: the policy sees the normalised path, which is exactly what
//! the upstream receives, so encodings, doubled slashes and dot segments cannot reach a
//! forbidden or unpermitted path.

use super::support::{authz, release, state};
use crate::support::{Gw, one_route, raw_body};
use rampart_events::Decision;
use rampart_testkit::{RecordingUpstream, send_raw};
use std::time::Duration;

const POLICIES: &str = r#"
@id("no-admin")
forbid(principal, action, resource is Rampart::Route)
when { resource.path like "/admin*" };

@id("public")
permit(principal, action == Rampart::Action::"GET", resource is Rampart::Route)
when { resource.path like "/public/*" };

@id("exactly-public-a")
permit(principal, action == Rampart::Action::"GET", resource is Rampart::Route)
when { resource.path == "/public/a" };
"#;

/// Sends `GET <target>` as raw bytes (so nothing client-side touches the path); returns the
/// status and the body.
async fn raw_get(gw: &Gw, target: &str) -> (Option<u16>, String) {
    let req = format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let reply = send_raw(gw.http(), req.as_bytes(), Duration::from_secs(10)).await;
    (reply.status(), raw_body(&reply.bytes))
}

#[tokio::test]
async fn encodings_and_dot_segments_cannot_reach_admin() {
    let upstream = RecordingUpstream::start();
    let mut gw = Gw::start(&one_route(upstream.addr())).await;
    gw.handle
        .set_policy(state(Some(release(1, POLICIES, "")), None));

    // Denied by the forbid, whatever the spelling.
    for target in [
        "/admin",
        "/%61dmin",
        "/%61%64%6D%69%6E/users",
        "//admin",
        "/public/../admin",
        "/public/%2e%2e/admin",
        "/public/%2E%2E/admin/",
        "/public/./.././admin",
    ] {
        let (status, body) = raw_get(&gw, target).await;
        assert_eq!(status, Some(403), "{target}: {body}");
        assert_eq!(body, "Forbidden: forbidden\n", "{target}");
        let ev = gw.access(|a| a.path == target).await;
        let record = authz(&ev);
        assert_eq!(record.decision, Decision::Deny, "{target}");
        assert_eq!(record.policies, ["no-admin"], "{target}");
    }
    // Normalisation keeps case: `/ADMIN` is another path, which no rule permits (and which
    // the upstream would see as `/ADMIN`), so it is denied by default, not by the forbid.
    let (status, _) = raw_get(&gw, "/ADMIN").await;
    assert_eq!(status, Some(403));
    let ev = gw.access(|a| a.path == "/ADMIN").await;
    assert!(authz(&ev).policies.is_empty(), "{:?}", authz(&ev));
    assert_eq!(upstream.count(), 0, "a denied request reached the upstream");

    // Allowed spellings of `/public/a`: the path the policy matched exactly is the path the
    // upstream received.
    for target in [
        "/public/a",
        "/public/./a",
        "/public//a",
        "/%70ublic/a",
        "/x/../public/a",
    ] {
        upstream.clear();
        let (status, body) = raw_get(&gw, target).await;
        assert_eq!(status, Some(200), "{target}: {body}");
        let seen = upstream.requests();
        assert_eq!(seen.len(), 1, "{target}");
        assert_eq!(seen[0].path, "/public/a", "{target}");
        let ev = gw.access(|a| a.path == target).await;
        assert_eq!(
            authz(&ev).policies,
            ["exactly-public-a", "public"],
            "{target}"
        );
    }
}

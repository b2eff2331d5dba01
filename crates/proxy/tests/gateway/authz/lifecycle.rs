//! Installing and swapping policy sets: fail closed when the configuration requires a policy
//! and none is installed, evaluation errors deny, a swap decides the next request, and a dry
//! run (shadow set) records disagreements without changing any response.

use super::support::{access_of, assert_forbidden, authz, release, state};
use crate::support::{Gw, config, get, one_route, send};
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use rampart_config::PolicyConfig;
use rampart_events::{Decision, SecurityKind};
use rampart_proxy::PolicyState;
use rampart_testkit::RecordingUpstream;
use std::time::Duration;

const ALLOW_ALL: &str = r#"
@id("allow-all")
permit(principal, action, resource);
"#;

const NO_POSTS: &str = r#"
@id("allow-all")
permit(principal, action, resource);

@id("no-posts")
forbid(principal, action == Rampart::Action::"POST", resource);
"#;

fn post(path: &str) -> Request<Full<Bytes>> {
    Request::post(path).body(Full::default()).unwrap()
}

#[tokio::test]
async fn without_a_policy_section_and_no_set_authorization_is_off() {
    let upstream = RecordingUpstream::start();
    let mut gw = Gw::start(&one_route(upstream.addr())).await;
    assert_eq!(gw.handle.policy_version(), None);
    let r = get(gw.http(), "/anything").await;
    assert_eq!(r.status, 200);
    let ev = access_of(&mut gw, &r).await;
    assert!(ev.authz.is_none(), "{:?}", ev.authz);
}

#[tokio::test]
async fn a_required_policy_that_is_not_installed_denies_everything() {
    let upstream = RecordingUpstream::start();
    let mut cfg = config(&one_route(upstream.addr()));
    cfg.policy = Some(PolicyConfig::default());
    let mut gw = Gw::start_config(cfg.clone(), None).await;

    let r = get(gw.http(), "/anything").await;
    assert_eq!(r.status, 403);
    assert_eq!(r.text(), "Forbidden: policy_unavailable\n");
    let ev = gw.security(SecurityKind::PolicyDenied).await;
    assert!(
        ev.detail.contains("no policy set installed"),
        "{}",
        ev.detail
    );
    assert_eq!(upstream.count(), 0);

    gw.handle
        .set_policy(state(Some(release(1, ALLOW_ALL, "")), None));
    let ev = gw.security(SecurityKind::PolicyApplied).await;
    assert!(ev.detail.contains("enforced version 1"), "{}", ev.detail);
    assert_eq!(get(gw.http(), "/anything").await.status, 200);

    // Uninstalling while the configuration still requires a policy fails closed again.
    gw.handle.set_policy(PolicyState::off());
    assert_eq!(gw.handle.policy_version(), None);
    assert_eq!(get(gw.http(), "/anything").await.status, 403);
    assert_eq!(upstream.count(), 1);

    // A configuration without the section turns authorization off.
    cfg.policy = None;
    gw.handle.reload(&cfg).unwrap();
    assert_eq!(get(gw.http(), "/anything").await.status, 200);
}

#[tokio::test]
async fn an_evaluation_error_denies() {
    // `context.time` times 10^13 overflows a 64-bit integer: Cedar reports an error, and an
    // error denies even though the policy is a permit.
    let erroring = r#"
        @id("overflows")
        permit(principal, action, resource)
        when { context.time * 10000000000000 > 0 };
    "#;
    let upstream = RecordingUpstream::start();
    let mut gw = Gw::start(&one_route(upstream.addr())).await;
    gw.handle
        .set_policy(state(Some(release(3, erroring, "")), None));
    let r = get(gw.http(), "/x").await;
    assert_forbidden(&r);
    assert!(!r.text().contains("overflow"));
    let sec = gw.security(SecurityKind::PolicyDenied).await;
    assert!(sec.detail.contains("overflows"), "{}", sec.detail);
    assert!(sec.detail.contains("errors"), "{}", sec.detail);
    let ev = access_of(&mut gw, &r).await;
    assert_eq!(authz(&ev).decision, Decision::Deny);
    assert_eq!(authz(&ev).policies, ["overflows"]);
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn a_swap_decides_the_next_request_and_spares_those_in_flight() {
    let upstream = RecordingUpstream::builder()
        .delay(Duration::from_millis(600))
        .start();
    let mut gw = Gw::start(&one_route(upstream.addr())).await;
    gw.handle
        .set_policy(state(Some(release(1, ALLOW_ALL, "")), None));
    assert_eq!(send(gw.http(), post("/orders")).await.status, 200);

    // In flight (authorized, waiting on the slow upstream) while the set changes.
    let addr = gw.http();
    let in_flight = tokio::spawn(async move { send(addr, post("/slow")).await });
    assert!(upstream.wait_for(2, Duration::from_secs(5)).await);
    gw.handle
        .set_policy(state(Some(release(2, NO_POSTS, "")), None));
    assert_eq!(gw.handle.policy_version(), Some(2));

    let r = send(gw.http(), post("/orders")).await;
    assert_forbidden(&r);
    assert_eq!(get(gw.http(), "/orders").await.status, 200);
    let slow = in_flight.await.unwrap();
    assert_eq!(slow.status, 200, "{}", slow.text());
    // Events come in the order the responses ended: the slow one last.
    let ev = access_of(&mut gw, &r).await;
    assert_eq!(authz(&ev).version, 2);
    assert_eq!(authz(&ev).policies, ["no-posts"]);
    let ev = access_of(&mut gw, &slow).await;
    assert_eq!(authz(&ev).version, 1);
}

#[tokio::test]
async fn a_shadow_set_records_disagreements_without_changing_responses() {
    let upstream = RecordingUpstream::start();
    let mut gw = Gw::start(&one_route(upstream.addr())).await;
    gw.handle.set_policy(state(
        Some(release(4, ALLOW_ALL, "")),
        Some(release(5, NO_POSTS, "")),
    ));

    let posted = send(gw.http(), post("/orders/1")).await;
    assert_eq!(posted.status, 200, "the shadow set changed a response");
    let ev = access_of(&mut gw, &posted).await;
    let record = authz(&ev);
    assert_eq!(record.decision, Decision::Allow);
    assert_eq!(record.policies, ["allow-all"]);
    assert_eq!(record.version, 4);
    let shadow = record.shadow.as_ref().expect("a disagreement is recorded");
    assert_eq!(shadow.decision, Decision::Deny);
    assert_eq!(shadow.policies, ["no-posts"]);
    assert_eq!(shadow.version, 5);

    // Agreement: no shadow record.
    let got = get(gw.http(), "/orders/1").await;
    assert_eq!(got.status, 200);
    let ev = access_of(&mut gw, &got).await;
    assert!(authz(&ev).shadow.is_none());

    assert_eq!(send(gw.http(), post("/orders/2")).await.status, 200);
    let entries = gw.handle.take_shadow_entries();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let e = &entries[0];
    assert_eq!(e.shadow_version, 5);
    assert_eq!(e.from, "anonymous");
    assert_eq!(e.to, "up");
    assert_eq!(e.action, "POST");
    assert!(e.enforced_allowed && !e.shadow_allowed);
    assert_eq!(e.policies, ["no-posts"]);
    assert_eq!(e.count, 2);
    assert_eq!(e.sample_path, "/orders/2");
    assert!(e.first_seen > 0 && e.first_seen <= e.last_seen);
    assert!(gw.handle.take_shadow_entries().is_empty(), "not drained");
    assert_eq!(upstream.count(), 3);
}

#[tokio::test]
async fn a_dry_run_before_any_enforced_set_counts_what_would_be_denied() {
    let upstream = RecordingUpstream::start();
    let gw = Gw::start(&one_route(upstream.addr())).await;
    gw.handle
        .set_policy(state(None, Some(release(1, NO_POSTS, ""))));
    assert_eq!(send(gw.http(), post("/a")).await.status, 200);
    assert_eq!(get(gw.http(), "/a").await.status, 200);
    let entries = gw.handle.take_shadow_entries();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].action, "POST");
    assert!(entries[0].enforced_allowed && !entries[0].shadow_allowed);
}

#[tokio::test]
async fn a_listener_with_authorize_false_is_not_authorized() {
    // A sidecar's loopback outbound listener: its caller is the local app, and the callee's
    // inbound listener authorizes the call.
    let upstream = RecordingUpstream::start();
    let mut cfg = config(&format!(
        "listeners:\n\
         - {{ name: http, address: \"127.0.0.1:0\" }}\n\
         - {{ name: outbound, address: \"127.0.0.2:0\", authorize: false }}\n\
         {}",
        one_route(upstream.addr())
    ));
    cfg.policy = Some(PolicyConfig::default());
    let mut gw = Gw::start_config(cfg, None).await;
    gw.handle
        .set_policy(state(Some(release(1, NO_POSTS, "")), None));
    assert_forbidden(&send(gw.http(), post("/x")).await);
    let r = send(gw.listener("outbound"), post("/x")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let ev = access_of(&mut gw, &r).await;
    assert!(ev.authz.is_none());
    assert_eq!(upstream.count(), 1);
}

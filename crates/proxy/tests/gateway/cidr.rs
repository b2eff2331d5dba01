//! CIDR allow and deny lists per route.

use crate::support::{Gw, get, send};
use http::Request;
use http_body_util::Full;
use rampart_events::SecurityKind;
use rampart_testkit::RecordingUpstream;

#[tokio::test]
async fn deny_and_allow_lists_are_enforced() {
    let up = RecordingUpstream::start();
    let mut gw = Gw::start(&format!(
        r#"
        clusters: [{{ name: up, endpoints: ["{}"] }}]
        routes:
          - {{ name: denied, match: {{ path_prefix: /deny }}, cluster: up, access: {{ deny: [127.0.0.0/8] }} }}
          - {{ name: ten-only, match: {{ path_prefix: /ten }}, cluster: up, access: {{ allow: [10.0.0.0/8] }} }}
          - {{ name: local-only, match: {{ path_prefix: /local }}, cluster: up, access: {{ allow: [127.0.0.1/32] }} }}
          - {{ name: open, cluster: up }}
        "#,
        up.addr()
    ))
    .await;

    let r = get(gw.http(), "/deny/x").await;
    assert_eq!(r.status, 403, "{}", r.text());
    let ev = gw.security(SecurityKind::CidrDenied).await;
    assert_eq!(
        ev.client.map(|c| c.ip().to_string()),
        Some("127.0.0.1".into())
    );

    assert_eq!(get(gw.http(), "/ten").await.status, 403);
    gw.security(SecurityKind::CidrDenied).await;
    // A spoofed X-Forwarded-For from an untrusted peer does not get past an allow list.
    let spoofed = Request::get("/ten")
        .header("x-forwarded-for", "10.1.2.3")
        .body(Full::default())
        .unwrap();
    assert_eq!(send(gw.http(), spoofed).await.status, 403);

    assert_eq!(get(gw.http(), "/local").await.status, 200);
    assert_eq!(get(gw.http(), "/open").await.status, 200);
    assert_eq!(up.count(), 2, "denied requests must not reach the upstream");
}

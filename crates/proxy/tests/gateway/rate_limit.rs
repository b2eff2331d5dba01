//! Local rate limiting per route: by client address, and by a header's value.

use crate::support::{Gw, get, metric, send};
use http::Request;
use http_body_util::Full;
use rampart_events::SecurityKind;
use rampart_testkit::RecordingUpstream;

async fn gateway(up: &RecordingUpstream) -> Gw {
    Gw::start(&format!(
        r#"
        clusters: [{{ name: up, endpoints: ["{}"] }}]
        routes:
          - name: by-ip
            match: {{ path_prefix: /ip }}
            cluster: up
            rate_limit: {{ requests_per_second: 1, burst: 3 }}
          - name: by-key
            match: {{ path_prefix: /key }}
            cluster: up
            rate_limit: {{ requests_per_second: 1, burst: 3, key: "header:x-api-key" }}
          - {{ name: open, cluster: up }}
        "#,
        up.addr()
    ))
    .await
}

#[tokio::test]
async fn the_fourth_quick_request_from_one_client_is_429() {
    let up = RecordingUpstream::start();
    let mut gw = gateway(&up).await;
    let statuses: Vec<u16> = {
        let mut s = Vec::new();
        for _ in 0..4 {
            s.push(get(gw.http(), "/ip").await.status.as_u16());
        }
        s
    };
    assert_eq!(statuses, [200, 200, 200, 429]);
    let r = get(gw.http(), "/ip").await;
    assert_eq!(r.status, 429);
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After on a 429")
        .parse()
        .unwrap();
    assert!(retry >= 1, "Retry-After {retry}");
    assert_eq!(up.count(), 3);

    let ev = gw.security(SecurityKind::RateLimited).await;
    assert_eq!(
        ev.client.map(|c| c.ip().to_string()),
        Some("127.0.0.1".into())
    );
    let text = gw.metrics().await;
    assert_eq!(
        metric(&text, "rampart_rate_limited_total", &[("route", "by-ip")]),
        Some(2.0),
        "{text}"
    );

    // Other routes are not limited by this one's bucket.
    assert_eq!(get(gw.http(), "/elsewhere").await.status, 200);
}

#[tokio::test]
async fn buckets_are_per_header_value() {
    let up = RecordingUpstream::start();
    let mut gw = gateway(&up).await;
    let with_key = |key: &'static str| {
        Request::get("/key")
            .header("x-api-key", key)
            .body(Full::default())
            .unwrap()
    };
    for _ in 0..3 {
        assert_eq!(send(gw.http(), with_key("alpha")).await.status, 200);
    }
    assert_eq!(send(gw.http(), with_key("alpha")).await.status, 429);
    gw.security(SecurityKind::RateLimited).await;
    // A different key has its own bucket.
    for _ in 0..3 {
        assert_eq!(send(gw.http(), with_key("beta")).await.status, 200);
    }
    // Leaving the header out is no escape: those requests share one bucket.
    for _ in 0..3 {
        assert_eq!(get(gw.http(), "/key").await.status, 200);
    }
    assert_eq!(get(gw.http(), "/key").await.status, 429);
}

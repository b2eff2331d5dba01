//! Upstream clusters over TLS (verified against a CA) and HTTP/2.

use crate::support::{Gw, get};
use rampart_testkit::{RecordingUpstream, TestCa};

#[tokio::test]
async fn tls_upstreams_are_verified() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let ca_file = ca.write_to(dir.path());
    let good = RecordingUpstream::builder()
        .name("good")
        .tls(ca.issue(&["127.0.0.1", "upstream.test"]).server_config())
        .start();
    // Signed by another CA.
    let stranger = RecordingUpstream::builder()
        .name("stranger")
        .tls(TestCa::new().issue(&["127.0.0.1"]).server_config())
        .start();
    let gw = Gw::start(&format!(
        r#"
        clusters:
          - {{ name: good, endpoints: ["{}"], tls: {{ ca: "{}" }} }}
          - {{ name: named, endpoints: ["{}"], tls: {{ ca: "{}", server_name: upstream.test }}, protocol: http2 }}
          - {{ name: stranger, endpoints: ["{}"], tls: {{ ca: "{}" }} }}
        routes:
          - {{ name: good, match: {{ path_prefix: /good }}, cluster: good }}
          - {{ name: named, match: {{ path_prefix: /named }}, cluster: named }}
          - {{ name: stranger, match: {{ path_prefix: /stranger }}, cluster: stranger }}
        "#,
        good.addr(),
        ca_file.display(),
        good.addr(),
        ca_file.display(),
        stranger.addr(),
        ca_file.display()
    ))
    .await;

    let r = get(gw.http(), "/good").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-upstream"), Some("good"));
    let r = get(gw.http(), "/named").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        good.requests().last().unwrap().version,
        http::Version::HTTP_2
    );
    let r = get(gw.http(), "/stranger").await;
    assert_eq!(
        r.status,
        502,
        "an upstream with an untrusted certificate was used: {}",
        r.text()
    );
    assert_eq!(stranger.count(), 0);
}

#[tokio::test]
async fn h2c_upstreams() {
    let up = RecordingUpstream::start();
    let gw = Gw::start(&format!(
        "clusters: [{{ name: up, protocol: http2, endpoints: [\"{}\"] }}]\nroutes: [{{ name: all, cluster: up }}]\n",
        up.addr()
    ))
    .await;
    for i in 0..3 {
        let r = get(gw.http(), &format!("/{i}")).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let seen = up.requests();
    assert!(seen.iter().all(|r| r.version == http::Version::HTTP_2));
    assert_eq!(
        up.connections(),
        1,
        "h2 requests should share one connection"
    );
    // Host travels as :authority for h2; the upstream must still see the client's host.
    assert_eq!(
        seen[0]
            .header_str("host")
            .or(seen[0].header_str(":authority")),
        Some("localhost")
    );
}

#[tokio::test]
async fn large_responses_stream_through_intact() {
    let up = RecordingUpstream::builder()
        .body_size(3 * 1024 * 1024)
        .start();
    let gw = Gw::start(&crate::support::one_route(up.addr())).await;
    let r = get(gw.http(), "/big").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 3 * 1024 * 1024);
    assert!(r.body.iter().all(|b| *b == b'x'));
}

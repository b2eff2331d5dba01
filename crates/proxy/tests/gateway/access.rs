//! Access events: one per request, describing it.

use crate::support::{Gw, get, one_route};
use rampart_events::Decision;
use rampart_testkit::RecordingUpstream;

#[tokio::test]
async fn each_request_publishes_an_access_event() {
    let up = RecordingUpstream::builder().body_size(1234).start();
    let mut gw = Gw::start(&format!(
        "clusters: [{{ name: up, endpoints: [\"{}\"] }}]\nroutes: [{{ name: api, match: {{ path_prefix: /api }}, cluster: up }}]\n",
        up.addr()
    ))
    .await;

    let r = get(gw.http(), "/api/items?x=1").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 1234);
    let id = r.header("x-request-id").unwrap().to_owned();
    let ev = gw.access(|a| a.request_id == id).await;
    assert_eq!(ev.status, 200);
    assert_eq!(ev.route.as_deref(), Some("api"));
    assert_eq!(ev.method, "GET");
    assert_eq!(ev.path, "/api/items");
    assert_eq!(ev.bytes_out, 1234);
    assert_eq!(ev.listener, "http");
    assert_eq!(ev.source, "test-gateway");
    assert_eq!(ev.host, "localhost");
    assert_eq!(ev.client.ip().to_string(), "127.0.0.1");
    assert_eq!(ev.upstream.as_deref(), Some(up.addr().to_string().as_str()));
    assert!(ev.upstream_duration_us.is_some());
    assert_eq!(ev.decision, Decision::Allow);

    // A request the gateway answers itself is reported too.
    let r = get(gw.http(), "/elsewhere").await;
    assert_eq!(r.status, 404);
    let id = r.header("x-request-id").unwrap().to_owned();
    let ev = gw.access(|a| a.request_id == id).await;
    assert_eq!(ev.status, 404);
    assert_eq!(ev.route, None);
    assert_eq!(ev.decision, Decision::Deny);
    assert_eq!(ev.reason, Some("no_route"));
    assert_eq!(ev.bytes_out, r.body.len() as u64);
}

#[tokio::test]
async fn events_count_request_bodies() {
    let up = RecordingUpstream::start();
    let mut gw = Gw::start(&one_route(up.addr())).await;
    let req = http::Request::post("/upload")
        .body(http_body_util::Full::new(bytes::Bytes::from(vec![
            7u8;
            5000
        ])))
        .unwrap();
    let r = crate::support::send(gw.http(), req).await;
    let id = r.header("x-request-id").unwrap().to_owned();
    let ev = gw.access(|a| a.request_id == id).await;
    assert_eq!(ev.bytes_in, 5000);
    assert_eq!(ev.method, "POST");
    assert_eq!(ev.bytes_out, r.body.len() as u64);
}

#[tokio::test]
async fn events_count_streamed_request_bodies_whole() {
    let up = RecordingUpstream::start();
    let mut gw = Gw::start(&format!(
        "limits: {{ request_buffer_bytes: 4KiB }}\n{}",
        one_route(up.addr())
    ))
    .await;
    // Far beyond the 4 KiB buffered before the upstream is called: the rest streams.
    let req = http::Request::post("/upload")
        .body(http_body_util::Full::new(bytes::Bytes::from(vec![
            7u8;
            200_000
        ])))
        .unwrap();
    let r = crate::support::send(gw.http(), req).await;
    assert_eq!(r.status, 200);
    assert_eq!(up.requests()[0].body.len(), 200_000);
    let id = r.header("x-request-id").unwrap().to_owned();
    let ev = gw.access(|a| a.request_id == id).await;
    assert_eq!(
        ev.bytes_in, 200_000,
        "only the buffered part of a streamed body was counted"
    );
}

#[tokio::test]
async fn access_events_are_written_as_json_lines_when_configured() {
    let up = RecordingUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.jsonl");
    let gw = Gw::start(&format!(
        "access_log: \"{}\"\n{}",
        log.display(),
        one_route(up.addr())
    ))
    .await;
    let mut ids = Vec::new();
    for path in ["/one", "/two", "/three"] {
        let r = get(gw.http(), path).await;
        assert_eq!(r.status, 200);
        ids.push(r.header("x-request-id").unwrap().to_owned());
    }
    let mut lines = Vec::new();
    for _ in 0..100 {
        lines = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect();
        if lines.len() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(lines.len(), 3, "{lines:?}");
    for (line, id) in lines.iter().zip(&ids) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["event.kind"], "access");
        assert_eq!(v["http.request.id"], id.as_str());
        assert_eq!(v["http.response.status_code"], 200);
    }
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&log).unwrap().permissions());
    assert_eq!(mode & 0o007, 0, "the access log is not world-readable");
}

//! Basic HTTP/1.1 proxying: pass-through, path normalisation, request ids, header hygiene,
//! forwarding headers, route rewrites and header edits.

use crate::support::{Gw, get, one_route, send};
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use rampart_testkit::{RecordingUpstream, send_raw};
use std::time::Duration;

#[tokio::test]
async fn status_body_and_request_id_pass_through() {
    let up = RecordingUpstream::builder()
        .status(201)
        .name("up-a")
        .start();
    let gw = Gw::start(&one_route(up.addr())).await;

    let r = get(gw.http(), "/hello?x=1").await;
    assert_eq!(r.status, 201);
    assert_eq!(r.header("x-upstream"), Some("up-a"));
    let doc = r.json();
    assert_eq!(doc["path"], "/hello?x=1");
    assert_eq!(doc["method"], "GET");

    let id = r
        .header("x-request-id")
        .expect("a request id on the response")
        .to_owned();
    assert!(!id.is_empty());
    let seen = up.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header_str("x-request-id"), Some(id.as_str()));

    // Each request gets its own id.
    let again = get(gw.http(), "/hello").await;
    assert_ne!(again.header("x-request-id"), Some(id.as_str()));
}

#[tokio::test]
async fn an_untrusted_client_cannot_choose_the_request_id() {
    let up = RecordingUpstream::start();
    let gw = Gw::start(&one_route(up.addr())).await;
    let req = Request::get("/")
        .header("x-request-id", "chosen-by-client")
        .body(Full::default())
        .unwrap();
    let r = send(gw.http(), req).await;
    assert_eq!(r.status, 200);
    assert_ne!(r.header("x-request-id"), Some("chosen-by-client"));
    assert_eq!(
        up.requests()[0].header_str("x-request-id"),
        r.header("x-request-id")
    );
}

#[tokio::test]
async fn the_upstream_sees_the_normalised_path() {
    let api = RecordingUpstream::builder().name("api").start();
    let rest = RecordingUpstream::builder().name("rest").start();
    let gw = Gw::start(&format!(
        r#"
        clusters:
          - {{ name: api, endpoints: ["{}"] }}
          - {{ name: rest, endpoints: ["{}"] }}
        routes:
          - {{ name: api, match: {{ path_prefix: /api }}, cluster: api }}
          - {{ name: rest, cluster: rest }}
        "#,
        api.addr(),
        rest.addr()
    ))
    .await;

    let r = get(gw.http(), "/a//b/./c/../d").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-upstream"), Some("rest"));
    assert_eq!(rest.requests()[0].path, "/a/b/d");

    // An escaped unreserved character is decoded before matching: `/%61pi` is `/api`.
    let r = get(gw.http(), "/%61pi/items?q=%61").await;
    assert_eq!(r.header("x-upstream"), Some("api"), "{}", r.text());
    assert_eq!(api.requests()[0].path, "/api/items?q=%61");

    // Encoded slashes stay encoded, so they never split a segment.
    let r = get(gw.http(), "/x%2fy").await;
    assert_eq!(r.status, 200);
    assert_eq!(rest.requests().last().unwrap().path, "/x%2Fy");

    for above_root in [
        "/../etc/passwd",
        "/a/../../b",
        "/%2e%2e/x",
        "/a/%2E%2E/%2e%2e/b",
    ] {
        let r = get(gw.http(), above_root).await;
        assert_eq!(r.status, 400, "{above_root}: {}", r.text());
    }
    let r = get(gw.http(), "/bad%zzescape").await;
    assert_eq!(r.status, 400);
    assert_eq!(
        api.count() + rest.count(),
        3,
        "refused paths must not reach an upstream"
    );
}

#[tokio::test]
async fn hop_by_hop_and_identity_headers_are_not_forwarded() {
    let up = RecordingUpstream::start();
    let gw = Gw::start(&one_route(up.addr())).await;
    let request = b"GET /h HTTP/1.1\r\n\
        Host: localhost\r\n\
        Connection: close, x-conn-named\r\n\
        X-Conn-Named: secret\r\n\
        Keep-Alive: timeout=5\r\n\
        TE: trailers\r\n\
        Upgrade: websocket\r\n\
        Proxy-Authorization: Basic dXNlcjpwYXNz\r\n\
        Proxy-Connection: keep-alive\r\n\
        X-Rampart-Principal: admin\r\n\
        x-rampart-spiffe-id: spiffe://evil/admin\r\n\
        X-Forwarded-Client-Cert: Hash=abc\r\n\
        X-Kept: yes\r\n\
        \r\n";
    let reply = send_raw(gw.http(), request, Duration::from_secs(5)).await;
    assert_eq!(reply.status(), Some(200), "{reply:?}");

    let seen = &up.requests()[0];
    for name in [
        "x-conn-named",
        "keep-alive",
        "te",
        "upgrade",
        "proxy-authorization",
        "proxy-connection",
        "x-rampart-principal",
        "x-rampart-spiffe-id",
        "x-forwarded-client-cert",
    ] {
        assert!(
            seen.header(name).is_none(),
            "`{name}` reached the upstream: {:?}",
            seen.headers
        );
    }
    // `Connection` itself is hop-by-hop too; what the gateway's own client sends is its business,
    // but never the client's `close, x-conn-named`.
    assert_ne!(seen.header_str("connection"), Some("close, x-conn-named"));
    assert_eq!(seen.header_str("x-kept"), Some("yes"));
}

#[tokio::test]
async fn spoofed_forwarding_headers_from_an_untrusted_client_are_replaced() {
    let up = RecordingUpstream::start();
    let gw = Gw::start(&one_route(up.addr())).await;
    let req = Request::get("/")
        .header("x-forwarded-for", "1.2.3.4")
        .header("forwarded", "for=1.2.3.4")
        .header("x-forwarded-proto", "https")
        .body(Full::default())
        .unwrap();
    assert_eq!(send(gw.http(), req).await.status, 200);
    let seen = &up.requests()[0];
    assert_eq!(seen.header_all("x-forwarded-for"), [b"127.0.0.1"]);
    assert_eq!(seen.header_str("x-forwarded-proto"), Some("http"));
    let fwd = seen.header_str("forwarded").unwrap();
    assert!(fwd.starts_with("for=127.0.0.1;proto=http"), "{fwd}");
    assert!(!fwd.contains("1.2.3.4"), "{fwd}");
}

#[tokio::test]
async fn forwarding_headers_from_a_trusted_proxy_are_appended_to() {
    let up = RecordingUpstream::start();
    let gw = Gw::start(&format!(
        "trusted_proxies: [127.0.0.0/8]\n{}",
        one_route(up.addr())
    ))
    .await;
    let req = Request::get("/")
        .header("x-forwarded-for", "1.2.3.4")
        .header("x-request-id", "from-trusted-proxy-1")
        .body(Full::default())
        .unwrap();
    let r = send(gw.http(), req).await;
    assert_eq!(r.status, 200);
    let seen = &up.requests()[0];
    assert_eq!(
        seen.header_str("x-forwarded-for"),
        Some("1.2.3.4, 127.0.0.1")
    );
    // A trusted proxy's request id is kept, end to end.
    assert_eq!(
        seen.header_str("x-request-id"),
        Some("from-trusted-proxy-1")
    );
    assert_eq!(r.header("x-request-id"), Some("from-trusted-proxy-1"));
}

#[tokio::test]
async fn routes_rewrite_paths_and_edit_headers() {
    let up = RecordingUpstream::start();
    let gw = Gw::start(&format!(
        r#"
        clusters: [{{ name: up, endpoints: ["{}"] }}]
        routes:
          - name: api
            match: {{ path_prefix: /api/ }}
            cluster: up
            rewrite: {{ path_prefix: /v2/ }}
            headers:
              request_add: {{ x-added: "yes" }}
              request_remove: [x-drop]
              response_add: {{ x-resp: "r" }}
              response_remove: [x-upstream]
          - name: hosted
            match: {{ path_prefix: /hosted }}
            cluster: up
            rewrite: {{ host: internal.test }}
        "#,
        up.addr()
    ))
    .await;

    let req = Request::get("/api/users/7?q=1")
        .header("x-drop", "please")
        .header("x-added", "client-value")
        .header("host", "public.example:8080")
        .body(Full::default())
        .unwrap();
    let r = send(gw.http(), req).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-resp"), Some("r"));
    assert_eq!(r.header("x-upstream"), None);
    let seen = &up.requests()[0];
    assert_eq!(seen.path, "/v2/users/7?q=1");
    assert_eq!(seen.header_all("x-added"), [b"yes"]);
    assert!(seen.header("x-drop").is_none());
    // Host is preserved, port included.
    assert_eq!(seen.header_all("host"), [b"public.example:8080"]);

    let r = get(gw.http(), "/hosted/x").await;
    assert_eq!(r.status, 200);
    let seen = &up.requests()[1];
    assert_eq!(seen.header_all("host"), [b"internal.test"]);
    assert_eq!(seen.path, "/hosted/x");
}

#[tokio::test]
async fn request_bodies_and_methods_pass_through() {
    let up = RecordingUpstream::start();
    let gw = Gw::start(&one_route(up.addr())).await;
    let req = Request::put("/items/1")
        .body(Full::new(Bytes::from_static(b"{\"a\":1}")))
        .unwrap();
    let r = send(gw.http(), req).await;
    assert_eq!(r.status, 200);
    let seen = &up.requests()[0];
    assert_eq!(seen.method, "PUT");
    assert_eq!(seen.body, b"{\"a\":1}");
    assert!(seen.body_complete);

    // No route matched: 404 from the gateway, nothing upstream.
    let gw2 = Gw::start(&format!(
        r#"
        clusters: [{{ name: up, endpoints: ["{}"] }}]
        routes: [{{ name: only, match: {{ path_exact: /only }}, cluster: up }}]
        "#,
        up.addr()
    ))
    .await;
    assert_eq!(get(gw2.http(), "/other").await.status, 404);
    assert_eq!(up.count(), 1);
}

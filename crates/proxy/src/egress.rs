//! The egress listener: the one way out for internal services. Only hosts on the allow-list are
//! reachable, as plain HTTP proxy requests (absolute-form URIs) or CONNECT tunnels for HTTPS.
//! Everything else is answered 403 and raises a security event.

use crate::idle::{Activity, Idle};
use crate::server::Phase;
use crate::shared::Shared;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rampart_events::SecurityKind;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

type Body = BoxBody<Bytes, hyper::Error>;

/// Accepts egress connections until the gateway drains.
pub async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut phase: watch::Receiver<Phase>,
) {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.set_connect_timeout(Some(shared.snapshot.load().timeouts.upstream_connect.0));
    let client: Client<HttpConnector, Incoming> = Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .build(http);
    loop {
        tokio::select! {
            changed = phase.changed() => {
                if changed.is_err() || *phase.borrow() != Phase::Running {
                    return;
                }
            }
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let (shared, client, phase) = (shared.clone(), client.clone(), phase.clone());
                tokio::spawn(serve(stream, peer, shared, client, phase));
            }
        }
    }
}

async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    client: Client<HttpConnector, Incoming>,
    mut phase: watch::Receiver<Phase>,
) {
    let _ = stream.set_nodelay(true);
    let activity = Activity::new();
    let idle = shared.snapshot.load().timeouts.idle.0;
    let svc_shared = shared.clone();
    let svc = service_fn(move |req| handle(req, peer, svc_shared.clone(), client.clone()));
    let mut b = hyper::server::conn::http1::Builder::new();
    b.timer(TokioTimer::new())
        .header_read_timeout(shared.snapshot.load().timeouts.header_read.0);
    let limits = shared.snapshot.load().head_limits;
    let guarded =
        crate::framing::FramingGuard::new(Idle::new(stream, activity.clone()), limits, None);
    let conn = b
        .serve_connection(TokioIo::new(guarded), svc)
        .with_upgrades();
    let mut conn = pin!(conn);
    let mut watch = activity.watch();
    let mut tick = tokio::time::interval((idle / 4).max(Duration::from_millis(100)));
    loop {
        tokio::select! {
            _ = conn.as_mut() => return,
            changed = phase.changed() => {
                if changed.is_err() || *phase.borrow() != Phase::Running {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(5), conn.as_mut()).await;
                    return;
                }
            }
            _ = tick.tick() => {
                if watch.idle_for() >= idle {
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

async fn handle(
    req: Request<Incoming>,
    peer: SocketAddr,
    shared: Arc<Shared>,
    client: Client<HttpConnector, Incoming>,
) -> Result<Response<Body>, Infallible> {
    let connect = req.method() == Method::CONNECT;
    let mut resp = forward(req, peer, shared, client).await?;
    // After a CONNECT head the framing guard stops checking bytes (they belong to the tunnel).
    // When no tunnel opens, the connection must end: otherwise the next request on it would
    // reach hyper unchecked.
    if connect && !resp.status().is_success() {
        resp.headers_mut()
            .insert(header::CONNECTION, http::HeaderValue::from_static("close"));
    }
    Ok(resp)
}

async fn forward(
    req: Request<Incoming>,
    peer: SocketAddr,
    shared: Arc<Shared>,
    client: Client<HttpConnector, Incoming>,
) -> Result<Response<Body>, Infallible> {
    let snap = shared.snapshot.load_full();
    let Some(authority) = req.uri().authority().cloned() else {
        return Ok(text(
            StatusCode::BAD_REQUEST,
            "egress needs an absolute URI or CONNECT host:port\n",
        ));
    };
    let is_connect = req.method() == Method::CONNECT;
    let port = authority
        .port_u16()
        .unwrap_or(if is_connect { 443 } else { 80 });
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    if !is_connect && req.uri().scheme_str() != Some("http") {
        return Ok(text(
            StatusCode::BAD_REQUEST,
            "egress forwards http:// URIs; use CONNECT for https\n",
        ));
    }
    let decision = if snap.egress_allows(&host, port) {
        "allow"
    } else {
        "deny"
    };
    shared
        .metrics
        .counter("rampart_egress_requests_total", &[("decision", decision)])
        .increment(1);
    if decision == "deny" {
        shared.security(
            SecurityKind::EgressDenied,
            Some(peer),
            format!("{host}:{port}"),
        );
        let mut r = text(
            StatusCode::FORBIDDEN,
            "destination not allowed by the egress policy\n",
        );
        r.headers_mut()
            .insert(header::CONNECTION, http::HeaderValue::from_static("close"));
        return Ok(r);
    }
    let connect_timeout = snap.timeouts.upstream_connect.0;
    if is_connect {
        let target = format!("{host}:{port}");
        let upstream =
            match tokio::time::timeout(connect_timeout, TcpStream::connect(&target)).await {
                Ok(Ok(s)) => s,
                Ok(Err(_)) => {
                    return Ok(text(
                        StatusCode::BAD_GATEWAY,
                        "cannot reach the destination\n",
                    ));
                }
                Err(_) => {
                    return Ok(text(
                        StatusCode::GATEWAY_TIMEOUT,
                        "destination did not answer in time\n",
                    ));
                }
            };
        tokio::spawn(async move {
            if let Ok(upgraded) = hyper::upgrade::on(req).await {
                let mut client_side = TokioIo::new(upgraded);
                let mut upstream = upstream;
                let _ = tokio::io::copy_bidirectional(&mut client_side, &mut upstream).await;
            }
        });
        return Ok(Response::new(
            Full::new(Bytes::new()).map_err(|e| match e {}).boxed(),
        ));
    }
    let (mut parts, body) = req.into_parts();
    crate::hygiene::strip_hop_by_hop(&mut parts.headers);
    let req = Request::from_parts(parts, body);
    let timeout = snap.timeouts.upstream_response.0;
    match tokio::time::timeout(timeout, client.request(req)).await {
        Ok(Ok(resp)) => {
            let (mut parts, body) = resp.into_parts();
            crate::hygiene::strip_hop_by_hop(&mut parts.headers);
            Ok(Response::from_parts(parts, body.boxed()))
        }
        Ok(Err(_)) => Ok(text(
            StatusCode::BAD_GATEWAY,
            "cannot reach the destination\n",
        )),
        Err(_) => Ok(text(
            StatusCode::GATEWAY_TIMEOUT,
            "destination did not answer in time\n",
        )),
    }
}

fn text(status: StatusCode, msg: &'static str) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from_static(msg.as_bytes()))
            .map_err(|e| match e {})
            .boxed(),
    );
    *r.status_mut() = status;
    r
}

//! The request path of the gateway, as a sequence of stages:
//!
//! ```text
//! hygiene (host, path normalisation, limits) → route → CIDR → rate limit → bearer token
//!   (a limit by principal after the token) → authorization (policy) → body
//!   → upstream request (headers cleaned, forwarded headers, request id, mesh peer id,
//!     verified claims) → cluster
//!   → response (hop-by-hop removed, route edits) → access event + metrics when the body ends
//! ```
//! Each stage either passes the request on or answers it; no stage calls the control plane.

use crate::auth::{self, X_RAMPART_CLAIMS};
use crate::authz::{Ask, Verdict};
use crate::body::{self, Buffered, Observed, OnDone, ResponseBody, UpstreamBody};
use crate::cluster::{Pool, Target};
use crate::forwarded;
use crate::hygiene::{self, Refusal, X_RAMPART_PEER_ID, X_REQUEST_ID};
use crate::path;
use crate::shared::{ConnInfo, Shared};
use crate::snapshot::{RouteRt, Snapshot};
use crate::upstream::UpstreamError;
use http::{HeaderValue, Method, Request, Response, StatusCode, Uri, header};
use hyper::body::Incoming;
use rampart_config::RateKey;
use rampart_events::{AccessEvent, AuthzRecord, Decision, Event, SecurityKind};
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime};

/// Serves one request on the gateway's ingress listeners.
pub async fn handle(
    req: Request<Incoming>,
    conn: Arc<ConnInfo>,
    shared: Arc<Shared>,
) -> Result<Response<Observed>, Infallible> {
    let snap = shared.snapshot.load_full();
    let mut cx = Cx {
        start: Instant::now(),
        request_id: String::new(),
        client: conn.peer.ip(),
        route: None,
        upstream: None,
        upstream_us: None,
        bytes_in: 0,
        streamed: None,
        reason: None,
        principal: None,
        observed: false,
        authz: None,
    };
    // A full event spool in `block` mode: shed the request, and publish nothing for it (the
    // spool could not take it); the shipper counts the shed requests and reports them.
    if let Some(gate) = shared.shed.get()
        && gate.is_blocked()
    {
        gate.note_shed();
        shared
            .metrics
            .counter(
                "rampart_requests_shed_total",
                &[("reason", "event_spool_full")],
            )
            .increment(1);
        let resp = refuse(
            &shared,
            &conn,
            &mut cx,
            Answer {
                retry_after: Some(1),
                ..answer(503, "event_spool_full")
            },
        );
        return Ok(finish(resp, cx, &conn, &shared, &snap, None));
    }
    // What the access event needs of the original request: only built when someone listens.
    let seen = shared.bus.has_subscribers().then(|| Seen {
        method: req.method().to_string(),
        host: hygiene::host(&req).map(str::to_owned).unwrap_or_default(),
        path: req.uri().path().to_owned(),
    });
    cx.observed = seen.is_some();
    let resp = match proxy(req, &conn, &shared, &snap, &mut cx).await {
        Ok(r) => r,
        Err(refusal) => refuse(&shared, &conn, &mut cx, refusal),
    };
    Ok(finish(resp, cx, &conn, &shared, &snap, seen))
}

/// Answers a request shed because the gateway has `overload.max_concurrent_requests` in
/// flight: 503 with `Retry-After: 1`, before any other stage (`docs/overload.md`).
pub fn overloaded<B>(
    req: &Request<B>,
    conn: &Arc<ConnInfo>,
    shared: &Arc<Shared>,
) -> Response<Observed> {
    let snap = shared.snapshot.load_full();
    let mut cx = Cx {
        start: Instant::now(),
        request_id: shared.ids.next(),
        client: conn.peer.ip(),
        route: None,
        upstream: None,
        upstream_us: None,
        bytes_in: 0,
        streamed: None,
        reason: None,
        principal: None,
        observed: false,
        authz: None,
    };
    let seen = shared.bus.has_subscribers().then(|| Seen {
        method: req.method().to_string(),
        host: hygiene::host(req).map(str::to_owned).unwrap_or_default(),
        path: req.uri().path().to_owned(),
    });
    let resp = refuse(
        shared,
        conn,
        &mut cx,
        Answer {
            retry_after: Some(1),
            ..answer(503, "overloaded")
        },
    );
    finish(resp, cx, conn, shared, &snap, seen)
}

/// The original request line, for the access event.
struct Seen {
    method: String,
    host: String,
    path: String,
}

/// What the stages learn about a request, for its access event.
struct Cx {
    start: Instant,
    request_id: String,
    client: IpAddr,
    route: Option<Arc<RouteRt>>,
    upstream: Option<Arc<str>>,
    upstream_us: Option<u64>,
    bytes_in: u64,
    /// The count of a streaming request body, read when the response is done.
    streamed: Option<Arc<AtomicU64>>,
    reason: Option<&'static str>,
    /// The subject of the request's verified bearer token.
    principal: Option<String>,
    /// Someone listens to events: build the access event's parts.
    observed: bool,
    /// The policy decision, for the access event (only when observed).
    authz: Option<Box<AuthzRecord>>,
}

/// Why a request was answered by the gateway itself, with the security event it raises.
struct Answer {
    refusal: Refusal,
    event: Option<SecurityKind>,
    retry_after: Option<u64>,
    close: bool,
    /// `WWW-Authenticate` of a refused bearer token.
    challenge: Option<HeaderValue>,
    /// The security event's detail, when more than the reason code.
    detail: Option<String>,
}

impl From<Refusal> for Answer {
    fn from(refusal: Refusal) -> Self {
        Self {
            refusal,
            event: None,
            retry_after: None,
            close: false,
            challenge: None,
            detail: None,
        }
    }
}

fn answer(status: u16, reason: &'static str) -> Answer {
    Refusal { status, reason }.into()
}

async fn proxy(
    req: Request<Incoming>,
    conn: &ConnInfo,
    shared: &Shared,
    snap: &Snapshot,
    cx: &mut Cx,
) -> Result<Response<Observed>, Answer> {
    if req.method() == Method::CONNECT {
        return Err(Answer {
            close: true,
            ..answer(405, "connect_not_allowed")
        });
    }
    let host = hygiene::host(&req)
        .map_err(|r| Answer {
            event: Some(SecurityKind::HygieneRejected),
            ..r.into()
        })?
        .to_owned();
    if req.uri().path_and_query().map_or(0, |p| p.as_str().len()) as u64
        > snap.limits.max_uri_bytes.0
    {
        return Err(Answer {
            event: Some(SecurityKind::HygieneRejected),
            ..answer(414, "uri_too_long")
        });
    }
    if req.headers().len() > snap.limits.max_header_count {
        return Err(Answer {
            event: Some(SecurityKind::HygieneRejected),
            ..answer(431, "too_many_headers")
        });
    }
    let path = path::normalize(req.uri().path())
        .map_err(|_| Answer {
            event: Some(SecurityKind::HygieneRejected),
            ..answer(400, "bad_path")
        })?
        .into_owned();
    let trusted_peer = forwarded::is_trusted(conn.peer.ip(), &snap.trusted_proxies);
    cx.client = forwarded::client_ip(conn.peer.ip(), req.headers(), &snap.trusted_proxies);
    cx.request_id = match req.headers().get(&X_REQUEST_ID) {
        Some(v) if trusted_peer && hygiene::acceptable_request_id(v.as_bytes()) => {
            String::from_utf8_lossy(v.as_bytes()).into_owned()
        }
        _ => shared.ids.next(),
    };

    let route = snap
        .route(&conn.listener, &host, &path, req.method())
        .cloned()
        .ok_or_else(|| answer(404, "no_route"))?;
    cx.route = Some(route.clone());
    if let Some(cidrs) = &route.cidrs
        && !cidrs.admits(cx.client)
    {
        return Err(Answer {
            event: Some(SecurityKind::CidrDenied),
            ..answer(403, "cidr_denied")
        });
    }
    // A limit that does not count by principal comes first, so that a flood of forged tokens
    // is limited before each costs a signature check.
    let by_principal = route
        .limiter
        .as_ref()
        .is_some_and(|l| l.config.key == RateKey::Principal);
    if !by_principal {
        rate_limit(&route, &req, conn, cx)?;
    }
    let verified = match &route.jwt {
        Some(jwt) => {
            let v = jwt
                .authenticate(req.headers(), conn.client_cert.as_deref())
                .await
                .map_err(|r| Answer {
                    event: Some(SecurityKind::TokenRejected),
                    challenge: Some(r.challenge),
                    ..answer(r.status, r.reason)
                })?;
            cx.principal = Some(auth::principal(&v));
            Some(v)
        }
        None => None,
    };
    if by_principal {
        rate_limit(&route, &req, conn, cx)?;
    }
    if snap.authorizes(&conn.listener) {
        authorize(
            shared,
            snap,
            conn,
            &req,
            &route,
            &host,
            &path,
            verified.as_deref(),
            cx,
        )?;
    }
    if let Some(status) = crate::faults::inject(shared, &snap.faults, &route.name).await {
        return Err(answer(status, "fault_injected"));
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > route.max_body) {
        return Err(Answer {
            close: true,
            ..answer(413, "body_too_large")
        });
    }

    let upstream_path = route.rewrite(&path).unwrap_or(path);
    let (mut parts, incoming) = req.into_parts();
    let query = parts.uri.query().map(str::to_owned);
    let original_host = parts
        .uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            parts
                .headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let headers = &mut parts.headers;
    hygiene::strip_hop_by_hop(headers);
    hygiene::strip_identity(headers);
    if let Some((_, id)) = &conn.peer_id {
        headers.insert(&X_RAMPART_PEER_ID, id.clone());
    }
    if let (Some(jwt), Some(_)) = (&route.jwt, &verified) {
        let claims = match jwt.config.forward_claims {
            true => auth::claims_header(headers),
            false => None,
        };
        if jwt.config.strip_token {
            headers.remove(header::AUTHORIZATION);
        }
        if let Some(claims) = claims {
            headers.insert(&X_RAMPART_CLAIMS, claims);
        }
    }
    for name in &route.request_remove {
        headers.remove(name);
    }
    for (name, value) in &route.request_add {
        headers.insert(name.clone(), value.clone());
    }
    forwarded::set_headers(
        headers,
        conn.peer.ip(),
        trusted_peer,
        if conn.tls { "https" } else { "http" },
        &original_host,
    );
    if let Ok(v) = HeaderValue::from_str(&cx.request_id) {
        headers.insert(&X_REQUEST_ID, v);
    }
    let host_value = route
        .config
        .rewrite
        .as_ref()
        .and_then(|r| r.host.clone())
        .unwrap_or(original_host);
    headers.remove(header::HOST);
    if let Ok(v) = HeaderValue::from_str(&host_value) {
        headers.insert(header::HOST, v);
    }

    let buffer_limit = snap.limits.request_buffer_bytes.0;
    let reading = body::buffer(incoming, buffer_limit, route.max_body);
    let buffered = tokio::time::timeout(snap.timeouts.request_body.0, reading).await;
    let Ok(buffered) = buffered else {
        return Err(Answer {
            close: true,
            event: Some(SecurityKind::HygieneRejected),
            ..answer(408, "body_timeout")
        });
    };
    let up_body = match buffered {
        Buffered::Complete(b, n) => {
            cx.bytes_in = n;
            cx.streamed = b.streamed();
            b
        }
        Buffered::TooLarge => {
            return Err(Answer {
                close: true,
                ..answer(413, "body_too_large")
            });
        }
        Buffered::Broken(e) => {
            tracing::debug!(error = %e, "request body broken");
            return Err(Answer {
                close: true,
                event: Some(SecurityKind::HygieneRejected),
                ..answer(400, "bad_body")
            });
        }
    };
    if let UpstreamBody::Full(_) | UpstreamBody::Empty = up_body {
        parts.headers.remove(header::CONTENT_LENGTH);
        if cx.bytes_in > 0
            || parts.method == Method::POST
            || parts.method == Method::PUT
            || parts.method == Method::PATCH
        {
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(cx.bytes_in));
        }
    }

    let resp = match &route.cluster.target {
        Target::Builtin(_) => {
            parts.uri = build_uri(None, &upstream_path, query.as_deref())
                .map_err(|_| answer(400, "bad_path"))?;
            crate::echo::respond(Request::from_parts(parts, up_body)).await
        }
        Target::Endpoints(pool) => {
            forward(
                shared,
                &route,
                pool,
                parts,
                up_body,
                &upstream_path,
                query.as_deref(),
                cx,
            )
            .await?
        }
    };
    let (mut parts, body) = resp.into_parts();
    hygiene::strip_hop_by_hop(&mut parts.headers);
    for name in &route.response_remove {
        parts.headers.remove(name);
    }
    for (name, value) in &route.response_add {
        parts.headers.insert(name.clone(), value.clone());
    }
    parts.version = http::Version::HTTP_11;
    Ok(Response::from_parts(parts, body))
}

/// Sends a request to one of the cluster's endpoints, with the cluster's resilience
/// (`docs/resilience.md`, "Upstream"): circuit breaker, outlier ejection, budgeted retries.
#[allow(clippy::too_many_arguments)]
async fn forward(
    shared: &Shared,
    route: &RouteRt,
    pool: &Pool,
    parts: http::request::Parts,
    body: UpstreamBody,
    upstream_path: &str,
    query: Option<&str>,
    cx: &mut Cx,
) -> Result<Response<Observed>, Answer> {
    let res = &pool.resilience;
    let metrics = &shared.metrics;
    let cluster = route.cluster.name.as_str();
    let _admitted = res
        .admit(metrics, cluster)
        .map_err(|_| answer(503, "circuit_open"))?;
    res.deposit();
    // Only a body that is absent or fully buffered can be sent again.
    let replay = match &body {
        UpstreamBody::Empty => Some(None),
        UpstreamBody::Full(b) => Some(b.clone()),
        UpstreamBody::Stream { .. } => None,
    };
    let idempotent = cx.bytes_in == 0
        && matches!(
            parts.method,
            Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
        );
    let limit = res.per_endpoint_limit();
    let usable = |j: usize| {
        res.available(j)
            && limit.is_none_or(|l| pool.endpoints[j].in_flight.load(Ordering::Relaxed) < l)
    };
    let mut body = Some(body);
    // The first attempt takes the request's head; retries need a copy of it.
    let copy = (res.max_retries() > 0).then(|| (parts.method.clone(), parts.headers.clone()));
    let mut head = Some(parts);
    let mut tried: Vec<usize> = Vec::new();
    let mut last = None;
    loop {
        let picked = pool
            .pick_where(|j| usable(j) && !tried.contains(&j))
            .or_else(|| pool.pick_where(usable));
        let Some(idx) = picked else {
            // A retry with no endpoint left (the one tried was ejected): the last answer.
            if let Some(outcome) = last {
                return outcome;
            }
            return Err(if pool.pick_where(|j| res.available(j)).is_some() {
                shared
                    .metrics
                    .counter(
                        "rampart_upstream_circuit_open_total",
                        &[("cluster", cluster)],
                    )
                    .increment(1);
                answer(503, "upstream_overloaded")
            } else if pool.endpoints.is_empty() {
                answer(503, "no_endpoint")
            } else {
                answer(503, "no_healthy_upstream")
            });
        };
        tried.push(idx);
        let endpoint = &pool.endpoints[idx];
        cx.upstream = Some(endpoint.label.clone());
        // HTTP/1.1 upstreams take origin-form (the `Host` header is set above); the
        // h2 client wants the absolute form.
        let target = if endpoint.h1.is_some() {
            None
        } else {
            Some((&pool.scheme, &endpoint.authority))
        };
        let uri = build_uri(target, upstream_path, query).map_err(|_| answer(400, "bad_path"))?;
        let attempt_body = match (body.take(), &replay) {
            (Some(b), _) => b,
            (None, Some(Some(bytes))) => UpstreamBody::Full(Some(bytes.clone())),
            (None, _) => UpstreamBody::Empty,
        };
        let req = match (head.take(), &copy) {
            (Some(mut parts), _) => {
                parts.uri = uri;
                parts.version = pool.version;
                Request::from_parts(parts, attempt_body)
            }
            (None, Some((method, headers))) => {
                let mut req = Request::new(attempt_body);
                *req.method_mut() = method.clone();
                *req.uri_mut() = uri;
                *req.version_mut() = pool.version;
                *req.headers_mut() = headers.clone();
                req
            }
            // Not reached: without retries there is a single attempt.
            (None, None) => return Err(answer(502, "upstream_failed")),
        };
        let pending = res
            .pending(metrics, cluster)
            .map_err(|_| answer(503, "circuit_open"))?;
        let sent = Instant::now();
        let _in_flight = endpoint.start();
        let send = async {
            match &endpoint.h1 {
                Some(h1) => h1
                    .send(req)
                    .await
                    .map(|r| r.map(|b| Observed::new(ResponseBody::Pooled(b), None))),
                None => pool
                    .client
                    .request(req)
                    .await
                    .map(|r| r.map(|b| Observed::new(ResponseBody::Upstream(b), None)))
                    .map_err(UpstreamError::Legacy),
            }
        };
        let result = tokio::time::timeout(route.timeout, send).await;
        drop(pending);
        cx.upstream_us = Some(sent.elapsed().as_micros() as u64);
        let (outcome, retryable) = match result {
            Err(_) => {
                upstream_error(shared, route, "timeout");
                ejected(
                    shared,
                    res.record(metrics, cluster, &endpoint.label, idx, true),
                    cluster,
                    &endpoint.label,
                );
                // The request may have been processed: never retried.
                return Err(answer(504, "upstream_timeout"));
            }
            Ok(Err(e)) => {
                let connect = e.is_connect();
                ejected(
                    shared,
                    res.record(metrics, cluster, &endpoint.label, idx, true),
                    cluster,
                    &endpoint.label,
                );
                let retryable = (connect && replay.is_some()) || idempotent;
                (Err(classify(shared, route, &e)), retryable)
            }
            Ok(Ok(resp)) => {
                let failed = resp.status().is_server_error();
                ejected(
                    shared,
                    res.record(metrics, cluster, &endpoint.label, idx, failed),
                    cluster,
                    &endpoint.label,
                );
                (Ok(resp), failed && idempotent)
            }
        };
        let retry = tried.len() as u32;
        if !retryable || retry > res.max_retries() {
            return outcome;
        }
        if matches!(&outcome, Err(a) if a.refusal.status != 502) {
            // The client's body was at fault (400/413): not the upstream's.
            return outcome;
        }
        if !res.withdraw(metrics, cluster) {
            retry_metric(shared, cluster, "budget_exhausted");
            return outcome;
        }
        retry_metric(shared, cluster, "retried");
        tracing::debug!(cluster, endpoint = %endpoint.label, retry, "retrying upstream request");
        last = Some(outcome);
        tokio::time::sleep(res.backoff(retry)).await;
    }
}

fn retry_metric(shared: &Shared, cluster: &str, result: &str) {
    shared
        .metrics
        .counter(
            "rampart_upstream_retries_total",
            &[("cluster", cluster), ("result", result)],
        )
        .increment(1);
}

/// The policy decision (`docs/policy.md`, "Enforcement (proxy)"): on, off, or fail closed.
#[allow(clippy::too_many_arguments)]
fn authorize<B>(
    shared: &Shared,
    snap: &Snapshot,
    conn: &ConnInfo,
    req: &Request<B>,
    route: &RouteRt,
    host: &str,
    path: &str,
    verified: Option<&rampart_token::Verified>,
    cx: &mut Cx,
) -> Result<(), Answer> {
    let ask = Ask {
        conn,
        own_service: shared.mesh.as_deref().map(|m| m.own_service()),
        route,
        host,
        path,
        method: req.method(),
        verified,
        token: verified.and_then(|_| auth::bearer_token(req.headers())),
        client: cx.client,
        observed: cx.observed,
    };
    match shared.authz.authorize(snap.policy_required, &ask) {
        Verdict::Off => Ok(()),
        Verdict::Allowed(record) => {
            cx.authz = record;
            Ok(())
        }
        Verdict::Denied(denial) => {
            cx.authz = denial.record;
            Err(Answer {
                event: Some(SecurityKind::PolicyDenied),
                detail: denial.detail,
                ..answer(403, denial.reason)
            })
        }
    }
}

/// The route's rate limit, keyed by the principal (verified token subject, else mesh peer id)
/// when it counts by principal.
fn rate_limit<B>(
    route: &RouteRt,
    req: &Request<B>,
    conn: &ConnInfo,
    cx: &Cx,
) -> Result<(), Answer> {
    let Some(limiter) = &route.limiter else {
        return Ok(());
    };
    let principal = cx
        .principal
        .as_deref()
        .or(conn.peer_id.as_ref().map(|(id, _)| &**id));
    let key = limiter.key(
        cx.client,
        |h| {
            req.headers()
                .get(h)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        },
        principal,
    );
    match limiter.check(&key) {
        Ok(()) => Ok(()),
        Err(wait) => {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            Err(Answer {
                event: Some(SecurityKind::RateLimited),
                retry_after: Some(secs.max(1)),
                ..answer(429, "rate_limited")
            })
        }
    }
}

fn build_uri(
    target: Option<(&http::uri::Scheme, &http::uri::Authority)>,
    path: &str,
    query: Option<&str>,
) -> Result<Uri, http::Error> {
    let pq = match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let mut b = Uri::builder();
    if let Some((scheme, authority)) = target {
        b = b.scheme(scheme.clone()).authority(authority.clone());
    }
    b.path_and_query(pq).build()
}

/// Sorts an upstream failure: the client's body (400/413) or the upstream (502).
fn classify(shared: &Shared, route: &RouteRt, e: &UpstreamError) -> Answer {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(b) = err.downcast_ref::<body::BodyError>() {
            return match b {
                body::BodyError::TooLarge(_) => Answer {
                    close: true,
                    ..answer(413, "body_too_large")
                },
                body::BodyError::Client(_) => Answer {
                    close: true,
                    ..answer(400, "bad_body")
                },
            };
        }
        source = err.source();
    }
    let kind = if e.is_connect() {
        "connect"
    } else {
        "protocol"
    };
    upstream_error(shared, route, kind);
    tracing::debug!(route = %route.name, error = ?e, "upstream request failed");
    answer(
        502,
        if e.is_connect() {
            "upstream_connect_failed"
        } else {
            "upstream_failed"
        },
    )
}

fn upstream_error(shared: &Shared, route: &RouteRt, kind: &'static str) {
    shared
        .metrics
        .counter(
            "rampart_upstream_errors_total",
            &[("cluster", &route.cluster.name), ("kind", kind)],
        )
        .increment(1);
}

fn refuse(shared: &Shared, conn: &ConnInfo, cx: &mut Cx, a: Answer) -> Response<Observed> {
    cx.reason = Some(a.refusal.reason);
    let metric = match a.event {
        Some(SecurityKind::HygieneRejected) => Some("rampart_hygiene_rejections_total"),
        Some(SecurityKind::RateLimited) => Some("rampart_rate_limited_total"),
        Some(SecurityKind::CidrDenied) => Some("rampart_access_denied_total"),
        Some(SecurityKind::TokenRejected) => Some("rampart_token_rejections_total"),
        Some(SecurityKind::PolicyDenied) => Some("rampart_access_denied_total"),
        _ => None,
    };
    if let Some(m) = metric {
        let route = cx.route.as_ref().map_or("none", |r| &r.name);
        shared
            .metrics
            .counter(m, &[("reason", a.refusal.reason), ("route", route)])
            .increment(1);
    }
    if let Some(kind) = a.event {
        let client = Some(std::net::SocketAddr::new(cx.client, conn.peer.port()));
        match a.detail {
            Some(detail) => shared.security(kind, client, detail),
            None => shared.security(kind, client, a.refusal.reason),
        }
    }
    let status = StatusCode::from_u16(a.refusal.status).unwrap_or(StatusCode::BAD_REQUEST);
    let text = format!(
        "{}: {}\n",
        status.canonical_reason().unwrap_or("error"),
        a.refusal.reason
    );
    let mut resp = Response::new(Observed::full(text));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if let Some(challenge) = a.challenge {
        h.insert(header::WWW_AUTHENTICATE, challenge);
    }
    if let Some(secs) = a.retry_after {
        h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    if a.close {
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// Adds the request id, and arranges the access event and metrics for when the body ends.
#[allow(clippy::too_many_arguments)]
fn finish(
    resp: Response<Observed>,
    cx: Cx,
    conn: &ConnInfo,
    shared: &Arc<Shared>,
    snap: &Snapshot,
    seen: Option<Seen>,
) -> Response<Observed> {
    let (mut parts, mut body) = resp.into_parts();
    if let Ok(v) = HeaderValue::from_str(&cx.request_id) {
        parts.headers.insert(&X_REQUEST_ID, v);
    }
    let metrics = cx
        .route
        .as_ref()
        .map_or_else(|| snap.unrouted.clone(), |r| r.metrics.clone());
    let event = seen.map(|seen| AccessEvent {
        time: SystemTime::now(),
        request_id: cx.request_id,
        source: shared.source.to_string(),
        listener: conn.listener.to_string(),
        client: std::net::SocketAddr::new(cx.client, conn.peer.port()),
        principal: cx
            .principal
            .or_else(|| conn.peer_id.as_ref().map(|(id, _)| id.to_string())),
        method: seen.method,
        host: seen.host,
        path: seen.path,
        status: parts.status.as_u16(),
        bytes_in: cx.bytes_in,
        bytes_out: 0,
        duration_us: 0,
        upstream_duration_us: cx.upstream_us,
        route: cx.route.as_ref().map(|r| r.name.to_string()),
        upstream: cx.upstream.map(|u| u.to_string()),
        decision: if cx.reason.is_some()
            && parts.status.as_u16() < 500
            && parts.status.as_u16() >= 400
        {
            Decision::Deny
        } else {
            Decision::Allow
        },
        reason: cx.reason,
        authz: cx.authz,
    });
    let done = Done {
        start: cx.start,
        status: parts.status.as_u16(),
        metrics,
        event,
        streamed: cx.streamed,
        shared: shared.clone(),
    };
    body = body.on_done(Box::new(done));
    Response::from_parts(parts, body)
}

struct Done {
    start: Instant,
    status: u16,
    metrics: Arc<crate::metrics::RouteMetrics>,
    event: Option<AccessEvent>,
    streamed: Option<Arc<AtomicU64>>,
    shared: Arc<Shared>,
}

impl OnDone for Done {
    fn done(self: Box<Self>, bytes_out: u64) {
        let elapsed = self.start.elapsed();
        self.metrics.record(self.status, elapsed.as_secs_f64());
        if let Some(mut ev) = self.event {
            ev.bytes_out = bytes_out;
            if let Some(seen) = &self.streamed {
                ev.bytes_in = seen.load(Ordering::Relaxed);
            }
            ev.duration_us = elapsed.as_micros() as u64;
            self.shared.bus.publish(Event::Access(Box::new(ev)));
        }
    }
}

/// Publishes the ejection of an upstream endpoint by outlier detection, if `period` says one
/// happened.
fn ejected(shared: &Shared, period: Option<std::time::Duration>, cluster: &str, endpoint: &str) {
    if let Some(period) = period {
        shared.security(
            SecurityKind::UpstreamEjected,
            None,
            format!(
                "cluster {cluster}: endpoint {endpoint} ejected for {} ms after consecutive failures",
                period.as_millis()
            ),
        );
    }
}

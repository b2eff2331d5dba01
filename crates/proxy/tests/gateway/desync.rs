//! Request smuggling: the http-desync-guardian corpus and hand-written CL/TE attacks, sent as raw
//! bytes to the plaintext listener, with raw upstreams recording every byte forwarded.

use crate::support::{Gw, raw_body};
use rampart_testkit::desync::{self, Case};
use rampart_testkit::{RawReply, RawUpstream, send_raw};
use std::time::Duration;
use tokio::task::JoinSet;

/// Long enough for a refused request's 400 and close; a case the gateway accepts (a head that
/// announces a body the corpus never sends) just runs this long.
const CASE_WAIT: Duration = Duration::from_secs(3);

/// A gateway whose route `r{i}` (host `c{i}.test`) leads to its own raw upstream, so what reached
/// an upstream can be pinned on one case; cases with their own Host go to `fallback`.
struct Rig {
    gw: Gw,
    ups: Vec<RawUpstream>,
    fallback: RawUpstream,
}

struct Outcome {
    case: Case,
    reply: RawReply,
    /// Request heads the case's upstream received.
    forwarded: usize,
}

impl Rig {
    async fn new(n: usize) -> Self {
        let ups: Vec<RawUpstream> = (0..n).map(|_| RawUpstream::start()).collect();
        let fallback = RawUpstream::start();
        let mut yaml = String::from("clusters:\n");
        for (i, up) in ups.iter().enumerate() {
            yaml.push_str(&format!(
                "  - {{ name: c{i}, endpoints: [\"{}\"] }}\n",
                up.addr()
            ));
        }
        yaml.push_str(&format!(
            "  - {{ name: fallback, endpoints: [\"{}\"] }}\nroutes:\n",
            fallback.addr()
        ));
        for i in 0..n {
            yaml.push_str(&format!(
                "  - {{ name: r{i}, match: {{ host: c{i}.test }}, cluster: c{i} }}\n"
            ));
        }
        yaml.push_str("  - { name: rest, cluster: fallback }\n");
        let gw = Gw::start(&yaml).await;
        Self { gw, ups, fallback }
    }

    /// Sends every case at once on its own connection.
    async fn run(&self, cases: Vec<Case>) -> Vec<Outcome> {
        let addr = self.gw.http();
        let mut set = JoinSet::new();
        for (i, case) in cases.into_iter().enumerate() {
            set.spawn(async move {
                let bytes = case.render(Some(&format!("c{i}.test")));
                (i, case, send_raw(addr, &bytes, CASE_WAIT).await)
            });
        }
        let mut outcomes: Vec<(usize, Outcome)> = Vec::new();
        while let Some(done) = set.join_next().await {
            let (i, case, reply) = done.unwrap();
            let forwarded = request_heads(&self.ups[i].bytes());
            outcomes.push((
                i,
                Outcome {
                    case,
                    reply,
                    forwarded,
                },
            ));
        }
        outcomes.sort_by_key(|(i, _)| *i);
        outcomes.into_iter().map(|(_, o)| o).collect()
    }
}

/// Request lines (`METHOD target HTTP/1.x`) at line starts: how many requests went upstream.
fn request_heads(bytes: &[u8]) -> usize {
    bytes
        .split(|b| *b == b'\n')
        .filter(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let mut parts = line.split(|b| *b == b' ');
            let (Some(method), Some(_), Some(version), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return false;
            };
            !method.is_empty()
                && method.iter().all(u8::is_ascii_uppercase)
                && version.starts_with(b"HTTP/1.")
        })
        .count()
}

fn has_2xx(reply: &RawReply) -> bool {
    reply.statuses().iter().any(|s| (200..300).contains(s))
}

#[tokio::test]
async fn every_severe_case_is_refused_and_never_reaches_an_upstream() {
    let cases = desync::load("severe.yaml");
    assert!(cases.len() >= 20, "corpus too small: {}", cases.len());
    let rig = Rig::new(cases.len()).await;
    let outcomes = rig.run(cases).await;

    let mut failures = Vec::new();
    for o in &outcomes {
        let refused = o.reply.status() == Some(400) || (o.reply.closed && !has_2xx(&o.reply));
        let body = raw_body(&o.reply.bytes);
        if !refused || body.contains("missing_host") || o.forwarded > 0 || o.reply.timed_out {
            failures.push(format!(
                "{:?} ({}): forwarded {} request(s), reply {:?}",
                o.case.name, o.case.reason, o.forwarded, o.reply
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} severe case(s) not refused:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let total: usize = rig.ups.iter().map(RawUpstream::connection_count).sum();
    assert_eq!(
        total + rig.fallback.connection_count(),
        0,
        "an upstream was contacted at all"
    );
}

// Results for `ambiguous.yaml` (37 cases; the corpus puts these in the "Ambiguous" tier):
// - 33 are refused with 400 before any upstream is involved: header names with whitespace,
//   control or non-ASCII bytes, empty or `:`-led names, CL together with TE, TE on HTTP/1.0 and
//   0.9, CL on HTTP/0.9, and names that only look like framing headers (`Transfer_Encoding`,
//   `Content_Length`, `Transfer---Encoding`, `Transfer___Encoding`). The last four used to be
//   forwarded as ordinary headers, which a CGI/WSGI upstream (`_` = `-`) would frame by.
// - 4 are GET or HEAD with a Content-Length or chunked body, which RFC 9110 allows: the gateway
//   waits for the announced body (the corpus sends none), and nothing reaches an upstream.
// - None makes an upstream see a second request. Run with `--nocapture` for the tally.
#[tokio::test]
async fn no_ambiguous_case_makes_an_upstream_see_two_requests() {
    let cases = desync::load("ambiguous.yaml");
    let rig = Rig::new(cases.len()).await;
    let outcomes = rig.run(cases).await;

    let (mut refused, mut forwarded, mut waiting, mut other) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for o in &outcomes {
        assert!(
            o.forwarded <= 1,
            "{:?}: the upstream saw {} requests for one client request",
            o.case.name,
            o.forwarded
        );
        let name = o.case.name.clone();
        match (o.reply.status(), o.forwarded) {
            (Some(400), 0) => refused.push(name),
            (_, 1) => forwarded.push(name),
            (None, 0) if o.reply.timed_out => waiting.push(name),
            _ => other.push(format!("{name}: {:?}", o.reply)),
        }
    }
    assert!(rig.fallback.connection_count() == 0 || request_heads(&rig.fallback.bytes()) <= 1);
    eprintln!(
        "ambiguous.yaml: {} refused (400), {} forwarded once: {forwarded:?}, {} waiting for a body: {waiting:?}, other: {other:?}",
        refused.len(),
        forwarded.len(),
        waiting.len()
    );
    assert!(other.is_empty(), "unexpected outcomes: {other:?}");
    assert!(
        forwarded.is_empty(),
        "ambiguous cases forwarded upstream: {forwarded:?}"
    );
}

/// The classic CL.TE attack: a front end using Content-Length forwards the smuggled `GET` as
/// part of the body; a back end using chunked framing sees it as a second request.
const CL_TE: &[u8] = b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n";

#[tokio::test]
async fn cl_te_with_a_smuggled_request_is_refused_and_closed() {
    let up = RawUpstream::start();
    let gw = Gw::start(&crate::support::one_route(up.addr())).await;
    let reply = send_raw(gw.http(), CL_TE, Duration::from_secs(5)).await;
    assert_eq!(reply.statuses(), [400], "{reply:?}");
    assert!(
        reply.closed,
        "the connection must be closed after a framing error: {reply:?}"
    );
    assert!(
        reply
            .text()
            .contains("content_length_with_transfer_encoding"),
        "{reply:?}"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        up.connection_count(),
        0,
        "bytes reached the upstream: {:?}",
        String::from_utf8_lossy(&up.bytes())
    );
}

#[tokio::test]
async fn other_framing_attacks_are_refused_without_reaching_the_upstream() {
    let up = RawUpstream::start();
    let gw = Gw::start(&crate::support::one_route(up.addr())).await;
    let attacks: &[(&str, &[u8])] = &[
        ("TE.CL", b"POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n"),
        ("TE list", b"POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"),
        ("TE twice", b"POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("CL twice, same value", b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc"),
        ("CL with sign", b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: +3\r\n\r\nabc"),
        ("obs-fold TE", b"POST / HTTP/1.1\r\nHost: localhost\r\nX-A: b\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("bare LF", b"GET / HTTP/1.1\nHost: localhost\n\n"),
        ("bare CR", b"GET / HTTP/1.1\r\nHost: localhost\rX: y\r\n\r\n"),
        ("TE look-alike", b"POST / HTTP/1.1\r\nHost: localhost\r\nTransfer_Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("two Hosts", b"GET / HTTP/1.1\r\nHost: localhost\r\nHost: evil.test\r\n\r\n"),
        ("no Host", b"GET / HTTP/1.1\r\nX: y\r\n\r\n"),
        ("NUL in header", b"GET / HTTP/1.1\r\nHost: localhost\r\nX: a\0b\r\n\r\n"),
    ];
    for (name, bytes) in attacks {
        let reply = send_raw(gw.http(), bytes, Duration::from_secs(5)).await;
        assert_eq!(reply.status(), Some(400), "{name}: {reply:?}");
        assert!(reply.closed, "{name}: connection left open: {reply:?}");
        assert!(!has_2xx(&reply), "{name}: {reply:?}");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        up.connection_count(),
        0,
        "bytes reached the upstream: {:?}",
        String::from_utf8_lossy(&up.bytes())
    );
}

#[tokio::test]
async fn broken_chunked_bodies_never_reach_the_upstream() {
    let up = RawUpstream::start();
    let gw = Gw::start(&crate::support::one_route(up.addr())).await;
    let attacks: &[(&str, &[u8])] = &[
        ("hex prefix", b"POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        ("size with space", b"POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        ("no CRLF after data", b"POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhelloGET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        ("bare LF size line", b"POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n"),
        ("huge size", b"POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
    ];
    for (name, bytes) in attacks {
        let reply = send_raw(gw.http(), bytes, Duration::from_secs(5)).await;
        assert!(!has_2xx(&reply), "{name}: {reply:?}");
        assert!(reply.closed, "{name}: connection left open: {reply:?}");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        up.connection_count(),
        0,
        "bytes reached the upstream: {:?}",
        String::from_utf8_lossy(&up.bytes())
    );
}

#[tokio::test]
async fn a_good_request_before_a_bad_one_is_served_and_nothing_after() {
    let up = RawUpstream::start();
    let gw = Gw::start(&crate::support::one_route(up.addr())).await;
    let mut bytes = b"GET /first HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec();
    bytes.extend_from_slice(CL_TE);
    bytes.extend_from_slice(b"GET /after HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let reply = send_raw(gw.http(), &bytes, Duration::from_secs(5)).await;
    // The raw upstream's body (`ok`) ends without a newline, so look for status lines anywhere.
    let text = reply.text();
    let (ok, refused) = (text.find("HTTP/1.1 200 "), text.find("HTTP/1.1 400 "));
    assert!(
        matches!((ok, refused), (Some(a), Some(b)) if a < b),
        "want a 200 then a 400: {reply:?}"
    );
    assert_eq!(text.matches("HTTP/1.1 ").count(), 2, "{reply:?}");
    assert!(reply.closed);
    let seen = String::from_utf8_lossy(&up.bytes()).into_owned();
    assert_eq!(request_heads(seen.as_bytes()), 1, "{seen}");
    assert!(seen.starts_with("GET /first HTTP/1.1\r\n"), "{seen}");
    assert!(
        !seen.contains("smuggled") && !seen.contains("/after"),
        "{seen}"
    );
}

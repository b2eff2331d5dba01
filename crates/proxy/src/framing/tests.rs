use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMITS: HeadLimits = HeadLimits {
    max_uri_bytes: 64,
    max_header_bytes: 256,
    max_header_count: 8,
};

fn head(s: &str) -> Result<HeadInfo, Rejection> {
    check_head(s.as_bytes(), &LIMITS)
}

fn reason(s: &str) -> &'static str {
    head(s).unwrap_err().reason
}

#[test]
fn accepts_plain_requests() {
    let h = head("GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert_eq!(h.body, BodyKind::None);
    let h = head("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n").unwrap();
    assert_eq!(h.body, BodyKind::Length(5));
    let h = head("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:  Chunked \r\n\r\n").unwrap();
    assert_eq!(h.body, BodyKind::Chunked);
    assert!(
        head("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n")
            .unwrap()
            .connect
    );
    assert!(head("GET / HTTP/1.0\r\n\r\n").is_ok());
}

#[test]
fn refuses_ambiguous_framing() {
    let cl_te =
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(reason(cl_te), "content_length_with_transfer_encoding");
    let te_cl =
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n";
    assert_eq!(reason(te_cl), "content_length_with_transfer_encoding");
    assert_eq!(
        reason("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"),
        "duplicate_content_length"
    );
    assert_eq!(
        reason("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n"),
        "bad_content_length"
    );
    assert_eq!(
        reason("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n"),
        "bad_content_length"
    );
    assert_eq!(
        reason("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n"),
        "bad_content_length"
    );
    assert_eq!(
        reason("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"),
        "bad_transfer_encoding"
    );
    assert_eq!(
        reason("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n"),
        "bad_transfer_encoding"
    );
    assert_eq!(
        reason(
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
        ),
        "duplicate_transfer_encoding"
    );
    assert_eq!(
        reason("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
        "transfer_encoding_in_http10"
    );
    assert_eq!(
        reason("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
        "duplicate_host"
    );
    assert_eq!(reason("GET / HTTP/1.1\r\nX: 1\r\n\r\n"), "missing_host");
    for lookalike in [
        "Transfer_Encoding",
        "content_length",
        "Transfer---Encoding",
        "Content-_Length",
    ] {
        assert_eq!(
            reason(&format!(
                "POST / HTTP/1.1\r\nHost: a\r\n{lookalike}: chunked\r\n\r\n"
            )),
            "framing_header_lookalike",
            "{lookalike}"
        );
    }
    assert!(head("GET / HTTP/1.1\r\nHost: a\r\nX-Transfer-Encoding: chunked\r\n\r\n").is_ok());
}

#[test]
fn refuses_bad_bytes_and_folding() {
    assert_eq!(
        reason("GET / HTTP/1.1\r\nHost: a\r\nX: a\n b\r\n\r\n"),
        "bare_lf"
    );
    assert_eq!(
        reason("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"),
        "bare_cr"
    );
    assert_eq!(
        reason("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"),
        "nul_byte"
    );
    assert_eq!(
        reason("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n"),
        "obs_fold"
    );
    assert_eq!(
        reason("GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 1\r\n\r\n"),
        "malformed_head"
    );
    assert_eq!(
        reason("GET / HTTP/1.1\r\nHost: a\r\nX: \x11\r\n\r\n"),
        "malformed_head"
    );
}

#[test]
fn limits_give_414_and_431() {
    let long = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(80));
    assert_eq!(head(&long).unwrap_err().status, 414);
    let many: String = (0..9).map(|i| format!("X-{i}: v\r\n")).collect();
    let r = head(&format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n")).unwrap_err();
    assert_eq!((r.status, r.reason), (431, "too_many_headers"));
    let big = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
        "v".repeat(300)
    );
    assert_eq!(head(&big).unwrap_err().status, 431);
}

#[test]
fn chunk_lines() {
    assert_eq!(parse_chunk_line(b"1a\r\n"), Some(26));
    assert_eq!(parse_chunk_line(b"1a;ext=1\r\n"), Some(26));
    assert_eq!(parse_chunk_line(b" 1a\r\n"), None);
    assert_eq!(parse_chunk_line(b"0x1a\r\n"), None);
    assert_eq!(parse_chunk_line(b"-1\r\n"), None);
    assert_eq!(parse_chunk_line(b"1a\n"), None);
    assert_eq!(parse_chunk_line(b"11111111111111111\r\n"), None);
}

/// Runs bytes through a guard; returns what hyper would read and what the client would get.
async fn through_guard(input: &[u8]) -> (Vec<u8>, Vec<u8>, io::Result<()>) {
    let (client, server) = tokio::io::duplex(1 << 16);
    let mut guard = FramingGuard::new(server, LIMITS, None);
    let (mut cr, mut cw) = tokio::io::split(client);
    cw.write_all(input).await.unwrap();
    cw.shutdown().await.unwrap();
    let mut seen = Vec::new();
    let res = guard.read_to_end(&mut seen).await.map(|_| ());
    guard.shutdown().await.unwrap();
    drop(guard);
    let mut reply = Vec::new();
    cr.read_to_end(&mut reply).await.unwrap();
    (seen, reply, res)
}

#[tokio::test]
async fn passes_good_pipelines_byte_for_byte() {
    let input = b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\nHost: a\r\n\r\nPOST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\nGET /d HTTP/1.1\r\nHost: a\r\n\r\n";
    let (seen, reply, res) = through_guard(input).await;
    res.unwrap();
    assert_eq!(seen, input.to_vec());
    assert!(reply.is_empty());
}

#[tokio::test]
async fn a_smuggled_second_request_never_passes() {
    let input = b"GET /ok HTTP/1.1\r\nHost: a\r\n\r\nPOST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n";
    let (seen, reply, _) = through_guard(input).await;
    assert_eq!(seen, b"GET /ok HTTP/1.1\r\nHost: a\r\n\r\n".to_vec());
    let reply = String::from_utf8(reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 400 "), "{reply}");
    assert!(reply.contains("connection: close"));
}

#[tokio::test]
async fn invalid_chunk_size_breaks_the_connection() {
    let input = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n";
    let (seen, _, res) = through_guard(input).await;
    assert!(res.is_err());
    assert!(!String::from_utf8_lossy(&seen).contains("/admin"));
}

#[tokio::test]
async fn h2_preface_passes_through() {
    let mut input = H2_PREFACE.to_vec();
    input.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    let (seen, reply, res) = through_guard(&input).await;
    res.unwrap();
    assert_eq!(seen, input);
    assert!(reply.is_empty());
}

#[tokio::test]
async fn incomplete_head_at_eof_is_refused() {
    let (seen, reply, _) = through_guard(b"GET / HTTP/1.1\r\nHost: a\r\n").await;
    assert!(seen.is_empty());
    assert!(
        String::from_utf8(reply)
            .unwrap()
            .starts_with("HTTP/1.1 400")
    );
}

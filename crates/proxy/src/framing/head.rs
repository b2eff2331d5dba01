//! Checking one complete HTTP/1 request head, byte for byte.

/// Limits on a request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLimits {
    pub max_uri_bytes: usize,
    pub max_header_bytes: usize,
    pub max_header_count: usize,
}

/// Why a head was refused, and the status it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    pub status: u16,
    /// A stable, short reason (used in metrics and events).
    pub reason: &'static str,
}

/// How the body after a head is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    None,
    Length(u64),
    Chunked,
}

/// What the guard needs to know about an accepted head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadInfo {
    pub body: BodyKind,
    pub connect: bool,
}

const STACK_HEADERS: usize = 128;

/// Checks a complete head (request line, header lines, blank line).
pub fn check_head(head: &[u8], limits: &HeadLimits) -> Result<HeadInfo, Rejection> {
    raw_bytes(head)?;
    let line_end = head.iter().position(|b| *b == b'\n').unwrap_or(head.len());
    check_request_line_len(&head[..line_end], limits)?;
    let fields = &head[(line_end + 1).min(head.len())..];
    if fields.len().saturating_sub(2) > limits.max_header_bytes {
        return Err(reject(431, "header_too_large"));
    }
    let mut count = 0usize;
    for line in fields.split(|b| *b == b'\n') {
        match line.first() {
            Some(b' ' | b'\t') => return Err(reject(400, "obs_fold")),
            Some(b'\r') | None => {}
            Some(_) => count += 1,
        }
    }
    if count > limits.max_header_count {
        return Err(reject(431, "too_many_headers"));
    }
    if count <= STACK_HEADERS {
        let mut headers = [httparse::EMPTY_HEADER; STACK_HEADERS];
        parse(head, &mut headers[..count.max(1)])
    } else {
        let mut headers = vec![httparse::EMPTY_HEADER; count];
        parse(head, &mut headers)
    }
}

/// For a head not complete yet: is it already too large to ever be accepted?
pub(super) fn too_large_partial(buf: &[u8], limits: &HeadLimits, eof: bool) -> Option<Rejection> {
    match buf.iter().position(|b| *b == b'\n') {
        None if buf.len() > limits.max_uri_bytes + 64 => Some(reject(414, "uri_too_long")),
        None => eof.then(|| reject(400, "incomplete_head")),
        Some(nl) => {
            if let Err(r) = check_request_line_len(&buf[..nl], limits) {
                return Some(r);
            }
            if buf.len() - nl > limits.max_header_bytes + 4 {
                return Some(reject(431, "header_too_large"));
            }
            eof.then(|| reject(400, "incomplete_head"))
        }
    }
}

fn parse<'b>(head: &'b [u8], headers: &mut [httparse::Header<'b>]) -> Result<HeadInfo, Rejection> {
    let mut req = httparse::Request::new(headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(n)) if n == head.len() => {}
        Ok(_) => return Err(reject(400, "malformed_head")),
        Err(httparse::Error::TooManyHeaders) => return Err(reject(431, "too_many_headers")),
        Err(_) => return Err(reject(400, "malformed_head")),
    }
    let http10 = req.version == Some(0);
    let connect = req.method == Some("CONNECT");
    let (mut lengths, mut encodings, mut hosts) = (0u8, 0u8, 0u8);
    let mut length = None;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            lengths = lengths.saturating_add(1);
            length = Some(content_length(h.value)?);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            encodings = encodings.saturating_add(1);
            if !trim(h.value).eq_ignore_ascii_case(b"chunked") {
                return Err(reject(400, "bad_transfer_encoding"));
            }
        } else if h.name.eq_ignore_ascii_case("host") {
            hosts = hosts.saturating_add(1);
        } else if framing_lookalike(h.name) {
            return Err(reject(400, "framing_header_lookalike"));
        }
    }
    let body = match (lengths, encodings) {
        (0, 0) => BodyKind::None,
        (1, 0) => match length {
            Some(0) | None => BodyKind::None,
            Some(n) => BodyKind::Length(n),
        },
        (0, 1) if http10 => return Err(reject(400, "transfer_encoding_in_http10")),
        (0, 1) => BodyKind::Chunked,
        (0, _) => return Err(reject(400, "duplicate_transfer_encoding")),
        (_, 0) => return Err(reject(400, "duplicate_content_length")),
        _ => return Err(reject(400, "content_length_with_transfer_encoding")),
    };
    if hosts > 1 {
        return Err(reject(400, "duplicate_host"));
    }
    if hosts == 0 && !http10 {
        return Err(reject(400, "missing_host"));
    }
    Ok(HeadInfo { body, connect })
}

/// `Transfer_Encoding`, `Content--Length` and the like: not framing headers here, but servers
/// that map `_` to `-` (CGI and WSGI environments) or squeeze separators would take them for
/// one, and frame the forwarded request differently from us.
fn framing_lookalike(name: &str) -> bool {
    ["transfer-encoding", "content-length"]
        .iter()
        .any(|target| squeezed_eq(name.as_bytes(), target.as_bytes()))
}

/// `name`, lower-cased, with `_` read as `-` and runs of `-` as one, equals `target`.
fn squeezed_eq(name: &[u8], target: &[u8]) -> bool {
    let mut want = target.iter();
    let mut prev_dash = false;
    for &b in name {
        let b = if b == b'_' {
            b'-'
        } else {
            b.to_ascii_lowercase()
        };
        if b == b'-' && prev_dash {
            continue;
        }
        prev_dash = b == b'-';
        if want.next() != Some(&b) {
            return false;
        }
    }
    want.next().is_none()
}

/// Every line must end in CRLF; no other CR, LF or NUL may appear.
fn raw_bytes(head: &[u8]) -> Result<(), Rejection> {
    let mut prev = 0u8;
    for (i, &b) in head.iter().enumerate() {
        match b {
            b'\n' if prev != b'\r' => return Err(reject(400, "bare_lf")),
            b'\r' if head.get(i + 1) != Some(&b'\n') => return Err(reject(400, "bare_cr")),
            0 => return Err(reject(400, "nul_byte")),
            _ => {}
        }
        prev = b;
    }
    Ok(())
}

fn check_request_line_len(line: &[u8], limits: &HeadLimits) -> Result<(), Rejection> {
    // METHOD SP request-target SP HTTP-version: the target is between the two spaces.
    let target = line
        .iter()
        .position(|b| *b == b' ')
        .map(|s| &line[s + 1..])
        .and_then(|rest| rest.iter().rposition(|b| *b == b' ').map(|e| &rest[..e]))
        .unwrap_or(line);
    if target.len() > limits.max_uri_bytes {
        Err(reject(414, "uri_too_long"))
    } else {
        Ok(())
    }
}

/// 1 to 19 ASCII digits, nothing else (no sign, no list, no inner spaces).
fn content_length(value: &[u8]) -> Result<u64, Rejection> {
    let v = trim(value);
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return Err(reject(400, "bad_content_length"));
    }
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(reject(400, "bad_content_length"))
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| *b != b' ' && *b != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| *b != b' ' && *b != b'\t')
        .map_or(start, |e| e + 1);
    &v[start..end.max(start)]
}

fn reject(status: u16, reason: &'static str) -> Rejection {
    Rejection { status, reason }
}

// === impl Rejection ===

impl Rejection {
    /// The complete response the guard writes for this rejection, closing the connection.
    pub fn response(&self) -> Vec<u8> {
        let text = match self.status {
            414 => "URI Too Long",
            431 => "Request Header Fields Too Large",
            _ => "Bad Request",
        };
        let body = format!("{text}: {}\n", self.reason);
        format!(
            "HTTP/1.1 {} {text}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            self.status,
            body.len()
        )
        .into_bytes()
    }
}

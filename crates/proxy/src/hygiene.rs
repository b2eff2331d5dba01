//! Header hygiene on parsed requests and responses: hop-by-hop headers, identity headers that
//! only Rampart may set, the request's host, and request ids.

use http::{HeaderMap, HeaderName, Request, header};

/// Headers that describe one connection, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: &[HeaderName] = &[
    header::CONNECTION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
    header::PROXY_AUTHENTICATE,
];
static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Prefix of the headers Rampart sets for upstreams (identity, principal). Inbound copies are
/// removed so that a client can never pose as someone else.
pub const IDENTITY_PREFIX: &str = "x-rampart-";
/// The SPIFFE id of the mesh peer a request came from (set only on mesh listeners).
pub static X_RAMPART_PEER_ID: HeaderName = HeaderName::from_static("x-rampart-peer-id");
static XFCC: HeaderName = HeaderName::from_static("x-forwarded-client-cert");

/// Why a parsed request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub reason: &'static str,
}

/// Removes hop-by-hop headers, and those the `Connection` header names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
    for h in HOP_BY_HOP {
        headers.remove(h);
    }
    headers.remove(&KEEP_ALIVE);
    headers.remove(&PROXY_CONNECTION);
}

/// Removes inbound copies of headers only Rampart sets.
pub fn strip_identity(headers: &mut HeaderMap) {
    if !headers
        .keys()
        .any(|k| k.as_str().starts_with(IDENTITY_PREFIX) || k == XFCC)
    {
        return;
    }
    let names: Vec<HeaderName> = headers
        .keys()
        .filter(|k| k.as_str().starts_with(IDENTITY_PREFIX) || *k == XFCC)
        .cloned()
        .collect();
    for n in names {
        headers.remove(n);
    }
}

/// The request's host (without port), from the URI's authority or the single `Host` header.
/// Both present and different is refused: two parsers could pick different ones.
pub fn host<B>(req: &Request<B>) -> Result<&str, Refusal> {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let from_header = hosts.next();
    if hosts.next().is_some() {
        return Err(Refusal {
            status: 400,
            reason: "duplicate_host",
        });
    }
    let header_host = match from_header {
        Some(v) => Some(v.to_str().map_err(|_| Refusal {
            status: 400,
            reason: "bad_host",
        })?),
        None => None,
    };
    let authority = req.uri().authority().map(|a| a.as_str());
    let chosen = match (authority, header_host) {
        (Some(a), Some(h)) if !a.eq_ignore_ascii_case(h) => {
            return Err(Refusal {
                status: 400,
                reason: "host_mismatch",
            });
        }
        (Some(a), _) => a,
        (None, Some(h)) => h,
        (None, None) if req.version() == http::Version::HTTP_10 => "",
        (None, None) => {
            return Err(Refusal {
                status: 400,
                reason: "missing_host",
            });
        }
    };
    strip_port(chosen).ok_or(Refusal {
        status: 400,
        reason: "bad_host",
    })
}

/// `host[:port]` → host, checking it is a reg-name or IP literal.
fn strip_port(authority: &str) -> Option<&str> {
    if authority.is_empty() {
        return Some("");
    }
    let host = if let Some(rest) = authority.strip_prefix('[') {
        let end = rest.find(']')?;
        let after = &rest[end + 1..];
        if !(after.is_empty()
            || after
                .strip_prefix(':')
                .is_some_and(|p| p.parse::<u16>().is_ok()))
        {
            return None;
        }
        &authority[..end + 2]
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) if p.parse::<u16>().is_ok() => h,
            Some(_) => return None,
            None => authority,
        }
    };
    let ok = host.starts_with('[')
        || (!host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=".contains(&b)));
    ok.then_some(host)
}

/// A request id from a trusted peer is kept if it is short and plain; otherwise a new one is
/// used.
pub fn acceptable_request_id(value: &[u8]) -> bool {
    !value.is_empty()
        && value.len() <= 128
        && value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn strips_hop_by_hop_and_named() {
        let mut h = HeaderMap::new();
        h.insert("connection", HeaderValue::from_static("close, x-secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("te", HeaderValue::from_static("trailers"));
        h.insert("upgrade", HeaderValue::from_static("websocket"));
        h.insert("x-keep", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-keep"));
    }

    #[test]
    fn strips_identity_headers() {
        let mut h = HeaderMap::new();
        h.insert("x-rampart-principal", HeaderValue::from_static("admin"));
        h.insert(
            "X-Rampart-Spiffe-Id",
            HeaderValue::from_static("spiffe://x"),
        );
        h.insert("x-forwarded-client-cert", HeaderValue::from_static("x"));
        h.insert("x-other", HeaderValue::from_static("1"));
        strip_identity(&mut h);
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn host_rules() {
        let req = |uri: &str, hosts: &[&str]| {
            let mut b = Request::builder().uri(uri);
            for h in hosts {
                b = b.header("host", *h);
            }
            b.body(()).unwrap()
        };
        assert_eq!(host(&req("/", &["a.test:8080"])).unwrap(), "a.test");
        assert_eq!(host(&req("/", &["[::1]:80"])).unwrap(), "[::1]");
        assert_eq!(host(&req("http://b.test/", &["b.test"])).unwrap(), "b.test");
        assert_eq!(
            host(&req("http://b.test/", &["c.test"]))
                .unwrap_err()
                .reason,
            "host_mismatch"
        );
        assert_eq!(
            host(&req("/", &["a", "b"])).unwrap_err().reason,
            "duplicate_host"
        );
        assert_eq!(host(&req("/", &[])).unwrap_err().reason, "missing_host");
        assert_eq!(host(&req("/", &["a b"])).unwrap_err().reason, "bad_host");
        assert_eq!(
            host(&req("/", &["a:99999"])).unwrap_err().reason,
            "bad_host"
        );
    }
}

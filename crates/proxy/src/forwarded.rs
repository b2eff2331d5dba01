//! Who the client is, and what upstreams are told about it (`X-Forwarded-For`, `Forwarded`).
//!
//! Forwarding headers are believed only from peers in `trusted_proxies`; from anyone else they
//! are replaced, so a client cannot spoof its address to an upstream or to rate limits.

use http::{HeaderMap, HeaderValue, header};
use ipnet::IpNet;
use std::net::IpAddr;

static X_FORWARDED_FOR: header::HeaderName = header::HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: header::HeaderName = header::HeaderName::from_static("x-forwarded-proto");

/// Whether `ip` is one of the trusted proxies.
pub fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    !trusted.is_empty() && trusted.iter().any(|n| n.contains(&ip))
}

/// The client's address: the peer, or, when the peer is a trusted proxy, the right-most
/// address in `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let mut client = peer;
    for value in headers.get_all(&X_FORWARDED_FOR).iter().rev() {
        let Ok(text) = value.to_str() else {
            return client;
        };
        for part in text.rsplit(',') {
            match part.trim().parse::<IpAddr>() {
                Ok(ip) if is_trusted(ip, trusted) => client = ip,
                Ok(ip) => return ip,
                Err(_) => return client,
            }
        }
    }
    client
}

/// Sets `X-Forwarded-For`, `X-Forwarded-Proto` and `Forwarded` for the upstream.
pub fn set_headers(
    headers: &mut HeaderMap,
    peer: IpAddr,
    trusted_peer: bool,
    proto: &'static str,
    host: &str,
) {
    let peer_text = peer.to_string();
    let node = match peer {
        IpAddr::V4(_) => peer_text.clone(),
        IpAddr::V6(_) => format!("\"[{peer_text}]\""),
    };
    let host_q = quote_if_needed(host);
    let fwd = format!("for={node};proto={proto};host={host_q}");
    if trusted_peer {
        append(headers, &X_FORWARDED_FOR, &peer_text);
        append(headers, &header::FORWARDED, &fwd);
        if !headers.contains_key(&X_FORWARDED_PROTO) {
            headers.insert(&X_FORWARDED_PROTO, HeaderValue::from_static(proto));
        }
    } else {
        replace(headers, &X_FORWARDED_FOR, &peer_text);
        replace(headers, &header::FORWARDED, &fwd);
        headers.insert(&X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    }
}

fn append(headers: &mut HeaderMap, name: &header::HeaderName, value: &str) {
    let joined: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let mut all = joined.join(", ");
    if !all.is_empty() {
        all.push_str(", ");
    }
    all.push_str(value);
    replace(headers, name, &all);
}

fn replace(headers: &mut HeaderMap, name: &header::HeaderName, value: &str) {
    match HeaderValue::from_str(value) {
        Ok(v) => {
            headers.insert(name, v);
        }
        Err(_) => {
            headers.remove(name);
        }
    }
}

fn quote_if_needed(host: &str) -> String {
    if host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    {
        host.to_string()
    } else {
        let escaped: String = host.chars().filter(|c| *c != '"' && *c != '\\').collect();
        format!("\"{escaped}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(s: &[&str]) -> Vec<IpNet> {
        s.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn untrusted_peers_cannot_spoof() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("1.2.3.4"));
        h.insert("forwarded", HeaderValue::from_static("for=1.2.3.4"));
        let peer: IpAddr = "10.0.0.9".parse().unwrap();
        assert_eq!(client_ip(peer, &h, &nets(&["192.168.0.0/16"])), peer);
        set_headers(&mut h, peer, false, "https", "api.test");
        assert_eq!(h["x-forwarded-for"], "10.0.0.9");
        assert_eq!(h["forwarded"], "for=10.0.0.9;proto=https;host=api.test");
        assert_eq!(h["x-forwarded-proto"], "https");
    }

    #[test]
    fn trusted_peers_are_appended_to() {
        let trusted = nets(&["10.0.0.0/8"]);
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.2.3.4, 10.0.0.5"),
        );
        let peer: IpAddr = "10.0.0.9".parse().unwrap();
        assert_eq!(
            client_ip(peer, &h, &trusted),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
        set_headers(&mut h, peer, true, "http", "a");
        assert_eq!(h["x-forwarded-for"], "1.2.3.4, 10.0.0.5, 10.0.0.9");
        let v6: IpAddr = "::1".parse().unwrap();
        let mut h = HeaderMap::new();
        set_headers(&mut h, v6, false, "http", "a:8080");
        assert_eq!(h["forwarded"], "for=\"[::1]\";proto=http;host=\"a:8080\"");
    }
}

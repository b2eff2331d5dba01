//! The JOSE header of a compact JWS, parsed strictly.

use serde_json::{Map, Value};

use crate::{TokenError, b64, strict_json};

/// The header members the verifier looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// `alg`, as written (not yet checked against any allow-list).
    pub alg: String,
    /// `kid`, if any.
    pub kid: Option<String>,
    /// `typ`, if any (e.g. `at+jwt`).
    pub typ: Option<String>,
}

/// Reads the header of a compact JWS without verifying anything else (e.g. to find the
/// `kid` before fetching keys). Check the token's size against the policy first: this
/// function decodes the header whatever its length.
///
/// Rejects: not exactly three parts, non-strict base64url, a header that is not a JSON object,
/// a missing or non-string `alg`, a non-string `kid`/`typ`, any `crit` member and `b64`
/// other than `true` (RFC 7797 is not supported).
pub fn peek_header(token: &str) -> Result<Header, TokenError> {
    let (header_b64, _, _) = split(token)?;
    parse_header(header_b64)
}

/// Splits a compact JWS into exactly three parts.
pub(crate) fn split(token: &str) -> Result<(&str, &str, &str), TokenError> {
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) => Ok((h, p, s)),
        _ => Err(TokenError::Malformed("not three parts")),
    }
}

/// Decodes and checks the protected header.
pub(crate) fn parse_header(header_b64: &str) -> Result<Header, TokenError> {
    let bytes = b64::decode(header_b64, "header encoding")?;
    let map = strict_json::object(&bytes).ok_or(TokenError::Malformed(
        "header is not a JSON object without duplicates",
    ))?;
    if map.contains_key("crit") {
        return Err(TokenError::UnsupportedHeader("crit"));
    }
    match map.get("b64") {
        None | Some(Value::Bool(true)) => {}
        Some(_) => return Err(TokenError::UnsupportedHeader("b64")),
    }
    let alg = match map.get("alg") {
        Some(Value::String(alg)) => alg.clone(),
        _ => return Err(TokenError::Malformed("header alg missing")),
    };
    Ok(Header {
        alg,
        kid: optional_string(&map, "kid")?,
        typ: optional_string(&map, "typ")?,
    })
}

fn optional_string(
    map: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, TokenError> {
    match map.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(TokenError::Malformed("header member is not a string")),
    }
}

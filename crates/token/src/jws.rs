//! Compact JWS verification: size limit, framing, strict base64url, header rules, algorithm
//! allow-list and the signature. Claims are checked in `claims`.

use crate::algorithm::JwsAlg;
use crate::header::{parse_header, split};
use crate::{Header, TokenError, VerifyingKeys, b64};

/// A compact JWS whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedJws {
    /// The protected header.
    pub header: Header,
    /// The decoded payload (not interpreted).
    pub payload: Vec<u8>,
}

/// Verifies a compact JWS's signature only (no claim checks): useful for JWS that are not
/// access tokens. `verify` builds on it.
///
/// Order: size (before decoding), three parts, header (`crit`, `b64`), `alg` in
/// `algorithms` and supported (never `none`/`HS*`), strict base64url of payload and signature,
/// key by `kid`, key type matches `alg`, signature.
pub fn verify_jws(
    token: &str,
    keys: &VerifyingKeys,
    algorithms: &[String],
    max_token_bytes: usize,
) -> Result<VerifiedJws, TokenError> {
    if token.len() > max_token_bytes {
        return Err(TokenError::TooLarge {
            limit: max_token_bytes,
        });
    }
    let (header_b64, payload_b64, signature_b64) = split(token)?;
    let header = parse_header(header_b64)?;
    if !algorithms.contains(&header.alg) {
        return Err(TokenError::AlgNotAllowed);
    }
    let alg = JwsAlg::parse(&header.alg).ok_or(TokenError::AlgNotAllowed)?;
    let payload = b64::decode(payload_b64, "payload encoding")?;
    let signature = b64::decode(signature_b64, "signature encoding")?;
    if signature.is_empty() {
        return Err(TokenError::BadSignature);
    }
    // The signing input is the ASCII of "header.payload" as received.
    let signing_input_len = header_b64.len() + 1 + payload_b64.len();
    let signing_input = token
        .as_bytes()
        .get(..signing_input_len)
        .ok_or(TokenError::Malformed("framing"))?;
    keys.verify(alg, header.kid.as_deref(), signing_input, &signature)?;
    Ok(VerifiedJws { header, payload })
}

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

/// A compact JWS split into its parts, within the size limit, with its protected header
/// parsed and checked (`crit`, `b64`). Nothing is verified yet: pass it to
/// [`verify_parsed_jws`] or [`crate::verify_parsed`]. Parsing once lets a caller read the
/// header (e.g. its `kid`, to choose an issuer) without decoding it a second time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedToken<'a> {
    header: Header,
    header_b64: &'a str,
    payload_b64: &'a str,
    signature_b64: &'a str,
    token: &'a str,
}

impl<'a> ParsedToken<'a> {
    /// Checks the size (before decoding anything), the three parts and the header.
    pub fn parse(token: &'a str, max_token_bytes: usize) -> Result<Self, TokenError> {
        if token.len() > max_token_bytes {
            return Err(TokenError::TooLarge {
                limit: max_token_bytes,
            });
        }
        let (header_b64, payload_b64, signature_b64) = split(token)?;
        let header = parse_header(header_b64)?;
        Ok(Self {
            header,
            header_b64,
            payload_b64,
            signature_b64,
            token,
        })
    }

    /// The protected header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The whole token, as received.
    pub fn as_str(&self) -> &'a str {
        self.token
    }
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
    let parsed = ParsedToken::parse(token, max_token_bytes)?;
    let payload = verify_parsed_jws(&parsed, keys, algorithms)?;
    Ok(VerifiedJws {
        header: parsed.header,
        payload,
    })
}

/// [`verify_jws`] for an already parsed token (the size and header checks are done): `alg`
/// allow-list, strict base64url of payload and signature, key, signature. Returns the payload.
pub fn verify_parsed_jws(
    parsed: &ParsedToken<'_>,
    keys: &VerifyingKeys,
    algorithms: &[String],
) -> Result<Vec<u8>, TokenError> {
    let header = &parsed.header;
    if !algorithms.contains(&header.alg) {
        return Err(TokenError::AlgNotAllowed);
    }
    let alg = JwsAlg::parse(&header.alg).ok_or(TokenError::AlgNotAllowed)?;
    let payload = b64::decode(parsed.payload_b64, "payload encoding")?;
    let signature = b64::decode(parsed.signature_b64, "signature encoding")?;
    if signature.is_empty() {
        return Err(TokenError::BadSignature);
    }
    // The signing input is the ASCII of "header.payload" as received.
    let signing_input_len = parsed.header_b64.len() + 1 + parsed.payload_b64.len();
    let signing_input = parsed
        .token
        .as_bytes()
        .get(..signing_input_len)
        .ok_or(TokenError::Malformed("framing"))?;
    keys.verify(alg, header.kid.as_deref(), signing_input, &signature)?;
    Ok(payload)
}

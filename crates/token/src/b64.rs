//! Strict base64url (RFC 7515 §2): no padding, no whitespace, only the URL-safe alphabet,
//! canonical (unused trailing bits must be zero).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::TokenError;

/// Decodes strict base64url; `what` names the part in the error.
pub(crate) fn decode(input: &str, what: &'static str) -> Result<Vec<u8>, TokenError> {
    // URL_SAFE_NO_PAD rejects padding, characters outside the alphabet and non-zero
    // trailing bits (non-canonical encodings).
    URL_SAFE_NO_PAD
        .decode(input.as_bytes())
        .map_err(|_| TokenError::Malformed(what))
}

/// Encodes base64url without padding.
pub(crate) fn encode(input: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(input)
}

//! Certificate-bound access tokens (RFC 8705 §3): `cnf.x5t#S256` against the mTLS client
//! certificate presented on the connection. Never cached: check it on every request.

use aws_lc_rs::digest;
use rampart_core::ct_eq;

use crate::{TokenError, Verified, b64};

/// The RFC 8705 thumbprint of a DER certificate: SHA-256, base64url without padding.
pub fn certificate_thumbprint(cert_der: &[u8]) -> String {
    b64::encode(digest::digest(&digest::SHA256, cert_der).as_ref())
}

/// When the token is certificate-bound, the presented certificate must be the bound one.
/// Tokens without `cnf.x5t#S256` pass whatever is presented.
pub fn check_binding(
    verified: &Verified,
    client_cert_der: Option<&[u8]>,
) -> Result<(), TokenError> {
    let Some(expected) = verified.cnf_x5t_s256.as_deref() else {
        return Ok(());
    };
    let cert = client_cert_der.ok_or(TokenError::CertificateRequired)?;
    let actual = certificate_thumbprint(cert);
    if ct_eq(actual.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(TokenError::CertificateMismatch)
    }
}

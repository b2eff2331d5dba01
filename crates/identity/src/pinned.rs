//! First contact with the control plane: trusting the one CA whose fingerprint a join token
//! carries, before the workload has a trust bundle.
//!
//! The server sends its leaf followed by its chain up to and including the root
//! ([`crate::LocalCa::issue_server_cert_with_root`]); the client finds the certificate whose
//! SHA-256 is the pin among them and verifies the leaf with it as the only trust anchor,
//! names included. A certificate sent by the server is trusted only because its hash matches.

use std::{fmt::Write, sync::Arc};

use aws_lc_rs::digest::{SHA256, digest};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
    client::{
        WebPkiServerVerifier,
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    },
    crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature},
    pki_types::{CertificateDer, ServerName, UnixTime},
};

use crate::{IdentityError, SvidSource, provider};

/// Length of a SHA-256 fingerprint in hex digits.
const PIN_LEN: usize = 64;

/// Verifies a server against one pinned CA: among the certificates the server sends after
/// its leaf, the one whose SHA-256 (of its DER) equals the pin becomes the only trust anchor,
/// and the leaf must chain to it and be valid for the server name (webpki). A server that
/// does not send the pinned certificate is refused with `UnknownIssuer`.
#[derive(Debug)]
pub struct PinnedCaVerifier {
    pin: [u8; 32],
    provider: Arc<CryptoProvider>,
}

/// A client configuration for first contact with the control plane: this crate's protocol
/// versions and provider, the server verified with [`PinnedCaVerifier`] for `sha256_hex`,
/// ALPN `alpn`, and the SVID of `client_svid` as client certificate when given (e.g. to renew
/// it), no client certificate otherwise.
pub fn pinned_client_config(
    sha256_hex: &str,
    alpn: Vec<Vec<u8>>,
    client_svid: Option<Arc<SvidSource>>,
) -> Result<ClientConfig, IdentityError> {
    let verifier = PinnedCaVerifier::new(sha256_hex)?;
    let builder = ClientConfig::builder_with_provider(provider::crypto_provider())
        .with_protocol_versions(provider::PROTOCOL_VERSIONS)?
        // Not insecure: the pinned CA replaces the system roots.
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match client_svid {
        Some(svid) => builder.with_client_cert_resolver(svid),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn;
    Ok(config)
}

// === impl PinnedCaVerifier ===

impl PinnedCaVerifier {
    /// A verifier trusting the CA whose certificate's SHA-256 is `sha256_hex` (64 lowercase
    /// hex digits).
    pub fn new(sha256_hex: &str) -> Result<Arc<Self>, IdentityError> {
        let pin = parse_pin(sha256_hex).ok_or_else(|| IdentityError::InvalidPin {
            reason: "expected a SHA-256 fingerprint of 64 lowercase hex digits",
        })?;
        Ok(Arc::new(Self {
            pin,
            provider: provider::crypto_provider(),
        }))
    }

    /// The pinned fingerprint, as 64 lowercase hex digits.
    pub fn pin_hex(&self) -> String {
        let mut hex = String::with_capacity(PIN_LEN);
        for b in self.pin {
            // Writing to a String cannot fail.
            let _ = write!(hex, "{b:02x}");
        }
        hex
    }
}

impl ServerCertVerifier for PinnedCaVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(position) = intermediates
            .iter()
            .position(|cert| digest(&SHA256, cert).as_ref() == self.pin)
        else {
            tracing::warn!(
                pin = %self.pin_hex(),
                "the server did not send the pinned CA certificate in its chain"
            );
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            ));
        };
        let mut roots = RootCertStore::empty();
        roots
            .add(intermediates[position].clone().into_owned())
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        let others: Vec<_> = intermediates
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != position)
            .map(|(_, cert)| cert.clone())
            .collect();
        let webpki =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?;
        webpki.verify_server_cert(end_entity, &others, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

// === helpers ===

/// The 32 bytes of a fingerprint written as 64 lowercase hex digits.
fn parse_pin(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != PIN_LEN {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut pin = [0u8; 32];
    for (byte, pair) in pin.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
        *byte = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(pin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_64_lowercase_hex_digits() {
        let good = "0123456789abcdef".repeat(4);
        assert_eq!(PinnedCaVerifier::new(&good).unwrap().pin_hex(), good);
        for bad in [
            good.to_uppercase(),
            good[..62].to_owned(),
            format!("{good}00"),
            format!("{}zz", &good[..62]),
            String::new(),
        ] {
            let err = PinnedCaVerifier::new(&bad).unwrap_err();
            assert!(err.to_string().contains("64 lowercase hex"), "{err}");
        }
    }
}

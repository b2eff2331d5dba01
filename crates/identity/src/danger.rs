//! Insecure settings, named as such: accepting any server certificate.

use std::sync::{Arc, Once};

use rustls::{
    DigitallySignedStruct, SignatureScheme,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature},
    pki_types::{CertificateDer, ServerName, UnixTime},
};

/// A server certificate verifier that accepts every certificate, whoever issued it and
/// whatever name it carries. Handshake signatures are still checked, so the peer must hold
/// the key of the certificate it shows, but anyone can be that peer: the connection is
/// encrypted, not authenticated.
#[derive(Debug)]
pub struct NoServerVerification {
    provider: Arc<CryptoProvider>,
}

static WARN_ONCE: Once = Once::new();

// === impl NoServerVerification ===

impl NoServerVerification {
    /// The verifier, checking handshake signatures with `provider`'s algorithms. Logs a
    /// warning the first time one is created in this process.
    pub fn new(provider: Arc<CryptoProvider>) -> Arc<Self> {
        WARN_ONCE.call_once(|| {
            tracing::warn!(
                "upstream TLS certificate verification is disabled: connections can be intercepted"
            );
        });
        Arc::new(Self { provider })
    }
}

impl ServerCertVerifier for NoServerVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
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

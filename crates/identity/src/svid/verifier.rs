//! rustls verifiers for mutual TLS between workloads identified by SPIFFE ids.

use std::sync::Arc;

use rampart_core::spiffe::SpiffeId;
use rustls::{
    CertificateError, CommonState, DigitallySignedStruct, DistinguishedName, OtherError,
    SignatureScheme,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature},
    pki_types::{CertificateDer, ServerName, UnixTime},
    server::danger::{ClientCertVerified, ClientCertVerifier},
};
use x509_parser::{certificate::X509Certificate, prelude::FromDer};

use super::{SharedRevocations, SharedTrustBundle, SvidError, verify};
use crate::provider;

/// Verifies client SVIDs on a server: a client certificate is mandatory, and any SPIFFE id of
/// the bundle's trust domain whose serial is not revoked is accepted. Authorization is the
/// caller's, after the handshake, from [`peer_spiffe_id`].
#[derive(Debug)]
pub struct SpiffeClientVerifier {
    bundle: SharedTrustBundle,
    revocations: SharedRevocations,
    algorithms: WebPkiSupportedAlgorithms,
    /// Whether a client without a certificate is refused (see [`SpiffeClientVerifier::optional`]).
    mandatory: bool,
}

/// Verifies a server's SVID on a client: the chain and SPIFFE rules as for clients, and the
/// server's id must equal the one expected, so that a workload of the same trust domain
/// cannot pose as another; its serial must not be revoked. The TLS server name is not used.
#[derive(Debug)]
pub struct SpiffeServerVerifier {
    expected: SpiffeId,
    bundle: SharedTrustBundle,
    revocations: SharedRevocations,
    algorithms: WebPkiSupportedAlgorithms,
}

/// The SPIFFE id of the peer's certificate, once the handshake verified it; `None` before
/// the handshake or when the peer presented no SVID.
pub fn peer_spiffe_id(conn: &CommonState) -> Option<SpiffeId> {
    let leaf = conn.peer_certificates()?.first()?;
    let (_, x509) = X509Certificate::from_der(leaf).ok()?;
    verify::spiffe_id(&x509).ok()
}

// === impl SpiffeClientVerifier ===

impl SpiffeClientVerifier {
    /// A verifier reading the bundle current at each handshake.
    pub fn new(bundle: SharedTrustBundle) -> Arc<Self> {
        Self::with_revocations(bundle, SharedRevocations::default())
    }

    /// Like [`SpiffeClientVerifier::new`] (client certificate mandatory), also refusing a
    /// client whose leaf serial is in the revocation list current at the handshake.
    pub fn with_revocations(
        bundle: SharedTrustBundle,
        revocations: SharedRevocations,
    ) -> Arc<Self> {
        Arc::new(Self {
            bundle,
            revocations,
            algorithms: provider::crypto_provider().signature_verification_algorithms,
            mandatory: true,
        })
    }

    /// Like [`SpiffeClientVerifier::new`], but a client may also connect without a
    /// certificate; one it presents must still be a valid SVID of the bundle's trust domain.
    /// The server must then tell the two apart per request (e.g. with [`peer_spiffe_id`]).
    pub fn optional(bundle: SharedTrustBundle) -> Arc<Self> {
        Arc::new(Self {
            bundle,
            revocations: SharedRevocations::default(),
            algorithms: provider::crypto_provider().signature_verification_algorithms,
            mandatory: false,
        })
    }
}

impl ClientCertVerifier for SpiffeClientVerifier {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // SPIFFE clients hold one SVID; hints would only disclose the roots.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let bundle = self.bundle.load();
        verify::verify(end_entity, intermediates, &bundle, now, self.algorithms.all)
            .and_then(|_| check_not_revoked(&self.revocations, end_entity))
            .map(|()| ClientCertVerified::assertion())
            .map_err(tls_error)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

// === impl SpiffeServerVerifier ===

impl SpiffeServerVerifier {
    /// A verifier accepting only a server whose SVID names `expected`, reading the bundle
    /// current at each handshake.
    pub fn new(expected: SpiffeId, bundle: SharedTrustBundle) -> Arc<Self> {
        Self::with_revocations(expected, bundle, SharedRevocations::default())
    }

    /// Like [`SpiffeServerVerifier::new`], also refusing a server whose leaf serial is in the
    /// revocation list current at the handshake.
    pub fn with_revocations(
        expected: SpiffeId,
        bundle: SharedTrustBundle,
        revocations: SharedRevocations,
    ) -> Arc<Self> {
        Arc::new(Self {
            expected,
            bundle,
            revocations,
            algorithms: provider::crypto_provider().signature_verification_algorithms,
        })
    }

    /// The SPIFFE id the server must present.
    pub fn expected(&self) -> &SpiffeId {
        &self.expected
    }
}

impl ServerCertVerifier for SpiffeServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let bundle = self.bundle.load();
        let found = verify::verify(end_entity, intermediates, &bundle, now, self.algorithms.all)
            .map_err(tls_error)?;
        if found != self.expected {
            return Err(tls_error(SvidError::UnexpectedId {
                expected: self.expected.clone(),
                found,
            }));
        }
        check_not_revoked(&self.revocations, end_entity).map_err(tls_error)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

// === helpers ===

/// Refuses `leaf` when the current revocation list names its serial.
fn check_not_revoked(
    revocations: &SharedRevocations,
    leaf: &CertificateDer<'_>,
) -> Result<(), SvidError> {
    let list = revocations.load();
    if list.is_empty() {
        return Ok(());
    }
    let serial = super::serial_hex(leaf)?;
    match list.is_revoked(&serial) {
        true => Err(SvidError::Revoked { serial }),
        false => Ok(()),
    }
}

/// Maps a refusal to the rustls error whose alert fits best, keeping the detail otherwise.
pub(super) fn tls_error(e: SvidError) -> rustls::Error {
    let error = match e {
        SvidError::Expired => CertificateError::Expired,
        SvidError::NotYetValid => CertificateError::NotValidYet,
        SvidError::Untrusted { .. } => CertificateError::UnknownIssuer,
        SvidError::Malformed { .. } => CertificateError::BadEncoding,
        SvidError::Revoked { .. } => CertificateError::Revoked,
        e => CertificateError::Other(OtherError(Arc::new(e))),
    };
    rustls::Error::InvalidCertificate(error)
}

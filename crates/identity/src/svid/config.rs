//! rustls configurations for mutual TLS between workloads.

use std::sync::Arc;

use rampart_core::spiffe::SpiffeId;
use rustls::{
    ClientConfig, ServerConfig,
    client::Resumption,
    pki_types::{CertificateDer, PrivateKeyDer},
    server::NoServerSessionStorage,
};

use super::{SharedTrustBundle, SpiffeClientVerifier, SpiffeServerVerifier};
use crate::{IdentityError, provider};

/// A server configuration presenting the SVID `cert_chain` (with its `key`) and requiring a
/// client SVID accepted by `verifier`.
///
/// Session resumption is off: a resumed session would skip verification, so a root removed
/// from the bundle (or an SVID that has expired since) would still be accepted.
pub fn mtls_server_config(
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    verifier: Arc<SpiffeClientVerifier>,
) -> Result<ServerConfig, IdentityError> {
    let provider = provider::crypto_provider();
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(provider::PROTOCOL_VERSIONS)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(cert_chain, key)?;
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(config)
}

/// A client configuration presenting the SVID `cert_chain` (with its `key`) and accepting
/// only a server whose SVID, verified against `bundle`, names `expected_server`.
///
/// The server name given to the connector is not checked (SVIDs carry no DNS names); it is
/// sent as SNI when it is a DNS name. Session resumption is off, as for the server.
pub fn mtls_client_config(
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    expected_server: SpiffeId,
    bundle: SharedTrustBundle,
) -> Result<ClientConfig, IdentityError> {
    let provider = provider::crypto_provider();
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(provider::PROTOCOL_VERSIONS)?
        // Not insecure: the SPIFFE verifier replaces DNS-name checks with id checks.
        .dangerous()
        .with_custom_certificate_verifier(SpiffeServerVerifier::new(expected_server, bundle))
        .with_client_auth_cert(cert_chain, key)?;
    config.resumption = Resumption::disabled();
    Ok(config)
}

//! TLS server configuration for Rampart's listeners.

use std::sync::Arc;

use rustls::{
    ServerConfig,
    server::{ResolvesServerCert, danger::ClientCertVerifier},
};

use crate::{IdentityError, provider};

/// A server configuration with [`crate::crypto_provider`] (TLS 1.3 and 1.2, AEAD suites, the
/// post-quantum hybrid key exchange first), certificates from `resolver`, ALPN protocols in
/// preference order (e.g. `h2`, `http/1.1`) and no client authentication.
pub fn server_config(
    resolver: Arc<dyn ResolvesServerCert>,
    alpn: Vec<Vec<u8>>,
) -> Result<ServerConfig, IdentityError> {
    let mut config = ServerConfig::builder_with_provider(provider::crypto_provider())
        .with_protocol_versions(provider::PROTOCOL_VERSIONS)?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = alpn;
    Ok(config)
}

/// Like [`server_config`], with client certificates checked by `verifier`: e.g.
/// [`crate::SpiffeClientVerifier::optional`] for a server that some clients reach with an
/// SVID and others without a certificate.
pub fn server_config_with_client_auth(
    resolver: Arc<dyn ResolvesServerCert>,
    alpn: Vec<Vec<u8>>,
    verifier: Arc<dyn ClientCertVerifier>,
) -> Result<ServerConfig, IdentityError> {
    let mut config = ServerConfig::builder_with_provider(provider::crypto_provider())
        .with_protocol_versions(provider::PROTOCOL_VERSIONS)?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(resolver);
    config.alpn_protocols = alpn;
    Ok(config)
}

//! TLS server configuration for Rampart's listeners.

use std::sync::Arc;

use rustls::{ServerConfig, server::ResolvesServerCert};

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

//! TLS client configuration for connections to upstreams.

use std::path::Path;

use rustls::{
    ClientConfig, RootCertStore,
    pki_types::{CertificateDer, PrivateKeyDer},
};

use crate::{IdentityError, certs, danger, files, provider};

/// A client configuration with the same protocol, suite and key-exchange restrictions as the
/// server side, trusting the certificates of the PEM file `ca_file` or, without one, the
/// system's root certificates.
///
/// `danger_skip_verify` accepts any server certificate (see [`danger`]): only for upstreams
/// on a trusted network that present certificates nobody can verify.
pub fn client_config(
    ca_file: Option<&Path>,
    danger_skip_verify: bool,
    alpn: Vec<Vec<u8>>,
) -> Result<ClientConfig, IdentityError> {
    let provider = provider::crypto_provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(provider::PROTOCOL_VERSIONS)?;
    let mut config = match danger_skip_verify {
        true => builder
            .dangerous()
            .with_custom_certificate_verifier(danger::NoServerVerification::new(provider))
            .with_no_client_auth(),
        false => builder
            .with_root_certificates(roots(ca_file)?)
            .with_no_client_auth(),
    };
    config.alpn_protocols = alpn;
    Ok(config)
}

/// A client configuration trusting exactly `roots` (for example an empty store for a client
/// that never speaks TLS, or the control plane's own CA).
pub fn client_config_with_roots(
    roots: RootCertStore,
    alpn: Vec<Vec<u8>>,
) -> Result<ClientConfig, IdentityError> {
    let provider = provider::crypto_provider();
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(provider::PROTOCOL_VERSIONS)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn;
    Ok(config)
}

/// Like [`client_config`] with `ca_file` (not the system roots), presenting the client
/// certificate `cert_chain` with its `key`, e.g. a workload's SVID to renew it with.
pub fn client_config_with_client_auth(
    ca_file: &Path,
    alpn: Vec<Vec<u8>>,
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<ClientConfig, IdentityError> {
    let provider = provider::crypto_provider();
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(provider::PROTOCOL_VERSIONS)?
        .with_root_certificates(roots(Some(ca_file))?)
        .with_client_auth_cert(cert_chain, key)?;
    config.alpn_protocols = alpn;
    Ok(config)
}

fn roots(ca_file: Option<&Path>) -> Result<RootCertStore, IdentityError> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for cert in certs::parse_certificates(path, &files::read(path)?)? {
                roots
                    .add(cert)
                    .map_err(|e| IdentityError::InvalidCertificate {
                        path: path.to_owned(),
                        reason: e.to_string(),
                    })?;
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            for error in &native.errors {
                tracing::warn!(%error, "cannot load some system root certificates");
            }
            let (added, ignored) = roots.add_parsable_certificates(native.certs);
            if ignored > 0 {
                tracing::debug!(
                    added,
                    ignored,
                    "ignored unparsable system root certificates"
                );
            }
            if roots.is_empty() {
                return Err(IdentityError::NoRoots {
                    reason: "the system has no usable root certificates".to_owned(),
                });
            }
        }
    }
    Ok(roots)
}

//! The one crypto provider every Rampart TLS endpoint uses: aws-lc-rs, AEAD suites only,
//! the post-quantum hybrid key exchange first.

use std::sync::Arc;

use rustls::{
    SupportedProtocolVersion,
    crypto::{
        CryptoProvider,
        aws_lc_rs::{self, cipher_suite as suite, kx_group},
    },
};

/// TLS 1.3 first, then TLS 1.2; nothing older.
pub(crate) static PROTOCOL_VERSIONS: &[&SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// The aws-lc-rs provider restricted to Rampart's suites and key-exchange groups.
///
/// TLS 1.2 suites are ECDHE with AES-GCM or ChaCha20-Poly1305 only (no CBC, no static RSA);
/// key exchange prefers X25519MLKEM768, then X25519, secp256r1 and secp384r1.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(restricted())
}

/// Installs [`crypto_provider`] as the process-wide default rustls provider, unless one is
/// already installed. Safe to call any number of times.
pub fn install_default_provider() {
    if CryptoProvider::get_default().is_none() {
        // Losing a race to another installer is fine: a provider is installed either way.
        let _ = restricted().install_default();
    }
}

fn restricted() -> CryptoProvider {
    CryptoProvider {
        cipher_suites: vec![
            suite::TLS13_AES_256_GCM_SHA384,
            suite::TLS13_AES_128_GCM_SHA256,
            suite::TLS13_CHACHA20_POLY1305_SHA256,
            suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ],
        kx_groups: vec![
            kx_group::X25519MLKEM768,
            kx_group::X25519,
            kx_group::SECP256R1,
            kx_group::SECP384R1,
        ],
        ..aws_lc_rs::default_provider()
    }
}

#[cfg(test)]
mod tests {
    use rustls::NamedGroup;

    use super::*;

    #[test]
    fn installs_the_restricted_provider_once() {
        install_default_provider();
        install_default_provider();
        let installed = CryptoProvider::get_default().unwrap();
        assert_eq!(installed.cipher_suites, crypto_provider().cipher_suites);
        let groups: Vec<_> = installed.kx_groups.iter().map(|g| g.name()).collect();
        assert_eq!(
            groups,
            [
                NamedGroup::X25519MLKEM768,
                NamedGroup::X25519,
                NamedGroup::secp256r1,
                NamedGroup::secp384r1
            ]
        );
    }
}

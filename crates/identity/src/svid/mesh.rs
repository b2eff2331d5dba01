//! TLS between mesh sidecars: TLS 1.3 only, the post-quantum hybrid key exchange first, both
//! sides presenting the workload's current SVID, and session resumption on.
//!
//! A resumed handshake does not run the certificate verifier, so a peer whose SVID has since
//! expired or been revoked could resume a session opened before. The caller runs
//! [`check_peer`] after every handshake, and rebuilds its configurations (with fresh session
//! caches) whenever its SVID, the trust bundle or the revocation list changes.

use std::{
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use rampart_core::spiffe::SpiffeId;
use rustls::{
    ClientConfig, CommonState, ServerConfig, SupportedProtocolVersion, client::Resumption,
    pki_types::UnixTime, server::ServerSessionMemoryCache,
};
use x509_parser::{certificate::X509Certificate, prelude::FromDer};

use super::{
    RevocationList, SharedRevocations, SharedTrustBundle, SpiffeClientVerifier,
    SpiffeServerVerifier, SvidError, SvidSource, revocation, verify,
};
use crate::{IdentityError, provider};

/// Mesh TLS speaks TLS 1.3 only.
static MESH_VERSIONS: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];

/// Sessions a mesh server remembers for resumption.
const SERVER_SESSIONS: usize = 4096;

/// Sessions a mesh client remembers for resumption (one per upstream endpoint, roughly).
const CLIENT_SESSIONS: usize = 1024;

/// Session tickets a mesh server sends after a full handshake, so that a client can resume
/// two connections opened in parallel.
const TLS13_TICKETS: usize = 2;

/// A mesh server configuration: TLS 1.3 only, [`crate::crypto_provider`], the current SVID of
/// `svid`, a client SVID of `bundle`'s trust domain required and checked against
/// `revocations`, ALPN `alpn` in preference order.
///
/// Resumption is stateful: sessions live in an in-memory cache of this configuration
/// (no ticket encryption key to manage), and two TLS 1.3 tickets are sent per full handshake.
/// Resumed connections skip the verifier: run [`check_peer`] on each.
pub fn mesh_server_config(
    svid: Arc<SvidSource>,
    bundle: SharedTrustBundle,
    revocations: SharedRevocations,
    alpn: Vec<Vec<u8>>,
) -> Result<ServerConfig, IdentityError> {
    let mut config = ServerConfig::builder_with_provider(provider::crypto_provider())
        .with_protocol_versions(MESH_VERSIONS)?
        .with_client_cert_verifier(SpiffeClientVerifier::with_revocations(bundle, revocations))
        .with_cert_resolver(svid);
    config.session_storage = ServerSessionMemoryCache::new(SERVER_SESSIONS);
    config.send_tls13_tickets = TLS13_TICKETS;
    config.alpn_protocols = alpn;
    Ok(config)
}

/// A mesh client configuration: TLS 1.3 only, [`crate::crypto_provider`], the current SVID of
/// `svid` as client certificate, and only a server whose SVID (verified against `bundle`, its
/// serial not in `revocations`) names `expected`. The TLS server name is not checked.
///
/// Resumption is on, with an in-memory session cache of this configuration. Resumed
/// connections skip the verifier: run [`check_peer`] on each.
pub fn mesh_client_config(
    svid: Arc<SvidSource>,
    expected: SpiffeId,
    bundle: SharedTrustBundle,
    revocations: SharedRevocations,
    alpn: Vec<Vec<u8>>,
) -> Result<ClientConfig, IdentityError> {
    let verifier = SpiffeServerVerifier::with_revocations(expected, bundle, revocations);
    let mut config = ClientConfig::builder_with_provider(provider::crypto_provider())
        .with_protocol_versions(MESH_VERSIONS)?
        // Not insecure: the SPIFFE verifier replaces DNS-name checks with id checks.
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_cert_resolver(svid);
    config.resumption = Resumption::in_memory_sessions(CLIENT_SESSIONS);
    config.alpn_protocols = alpn;
    Ok(config)
}

/// Checks the peer of an established connection (full or resumed handshake) and returns its
/// SPIFFE id: it presented a leaf certificate, `now` lies within the leaf's validity, its
/// serial is not in `revocations`, and it carries a SPIFFE id (one URI SAN, with a path).
///
/// Cheap enough for every connection: one parse of the leaf, no signature check (the chain
/// was verified when the session was first established).
pub fn check_peer(
    conn: &CommonState,
    revocations: &RevocationList,
    now: SystemTime,
) -> Result<SpiffeId, SvidError> {
    let leaf = conn
        .peer_certificates()
        .and_then(|chain| chain.first())
        .ok_or(SvidError::NoCertificate)?;
    let (_, x509) = X509Certificate::from_der(leaf).map_err(|e| SvidError::Malformed {
        reason: e.to_string(),
    })?;
    let now = UnixTime::since_unix_epoch(now.duration_since(UNIX_EPOCH).unwrap_or_default());
    verify::check_validity(&x509, now)?;
    let serial = revocation::hex_of(x509.raw_serial());
    if revocations.is_revoked(&serial) {
        return Err(SvidError::Revoked { serial });
    }
    verify::spiffe_id(&x509)
}

//! Rampart's certificate authority and TLS configuration: local CA, server certificates, SNI
//! selection and reload, and SPIFFE workload identities (X.509-SVIDs and their verifiers).
//!
//! This crate owns every TLS decision of Rampart: the crypto provider (aws-lc-rs), protocol
//! versions (TLS 1.3 and 1.2), suites (AEAD only) and key-exchange groups (post-quantum hybrid
//! first); loading certificates and keys from PEM files; choosing a server certificate by SNI
//! and swapping the set at run time; and the local CA that issues Rampart's own certificates
//! when none are configured; issuing X.509-SVIDs from workload CSRs and verifying them against
//! a swappable trust bundle (mTLS with SPIFFE ids, no identity confusion). For the mesh it
//! also owns the revocation list of SVID serials, the workload's own swappable SVID
//! ([`SvidSource`]), mesh TLS configurations (TLS 1.3 only, resumption, [`check_peer`] after
//! every handshake) and the pinned-CA verifier for first contact with the control plane.
//! It opens no sockets and reads no configuration: callers pass paths and names. It never prints or logs key material, and anything insecure lives in
//! [`danger`].

mod ca;
mod certs;
mod client;
pub mod danger;
mod error;
mod files;
mod pinned;
mod provider;
mod server;
mod sni;
mod svid;

pub use ca::LocalCa;
pub use certs::{certificate_names, load_certified_key};
pub use client::{client_config, client_config_with_client_auth, client_config_with_roots};
pub use error::IdentityError;
pub use pinned::{PinnedCaVerifier, pinned_client_config};
pub use provider::{crypto_provider, install_default_provider};
pub use server::{server_config, server_config_with_client_auth};
pub use sni::{SniEntries, SniResolver};
pub use svid::{
    DEFAULT_SVID_TTL, RevocationList, SharedRevocations, SharedTrustBundle, SpiffeClientVerifier,
    SpiffeServerVerifier, SvidError, SvidSource, TrustBundle, check_csr, check_peer,
    csr_requested_names, expiry_time, make_csr, mesh_client_config, mesh_server_config,
    mtls_client_config, mtls_server_config, peer_spiffe_id, renewal_time, serial_hex,
    sign_svid_csr, verify_svid,
};

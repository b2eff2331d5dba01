//! SPIFFE X.509 SVIDs: issuing them from a CSR with the local CA, verifying them against a
//! trust bundle and a revocation list, the workload's own swappable SVID, and rustls verifiers
//! and configurations for mutual TLS between workloads (mesh TLS).
//!
//! A workload generates its key locally ([`make_csr`]); the key never leaves it. The CA signs
//! the CSR with [`sign_svid_csr`], which keeps only the public key and sets every field
//! itself. Peers verify each other with [`SpiffeClientVerifier`] and [`SpiffeServerVerifier`],
//! which read the [`TrustBundle`] and the [`RevocationList`] through an `ArcSwap` so that roots
//! can be added and removed (CA rollover) and serials revoked at run time.

mod bundle;
mod config;
mod error;
mod issue;
mod mesh;
mod revocation;
mod source;
mod verifier;
mod verify;

pub use bundle::{SharedTrustBundle, TrustBundle};
pub use config::{mtls_client_config, mtls_server_config};
pub use error::SvidError;
pub use issue::{
    DEFAULT_SVID_TTL, check_csr, csr_requested_names, expiry_time, make_csr, renewal_time,
    sign_svid_csr,
};
pub use mesh::{check_peer, mesh_client_config, mesh_server_config};
pub use revocation::{RevocationList, SharedRevocations, serial_hex};
pub use source::SvidSource;
pub use verifier::{SpiffeClientVerifier, SpiffeServerVerifier, peer_spiffe_id};
pub use verify::verify_svid;

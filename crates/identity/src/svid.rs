//! SPIFFE X.509 SVIDs: issuing them from a CSR with the local CA, verifying them against a
//! trust bundle, and rustls verifiers and configurations for mutual TLS between workloads.
//!
//! A workload generates its key locally ([`make_csr`]); the key never leaves it. The CA signs
//! the CSR with [`sign_svid_csr`], which keeps only the public key and sets every field
//! itself. Peers verify each other with [`SpiffeClientVerifier`] and [`SpiffeServerVerifier`],
//! which read the [`TrustBundle`] through an `ArcSwap` so that roots can be added and removed
//! at run time (CA rollover).

mod bundle;
mod config;
mod error;
mod issue;
mod verifier;
mod verify;

pub use bundle::{SharedTrustBundle, TrustBundle};
pub use config::{mtls_client_config, mtls_server_config};
pub use error::SvidError;
pub use issue::{DEFAULT_SVID_TTL, check_csr, expiry_time, make_csr, renewal_time, sign_svid_csr};
pub use verifier::{SpiffeClientVerifier, SpiffeServerVerifier, peer_spiffe_id};
pub use verify::verify_svid;

//! Rampart's workload agent: bootstrap with a join token, local key and CSR, SVID renewal at
//! half-life, mesh snapshot watch, last-known-good persistence, and a gateway in sidecar
//! shape.
//!
//! A [`Sidecar`] obtains its identity once ([`bootstrap`] with a single-use join token that
//! also pins the control plane's CA), keeps it in its [`DataDir`] with the trust bundle and
//! the last mesh snapshot, and from then on talks to the control plane over mutual TLS with
//! its current SVID: renewing it at half-life with a fresh key, registering its inbound
//! address, and following the mesh watch. Each snapshot updates what the gateway checks
//! peers against (bundle, revocations) and where services live (directory); a change in the
//! set of services regenerates the gateway's configuration ([`SidecarShape`]). The data plane
//! never waits on the control plane: when it is unreachable, the sidecar serves from the last
//! snapshot and the current SVID until that expires.
//!
//! This crate generates keys but never writes one anywhere except its 0600 file, and never
//! logs a key or a join token.

mod agent;
mod backoff;
mod bootstrap;
mod data_dir;
mod encoding;
mod error;
mod events;
mod options;
mod policy;
mod register;
mod renew;
mod shape;
mod sidecar;
mod startup;
#[cfg(test)]
mod testing;
mod vitals;
mod watch;

pub use bootstrap::{Identity, Workload, bootstrap};
pub use data_dir::{DataDir, StoredSvid};
pub use error::MeshError;
pub use events::EventShipping;
pub use options::{DEFAULT_ADMIN, DEFAULT_INBOUND, DEFAULT_OUTBOUND, SidecarOptions};
pub use shape::{APP, INBOUND, OUTBOUND, SidecarShape, cluster_name, inbound_jwt};
pub use sidecar::{Sidecar, SidecarHandle};
pub use startup::Origin;

/// Tells the gateway that the SVID, the bundle, the revocations or the directory changed.
/// A refusal leaves the gateway serving its previous state; it is logged, and the next change
/// tries again.
fn notify(gateway: &rampart_proxy::GatewayHandle) {
    if let Err(e) = gateway.mesh_changed() {
        tracing::error!(error = %e, "the gateway could not apply the mesh change");
    }
}

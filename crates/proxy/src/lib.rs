//! Rampart's data plane: listeners, request hygiene, routing, upstream pools, access control,
//! egress, mesh mTLS (listeners and clusters) and metrics. It decides every request locally from a compiled snapshot of the
//! configuration and never calls the control plane on a request's path. It owns no persistent
//! state and issues no certificates itself (a local CA may be handed to it).

mod access;
mod admin;
mod auth;
mod authz;
mod body;
mod cluster;
mod echo;
mod egress;
mod error;
mod faults;
mod forwarded;
pub mod framing;
mod gateway;
mod handler;
mod hygiene;
mod idle;
mod mesh;
mod metrics;
mod overload;
pub mod path;
mod resilience;
mod server;
mod shared;
mod snapshot;
mod upstream;

pub use authz::{InstalledPolicy, PolicyState};
pub use error::ProxyError;
pub use gateway::{Gateway, GatewayHandle, GatewayOptions};
pub use mesh::{MeshContext, MeshDirectory};
pub use metrics::install_process_metrics;
pub use shared::ShedGate;

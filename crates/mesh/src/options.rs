//! How to run a sidecar: identity, addresses, the control plane and the data directory.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::PathBuf,
    time::Duration,
};

use rampart_core::{
    Sensitive,
    spiffe::{SpiffeId, TrustDomain},
};
use rampart_events::EventBus;

use crate::{MeshError, Workload};

/// Default address of the mesh listener.
pub const DEFAULT_INBOUND: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 15006);
/// Default address of the listener the workload calls other services through.
pub const DEFAULT_OUTBOUND: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 15001);
/// Default address of the admin listener (`/metrics`, `/healthz`, `/readyz`).
pub const DEFAULT_ADMIN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 15000);

/// How to run a sidecar. `Debug` hides the join token.
#[derive(Clone, Debug)]
pub struct SidecarOptions {
    /// The identity the sidecar runs as.
    pub workload: Workload,
    /// The workload, `host:port` (normally on loopback).
    pub app: String,
    /// The control plane, `https://host:port`.
    pub control_url: String,
    /// Needed when the data directory holds no usable SVID; spent on first use.
    pub join_token: Option<Sensitive<String>>,
    pub inbound: SocketAddr,
    pub outbound: SocketAddr,
    pub admin: SocketAddr,
    /// The `host:port` registered for the inbound listener; default: its bound address, with
    /// an unspecified IP replaced by 127.0.0.1.
    pub advertise: Option<String>,
    pub data_dir: PathBuf,
    pub bus: EventBus,
    /// How long to keep trying an unreachable control plane when bootstrapping.
    pub bootstrap_patience: Duration,
    /// How long [`Sidecar::start`] waits for the first mesh snapshot before returning.
    pub first_snapshot_wait: Duration,
    /// The bearer token every inbound request must carry (see [`crate::inbound_jwt`]); none:
    /// the peer's SVID alone admits a call.
    pub inbound_jwt: Option<rampart_config::JwtAuth>,
    /// How the sidecar's events reach the collector (spool bound, `block` or `drop_oldest`,
    /// HTTPS or NATS).
    pub events: crate::EventShipping,
}

// === impl SidecarOptions ===

impl SidecarOptions {
    /// Options for `service` in namespace `default` fronting `app`, reporting to
    /// `control_url`, on the default addresses, with its data in
    /// [`SidecarOptions::default_data_dir`].
    pub fn new(service: &str, app: &str, control_url: &str) -> Self {
        Self {
            workload: Workload {
                service: service.to_owned(),
                namespace: "default".to_owned(),
            },
            app: app.to_owned(),
            control_url: control_url.to_owned(),
            join_token: None,
            inbound: DEFAULT_INBOUND,
            outbound: DEFAULT_OUTBOUND,
            admin: DEFAULT_ADMIN,
            advertise: None,
            data_dir: Self::default_data_dir(service),
            bus: EventBus::default(),
            bootstrap_patience: Duration::from_secs(30),
            first_snapshot_wait: Duration::from_secs(3),
            inbound_jwt: None,
            events: crate::EventShipping::default(),
        }
    }

    /// `./.rampart-sidecar-<service>`.
    pub fn default_data_dir(service: &str) -> PathBuf {
        PathBuf::from(format!(".rampart-sidecar-{service}"))
    }

    pub(crate) fn check(&self) -> Result<(), MeshError> {
        let invalid = |reason: String| MeshError::Options { reason };
        // Any trust domain will do: this checks the path segments only.
        let td = TrustDomain::parse("check.invalid").map_err(|e| invalid(e.to_string()))?;
        SpiffeId::workload(&td, &self.workload.namespace, &self.workload.service).map_err(|e| {
            invalid(format!(
                "service `{}` in namespace `{}`: {e}",
                self.workload.service, self.workload.namespace
            ))
        })?;
        if self.app.trim().is_empty() {
            return Err(invalid("the app address is empty".to_owned()));
        }
        for issuer in self.inbound_jwt.iter().flat_map(|j| &j.issuers) {
            if !issuer.issuer.starts_with("https://") {
                return Err(invalid(format!(
                    "token issuer `{}` must be an `https://` URL",
                    issuer.issuer
                )));
            }
            if let Some(ca) = issuer.ca.as_ref().filter(|ca| !ca.is_file()) {
                return Err(invalid(format!(
                    "token issuer CA `{}` does not exist",
                    ca.display()
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_check_names_and_the_app() {
        let ok = SidecarOptions::new("orders", "127.0.0.1:8080", "https://127.0.0.1:7400");
        ok.check().unwrap();
        assert_eq!(ok.data_dir, PathBuf::from(".rampart-sidecar-orders"));
        let mut bad = ok.clone();
        bad.workload.service = "a/b".to_owned();
        assert!(bad.check().is_err());
        let mut bad = ok.clone();
        bad.app = " ".to_owned();
        assert!(bad.check().is_err());
        let mut bad = ok.clone();
        bad.inbound_jwt = Some(crate::inbound_jwt("http://idp", None, vec![], vec![]));
        assert!(bad.check().is_err(), "a plain-HTTP issuer is refused");
        let mut bad = ok.clone();
        let missing = Some(PathBuf::from("/nonexistent/ca.pem"));
        bad.inbound_jwt = Some(crate::inbound_jwt("https://idp", missing, vec![], vec![]));
        assert!(bad.check().is_err(), "a missing CA file is refused");
        let mut good = ok.clone();
        good.inbound_jwt = Some(crate::inbound_jwt("https://idp", None, vec![], vec![]));
        good.check().unwrap();
        let mut secret = ok;
        secret.join_token = Some(Sensitive::new("rampart-join.s3cret".to_owned()));
        assert!(!format!("{secret:?}").contains("s3cret"));
    }
}

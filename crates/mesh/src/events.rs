//! A sidecar's share of the event pipeline (`docs/logs.md`): every event on its bus goes
//! through the on-disk spool in its data directory to the collector (HTTPS with the current
//! SVID as client certificate) or to NATS JetStream; in `block` mode a full spool makes the
//! gateway shed requests.

use std::sync::{Arc, Mutex};

use rampart_events::Origin;
use rampart_proxy::{GatewayHandle, ShedGate};
use rampart_ship::{
    EventSink, HttpSink, NatsOptions, NatsSink, Shipper, ShipperHandle, ShipperOptions,
    SpoolConfig, SpoolGate, TlsSource, WhenFull,
};

use crate::{MeshError, agent::Agent, bootstrap::control_alpn};

/// How a sidecar ships its events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventShipping {
    /// The spool's size bound and what happens when it is full.
    pub spool: rampart_config::SpoolConfig,
    /// Publish to this NATS JetStream (`nats://…`, stream) instead of posting to the collector.
    pub nats: Option<(String, String)>,
}

/// The spool's gate as the gateway sees it.
#[derive(Debug)]
struct Gate(SpoolGate);

impl ShedGate for Gate {
    fn is_blocked(&self) -> bool {
        self.0.is_blocked()
    }

    fn note_shed(&self) {
        self.0.note_shed();
    }
}

/// Starts shipping the sidecar's events; the spool lives in `<data dir>/spool` unless the
/// configuration names another directory.
pub(crate) async fn start(
    agent: &Arc<Agent>,
    shipping: &EventShipping,
    gateway: &GatewayHandle,
    service: &str,
) -> Result<ShipperHandle, MeshError> {
    let origin = Origin {
        component: "sidecar".to_owned(),
        name: service.to_owned(),
        identity: Some(agent.svid.spiffe_id().to_string()),
    };
    let dir = shipping
        .spool
        .dir
        .clone()
        .unwrap_or_else(|| agent.dir.path().join("spool"));
    let mut spool = SpoolConfig::new(dir);
    spool.max_bytes = shipping.spool.max_bytes.0;
    spool.when_full = match shipping.spool.when_full {
        rampart_config::WhenFull::Block => WhenFull::Block,
        rampart_config::WhenFull::DropOldest => WhenFull::DropOldest,
    };
    let sink: Arc<dyn EventSink> = match &shipping.nats {
        Some((url, stream)) => {
            let mut options = NatsOptions::new(url.clone());
            options.stream = stream.clone();
            Arc::new(
                NatsSink::connect(&options)
                    .await
                    .map_err(|e| MeshError::Options {
                        reason: format!("cannot reach NATS at {url}: {e}"),
                    })?,
            )
        }
        None => Arc::new(
            HttpSink::new(&agent.control_url, tls_source(agent)?).map_err(|e| {
                MeshError::Options {
                    reason: format!("cannot ship events to {}: {e}", agent.control_url),
                }
            })?,
        ),
    };
    let handle = Shipper::spawn(&agent.bus, origin, spool, sink, ShipperOptions::default())
        .map_err(|e| MeshError::Options {
            reason: format!("cannot open the event spool: {e}"),
        })?;
    gateway.shed_while(Arc::new(Gate(handle.gate())));
    Ok(handle)
}

/// The TLS client config of the control plane with the current SVID, rebuilt after renewal.
fn tls_source(agent: &Arc<Agent>) -> Result<TlsSource, MeshError> {
    let build = {
        let agent = agent.clone();
        move || -> Result<(String, Arc<rustls::ClientConfig>), MeshError> {
            let serial = agent.svid.serial();
            let config = rampart_identity::pinned_client_config(
                &agent.pin,
                control_alpn(),
                Some(agent.svid.clone()),
            )?;
            Ok((serial, Arc::new(config)))
        }
    };
    let first = build()?;
    let cached = Mutex::new(first);
    let agent = agent.clone();
    Ok(Arc::new(move || {
        let serial = agent.svid.serial();
        let Ok(mut cached) = cached.lock() else {
            // Poisoned only by a panic elsewhere; a fresh build is still correct.
            return build()
                .map(|(_, c)| c)
                .unwrap_or_else(|_| Arc::new(empty_config()));
        };
        if cached.0 != serial {
            match build() {
                Ok(fresh) => *cached = fresh,
                Err(error) => {
                    tracing::warn!(%error, "cannot rebuild the event shipper's TLS config; keeping the previous one")
                }
            }
        }
        cached.1.clone()
    }))
}

/// A config that trusts nothing: connections fail and the spool keeps the events.
fn empty_config() -> rustls::ClientConfig {
    rustls::ClientConfig::builder()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth()
}

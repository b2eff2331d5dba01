//! The workload identity authority: signs SVIDs with the active CA generation and records
//! each one, revokes them, lists them, and steps the CA rollover.
//!
//! Every SVID the control plane hands out goes through [`Authority::issue`]: nothing is
//! returned that was not recorded first, so that a service can always be revoked whole.

mod revoke;

pub(crate) use self::revoke::MAX_SVID_LIST;

use std::{net::SocketAddr, sync::Arc, time::Duration, time::SystemTime};

use rampart_core::spiffe::{SpiffeId, TrustDomain};
use rampart_events::{Event, EventBus, SecurityEvent, SecurityKind};
use rampart_identity::{SharedTrustBundle, expiry_time, renewal_time, serial_hex, sign_svid_csr};
use rampart_store::{IssuedSvidRecord, Store};

use crate::{
    ControlError,
    api::{self, SvidIssued},
    ca_set::CaSet,
    encoding::cert_pem,
    mesh::Mesh,
    registry::unix_ms,
};

/// The `service.name` of the events published here.
pub(crate) const SOURCE: &str = "rampart-control";

/// Issues, records and revokes SVIDs.
pub(crate) struct Authority {
    store: Store,
    bus: EventBus,
    trust_domain: TrustDomain,
    svid_ttl: Duration,
    bundle: SharedTrustBundle,
    cas: CaSet,
    mesh: Mesh,
}

/// How an SVID came to be issued.
#[derive(Clone, Debug)]
pub(crate) enum How {
    /// For a redeemed join token.
    Join,
    /// For the holder of the SVID with serial `from`, over mTLS.
    Renew { from: String },
    /// In-process, for a gateway of the control plane's own process.
    Local,
}

// === impl Authority ===

impl Authority {
    pub(crate) fn new(
        store: Store,
        bus: EventBus,
        trust_domain: TrustDomain,
        svid_ttl: Duration,
        bundle: SharedTrustBundle,
        cas: CaSet,
        mesh: Mesh,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            bus,
            trust_domain,
            svid_ttl,
            bundle,
            cas,
            mesh,
        })
    }

    pub(crate) fn mesh(&self) -> &Mesh {
        &self.mesh
    }

    /// The trust bundle SVIDs are verified against (all trusted generations).
    pub(crate) fn bundle(&self) -> &SharedTrustBundle {
        &self.bundle
    }

    /// Signs `csr` (DER; its signature verified) for `id` with the active CA generation,
    /// records the SVID and publishes its issuance.
    pub(crate) async fn issue(
        &self,
        csr: &[u8],
        id: &SpiffeId,
        how: How,
        client: Option<SocketAddr>,
    ) -> Result<SvidIssued, ControlError> {
        if id.trust_domain() != &self.trust_domain {
            return Err(ControlError::InvalidRequest {
                reason: format!("`{id}` is not in the trust domain `{}`", self.trust_domain),
            });
        }
        let signer = self.cas.active();
        let leaf = sign_svid_csr(&signer.ca, csr, id, self.svid_ttl)?;
        let expires_at = expiry_time(&leaf)?;
        let renew_after = renewal_time(&leaf)?;
        let serial = serial_hex(&leaf)?;
        let (how_name, renewed_from) = match &how {
            How::Join => ("join", None),
            How::Renew { from } => ("renew", Some(from.clone())),
            How::Local => ("local", None),
        };
        self.store
            .insert_issued_svid(&IssuedSvidRecord {
                serial: serial.clone(),
                spiffe_id: id.to_string(),
                issued_at: SystemTime::now(),
                expires_at,
                how: how_name.to_owned(),
                renewed_from,
                ca_fingerprint: signer.fingerprint.clone(),
                revoked_at: None,
            })
            .await?;
        let svid_chain_pem = std::iter::once(&leaf)
            .chain(signer.ca.chain_der())
            .map(cert_pem)
            .collect();
        let bundle_pem = self.bundle.load().roots().iter().map(cert_pem).collect();
        let (kind, detail) = match &how {
            How::Renew { from } => (
                SecurityKind::SvidRenewed,
                format!("svid renewed for {id}: serial {serial} replaces {from}"),
            ),
            _ => (
                SecurityKind::SvidIssued,
                format!("svid issued ({how_name}) for {id}: serial {serial}"),
            ),
        };
        tracing::info!(
            client = ?client,
            spiffe_id = %id,
            %serial,
            how = how_name,
            ca_generation = signer.generation,
            "svid issued"
        );
        self.publish(kind, client, detail);
        Ok(SvidIssued {
            spiffe_id: id.to_string(),
            svid_chain_pem,
            bundle_pem,
            expires_at_ms: unix_ms(expires_at),
            renew_after_ms: unix_ms(renew_after),
        })
    }

    /// The CA generations.
    pub(crate) async fn ca_status(&self) -> api::CaStatus {
        self.cas.status().await
    }

    /// One rollover step; the bundle in the mesh snapshot follows at once.
    pub(crate) async fn rollover(
        &self,
        step: api::RolloverStep,
        force: bool,
    ) -> Result<api::CaStatus, ControlError> {
        let status = self.cas.rollover(step, force).await?;
        let active = status.generations.iter().find(|g| g.active);
        let detail = format!(
            "ca rollover: {}{} (active generation {})",
            step.as_str(),
            if force { " (forced)" } else { "" },
            active.map_or(0, |g| g.generation)
        );
        self.publish(SecurityKind::CaRollover, None, detail);
        // The step is done and recorded; a failed rebuild is retried by the sweep.
        if let Err(error) = self.mesh.refresh().await {
            tracing::warn!(%error, "mesh: cannot publish the new bundle yet");
        }
        Ok(status)
    }

    fn publish(&self, kind: SecurityKind, client: Option<SocketAddr>, detail: String) {
        self.bus.publish(Event::Security(SecurityEvent::new(
            kind, SOURCE, client, detail,
        )));
    }
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority")
            .field("trust_domain", &self.trust_domain)
            .field("active_ca_generation", &self.cas.active().generation)
            .finish_non_exhaustive()
    }
}

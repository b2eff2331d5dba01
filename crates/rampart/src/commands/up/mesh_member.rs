//! The gateway of `rampart up` as a mesh member: its own SVID from the control plane in this
//! process (no join token needed: the CA is local), renewed at half-life, and the control
//! plane's bundle, revocations and registry applied to the gateway as they change. A gateway
//! cluster with `mesh: { service, namespace }` then reaches that service's sidecars over mTLS,
//! checking their SPIFFE id, exactly as sidecars reach each other.

use anyhow::Context;
use rampart_control::{ControlHandle, api::MeshSnapshot};
use rampart_core::spiffe::{SpiffeId, TrustDomain};
use rampart_identity::{SvidSource, make_csr};
use rampart_proxy::{GatewayHandle, MeshContext, MeshDirectory};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::task::JoinHandle;

/// The service name of the gateway's SPIFFE id (`spiffe://<td>/ns/default/sa/gateway`).
const SERVICE: &str = "gateway";
const NAMESPACE: &str = "default";
/// A failed renewal is retried this often while the current SVID lasts.
const RETRY: Duration = Duration::from_secs(10);

/// The gateway's identity and the view of the mesh it checks peers against.
pub struct MeshMember {
    pub context: MeshContext,
    id: SpiffeId,
}

impl MeshMember {
    /// Issues the gateway's first SVID (a fresh key that never leaves this process).
    pub async fn join(control: &ControlHandle, trust_domain: &TrustDomain) -> anyhow::Result<Self> {
        let id = SpiffeId::workload(trust_domain, NAMESPACE, SERVICE)?;
        let svid = issue(control, &id).await?;
        let (chain, key) = svid;
        let svid = SvidSource::new(chain, key).context("the gateway's SVID is not usable")?;
        let context = MeshContext {
            svid,
            bundle: control.bundle(),
            revocations: control.revocations(),
            directory: MeshDirectory::new(),
        };
        apply(&context.directory, &control.mesh_snapshot().borrow());
        Ok(Self { context, id })
    }

    /// Keeps the gateway in step with the mesh until dropped: applies every snapshot and
    /// renews the SVID at half-life.
    pub fn run(self, control: Arc<ControlHandle>, gateway: Arc<GatewayHandle>) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut snapshots = control.mesh_snapshot();
            let svid = self.context.svid.clone();
            loop {
                let renew_in = svid
                    .renew_at()
                    .duration_since(SystemTime::now())
                    .unwrap_or_default();
                tokio::select! {
                    changed = snapshots.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        let snapshot = snapshots.borrow_and_update().clone();
                        apply(&self.context.directory, &snapshot);
                        changed_now(&gateway);
                    }
                    () = tokio::time::sleep(renew_in) => {
                        // A revoked gateway is not renewed, as the control plane refuses any
                        // revoked workload; restarting `rampart up` issues a fresh identity.
                        if control.revocations().load().is_revoked(&svid.serial()) {
                            tracing::error!(serial = %svid.serial(), "the gateway's svid is revoked; not renewing it (restart to issue a new one)");
                            tokio::time::sleep(RETRY).await;
                            continue;
                        }
                        match issue(&control, &self.id).await {
                            Ok((chain, key)) => match svid.replace(chain, key) {
                                Ok(()) => {
                                    tracing::info!(serial = %svid.serial(), "gateway svid renewed");
                                    changed_now(&gateway);
                                }
                                Err(error) => tracing::error!(%error, "renewed gateway svid refused"),
                            },
                            Err(error) => {
                                let left = svid.expires_at().duration_since(SystemTime::now()).unwrap_or_default();
                                tracing::warn!(error = %format!("{error:#}"), identity_budget = ?left, "gateway svid renewal failed; retrying");
                                tokio::time::sleep(RETRY).await;
                            }
                        }
                    }
                }
            }
        })
    }
}

fn changed_now(gateway: &GatewayHandle) {
    if let Err(error) = gateway.mesh_changed() {
        tracing::error!(%error, "the gateway refused the mesh update; it keeps the last good one");
    }
}

/// The sidecars of every service, from the control plane's snapshot.
fn apply(directory: &MeshDirectory, snapshot: &MeshSnapshot) {
    directory.replace(snapshot.services.iter().map(|s| {
        let endpoints = s.endpoints.iter().map(|e| e.address.clone()).collect();
        ((s.namespace.clone(), s.service.clone()), endpoints)
    }));
}

/// A fresh key and an SVID for it, issued in-process.
async fn issue(
    control: &ControlHandle,
    id: &SpiffeId,
) -> anyhow::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let (key, csr) = make_csr()?;
    let issued = control
        .issue_local_svid(id, &csr)
        .await
        .context("cannot issue the gateway's SVID")?;
    let chain = issued
        .svid_chain_pem
        .iter()
        .map(|p| {
            pem::parse(p)
                .map(|p| CertificateDer::from(p.into_contents()))
                .context("the issued SVID is not PEM")
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let key = PrivateKeyDer::from(PrivatePkcs8KeyDer::from(key.serialize_der()));
    Ok((chain, key))
}

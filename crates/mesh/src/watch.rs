//! The mesh watch: snapshots from the control plane applied to the gateway and kept on disk.
//! When the stream ends, fails or falls silent (45 s without even a keep-alive), the agent
//! reconnects with backoff; the last snapshot keeps serving meanwhile.

use std::{sync::Arc, time::Duration};

use rampart_control::api::MeshSnapshot;

use crate::{MeshError, agent::Agent, backoff::Backoff, encoding};

/// Follows the control plane's snapshots for as long as the task runs.
pub(crate) async fn run(agent: Arc<Agent>) {
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    loop {
        match follow(&agent, &mut backoff).await {
            Ok(()) => tracing::info!("the mesh watch ended; reconnecting"),
            Err(e) if agent.refused(&e) => {}
            Err(e) => {
                agent.vitals.reachable(false);
                tracing::warn!(
                    error = %e,
                    "the mesh watch failed; serving from the last known snapshot"
                );
            }
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

/// Reads one watch stream until it ends or fails.
async fn follow(agent: &Agent, backoff: &mut Backoff) -> Result<(), MeshError> {
    // The stream itself fails when the control plane falls silent (no keep-alive).
    let mut stream = agent.control()?.watch_mesh().await?;
    agent.vitals.reachable(true);
    loop {
        match stream.next().await {
            None => return Ok(()),
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(snapshot)) => {
                backoff.reset();
                agent
                    .vitals
                    .snapshot(snapshot.version, std::time::SystemTime::now());
                on_snapshot(agent, &snapshot).await;
            }
        }
    }
}

/// Applies `snapshot`, reconfigures or notifies the gateway, installs its policy (when it
/// changed), and keeps it on disk.
pub(crate) async fn on_snapshot(agent: &Agent, snapshot: &MeshSnapshot) {
    let applied = match agent.apply(snapshot) {
        Ok(applied) => applied,
        Err(e) => {
            tracing::error!(version = snapshot.version, error = %e, "mesh snapshot refused");
            return;
        }
    };
    tracing::debug!(
        version = snapshot.version,
        services = snapshot.services.len(),
        "mesh snapshot applied"
    );
    if applied.own_revoked {
        agent.mark_refused("the mesh snapshot lists it as revoked");
    }
    if let Some(gateway) = agent.gateway() {
        if applied.services {
            let config = agent.gateway_config();
            match gateway.reload(&config) {
                Ok(version) => tracing::info!(
                    version,
                    services = snapshot.services.len(),
                    "sidecar routes updated for the mesh's services"
                ),
                Err(e) => tracing::error!(error = %e, "sidecar routes could not be updated"),
            }
        }
        crate::notify(&gateway);
    }
    crate::policy::install(agent, &snapshot.policy).await;
    if let Err(e) = agent.dir.save_snapshot(snapshot) {
        tracing::warn!(error = %e, "cannot keep the mesh snapshot");
    }
    let roots = agent.bundle.load();
    if let Err(e) = agent
        .dir
        .save_bundle(&encoding::certificates_pem(roots.roots()))
    {
        tracing::warn!(error = %e, "cannot keep the trust bundle");
    }
}

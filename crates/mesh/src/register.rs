//! Registration: the sidecar's inbound address in the control plane's endpoint registry,
//! re-sent every third of the registry's ttl as a heartbeat, and withdrawn at shutdown.

use std::{sync::Arc, time::Duration};

use rampart_control::api::{DeregisterWorkload, RegisterWorkload};

use crate::{MeshError, agent::Agent, backoff::Backoff};

/// How long a deregistration may take at shutdown.
const DEREGISTER_TIMEOUT: Duration = Duration::from_secs(3);

/// Keeps `instance` (reachable at `address`) registered for as long as the task runs.
pub(crate) async fn run(agent: Arc<Agent>, instance: String, address: String) {
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(10));
    let mut registered = false;
    loop {
        let delay = match register(&agent, &instance, &address).await {
            Ok(ttl) => {
                if !registered {
                    tracing::info!(%instance, %address, ttl_secs = ttl.as_secs(), "registered with the control plane");
                    registered = true;
                }
                backoff.reset();
                (ttl / 3).max(Duration::from_secs(1))
            }
            Err(e) => {
                let delay = backoff.next_delay();
                if !agent.refused(&e) {
                    tracing::warn!(error = %e, retry_in = ?delay, "cannot register with the control plane");
                }
                registered = false;
                delay
            }
        };
        tokio::time::sleep(delay).await;
    }
}

/// Withdraws `instance` from the registry; failures are logged (the registry forgets it after
/// its ttl anyway).
pub(crate) async fn deregister(agent: &Agent, instance: &str) {
    let request = DeregisterWorkload {
        instance: instance.to_owned(),
    };
    let call = async {
        agent
            .control()?
            .deregister_workload(&request)
            .await
            .map_err(MeshError::from)
    };
    match tokio::time::timeout(DEREGISTER_TIMEOUT, call).await {
        Ok(Ok(_)) => tracing::info!(%instance, "deregistered from the control plane"),
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot deregister from the control plane"),
        Err(_) => tracing::warn!("the control plane did not answer the deregistration in time"),
    }
}

/// One registration; the registry's ttl.
async fn register(agent: &Agent, instance: &str, address: &str) -> Result<Duration, MeshError> {
    let request = RegisterWorkload {
        instance: instance.to_owned(),
        address: address.to_owned(),
    };
    let ack = agent.control()?.register_workload(&request).await?;
    Ok(Duration::from_secs(ack.ttl_secs))
}

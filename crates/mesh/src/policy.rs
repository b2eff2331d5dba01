//! The authorization policy of the sidecar (`docs/policy.md`, "Distribution"): the sets a
//! snapshot carries are compiled off the async threads and installed in the gateway; a set
//! that does not compile is refused (`PolicyRejected`) and the installed one keeps deciding.
//! A reporter sends the gateway's dry-run disagreements to the control plane every second.

use std::{sync::Arc, time::Duration};

use rampart_control::api::ShadowBatch;
use rampart_events::{Event, SecurityEvent, SecurityKind};
use rampart_policy::Distribution;
use rampart_proxy::PolicyState;

use crate::agent::Agent;

/// How often the shadow ledger is drained and sent.
pub(crate) const SHADOW_INTERVAL: Duration = Duration::from_secs(1);
/// The most entries sent in one report; the rest of a drain is dropped (bounded memory).
const MAX_SHADOW_BATCH: usize = 1000;
/// The `service.name` of the events published here.
const SOURCE: &str = "rampart-sidecar";

/// The releases a distribution holds, by version and digest.
type Key = (Option<(u64, String)>, Option<(u64, String)>);

/// What the gateway runs, and the last set found not to compile.
#[derive(Debug, Default)]
pub(crate) struct Installed {
    current: Option<Key>,
    refused: Option<Key>,
}

/// Makes `distribution` the gateway's policy when it differs from the installed one.
/// Compiling runs off the async threads; a failure keeps the installed sets.
///
/// Without a running gateway nothing is installed (and the next call tries again).
pub(crate) async fn install(agent: &Agent, distribution: &Distribution) {
    let key = key(distribution);
    let mut installed = agent.policy.lock().await;
    if installed.current.as_ref() == Some(&key) || installed.refused.as_ref() == Some(&key) {
        return;
    }
    let Some(gateway) = agent.gateway() else {
        return;
    };
    let owned = distribution.clone();
    let compiled = tokio::task::spawn_blocking(move || PolicyState::compile(&owned)).await;
    let state = match compiled {
        Ok(Ok(state)) => state,
        Ok(Err(e)) => {
            refuse(agent, &key, &e.to_string());
            installed.refused = Some(key);
            return;
        }
        Err(e) => {
            refuse(agent, &key, &format!("compilation failed: {e}"));
            return;
        }
    };
    let required = distribution.enforced.is_some();
    if required {
        // Installed first: a configuration that requires a set never meets none.
        gateway.set_policy(state);
        reconfigure(agent, &gateway, required);
    } else {
        // Required no more first, so that no request is denied for want of a set.
        reconfigure(agent, &gateway, required);
        gateway.set_policy(state);
    }
    tracing::info!(
        enforced = ?key.0.as_ref().map(|k| k.0),
        shadow = ?key.1.as_ref().map(|k| k.0),
        "policy installed"
    );
    installed.current = Some(key);
    installed.refused = None;
}

/// Every [`SHADOW_INTERVAL`], drains the gateway's shadow ledger and sends what it held to
/// the control plane; a failed report is dropped with a warning.
pub(crate) async fn report_shadow(agent: Arc<Agent>) {
    let mut tick = tokio::time::interval(SHADOW_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(gateway) = agent.gateway() else {
            continue;
        };
        let mut entries = gateway.take_shadow_entries();
        if entries.is_empty() {
            continue;
        }
        if entries.len() > MAX_SHADOW_BATCH {
            tracing::warn!(
                dropped = entries.len() - MAX_SHADOW_BATCH,
                "too many distinct shadow disagreements; sending the first {MAX_SHADOW_BATCH}"
            );
            entries.truncate(MAX_SHADOW_BATCH);
        }
        let count = entries.len();
        let sent = match agent.control() {
            Ok(client) => client
                .report_shadow(&ShadowBatch { entries })
                .await
                .map_err(crate::MeshError::from),
            Err(e) => Err(e),
        };
        match sent {
            Ok(()) => tracing::debug!(entries = count, "shadow report sent"),
            Err(e) if agent.refused(&e) => {}
            Err(e) => tracing::warn!(error = %e, entries = count, "shadow report dropped"),
        }
    }
}

// === helpers ===

fn key(d: &Distribution) -> Key {
    let release = |r: &Option<rampart_policy::PolicyRelease>| {
        r.as_ref().map(|r| (r.version, r.digest.clone()))
    };
    (release(&d.enforced), release(&d.shadow))
}

/// Reloads the gateway's configuration when whether it requires a set changes.
fn reconfigure(agent: &Agent, gateway: &rampart_proxy::GatewayHandle, required: bool) {
    if !agent.set_policy_required(required) {
        return;
    }
    if let Err(e) = gateway.reload(&agent.gateway_config()) {
        tracing::error!(error = %e, required, "the sidecar could not change whether policy is required");
    }
}

fn refuse(agent: &Agent, key: &Key, why: &str) {
    let version = |k: &Option<(u64, String)>| k.as_ref().map(|k| k.0);
    tracing::error!(
        enforced = ?version(&key.0),
        shadow = ?version(&key.1),
        error = %why,
        "policy set refused; the installed one keeps deciding"
    );
    agent.bus.publish(Event::Security(SecurityEvent::new(
        SecurityKind::PolicyRejected,
        SOURCE,
        None,
        format!(
            "policy set refused (enforced version {:?}, shadow version {:?}): {why}",
            version(&key.0),
            version(&key.1)
        ),
    )));
}

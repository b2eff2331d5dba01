//! The gateway of `rampart up` follows the control plane's policy distribution: every new
//! [`Distribution`](rampart_policy::Distribution) is compiled and installed (a set that fails
//! to compile is logged and the previous one keeps enforcing), and once a second the gateway's
//! dry-run disagreements are handed to the control plane.

use rampart_control::ControlHandle;
use rampart_proxy::{GatewayHandle, PolicyState};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How often the shadow ledger is drained.
const SHADOW_EVERY: Duration = Duration::from_secs(1);

/// Compiles the control plane's current set, before the gateway starts: hand it to
/// [`Gateway::start_with_policy`](rampart_proxy::Gateway::start_with_policy) (`None`: it does
/// not compile here). The receiver returned sees every later change: hand it to [`run`].
pub async fn prepare(control: &ControlHandle) -> (Sets, Option<PolicyState>) {
    let mut sets = control.policy();
    let current = sets.borrow_and_update().clone();
    match crate::policy_install::compile(current).await {
        Ok(state) => (sets, Some(state)),
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "the control plane's policy set does not compile here; requests are denied until one does");
            (sets, None)
        }
    }
}

/// The control plane's policy distribution as it changes.
pub type Sets = tokio::sync::watch::Receiver<rampart_policy::Distribution>;

/// Follows the distribution and reports shadow entries until the task is aborted.
pub fn run(
    control: Arc<ControlHandle>,
    gateway: Arc<GatewayHandle>,
    mut sets: Sets,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut shadow = tokio::time::interval(SHADOW_EVERY);
        shadow.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                changed = sets.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let next = sets.borrow_and_update().clone();
                    if let Err(error) = crate::policy_install::install(&gateway, next).await {
                        tracing::error!(error = %format!("{error:#}"), "policy set refused; the previous one keeps enforcing");
                    }
                }
                _ = shadow.tick() => {
                    let entries = gateway.take_shadow_entries();
                    if !entries.is_empty() {
                        control.record_shadow(entries);
                    }
                }
            }
        }
    })
}

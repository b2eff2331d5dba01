//! Renewal: a new SVID at half-life, over mutual TLS with the current one, for a fresh key
//! each time. While the control plane cannot renew, the current SVID keeps serving until it
//! expires; each failure logs how much identity is left.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use rampart_control::ControlError;
use rampart_identity::SvidSource;

use crate::{
    MeshError,
    agent::Agent,
    backoff::Backoff,
    encoding::{self, FreshKey},
    startup::remaining,
};

/// Renews the agent's SVID at each half-life, for as long as the task runs.
pub(crate) async fn run(agent: Arc<Agent>) {
    let mut renewed = false;
    loop {
        let wait = next_wait(&agent.svid, renewed);
        tracing::debug!(in_secs = wait.as_secs(), "next SVID renewal");
        tokio::time::sleep(wait).await;
        renew_until_done(&agent).await;
        renewed = true;
    }
}

/// How long to wait before renewing `svid`: until its half-life. An SVID found past its
/// half-life at start is renewed at once; one that is past it right after a renewal (a ttl
/// shorter than the issuer's backdating) waits half of what is left, so renewals never spin.
fn next_wait(svid: &SvidSource, just_renewed: bool) -> Duration {
    let wait = svid
        .renew_at()
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    match wait.is_zero() && just_renewed {
        true => (remaining(svid) / 2).max(Duration::from_secs(1)),
        false => wait,
    }
}

/// Tries until a renewal succeeds, backing off from 1 s to 1 min.
async fn renew_until_done(agent: &Agent) {
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        match renew_once(agent).await {
            Ok(()) => {
                agent.vitals.reachable(true);
                return;
            }
            Err(e) => {
                if matches!(
                    e,
                    MeshError::Control(
                        ControlError::Unreachable { .. } | ControlError::Timeout { .. }
                    )
                ) {
                    agent.vitals.reachable(false);
                }
                let left = remaining(&agent.svid);
                let delay = backoff.next_delay();
                if agent.refused(&e) {
                    // Logged once by `refused`; keep trying quietly in case it was a mistake.
                } else if left.is_zero() {
                    tracing::error!(
                        error = %e,
                        retry_in = ?delay,
                        "SVID renewal failed and the SVID has expired: mesh peers refuse this sidecar until it renews; a new join token may be needed"
                    );
                } else {
                    tracing::warn!(
                        error = %e,
                        remaining_secs = left.as_secs(),
                        retry_in = ?delay,
                        "SVID renewal failed; the current SVID keeps serving"
                    );
                }
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// One renewal: fresh key, CSR, the control plane's answer checked, then the swap, the
/// files, and the gateway told.
pub(crate) async fn renew_once(agent: &Agent) -> Result<(), MeshError> {
    let fresh = FreshKey::generate()?;
    let issued = agent.control()?.renew_svid(&fresh.csr_pem).await?;
    let chain = encoding::certificates(&issued.svid_chain_pem, "svid")?;
    // Checked against the bundle that came with it: during a CA rollover the new root may
    // reach this agent's snapshot a moment after the first SVID it signs.
    let trust_domain = agent.svid.spiffe_id().trust_domain().clone();
    let bundle = encoding::bundle(trust_domain, &issued.bundle_pem)?;
    rampart_identity::verify_svid(&chain, &bundle, SystemTime::now())?;
    agent.svid.replace(chain.clone(), fresh.key_der())?;
    tracing::info!(
        serial = %agent.svid.serial(),
        valid_for_secs = remaining(&agent.svid).as_secs(),
        "SVID renewed"
    );
    if let Some(gateway) = agent.gateway() {
        crate::notify(&gateway);
    }
    // The new SVID serves even if it cannot be kept; a restart would then resume with the
    // old one, or need a join token once that has expired.
    if let Err(e) = agent
        .dir
        .save_svid(&encoding::certificates_pem(&chain), &fresh.key_pem)
    {
        tracing::error!(error = %e, "cannot keep the renewed SVID in the data directory");
    }
    Ok(())
}

//! Where the agent's identity comes from at start: the data directory when it holds a usable
//! SVID (a join token is single-use, so a restart must not need a new one, and the control
//! plane may be down), the join token otherwise.

use std::time::{Duration, SystemTime};

use rampart_control::{ControlError, api::MeshSnapshot, parse_token};
use rampart_core::Sensitive;
use rampart_identity::{RevocationList, SvidSource};
use tokio::time::Instant;

use crate::{
    DataDir, MeshError,
    backoff::Backoff,
    bootstrap::{self, Identity, Workload},
    encoding,
};

/// A persisted SVID is used only if it stays valid at least this long: enough to renew it
/// when the control plane answers.
const MIN_REMAINING: Duration = Duration::from_secs(30);

/// Where the identity in use came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The SVID kept in the data directory by an earlier run.
    Persisted,
    /// A new SVID for the join token.
    JoinToken,
}

/// What the agent starts from.
pub(crate) struct Start {
    pub identity: Identity,
    pub origin: Origin,
    /// The last snapshot kept, if any (last-known-good).
    pub snapshot: Option<MeshSnapshot>,
    /// Why there is no kept snapshot, when there is none.
    pub no_snapshot: String,
}

/// The persisted identity when usable, else a bootstrap with `join_token`, retried while
/// the control plane cannot be reached for up to `patience`.
pub(crate) async fn obtain(
    control_url: &str,
    join_token: Option<&Sensitive<String>>,
    workload: &Workload,
    dir: &DataDir,
    patience: Duration,
) -> Result<Start, MeshError> {
    // A snapshot that cannot be read is never used, not even in part (fail closed).
    let (snapshot, no_snapshot) = match dir.load_snapshot() {
        Ok(Some(s)) => (Some(s), String::new()),
        Ok(None) => (None, "none is kept in the data directory".to_owned()),
        Err(e) => {
            tracing::error!(error = %e, "the kept mesh snapshot is corrupt; it is not used");
            (None, format!("the kept one is corrupt: {e}"))
        }
    };
    let token_pin = join_token
        .map(|t| parse_token(t.expose()).map(|p| p.ca_fingerprint))
        .transpose()?;
    match persisted(dir, workload, snapshot.as_ref())? {
        Some(identity) if token_pin.as_ref().is_none_or(|pin| *pin == identity.pin) => {
            if join_token.is_some() {
                tracing::info!(
                    "a valid SVID is kept in the data directory; the join token is not used"
                );
            }
            return Ok(Start {
                identity,
                origin: Origin::Persisted,
                snapshot,
                no_snapshot,
            });
        }
        Some(_) => tracing::info!(
            "the join token pins another control-plane CA than the kept SVID; using the token"
        ),
        None => {}
    }
    let Some(token) = join_token else {
        return Err(MeshError::NoJoinToken {
            dir: dir.path().to_owned(),
        });
    };
    let identity = bootstrap_patiently(control_url, token, workload, dir, patience).await?;
    // A snapshot of another identity's past is no guide: start empty.
    Ok(Start {
        identity,
        origin: Origin::JoinToken,
        snapshot: None,
        no_snapshot: "a new identity starts without one".to_owned(),
    })
}

/// The identity kept in `dir`, if it is complete, of `workload`, valid for a while yet, and
/// not revoked as far as the kept snapshot knows. Anything unusable is logged and skipped;
/// only a key file open to others is an error.
fn persisted(
    dir: &DataDir,
    workload: &Workload,
    snapshot: Option<&MeshSnapshot>,
) -> Result<Option<Identity>, MeshError> {
    match load(dir, workload, snapshot) {
        Ok(found) => Ok(found),
        Err(e @ MeshError::KeyPermissions { .. }) => Err(e),
        Err(e) => {
            tracing::warn!(error = %e, dir = %dir.path().display(), "the kept SVID is not usable");
            Ok(None)
        }
    }
}

fn load(
    dir: &DataDir,
    workload: &Workload,
    snapshot: Option<&MeshSnapshot>,
) -> Result<Option<Identity>, MeshError> {
    let (Some(stored), Some(pin), Some(bundle_pem)) =
        (dir.load_svid()?, dir.load_pin()?, dir.load_bundle()?)
    else {
        return Ok(None);
    };
    let svid = SvidSource::new(stored.chain.clone(), stored.key)?;
    bootstrap::check_workload(&svid, workload)?;
    let remaining = remaining(&svid);
    if remaining < MIN_REMAINING {
        tracing::info!(expires_at = ?svid.expires_at(), "the kept SVID has expired or is about to");
        return Ok(None);
    }
    let trust_domain = svid.spiffe_id().trust_domain().clone();
    // The snapshot's bundle is the newer one when both exist.
    let bundle = match snapshot.filter(|s| !s.bundle_pem.is_empty()) {
        Some(s) => encoding::bundle(trust_domain, &s.bundle_pem)?,
        None => encoding::bundle(trust_domain, &[bundle_pem])?,
    };
    rampart_identity::verify_svid(&stored.chain, &bundle, SystemTime::now())?;
    if let Some(s) = snapshot
        && RevocationList::new(s.revoked_serials.iter().cloned()).is_revoked(&svid.serial())
    {
        tracing::warn!(serial = %svid.serial(), "the kept SVID is revoked");
        return Ok(None);
    }
    if dir.load_refused()?.as_deref() == Some(svid.serial().as_str()) {
        tracing::warn!(serial = %svid.serial(), "the control plane refused the kept SVID");
        return Ok(None);
    }
    tracing::info!(
        spiffe_id = %svid.spiffe_id(),
        serial = %svid.serial(),
        remaining_secs = remaining.as_secs(),
        "resuming with the SVID kept in the data directory"
    );
    Ok(Some(Identity { svid, bundle, pin }))
}

/// Bootstraps, retrying for up to `patience` while nothing answers at `control_url` (a
/// refused connection cannot have spent the token; any answer ends the retries).
async fn bootstrap_patiently(
    control_url: &str,
    token: &Sensitive<String>,
    workload: &Workload,
    dir: &DataDir,
    patience: Duration,
) -> Result<Identity, MeshError> {
    let deadline = Instant::now() + patience;
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(5));
    loop {
        match bootstrap::bootstrap(control_url, token, workload, dir).await {
            Err(MeshError::Control(e @ ControlError::Unreachable { .. })) => {
                let delay = backoff.next_delay();
                if Instant::now() + delay > deadline {
                    return Err(MeshError::Control(e));
                }
                tracing::warn!(error = %e, retry_in = ?delay, "cannot reach the control plane to bootstrap");
                tokio::time::sleep(delay).await;
            }
            other => return other,
        }
    }
}

/// How long `svid` stays valid from now (zero once expired).
pub(crate) fn remaining(svid: &SvidSource) -> Duration {
    svid.expires_at()
        .duration_since(SystemTime::now())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;

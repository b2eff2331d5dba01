//! First contact: turning a join token into the workload's identity.
//!
//! The token names the control plane's CA by its SHA-256 (its last part), so the agent needs
//! no other file to trust the control plane: the first connection trusts only that CA. The
//! key is generated here and never leaves the process except to its 0600 file; only the CSR
//! travels. The issued SVID is checked against the returned bundle and against the identity
//! this agent runs as before anything is kept.

use std::{sync::Arc, time::SystemTime};

use rampart_control::{ControlClient, ControlError, api::SvidIssued, parse_token};
use rampart_core::Sensitive;
use rampart_identity::{SvidSource, TrustBundle};

use crate::{
    DataDir, MeshError,
    encoding::{self, FreshKey},
};

/// The workload an agent runs as: the `sa` and `ns` of its SPIFFE id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    pub service: String,
    pub namespace: String,
}

/// A workload's identity: its SVID, the trust bundle and the pinned control-plane CA.
#[derive(Debug)]
pub struct Identity {
    pub svid: Arc<SvidSource>,
    pub bundle: TrustBundle,
    /// The hex SHA-256 of the control plane's CA certificate, pinned on every connection.
    pub pin: String,
}

/// The ALPN offered to the control plane.
pub(crate) fn control_alpn() -> Vec<Vec<u8>> {
    vec![b"h2".to_vec(), b"http/1.1".to_vec()]
}

/// Redeems `join_token` at `control_url` for an SVID of `workload`, keeps it (with the key,
/// the bundle and the pin) in `dir`, and returns it.
///
/// A token the control plane refuses (unknown, used, expired) is [`MeshError::Refused`]; a
/// token for another workload is [`MeshError::WrongIdentity`] (the token is spent then).
pub async fn bootstrap(
    control_url: &str,
    join_token: &Sensitive<String>,
    workload: &Workload,
    dir: &DataDir,
) -> Result<Identity, MeshError> {
    let parsed = parse_token(join_token.expose())?;
    let pin = parsed.ca_fingerprint;
    let tls = rampart_identity::pinned_client_config(&pin, control_alpn(), None)?;
    let client = ControlClient::from_tls_config(control_url, None, tls)?;
    let fresh = FreshKey::generate()?;
    let issued = client
        .request_svid(join_token.expose(), &fresh.csr_pem)
        .await
        .map_err(refusal)?;
    let identity = accept(&issued, &fresh, workload, pin)?;
    dir.save_pin(&identity.pin)?;
    dir.save_bundle(&encoding::certificates_pem(identity.bundle.roots()))?;
    dir.save_svid(
        &encoding::certificates_pem(&identity.svid.chain()),
        &fresh.key_pem,
    )?;
    tracing::info!(
        spiffe_id = %identity.svid.spiffe_id(),
        serial = %identity.svid.serial(),
        "SVID issued for the join token"
    );
    Ok(identity)
}

/// Checks an issued SVID against its bundle and `workload`, and builds the identity from it.
pub(crate) fn accept(
    issued: &SvidIssued,
    fresh: &FreshKey,
    workload: &Workload,
    pin: String,
) -> Result<Identity, MeshError> {
    let chain = encoding::certificates(&issued.svid_chain_pem, "svid")?;
    let svid = SvidSource::new(chain.clone(), fresh.key_der())?;
    check_workload(&svid, workload)?;
    let id = svid.spiffe_id();
    let bundle = encoding::bundle(id.trust_domain().clone(), &issued.bundle_pem)?;
    rampart_identity::verify_svid(&chain, &bundle, SystemTime::now())?;
    Ok(Identity { svid, bundle, pin })
}

/// Whether `svid` is the identity of `workload`.
pub(crate) fn check_workload(svid: &SvidSource, workload: &Workload) -> Result<(), MeshError> {
    let id = svid.spiffe_id();
    if id.service() == Some(workload.service.as_str())
        && id.namespace() == Some(workload.namespace.as_str())
    {
        return Ok(());
    }
    Err(MeshError::WrongIdentity {
        expected: format!(
            "spiffe://{}/ns/{}/sa/{}",
            id.trust_domain(),
            workload.namespace,
            workload.service
        ),
        found: id.to_string(),
    })
}

/// Answers that mean "no" (rather than "cannot ask") become [`MeshError::Refused`].
fn refusal(e: ControlError) -> MeshError {
    match e {
        ControlError::Unauthorized { .. }
        | ControlError::Http { .. }
        | ControlError::RateLimited { .. } => MeshError::Refused(e),
        other => MeshError::Control(other),
    }
}

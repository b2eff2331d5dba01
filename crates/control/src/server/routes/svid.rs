//! `POST /v1/identity/svid` and `POST /v1/identity/svid/renew`: workload identities.
//!
//! A new workload sends a join token and a CSR for a key it generated itself (the key never
//! leaves it) and receives its X.509-SVID and the trust bundle. It later renews with a new
//! CSR over mTLS, authenticated by its current SVID. Neither route takes the admin token (see
//! the auth layer); each checks its own credential.

use std::net::SocketAddr;

use axum::{
    Extension, Json, Router,
    body::Bytes,
    extract::{ConnectInfo, State, rejection::BytesRejection},
    routing::post,
};
use rampart_core::spiffe::SpiffeId;
use rampart_events::{Event, SecurityEvent, SecurityKind};
use rampart_identity::{check_csr, csr_requested_names};

use crate::{
    ControlError,
    api::{RenewSvid, RequestSvid, SvidIssued},
    authority::How,
    server::{
        auth,
        listener::PeerCertificates,
        peer,
        reply::{ApiError, parse_json},
        state::SharedState,
    },
};

/// Where a new workload asks for its first SVID.
pub(crate) const ISSUE_PATH: &str = "/v1/identity/svid";
/// Where a workload renews its SVID.
pub(crate) const RENEW_PATH: &str = "/v1/identity/svid/renew";

/// PEM labels accepted for a CSR.
const CSR_LABELS: &[&str] = &["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"];

type Client = Option<Extension<ConnectInfo<SocketAddr>>>;

pub(super) fn routes() -> Router<SharedState> {
    Router::new()
        .route(ISSUE_PATH, post(issue))
        .route(RENEW_PATH, post(renew))
}

/// `200` with the SVID for the join token's identity.
///
/// The CSR is checked before the token is redeemed, so a bad CSR (`400`) does not burn the
/// token. A refused token (malformed, unknown, already used, expired) is `401`; the refusal
/// is published as a [`SecurityKind::JoinTokenRejected`] event and counts as a failed
/// authentication of the client address.
async fn issue(
    State(state): State<SharedState>,
    client: Client,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<SvidIssued>, ApiError> {
    let client = client.map(|Extension(ConnectInfo(addr))| addr);
    let request: RequestSvid = parse_json(body)?;
    let csr = csr_der(&request.csr_pem)?;
    let id = match state
        .join_tokens
        .redeem_from(&request.join_token, client)
        .await
    {
        Ok(id) => id,
        Err(ControlError::JoinTokenRejected { reason }) => {
            auth::record_failure(&state, client);
            return Err(ApiError::unauthenticated(format!(
                "join token rejected: {reason}"
            )));
        }
        Err(error) => return Err(error.into()),
    };
    // After the redemption: a token used with a CSR asking for another identity is spent.
    only_asks_for(&state, &csr, &id, client)?;
    let issued = state.authority.issue(&csr, &id, How::Join, client).await?;
    Ok(Json(issued))
}

/// `200` with a new SVID for exactly the identity of the client's current SVID, which must
/// be presented as the TLS client certificate, still verify against the trust bundle and not
/// be revoked (`401` otherwise, published as an event).
async fn renew(
    State(state): State<SharedState>,
    client: Client,
    peer: Option<Extension<PeerCertificates>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<SvidIssued>, ApiError> {
    let client = client.map(|Extension(ConnectInfo(addr))| addr);
    let peer = peer::authenticate(&state, peer, client, "svid renewal")?;
    let request: RenewSvid = parse_json(body)?;
    let csr = csr_der(&request.csr_pem)?;
    only_asks_for(&state, &csr, &peer.id, client)?;
    let how = How::Renew { from: peer.serial };
    let issued = state.authority.issue(&csr, &peer.id, how, client).await?;
    Ok(Json(issued))
}

/// The `service.name` of the events published here.
const SOURCE: &str = "rampart-control";

// === helpers ===

/// Refuses (`400`, published as [`SecurityKind::SvidRefused`]) a CSR that asks for any name
/// but `id`: the identity comes from the credential, and a CSR asking for another one is an
/// attempt to get it. A CSR naming nothing, or exactly `id` as its URI SAN, is fine.
fn only_asks_for(
    state: &SharedState,
    csr: &[u8],
    id: &SpiffeId,
    client: Option<SocketAddr>,
) -> Result<(), ApiError> {
    let allowed = format!("URI:{id}");
    let names = csr_requested_names(csr).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let extra: Vec<&String> = names.iter().filter(|n| **n != allowed).collect();
    if extra.is_empty() {
        return Ok(());
    }
    let listed = extra
        .iter()
        .take(4)
        .map(|n| n.chars().take(128).collect::<String>())
        .collect::<Vec<_>>()
        .join(", ");
    let detail = format!(
        "csr asks for names its credential does not allow ({listed}); the credential is for {id}"
    );
    tracing::warn!(client = ?client, spiffe_id = %id, "svid refused: {detail}");
    state.bus.publish(Event::Security(SecurityEvent::new(
        SecurityKind::SvidRefused,
        SOURCE,
        client,
        detail.clone(),
    )));
    Err(ApiError::bad_request(detail))
}

/// The DER of a PEM CSR whose signature verifies (`400` otherwise).
fn csr_der(csr_pem: &str) -> Result<Vec<u8>, ApiError> {
    let pem = pem::parse(csr_pem)
        .map_err(|e| ApiError::bad_request(format!("`csr_pem` is not PEM: {e}")))?;
    if !CSR_LABELS.contains(&pem.tag()) {
        return Err(ApiError::bad_request(format!(
            "`csr_pem` holds a `{}`, not a `CERTIFICATE REQUEST`",
            pem.tag()
        )));
    }
    let der = pem.into_contents();
    check_csr(&der).map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(der)
}

//! `POST /v1/identity/svid` and `POST /v1/identity/svid/renew`: workload identities.
//!
//! A new workload sends a join token and a CSR for a key it generated itself (the key never
//! leaves it) and receives its X.509-SVID and the trust bundle. It later renews with a new
//! CSR over mTLS, authenticated by its current SVID. Neither route takes the admin token (see
//! the auth layer); each checks its own credential.

use std::{net::SocketAddr, time::SystemTime};

use axum::{
    Extension, Json, Router,
    body::Bytes,
    extract::{ConnectInfo, State, rejection::BytesRejection},
    routing::post,
};
use rampart_core::spiffe::SpiffeId;
use rampart_events::{Event, SecurityEvent, SecurityKind};
use rampart_identity::{
    SvidError, check_csr, expiry_time, renewal_time, sign_svid_csr, verify_svid,
};
use rustls::pki_types::CertificateDer;

use crate::{
    ControlError,
    api::{RenewSvid, RequestSvid, SvidIssued},
    registry::unix_ms,
    server::{
        auth,
        listener::PeerCertificates,
        reply::{ApiError, parse_json},
        state::SharedState,
    },
};

/// Where a new workload asks for its first SVID.
pub(crate) const ISSUE_PATH: &str = "/v1/identity/svid";
/// Where a workload renews its SVID.
pub(crate) const RENEW_PATH: &str = "/v1/identity/svid/renew";

/// The `service.name` of the events published here.
const SOURCE: &str = "rampart-control";
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
    sign(&state, &csr, &id, client, "join token").map(Json)
}

/// `200` with a new SVID for exactly the identity of the client's current SVID, which must
/// be presented as the TLS client certificate and still verify against the trust bundle
/// (`401` otherwise).
async fn renew(
    State(state): State<SharedState>,
    client: Client,
    peer: Option<Extension<PeerCertificates>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<SvidIssued>, ApiError> {
    let client = client.map(|Extension(ConnectInfo(addr))| addr);
    let id = match peer {
        None => Err(SvidError::NoCertificate),
        // Verified again (not only at the handshake): the connection may be older than the
        // SVID's expiry, or resumed.
        Some(Extension(PeerCertificates(chain))) => {
            verify_svid(&chain, &state.bundle, SystemTime::now())
        }
    };
    let id = match id {
        Ok(id) => id,
        Err(error) => {
            tracing::warn!(client = ?client, %error, "svid renewal refused");
            state.bus.publish(Event::Security(SecurityEvent::new(
                SecurityKind::AuthFailed,
                SOURCE,
                client,
                format!("svid renewal refused: {error}"),
            )));
            auth::record_failure(&state, client);
            return Err(ApiError::unauthenticated(format!(
                "renewal needs the current SVID as the tls client certificate: {error}"
            )));
        }
    };
    let request: RenewSvid = parse_json(body)?;
    let csr = csr_der(&request.csr_pem)?;
    sign(&state, &csr, &id, client, "renewal").map(Json)
}

// === helpers ===

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

/// Signs `csr` for `id` and publishes the issuance.
fn sign(
    state: &SharedState,
    csr: &[u8],
    id: &SpiffeId,
    client: Option<SocketAddr>,
    how: &str,
) -> Result<SvidIssued, ApiError> {
    let bad_csr = |e: SvidError| match e {
        SvidError::InvalidCsr { .. }
        | SvidError::CsrSignature
        | SvidError::UnsupportedKey { .. } => ApiError::bad_request(e.to_string()),
        e => ApiError::from(ControlError::Svid(e)),
    };
    let leaf = sign_svid_csr(&state.ca, csr, id, state.svid_ttl).map_err(bad_csr)?;
    let expires_at = expiry_time(&leaf).map_err(bad_csr)?;
    let renew_after = renewal_time(&leaf).map_err(bad_csr)?;
    let svid_chain_pem = std::iter::once(&leaf)
        .chain(state.ca.chain_der())
        .map(cert_pem)
        .collect();
    let bundle_pem = state.bundle.roots().iter().map(cert_pem).collect();
    tracing::info!(client = ?client, spiffe_id = %id, how, "svid issued");
    state.bus.publish(Event::Security(SecurityEvent::new(
        SecurityKind::SvidIssued,
        SOURCE,
        client,
        format!("svid issued ({how}) for {id}"),
    )));
    Ok(SvidIssued {
        spiffe_id: id.to_string(),
        svid_chain_pem,
        bundle_pem,
        expires_at_ms: unix_ms(expires_at),
        renew_after_ms: unix_ms(renew_after),
    })
}

fn cert_pem(der: &CertificateDer<'_>) -> String {
    pem::encode(&pem::Pem::new("CERTIFICATE", der.to_vec()))
}

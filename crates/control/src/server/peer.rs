//! Authentication of a workload by its current SVID, presented as the TLS client certificate:
//! the credential of renewal and of every mesh route.
//!
//! The chain is verified again at request time against the current bundle (the connection
//! may be older than the SVID's expiry, resumed, or from before a CA was retired), then the
//! serial is checked against the revoked ones.

use std::{net::SocketAddr, time::SystemTime};

use axum::Extension;
use rampart_core::spiffe::SpiffeId;
use rampart_events::{Event, SecurityEvent, SecurityKind};
use rampart_identity::{SvidError, expiry_time, serial_hex, verify_svid};

use super::{auth, listener::PeerCertificates, reply::ApiError, state::SharedState};
use crate::authority::SOURCE;

/// A workload that proved it holds a valid, unrevoked SVID.
#[derive(Clone, Debug)]
pub(crate) struct Peer {
    pub(crate) id: SpiffeId,
    /// The serial of the SVID it presented.
    pub(crate) serial: String,
    /// When that SVID expires.
    pub(crate) expires_at: SystemTime,
}

/// The workload behind the client certificate `peer`, for `what` (e.g. `svid renewal`), or
/// `401`.
///
/// A certificate that does not verify is published as [`SecurityKind::AuthFailed`] and counts
/// against the client address's brake; a revoked one is published as
/// [`SecurityKind::SvidRefused`] and does not count: it proves possession of a key the
/// control plane once certified, it is not a guess, and its holder's neighbours on the same
/// address must not be blocked for it.
pub(crate) fn authenticate(
    state: &SharedState,
    peer: Option<Extension<PeerCertificates>>,
    client: Option<SocketAddr>,
    what: &str,
) -> Result<Peer, ApiError> {
    let verified = match &peer {
        None => Err(SvidError::NoCertificate),
        Some(Extension(PeerCertificates(chain))) => {
            let bundle = state.authority.bundle().load();
            verify_svid(chain, &bundle, SystemTime::now()).and_then(|id| {
                let leaf = chain.first().ok_or(SvidError::NoCertificate)?;
                Ok((id, serial_hex(leaf)?, expiry_time(leaf)?, leaf))
            })
        }
    };
    let (id, serial, expires_at, leaf) = match verified {
        Ok(verified) => verified,
        Err(error) => {
            tracing::warn!(client = ?client, %error, "{what} refused");
            publish(
                state,
                SecurityKind::AuthFailed,
                client,
                format!("{what} refused: {error}"),
            );
            auth::record_failure(state, client);
            return Err(ApiError::unauthenticated(format!(
                "{what} needs the current SVID as the tls client certificate: {error}"
            )));
        }
    };
    if state.authority.mesh().is_revoked(leaf) {
        let error = SvidError::Revoked { serial };
        tracing::warn!(client = ?client, spiffe_id = %id, %error, "{what} refused");
        publish(
            state,
            SecurityKind::SvidRefused,
            client,
            format!("{what} refused for {id}: revoked ({error})"),
        );
        return Err(ApiError::unauthenticated(format!(
            "{what} refused: {error}; a new join token is needed"
        )));
    }
    Ok(Peer {
        id,
        serial,
        expires_at,
    })
}

fn publish(state: &SharedState, kind: SecurityKind, client: Option<SocketAddr>, detail: String) {
    state.bus.publish(Event::Security(SecurityEvent::new(
        kind, SOURCE, client, detail,
    )));
}

//! Accepting a connection on a mesh listener: the mutual TLS handshake with the current
//! generation's configuration, then the post-handshake peer check (a resumed session skipped
//! the verifier), then registration so that a later revocation closes the connection.

use super::conns::Registration;
use super::{MeshRt, Side, refusal};
use http::HeaderValue;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;

/// The authenticated peer of an inbound mesh connection.
#[derive(Debug)]
pub struct MeshPeer {
    /// The peer's SPIFFE id: the principal of its requests.
    pub id: Arc<str>,
    /// `id`, ready to send upstream as `x-rampart-peer-id`.
    pub header: HeaderValue,
    /// Closes the connection when the peer is revoked.
    pub registration: Registration,
}

/// Runs the handshake (bounded by `timeout`) and checks the peer. `None` means refused: the
/// refusal is counted and reported, and the caller drops the connection.
pub async fn accept<IO>(
    mesh: &MeshRt,
    io: IO,
    client: SocketAddr,
    listener: &str,
    timeout: Duration,
) -> Option<(TlsStream<IO>, MeshPeer)>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let acceptor = mesh.acceptor();
    let tls = match tokio::time::timeout(timeout, acceptor.accept(io)).await {
        Ok(Ok(tls)) => tls,
        failed => {
            let (reason, detail) = match &failed {
                Ok(Err(e)) => (refusal::of_handshake(e), e.to_string()),
                _ => ("handshake_timeout", "no handshake in time".to_owned()),
            };
            mesh.metrics
                .counter(
                    "rampart_tls_handshake_errors_total",
                    &[("listener", listener)],
                )
                .increment(1);
            mesh.refuse(Side::Inbound, reason, Some(client), &detail);
            return None;
        }
    };
    let conn = tls.get_ref().1;
    // Registered before the check: a revocation stored after the check read the list then
    // finds the connection in the registry and closes it.
    let serial = conn
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|leaf| rampart_identity::serial_hex(leaf).ok())
        .unwrap_or_default();
    let registration = mesh.conns.register(serial);
    let checked =
        rampart_identity::check_peer(conn, &mesh.ctx.revocations.load(), SystemTime::now());
    let id = match checked {
        Ok(id) => id,
        Err(e) => {
            mesh.refuse(
                Side::Inbound,
                refusal::of_svid(&e),
                Some(client),
                &e.to_string(),
            );
            return None;
        }
    };
    let id_text = id.to_string();
    let Ok(header) = HeaderValue::from_str(&id_text) else {
        mesh.refuse(
            Side::Inbound,
            "bad_certificate",
            Some(client),
            "unusable id",
        );
        return None;
    };
    let resumed = conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
    mesh.count_handshake(Side::Inbound, resumed);
    Some((
        tls,
        MeshPeer {
            id: Arc::from(id_text),
            header,
            registration,
        },
    ))
}

//! Opening a mesh connection to one sidecar: TCP, mutual TLS expecting exactly the target
//! service's SPIFFE id, then the post-handshake peer check (a resumed session skipped the
//! verifier). Each endpoint has its own client configuration, so its own session cache.

use super::{MeshRt, Side, refusal};
use rampart_core::spiffe::SpiffeId;
use rustls::pki_types::ServerName;
use std::sync::Arc;
use std::time::SystemTime;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// ALPN of mesh clusters: the data plane speaks HTTP/1.1 to sidecars.
const OUTBOUND_ALPN: &[u8] = b"http/1.1";

/// Connects to one sidecar of a mesh service.
pub struct MeshConnector {
    mesh: Arc<MeshRt>,
    /// `host:port` of the sidecar's inbound listener.
    authority: Arc<str>,
    /// SVIDs carry no DNS names: this only names the session in the cache (and is sent as SNI).
    server_name: ServerName<'static>,
    tls: TlsConnector,
    expected: SpiffeId,
}

/// Why the post-handshake check refused the server.
#[derive(Debug, thiserror::Error)]
#[error("mesh peer refused: {0}")]
struct PeerRefused(String);

// === impl MeshConnector ===

impl MeshConnector {
    /// A connector to `authority` for the current TLS generation of `mesh`, accepting only
    /// `expected`.
    pub fn new(
        mesh: Arc<MeshRt>,
        authority: &str,
        expected: SpiffeId,
    ) -> Result<Self, rampart_identity::IdentityError> {
        let ctx = &mesh.ctx;
        let config = rampart_identity::mesh_client_config(
            ctx.svid.clone(),
            expected.clone(),
            ctx.bundle.clone(),
            ctx.revocations.clone(),
            vec![OUTBOUND_ALPN.to_vec()],
        )?;
        let server_name = server_name(&expected);
        Ok(Self {
            mesh,
            authority: Arc::from(authority),
            server_name,
            tls: TlsConnector::from(Arc::new(config)),
            expected,
        })
    }

    /// Opens and checks a connection. A refused server is counted and reported.
    pub async fn connect(&self) -> Result<TlsStream<TcpStream>, BoxError> {
        let tcp = TcpStream::connect(&*self.authority).await?;
        let _ = tcp.set_nodelay(true);
        let tls = match self.tls.connect(self.server_name.clone(), tcp).await {
            Ok(tls) => tls,
            Err(e) => {
                self.refuse(refusal::of_handshake(&e), &e.to_string());
                return Err(Box::new(e));
            }
        };
        let conn = tls.get_ref().1;
        let checked = rampart_identity::check_peer(
            conn,
            &self.mesh.ctx.revocations.load(),
            SystemTime::now(),
        );
        match checked {
            Ok(id) if id == self.expected => {}
            Ok(id) => {
                let detail = format!("expected `{}`, got `{id}`", self.expected);
                self.refuse("wrong_identity", &detail);
                return Err(Box::new(PeerRefused(detail)));
            }
            Err(e) => {
                self.refuse(refusal::of_svid(&e), &e.to_string());
                return Err(Box::new(PeerRefused(e.to_string())));
            }
        }
        let resumed = conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
        self.mesh.count_handshake(Side::Outbound, resumed);
        Ok(tls)
    }

    fn refuse(&self, reason: &'static str, detail: &str) {
        let detail = format!("upstream `{}`: {detail}", self.authority);
        self.mesh.refuse(Side::Outbound, reason, None, &detail);
    }
}

impl std::fmt::Debug for MeshConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeshConnector")
            .field("authority", &self.authority)
            .field("expected", &self.expected.to_string())
            .finish_non_exhaustive()
    }
}

/// `<service>.<namespace>` when that is a DNS name; otherwise an address, which sends no SNI.
fn server_name(expected: &SpiffeId) -> ServerName<'static> {
    let name = match (expected.service(), expected.namespace()) {
        (Some(s), Some(ns)) => format!("{s}.{ns}").to_ascii_lowercase(),
        _ => String::new(),
    };
    ServerName::try_from(name).unwrap_or(ServerName::IpAddress(
        std::net::IpAddr::from([127, 0, 0, 1]).into(),
    ))
}

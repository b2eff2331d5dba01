//! A throwaway mesh: a CA in a temporary directory, SVIDs issued the way workloads get them
//! (local key, CSR, signature), sidecar-shaped gateways and direct mesh clients.

use crate::support::{Gw, H1, config};
use rampart_core::spiffe::{SpiffeId, TrustDomain};
use rampart_identity::{
    DEFAULT_SVID_TTL, LocalCa, RevocationList, SharedRevocations, SharedTrustBundle, SvidSource,
    TrustBundle, make_csr, mesh_client_config, sign_svid_csr,
};
use rampart_proxy::{MeshContext, MeshDirectory};
use rcgen::{
    CertificateParams, DistinguishedName, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
    SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

pub const TRUST_DOMAIN: &str = "mesh.test";

/// A CA in a temporary directory.
pub struct Ca {
    pub ca: LocalCa,
    _dir: TempDir,
}

/// An SVID with its key, as a workload holds it.
pub struct Svid {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

/// A mesh member's context, with handles to change it.
pub struct Member {
    pub ctx: MeshContext,
}

// === impl Ca ===

impl Ca {
    pub fn new() -> Self {
        let dir = TempDir::new().unwrap();
        let ca = LocalCa::load_or_create(dir.path()).unwrap();
        Self { ca, _dir: dir }
    }

    /// The bundle trusting this CA alone.
    pub fn bundle(&self) -> SharedTrustBundle {
        let mut bundle = TrustBundle::new(td());
        bundle.add(self.ca.cert_der().clone()).unwrap();
        bundle.shared()
    }

    /// An SVID for `service` in the `default` namespace, issued from a CSR.
    pub fn issue(&self, service: &str) -> Svid {
        let (key, csr) = make_csr().unwrap();
        let cert = sign_svid_csr(&self.ca, &csr, &id(service), DEFAULT_SVID_TTL).unwrap();
        Svid {
            chain: vec![cert],
            key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        }
    }

    /// A well-formed SVID for `service` whose validity ended an hour ago.
    pub fn issue_expired(&self, service: &str) -> Svid {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.subject_alt_names = vec![SanType::URI(
            id(service).to_string().as_str().try_into().unwrap(),
        )];
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let now = SystemTime::now();
        params.not_before = (now - Duration::from_secs(7_200)).into();
        params.not_after = (now - Duration::from_secs(3_600)).into();
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = self.ca.sign(&params, &key).unwrap();
        Svid {
            chain: vec![cert],
            key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        }
    }
}

// === impl Svid ===

impl Svid {
    pub fn source(&self) -> Arc<SvidSource> {
        SvidSource::new(self.chain.clone(), self.key.clone_key()).unwrap()
    }

    pub fn serial(&self) -> String {
        rampart_identity::serial_hex(&self.chain[0]).unwrap()
    }
}

// === impl Member ===

impl Member {
    /// A member holding `svid`, trusting `bundle`, nothing revoked, an empty directory.
    pub fn new(svid: &Svid, bundle: SharedTrustBundle) -> Self {
        Self {
            ctx: MeshContext {
                svid: svid.source(),
                bundle,
                revocations: SharedRevocations::new(RevocationList::default()),
                directory: MeshDirectory::new(),
            },
        }
    }
}

pub fn td() -> TrustDomain {
    TrustDomain::parse(TRUST_DOMAIN).unwrap()
}

/// `spiffe://mesh.test/ns/default/sa/<service>`.
pub fn id(service: &str) -> SpiffeId {
    SpiffeId::workload(&td(), "default", service).unwrap()
}

/// A gateway in the shape of a sidecar's inbound side: mesh listener `inbound` → `app`.
pub async fn inbound_sidecar(member: &Member, app: SocketAddr) -> Gw {
    let cfg = config(&format!(
        r#"
        listeners: [{{ name: inbound, address: "127.0.0.1:0", mesh: true }}]
        clusters: [{{ name: app, endpoints: ["{app}"] }}]
        routes: [{{ name: inbound, listeners: [inbound], cluster: app }}]
        "#
    ));
    Gw::start_mesh(cfg, member.ctx.clone()).await
}

/// A gateway in the shape of a sidecar's outbound side: plain listener `outbound`, a route
/// `Host: orders` → mesh cluster `orders` (endpoints from the directory), keeping at most
/// `max_idle` idle connections per endpoint.
pub async fn outbound_sidecar(member: &Member, max_idle: usize) -> Gw {
    let cfg = config(&format!(
        r#"
        listeners: [{{ name: outbound, address: "127.0.0.1:0" }}]
        clusters: [{{ name: orders, mesh: {{ service: orders }}, max_idle_per_endpoint: {max_idle} }}]
        routes: [{{ name: to-orders, listeners: [outbound], match: {{ host: orders }}, cluster: orders }}]
        "#
    ));
    Gw::start_mesh(cfg, member.ctx.clone()).await
}

/// Points the directory of `member` at `addr` for service `orders`.
pub fn route_orders_to(member: &Member, addr: SocketAddr) {
    member
        .ctx
        .directory
        .set("default", "orders", vec![addr.to_string()]);
}

/// A client configuration presenting `svid`, expecting `expected` from the server.
pub fn client_config(
    svid: &Svid,
    expected: &str,
    bundle: SharedTrustBundle,
    alpn: &[&[u8]],
) -> rustls::ClientConfig {
    mesh_client_config(
        svid.source(),
        id(expected),
        bundle,
        SharedRevocations::default(),
        alpn.iter().map(|p| p.to_vec()).collect(),
    )
    .unwrap()
}

/// A direct mTLS connection to a mesh listener.
pub async fn connect(
    addr: SocketAddr,
    config: rustls::ClientConfig,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("orders.default").unwrap();
    tokio::time::timeout(
        Duration::from_secs(10),
        TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}

/// An HTTP/1.1 client over a direct mTLS connection.
pub async fn h1_client(addr: SocketAddr, config: rustls::ClientConfig) -> H1 {
    H1::handshake(connect(addr, config).await.unwrap()).await
}

/// Whether the mesh listener at `addr` refuses a client with `config`: the handshake fails,
/// or (TLS 1.3: the server judges the client's certificate after the client is done) a
/// request gets no HTTP response.
pub async fn refused(addr: SocketAddr, config: rustls::ClientConfig) -> bool {
    let Ok(mut tls) = connect(addr, config).await else {
        return true;
    };
    let exchange = async {
        tls.write_all(b"GET / HTTP/1.1\r\nHost: orders\r\n\r\n")
            .await?;
        let mut buf = vec![0u8; 256];
        let n = tls.read(&mut buf).await?;
        Ok::<_, std::io::Error>(buf[..n].to_vec())
    };
    match tokio::time::timeout(Duration::from_secs(10), exchange).await {
        Ok(Ok(bytes)) => !bytes.starts_with(b"HTTP/1.1"),
        Ok(Err(_)) => true,
        Err(_) => panic!("neither refused nor answered in time"),
    }
}

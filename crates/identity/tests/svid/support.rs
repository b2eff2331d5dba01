//! A throwaway CA, SVIDs and loopback mTLS servers shared by the tests.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, SystemTime},
};

use rampart_core::spiffe::{SpiffeId, TrustDomain};
use rampart_identity::{
    DEFAULT_SVID_TTL, LocalCa, SharedTrustBundle, SpiffeClientVerifier, TrustBundle, make_csr,
    mtls_client_config, mtls_server_config, peer_spiffe_id, sign_svid_csr,
};
use rcgen::{
    CertificateParams, DistinguishedName, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256, SanType,
};
use rustls::{
    ClientConfig,
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName},
};
use tempfile::TempDir;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::mpsc,
};
use tokio_rustls::{TlsAcceptor, TlsConnector, client::TlsStream};

/// A CA in a temporary directory.
pub struct TestCa {
    pub ca: LocalCa,
    _dir: TempDir,
}

/// An SVID with its key, as a workload holds it.
pub struct Svid {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

pub fn test_ca() -> TestCa {
    let dir = TempDir::new().unwrap();
    let ca = LocalCa::load_or_create(dir.path()).unwrap();
    TestCa { ca, _dir: dir }
}

pub fn td() -> TrustDomain {
    TrustDomain::parse("td").unwrap()
}

/// `spiffe://td/ns/a/sa/<service>`.
pub fn id(service: &str) -> SpiffeId {
    SpiffeId::workload(&td(), "a", service).unwrap()
}

pub fn bundle(cas: &[&TestCa]) -> TrustBundle {
    let mut bundle = TrustBundle::new(td());
    for ca in cas {
        bundle.add(ca.ca.cert_der().clone()).unwrap();
    }
    bundle
}

/// Issues an SVID the way a workload gets one: local key, CSR, signature by the CA.
pub fn issue(ca: &TestCa, id: &SpiffeId) -> Svid {
    let (key, csr) = make_csr().unwrap();
    let cert = sign_svid_csr(&ca.ca, &csr, id, DEFAULT_SVID_TTL).unwrap();
    Svid {
        chain: vec![cert],
        key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
    }
}

/// Parameters of a well-formed SVID for `uri`, for tests to spoil.
pub fn leaf_params(uris: &[&str]) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.subject_alt_names = uris
        .iter()
        .map(|u| SanType::URI((*u).try_into().unwrap()))
        .collect();
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let now = SystemTime::now();
    params.not_before = (now - Duration::from_secs(60)).into();
    params.not_after = (now + Duration::from_secs(3_600)).into();
    params
}

/// Signs `params` with the CA for a fresh key.
pub fn sign(ca: &TestCa, params: &CertificateParams) -> CertificateDer<'static> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    ca.ca.sign(params, &key).unwrap()
}

/// What the server saw of one connection: the client's id, or why the handshake failed.
pub type Accepted = Result<Option<SpiffeId>, String>;

/// Starts an mTLS echo server presenting `svid` and verifying clients against `bundle`.
/// Each accepted connection reports on the returned channel.
pub async fn serve(
    svid: &Svid,
    bundle: SharedTrustBundle,
) -> (SocketAddr, mpsc::Receiver<Accepted>) {
    let config = mtls_server_config(
        svid.chain.clone(),
        svid.key.clone_key(),
        SpiffeClientVerifier::new(bundle),
    )
    .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut tls = match acceptor.accept(tcp).await {
                    Ok(tls) => tls,
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string())).await;
                        return;
                    }
                };
                let _ = tx.send(Ok(peer_spiffe_id(tls.get_ref().1))).await;
                let mut buf = [0u8; 64];
                while let Ok(n @ 1..) = tls.read(&mut buf).await {
                    if tls.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, rx)
}

/// A client configuration presenting `svid` and expecting the server `expected`.
pub fn client(svid: &Svid, expected: &SpiffeId, bundle: SharedTrustBundle) -> ClientConfig {
    mtls_client_config(
        svid.chain.clone(),
        svid.key.clone_key(),
        expected.clone(),
        bundle,
    )
    .unwrap()
}

/// Connects and exchanges one message, so that a refusal by the server (which in TLS 1.3
/// comes after the client's handshake completes) shows up as an error too.
pub async fn exchange(
    config: ClientConfig,
    addr: SocketAddr,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::IpAddress(addr.ip().into());
    let mut tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?;
    tls.write_all(b"ping").await?;
    let mut buf = [0u8; 4];
    tls.read_exact(&mut buf).await?;
    assert_eq!(&buf, b"ping");
    Ok(tls)
}

/// Runs a handshake between two in-memory connections until neither has anything left to
/// send (so TLS 1.3 session tickets reach the client too). An error is that of the side that
/// refused.
pub fn handshake(
    client: &mut rustls::ClientConnection,
    server: &mut rustls::ServerConnection,
) -> Result<(), rustls::Error> {
    loop {
        let to_server = transfer(&mut **client, &mut **server)?;
        let to_client = transfer(&mut **server, &mut **client)?;
        if !to_server && !to_client {
            return Ok(());
        }
    }
}

/// Moves what `from` wants to send into `to` and lets `to` process it; whether anything moved.
fn transfer<A, B>(
    from: &mut rustls::ConnectionCommon<A>,
    to: &mut rustls::ConnectionCommon<B>,
) -> Result<bool, rustls::Error> {
    let mut moved = false;
    while from.wants_write() {
        let mut bytes = Vec::new();
        from.write_tls(&mut bytes).unwrap();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            to.read_tls(&mut rest).unwrap();
            to.process_new_packets()?;
        }
        moved = true;
    }
    Ok(moved)
}

/// A fresh in-memory client and server pair for the given configurations.
pub fn connections(
    client: &Arc<ClientConfig>,
    server: &Arc<rustls::ServerConfig>,
) -> (rustls::ClientConnection, rustls::ServerConnection) {
    let name = ServerName::try_from("mesh.invalid").unwrap();
    (
        rustls::ClientConnection::new(client.clone(), name).unwrap(),
        rustls::ServerConnection::new(server.clone()).unwrap(),
    )
}

use super::*;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Serves one TLS connection that echoes one read; returns its address.
async fn echo_server(config: Arc<ServerConfig>) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        if let Ok(mut tls) = TlsAcceptor::from(config).accept(tcp).await {
            let mut buf = [0; 64];
            let n = tls.read(&mut buf).await.unwrap();
            tls.write_all(&buf[..n]).await.unwrap();
            tls.shutdown().await.unwrap();
        }
    });
    addr
}

async fn handshake(
    addr: std::net::SocketAddr,
    config: Arc<ClientConfig>,
    name: &str,
) -> std::io::Result<Vec<u8>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from(name.to_owned()).unwrap();
    let mut tls = TlsConnector::from(config).connect(name, tcp).await?;
    tls.write_all(b"ping").await?;
    let mut out = Vec::new();
    tls.read_to_end(&mut out).await?;
    Ok(out)
}

#[tokio::test]
async fn leaf_is_trusted_by_its_ca_only() {
    let ca = TestCa::new();
    let cert = ca.issue(&["localhost", "127.0.0.1"]);
    let addr = echo_server(cert.server_config()).await;
    assert_eq!(
        handshake(addr, ca.client_config(), "localhost")
            .await
            .unwrap(),
        b"ping"
    );

    let addr = echo_server(cert.server_config()).await;
    assert_eq!(
        handshake(addr, ca.client_config(), "127.0.0.1")
            .await
            .unwrap(),
        b"ping"
    );

    let addr = echo_server(cert.server_config()).await;
    let err = handshake(addr, TestCa::new().client_config(), "localhost").await;
    assert!(err.is_err(), "a foreign CA must not verify");

    let addr = echo_server(cert.server_config()).await;
    let err = handshake(addr, ca.client_config(), "other.test").await;
    assert!(err.is_err(), "a name not in the SANs must not verify");
}

#[tokio::test]
async fn rsa_leaf_and_mutual_tls() {
    let ca = TestCa::new();
    let server = ca.rsa_leaf(&["localhost"]);
    let client = ca.issue(&["spiffe://rampart.test/client"]);
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(ca.root_store()),
        provider(),
    )
    .build()
    .unwrap();
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![server.cert_der()], server.key_der())
        .unwrap();
    let config = Arc::new(config);

    let addr = echo_server(config.clone()).await;
    let out = handshake(addr, ca.mtls_client_config(&client), "localhost").await;
    assert_eq!(out.unwrap(), b"ping");

    let addr = echo_server(config).await;
    let out = handshake(addr, ca.client_config(), "localhost").await;
    assert!(out.is_err(), "the server demands a client certificate");
}

#[test]
fn writes_pem_files() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let cert = ca.issue(&["api.rampart.test"]);
    let (cert_path, key_path) = cert.write_to(dir.path());
    assert!(cert_path.ends_with("api.rampart.test.crt.pem"));
    assert!(key_path.ends_with("api.rampart.test.key.pem"));
    let pem = std::fs::read_to_string(cert_path).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    let key = std::fs::read_to_string(key_path).unwrap();
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
    let ca_path = ca.write_to(dir.path());
    assert_eq!(std::fs::read_to_string(ca_path).unwrap(), ca.cert_pem());
    assert_ne!(ca.cert_pem(), cert.cert_pem);
}

//! Loopback servers and clients shared by the tests.

use std::{
    net::{Ipv4Addr, Ipv6Addr, SocketAddr},
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
};

use rampart_identity::{SniResolver, server_config};
use rustls::{
    ClientConfig,
    client::Resumption,
    pki_types::{CertificateDer, ServerName},
    server::ResolvesServerCert,
    sign::CertifiedKey,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tokio_rustls::{TlsAcceptor, TlsConnector, client::TlsStream};
use x509_parser::{certificate::X509Certificate, extensions::GeneralName, prelude::FromDer};

pub const ALPN: &[&[u8]] = &[b"h2", b"http/1.1"];

pub fn alpn() -> Vec<Vec<u8>> {
    ALPN.iter().map(|p| p.to_vec()).collect()
}

/// A resolver serving one certificate for every name.
pub fn single(ck: Arc<CertifiedKey>) -> Arc<SniResolver> {
    Arc::new(SniResolver::new(vec![(Vec::new(), ck)]).unwrap())
}

/// Starts a TLS echo server built with `server_config` on a loopback port.
pub async fn serve(resolver: Arc<dyn ResolvesServerCert>) -> SocketAddr {
    let config = server_config(resolver, alpn()).unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = [0u8; 1024];
                while let Ok(n @ 1..) = tls.read(&mut buf).await {
                    if tls.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// Opens a TLS connection to `addr` for `server_name` (a DNS name sent as SNI, or an IP
/// address, which sends none).
///
/// Session resumption is off, so every connection makes a full handshake and sees the
/// certificate the server chooses now (a resumed session keeps the one it started with).
pub async fn connect(
    mut config: ClientConfig,
    addr: SocketAddr,
    server_name: &str,
) -> std::io::Result<TlsStream<TcpStream>> {
    config.resumption = Resumption::disabled();
    let name = ServerName::try_from(server_name.to_owned()).unwrap();
    let tcp = TcpStream::connect(addr).await?;
    TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
}

/// Sends `message` and checks it comes back.
pub async fn echo(tls: &mut TlsStream<TcpStream>, message: &[u8]) {
    tls.write_all(message).await.unwrap();
    let mut back = vec![0u8; message.len()];
    tls.read_exact(&mut back).await.unwrap();
    assert_eq!(back, message);
}

/// The leaf certificate the server presented.
pub fn peer_cert(tls: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    let (_, conn) = tls.get_ref();
    conn.peer_certificates().unwrap()[0].clone().into_owned()
}

/// The DNS and IP subject alternative names of a certificate, as text.
pub fn san_names(cert: &CertificateDer<'_>) -> Vec<String> {
    let (_, x509) = X509Certificate::from_der(cert).unwrap();
    let san = x509.subject_alternative_name().unwrap().unwrap();
    san.value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some(dns.to_string()),
            GeneralName::IPAddress(ip) => Some(ip_text(ip)),
            _ => None,
        })
        .collect()
}

/// Runs `openssl` with `args` in `dir`, failing the test if it fails.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("/usr/bin/openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed RSA certificate for `localhost` and `rsa.test` made by openssl, with the key
/// as PKCS#8 (`traditional` false) or PKCS#1; returns (certificate, key) paths.
pub fn openssl_rsa(dir: &Path, bits: u32, traditional: bool) -> (PathBuf, PathBuf) {
    let key = format!("rsa{bits}-{traditional}-key.pem");
    let cert = format!("rsa{bits}-{traditional}.pem");
    let bits = bits.to_string();
    let mut genrsa = vec!["genrsa", "-out", &key];
    if traditional {
        genrsa.push("-traditional");
    }
    genrsa.push(&bits);
    openssl(dir, &genrsa);
    openssl_self_signed(dir, &key, &cert, "rsa.test");
    (dir.join(cert), dir.join(key))
}

/// A self-signed certificate for `localhost` and `name` over the existing key file `key`.
pub fn openssl_self_signed(dir: &Path, key: &str, cert: &str, name: &str) {
    let subject = format!("/CN={name}");
    let san = format!("subjectAltName=DNS:{name},DNS:localhost");
    openssl(
        dir,
        &[
            "req", "-x509", "-key", key, "-out", cert, "-days", "2", "-subj", &subject, "-addext",
            &san,
        ],
    );
}

fn ip_text(octets: &[u8]) -> String {
    match octets.len() {
        4 => Ipv4Addr::from(<[u8; 4]>::try_from(octets).unwrap()).to_string(),
        _ => Ipv6Addr::from(<[u8; 16]>::try_from(octets).unwrap()).to_string(),
    }
}

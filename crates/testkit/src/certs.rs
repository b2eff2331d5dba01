//! A throwaway certificate authority and the leaf certificates it signs, with ready rustls configs
//! for servers (e.g. a TLS [`RecordingUpstream`](crate::RecordingUpstream)) and clients.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_RSA_SHA256, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// A self-signed root CA that lives as long as the test.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    cert_der: CertificateDer<'static>,
}

/// A leaf certificate signed by a [`TestCa`], valid for server and client authentication.
#[derive(Clone)]
pub struct TestCert {
    pub names: Vec<String>,
    pub cert_pem: String,
    pub key_pem: String,
    cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

// === impl TestCa ===

impl TestCa {
    /// A new CA with an ECDSA P-256 key and the subject `CN=Rampart Test CA`.
    pub fn new() -> Self {
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "Rampart Test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("generate the CA key");
        let cert = params.self_signed(&key).expect("self-sign the CA");
        TestCa {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// Signs an ECDSA P-256 leaf for `names`: IP addresses become IP SANs, names with `://`
    /// (e.g. `spiffe://…`) URI SANs, anything else DNS SANs; the first name is also the CN.
    pub fn issue(&self, names: &[&str]) -> TestCert {
        self.sign(names, KeyPair::generate().expect("generate a leaf key"))
    }

    /// Like [`TestCa::issue`], with an RSA 2048 key (for peers that only speak RSA).
    pub fn rsa_leaf(&self, names: &[&str]) -> TestCert {
        self.sign(
            names,
            KeyPair::generate_for(&PKCS_RSA_SHA256).expect("generate an RSA key"),
        )
    }

    /// The CA certificate, PEM-encoded.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn cert_der(&self) -> CertificateDer<'static> {
        self.cert_der.clone()
    }

    /// Writes the CA certificate to `dir/ca.pem` and returns that path.
    pub fn write_to(&self, dir: impl AsRef<Path>) -> PathBuf {
        let path = dir.as_ref().join("ca.pem");
        write(&path, &self.cert_pem);
        path
    }

    /// A root store holding only this CA.
    pub fn root_store(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots
            .add(self.cert_der())
            .expect("add the CA to a root store");
        roots
    }

    /// A client config that trusts only this CA and offers no certificate.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        Arc::new(
            ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .expect("default TLS versions")
                .with_root_certificates(self.root_store())
                .with_no_client_auth(),
        )
    }

    /// A client config that trusts only this CA and presents `cert` (mutual TLS).
    pub fn mtls_client_config(&self, cert: &TestCert) -> Arc<ClientConfig> {
        Arc::new(
            ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .expect("default TLS versions")
                .with_root_certificates(self.root_store())
                .with_client_auth_cert(vec![cert.cert_der()], cert.key_der())
                .expect("a valid client certificate"),
        )
    }

    fn sign(&self, names: &[&str], key: KeyPair) -> TestCert {
        let mut params = CertificateParams::default();
        if let Some(first) = names.first() {
            params.distinguished_name.push(DnType::CommonName, *first);
        }
        params.subject_alt_names = names.iter().map(|name| san(name)).collect();
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&key, &self.issuer).expect("sign a leaf");
        TestCert {
            names: names.iter().map(|n| n.to_string()).collect(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

// === impl TestCert ===

impl TestCert {
    /// Writes `<name>.crt.pem` and `<name>.key.pem` (after the first name) into `dir`.
    pub fn write_to(&self, dir: impl AsRef<Path>) -> (PathBuf, PathBuf) {
        let stem: String = self
            .names
            .first()
            .map_or("cert", String::as_str)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let cert = dir.as_ref().join(format!("{stem}.crt.pem"));
        let key = dir.as_ref().join(format!("{stem}.key.pem"));
        write(&cert, &self.cert_pem);
        write(&key, &self.key_pem);
        (cert, key)
    }

    pub fn cert_der(&self) -> CertificateDer<'static> {
        self.cert_der.clone()
    }

    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivatePkcs8KeyDer::from(self.key_der.clone()).into()
    }

    /// A server config presenting this certificate, offering ALPN `h2` and `http/1.1`, asking
    /// no client certificate.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("default TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![self.cert_der()], self.key_der())
            .expect("a valid server certificate");
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

impl std::fmt::Debug for TestCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCert")
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

// === helpers ===

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn san(name: &str) -> SanType {
    let ia5 = || {
        name.try_into()
            .unwrap_or_else(|e| panic!("bad SAN `{name}`: {e}"))
    };
    if let Ok(ip) = name.parse::<IpAddr>() {
        SanType::IpAddress(ip)
    } else if name.contains("://") {
        SanType::URI(ia5())
    } else {
        SanType::DnsName(ia5())
    }
}

fn write(path: &Path, contents: &str) {
    std::fs::write(path, contents)
        .unwrap_or_else(|e| panic!("cannot write `{}`: {e}", path.display()));
}

#[cfg(test)]
mod tests;

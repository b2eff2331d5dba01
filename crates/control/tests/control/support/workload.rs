//! Workloads for the mesh tests: an SVID from a join token, a client that presents it, and
//! the raw TLS configuration to send hand-made requests with it.

use std::{sync::Arc, time::Duration};

use http::{Method, Version};
use rampart_control::{
    ControlClient,
    api::{CreateJoinToken, SvidIssued},
};
use rampart_events::{Event, SecurityEvent, SecurityKind, Subscription};
use rampart_identity::{
    TrustBundle, client_config_with_client_auth, make_csr, serial_hex, verify_svid,
};
use rcgen::KeyPair;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::{Plane, Reply, TRUST_DOMAIN, alpn, raw_tls};

/// A workload holding an SVID (and its key) from the test control plane.
pub struct Workload {
    pub spiffe_id: String,
    pub key: KeyPair,
    pub chain: Vec<CertificateDer<'static>>,
    pub issued: SvidIssued,
    url: String,
    ca_path: std::path::PathBuf,
    addr: std::net::SocketAddr,
}

impl std::fmt::Debug for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workload")
            .field("spiffe_id", &self.spiffe_id)
            .field("serial", &self.serial())
            .finish_non_exhaustive()
    }
}

impl Plane {
    /// A join token for `service` in `namespace`, made with the admin token.
    pub async fn join_token(&self, service: &str, namespace: &str) -> String {
        self.client()
            .create_join_token(&CreateJoinToken {
                service: service.to_owned(),
                namespace: namespace.to_owned(),
                ttl_secs: 600,
            })
            .await
            .unwrap()
            .token
    }

    /// A workload that joined as `service` in `namespace` with a fresh join token.
    pub async fn join(&self, service: &str, namespace: &str) -> Workload {
        let token = self.join_token(service, namespace).await;
        let (key, csr) = csr_pem();
        let issued = ControlClient::workload(&self.url, &self.ca_path)
            .unwrap()
            .request_svid(&token, &csr)
            .await
            .unwrap();
        Workload::new(self, key, issued)
    }
}

impl Workload {
    fn new(plane: &Plane, key: KeyPair, issued: SvidIssued) -> Self {
        Self {
            spiffe_id: issued.spiffe_id.clone(),
            chain: ders(&issued.svid_chain_pem),
            key,
            issued,
            url: plane.url.clone(),
            ca_path: plane.ca_path.clone(),
            addr: plane.addr(),
        }
    }

    /// The serial of its SVID.
    pub fn serial(&self) -> String {
        serial_hex(&self.chain[0]).unwrap()
    }

    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key.serialize_der().into())
    }

    /// A client of the control plane presenting this SVID.
    pub fn client(&self) -> ControlClient {
        ControlClient::workload(&self.url, &self.ca_path)
            .unwrap()
            .with_client_identity(self.chain.clone(), self.key_der())
            .unwrap()
    }

    /// Renews with a fresh key: the workload holding the new SVID.
    pub async fn renew(&self) -> Result<Workload, rampart_control::ControlError> {
        let (key, csr) = csr_pem();
        let issued = self.client().renew_svid(&csr).await?;
        Ok(Workload {
            spiffe_id: issued.spiffe_id.clone(),
            chain: ders(&issued.svid_chain_pem),
            key,
            issued,
            url: self.url.clone(),
            ca_path: self.ca_path.clone(),
            addr: self.addr,
        })
    }

    /// One hand-made HTTP/1.1 request presenting this SVID.
    pub async fn h1(&self, method: Method, path: &str, body: &str) -> Reply {
        let config = client_config_with_client_auth(
            &self.ca_path,
            vec![alpn(Version::HTTP_11).to_vec()],
            self.chain.clone(),
            self.key_der(),
        )
        .unwrap();
        raw_tls(
            self.addr,
            config,
            Version::HTTP_11,
            method,
            path,
            None,
            body,
        )
        .await
    }

    /// Whether its SVID verifies against exactly `roots`.
    pub fn verifies_with(&self, roots: &[CertificateDer<'static>]) -> bool {
        let mut bundle = TrustBundle::new(TRUST_DOMAIN.parse().unwrap());
        for root in roots {
            bundle.add(root.clone()).unwrap();
        }
        verify_svid(&self.chain, &bundle, std::time::SystemTime::now()).is_ok()
    }
}

/// A fresh key and its CSR in PEM.
fn csr_pem() -> (KeyPair, String) {
    let (key, csr) = make_csr().unwrap();
    (
        key,
        pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", csr.to_vec())),
    )
}

/// PEM certificates in DER.
pub fn ders(pems: &[String]) -> Vec<CertificateDer<'static>> {
    pems.iter()
        .map(|p| CertificateDer::from(pem::parse(p).unwrap().into_contents()))
        .collect()
}

/// The next security event of `kind` on the bus (within 5 s), skipping others.
pub async fn next_event(events: &mut Subscription, kind: SecurityKind) -> SecurityEvent {
    loop {
        let event: Arc<Event> = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .expect("an event within 5 s")
            .expect("the bus is open");
        if let Event::Security(e) = &*event
            && e.kind == kind
        {
            return e.clone();
        }
    }
}

//! PEM in and out: certificates and bundles as the control plane sends them, the CSR the
//! agent sends, and its key as it is kept on disk.

use rampart_core::spiffe::TrustDomain;
use rampart_identity::TrustBundle;
use rcgen::KeyPair;
use rustls_pki_types::{
    CertificateDer, CertificateSigningRequestDer, PrivateKeyDer, PrivatePkcs8KeyDer, pem::PemObject,
};
use zeroize::Zeroizing;

use crate::MeshError;

/// A freshly generated key with what is needed of it: the CSR to send, and the key to serve
/// with and to keep on disk. The key never leaves the process except to its 0600 file.
pub(crate) struct FreshKey {
    /// The CSR, PEM (`CERTIFICATE REQUEST`).
    pub csr_pem: String,
    /// The key, PKCS#8 PEM.
    pub key_pem: Zeroizing<String>,
    key_der: Zeroizing<Vec<u8>>,
}

// === impl FreshKey ===

impl FreshKey {
    /// Generates an ECDSA P-256 key and its CSR ([`rampart_identity::make_csr`]).
    pub fn generate() -> Result<Self, MeshError> {
        let (key, csr) = rampart_identity::make_csr()?;
        Ok(Self::from_parts(&key, &csr))
    }

    fn from_parts(key: &KeyPair, csr: &CertificateSigningRequestDer<'_>) -> Self {
        let csr_pem = pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", csr.as_ref().to_vec()));
        Self {
            csr_pem,
            key_pem: Zeroizing::new(key.serialize_pem()),
            key_der: Zeroizing::new(key.serialize_der()),
        }
    }

    /// The key, for rustls.
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.to_vec()))
    }
}

/// Every certificate in `pems` (each entry may hold one or several PEM blocks), in order.
pub(crate) fn certificates(
    pems: &[String],
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, MeshError> {
    let mut certs = Vec::new();
    for text in pems {
        for cert in CertificateDer::pem_slice_iter(text.as_bytes()) {
            certs.push(cert.map_err(|e| MeshError::BadAnswer {
                what,
                reason: e.to_string(),
            })?);
        }
    }
    if certs.is_empty() {
        return Err(MeshError::BadAnswer {
            what,
            reason: "no certificate".to_owned(),
        });
    }
    Ok(certs)
}

/// A trust bundle for `trust_domain` with the roots in `pems`.
pub(crate) fn bundle(trust_domain: TrustDomain, pems: &[String]) -> Result<TrustBundle, MeshError> {
    let mut bundle = TrustBundle::new(trust_domain);
    for root in certificates(pems, "trust bundle")? {
        bundle.add(root)?;
    }
    Ok(bundle)
}

/// `certs` as concatenated PEM blocks.
pub(crate) fn certificates_pem(certs: &[CertificateDer<'_>]) -> String {
    certs
        .iter()
        .map(|c| pem::encode(&pem::Pem::new("CERTIFICATE", c.as_ref().to_vec())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_key_comes_with_a_csr_the_ca_accepts() {
        let fresh = FreshKey::generate().unwrap();
        let csr = CertificateSigningRequestDer::from_pem_slice(fresh.csr_pem.as_bytes()).unwrap();
        rampart_identity::check_csr(csr.as_ref()).unwrap();
        let from_pem = PrivateKeyDer::from_pem_slice(fresh.key_pem.as_bytes()).unwrap();
        assert_eq!(from_pem.secret_der(), fresh.key_der().secret_der());
        // Two keys are never the same.
        let other = FreshKey::generate().unwrap();
        assert_ne!(other.key_pem.as_str(), fresh.key_pem.as_str());
    }

    #[test]
    fn certificates_reads_every_block_and_refuses_none() {
        let ca = rampart_testkit::TestCa::new();
        let leaf = ca.issue(&["localhost"]);
        let both = vec![format!("{}{}", leaf.cert_pem, ca.cert_pem())];
        assert_eq!(certificates(&both, "chain").unwrap().len(), 2);
        let split = vec![leaf.cert_pem.clone(), ca.cert_pem().to_owned()];
        let certs = certificates(&split, "chain").unwrap();
        assert_eq!(certs.len(), 2);
        assert_eq!(
            certificates(&[certificates_pem(&certs)], "chain").unwrap(),
            certs
        );
        assert!(certificates(&["garbage".to_owned()], "chain").is_err());
        assert!(certificates(&[], "chain").is_err());
    }

    #[test]
    fn a_bundle_refuses_a_leaf_as_root() {
        let ca = rampart_testkit::TestCa::new();
        let td = TrustDomain::parse("example.org").unwrap();
        let b = bundle(td.clone(), &[ca.cert_pem().to_owned()]).unwrap();
        assert_eq!(b.roots().len(), 1);
        let leaf = ca.issue(&["localhost"]);
        assert!(bundle(td, &[leaf.cert_pem]).is_err());
    }
}

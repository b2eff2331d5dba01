//! Certificates in PEM, as the API carries them.

use rustls::pki_types::CertificateDer;

/// `der` as one PEM `CERTIFICATE` block.
pub(crate) fn cert_pem(der: &CertificateDer<'_>) -> String {
    pem::encode(&pem::Pem::new("CERTIFICATE", der.to_vec()))
}

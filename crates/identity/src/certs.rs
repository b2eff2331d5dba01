//! Certificate chains and private keys from PEM files, and the names a certificate is for.

use std::{path::Path, sync::Arc};

use rustls::{InconsistentKeys, crypto::aws_lc_rs::sign::any_supported_type, sign::CertifiedKey};
use rustls_pki_types::{
    CertificateDer, PrivateKeyDer,
    pem::{self, PemObject},
};
use x509_parser::{certificate::X509Certificate, extensions::GeneralName, prelude::FromDer};
use zeroize::Zeroizing;

use crate::{IdentityError, files};

/// Loads a certificate chain (leaf first) and its private key from PEM files, which may be
/// the same file.
///
/// Keys may be PKCS#8, SEC1 (EC) or PKCS#1 (RSA): ECDSA P-256/P-384, RSA 2048 bits or more,
/// or Ed25519. The key must match the leaf certificate.
pub fn load_certified_key(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, IdentityError> {
    let chain = parse_certificates(cert, &files::read(cert)?)?;
    let key_der = parse_private_key(key, &files::read(key)?)?;
    let signing_key = any_supported_type(&key_der).map_err(|_| IdentityError::UnsupportedKey {
        path: key.to_owned(),
    })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        Ok(()) => Ok(Arc::new(certified)),
        Err(rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
            Err(IdentityError::KeyMismatch {
                cert: cert.to_owned(),
                key: key.to_owned(),
            })
        }
        // The key cannot tell its public half, so it cannot be checked: refuse it.
        Err(rustls::Error::InconsistentKeys(_)) => Err(IdentityError::UnsupportedKey {
            path: key.to_owned(),
        }),
        Err(e) => Err(IdentityError::InvalidCertificate {
            path: cert.to_owned(),
            reason: e.to_string(),
        }),
    }
}

/// The DNS names a certificate is for (its DNS subject alternative names, or its common name
/// when it has none), lower-cased, for indexing certificates by SNI.
pub fn certificate_names(ck: &CertifiedKey) -> Vec<String> {
    let Ok(leaf) = ck.end_entity_cert() else {
        return Vec::new();
    };
    let Ok((_, x509)) = X509Certificate::from_der(leaf) else {
        return Vec::new();
    };
    let mut names: Vec<String> = match x509.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|name| match name {
                GeneralName::DNSName(dns) => Some(dns.to_ascii_lowercase()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    if names.is_empty() {
        names.extend(
            x509.subject()
                .iter_common_name()
                .filter_map(|cn| cn.as_str().ok())
                .map(str::to_ascii_lowercase),
        );
    }
    names
}

/// Every certificate of the PEM text `bytes` read from `path`, in order; at least one.
pub(crate) fn parse_certificates(
    path: &Path,
    bytes: &[u8],
) -> Result<Vec<CertificateDer<'static>>, IdentityError> {
    check_not_empty(path, bytes)?;
    let chain = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| malformed(path, &e))?;
    if chain.is_empty() {
        return Err(IdentityError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(chain)
}

/// The first private key of the PEM text `bytes` read from `path`.
pub(crate) fn parse_private_key(
    path: &Path,
    bytes: &[u8],
) -> Result<Zeroizing<PrivateKeyDer<'static>>, IdentityError> {
    check_not_empty(path, bytes)?;
    match PrivateKeyDer::from_pem_slice(bytes) {
        Ok(key) => Ok(Zeroizing::new(key)),
        Err(pem::Error::NoItemsFound) => Err(IdentityError::NoPrivateKey {
            path: path.to_owned(),
        }),
        Err(e) => Err(malformed(path, &e)),
    }
}

fn check_not_empty(path: &Path, bytes: &[u8]) -> Result<(), IdentityError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(IdentityError::EmptyFile {
            path: path.to_owned(),
        });
    }
    Ok(())
}

/// Describes a PEM error without echoing the file: pem's own messages quote lines and
/// base64 details, which in a key file would be key material.
fn malformed(path: &Path, error: &pem::Error) -> IdentityError {
    let reason = match error {
        pem::Error::MissingSectionEnd { .. } => "a section has no end line",
        pem::Error::IllegalSectionStart { .. } => "a section has a malformed begin line",
        pem::Error::Base64Decode(_) => "a section is not valid base64",
        pem::Error::SectionTooLarge => "a section is too large",
        _ => "cannot be decoded",
    };
    IdentityError::MalformedPem {
        path: path.to_owned(),
        reason,
    }
}

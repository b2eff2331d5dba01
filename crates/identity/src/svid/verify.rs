//! Verifying an X.509 SVID: path validation to a root of the trust bundle (webpki), then the
//! leaf rules of the SPIFFE X509-SVID specification.

use std::time::{SystemTime, UNIX_EPOCH};

use rampart_core::spiffe::SpiffeId;
use rustls::pki_types::{CertificateDer, SignatureVerificationAlgorithm, UnixTime};
use webpki::{EndEntityCert, KeyUsage};
use x509_parser::{
    certificate::X509Certificate, extensions::GeneralName, prelude::FromDer, time::ASN1Time,
};

use super::{SvidError, TrustBundle};
use crate::provider;

/// Verifies `chain` (leaf first, then any intermediates) as an X.509 SVID of `bundle`'s trust
/// domain at time `now`, and returns its SPIFFE id.
///
/// The leaf must carry exactly one URI SAN, a SPIFFE id with a path in the bundle's trust
/// domain; it must not be a CA; its key usage must include digitalSignature and neither
/// keyCertSign nor cRLSign; an extended key usage, if present, must include serverAuth and
/// clientAuth; `now` must lie in its validity window; and the chain must lead to one of the
/// bundle's roots.
pub fn verify_svid(
    chain: &[CertificateDer<'_>],
    bundle: &TrustBundle,
    now: SystemTime,
) -> Result<SpiffeId, SvidError> {
    let (leaf, intermediates) = chain.split_first().ok_or(SvidError::NoCertificate)?;
    let now = UnixTime::since_unix_epoch(now.duration_since(UNIX_EPOCH).unwrap_or_default());
    let algorithms = provider::crypto_provider()
        .signature_verification_algorithms
        .all;
    verify(leaf, intermediates, bundle, now, algorithms)
}

/// [`verify_svid`] for the rustls verifiers, which receive the leaf and intermediates apart.
pub(super) fn verify(
    leaf: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    bundle: &TrustBundle,
    now: UnixTime,
    algorithms: &[&dyn SignatureVerificationAlgorithm],
) -> Result<SpiffeId, SvidError> {
    // The SPIFFE rules come first so that refusals name the precise rule broken; nothing is
    // trusted until the path is validated below.
    let (_, x509) = X509Certificate::from_der(leaf).map_err(malformed)?;
    check_leaf(&x509)?;
    let id = spiffe_id(&x509)?;
    if id.trust_domain() != bundle.trust_domain() {
        return Err(SvidError::WrongTrustDomain {
            expected: bundle.trust_domain().clone(),
            found: id.trust_domain().clone(),
        });
    }
    check_validity(&x509, now)?;
    check_key_usage(&x509)?;

    let cert = EndEntityCert::try_from(leaf).map_err(webpki_error)?;
    // Both EKUs are required when present (checked above); webpki only needs one of them.
    cert.verify_for_usage(
        algorithms,
        bundle.anchors(),
        intermediates,
        now,
        KeyUsage::client_auth(),
        None,
        None,
    )
    .map_err(webpki_error)?;
    Ok(id)
}

/// The SPIFFE id of a leaf SVID: its one URI SAN, with a path.
pub(super) fn spiffe_id(x509: &X509Certificate<'_>) -> Result<SpiffeId, SvidError> {
    let san = x509.subject_alternative_name().map_err(malformed)?;
    let mut uris = san
        .iter()
        .flat_map(|san| &san.value.general_names)
        .filter_map(|name| match name {
            GeneralName::URI(uri) => Some(*uri),
            _ => None,
        });
    let uri = match (uris.next(), uris.count()) {
        (None, _) => return Err(SvidError::NoUriSan),
        (Some(uri), 0) => uri,
        (Some(_), more) => return Err(SvidError::SeveralUriSans(more + 1)),
    };
    let id = SpiffeId::parse(uri).map_err(|source| SvidError::NotSpiffe {
        uri: uri.to_owned(),
        source,
    })?;
    match id.path().is_empty() {
        true => Err(SvidError::TrustDomainId { id }),
        false => Ok(id),
    }
}

// === helpers ===

fn check_leaf(x509: &X509Certificate<'_>) -> Result<(), SvidError> {
    match x509.basic_constraints().map_err(malformed)? {
        Some(bc) if bc.value.ca => Err(SvidError::CaAsLeaf),
        _ => Ok(()),
    }
}

pub(super) fn check_validity(x509: &X509Certificate<'_>, now: UnixTime) -> Result<(), SvidError> {
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let validity = x509.validity();
    let secs = |t: &ASN1Time| t.timestamp();
    if now < secs(&validity.not_before) {
        return Err(SvidError::NotYetValid);
    }
    if now > secs(&validity.not_after) {
        return Err(SvidError::Expired);
    }
    Ok(())
}

fn check_key_usage(x509: &X509Certificate<'_>) -> Result<(), SvidError> {
    let reason = |reason| Err(SvidError::KeyUsage { reason });
    match x509.key_usage().map_err(malformed)? {
        None => return reason("the key usage extension is missing"),
        Some(ku) if !ku.value.digital_signature() => return reason("digitalSignature is not set"),
        Some(ku) if ku.value.key_cert_sign() => return reason("keyCertSign is set on a leaf"),
        Some(ku) if ku.value.crl_sign() => return reason("cRLSign is set on a leaf"),
        Some(_) => {}
    }
    match x509.extended_key_usage().map_err(malformed)? {
        Some(eku) if !(eku.value.server_auth && eku.value.client_auth) => {
            Err(SvidError::ExtendedKeyUsage)
        }
        _ => Ok(()),
    }
}

fn webpki_error(e: webpki::Error) -> SvidError {
    match e {
        webpki::Error::CertExpired { .. } => SvidError::Expired,
        webpki::Error::CertNotValidYet { .. } => SvidError::NotYetValid,
        webpki::Error::CaUsedAsEndEntity => SvidError::CaAsLeaf,
        webpki::Error::BadDer | webpki::Error::BadDerTime => malformed(e),
        e => SvidError::Untrusted {
            reason: e.to_string(),
        },
    }
}

fn malformed(e: impl ToString) -> SvidError {
    SvidError::Malformed {
        reason: e.to_string(),
    }
}

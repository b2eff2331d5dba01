//! Issuing SVIDs: the workload's CSR and the CA's signature.

use std::time::{Duration, SystemTime};

use rampart_core::spiffe::SpiffeId;
use rcgen::{
    CertificateParams, DistinguishedName, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ED25519, PKCS_RSA_SHA256, PKCS_RSA_SHA384,
    PKCS_RSA_SHA512, PublicKeyData, SanType, SerialNumber, SignatureAlgorithm,
};
use rustls_pki_types::{CertificateDer, CertificateSigningRequestDer};
use x509_parser::{
    certificate::X509Certificate,
    certification_request::X509CertificationRequest,
    der_parser::Oid,
    extensions::{GeneralName, ParsedExtension},
    oid_registry::{
        OID_PKCS1_SHA256WITHRSA, OID_PKCS1_SHA384WITHRSA, OID_PKCS1_SHA512WITHRSA,
        OID_SIG_ECDSA_WITH_SHA256, OID_SIG_ECDSA_WITH_SHA384, OID_SIG_ED25519,
    },
    prelude::FromDer,
};

use super::SvidError;
use crate::LocalCa;

/// How long an SVID is valid unless said otherwise; workloads renew at half-life
/// ([`renewal_time`]).
pub const DEFAULT_SVID_TTL: Duration = Duration::from_secs(3_600);

/// SVIDs start a little in the past so that peers with a slightly slow clock accept them.
const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// Signature algorithms accepted on CSRs (no SHA-1, no RSA-PSS).
const SIGNATURE_ALGORITHMS: &[Oid<'static>] = &[
    OID_SIG_ECDSA_WITH_SHA256,
    OID_SIG_ECDSA_WITH_SHA384,
    OID_SIG_ED25519,
    OID_PKCS1_SHA256WITHRSA,
    OID_PKCS1_SHA384WITHRSA,
    OID_PKCS1_SHA512WITHRSA,
];

/// Key types whose CSRs are signed, and whether they are RSA (which also gets
/// keyEncipherment).
const SUPPORTED: &[(&SignatureAlgorithm, bool)] = &[
    (&PKCS_ECDSA_P256_SHA256, false),
    (&PKCS_ECDSA_P384_SHA384, false),
    (&PKCS_ED25519, false),
    (&PKCS_RSA_SHA256, true),
    (&PKCS_RSA_SHA384, true),
    (&PKCS_RSA_SHA512, true),
];

/// Generates a key pair (ECDSA P-256) and a CSR for it, on the workload's side. The CSR
/// names nothing: the CA decides the identity. The key must not leave the workload.
pub fn make_csr() -> Result<(KeyPair, CertificateSigningRequestDer<'static>), SvidError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    let csr = params.serialize_request(&key)?;
    Ok((key, csr.der().clone()))
}

/// Signs the CSR `csr_der` (DER) as an X.509 SVID for `id`, valid from one minute ago until `ttl`
/// from now.
///
/// The CSR's own signature is verified (proof that the requester holds the key); everything
/// else it asks for (names, extensions, CA status) is ignored. The SVID has exactly one URI
/// SAN (`id`), CA:false, key usage digitalSignature (and keyEncipherment for RSA keys),
/// extended key usage serverAuth and clientAuth, and a random serial number.
pub fn sign_svid_csr(
    ca: &LocalCa,
    csr_der: &[u8],
    id: &SpiffeId,
    ttl: Duration,
) -> Result<CertificateDer<'static>, SvidError> {
    if id.path().is_empty() {
        return Err(SvidError::TrustDomainId { id: id.clone() });
    }
    let (key, rsa) = csr_key(csr_der)?;
    let params = svid_params(id, SystemTime::now(), ttl, rsa)?;
    Ok(ca.sign(&params, &key)?)
}

/// Checks a CSR (DER) as [`sign_svid_csr`] would, without signing: it parses, its signature
/// verifies and its key type is supported. Lets a caller refuse a bad CSR before it spends
/// anything (e.g. a one-time token) on it.
pub fn check_csr(csr_der: &[u8]) -> Result<(), SvidError> {
    csr_key(csr_der).map(|_| ())
}

/// The names a CSR asks for in its subjectAltName extension, as `URI:…`, `DNS:…`, `IP:…`
/// (other kinds by their debug form), plus `CN=…` when its subject names a common name.
/// [`sign_svid_csr`] ignores all of them; a caller that wants to refuse a CSR asking for more
/// than the identity it will get (e.g. another SPIFFE id) compares them with it.
pub fn csr_requested_names(csr_der: &[u8]) -> Result<Vec<String>, SvidError> {
    let (_, csr) =
        X509CertificationRequest::from_der(csr_der).map_err(|e| SvidError::InvalidCsr {
            reason: e.to_string(),
        })?;
    let mut names = Vec::new();
    for cn in csr.certification_request_info.subject.iter_common_name() {
        names.push(format!("CN={}", cn.as_str().unwrap_or("<not text>")));
    }
    for ext in csr.requested_extensions().into_iter().flatten() {
        if let ParsedExtension::SubjectAlternativeName(san) = ext {
            for name in &san.general_names {
                names.push(match name {
                    GeneralName::URI(u) => format!("URI:{u}"),
                    GeneralName::DNSName(d) => format!("DNS:{d}"),
                    GeneralName::IPAddress(ip) => format!("IP:{}", hex_bytes(ip)),
                    other => format!("{other:?}"),
                });
            }
        }
    }
    Ok(names)
}

fn hex_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// When an SVID (any certificate) stops being valid: its notAfter.
pub fn expiry_time(svid: &CertificateDer<'_>) -> Result<SystemTime, SvidError> {
    let (_, x509) = X509Certificate::from_der(svid).map_err(|e| SvidError::Malformed {
        reason: e.to_string(),
    })?;
    let secs =
        u64::try_from(x509.validity().not_after.timestamp()).map_err(|_| SvidError::Malformed {
            reason: "validity before 1970".to_owned(),
        })?;
    Ok(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

/// When an SVID should be renewed: half-way through its validity.
pub fn renewal_time(svid: &CertificateDer<'_>) -> Result<SystemTime, SvidError> {
    let (_, x509) = X509Certificate::from_der(svid).map_err(|e| SvidError::Malformed {
        reason: e.to_string(),
    })?;
    let validity = x509.validity();
    let start = validity.not_before.timestamp();
    let end = validity.not_after.timestamp();
    let half = start.saturating_add(end.saturating_sub(start) / 2);
    let secs = u64::try_from(half).map_err(|_| SvidError::Malformed {
        reason: "validity before 1970".to_owned(),
    })?;
    Ok(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

// === helpers ===

/// The public key of a CSR whose signature verifies, and whether it is RSA.
///
/// The key's algorithm is read from the CSR's SubjectPublicKeyInfo (not from its signature
/// algorithm, which does not name the curve), and the certificate's SubjectPublicKeyInfo is
/// checked to come out byte for byte as the CSR's.
fn csr_key(csr_der: &[u8]) -> Result<(CsrKey, bool), SvidError> {
    let invalid = |e: &dyn std::fmt::Display| SvidError::InvalidCsr {
        reason: e.to_string(),
    };
    let (rest, csr) = X509CertificationRequest::from_der(csr_der).map_err(|e| invalid(&e))?;
    if !rest.is_empty() {
        return Err(invalid(&"trailing bytes"));
    }
    let algorithm = &csr.signature_algorithm.algorithm;
    if !SIGNATURE_ALGORITHMS.contains(algorithm) {
        return Err(SvidError::UnsupportedKey {
            algorithm: format!("signature {}", algorithm.to_id_string()),
        });
    }
    csr.verify_signature()
        .map_err(|_| SvidError::CsrSignature)?;
    let spki = &csr.certification_request_info.subject_pki;
    SUPPORTED
        .iter()
        .map(|(alg, rsa)| {
            let key = CsrKey {
                algorithm: alg,
                bits: spki.subject_public_key.data.to_vec(),
            };
            (key, *rsa)
        })
        .find(|(key, _)| key.subject_public_key_info() == spki.raw)
        .ok_or_else(|| SvidError::UnsupportedKey {
            algorithm: spki.algorithm.algorithm.to_id_string(),
        })
}

/// A public key taken from a CSR.
struct CsrKey {
    algorithm: &'static SignatureAlgorithm,
    bits: Vec<u8>,
}

impl PublicKeyData for CsrKey {
    fn der_bytes(&self) -> &[u8] {
        &self.bits
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.algorithm
    }
}

fn svid_params(
    id: &SpiffeId,
    now: SystemTime,
    ttl: Duration,
    rsa: bool,
) -> Result<CertificateParams, SvidError> {
    let mut params = CertificateParams::default();
    // SPIFFE puts the identity in the URI SAN only; with an empty subject rcgen marks the
    // SAN critical, as RFC 5280 requires.
    params.distinguished_name = DistinguishedName::new();
    params.subject_alt_names = vec![SanType::URI(id.to_string().try_into()?)];
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = match rsa {
        true => vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ],
        false => vec![KeyUsagePurpose::DigitalSignature],
    };
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.not_before = now.checked_sub(CLOCK_SKEW).unwrap_or(now).into();
    params.not_after = now.checked_add(ttl).unwrap_or(now).into();
    params.serial_number = Some(random_serial()?);
    Ok(params)
}

/// 128 random bits, positive and without a leading zero byte (DER integers stay 16 bytes).
fn random_serial() -> Result<SerialNumber, SvidError> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| SvidError::Random)?;
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

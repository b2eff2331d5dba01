//! An intermediate CA under a CA the operator brings (`ca.upstream`): the intermediate's key
//! is generated here and kept in the data directory, its certificate is signed once by the
//! operator's CA, and the operator's root goes into trust bundles.

use std::{
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use rcgen::{
    BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256, PublicKeyData,
};
use rustls_pki_types::CertificateDer;
use x509_parser::{certificate::X509Certificate, prelude::FromDer, time::ASN1Time};
use zeroize::Zeroizing;

use super::{BACKDATE, DAY, LocalCa, common_name};
use crate::{IdentityError, certs, files};

const CERT_FILE: &str = "intermediate-ca.pem";
const KEY_FILE: &str = "intermediate-ca-key.pem";
const COMMON_NAME: &str = "Rampart intermediate CA";
const INTERMEDIATE_VALIDITY: Duration = DAY.saturating_mul(365);

/// What an intermediate CA knows of the operator's CA above it.
pub(super) struct Upstream {
    /// Certificates between this CA and the root (this CA's own certificate first, then the
    /// upstream's certificates but its root): what a leaf sends after itself.
    chain: Vec<CertificateDer<'static>>,
    chain_pem: String,
    root_der: CertificateDer<'static>,
    root_pem: String,
}

/// The operator's CA, loaded from its PEM files. The key never leaves this value.
struct UpstreamCa {
    cert_path: PathBuf,
    /// The upstream CA's certificate first, then any certificates up to its root.
    certs: Vec<CertificateDer<'static>>,
    not_before: SystemTime,
    not_after: SystemTime,
    issuer: Issuer<'static, KeyPair>,
}

// === impl LocalCa ===

impl LocalCa {
    /// Loads or creates an intermediate CA in `dir` (`intermediate-ca.pem` and
    /// `intermediate-ca-key.pem`, the key with mode 0600), signed by the operator's CA whose
    /// certificate and key are the PEM files `upstream_cert` and `upstream_key`.
    ///
    /// On first start an ECDSA P-256 key is generated and the upstream CA signs it as an
    /// intermediate: CA:true with pathLenConstraint 0, keyCertSign and cRLSign, valid one year
    /// but never beyond the upstream certificate. Later starts reuse it after checking that it
    /// was signed by this upstream and has not expired. The upstream key is only read (it
    /// must be accessible by its owner only); it is never copied or logged.
    ///
    /// `upstream_cert` holds the upstream CA's certificate, optionally followed by the
    /// certificates up to its root. The last certificate of that file is the root
    /// ([`root_der`](Self::root_der)), for trust bundles; leaves issued by this CA are sent
    /// followed by [`chain_der`](Self::chain_der).
    pub fn load_or_create_intermediate(
        dir: &Path,
        upstream_cert: &Path,
        upstream_key: &Path,
    ) -> Result<Self, IdentityError> {
        let upstream = UpstreamCa::load(upstream_cert, upstream_key)?;
        files::create_private_dir(dir)?;
        let cert_path = dir.join(CERT_FILE);
        let key_path = dir.join(KEY_FILE);
        let mut ca = match (files::exists(&cert_path)?, files::exists(&key_path)?) {
            (true, true) => {
                let ca = Self::load(cert_path, &key_path)?;
                upstream.check_issued(&ca)?;
                ca
            }
            (false, false) => upstream.issue_intermediate(cert_path, &key_path)?,
            (true, false) => {
                return Err(IdentityError::CaIncomplete {
                    dir: dir.to_owned(),
                    missing: key_path,
                });
            }
            (false, true) => {
                return Err(IdentityError::CaIncomplete {
                    dir: dir.to_owned(),
                    missing: cert_path,
                });
            }
        };
        ca.upstream = Some(upstream.chain_for(&ca)?);
        Ok(ca)
    }

    /// The certificates a leaf issued by this CA is sent with, in PEM: empty for a root CA,
    /// this CA's certificate (and any upstream intermediates) for an intermediate CA.
    pub fn chain_pem(&self) -> &str {
        self.upstream.as_ref().map_or("", |u| u.chain_pem.as_str())
    }

    /// [`chain_pem`](Self::chain_pem) in DER, to append to a leaf certificate.
    pub fn chain_der(&self) -> &[CertificateDer<'static>] {
        self.upstream.as_ref().map_or(&[], |u| u.chain.as_slice())
    }

    /// The root this CA chains to, in PEM, for trust bundles: this CA's own certificate for a
    /// root CA, the operator's root for an intermediate.
    pub fn root_pem(&self) -> &str {
        self.upstream
            .as_ref()
            .map_or(self.cert_pem.as_str(), |u| u.root_pem.as_str())
    }

    /// [`root_pem`](Self::root_pem) in DER, e.g. for a `TrustBundle`.
    pub fn root_der(&self) -> &CertificateDer<'static> {
        self.upstream
            .as_ref()
            .map_or(&self.cert_der, |u| &u.root_der)
    }

    /// Whether this CA is an intermediate under an operator's CA.
    pub fn is_intermediate(&self) -> bool {
        self.upstream.is_some()
    }
}

// === impl UpstreamCa ===

impl UpstreamCa {
    fn load(cert_path: &Path, key_path: &Path) -> Result<Self, IdentityError> {
        let invalid = |reason: &str| IdentityError::InvalidCertificate {
            path: cert_path.to_owned(),
            reason: reason.to_owned(),
        };
        let certs = certs::parse_certificates(cert_path, &files::read(cert_path)?)?;
        let cert_der = certs.first().ok_or_else(|| IdentityError::NoCertificate {
            path: cert_path.to_owned(),
        })?;
        let (_, x509) = X509Certificate::from_der(cert_der).map_err(|e| invalid(&e.to_string()))?;
        if !x509.is_ca() {
            return Err(invalid("not a CA certificate"));
        }
        if let Some(ku) = x509.key_usage().map_err(|e| invalid(&e.to_string()))?
            && !ku.value.key_cert_sign()
        {
            return Err(invalid("key usage lacks keyCertSign"));
        }
        if let Some(bc) = x509
            .basic_constraints()
            .map_err(|e| invalid(&e.to_string()))?
            && bc.value.path_len_constraint == Some(0)
        {
            return Err(invalid(
                "pathLenConstraint 0 forbids signing an intermediate CA",
            ));
        }
        let validity = x509.validity();
        let (not_before, not_after) = (time(&validity.not_before), time(&validity.not_after));
        if not_after <= SystemTime::now() {
            return Err(invalid("the upstream CA certificate has expired"));
        }

        let key_der = certs::parse_private_key(key_path, &files::read_private(key_path)?)?;
        let key = KeyPair::try_from(&*key_der).map_err(|_| IdentityError::UnsupportedKey {
            path: key_path.to_owned(),
        })?;
        if x509.public_key().raw != key.subject_public_key_info().as_slice() {
            return Err(IdentityError::KeyMismatch {
                cert: cert_path.to_owned(),
                key: key_path.to_owned(),
            });
        }
        let issuer =
            Issuer::from_ca_cert_der(cert_der, key).map_err(|e| invalid(&e.to_string()))?;
        Ok(Self {
            cert_path: cert_path.to_owned(),
            certs,
            not_before,
            not_after,
            issuer,
        })
    }

    /// Generates the intermediate's key and has it signed; the key is written first, as for
    /// a root CA.
    fn issue_intermediate(
        &self,
        cert_path: PathBuf,
        key_path: &Path,
    ) -> Result<LocalCa, IdentityError> {
        let now = SystemTime::now();
        let mut params = CertificateParams::default();
        params.distinguished_name = common_name(COMMON_NAME);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.use_authority_key_identifier_extension = true;
        let not_before = now.checked_sub(BACKDATE).unwrap_or(now);
        params.not_before = not_before.max(self.not_before).into();
        params.not_after = (now + INTERMEDIATE_VALIDITY).min(self.not_after).into();

        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let cert = params.signed_by(&key, &self.issuer)?;
        let cert_pem = cert.pem();
        files::write_new(
            key_path,
            0o600,
            Zeroizing::new(key.serialize_pem()).as_bytes(),
        )?;
        files::write_new(&cert_path, 0o644, cert_pem.as_bytes())?;
        tracing::info!(
            path = %cert_path.display(),
            upstream = %self.cert_path.display(),
            "created intermediate CA"
        );
        let cert_der = cert.der().clone();
        // Issuer::new would not know the serial or key identifier rcgen chose; reading the
        // certificate back gives the same issuer as a later start.
        let issuer = Issuer::from_ca_cert_der(&cert_der, key).map_err(|e| {
            IdentityError::InvalidCertificate {
                path: cert_path.clone(),
                reason: e.to_string(),
            }
        })?;
        Ok(LocalCa {
            cert_pem,
            cert_der,
            cert_path,
            issuer,
            upstream: None,
        })
    }

    /// Checks that a stored intermediate was signed by this upstream and is still valid.
    fn check_issued(&self, ca: &LocalCa) -> Result<(), IdentityError> {
        let invalid = |reason: String| IdentityError::InvalidCertificate {
            path: ca.cert_path.clone(),
            reason,
        };
        let (_, x509) =
            X509Certificate::from_der(&ca.cert_der).map_err(|e| invalid(e.to_string()))?;
        let upstream_der = self
            .certs
            .first()
            .ok_or_else(|| IdentityError::NoCertificate {
                path: self.cert_path.clone(),
            })?;
        let (_, upstream) = X509Certificate::from_der(upstream_der).map_err(|e| {
            IdentityError::InvalidCertificate {
                path: self.cert_path.clone(),
                reason: e.to_string(),
            }
        })?;
        let not_issued = || {
            invalid(format!(
                "not issued by the upstream CA `{}`; if the upstream CA was replaced on purpose, \
                 remove `{}` and its key to have a new intermediate issued",
                self.cert_path.display(),
                ca.cert_path.display()
            ))
        };
        if x509.issuer() != upstream.subject() {
            return Err(not_issued());
        }
        x509.verify_signature(Some(upstream.public_key()))
            .map_err(|_| not_issued())?;
        if time(&x509.validity().not_after) <= SystemTime::now() {
            return Err(invalid(format!(
                "the intermediate CA certificate has expired; remove it and its key to have a \
                 new one issued by `{}`",
                self.cert_path.display()
            )));
        }
        Ok(())
    }

    /// The chain and root an intermediate `ca` of this upstream presents.
    fn chain_for(&self, ca: &LocalCa) -> Result<Upstream, IdentityError> {
        let (root, between) =
            self.certs
                .split_last()
                .ok_or_else(|| IdentityError::NoCertificate {
                    path: self.cert_path.clone(),
                })?;
        let mut chain = vec![ca.cert_der.clone()];
        chain.extend(between.iter().cloned());
        let chain_pem = chain.iter().map(pem).collect();
        Ok(Upstream {
            chain,
            chain_pem,
            root_der: root.clone(),
            root_pem: pem(root),
        })
    }
}

// === helpers ===

fn time(t: &ASN1Time) -> SystemTime {
    let secs = t.timestamp();
    match u64::try_from(secs) {
        Ok(secs) => SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
        Err(_) => SystemTime::UNIX_EPOCH,
    }
}

/// A certificate as a PEM block, encoded by the `pem` crate (already used by rcgen).
fn pem(der: &CertificateDer<'_>) -> String {
    let block = ::pem::Pem::new("CERTIFICATE", der.as_ref().to_vec());
    ::pem::encode_config(
        &block,
        ::pem::EncodeConfig::new().set_line_ending(::pem::LineEnding::LF),
    )
}

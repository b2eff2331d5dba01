//! A local certificate authority kept in the data directory, issuing Rampart's own
//! certificates when none are configured.

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, SystemTime},
};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PublicKeyData,
};
use rustls::{crypto::aws_lc_rs::sign::any_supported_type, sign::CertifiedKey};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use x509_parser::{certificate::X509Certificate, prelude::FromDer};
use zeroize::Zeroizing;

use crate::{IdentityError, certs, files};

mod stored_key;
mod upstream;

const CERT_FILE: &str = "ca.pem";
const KEY_FILE: &str = "ca-key.pem";
const COMMON_NAME: &str = "Rampart local CA";
const DAY: Duration = Duration::from_secs(86_400);
const CA_VALIDITY: Duration = DAY.saturating_mul(3_652);
const SERVER_VALIDITY: Duration = DAY.saturating_mul(90);
/// Certificates start an hour in the past so that peers with a slightly slow clock accept them.
const BACKDATE: Duration = Duration::from_secs(3_600);

/// A certificate authority whose certificate and key live in `ca.pem` and `ca-key.pem`
/// (mode 0600) of a directory.
pub struct LocalCa {
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    cert_path: PathBuf,
    issuer: Issuer<'static, KeyPair>,
    /// For an intermediate CA, the operator's CA it chains to; `None` for a root.
    upstream: Option<upstream::Upstream>,
}

// === impl LocalCa ===

impl LocalCa {
    /// Loads `dir/ca.pem` and `dir/ca-key.pem`, or creates both when neither exists: an ECDSA
    /// P-256 CA (CN "Rampart local CA", keyCertSign and cRLSign, valid ten years).
    ///
    /// `dir` is created with mode 0700 if missing. The key file is created with mode 0600; an
    /// existing key file that group or others can access is refused, as is a directory holding
    /// only one of the two files (a key is never overwritten).
    pub fn load_or_create(dir: &Path) -> Result<Self, IdentityError> {
        files::create_private_dir(dir)?;
        let cert_path = dir.join(CERT_FILE);
        let key_path = dir.join(KEY_FILE);
        match (files::exists(&cert_path)?, files::exists(&key_path)?) {
            (true, true) => Self::load(cert_path, &key_path),
            (false, false) => Self::create(cert_path, &key_path),
            (true, false) => Err(IdentityError::CaIncomplete {
                dir: dir.to_owned(),
                missing: key_path,
            }),
            (false, true) => Err(IdentityError::CaIncomplete {
                dir: dir.to_owned(),
                missing: cert_path,
            }),
        }
    }

    /// This CA's own certificate in PEM: for a root CA, what clients trust; for an
    /// intermediate, see [`chain_pem`](Self::chain_pem) and [`root_pem`](Self::root_pem).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// This CA's own certificate in DER (for a root CA, e.g. for a `rustls::RootCertStore`).
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// Where the CA certificate is stored.
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// Issues a server certificate (ECDSA P-256, valid 90 days, digitalSignature, serverAuth)
    /// for DNS names and IP addresses such as `localhost`, `127.0.0.1` or `::1`. The first
    /// name is also the subject's common name. The returned chain is the certificate followed
    /// by [`chain_der`](Self::chain_der) (nothing more for a root CA).
    pub fn issue_server_cert(&self, names: &[String]) -> Result<Arc<CertifiedKey>, IdentityError> {
        self.issue_server(names, false)
    }

    /// Like [`issue_server_cert`](Self::issue_server_cert), but the chain ends with the root
    /// ([`root_der`](Self::root_der)) too, so that a client pinning the root's fingerprint
    /// (see [`crate::PinnedCaVerifier`]) finds it: `[leaf, root]` for a root CA,
    /// `[leaf, intermediate, …, operator root]` for an intermediate.
    pub fn issue_server_cert_with_root(
        &self,
        names: &[String],
    ) -> Result<Arc<CertifiedKey>, IdentityError> {
        self.issue_server(names, true)
    }

    fn issue_server(
        &self,
        names: &[String],
        with_root: bool,
    ) -> Result<Arc<CertifiedKey>, IdentityError> {
        let first = names.first().ok_or(IdentityError::NoNames)?;
        for name in names {
            ServerName::try_from(name.as_str()).map_err(|_| IdentityError::InvalidName {
                name: name.clone(),
                reason: "not a DNS name or IP address",
            })?;
        }
        let mut params = CertificateParams::new(names.to_vec())?;
        params.distinguished_name = common_name(first);
        set_validity(&mut params, SERVER_VALIDITY);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];

        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let cert = self.sign(&params, &key)?;
        let key_der = Zeroizing::new(PrivateKeyDer::from(key));
        let signing_key = any_supported_type(&key_der)?;
        let mut chain = vec![cert];
        chain.extend(self.chain_der().iter().cloned());
        if with_root && !chain.contains(self.root_der()) {
            chain.push(self.root_der().clone());
        }
        Ok(Arc::new(CertifiedKey::new(chain, signing_key)))
    }

    /// Signs a certificate for `public_key` as described by `params`, with this CA as issuer
    /// (its authority key identifier included). Every certificate this CA issues goes through
    /// here; callers choose names, usages and validity.
    pub fn sign(
        &self,
        params: &CertificateParams,
        public_key: &impl PublicKeyData,
    ) -> Result<CertificateDer<'static>, IdentityError> {
        let mut params = params.clone();
        params.use_authority_key_identifier_extension = true;
        Ok(params.signed_by(public_key, &self.issuer)?.der().clone())
    }

    fn create(cert_path: PathBuf, key_path: &Path) -> Result<Self, IdentityError> {
        Self::create_with(cert_path, Some(key_path))
    }

    /// Creates a root CA; its key is written to `key_path` when given (else it lives only in
    /// memory until the caller stores it elsewhere, see `stored_key.rs`).
    fn create_with(cert_path: PathBuf, key_path: Option<&Path>) -> Result<Self, IdentityError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = common_name(COMMON_NAME);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        set_validity(&mut params, CA_VALIDITY);

        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let cert = params.self_signed(&key)?;
        let cert_pem = cert.pem();
        // The key goes first: a certificate on disk without its key would be unusable, and a
        // key is never overwritten, so a crash in between asks the operator to clean up.
        if let Some(key_path) = key_path {
            files::write_new(
                key_path,
                0o600,
                Zeroizing::new(key.serialize_pem()).as_bytes(),
            )?;
        }
        files::write_new(&cert_path, 0o644, cert_pem.as_bytes())?;
        tracing::info!(path = %cert_path.display(), "created local CA");
        Ok(Self {
            cert_pem,
            cert_der: cert.der().clone(),
            cert_path,
            issuer: Issuer::new(params, key),
            upstream: None,
        })
    }

    fn load(cert_path: PathBuf, key_path: &Path) -> Result<Self, IdentityError> {
        Self::load_key_pem(cert_path, key_path, &files::read_private(key_path)?)
    }

    /// Loads the certificate at `cert_path` with the key `key_pem` (`key_path` names where
    /// the key came from, for errors).
    fn load_key_pem(
        cert_path: PathBuf,
        key_path: &Path,
        key_pem: &[u8],
    ) -> Result<Self, IdentityError> {
        let key_der = certs::parse_private_key(key_path, key_pem)?;
        let key = KeyPair::try_from(&*key_der).map_err(|_| IdentityError::UnsupportedKey {
            path: key_path.to_owned(),
        })?;

        let cert_pem = String::from_utf8(files::read(&cert_path)?.to_vec()).map_err(|_| {
            IdentityError::MalformedPem {
                path: cert_path.clone(),
                reason: "not UTF-8 text",
            }
        })?;
        let chain = certs::parse_certificates(&cert_path, cert_pem.as_bytes())?;
        let cert_der = chain
            .into_iter()
            .next()
            .ok_or_else(|| IdentityError::NoCertificate {
                path: cert_path.clone(),
            })?;
        let invalid = |reason: &str| IdentityError::InvalidCertificate {
            path: cert_path.clone(),
            reason: reason.to_owned(),
        };
        let (_, x509) =
            X509Certificate::from_der(&cert_der).map_err(|e| invalid(&e.to_string()))?;
        if !x509.is_ca() {
            return Err(invalid("not a CA certificate"));
        }
        if x509.public_key().raw != key.subject_public_key_info().as_slice() {
            return Err(IdentityError::KeyMismatch {
                cert: cert_path,
                key: key_path.to_owned(),
            });
        }
        let issuer =
            Issuer::from_ca_cert_der(&cert_der, key).map_err(|e| invalid(&e.to_string()))?;
        Ok(Self {
            cert_pem,
            cert_der,
            cert_path,
            issuer,
            upstream: None,
        })
    }
}

impl fmt::Debug for LocalCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalCa")
            .field("cert_path", &self.cert_path)
            .field("key", &"<redacted>")
            .finish()
    }
}

// === helpers ===

fn common_name(name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn
}

/// Makes `params` valid for `lifetime` from now (and from a little before now).
fn set_validity(params: &mut CertificateParams, lifetime: Duration) {
    let now = SystemTime::now();
    params.not_before = now.checked_sub(BACKDATE).unwrap_or(now).into();
    params.not_after = (now + lifetime).into();
}

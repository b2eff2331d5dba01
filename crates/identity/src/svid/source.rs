//! The workload's own SVID, swappable at run time: renewal replaces it and every TLS
//! configuration built on it presents the new one from the next handshake on.

use std::{fmt, sync::Arc, time::SystemTime};

use arc_swap::ArcSwap;
use rampart_core::spiffe::SpiffeId;
use rustls::{
    InconsistentKeys, SignatureScheme,
    client::ResolvesClientCert,
    crypto::aws_lc_rs::sign::any_supported_type,
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::{certificate::X509Certificate, prelude::FromDer};
use zeroize::Zeroizing;

use super::{SvidError, expiry_time, renewal_time, revocation, verify};

/// The workload's current SVID (chain and key), behind an `ArcSwap`: a rustls certificate
/// resolver for both sides of a connection, which always offers the current SVID.
///
/// The SPIFFE id is fixed for the life of the source; [`SvidSource::replace`] refuses an SVID
/// naming another. `Debug` shows the id and the expiry, never the key.
pub struct SvidSource {
    id: SpiffeId,
    current: ArcSwap<Loaded>,
}

/// One SVID, with what is read from its leaf once rather than on every call.
struct Loaded {
    key: Arc<CertifiedKey>,
    expires_at: SystemTime,
    renew_at: SystemTime,
    serial: String,
}

// === impl SvidSource ===

impl SvidSource {
    /// A source holding the SVID `chain` (leaf first) and its private `key`.
    ///
    /// The leaf must carry exactly one URI SAN, a SPIFFE id with a path, and `key` must be
    /// the private half of the leaf's public key. The chain is not verified against a trust
    /// bundle here: peers do that.
    pub fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Arc<Self>, SvidError> {
        let (id, loaded) = load(chain, key)?;
        Ok(Arc::new(Self {
            id,
            current: ArcSwap::from_pointee(loaded),
        }))
    }

    /// Replaces the SVID, with the same checks as [`SvidSource::new`]; an SVID naming another
    /// SPIFFE id is refused and the current one kept.
    pub fn replace(
        &self,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<(), SvidError> {
        let (id, loaded) = load(chain, key)?;
        if id != self.id {
            return Err(SvidError::IdChanged {
                expected: self.id.clone(),
                found: id,
            });
        }
        self.current.store(Arc::new(loaded));
        Ok(())
    }

    /// The SPIFFE id of this workload.
    pub fn spiffe_id(&self) -> SpiffeId {
        self.id.clone()
    }

    /// The current SVID with its signing key, as rustls presents it.
    pub fn certified_key(&self) -> Arc<CertifiedKey> {
        self.current.load().key.clone()
    }

    /// The current certificate chain, leaf first.
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        self.current.load().key.cert.clone()
    }

    /// When the current SVID expires (its notAfter).
    pub fn expires_at(&self) -> SystemTime {
        self.current.load().expires_at
    }

    /// When the current SVID should be renewed: half-way through its validity.
    pub fn renew_at(&self) -> SystemTime {
        self.current.load().renew_at
    }

    /// The serial number of the current SVID (see [`crate::serial_hex`]).
    pub fn serial(&self) -> String {
        self.current.load().serial.clone()
    }
}

impl fmt::Debug for SvidSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let current = self.current.load();
        f.debug_struct("SvidSource")
            .field("id", &self.id.to_string())
            .field("serial", &current.serial)
            .field("expires_at", &current.expires_at)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for SvidSource {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.certified_key())
    }
}

impl ResolvesClientCert for SvidSource {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.certified_key())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

// === helpers ===

/// Checks an SVID and its key and reads what the source keeps of it.
fn load(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<(SpiffeId, Loaded), SvidError> {
    let key = Zeroizing::new(key);
    let leaf = chain.first().ok_or(SvidError::NoCertificate)?;
    let (_, x509) = X509Certificate::from_der(leaf).map_err(|e| SvidError::Malformed {
        reason: e.to_string(),
    })?;
    let id = verify::spiffe_id(&x509)?;
    let serial = revocation::hex_of(x509.raw_serial());
    let expires_at = expiry_time(leaf)?;
    let renew_at = renewal_time(leaf)?;
    let signing_key = any_supported_type(&key).map_err(|_| SvidError::UnsupportedKey {
        algorithm: "private key".to_owned(),
    })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        Ok(()) => {}
        Err(rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
            return Err(SvidError::KeyMismatch);
        }
        // A key that cannot tell its public half cannot be checked: refuse it.
        Err(e) => {
            return Err(SvidError::Malformed {
                reason: e.to_string(),
            });
        }
    }
    let loaded = Loaded {
        key: Arc::new(certified),
        expires_at,
        renew_at,
        serial,
    };
    Ok((id, loaded))
}

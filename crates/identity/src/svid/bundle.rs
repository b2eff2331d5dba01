//! The root certificates trusted for one trust domain.

use std::sync::Arc;

use arc_swap::ArcSwap;
use rampart_core::spiffe::TrustDomain;
use rustls_pki_types::{CertificateDer, TrustAnchor};
use x509_parser::{certificate::X509Certificate, prelude::FromDer};

use super::SvidError;

/// A trust bundle that verifiers read on every handshake and that can be replaced at run
/// time: `bundle.store(Arc::new(new_bundle))`.
pub type SharedTrustBundle = Arc<ArcSwap<TrustBundle>>;

/// The root certificates of one trust domain. Several roots may be trusted at once, so that
/// a new CA can be introduced before the old one is retired (rollover).
#[derive(Clone, Debug)]
pub struct TrustBundle {
    trust_domain: TrustDomain,
    roots: Vec<CertificateDer<'static>>,
    /// `roots`, parsed for webpki, in the same order.
    anchors: Vec<TrustAnchor<'static>>,
}

// === impl TrustBundle ===

impl TrustBundle {
    /// An empty bundle for `trust_domain`: it trusts nothing until roots are added.
    pub fn new(trust_domain: TrustDomain) -> Self {
        Self {
            trust_domain,
            roots: Vec::new(),
            anchors: Vec::new(),
        }
    }

    /// Adds a root (a CA certificate). Adding a root already present does nothing.
    pub fn add(&mut self, root: CertificateDer<'static>) -> Result<(), SvidError> {
        if self.roots.contains(&root) {
            return Ok(());
        }
        let invalid = |reason: String| SvidError::InvalidRoot { reason };
        let (_, x509) = X509Certificate::from_der(&root).map_err(|e| invalid(e.to_string()))?;
        if !x509.is_ca() {
            return Err(invalid("not a CA certificate".to_owned()));
        }
        let anchor = webpki::anchor_from_trusted_cert(&root)
            .map_err(|e| invalid(e.to_string()))?
            .to_owned();
        self.anchors.push(anchor);
        self.roots.push(root);
        Ok(())
    }

    /// Removes a root; returns whether it was present.
    pub fn remove(&mut self, root: &CertificateDer<'_>) -> bool {
        match self.roots.iter().position(|r| r == root) {
            Some(i) => {
                self.roots.remove(i);
                self.anchors.remove(i);
                true
            }
            None => false,
        }
    }

    /// The trusted roots, in the order they were added.
    pub fn roots(&self) -> &[CertificateDer<'static>] {
        &self.roots
    }

    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    /// Wraps the bundle for verifiers that must see later replacements.
    pub fn shared(self) -> SharedTrustBundle {
        Arc::new(ArcSwap::from_pointee(self))
    }

    pub(super) fn anchors(&self) -> &[TrustAnchor<'static>] {
        &self.anchors
    }
}

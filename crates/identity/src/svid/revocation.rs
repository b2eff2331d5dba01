//! Revoked SVID serial numbers, as the mesh snapshot carries them, and the shared handle the
//! verifiers read on every handshake.
//!
//! A serial is written as the lowercase hex of the certificate's serial bytes without leading
//! zero bytes ([`serial_hex`]); the same spelling is used everywhere (store, API, CLI).

use std::{collections::BTreeSet, fmt::Write, sync::Arc};

use arc_swap::ArcSwap;
use rustls_pki_types::CertificateDer;
use x509_parser::{certificate::X509Certificate, prelude::FromDer};

use super::SvidError;

/// The serial number of `cert` as lowercase hex of its serial bytes (as x509-parser reads
/// them), leading zero bytes stripped; a serial of zero is `"0"`.
pub fn serial_hex(cert: &CertificateDer<'_>) -> Result<String, SvidError> {
    let (_, x509) = X509Certificate::from_der(cert).map_err(|e| SvidError::Malformed {
        reason: e.to_string(),
    })?;
    Ok(hex_of(x509.raw_serial()))
}

/// A set of revoked serial numbers (see [`serial_hex`] for their spelling).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RevocationList {
    serials: BTreeSet<String>,
}

/// A [`RevocationList`] that verifiers read on every handshake and that can be replaced at
/// run time with [`SharedRevocations::store`]. Clones share the same list.
#[derive(Clone, Debug, Default)]
pub struct SharedRevocations {
    list: Arc<ArcSwap<RevocationList>>,
}

// === impl RevocationList ===

impl RevocationList {
    /// A list of `serials`, normalised: lowercase, leading zero bytes stripped, so that
    /// `"00AB"` and `"ab"` name the same serial.
    pub fn new(serials: impl IntoIterator<Item = String>) -> Self {
        Self {
            serials: serials.into_iter().map(|s| normalise(&s)).collect(),
        }
    }

    /// Whether the serial `serial_hex` (any case, leading zeros allowed) is revoked.
    pub fn is_revoked(&self, serial_hex: &str) -> bool {
        !self.serials.is_empty() && self.serials.contains(&normalise(serial_hex))
    }

    /// Whether the certificate `leaf` is revoked. A certificate that cannot be parsed counts
    /// as revoked: the check fails closed.
    pub fn is_cert_revoked(&self, leaf: &CertificateDer<'_>) -> bool {
        match serial_hex(leaf) {
            Ok(serial) => self.serials.contains(&serial),
            Err(_) => true,
        }
    }

    /// How many serials are revoked.
    pub fn len(&self) -> usize {
        self.serials.len()
    }

    /// Whether no serial is revoked.
    pub fn is_empty(&self) -> bool {
        self.serials.is_empty()
    }

    /// The revoked serials, normalised, in ascending order.
    pub fn serials(&self) -> impl Iterator<Item = &str> {
        self.serials.iter().map(String::as_str)
    }
}

// === impl SharedRevocations ===

impl SharedRevocations {
    /// A shared handle starting with `list`.
    pub fn new(list: RevocationList) -> Self {
        Self {
            list: Arc::new(ArcSwap::from_pointee(list)),
        }
    }

    /// The current list.
    pub fn load(&self) -> Arc<RevocationList> {
        self.list.load_full()
    }

    /// Replaces the list; handshakes from now on see `list`.
    pub fn store(&self, list: RevocationList) {
        self.list.store(Arc::new(list));
    }
}

// === helpers ===

/// Lowercase hex of `bytes` without leading zero bytes; `"0"` when nothing remains.
pub(super) fn hex_of(bytes: &[u8]) -> String {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    let significant = &bytes[start..];
    if significant.is_empty() {
        return "0".to_owned();
    }
    let mut hex = String::with_capacity(significant.len() * 2);
    for b in significant {
        // Writing to a String cannot fail.
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

/// The canonical spelling of a serial given as hex: lowercase, whitespace trimmed, leading
/// zero *bytes* stripped (an odd number of digits is read as if a `0` preceded it).
fn normalise(serial: &str) -> String {
    let lower = serial.trim().to_ascii_lowercase();
    let padded = match lower.len() % 2 {
        1 => format!("0{lower}"),
        _ => lower,
    };
    let mut rest = padded.as_str();
    while let Some(tail) = rest.strip_prefix("00") {
        rest = tail;
    }
    match rest.is_empty() {
        true => "0".to_owned(),
        false => rest.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_strips_leading_zero_bytes_only() {
        assert_eq!(hex_of(&[0x00, 0x0a, 0xff]), "0aff");
        assert_eq!(hex_of(&[0x00, 0x00]), "0");
        assert_eq!(hex_of(&[]), "0");
        assert_eq!(hex_of(&[0x40, 0x01]), "4001");
    }

    #[test]
    fn list_normalises_case_and_leading_zeros() {
        let list = RevocationList::new(["00ABcd".to_owned(), "0".to_owned(), "abc".to_owned()]);
        assert!(list.is_revoked("abcd"));
        assert!(list.is_revoked("0000ABCD"));
        assert!(list.is_revoked("00"));
        assert!(list.is_revoked("0abc"));
        assert!(!list.is_revoked("abce"));
        assert_eq!(list.len(), 3);
        assert_eq!(list.serials().collect::<Vec<_>>(), ["0", "0abc", "abcd"]);
    }

    #[test]
    fn an_unparsable_certificate_counts_as_revoked() {
        let list = RevocationList::default();
        assert!(list.is_empty());
        assert!(list.is_cert_revoked(&CertificateDer::from(vec![1, 2, 3])));
    }

    #[test]
    fn shared_list_is_swapped_for_every_clone() {
        let shared = SharedRevocations::default();
        let other = shared.clone();
        assert!(shared.load().is_empty());
        other.store(RevocationList::new(["01".to_owned()]));
        assert!(shared.load().is_revoked("1"));
    }
}

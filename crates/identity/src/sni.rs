//! Picks the server certificate by SNI, from a set that can be swapped while serving.

use std::{collections::HashMap, fmt, sync::Arc};

use arc_swap::ArcSwap;
use rustls::{
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};
use rustls_pki_types::DnsName;

use crate::IdentityError;

/// Certificates with the names each one serves, in order of preference: the first entry is
/// also the default. [`crate::certificate_names`] gives the names a certificate is for.
pub type SniEntries = Vec<(Vec<String>, Arc<CertifiedKey>)>;

/// A [`ResolvesServerCert`] that chooses by SNI: an exact name first, then a wildcard
/// `*.example.com` (one label deep), case-insensitively; the first certificate when SNI is
/// absent or unknown.
///
/// [`SniResolver::replace`] swaps the whole set atomically: handshakes that already picked a
/// certificate, and established connections, are unaffected; later handshakes see the new set.
pub struct SniResolver {
    certs: ArcSwap<CertSet>,
}

struct CertSet {
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// Keyed by `example.com` for `*.example.com`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    default: Arc<CertifiedKey>,
}

// === impl SniResolver ===

impl SniResolver {
    /// A resolver over `entries`; an error if there are none or a name is malformed.
    pub fn new(entries: SniEntries) -> Result<Self, IdentityError> {
        Ok(Self {
            certs: ArcSwap::from_pointee(CertSet::build(entries)?),
        })
    }

    /// Replaces the certificate set for handshakes from now on. On error the old set stays.
    pub fn replace(&self, entries: SniEntries) -> Result<(), IdentityError> {
        self.certs.store(Arc::new(CertSet::build(entries)?));
        Ok(())
    }

    /// The certificate for `server_name` (the client's SNI, if it sent one).
    pub fn select(&self, server_name: Option<&str>) -> Arc<CertifiedKey> {
        self.certs.load().select(server_name)
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.select(client_hello.server_name()))
    }
}

impl fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let certs = self.certs.load();
        let wildcards = certs.wildcard.keys().map(|parent| format!("*.{parent}"));
        let mut names: Vec<String> = certs.exact.keys().cloned().chain(wildcards).collect();
        names.sort();
        f.debug_struct("SniResolver")
            .field("names", &names)
            .finish()
    }
}

// === impl CertSet ===

impl CertSet {
    fn build(entries: SniEntries) -> Result<Self, IdentityError> {
        let default = entries
            .first()
            .map(|(_, ck)| ck.clone())
            .ok_or(IdentityError::NoCertificates)?;
        let mut set = Self {
            exact: HashMap::new(),
            wildcard: HashMap::new(),
            default,
        };
        for (names, ck) in entries {
            for name in names {
                let (table, key) = match normalize(&name)? {
                    Name::Exact(key) => (&mut set.exact, key),
                    Name::Wildcard(parent) => (&mut set.wildcard, parent),
                };
                // An earlier entry keeps a name it shares with a later one.
                table.entry(key).or_insert_with(|| ck.clone());
            }
        }
        Ok(set)
    }

    fn select(&self, server_name: Option<&str>) -> Arc<CertifiedKey> {
        let Some(name) = server_name else {
            return self.default.clone();
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.exact
            .get(&name)
            .or_else(|| {
                let (_, parent) = name.split_once('.')?;
                self.wildcard.get(parent)
            })
            .unwrap_or(&self.default)
            .clone()
    }
}

// === helpers ===

#[derive(Debug, PartialEq)]
enum Name {
    Exact(String),
    /// The parent domain of a `*.parent` name.
    Wildcard(String),
}

/// Lower-cases `name`, drops a final dot and checks it is a DNS name, or `*.` and one.
fn normalize(name: &str) -> Result<Name, IdentityError> {
    let lower = name.trim_end_matches('.').to_ascii_lowercase();
    let (wildcard, domain) = match lower.strip_prefix("*.") {
        Some(parent) => (true, parent),
        None => (false, lower.as_str()),
    };
    if domain.contains('*') || DnsName::try_from(domain).is_err() {
        return Err(IdentityError::InvalidName {
            name: name.to_owned(),
            reason: "not a DNS name or a `*.` wildcard of one",
        });
    }
    Ok(match wildcard {
        true => Name::Wildcard(domain.to_owned()),
        false => Name::Exact(lower),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalized() {
        assert_eq!(
            normalize("A.Test.").unwrap(),
            Name::Exact("a.test".to_owned())
        );
        assert_eq!(
            normalize("*.W.test").unwrap(),
            Name::Wildcard("w.test".to_owned())
        );
    }

    #[test]
    fn malformed_names_are_refused() {
        for bad in ["", "*", "a.*.test", "*.*.test", "a b.test", "*."] {
            assert!(normalize(bad).is_err(), "{bad:?} was accepted");
        }
    }
}

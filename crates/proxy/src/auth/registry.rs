//! The issuers of one gateway, shared by its routes: routes that accept the same issuer with the
//! same fetch settings (issuer URL, `jwks_uri`, `ca`, introspection) share one [`IssuerKeys`],
//! so they cost one discovery, one key-set fetch per refresh and one rate-limited refetch.
//!
//! The registry holds weak references: when the last route using an issuer is dropped (reload),
//! the issuer's background refresh stops.

use super::jwks::{IssuerError, IssuerKeys};
use rampart_config::{JwtIntrospection, JwtIssuer};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};

/// What makes two issuer entries share keys (the allowed algorithms are route policy).
#[derive(Debug, Clone, PartialEq)]
struct IssuerId {
    issuer: String,
    jwks_uri: Option<String>,
    ca: Option<PathBuf>,
    introspection: Option<JwtIntrospection>,
}

impl IssuerId {
    fn of(config: &JwtIssuer) -> Self {
        Self {
            issuer: config.issuer.clone(),
            jwks_uri: config.jwks_uri.clone(),
            ca: config.ca.clone(),
            introspection: config.introspection.clone(),
        }
    }
}

/// The issuers started so far, by settings; dead ones are pruned on the next lookup.
type Entries = Vec<(IssuerId, Weak<IssuerKeys>)>;

/// The live issuers of a gateway; cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct IssuerRegistry {
    issuers: Arc<Mutex<Entries>>,
}

// === impl IssuerRegistry ===

impl IssuerRegistry {
    /// The live issuer with these settings, or a new one whose refresh starts on `runtime`.
    pub fn get_or_start(
        &self,
        config: &JwtIssuer,
        runtime: &tokio::runtime::Handle,
    ) -> Result<Arc<IssuerKeys>, IssuerError> {
        let id = IssuerId::of(config);
        let mut issuers = self
            .issuers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        issuers.retain(|(_, weak)| weak.strong_count() > 0);
        if let Some(live) = issuers
            .iter()
            .find(|(known, _)| *known == id)
            .and_then(|(_, weak)| weak.upgrade())
        {
            return Ok(live);
        }
        let started = IssuerKeys::start(config, runtime)?;
        issuers.push((id, Arc::downgrade(&started)));
        Ok(started)
    }
}

//! `Policy`: what a route (or the authorization server) demands of a token.

use std::collections::BTreeMap;
use std::time::Duration;

/// Default clock-skew leeway for `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// Default maximum token size in bytes (checked before any decoding).
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The checks `verify` applies after the signature.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Expected `iss`, compared exactly.
    pub issuer: String,
    /// Allowed `alg` values, e.g. `["ES256", "EdDSA", "RS256", "PS256"]`. `none`, `HS*` and
    /// unknown names are never accepted even when listed.
    pub algorithms: Vec<String>,
    /// `aud` must contain any of these; empty = no audience check.
    pub audiences: Vec<String>,
    /// Every one must be in `scope` (space-separated) or `scp` (array).
    pub required_scopes: Vec<String>,
    /// Claims that must be present with exactly these values.
    pub required_claims: BTreeMap<String, serde_json::Value>,
    /// Clock-skew leeway (default 30 s).
    pub leeway: Duration,
    /// Maximum token size in bytes (default 8 KiB).
    pub max_token_bytes: usize,
}

impl Policy {
    /// A policy for `issuer` accepting ES256 and EdDSA, no audience/scope/claim requirements,
    /// default leeway and size limit.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            algorithms: vec!["ES256".to_owned(), "EdDSA".to_owned()],
            audiences: Vec::new(),
            required_scopes: Vec::new(),
            required_claims: BTreeMap::new(),
            leeway: DEFAULT_LEEWAY,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
        }
    }
}

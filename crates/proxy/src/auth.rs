//! Bearer-token authentication of a route (`auth.jwt`): the route's accepted issuers with their
//! keys, its policy, and the cache of verified tokens.
//!
//! A route with `auth.jwt` never serves a request without a verified token: before its issuers'
//! keys are fetched every token is refused (401), and a failed refresh keeps the last good keys.
//! A change of any issuer's key set (rotation) empties the route's cache.

mod fetch;
mod introspect;
mod jwks;
mod registry;
mod validator;

use crate::error::ProxyError;
use crate::metrics::Metrics;
use http::{HeaderName, HeaderValue};
use jwks::{IssuerKeys, Subscription};
use rampart_config::JwtAuth;
use rampart_token::{DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_BYTES, Policy, Verified, VerifiedCache};
pub use registry::IssuerRegistry;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

/// The verified claims of the request's token, as JSON in base64url (no padding); set only by
/// Rampart (inbound copies are stripped with every other `x-rampart-*` header).
pub static X_RAMPART_CLAIMS: HeaderName = HeaderName::from_static("x-rampart-claims");

/// How many verified tokens a route keeps.
const CACHE_CAPACITY: usize = 16 * 1024;

/// A route's token validation, ready for requests.
#[derive(Debug)]
pub struct JwtRt {
    /// The settings it was compiled from (a reload with equal settings keeps this runtime).
    pub config: JwtAuth,
    /// The accepted issuers (shared with the gateway's other routes) and this route's policy
    /// for each.
    issuers: Vec<(Arc<IssuerKeys>, Policy)>,
    /// Keeps this route's cache subscribed to its issuers' key changes.
    _subscriptions: Vec<Arc<Subscription>>,
    cache: Arc<VerifiedCache>,
    /// Bumped by the issuers when their key sets change.
    epoch: Arc<AtomicU64>,
    /// The required scopes, space-separated, for `insufficient_scope` challenges.
    scope: String,
    max_token_bytes: usize,
}

/// Why a request's token was refused: its status (401 or 403), a short reason code for events
/// and metrics, and the `WWW-Authenticate` challenge (RFC 6750).
#[derive(Debug, Clone)]
pub struct Rejection {
    pub status: u16,
    pub reason: &'static str,
    pub challenge: HeaderValue,
}

// === impl JwtRt ===

impl JwtRt {
    /// Compiles `config` of route `route`: its issuers come from `registry` (started there
    /// when no other route of the gateway fetches them already).
    pub fn new(
        route: &str,
        config: &JwtAuth,
        metrics: &Metrics,
        registry: &IssuerRegistry,
    ) -> Result<Self, ProxyError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            ProxyError::Config(format!("route `{route}`: token validation needs a runtime"))
        })?;
        let epoch = Arc::new(AtomicU64::new(0));
        let cache = Arc::new(VerifiedCache::new(CACHE_CAPACITY));
        let leeway = config.leeway.map_or(DEFAULT_LEEWAY, |d| d.0);
        let max_token_bytes = config
            .max_token_bytes
            .and_then(|b| usize::try_from(b.0).ok())
            .unwrap_or(DEFAULT_MAX_TOKEN_BYTES);
        let mut issuers = Vec::with_capacity(config.issuers.len());
        let mut subscriptions = Vec::with_capacity(config.issuers.len());
        for i in &config.issuers {
            let keys = registry.get_or_start(i, &runtime).map_err(|e| {
                ProxyError::Config(format!("route `{route}`: issuer `{}`: {e}", i.issuer))
            })?;
            subscriptions.push(keys.subscribe(route, epoch.clone(), cache.clone(), metrics));
            let policy = Policy {
                issuer: i.issuer.clone(),
                algorithms: i.algorithms.clone(),
                audiences: config.audiences.clone(),
                required_scopes: config.scopes.clone(),
                required_claims: config.claims.clone(),
                leeway,
                max_token_bytes,
            };
            issuers.push((keys, policy));
        }
        Ok(Self {
            config: config.clone(),
            issuers,
            _subscriptions: subscriptions,
            cache,
            epoch,
            scope: config.scopes.join(" "),
            max_token_bytes,
        })
    }
}

/// `x-rampart-claims` for a request whose bearer token verified: the token's payload segment,
/// which is exactly the base64url of the verified claims' JSON (the signature covers it), so
/// nothing is serialised or encoded per request.
pub fn claims_header(headers: &http::HeaderMap) -> Option<HeaderValue> {
    let token = validator::bearer(headers).ok()?;
    let payload = token.split('.').nth(1)?;
    HeaderValue::from_str(payload).ok()
}

/// The request's bearer token (the one a route verified), borrowed from its headers.
pub fn bearer_token(headers: &http::HeaderMap) -> Option<&str> {
    validator::bearer(headers).ok()
}

/// The principal of a verified token: its subject, or its client when it has none.
pub fn principal(verified: &Verified) -> String {
    if verified.subject.is_empty() {
        verified.client_id.clone().unwrap_or_default()
    } else {
        verified.subject.clone()
    }
}

// === impl Rejection ===

impl Rejection {
    fn new(status: u16, reason: &'static str, challenge: &str) -> Self {
        Self {
            status,
            reason,
            // Built from fixed text and reason codes only, so always a valid value.
            challenge: HeaderValue::from_str(challenge)
                .unwrap_or_else(|_| HeaderValue::from_static("Bearer realm=\"rampart\"")),
        }
    }
}

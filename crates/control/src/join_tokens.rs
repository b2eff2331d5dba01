//! Join tokens: one-time credentials that bootstrap a workload's identity.
//!
//! A token reads `rampart-join.<id>.<secret>.<ca_fingerprint>`: a random public id (16 bytes,
//! hex), a random secret (32 bytes, hex) and the hex SHA-256 of the control plane's CA
//! certificate (DER), which the workload pins when it first connects. The store keeps only
//! the SHA-256 of the secret; the token itself is shown once, to whoever created it, and is
//! never logged, stored or published.

use std::{
    fmt,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use aws_lc_rs::{
    digest::{SHA256, digest},
    rand::{SecureRandom, SystemRandom},
};
use rampart_core::{
    Sensitive, ct_eq,
    spiffe::{SpiffeId, TrustDomain},
};
use rampart_events::{Event, EventBus, SecurityEvent, SecurityKind};
use rampart_store::{JoinTokenRecord, Redeemed, Store};

use crate::ControlError;

/// The first field of every join token.
pub const JOIN_TOKEN_PREFIX: &str = "rampart-join";
/// The longest a join token may live.
pub const MAX_JOIN_TOKEN_TTL: Duration = Duration::from_secs(86_400);

/// Random bytes in a token's id (hex: 32 characters).
const ID_BYTES: usize = 16;
/// Random bytes in a token's secret (hex: 64 characters).
const SECRET_BYTES: usize = 32;
/// Hex characters of a SHA-256.
const FINGERPRINT_LEN: usize = 64;
/// The `service.name` of the events published here.
const SOURCE: &str = "rampart-control";

/// The parts of a join token, as read by [`parse_token`]. `Debug` hides the secret.
#[derive(Debug)]
pub struct ParsedJoinToken {
    /// The token's public id.
    pub id: String,
    pub secret: Sensitive<String>,
    /// The hex SHA-256 of the DER of the CA that issued the token, to pin.
    pub ca_fingerprint: String,
}

/// A join token just created: the only time its full text exists.
pub struct NewJoinToken {
    pub token: Sensitive<String>,
    pub spiffe_id: SpiffeId,
    pub expires_at: SystemTime,
}

/// Creates and redeems join tokens for one trust domain. Cheap to clone.
#[derive(Clone)]
pub struct JoinTokens {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    bus: EventBus,
    trust_domain: TrustDomain,
    ca_fingerprint: String,
    rng: SystemRandom,
}

/// Why a token was refused; the only detail that is published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rejection {
    Malformed,
    Unknown,
    AlreadyUsed,
    Expired,
}

/// Reads `rampart-join.<id>.<secret>.<ca_fingerprint>`; the error never repeats the token.
pub fn parse_token(token: &str) -> Result<ParsedJoinToken, ControlError> {
    let malformed = |reason| ControlError::MalformedJoinToken { reason };
    let mut parts = token.trim().split('.');
    let (Some(prefix), Some(id), Some(secret), Some(fingerprint), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(malformed(
            "expected `rampart-join.<id>.<secret>.<ca fingerprint>`",
        ));
    };
    if prefix != JOIN_TOKEN_PREFIX {
        return Err(malformed("it does not start with `rampart-join.`"));
    }
    if !is_hex(id, ID_BYTES * 2) {
        return Err(malformed("the id is not 32 lowercase hex digits"));
    }
    if !is_hex(secret, SECRET_BYTES * 2) {
        return Err(malformed("the secret is not 64 lowercase hex digits"));
    }
    if !is_hex(fingerprint, FINGERPRINT_LEN) {
        return Err(malformed(
            "the ca fingerprint is not 64 lowercase hex digits",
        ));
    }
    Ok(ParsedJoinToken {
        id: id.to_owned(),
        secret: Sensitive::new(secret.to_owned()),
        ca_fingerprint: fingerprint.to_owned(),
    })
}

/// The hex SHA-256 of `der`, as join tokens carry it.
pub fn ca_fingerprint(der: &[u8]) -> String {
    hex::encode(digest(&SHA256, der))
}

// === impl JoinTokens ===

impl JoinTokens {
    /// Join tokens of `trust_domain`, pinning the CA certificate `ca_der`.
    pub fn new(store: Store, bus: EventBus, trust_domain: TrustDomain, ca_der: &[u8]) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                bus,
                trust_domain,
                ca_fingerprint: ca_fingerprint(ca_der),
                rng: SystemRandom::new(),
            }),
        }
    }

    pub fn trust_domain(&self) -> &TrustDomain {
        &self.inner.trust_domain
    }

    /// The hex SHA-256 of the CA certificate every token carries.
    pub fn ca_fingerprint(&self) -> &str {
        &self.inner.ca_fingerprint
    }

    /// Creates a token for `spiffe://<trust domain>/ns/<namespace>/sa/<service>` that can be
    /// redeemed once within `ttl` (1 s to 24 h).
    pub async fn create(
        &self,
        namespace: &str,
        service: &str,
        ttl: Duration,
    ) -> Result<NewJoinToken, ControlError> {
        let invalid = |reason: String| ControlError::InvalidJoinTokenRequest { reason };
        if service.is_empty() {
            return Err(invalid("`service` cannot be empty".to_owned()));
        }
        if namespace.is_empty() {
            return Err(invalid("`namespace` cannot be empty".to_owned()));
        }
        if ttl < Duration::from_secs(1) || ttl > MAX_JOIN_TOKEN_TTL {
            return Err(invalid(format!(
                "`ttl_secs` must be 1 to {}",
                MAX_JOIN_TOKEN_TTL.as_secs()
            )));
        }
        let spiffe_id = SpiffeId::workload(&self.inner.trust_domain, namespace, service)
            .map_err(|e| invalid(format!("invalid `namespace` or `service`: {e}")))?;

        let id = hex::encode(self.random::<ID_BYTES>()?);
        let secret = Sensitive::new(hex::encode(self.random::<SECRET_BYTES>()?));
        let created_at = SystemTime::now();
        let expires_at = created_at + ttl;
        self.inner
            .store
            .insert_join_token(&JoinTokenRecord {
                id: id.clone(),
                secret_hash: hash_secret(secret.expose()),
                trust_domain: self.inner.trust_domain.as_str().to_owned(),
                namespace: namespace.to_owned(),
                service: service.to_owned(),
                created_at,
                expires_at,
                used_at: None,
            })
            .await?;
        tracing::info!(
            token_id = %id,
            spiffe_id = %spiffe_id,
            ttl_secs = ttl.as_secs(),
            "join token created"
        );
        let token = Sensitive::new(format!(
            "{JOIN_TOKEN_PREFIX}.{id}.{}.{}",
            secret.expose(),
            self.inner.ca_fingerprint
        ));
        Ok(NewJoinToken {
            token,
            spiffe_id,
            expires_at,
        })
    }

    /// Redeems `token` once and returns the SPIFFE id it was made for.
    ///
    /// Of concurrent redeems of one token at most one succeeds. A refusal is published as a
    /// [`SecurityKind::JoinTokenRejected`] event with the reason (`malformed`, `unknown`,
    /// `already used`, `expired`), never with the token.
    pub async fn redeem(&self, token: &str) -> Result<SpiffeId, ControlError> {
        self.redeem_from(token, None).await
    }

    /// Like [`JoinTokens::redeem`], naming the client in the event of a refusal.
    pub async fn redeem_from(
        &self,
        token: &str,
        client: Option<SocketAddr>,
    ) -> Result<SpiffeId, ControlError> {
        let parsed = match parse_token(token) {
            Ok(parsed) => parsed,
            Err(_) => return Err(self.reject(Rejection::Malformed, client)),
        };
        // A token pinned to another CA was not issued here.
        if !ct_eq(
            parsed.ca_fingerprint.as_bytes(),
            self.inner.ca_fingerprint.as_bytes(),
        ) {
            return Err(self.reject(Rejection::Unknown, client));
        }
        let hash = hash_secret(parsed.secret.expose());
        let outcome = self
            .inner
            .store
            .redeem_join_token(&parsed.id, &hash, SystemTime::now())
            .await?;
        let record = match outcome {
            Redeemed::Accepted(record) => record,
            Redeemed::Unknown => return Err(self.reject(Rejection::Unknown, client)),
            Redeemed::AlreadyUsed => return Err(self.reject(Rejection::AlreadyUsed, client)),
            Redeemed::Expired => return Err(self.reject(Rejection::Expired, client)),
        };
        let spiffe_id = TrustDomain::parse(&record.trust_domain)
            .and_then(|td| SpiffeId::workload(&td, &record.namespace, &record.service))
            .map_err(|e| ControlError::InvalidJoinTokenRequest {
                reason: format!("the stored join token names an invalid identity: {e}"),
            })?;
        tracing::info!(token_id = %record.id, spiffe_id = %spiffe_id, "join token redeemed");
        Ok(spiffe_id)
    }

    fn reject(&self, rejection: Rejection, client: Option<SocketAddr>) -> ControlError {
        let reason = rejection.as_str();
        tracing::warn!(client = ?client, reason, "join token rejected");
        self.inner.bus.publish(Event::Security(SecurityEvent::new(
            SecurityKind::JoinTokenRejected,
            SOURCE,
            client,
            format!("join token rejected: {reason}"),
        )));
        ControlError::JoinTokenRejected { reason }
    }

    fn random<const N: usize>(&self) -> Result<[u8; N], ControlError> {
        let mut bytes = [0u8; N];
        self.inner
            .rng
            .fill(&mut bytes)
            .map_err(|_| ControlError::RandomBytes)?;
        Ok(bytes)
    }
}

impl fmt::Debug for JoinTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinTokens")
            .field("trust_domain", &self.inner.trust_domain)
            .field("ca_fingerprint", &self.inner.ca_fingerprint)
            .finish()
    }
}

// === impl NewJoinToken ===

impl NewJoinToken {
    /// Unix milliseconds of the expiry.
    pub fn expires_at_ms(&self) -> i64 {
        self.expires_at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

impl fmt::Debug for NewJoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewJoinToken")
            .field("token", &self.token)
            .field("spiffe_id", &self.spiffe_id)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

// === impl Rejection ===

impl Rejection {
    fn as_str(self) -> &'static str {
        match self {
            Rejection::Malformed => "malformed",
            Rejection::Unknown => "unknown",
            Rejection::AlreadyUsed => "already used",
            Rejection::Expired => "expired",
        }
    }
}

// === helpers ===

/// The hex SHA-256 of a token's secret, as the store keeps it.
fn hash_secret(secret: &str) -> String {
    hex::encode(digest(&SHA256, secret.as_bytes()))
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn parses_its_own_format_only() {
        let id = "00112233445566778899aabbccddeeff";
        let secret = "fe".repeat(32);
        let parsed = parse_token(&format!("rampart-join.{id}.{secret}.{FP}")).unwrap();
        assert_eq!(parsed.id, id);
        assert_eq!(parsed.secret.expose(), &secret);
        assert_eq!(parsed.ca_fingerprint, FP);
        assert!(!format!("{parsed:?}").contains(&secret));

        for bad in [
            String::new(),
            "rampart-join".to_owned(),
            format!("rampart-joim.{id}.{secret}.{FP}"),
            format!("rampart-join.{id}.{secret}"),
            format!("rampart-join.{id}.{secret}.{FP}.x"),
            format!("rampart-join.{id}x.{secret}.{FP}"),
            format!("rampart-join.{}.{secret}.{FP}", id.to_uppercase()),
            format!("rampart-join.{id}.{}.{FP}", &secret[1..]),
            format!("rampart-join.{id}.{secret}.{}", &FP[2..]),
        ] {
            let error = parse_token(&bad).unwrap_err();
            assert!(matches!(error, ControlError::MalformedJoinToken { .. }));
            assert!(!error.to_string().contains("fefe"));
        }
    }
}

//! The per-request check of a bearer token: extraction from `Authorization`, the verified-token
//! cache, the choice of issuer by `kid` (with one rate-limited refetch when no issuer has it),
//! verification against the route's policy and the certificate binding.

use super::jwks::IssuerKeys;
use super::{JwtRt, Rejection};
use http::{HeaderMap, header};
use rampart_token::{
    ParsedToken, TokenError, Verified, VerifiedCache, check_binding, verify_parsed,
};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

/// How long a request waits for the refetch an unknown `kid` triggers.
const REFETCH_WAIT: Duration = Duration::from_secs(2);

// === impl JwtRt ===

impl JwtRt {
    /// The verified claims of the request's bearer token, or why it is refused.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        client_cert: Option<&[u8]>,
    ) -> Result<Arc<Verified>, Rejection> {
        let token = bearer(headers)?;
        if token.len() > self.max_token_bytes {
            return Err(self.invalid(&TokenError::TooLarge {
                limit: self.max_token_bytes,
            }));
        }
        let now = SystemTime::now();
        // Hashed once for the lookup and, on a miss, the insert.
        let key = VerifiedCache::key(token);
        if let Some(v) = self.cache.get_by_key(&key, now) {
            check_binding(&v, client_cert).map_err(|e| self.invalid(&e))?;
            self.check_active(token, &v).await?;
            return Ok(v);
        }
        let (verified, epoch) = self.verify(token, now).await?;
        check_binding(&verified, client_cert).map_err(|e| self.invalid(&e))?;
        let verified = Arc::new(verified);
        if self.epoch.load(Ordering::Acquire) == epoch {
            self.cache.insert_by_key(&key, verified.clone());
        }
        self.check_active(token, &verified).await?;
        Ok(verified)
    }

    /// Asks the token's issuer, when the route introspects, whether `token` is still active
    /// (not revoked). Failure is closed: no answer refuses the token.
    async fn check_active(&self, token: &str, verified: &Verified) -> Result<(), Rejection> {
        let iss = verified
            .claims
            .get("iss")
            .and_then(serde_json::Value::as_str);
        let Some((issuer, _)) = self
            .issuers
            .iter()
            .find(|(i, _)| Some(i.issuer.as_str()) == iss)
        else {
            return Ok(());
        };
        let refuse = |reason| {
            Rejection::new(
                401,
                reason,
                &format!(
                    "Bearer realm=\"rampart\", error=\"invalid_token\", error_description=\"{reason}\""
                ),
            )
        };
        match issuer.active(token, verified.expires_at).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(refuse("token_inactive")),
            Err(e) => {
                tracing::warn!(issuer = %issuer.issuer, error = %e,
                    "cannot ask the issuer whether a token is active; refusing it");
                Err(refuse("introspection_unavailable"))
            }
        }
    }

    /// Verifies `token` with the keys of the issuer that has its `kid`; also returns the key
    /// epoch read before the keys were.
    async fn verify(&self, token: &str, now: SystemTime) -> Result<(Verified, u64), Rejection> {
        // Parsed once (framing, header): the `kid` chooses the issuer, and `verify_parsed`
        // does not decode the header again.
        let parsed =
            ParsedToken::parse(token, self.max_token_bytes).map_err(|e| self.invalid(&e))?;
        let kid = parsed.header().kid.as_deref();
        let mut candidates = self.candidates(kid);
        if candidates.is_empty() {
            // No issuer has this key (or none has keys yet): each may fetch once, briefly.
            let waits: Vec<_> = self
                .issuers
                .iter()
                .filter_map(|(i, _)| i.refetch())
                .collect();
            let deadline = tokio::time::Instant::now() + REFETCH_WAIT;
            for mut done in waits {
                let _ = tokio::time::timeout_at(deadline, done.changed()).await;
            }
            candidates = self.candidates(kid);
        }
        // Read before the keys: a key change meanwhile keeps this result out of the cache.
        let epoch = self.epoch.load(Ordering::Acquire);
        let mut first_error = None;
        for (issuer, policy) in candidates {
            let Some(keys) = issuer.keys() else { continue };
            match verify_parsed(&parsed, &keys, policy, now) {
                Ok(v) => return Ok((v, epoch)),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(self.invalid(&first_error.unwrap_or(TokenError::UnknownKid)))
    }

    /// The issuers whose keys have `kid`; without a `kid`, every issuer that has keys.
    fn candidates(&self, kid: Option<&str>) -> Vec<&(Arc<IssuerKeys>, rampart_token::Policy)> {
        self.issuers
            .iter()
            .filter(|(i, _)| match kid {
                Some(kid) => i.has(kid),
                None => i.keys().is_some(),
            })
            .collect()
    }

    /// The refusal of a token the route does not accept.
    fn invalid(&self, e: &TokenError) -> Rejection {
        let reason = e.reason();
        let challenge = if e.is_insufficient_scope() {
            format!(
                "Bearer realm=\"rampart\", error=\"insufficient_scope\", error_description=\"{reason}\", scope=\"{}\"",
                self.scope
            )
        } else {
            format!(
                "Bearer realm=\"rampart\", error=\"invalid_token\", error_description=\"{reason}\""
            )
        };
        Rejection::new(e.http_status(), reason, &challenge)
    }
}

/// The token of the request's single `Authorization: Bearer` header.
pub(crate) fn bearer(headers: &HeaderMap) -> Result<&str, Rejection> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(Rejection::new(
            401,
            "missing_token",
            "Bearer realm=\"rampart\"",
        ));
    };
    // RFC 6750 suggests 400 for `invalid_request`; every refusal here is a 401 so that clients
    // see one authentication challenge.
    let bad = |reason| {
        Rejection::new(
            401,
            reason,
            &format!(
                "Bearer realm=\"rampart\", error=\"invalid_request\", error_description=\"{reason}\""
            ),
        )
    };
    if values.next().is_some() {
        return Err(bad("multiple_authorization"));
    }
    let text = value.to_str().map_err(|_| bad("malformed_authorization"))?;
    let (scheme, rest) = text.split_once(' ').unwrap_or((text, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Rejection::new(
            401,
            "unsupported_scheme",
            "Bearer realm=\"rampart\"",
        ));
    }
    let token = rest.trim_matches(' ');
    // RFC 6750 b64token: base64url, `.` between JWS parts, and the few others it allows.
    let ok = !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b));
    if !ok {
        return Err(bad("malformed_authorization"));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn bearer_extraction() {
        assert_eq!(bearer(&headers(&["Bearer a.b.c"])).unwrap(), "a.b.c");
        assert_eq!(bearer(&headers(&["bEaReR  a.b.c"])).unwrap(), "a.b.c");
        let reason = |v: &[&str]| bearer(&headers(v)).unwrap_err().reason;
        assert_eq!(reason(&[]), "missing_token");
        assert_eq!(reason(&["Basic dTpw"]), "unsupported_scheme");
        assert_eq!(reason(&["Bearer"]), "malformed_authorization");
        assert_eq!(reason(&["Bearer a b"]), "malformed_authorization");
        assert_eq!(
            reason(&["Bearer a.b.c", "Bearer d.e.f"]),
            "multiple_authorization"
        );
        let missing = bearer(&headers(&[])).unwrap_err();
        assert_eq!(missing.status, 401);
        assert_eq!(
            missing.challenge.to_str().unwrap(),
            "Bearer realm=\"rampart\""
        );
    }
}

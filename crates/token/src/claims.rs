//! Access-token claims (RFC 9068): `verify` and the `Verified` result.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::jws::verify_parsed_jws;
use crate::{ParsedToken, Policy, TokenError, VerifyingKeys, strict_json};

/// A token that passed signature and claim checks.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// All claims of the payload.
    pub claims: Map<String, Value>,
    /// `sub`.
    pub subject: String,
    /// `client_id` (RFC 9068), else `azp` (OIDC providers such as Keycloak).
    pub client_id: Option<String>,
    /// Scopes from `scope` (space-separated) or `scp` (array).
    pub scopes: Vec<String>,
    /// `exp`.
    pub expires_at: SystemTime,
    /// `jti`.
    pub jti: Option<String>,
    /// `cnf.x5t#S256` (RFC 8705): the token is bound to this client certificate.
    pub cnf_x5t_s256: Option<String>,
}

/// Verifies a compact JWS access token: everything `verify_jws` checks, then the payload must
/// be a JSON object with `iss` = policy issuer, `exp` in the future (with leeway), `nbf` and
/// `iat` not in the future beyond leeway, `aud` containing any policy audience, the required
/// scopes and claims, and a string `sub`.
pub fn verify(
    token: &str,
    keys: &VerifyingKeys,
    policy: &Policy,
    now: SystemTime,
) -> Result<Verified, TokenError> {
    let parsed = ParsedToken::parse(token, policy.max_token_bytes)?;
    verify_parsed(&parsed, keys, policy, now)
}

/// [`verify`] for a token already parsed with [`ParsedToken::parse`] (same checks, the size
/// and header ones done by the parse; pass the policy's `max_token_bytes` to it).
pub fn verify_parsed(
    parsed: &ParsedToken<'_>,
    keys: &VerifyingKeys,
    policy: &Policy,
    now: SystemTime,
) -> Result<Verified, TokenError> {
    if parsed.as_str().len() > policy.max_token_bytes {
        return Err(TokenError::TooLarge {
            limit: policy.max_token_bytes,
        });
    }
    let payload = verify_parsed_jws(parsed, keys, &policy.algorithms)?;
    let claims = strict_json::object(&payload).ok_or(TokenError::Malformed(
        "payload is not a JSON object without duplicates",
    ))?;
    check_claims(claims, policy, now)
}

/// Applies the policy's claim checks to an already signature-verified payload.
pub fn check_claims(
    claims: Map<String, Value>,
    policy: &Policy,
    now: SystemTime,
) -> Result<Verified, TokenError> {
    let now = seconds_since_epoch(now);
    let leeway = policy.leeway.as_secs_f64();

    match claims.get("iss") {
        Some(Value::String(iss)) if *iss == policy.issuer => {}
        _ => return Err(TokenError::WrongIssuer),
    }

    let exp = numeric_date(&claims, "exp")?.ok_or(TokenError::InvalidClaim("exp missing"))?;
    if now >= exp + leeway {
        return Err(TokenError::Expired);
    }
    for name in ["nbf", "iat"] {
        if let Some(at) = numeric_date(&claims, name)?
            && at > now + leeway
        {
            return Err(TokenError::NotYetValid);
        }
    }

    if !policy.audiences.is_empty() {
        let ok = match claims.get("aud") {
            Some(Value::String(aud)) => policy.audiences.contains(aud),
            Some(Value::Array(auds)) => auds.iter().any(|a| {
                a.as_str()
                    .is_some_and(|a| policy.audiences.iter().any(|p| p == a))
            }),
            _ => false,
        };
        if !ok {
            return Err(TokenError::WrongAudience);
        }
    }

    let subject = match claims.get("sub") {
        Some(Value::String(sub)) => sub.clone(),
        _ => return Err(TokenError::InvalidClaim("sub missing")),
    };

    let scopes = scopes_of(&claims)?;
    if !policy.required_scopes.iter().all(|s| scopes.contains(s)) {
        return Err(TokenError::InsufficientScope);
    }

    for (name, expected) in &policy.required_claims {
        if claims.get(name) != Some(expected) {
            return Err(TokenError::ClaimMismatch(name.clone()));
        }
    }

    let client_id = optional_string(&claims, "client_id")?.or(optional_string(&claims, "azp")?);
    let jti = optional_string(&claims, "jti")?;
    let cnf_x5t_s256 = match claims.get("cnf") {
        None => None,
        Some(Value::Object(cnf)) => match cnf.get("x5t#S256") {
            None => None,
            Some(Value::String(thumb)) => Some(thumb.clone()),
            Some(_) => return Err(TokenError::InvalidClaim("cnf.x5t#S256 is not a string")),
        },
        Some(_) => return Err(TokenError::InvalidClaim("cnf is not an object")),
    };
    let expires_at = UNIX_EPOCH
        .checked_add(
            Duration::try_from_secs_f64(exp.max(0.0))
                .map_err(|_| TokenError::InvalidClaim("exp"))?,
        )
        .ok_or(TokenError::InvalidClaim("exp"))?;

    Ok(Verified {
        claims,
        subject,
        client_id,
        scopes,
        expires_at,
        jti,
        cnf_x5t_s256,
    })
}

fn seconds_since_epoch(now: SystemTime) -> f64 {
    now.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A NumericDate claim (RFC 7519 §2), if present; a non-number is an error.
fn numeric_date(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<f64>, TokenError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|v| v.is_finite())
            .map(Some)
            .ok_or(TokenError::InvalidClaim("date is not a finite number")),
        Some(_) => Err(TokenError::InvalidClaim("date is not a number")),
    }
}

fn optional_string(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, TokenError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(TokenError::InvalidClaim("claim is not a string")),
    }
}

/// Scopes from `scope` (space-separated string) or, failing that, `scp` (array or string).
fn scopes_of(claims: &Map<String, Value>) -> Result<Vec<String>, TokenError> {
    let split = |s: &str| {
        s.split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    match (claims.get("scope"), claims.get("scp")) {
        (Some(Value::String(scope)), _) => Ok(split(scope)),
        (Some(_), _) => Err(TokenError::InvalidClaim("scope is not a string")),
        (None, Some(Value::Array(items))) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or(TokenError::InvalidClaim("scp item"))
            })
            .collect(),
        (None, Some(Value::String(scp))) => Ok(split(scp)),
        (None, Some(_)) => Err(TokenError::InvalidClaim("scp is not an array")),
        (None, None) => Ok(Vec::new()),
    }
}

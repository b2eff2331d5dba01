//! The client registry: registration (admin) and authentication of a client at the token,
//! introspection and revocation endpoints: `client_secret_basic`, `client_secret_post`,
//! `private_key_jwt` (RFC 7523) and `tls_client_auth` (RFC 8705, with an SVID).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, header};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use rampart_core::{Sensitive, spiffe::SpiffeId};
use rampart_store::OAuthClientRecord;
use rampart_token::{Jwk, Jwks, Policy, VerifyingKeys, certificate_thumbprint, verify};

use super::{AuthServer, OAuthError, Params, secret};
use crate::{
    ControlError,
    api::{CreateOAuthClient, OAuthClientAuth, OAuthClientCreated, OAuthClientInfo},
};

/// The RFC 7523 client assertion type.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The longest a client assertion may still be valid when presented.
const MAX_ASSERTION_LIFETIME: Duration = Duration::from_secs(600);
/// JWK members that carry private or symmetric key material: never registered.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

const SECRET: &str = "client_secret";
const PRIVATE_KEY_JWT: &str = "private_key_jwt";
const TLS: &str = "tls_client_auth";

/// The credentials a request presented, before they are checked.
pub(crate) enum ClientCredentials {
    Secret {
        client_id: String,
        secret: Sensitive<String>,
    },
    Assertion {
        client_id: Option<String>,
        assertion: String,
    },
    Tls {
        client_id: String,
    },
}

/// The SVID a client presented on the connection, verified against the trust bundle and
/// not revoked.
pub(crate) struct TlsPeer {
    pub(crate) spiffe_id: String,
    pub(crate) leaf_der: Vec<u8>,
}

/// An authenticated client and, for `tls_client_auth`, the thumbprint its tokens are bound to.
pub(crate) struct Authenticated {
    pub(crate) client: OAuthClientRecord,
    pub(crate) binding: Option<String>,
}

// === impl ClientCredentials ===

impl ClientCredentials {
    /// From `Authorization: Basic` (RFC 6749 §2.3.1, both parts form-urlencoded), the
    /// `client_id`/`client_secret` body parameters, a client assertion, or a bare `client_id`
    /// (for `tls_client_auth`); more than one method is `invalid_request`.
    pub(crate) fn from_request(headers: &HeaderMap, params: &Params) -> Result<Self, OAuthError> {
        let basic = basic(headers)?;
        let posted = params.get("client_secret");
        let assertion_type = params.get("client_assertion_type");
        let methods = [basic.is_some(), posted.is_some(), assertion_type.is_some()];
        if methods.iter().filter(|m| **m).count() > 1 {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not several",
            ));
        }
        if let Some(creds) = basic {
            return Ok(creds);
        }
        let client_id = params.get("client_id").map(str::to_owned);
        if let Some(secret) = posted {
            return Ok(Self::Secret {
                client_id: client_id
                    .ok_or_else(|| OAuthError::invalid_client("missing `client_id`"))?,
                secret: Sensitive::new(secret.to_owned()),
            });
        }
        if let Some(kind) = assertion_type {
            if kind != JWT_BEARER {
                return Err(OAuthError::invalid_client(
                    "unsupported `client_assertion_type`",
                ));
            }
            return Ok(Self::Assertion {
                client_id,
                assertion: params.require("client_assertion")?.to_owned(),
            });
        }
        match client_id {
            Some(client_id) => Ok(Self::Tls { client_id }),
            None => Err(OAuthError::invalid_client("client authentication required")),
        }
    }
}

fn basic(headers: &HeaderMap) -> Result<Option<ClientCredentials>, OAuthError> {
    let bad = || OAuthError::invalid_client("malformed basic credentials");
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(bad());
    }
    let value = value.to_str().map_err(|_| bad())?;
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Err(bad());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_client(
            "unsupported authorization scheme",
        ));
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
    let decoded = Sensitive::new(String::from_utf8(decoded).map_err(|_| bad())?);
    let (id, secret) = decoded.expose().split_once(':').ok_or_else(bad)?;
    Ok(Some(ClientCredentials::Secret {
        client_id: form_decode(id),
        secret: Sensitive::new(form_decode(secret)),
    }))
}

/// One form-urlencoded value.
fn form_decode(value: &str) -> String {
    form_urlencoded::parse(format!("v={value}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

// === impl AuthServer ===

impl AuthServer {
    /// Registers a client; for `secret`, the answer holds the secret, shown this once.
    pub(crate) async fn create_client(
        &self,
        request: &CreateOAuthClient,
    ) -> Result<OAuthClientCreated, ControlError> {
        check_request(request).map_err(|reason| ControlError::InvalidRequest { reason })?;
        let invalid = |reason: &str| ControlError::InvalidRequest {
            reason: reason.to_owned(),
        };
        let mut record = OAuthClientRecord {
            id: secret::new_client_id()?,
            name: request.name.clone(),
            scopes: request.scopes.clone(),
            auth_method: String::new(),
            secret_hash: None,
            public_jwk: None,
            tls_subject: None,
            default_audience: request.audience.clone(),
            created_at: SystemTime::now(),
        };
        let mut shown = None;
        match request.auth {
            OAuthClientAuth::Secret => {
                if request.jwk.is_some() || request.tls_subject.is_some() {
                    return Err(invalid("a `secret` client takes no `jwk` or `tls_subject`"));
                }
                let secret = secret::new_secret()?;
                let clear = secret.expose().clone();
                let phc = tokio::task::spawn_blocking(move || secret::hash(&clear))
                    .await
                    .map_err(|_| ControlError::RandomBytes)??;
                record.auth_method = SECRET.to_owned();
                record.secret_hash = self.keep_secret_hash(&record.id, phc).await?;
                shown = Some(secret.expose().clone());
            }
            OAuthClientAuth::PrivateKeyJwt => {
                let jwk = request
                    .jwk
                    .as_ref()
                    .ok_or_else(|| invalid("a `private_key_jwt` client needs its public `jwk`"))?;
                record.auth_method = PRIVATE_KEY_JWT.to_owned();
                record.public_jwk = Some(public_jwk(jwk).map_err(|r| invalid(&r))?);
            }
            OAuthClientAuth::Tls => {
                let subject = request
                    .tls_subject
                    .as_deref()
                    .ok_or_else(|| invalid("a `tls` client needs its `tls_subject` (SPIFFE id)"))?;
                let id = SpiffeId::parse(subject)
                    .map_err(|e| invalid(&format!("invalid `tls_subject`: {e}")))?;
                record.auth_method = TLS.to_owned();
                record.tls_subject = Some(id.to_string());
            }
        }
        self.store.insert_oauth_client(&record).await?;
        tracing::info!(client_id = %record.id, name = %record.name, method = %record.auth_method, "oauth client registered");
        Ok(OAuthClientCreated {
            client: info(&record),
            client_secret: shown,
        })
    }

    /// Every registered client.
    pub(crate) async fn list_clients(&self) -> Result<Vec<OAuthClientInfo>, ControlError> {
        Ok(self
            .store
            .list_oauth_clients()
            .await?
            .iter()
            .map(info)
            .collect())
    }

    /// Forgets a client; its tokens stay valid until they expire.
    pub(crate) async fn delete_client(&self, id: &str) -> Result<bool, ControlError> {
        self.verified_secrets.forget(id);
        let deleted = self.store.delete_oauth_client(id).await?;
        self.forget_secret_hash(id).await?;
        Ok(deleted)
    }

    /// The registered client the credentials authenticate, or `invalid_client`. `peer` is
    /// the verified SVID of the connection, if any; `endpoint` the URL the request went to
    /// (an accepted audience of client assertions).
    pub(crate) async fn authenticate(
        &self,
        credentials: ClientCredentials,
        peer: Option<TlsPeer>,
        endpoint: &str,
    ) -> Result<Authenticated, OAuthError> {
        match credentials {
            ClientCredentials::Secret { client_id, secret } => {
                let client = self.by_secret(&client_id, secret).await?;
                Ok(Authenticated {
                    client,
                    binding: None,
                })
            }
            ClientCredentials::Assertion {
                client_id,
                assertion,
            } => {
                let client = self
                    .by_assertion(client_id.as_deref(), &assertion, endpoint)
                    .await?;
                Ok(Authenticated {
                    client,
                    binding: None,
                })
            }
            ClientCredentials::Tls { client_id } => self.by_certificate(&client_id, peer).await,
        }
    }

    async fn by_secret(
        &self,
        client_id: &str,
        presented: Sensitive<String>,
    ) -> Result<OAuthClientRecord, OAuthError> {
        // Sealed: fail closed before the client is even looked up (the answer does not tell
        // known ids from unknown ones).
        if self.platform_sealed() {
            return Err(OAuthError::temporarily_unavailable());
        }
        let client = self
            .store
            .oauth_client(client_id)
            .await?
            .filter(|c| c.auth_method == SECRET);
        let phc = match &client {
            Some(client) => self.secret_hash(client).await?,
            None => None,
        };
        if let Some(phc) = &phc
            && self
                .verified_secrets
                .recalls(client_id, phc, presented.expose())
            && let Some(client) = client
        {
            return Ok(client);
        }
        let remembered = phc.clone();
        let check = presented.clone();
        let ok = tokio::task::spawn_blocking(move || match phc {
            Some(phc) => secret::verify(check.expose(), &phc),
            None => {
                secret::verify_dummy(check.expose());
                false
            }
        })
        .await
        .unwrap_or(false);
        if ok && let Some(phc) = &remembered {
            self.verified_secrets
                .remember(client_id, phc, presented.expose());
        }
        match (ok, client) {
            (true, Some(client)) => Ok(client),
            _ => Err(OAuthError::invalid_client("unknown client or wrong secret")),
        }
    }

    async fn by_assertion(
        &self,
        client_id: Option<&str>,
        assertion: &str,
        endpoint: &str,
    ) -> Result<OAuthClientRecord, OAuthError> {
        let refused =
            |why: &str| OAuthError::invalid_client(format!("client assertion refused: {why}"));
        // The claimed subject only selects the key; the signature decides.
        let claimed = unverified_subject(assertion).ok_or_else(|| refused("malformed"))?;
        if client_id.is_some_and(|id| id != claimed) {
            return Err(refused("`client_id` is not the assertion's subject"));
        }
        let client = self
            .store
            .oauth_client(&claimed)
            .await?
            .filter(|c| c.auth_method == PRIVATE_KEY_JWT)
            .ok_or_else(|| refused("unknown client"))?;
        let jwk: Jwk = client
            .public_jwk
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
            .ok_or_else(|| refused("the client has no usable key"))?;
        let keys = VerifyingKeys::from_jwks(&Jwks { keys: vec![jwk] });
        let mut policy = Policy::new(client.id.clone());
        policy.algorithms = ["ES256", "EdDSA", "RS256", "PS256"]
            .map(str::to_owned)
            .to_vec();
        policy.audiences = vec![self.issuer.clone(), endpoint.to_owned()];
        let now = SystemTime::now();
        let verified = verify(assertion, &keys, &policy, now).map_err(|e| refused(e.reason()))?;
        if verified.subject != client.id {
            return Err(refused("`sub` is not the client"));
        }
        if verified.expires_at > now + MAX_ASSERTION_LIFETIME {
            return Err(refused("`exp` is too far in the future"));
        }
        let jti = verified.jti.ok_or_else(|| refused("`jti` missing"))?;
        let first_use = self
            .store
            .revoke_token(
                &format!("client_assertion:{}:{jti}", client.id),
                verified.expires_at,
            )
            .await?;
        if !first_use {
            return Err(refused("replayed"));
        }
        Ok(client)
    }

    async fn by_certificate(
        &self,
        client_id: &str,
        peer: Option<TlsPeer>,
    ) -> Result<Authenticated, OAuthError> {
        let peer = peer.ok_or_else(|| {
            OAuthError::invalid_client(
                "client authentication required (no credentials and no valid client certificate)",
            )
        })?;
        let client = self
            .store
            .oauth_client(client_id)
            .await?
            .filter(|c| c.auth_method == TLS && c.tls_subject.as_deref() == Some(&peer.spiffe_id))
            .ok_or_else(|| {
                OAuthError::invalid_client(
                    "the client certificate does not authenticate this client",
                )
            })?;
        Ok(Authenticated {
            client,
            binding: Some(certificate_thumbprint(&peer.leaf_der)),
        })
    }
}

// === helpers ===

pub(crate) fn info(record: &OAuthClientRecord) -> OAuthClientInfo {
    OAuthClientInfo {
        client_id: record.id.clone(),
        name: record.name.clone(),
        scopes: record.scopes.clone(),
        auth_method: record.auth_method.clone(),
        default_audience: record.default_audience.clone(),
        tls_subject: record.tls_subject.clone(),
        created_at_ms: record
            .created_at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
    }
}

/// The public JWK to register, as JSON: refused with private members or when unusable.
fn public_jwk(value: &serde_json::Value) -> Result<String, String> {
    let object = value.as_object().ok_or("`jwk` must be a JSON object")?;
    if let Some(member) = PRIVATE_MEMBERS.iter().find(|m| object.contains_key(**m)) {
        return Err(format!(
            "`jwk` holds private key material (`{member}`): register the public key only"
        ));
    }
    let jwk: Jwk =
        serde_json::from_value(value.clone()).map_err(|e| format!("invalid `jwk`: {e}"))?;
    let usable = VerifyingKeys::from_jwks(&Jwks {
        keys: vec![jwk.clone()],
    });
    if usable.is_empty() {
        return Err("`jwk` is not a usable EC P-256, Ed25519 or RSA public key".to_owned());
    }
    serde_json::to_string(&jwk).map_err(|e| format!("invalid `jwk`: {e}"))
}

/// The `sub` of a compact JWS's payload, unverified.
fn unverified_subject(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("sub")?.as_str().map(str::to_owned)
}

fn check_request(request: &CreateOAuthClient) -> Result<(), String> {
    let name_len = request.name.chars().count();
    if name_len == 0 || name_len > 128 || request.name.chars().any(char::is_control) {
        return Err("`name` must be 1 to 128 characters without control characters".to_owned());
    }
    for scope in &request.scopes {
        if !is_scope_token(scope) {
            return Err(format!(
                "invalid scope `{}`: use 1 to 128 printable ASCII characters without spaces, `\"` or `\\`",
                scope.escape_default()
            ));
        }
    }
    if let Some(aud) = &request.audience
        && (aud.is_empty() || aud.len() > 512 || aud.chars().any(char::is_control))
    {
        return Err("`audience` must be 1 to 512 characters".to_owned());
    }
    Ok(())
}

/// RFC 6749 §3.3 `scope-token`: `%x21 / %x23-5B / %x5D-7E`.
pub(crate) fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope.len() <= 128
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

//! Asking an issuer whether a verified token is still active (RFC 7662), so that a token revoked
//! through RFC 7009 is refused before it expires.
//!
//! The proxy authenticates with `client_secret_basic`. Answers are cached per token hash for a
//! short, bounded time, never past the token's `exp`. Failure is closed: when the endpoint
//! cannot answer, the token is refused.

use super::fetch::{FetchError, Fetcher};
use arc_swap::ArcSwapOption;
use base64::Engine as _;
use rampart_config::JwtIntrospection;
use rampart_core::Sensitive;
use serde::Deserialize;
use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How long an answer is reused by default.
pub const DEFAULT_CACHE: Duration = Duration::from_secs(10);
/// How many answers an issuer keeps.
const CACHE_CAPACITY: usize = 16 * 1024;
/// One introspection request.
const TIMEOUT: Duration = Duration::from_secs(3);

/// Why the client secret file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    #[error("cannot read the client secret file `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the client secret file `{path}` has mode {mode:o}; only its owner may access it (0600)"
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error("the client secret file `{0}` is empty or not UTF-8")]
    Content(PathBuf),
}

/// Why the issuer could not say whether a token is active.
#[derive(Debug, thiserror::Error)]
pub enum IntrospectError {
    #[error("the issuer advertises no introspection endpoint")]
    NoEndpoint,
    #[error(transparent)]
    Fetch(#[from] FetchError),
}

/// The introspection client of one issuer.
pub struct Introspector {
    client_id: String,
    /// `Basic …` for the client: secrets only, never printed.
    authorization: Sensitive<String>,
    /// The configured endpoint, or the one discovery found.
    endpoint: ArcSwapOption<String>,
    configured: bool,
    ttl: Duration,
    /// SHA-256 of the token -> (active, reuse until).
    answers: Mutex<HashMap<[u8; 32], (bool, Instant)>>,
}

/// The part of an introspection answer Rampart reads.
#[derive(Debug, Deserialize)]
struct Answer {
    active: bool,
}

// === impl Introspector ===

impl Introspector {
    /// Reads the client secret (a file only its owner can access).
    pub fn new(config: &JwtIntrospection) -> Result<Self, SecretFileError> {
        let secret = read_secret(&config.client_secret_file)?;
        let pair = format!(
            "{}:{}",
            form_encode(&config.client_id),
            form_encode(secret.expose())
        );
        let authorization = Sensitive::new(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair.as_bytes())
        ));
        Ok(Self {
            client_id: config.client_id.clone(),
            authorization,
            endpoint: ArcSwapOption::new(config.endpoint.clone().map(Arc::new)),
            configured: config.endpoint.is_some(),
            ttl: config.cache.map_or(DEFAULT_CACHE, |d| d.0),
            answers: Mutex::new(HashMap::new()),
        })
    }

    /// Whether the endpoint must come from the issuer's metadata.
    pub fn needs_discovery(&self) -> bool {
        !self.configured
    }

    /// Records the endpoint the issuer's metadata advertises.
    pub fn discovered(&self, endpoint: Option<String>) {
        if !self.configured {
            self.endpoint.store(endpoint.map(Arc::new));
        }
    }

    /// Whether the issuer says `token`, which expires at `expires_at`, is active.
    pub async fn active(
        &self,
        fetcher: &Fetcher,
        token: &str,
        expires_at: SystemTime,
    ) -> Result<bool, IntrospectError> {
        let key = digest(token);
        let now = Instant::now();
        if let Some(active) = self.cached(&key, now) {
            return Ok(active);
        }
        let endpoint = self
            .endpoint
            .load_full()
            .ok_or(IntrospectError::NoEndpoint)?;
        let body = format!("token={}&token_type_hint=access_token", form_encode(token));
        let answer: Answer = match tokio::time::timeout(
            TIMEOUT,
            fetcher.post_form(&endpoint, self.authorization.expose(), body),
        )
        .await
        {
            Ok(r) => r?,
            Err(_) => return Err(FetchError::Timeout(TIMEOUT).into()),
        };
        let left = expires_at
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        self.remember(key, answer.active, now + self.ttl.min(left));
        Ok(answer.active)
    }

    fn cached(&self, key: &[u8; 32], now: Instant) -> Option<bool> {
        let answers = self.answers.lock().ok()?;
        answers
            .get(key)
            .filter(|(_, until)| *until > now)
            .map(|(active, _)| *active)
    }

    fn remember(&self, key: [u8; 32], active: bool, until: Instant) {
        let Ok(mut answers) = self.answers.lock() else {
            return;
        };
        if answers.len() >= CACHE_CAPACITY {
            let now = Instant::now();
            answers.retain(|_, (_, u)| *u > now);
            if answers.len() >= CACHE_CAPACITY {
                answers.clear();
            }
        }
        answers.insert(key, (active, until));
    }
}

impl std::fmt::Debug for Introspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Introspector")
            .field("client_id", &self.client_id)
            .field("endpoint", &self.endpoint.load_full())
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// SHA-256 of `token`.
fn digest(token: &str) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let mut out = [0; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// The client secret in `path`, which only its owner may access; surrounding whitespace is
/// dropped.
fn read_secret(path: &Path) -> Result<Sensitive<String>, SecretFileError> {
    let read_err = |source| SecretFileError::Read {
        path: path.to_owned(),
        source,
    };
    let mode = std::fs::metadata(path)
        .map_err(read_err)?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(SecretFileError::Permissions {
            path: path.to_owned(),
            mode: mode & 0o7777,
        });
    }
    let raw = Sensitive::new(std::fs::read(path).map_err(read_err)?);
    let text = std::str::from_utf8(raw.expose())
        .map_err(|_| SecretFileError::Content(path.to_owned()))?
        .trim();
    if text.is_empty() {
        return Err(SecretFileError::Content(path.to_owned()));
    }
    Ok(Sensitive::new(text.to_owned()))
}

/// `application/x-www-form-urlencoded` encoding of `s` (RFC 6749 appendix B).
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._*".contains(&b) {
            out.push(char::from(b));
        } else if b == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding() {
        assert_eq!(form_encode("a.b-c_d*"), "a.b-c_d*");
        assert_eq!(form_encode("a b+/=:"), "a+b%2B%2F%3D%3A");
    }

    #[test]
    fn secret_file_must_be_private_and_never_printed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "s3cr3t-value\n").unwrap();
        let config = JwtIntrospection {
            client_id: "proxy".into(),
            client_secret_file: path.clone(),
            endpoint: Some("https://127.0.0.1:1/introspect".into()),
            cache: None,
        };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Introspector::new(&config).unwrap_err();
        assert!(
            matches!(err, SecretFileError::Permissions { mode: 0o644, .. }),
            "{err}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let i = Introspector::new(&config).unwrap();
        let shown = format!("{i:?}");
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("Basic"),
            "{shown}"
        );
        assert_eq!(
            i.authorization.expose(),
            &format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("proxy:s3cr3t-value")
            )
        );
    }
}

//! Client ids, client secrets and their argon2id hashes. A secret exists in clear only in the
//! answer that creates it; the store holds its PHC-string hash.

use std::sync::OnceLock;

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rampart_core::Sensitive;

use crate::ControlError;

/// Bytes of entropy in a client secret (256 bits).
const SECRET_BYTES: usize = 32;
/// Bytes of entropy in a client id or a `jti`.
const ID_BYTES: usize = 16;

/// A new client id: `rc_` and 22 base64url characters.
pub(crate) fn new_client_id() -> Result<String, ControlError> {
    Ok(format!(
        "rc_{}",
        URL_SAFE_NO_PAD.encode(random::<ID_BYTES>()?)
    ))
}

/// A new token id (`jti`).
pub(crate) fn new_jti() -> Result<String, ControlError> {
    Ok(URL_SAFE_NO_PAD.encode(random::<ID_BYTES>()?))
}

/// A new client secret (43 base64url characters).
pub(crate) fn new_secret() -> Result<Sensitive<String>, ControlError> {
    Ok(Sensitive::new(
        URL_SAFE_NO_PAD.encode(random::<SECRET_BYTES>()?),
    ))
}

/// The argon2id PHC string of `secret` with a fresh random salt (argon2's default
/// parameters: 19 MiB, 2 passes, 1 lane; the OWASP minimum).
pub(crate) fn hash(secret: &str) -> Result<String, ControlError> {
    let salt = random::<16>()?;
    Argon2::default()
        .hash_password_with_salt(secret.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|_| ControlError::RandomBytes)
}

/// Whether `secret` matches `phc` (an argon2id PHC string). Argon2's own comparison of the
/// outputs is constant-time.
pub(crate) fn verify(secret: &str, phc: &str) -> bool {
    Argon2::default()
        .verify_password(secret.as_bytes(), phc)
        .is_ok()
}

/// Spends the time of a verification for a client that does not exist, so that the answer
/// time does not tell known client ids from unknown ones.
pub(crate) fn verify_dummy(secret: &str) {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    if let Some(phc) = DUMMY.get_or_init(|| hash("rampart-dummy-secret").ok()) {
        let _ = verify(secret, phc);
    }
}

/// Recently verified client secrets, so that a client asking for tokens at a high rate does
/// not pay an argon2id verification (tens of milliseconds of CPU) on every request.
///
/// An entry is the SHA-256 of the client's stored PHC string and the presented secret: it
/// matches only the same secret against the same stored hash (a new secret, or a deleted and
/// recreated client, has another PHC string) and is compared in constant time. Client secrets
/// are 256 random bits, so a fast hash of one held in memory gives nothing to guess at;
/// entries live [`MEMO_TTL`], and the memo is bounded.
#[derive(Default)]
pub(crate) struct VerifiedSecrets {
    entries: std::sync::Mutex<std::collections::HashMap<String, ([u8; 32], std::time::Instant)>>,
}

/// How long a verified secret is remembered.
const MEMO_TTL: std::time::Duration = std::time::Duration::from_secs(300);
/// Clients remembered at most; beyond, the memo starts over.
const MEMO_MAX: usize = 10_000;

impl VerifiedSecrets {
    /// Whether `secret` was verified against `phc` for `client_id` within the ttl.
    pub(crate) fn recalls(&self, client_id: &str, phc: &str, secret: &str) -> bool {
        let digest = memo_digest(phc, secret);
        let entries = self.lock();
        entries.get(client_id).is_some_and(|(known, at)| {
            at.elapsed() < MEMO_TTL && rampart_core::ct_eq(known, &digest)
        })
    }

    /// Remembers a successful verification.
    pub(crate) fn remember(&self, client_id: &str, phc: &str, secret: &str) {
        let digest = memo_digest(phc, secret);
        let mut entries = self.lock();
        if entries.len() >= MEMO_MAX && !entries.contains_key(client_id) {
            entries.clear();
        }
        entries.insert(client_id.to_owned(), (digest, std::time::Instant::now()));
    }

    /// Forgets a client (deleted).
    pub(crate) fn forget(&self, client_id: &str) {
        self.lock().remove(client_id);
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, ([u8; 32], std::time::Instant)>>
    {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn memo_digest(phc: &str, secret: &str) -> [u8; 32] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(phc.as_bytes());
    ctx.update(&[0]);
    ctx.update(secret.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

fn random<const N: usize>() -> Result<[u8; N], ControlError> {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| ControlError::RandomBytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_salted_argon2id_and_verify() {
        let secret = new_secret().unwrap();
        let a = hash(secret.expose()).unwrap();
        let b = hash(secret.expose()).unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "salted");
        assert!(verify(secret.expose(), &a));
        assert!(!verify("wrong", &a));
        assert!(!verify(secret.expose(), "not a phc string"));
        assert!(!a.contains(secret.expose().as_str()));
    }

    #[test]
    fn ids_are_distinct() {
        assert_ne!(new_client_id().unwrap(), new_client_id().unwrap());
        assert!(new_client_id().unwrap().starts_with("rc_"));
        assert_eq!(new_secret().unwrap().expose().len(), 43);
    }

    #[test]
    fn a_verified_secret_is_recalled_only_for_the_same_secret_and_hash() {
        let memo = VerifiedSecrets::default();
        assert!(!memo.recalls("rc_a", "phc-1", "secret"));
        memo.remember("rc_a", "phc-1", "secret");
        assert!(memo.recalls("rc_a", "phc-1", "secret"));
        // Another secret, another stored hash (a new secret), another client: not recalled.
        assert!(!memo.recalls("rc_a", "phc-1", "secreT"));
        assert!(!memo.recalls("rc_a", "phc-2", "secret"));
        assert!(!memo.recalls("rc_b", "phc-1", "secret"));
        memo.forget("rc_a");
        assert!(!memo.recalls("rc_a", "phc-1", "secret"));
    }
}

//! Reading trusted audit public keys: `key_id:base64`, bare base64, a PEM `PUBLIC KEY`, or a
//! file holding one of those; and the key id every key is known by.

use super::{AuditError, AuditKey};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use std::path::Path;

/// Length of a raw Ed25519 public key.
const ED25519_PUBLIC_LEN: usize = 32;

/// DER prefix of an Ed25519 `SubjectPublicKeyInfo` (RFC 8410), followed by the 32 key bytes.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Largest key file read (a key is under 200 bytes; anything bigger is not a key).
const MAX_KEY_FILE: u64 = 16 * 1024;

/// The id of a public key: the first 8 bytes of its SHA-256, in hex.
pub fn key_id(public_key: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, public_key);
    hex::encode(&digest.as_ref()[..8])
}

// === impl AuditKey ===

impl AuditKey {
    /// A key from its raw 32 bytes; the id is derived with [`key_id`].
    pub fn from_public_key(public_key: &[u8]) -> Result<Self, AuditError> {
        if public_key.len() != ED25519_PUBLIC_LEN {
            return Err(AuditError::Key(format!(
                "an Ed25519 public key is {ED25519_PUBLIC_LEN} bytes, got {}",
                public_key.len()
            )));
        }
        Ok(Self {
            key_id: key_id(public_key),
            public_key: public_key.to_vec(),
        })
    }

    /// Parses `key_id:base64`, bare base64 (of the raw key or of its DER SPKI), or a PEM
    /// `PUBLIC KEY`. A given key id must match the key.
    pub fn parse(s: &str) -> Result<Self, AuditError> {
        let s = s.trim();
        if s.starts_with("-----BEGIN") {
            return parse_pem(s);
        }
        let (given_id, b64) = match s.split_once(':') {
            Some((id, rest)) => (Some(id.trim()), rest.trim()),
            None => (None, s),
        };
        let key = Self::from_public_key(&raw_key(&decode_b64(b64)?)?)?;
        match given_id {
            Some(id) if id != key.key_id => Err(AuditError::Key(format!(
                "key id `{id}` does not match the key (its id is `{}`)",
                key.key_id
            ))),
            _ => Ok(key),
        }
    }

    /// Reads a key file holding one of the forms [`AuditKey::parse`] accepts.
    pub fn load(path: &Path) -> Result<Self, AuditError> {
        use std::io::Read as _;
        let file = std::fs::File::open(path)
            .map_err(|e| AuditError::Io(format!("{}: {e}", path.display())))?;
        let mut text = String::new();
        file.take(MAX_KEY_FILE)
            .read_to_string(&mut text)
            .map_err(|e| AuditError::Io(format!("{}: {e}", path.display())))?;
        Self::parse(&text).map_err(|e| match e {
            AuditError::Key(msg) => AuditError::Key(format!("{}: {msg}", path.display())),
            other => other,
        })
    }

    /// The public key in standard base64, as the export header carries it.
    pub fn public_key_base64(&self) -> String {
        STANDARD.encode(&self.public_key)
    }
}

// === helpers ===

pub(super) fn decode_b64(s: &str) -> Result<Vec<u8>, AuditError> {
    STANDARD
        .decode(s)
        .or_else(|_| STANDARD_NO_PAD.decode(s))
        .map_err(|_| AuditError::Key("the public key is not valid base64".into()))
}

fn raw_key(bytes: &[u8]) -> Result<Vec<u8>, AuditError> {
    match bytes.strip_prefix(&ED25519_SPKI_PREFIX[..]) {
        Some(raw) if raw.len() == ED25519_PUBLIC_LEN => Ok(raw.to_vec()),
        _ => Ok(bytes.to_vec()),
    }
}

fn parse_pem(s: &str) -> Result<AuditKey, AuditError> {
    let mut lines = s.lines().map(str::trim);
    if lines.next() != Some("-----BEGIN PUBLIC KEY-----") {
        return Err(AuditError::Key(
            "only a PEM `PUBLIC KEY` is accepted".into(),
        ));
    }
    let mut b64 = String::new();
    for line in lines {
        if line == "-----END PUBLIC KEY-----" {
            let der = decode_b64(&b64)?;
            return match der.strip_prefix(&ED25519_SPKI_PREFIX[..]) {
                Some(raw) => AuditKey::from_public_key(raw),
                None => Err(AuditError::Key("the PEM key is not an Ed25519 key".into())),
            };
        }
        b64.push_str(line);
    }
    Err(AuditError::Key("the PEM key has no END line".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditSigner;

    #[test]
    fn parses_every_accepted_form_to_the_signers_key() {
        let (signer, _) = AuditSigner::generate().unwrap();
        let key = signer.key().clone();
        let b64 = key.public_key_base64();
        assert_eq!(AuditKey::parse(&b64).unwrap(), key);
        assert_eq!(
            AuditKey::parse(&format!("{}:{b64}\n", key.key_id)).unwrap(),
            key
        );
        let mut spki = ED25519_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(&key.public_key);
        assert_eq!(AuditKey::parse(&STANDARD.encode(&spki)).unwrap(), key);
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            STANDARD.encode(&spki)
        );
        assert_eq!(AuditKey::parse(&pem).unwrap(), key);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.pub");
        std::fs::write(&path, &pem).unwrap();
        assert_eq!(AuditKey::load(&path).unwrap(), key);
    }

    #[test]
    fn refuses_bad_keys_with_clear_errors() {
        let (signer, _) = AuditSigner::generate().unwrap();
        let b64 = signer.key().public_key_base64();
        let wrong_id = AuditKey::parse(&format!("0011223344556677:{b64}")).unwrap_err();
        assert!(
            wrong_id.to_string().contains("does not match"),
            "{wrong_id}"
        );
        assert!(AuditKey::parse("not base64!").is_err());
        assert!(AuditKey::parse(&STANDARD.encode([1u8; 31])).is_err());
        assert!(AuditKey::parse("-----BEGIN PUBLIC KEY-----\nAAAA").is_err());
        assert!(AuditKey::load(Path::new("/nonexistent/audit.pub")).is_err());
    }
}

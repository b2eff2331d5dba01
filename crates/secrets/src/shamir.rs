//! Shamir splitting of the 32-byte root key over GF(2^8) with `vsss-rs` (no hand-written field
//! arithmetic). A share is hex of `index byte || 32 share bytes`.

use std::convert::Infallible;

use vsss_rs::Gf256;
use zeroize::Zeroizing;

use crate::error::SecretsError;
use crate::keys::{KEY_LEN, RootKey};

/// Most shares `init` hands out.
pub(crate) const MAX_SHARES: u8 = 16;

/// One decoded share: its index (1-based, nonzero) and the bytes `vsss-rs` combines.
#[derive(Clone)]
pub(crate) struct Share(Zeroizing<Vec<u8>>);

// === impl Share ===

impl Share {
    /// Decodes a hex share; [`SecretsError::BadShare`] unless it is `1 + 32` bytes with a
    /// nonzero index.
    pub fn parse(text: &str) -> Result<Self, SecretsError> {
        let bytes = Zeroizing::new(hex::decode(text.trim()).map_err(|_| SecretsError::BadShare)?);
        if bytes.len() != KEY_LEN + 1 || bytes[0] == 0 {
            return Err(SecretsError::BadShare);
        }
        Ok(Self(bytes))
    }

    /// The share's index.
    pub fn index(&self) -> u8 {
        self.0[0]
    }
}

impl std::fmt::Debug for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Share({}, [redacted])", self.index())
    }
}

/// Splits `root` into `shares` hex shares, any `threshold` of which recombine it.
/// `1 ≤ threshold ≤ shares ≤ 16`, threshold ≥ 2 unless shares = 1.
pub(crate) fn split(
    root: &RootKey,
    shares: u8,
    threshold: u8,
) -> Result<Vec<String>, SecretsError> {
    check_params(shares, threshold)?;
    if shares == 1 {
        let mut one = Zeroizing::new(Vec::with_capacity(KEY_LEN + 1));
        one.push(1);
        one.extend_from_slice(root.expose());
        return Ok(vec![hex::encode(one.as_slice())]);
    }
    let mut rng = AwsLcRng::new();
    let parts = Gf256::split_bytes(
        usize::from(threshold),
        usize::from(shares),
        root.expose(),
        &mut rng,
    )
    .map_err(|_| SecretsError::Crypto)?;
    if rng.failed {
        return Err(SecretsError::Crypto);
    }
    Ok(parts
        .into_iter()
        .map(|p| {
            let p = Zeroizing::new(p);
            hex::encode(p.as_slice())
        })
        .collect())
}

/// Recombines shares into a root key. With one share (a 1-of-1 split) the share is the key.
pub(crate) fn combine(shares: &[Share]) -> Result<RootKey, SecretsError> {
    let bytes = match shares {
        [] => return Err(SecretsError::BadShare),
        [one] => Zeroizing::new(one.0[1..].to_vec()),
        many => {
            let raw: Vec<Vec<u8>> = many.iter().map(|s| s.0.to_vec()).collect();
            let raw = Zeroizing::new(raw);
            Zeroizing::new(
                Gf256::combine_bytes(raw.as_slice()).map_err(|_| SecretsError::WrongShares)?,
            )
        }
    };
    RootKey::from_slice(&bytes).ok_or(SecretsError::WrongShares)
}

/// Validates the share count and threshold of `init`.
pub(crate) fn check_params(shares: u8, threshold: u8) -> Result<(), SecretsError> {
    let ok = (1..=MAX_SHARES).contains(&shares)
        && (1..=shares).contains(&threshold)
        && (threshold >= 2 || shares == 1);
    if ok {
        Ok(())
    } else {
        Err(SecretsError::InvalidRequest(format!(
            "need 1 <= threshold <= shares <= {MAX_SHARES}, threshold >= 2 unless shares = 1"
        )))
    }
}

/// A `rand_core` CSPRNG drawing from aws-lc-rs. aws-lc-rs randomness is fallible and the trait
/// is not, so a failure is recorded in `failed` (and zeroes returned) for the caller to check.
struct AwsLcRng {
    failed: bool,
}

impl AwsLcRng {
    fn new() -> Self {
        Self { failed: false }
    }
}

impl rand_core::TryRng for AwsLcRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        if aws_lc_rs::rand::fill(dst).is_err() {
            dst.fill(0);
            self.failed = true;
        }
        Ok(())
    }
}

impl rand_core::TryCryptoRng for AwsLcRng {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn any_three_of_five_recombine() {
        let root = RootKey::generate().unwrap();
        let shares: Vec<Share> = split(&root, 5, 3)
            .unwrap()
            .iter()
            .map(|s| Share::parse(s).unwrap())
            .collect();
        for (a, b, c) in [(0, 1, 2), (0, 2, 4), (1, 3, 4), (2, 3, 4)] {
            let key = combine(&[shares[a].clone(), shares[b].clone(), shares[c].clone()]).unwrap();
            assert_eq!(key.expose(), root.expose());
        }
        let two = combine(&[shares[0].clone(), shares[1].clone()]).unwrap();
        assert_ne!(two.expose(), root.expose());
    }

    #[test]
    fn params_and_bad_shares() {
        assert!(check_params(1, 1).is_ok());
        assert!(check_params(3, 1).is_err());
        assert!(check_params(17, 3).is_err());
        assert!(check_params(3, 4).is_err());
        assert!(matches!(Share::parse("zz"), Err(SecretsError::BadShare)));
        assert!(matches!(
            Share::parse(&"00".repeat(33)),
            Err(SecretsError::BadShare)
        ));
        let root = RootKey::generate().unwrap();
        let one = split(&root, 1, 1).unwrap();
        let key = combine(&[Share::parse(&one[0]).unwrap()]).unwrap();
        assert_eq!(key.expose(), root.expose());
    }
}

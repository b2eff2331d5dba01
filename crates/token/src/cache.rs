//! `VerifiedCache`: verified tokens by SHA-256 of the whole token string, bounded, never
//! returned at or after `exp`.
//!
//! One cache per policy (route): a hit means "this exact token passed `verify` under the
//! policy it was inserted for". The certificate binding is not cached: call `check_binding`
//! on every request. Flush with `clear()` on key rotation or revocation.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;

use crate::Verified;

/// Number of independently locked shards.
const SHARDS: usize = 16;

/// SHA-256 of a whole token: compute it once with [`VerifiedCache::key`] when both a lookup
/// and an insert may follow.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey(Key);

impl std::fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A digest of a bearer token is as good as the token for a cache lookup: not shown.
        f.write_str("CacheKey(..)")
    }
}

type Key = [u8; 32];
type Shard = HashMap<Key, Arc<Verified>>;

/// A bounded, sharded cache of verified tokens.
pub struct VerifiedCache {
    shards: Vec<Mutex<Shard>>,
    /// Per shard, the unix second of its last sweep for expired entries: a full shard is
    /// swept at most once a second, so a flood of distinct tokens does not pay a scan of the
    /// whole shard on every insert.
    swept: Vec<AtomicU64>,
    per_shard: usize,
}

impl std::fmt::Debug for VerifiedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedCache")
            .field("capacity", &(self.per_shard * SHARDS))
            .field("len", &self.len())
            .finish()
    }
}

impl VerifiedCache {
    /// A cache holding at most about `capacity` tokens (rounded up to a multiple of 16);
    /// `0` disables caching.
    pub fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            swept: (0..SHARDS).map(|_| AtomicU64::new(0)).collect(),
            per_shard: capacity.div_ceil(SHARDS),
        }
    }

    /// The verified result for exactly this token, if cached and `now` is before its `exp`.
    pub fn get(&self, token: &str, now: SystemTime) -> Option<Arc<Verified>> {
        self.get_by_key(&Self::key(token), now)
    }

    /// The cache key of `token` (its SHA-256).
    pub fn key(token: &str) -> CacheKey {
        CacheKey(key_of(token))
    }

    /// [`Self::get`] with a precomputed key.
    pub fn get_by_key(&self, key: &CacheKey, now: SystemTime) -> Option<Arc<Verified>> {
        let key = key.0;
        let mut shard = self.shard(&key);
        let hit = shard.get(&key)?;
        if now < hit.expires_at {
            Some(Arc::clone(hit))
        } else {
            shard.remove(&key);
            None
        }
    }

    /// Caches a verified token. When the shard is full, expired entries are dropped first,
    /// then an arbitrary one.
    pub fn insert(&self, token: &str, verified: Arc<Verified>) {
        if self.per_shard == 0 {
            return;
        }
        self.insert_key(key_of(token), verified);
    }

    /// [`Self::insert`] with a precomputed key.
    pub fn insert_by_key(&self, key: &CacheKey, verified: Arc<Verified>) {
        if self.per_shard == 0 {
            return;
        }
        self.insert_key(key.0, verified);
    }

    fn insert_key(&self, key: Key, verified: Arc<Verified>) {
        let index = shard_index(&key);
        let mut shard = self.shard(&key);
        if shard.len() >= self.per_shard && !shard.contains_key(&key) {
            let now = SystemTime::now();
            let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            // `index < SHARDS == self.swept.len()`.
            if self.swept[index].swap(second, Ordering::Relaxed) != second {
                shard.retain(|_, v| now < v.expires_at);
            }
            if shard.len() >= self.per_shard
                && let Some(victim) = shard.keys().next().copied()
            {
                shard.remove(&victim);
            }
        }
        shard.insert(key, verified);
    }

    /// Drops every entry (key rotation, revocation).
    pub fn clear(&self) {
        for shard in &self.shards {
            lock(shard).clear();
        }
    }

    /// Number of entries (expired ones included until evicted).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard(&self, key: &Key) -> MutexGuard<'_, Shard> {
        // `shard_index < SHARDS == self.shards.len()`.
        lock(&self.shards[shard_index(key)])
    }
}

fn shard_index(key: &Key) -> usize {
    usize::from(key[0]) % SHARDS
}

/// Locks a shard, recovering from poisoning (the map stays consistent: every critical section
/// is a single map operation).
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn key_of(token: &str) -> Key {
    let mut key = [0u8; 32];
    key.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
    key
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use super::*;

    fn entry(expires_at: SystemTime) -> Arc<Verified> {
        Arc::new(Verified {
            claims: serde_json::Map::new(),
            subject: "s".to_owned(),
            client_id: None,
            scopes: Vec::new(),
            expires_at,
            jti: None,
            cnf_x5t_s256: None,
        })
    }

    #[test]
    fn full_shard_drops_expired_entries_before_live_ones() {
        let cache = VerifiedCache::new(2 * SHARDS); // two entries per shard
        let live = SystemTime::now() + Duration::from_secs(600);
        // Keys whose first byte is a multiple of SHARDS all land in shard 0.
        cache.insert_key([0; 32], entry(UNIX_EPOCH + Duration::from_secs(1)));
        cache.insert_key([16; 32], entry(live));
        cache.insert_key([32; 32], entry(live));
        let shard = lock(&cache.shards[0]);
        assert_eq!(shard.len(), 2);
        assert!(shard.contains_key(&[16; 32]) && shard.contains_key(&[32; 32]));
        drop(shard);
        // Full of live entries: one of them makes room, the bound holds.
        cache.insert_key([48; 32], entry(live));
        let shard = lock(&cache.shards[0]);
        assert_eq!(shard.len(), 2);
        assert!(shard.contains_key(&[48; 32]));
    }
}

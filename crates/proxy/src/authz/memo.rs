//! Decisions remembered for the second they were made in.
//!
//! A decision is a pure function of the installed sets and the request, and the request is a
//! function of a few borrowed inputs: the mesh peer's id or the verified bearer token (whose
//! claims give the principal and the scopes), the method, host, normalised path, called
//! service, client address, and the time in unix seconds. Of host, path and address the key
//! holds only what the sets' policies read ([`rampart_policy::PolicyEngine::abstraction`]): a
//! path that policies only test with `like` / `==` is stood for by the tests' outcomes.
//! Requests with equal keys in the same second get the remembered decision, so repeated calls
//! skip Cedar; the memo is emptied when the second changes and belongs to one installed set
//! (a new set starts a new memo). Bounded: at most [`MAX_ENTRIES`] decisions per second,
//! beyond which requests are simply decided.

use rampart_policy::{Abstraction, Decision};
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// How many decisions the memo holds per second.
pub const MAX_ENTRIES: usize = 16 * 1024;
const SHARDS: usize = 8;

/// What one request's decision depends on, borrowed from the request where it can be. No
/// `Debug`: it holds a bearer token.
///
/// The engines' [`Abstraction`]s say which inputs their policies read for this request: host,
/// path and client address are in the key only when read (the path only when some policy
/// needs it whole; otherwise the outcomes of the path tests, inside the abstractions, stand for
/// it).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Key<'a> {
    /// The mesh peer's SPIFFE id.
    pub peer: Option<&'a str>,
    /// The verified bearer token.
    pub token: Option<&'a str>,
    pub method: &'a str,
    /// The host, when a policy reads it.
    pub host: Option<&'a str>,
    /// The normalised path, when a policy needs it whole.
    pub path: Option<&'a str>,
    /// The called service, and whether as a mesh `Service` (else a `Route`).
    pub service: &'a str,
    pub mesh: bool,
    /// The client address, when a policy reads it.
    pub client: Option<IpAddr>,
    /// What the enforced set reads of this request.
    pub enforced: Abstraction,
    /// What the shadow set reads of it, when one is installed.
    pub shadow: Option<Abstraction>,
    /// Unix seconds.
    pub time: i64,
}

/// What the sets decided about one request.
#[derive(Debug)]
pub struct Decided {
    pub enforced: Decision,
    /// The shadow set's version and decision, when one is installed.
    pub shadow: Option<(u64, Decision)>,
}

/// The decisions of the current second. Its `Debug` shows no keys (they hold bearer tokens).
pub struct Memo {
    shards: Vec<Mutex<Shard>>,
    hasher: RandomState,
}

#[derive(Default)]
struct Shard {
    second: i64,
    entries: HashMap<u64, (Owned, Arc<Decided>)>,
}

/// [`Key`], owned.
struct Owned {
    peer: Option<Box<str>>,
    token: Option<Box<str>>,
    method: Box<str>,
    host: Option<Box<str>>,
    path: Option<Box<str>>,
    service: Box<str>,
    mesh: bool,
    client: Option<IpAddr>,
    enforced: Abstraction,
    shadow: Option<Abstraction>,
}

impl Memo {
    /// An empty memo.
    pub fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
        }
    }

    /// The hash that [`Memo::get`] and [`Memo::insert`] take.
    pub fn hash(&self, key: &Key<'_>) -> u64 {
        self.hasher.hash_one(key)
    }

    fn shard(&self, hash: u64) -> Option<MutexGuard<'_, Shard>> {
        let shard = self.shards.get((hash % SHARDS as u64) as usize)?;
        // Every update is a single step: the map is valid after a panic elsewhere.
        Some(shard.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The decision remembered for `key`, made in the same second.
    pub fn get(&self, hash: u64, key: &Key<'_>) -> Option<Arc<Decided>> {
        let shard = self.shard(hash)?;
        if shard.second != key.time {
            return None;
        }
        shard
            .entries
            .get(&hash)
            .filter(|(owned, _)| owned.is(key))
            .map(|(_, d)| d.clone())
    }

    /// Remembers `decided` for `key` (unless full, or `key` is of a past second).
    pub fn insert(&self, hash: u64, key: &Key<'_>, decided: Arc<Decided>) {
        let Some(mut shard) = self.shard(hash) else {
            return;
        };
        if shard.second != key.time {
            if key.time < shard.second {
                return;
            }
            shard.second = key.time;
            shard.entries.clear();
        }
        if shard.entries.len() >= MAX_ENTRIES / SHARDS && !shard.entries.contains_key(&hash) {
            return;
        }
        shard.entries.insert(hash, (Owned::from(key), decided));
    }
}

#[cfg(test)]
impl Memo {
    /// How many decisions are remembered.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entries
                    .len()
            })
            .sum()
    }
}

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memo").finish_non_exhaustive()
    }
}

impl Default for Memo {
    fn default() -> Self {
        Self::new()
    }
}

impl Owned {
    fn is(&self, k: &Key<'_>) -> bool {
        self.peer.as_deref() == k.peer
            && self.token.as_deref() == k.token
            && &*self.method == k.method
            && self.host.as_deref() == k.host
            && self.path.as_deref() == k.path
            && &*self.service == k.service
            && self.mesh == k.mesh
            && self.client == k.client
            && self.enforced == k.enforced
            && self.shadow == k.shadow
    }
}

impl From<&Key<'_>> for Owned {
    fn from(k: &Key<'_>) -> Self {
        Self {
            peer: k.peer.map(Box::from),
            token: k.token.map(Box::from),
            method: k.method.into(),
            host: k.host.map(Box::from),
            path: k.path.map(Box::from),
            service: k.service.into(),
            mesh: k.mesh,
            client: k.client,
            enforced: k.enforced.clone(),
            shadow: k.shadow.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(path: &str, time: i64) -> Key<'_> {
        Key {
            peer: None,
            token: Some("a.b.c"),
            method: "GET",
            host: Some("h"),
            path: Some(path),
            service: "svc",
            mesh: false,
            client: Some(IpAddr::from([127, 0, 0, 1])),
            enforced: Abstraction::everything(),
            shadow: None,
            time,
        }
    }

    fn decided(allowed: bool) -> Arc<Decided> {
        Arc::new(Decided {
            enforced: Decision {
                allowed,
                policies: Vec::new(),
                errors: Vec::new(),
            },
            shadow: None,
        })
    }

    #[test]
    fn remembers_within_the_second_only() {
        let m = Memo::new();
        let k = key("/a", 100);
        let h = m.hash(&k);
        assert!(m.get(h, &k).is_none());
        m.insert(h, &k, decided(true));
        assert!(m.get(h, &k).is_some_and(|d| d.enforced.allowed));
        // Another input is another decision.
        let other = key("/b", 100);
        assert!(m.get(m.hash(&other), &other).is_none());
        let mut other = k.clone();
        other.token = Some("a.b.d");
        assert!(m.get(m.hash(&other), &other).is_none());
        // The next second forgets.
        let later = key("/a", 101);
        let hl = m.hash(&later);
        assert!(m.get(hl, &later).is_none());
        m.insert(hl, &later, decided(false));
        assert!(m.get(hl, &later).is_some_and(|d| !d.enforced.allowed));
        // Nothing of another second is served, whichever shard it lands in.
        for t in [99, 102] {
            let k = key("/a", t);
            assert!(m.get(m.hash(&k), &k).is_none(), "second {t}");
        }
    }

    #[test]
    fn a_hash_collision_is_no_hit() {
        let m = Memo::new();
        let k = key("/a", 5);
        let h = m.hash(&k);
        m.insert(h, &k, decided(true));
        let other = key("/z", 5);
        assert!(m.get(h, &other).is_none(), "equal hash, other key");
    }

    #[test]
    fn is_bounded() {
        let m = Memo::new();
        let paths: Vec<String> = (0..MAX_ENTRIES + 100).map(|i| format!("/{i}")).collect();
        for p in &paths {
            let k = key(p, 7);
            m.insert(m.hash(&k), &k, decided(true));
        }
        let held: usize = m
            .shards
            .iter()
            .map(|s| s.lock().unwrap().entries.len())
            .sum();
        assert!(held <= MAX_ENTRIES, "{held}");
    }
}

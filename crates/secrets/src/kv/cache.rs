//! A bounded cache of *sealed* records: per path, the metadata row and the current version's
//! row as stored (ciphertext and wrapped data key, never plaintext or unwrapped keys). It saves
//! the store round trip of a read, and of the metadata lookup before a write.
//!
//! It is only correct when this process is the only writer of the database, so the engine
//! enables it on SQLite (single node by design) and not on PostgreSQL.
//!
//! Invariant: a path's cached records equal the committed rows. Every mutation of a path goes
//! through [`Cache::begin`] (drops the cached records, counts the mutation as in flight) and
//! [`Cache::finish`] (after the store call returned). A stamp, taken from one counter that
//! grows at every `begin` and `finish`, marks when a path last changed. A reader that missed
//! fills the cache only if no mutation of that path was in flight or finished while it read
//! the store ([`Cache::fill`] compares stamps); a writer installs its own result only if no
//! other mutation of the path overlapped its own. So a read that starts after an acknowledged
//! mutation never sees an older state.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rampart_store::{SecretMetaRecord, SecretVersionRecord};

/// Entries kept at most (paths with or without cached records).
const MAX_ENTRIES: usize = 100_000;
/// Bytes of cached records kept at most (paths, metadata and ciphertext, roughly).
const MAX_BYTES: usize = 64 * 1024 * 1024;
/// Bytes counted per entry besides its variable-size fields.
const ENTRY_OVERHEAD: usize = 160;

/// The sealed records of one path: its metadata row and its current version's row (None when
/// the secret has no version yet).
#[derive(Debug)]
pub(crate) struct Cached {
    pub meta: SecretMetaRecord,
    pub current: Option<SecretVersionRecord>,
}

/// What a reader that missed must hand back to [`Cache::fill`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct FillTicket(u64);

/// A mutation of one path in flight, from [`Cache::begin`] until [`Mutation::finish`] (or
/// drop: a cancelled call counts as finished with an unknown outcome).
#[must_use]
pub(crate) struct Mutation<'a> {
    cache: &'a Cache,
    path: &'a str,
    stamp: u64,
    done: bool,
}

/// The cache; disabled caches answer nothing and remember nothing.
pub(crate) struct Cache {
    enabled: bool,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Grows at every `begin` and `finish`.
    clock: u64,
    /// The highest stamp of an entry dropped by eviction or [`Cache::clear`].
    dropped_stamp: u64,
    bytes: usize,
    entries: HashMap<String, Entry>,
}

struct Entry {
    /// When the path last changed (the clock at its last `begin` or `finish`).
    stamp: u64,
    /// Mutations of the path in flight.
    pending: u32,
    records: Option<Arc<Cached>>,
}

// === impl Cache ===

impl Cache {
    /// A cache, answering only when `enabled`.
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Whether the cache is on.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The cached records of `path`, or on a miss the ticket to fill it after reading the
    /// store (None when disabled).
    pub fn get(&self, path: &str) -> Result<Arc<Cached>, Option<FillTicket>> {
        if !self.enabled {
            return Err(None);
        }
        let inner = self.lock();
        match inner.entries.get(path).and_then(|e| e.records.clone()) {
            Some(records) => Ok(records),
            None => Err(Some(FillTicket(inner.clock))),
        }
    }

    /// Caches `records` read from the store for `path` after `ticket` was taken, unless a
    /// mutation of `path` was in flight or finished since.
    pub fn fill(&self, path: &str, ticket: FillTicket, records: &Arc<Cached>) {
        if !self.enabled {
            return;
        }
        let mut inner = self.lock();
        let fresh = match inner.entries.get(path) {
            Some(entry) => entry.pending == 0 && entry.stamp <= ticket.0,
            None => inner.dropped_stamp <= ticket.0,
        };
        if fresh {
            let stamp = inner.entries.get(path).map_or(0, |e| e.stamp);
            inner.put(path, stamp, 0, Some(records.clone()));
        }
    }

    /// Before mutating `path` in the store: drops its records and counts the mutation.
    pub fn begin<'a>(&'a self, path: &'a str) -> Mutation<'a> {
        let mut mutation = Mutation {
            cache: self,
            path,
            stamp: 0,
            done: !self.enabled,
        };
        if self.enabled {
            let mut inner = self.lock();
            inner.clock += 1;
            mutation.stamp = inner.clock;
            let pending = inner.entries.get(path).map_or(0, |e| e.pending) + 1;
            inner.put(path, mutation.stamp, pending, None);
        }
        mutation
    }

    /// Ends the mutation of `path` begun at `stamp`; see [`Mutation::finish`].
    fn end(&self, path: &str, stamp: u64, result: Option<Cached>) {
        let mut inner = self.lock();
        inner.clock += 1;
        let clock = inner.clock;
        let (pending, alone) = match inner.entries.get(path) {
            Some(e) => (
                e.pending.saturating_sub(1),
                e.pending == 1 && e.stamp == stamp,
            ),
            // Dropped by `clear` meanwhile: stay conservative.
            None => (0, false),
        };
        let records = if alone { result.map(Arc::new) } else { None };
        inner.put(path, clock, pending, records);
    }

    /// Drops every cached record (after a keyring change, at seal, or when the database was
    /// edited behind the engine's back); mutations in flight stay counted.
    pub fn clear(&self) {
        if !self.enabled {
            return;
        }
        let mut inner = self.lock();
        inner.clock += 1;
        let clock = inner.clock;
        inner.dropped_stamp = clock;
        inner.entries.retain(|_, e| e.pending > 0);
        for entry in inner.entries.values_mut() {
            entry.stamp = clock;
            entry.records = None;
        }
        inner.bytes = inner.entries.keys().map(|k| entry_size(k, None)).sum();
    }

    /// Entries and bytes held (for tests).
    #[cfg(test)]
    fn usage(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.entries.len(), inner.bytes)
    }

    /// Locks the map (a poisoned lock is still usable: every update keeps the invariant).
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

// === impl Mutation ===

impl Mutation<'_> {
    /// After the store call returned (whatever the outcome). `result` is the path's committed
    /// state after it when known (a successful write); it is cached only if no other mutation
    /// of the path overlapped this one.
    pub fn finish(mut self, result: Option<Cached>) {
        if !self.done {
            self.done = true;
            self.cache.end(self.path, self.stamp, result);
        }
    }
}

impl Drop for Mutation<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.done = true;
            self.cache.end(self.path, self.stamp, None);
        }
    }
}

// === impl Inner ===

impl Inner {
    /// Sets the entry of `path`, then evicts idle entries while over budget.
    fn put(&mut self, path: &str, stamp: u64, pending: u32, records: Option<Arc<Cached>>) {
        let size = entry_size(path, records.as_deref());
        let entry = Entry {
            stamp,
            pending,
            records,
        };
        match self.entries.get_mut(path) {
            Some(old) => {
                self.bytes = self
                    .bytes
                    .saturating_sub(entry_size(path, old.records.as_deref()));
                *old = entry;
            }
            None => {
                self.entries.insert(path.to_owned(), entry);
            }
        }
        self.bytes += size;
        if self.entries.len() > MAX_ENTRIES || self.bytes > MAX_BYTES {
            self.evict(path);
        }
    }

    /// Drops idle entries (not `keep`, no mutation in flight) until under 90 % of both
    /// budgets; their stamps go to `dropped_stamp` so that no reader fills them from an older
    /// read.
    fn evict(&mut self, keep: &str) {
        let target_entries = MAX_ENTRIES / 10 * 9;
        let target_bytes = MAX_BYTES / 10 * 9;
        let mut victims = Vec::new();
        let (mut entries, mut bytes) = (self.entries.len(), self.bytes);
        for (path, entry) in &self.entries {
            if entries <= target_entries && bytes <= target_bytes {
                break;
            }
            if entry.pending > 0 || path == keep {
                continue;
            }
            entries -= 1;
            bytes = bytes.saturating_sub(entry_size(path, entry.records.as_deref()));
            victims.push(path.clone());
        }
        for path in victims {
            if let Some(entry) = self.entries.remove(&path) {
                self.dropped_stamp = self.dropped_stamp.max(entry.stamp);
            }
        }
        self.bytes = bytes;
    }
}

/// The bytes counted for an entry.
fn entry_size(path: &str, records: Option<&Cached>) -> usize {
    let records = records.map_or(0, |r| {
        r.meta.path.len()
            + r.meta.custom_metadata.len()
            + r.current.as_ref().map_or(0, |v| {
                v.path.len() + v.wrapped_dek.len() + v.ciphertext.len()
            })
    });
    ENTRY_OVERHEAD + path.len() + records
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn records(path: &str, version: i64) -> Cached {
        Cached {
            meta: SecretMetaRecord {
                path: path.to_owned(),
                current_version: version,
                oldest_version: 1,
                max_versions: 0,
                cas_required: false,
                delete_version_after_secs: 0,
                custom_metadata: "{}".to_owned(),
                created_at_ms: 0,
                updated_at_ms: 0,
            },
            current: None,
        }
    }

    fn version(cache: &Cache, path: &str) -> Option<i64> {
        cache.get(path).ok().map(|r| r.meta.current_version)
    }

    #[test]
    fn disabled_cache_keeps_nothing() {
        let cache = Cache::new(false);
        let Err(None) = cache.get("a") else {
            panic!("a disabled cache gives no ticket")
        };
        let m = cache.begin("a");
        m.finish(Some(records("a", 1)));
        assert_eq!(version(&cache, "a"), None);
    }

    #[test]
    fn fill_then_hit() {
        let cache = Cache::new(true);
        let Err(Some(ticket)) = cache.get("a") else {
            panic!("miss expected")
        };
        cache.fill("a", ticket, &Arc::new(records("a", 3)));
        assert_eq!(version(&cache, "a"), Some(3));
    }

    #[test]
    fn a_read_overlapping_a_mutation_does_not_fill() {
        let cache = Cache::new(true);
        // The reader misses, then a write starts and finishes before the reader fills.
        let Err(Some(ticket)) = cache.get("a") else {
            panic!()
        };
        let m = cache.begin("a");
        m.finish(Some(records("a", 2)));
        cache.fill("a", ticket, &Arc::new(records("a", 1)));
        assert_eq!(version(&cache, "a"), Some(2));
        // The same with a mutation still in flight: no fill, and the write did not install.
        let Err(Some(ticket)) = cache.get("b") else {
            panic!()
        };
        let m = cache.begin("b");
        cache.fill("b", ticket, &Arc::new(records("b", 1)));
        assert_eq!(version(&cache, "b"), None);
        let Err(Some(late)) = cache.get("b") else {
            panic!()
        };
        cache.fill("b", late, &Arc::new(records("b", 1)));
        assert_eq!(version(&cache, "b"), None, "in flight: no fill");
        m.finish(None);
        assert_eq!(version(&cache, "b"), None, "no result: nothing cached");
    }

    #[test]
    fn overlapping_mutations_install_nothing() {
        let cache = Cache::new(true);
        let first = cache.begin("a");
        let second = cache.begin("a");
        second.finish(Some(records("a", 3)));
        first.finish(Some(records("a", 2)));
        assert_eq!(version(&cache, "a"), None);
        // Alone again: a write installs its result.
        let third = cache.begin("a");
        third.finish(Some(records("a", 4)));
        assert_eq!(version(&cache, "a"), Some(4));
    }

    #[test]
    fn a_dropped_mutation_counts_as_finished_without_result() {
        let cache = Cache::new(true);
        let m = cache.begin("a");
        cache.fill("a", FillTicket(u64::MAX), &Arc::new(records("a", 1)));
        assert_eq!(version(&cache, "a"), None, "in flight");
        drop(m);
        assert_eq!(version(&cache, "a"), None);
        let Err(Some(ticket)) = cache.get("a") else {
            panic!()
        };
        cache.fill("a", ticket, &Arc::new(records("a", 2)));
        assert_eq!(version(&cache, "a"), Some(2), "fills again once it ended");
    }

    #[test]
    fn clear_drops_records_and_blocks_older_fills() {
        let cache = Cache::new(true);
        let m = cache.begin("a");
        m.finish(Some(records("a", 1)));
        let Err(Some(ticket)) = cache.get("b") else {
            panic!()
        };
        cache.clear();
        assert_eq!(version(&cache, "a"), None);
        cache.fill("b", ticket, &Arc::new(records("b", 1)));
        assert_eq!(version(&cache, "b"), None);
        assert_eq!(cache.usage(), (0, 0));
    }

    #[test]
    fn eviction_bounds_the_entries_and_blocks_older_fills() {
        let cache = Cache::new(true);
        let Err(Some(early)) = cache.get("late") else {
            panic!()
        };
        for i in 0..=MAX_ENTRIES {
            let path = format!("p/{i}");
            let m = cache.begin(&path);
            m.finish(Some(records(&path, 1)));
        }
        let (entries, bytes) = cache.usage();
        assert!(entries <= MAX_ENTRIES, "{entries}");
        assert!(bytes <= MAX_BYTES, "{bytes}");
        // Some entry was evicted after `early` was taken: a fill from that old read is refused.
        cache.fill("late", early, &Arc::new(records("late", 1)));
        assert_eq!(version(&cache, "late"), None);
    }
}

//! Verification of the audit chain: walks records in `chain_seq` order, checks every link, the
//! signed checkpoints and the head, and names the first problem (see `docs/logs.md`).
//!
//! Streaming: records are pushed one at a time and judged with one record of lookahead. Memory
//! is the first 8 bytes of every verified hash (8 MB at one million records; searched once, to
//! tell *where* a broken link points, never to accept a link, which is always compared in
//! full), the last 1 024 verified records, and the checkpoints not reached yet. After the first problem the rest of the stream is only scanned (no memory) to
//! tell a reordered record from a modified or deleted one.

mod checkpoints;
mod judge;
mod probe;

use super::{AuditKey, ChainEntry, Checkpoint, HASH_LEN, StartPoint};
use probe::Probe;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};

/// What verification found wrong (the table in `docs/logs.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The record's body (or stored hash) no longer matches its link.
    Modified,
    /// Records are missing before this one.
    Deleted,
    /// This record is not part of the chain.
    Inserted,
    /// This record links to a record that comes later.
    Reordered,
    /// The chain ends before a signed checkpoint or the head.
    Truncated,
    /// A checkpoint's signature, head hash or count does not match.
    BadCheckpoint,
}

/// The first problem in chain order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    /// The record (or, for `truncated`, the first missing `chain_seq`; for `bad_checkpoint`, the
    /// checkpoint's `chain_seq`).
    pub chain_seq: i64,
    /// The record's `event.id`, when the record is at hand.
    pub event_id: Option<String>,
    pub detail: String,
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub ok: bool,
    /// Records whose links were verified.
    pub records: u64,
    /// Checkpoints whose signature, head hash and count were verified.
    pub checkpoints_verified: u64,
    /// The last verified record: `(chain_seq, hex(hash))`.
    pub head: Option<(i64, String)>,
    /// The highest `chain_seq` covered by a verified checkpoint: records after it are only as
    /// trustworthy as the database (or the export) they came from.
    pub signed_through: Option<i64>,
    /// The checkpoints were checked with keys taken from the export itself, so the export
    /// vouches for itself: only as good as the trust in where the file came from.
    pub keys_from_export: bool,
    pub problem: Option<Problem>,
}

/// Verifies a whole chain: `entries` in ascending `chain_seq`, `checkpoints` in any order,
/// `keys` the trusted public keys, `head` the stored head `(chain_seq, hash)` when known, and
/// `start` the point after a retention prune (default: genesis at 0).
///
/// Online callers should read the head and the records in one transaction (or pass only records
/// up to the head): a record stored after the head was read shows up as `inserted`.
pub fn verify(
    entries: impl IntoIterator<Item = ChainEntry>,
    checkpoints: &[Checkpoint],
    keys: &[AuditKey],
    head: Option<(i64, [u8; HASH_LEN])>,
    start: Option<StartPoint>,
) -> VerifyReport {
    let mut verifier = Verifier::new(keys, head, start);
    for checkpoint in checkpoints {
        verifier.push_checkpoint(checkpoint.clone());
    }
    for entry in entries {
        verifier.push_entry(entry);
    }
    verifier.finish()
}

/// Incremental verification, for callers that stream records (an export file, a cursor).
/// A checkpoint must be pushed before the record that follows its `chain_seq`.
#[derive(Debug)]
pub struct Verifier<'k> {
    keys: &'k [AuditKey],
    head: Option<(i64, [u8; HASH_LEN])>,
    start: StartPoint,
    /// The last verified record (or the start point).
    last: Link,
    /// The record pushed but not judged yet (judging needs the next one).
    cur: Option<ChainEntry>,
    /// First 8 bytes of every verified hash, in chain order from the start point (contiguous
    /// `chain_seq`s): 8 bytes a record, searched only once, at the first broken link.
    prefixes: Vec<u64>,
    /// The most recent verified records, for naming them and for late checkpoints.
    window: VecDeque<Link>,
    /// Checkpoints whose record was not reached yet, by `chain_seq`.
    pending: BTreeMap<i64, Vec<Checkpoint>>,
    /// The highest `chain_seq` whose hash a verified checkpoint, the head or the start vouches for.
    confirmed_through: i64,
    signed_through: Option<i64>,
    records: u64,
    checkpoints_verified: u64,
    state: State,
}

/// A verified record, as remembered.
#[derive(Debug, Clone)]
struct Link {
    seq: i64,
    hash: [u8; HASH_LEN],
    prev: [u8; HASH_LEN],
    event_id: Option<String>,
}

#[derive(Debug)]
enum State {
    Walking,
    /// A problem was found; the rest of the stream may still show it is a reordering.
    Probing(Box<Probe>),
    Done(Problem),
}

const WINDOW: usize = 1024;

// === impl Verifier ===

impl<'k> Verifier<'k> {
    pub fn new(
        keys: &'k [AuditKey],
        head: Option<(i64, [u8; HASH_LEN])>,
        start: Option<StartPoint>,
    ) -> Self {
        let start = start.unwrap_or_default();
        let last = Link {
            seq: start.chain_seq,
            hash: start.hash,
            prev: super::GENESIS,
            event_id: None,
        };
        Self {
            keys,
            head,
            start,
            last: last.clone(),
            cur: None,
            prefixes: vec![prefix(&start.hash)],
            window: VecDeque::from([last]),
            pending: BTreeMap::new(),
            confirmed_through: start.chain_seq,
            signed_through: None,
            records: 0,
            checkpoints_verified: 0,
            state: State::Walking,
        }
    }

    /// Adds a checkpoint. Ones older than the start point are ignored (pruned with their records).
    pub fn push_checkpoint(&mut self, checkpoint: Checkpoint) {
        if !matches!(self.state, State::Walking) {
            return;
        }
        if checkpoint.body.chain_seq > self.last.seq {
            self.pending
                .entry(checkpoint.body.chain_seq)
                .or_default()
                .push(checkpoint);
        } else {
            self.late_checkpoint(&checkpoint);
        }
    }

    /// Adds the next record in `chain_seq` order.
    pub fn push_entry(&mut self, entry: ChainEntry) {
        match &mut self.state {
            State::Done(_) => {}
            State::Probing(probe) => {
                if let Some(found) = probe.observe(&entry) {
                    self.state = State::Done(found);
                }
            }
            State::Walking => {
                let before_start = self.records == 0 && self.cur.is_none();
                if before_start && entry.chain_seq <= self.start.chain_seq {
                    return; // kept from before the start point: not part of this verification
                }
                if let Some(cur) = self.cur.take() {
                    self.judge(cur, Some(&entry));
                }
                match &mut self.state {
                    State::Walking => self.cur = Some(entry),
                    State::Probing(probe) => {
                        if let Some(found) = probe.observe(&entry) {
                            self.state = State::Done(found);
                        }
                    }
                    State::Done(_) => {}
                }
            }
        }
    }

    /// Ends the stream and reports.
    pub fn finish(mut self) -> VerifyReport {
        if let (State::Walking, Some(cur)) = (&self.state, self.cur.take()) {
            self.judge(cur, None);
        }
        if matches!(self.state, State::Walking) {
            self.end_checks();
        }
        let problem = match std::mem::replace(&mut self.state, State::Walking) {
            State::Walking => None,
            State::Probing(probe) => Some(probe.otherwise()),
            State::Done(problem) => Some(problem),
        };
        VerifyReport {
            ok: problem.is_none(),
            records: self.records,
            checkpoints_verified: self.checkpoints_verified,
            head: (self.records > 0).then(|| (self.last.seq, hex::encode(self.last.hash))),
            signed_through: self.signed_through,
            keys_from_export: false,
            problem,
        }
    }

    fn fail(&mut self, problem: Problem) {
        self.state = State::Done(problem);
    }

    /// Records `link` as verified.
    fn remember(&mut self, link: Link) {
        self.prefixes.push(prefix(&link.hash));
        if self.window.len() == WINDOW {
            self.window.pop_front();
        }
        self.window.push_back(link.clone());
        self.last = link;
        self.records += 1;
    }

    /// The `chain_seq` of the latest verified record whose hash starts like `hash`.
    fn seq_of(&self, hash: &[u8; HASH_LEN]) -> Option<i64> {
        let wanted = prefix(hash);
        let at = self.prefixes.iter().rposition(|p| *p == wanted)?;
        self.start.chain_seq.checked_add(i64::try_from(at).ok()?)
    }

    /// The remembered record at `seq`, if still in the window.
    fn recent(&self, seq: i64) -> Option<&Link> {
        let first = self.window.front()?.seq;
        let at = usize::try_from(seq.checked_sub(first)?).ok()?;
        self.window.get(at).filter(|link| link.seq == seq)
    }
}

// === helpers ===

/// A stored hash as an array, if it has the right length.
fn to_hash(bytes: &[u8]) -> Option<[u8; HASH_LEN]> {
    bytes.try_into().ok()
}

fn prefix(hash: &[u8; HASH_LEN]) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash[..8]);
    u64::from_le_bytes(first)
}

fn problem(kind: ProblemKind, chain_seq: i64, event_id: Option<&str>, detail: String) -> Problem {
    Problem {
        kind,
        chain_seq,
        event_id: event_id.map(str::to_owned),
        detail,
    }
}

//! After the first problem: scan the rest of the stream for the one thing that changes its
//! name, a later record the suspect links to (or that links to the suspect), which makes it
//! `reordered`. Constant memory.

use super::{Problem, ProblemKind, problem};
use crate::audit::ChainEntry;

/// The first suspect record and what it is if the scan finds nothing.
#[derive(Debug)]
pub(super) struct Probe {
    seq: i64,
    event_id: String,
    /// The suspect's `prev_hash`, when a later record with that hash makes it reordered.
    prev: Option<Vec<u8>>,
    hash: Vec<u8>,
    /// Records seen after the suspect.
    seen: u64,
    otherwise: Problem,
}

// === impl Probe ===

impl Probe {
    pub(super) fn new(suspect: &ChainEntry, match_prev: bool, otherwise: Problem) -> Self {
        Self {
            seq: suspect.chain_seq,
            event_id: suspect.event_id.clone(),
            prev: match_prev.then(|| suspect.prev_hash.clone()),
            hash: suspect.hash.clone(),
            seen: 0,
            otherwise,
        }
    }

    /// Looks at the next record of the stream; `Some` when it shows the suspect is reordered.
    pub(super) fn observe(&mut self, later: &ChainEntry) -> Option<Problem> {
        self.seen += 1;
        let detail = if self.prev.as_ref() == Some(&later.hash) {
            format!("it links to #{}, which comes after it", later.chain_seq)
        } else if self.seen >= 2 && later.prev_hash == self.hash {
            // The next record linking to the suspect is the normal case, so only a record
            // further on counts.
            format!(
                "#{} links to it but comes later: it belongs further on",
                later.chain_seq
            )
        } else {
            return None;
        };
        Some(problem(
            ProblemKind::Reordered,
            self.seq,
            Some(&self.event_id),
            detail,
        ))
    }

    pub(super) fn otherwise(self) -> Problem {
        self.otherwise
    }
}

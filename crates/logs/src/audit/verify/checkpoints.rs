//! Signed checkpoints during verification: each one is checked when its record is reached
//! (signature by a trusted key, head hash, count), and the ones past the end prove truncation.

use super::{Link, Problem, ProblemKind, Verifier, problem};
use crate::audit::{ChainEntry, Checkpoint};

// === impl Verifier ===

impl Verifier<'_> {
    /// Checks the checkpoints at `link` (just verified, not yet remembered).
    pub(super) fn checkpoints_at(
        &mut self,
        link: &Link,
        next: Option<&ChainEntry>,
    ) -> Result<(), Problem> {
        // Anything still pending before `link` names a record that was never reached.
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() > link.seq {
                break;
            }
            for cp in entry.remove() {
                if cp.body.chain_seq < link.seq {
                    let detail = format!("no record at its chain_seq #{}", cp.body.chain_seq);
                    return Err(bad(&cp, detail));
                }
                self.check(&cp, link, next)?;
            }
        }
        Ok(())
    }

    /// A checkpoint pushed after its record was passed (only a reordered export does this).
    pub(super) fn late_checkpoint(&mut self, cp: &Checkpoint) {
        let seq = cp.body.chain_seq;
        if seq < self.start.chain_seq {
            return; // pruned with its records
        }
        let result = match self.recent(seq).cloned() {
            Some(link) => self.check(cp, &link, None),
            None => Err(bad(
                cp,
                "it comes after later records: checkpoints must follow their record".into(),
            )),
        };
        if let Err(found) = result {
            self.fail(found);
        }
    }

    /// After the last record: the head and the remaining checkpoints must not lie beyond it.
    pub(super) fn end_checks(&mut self) {
        let end = self.last.seq;
        let signed_beyond = self
            .pending
            .values()
            .flatten()
            .find(|cp| self.trusted(cp).is_ok())
            .map(|cp| cp.body.chain_seq);
        let head_beyond = self.head.map(|(seq, _)| seq).filter(|seq| *seq > end);
        let beyond = match (head_beyond, signed_beyond) {
            (Some(seq), _) => Some(format!("the chain's head is #{seq}")),
            (None, Some(seq)) => Some(format!("a signed checkpoint covers #{seq}")),
            (None, None) => None,
        };
        if let Some(why) = beyond {
            let detail = format!("the chain ends at #{end} but {why}");
            return self.fail(problem(
                ProblemKind::Truncated,
                end.saturating_add(1),
                None,
                detail,
            ));
        }
        let first_bad = self.pending.values().flatten().find_map(|cp| {
            let why = self.trusted(cp).err()?;
            Some(bad(cp, why))
        });
        if let Some(found) = first_bad {
            self.fail(found);
        }
    }

    fn check(
        &mut self,
        cp: &Checkpoint,
        link: &Link,
        next: Option<&ChainEntry>,
    ) -> Result<(), Problem> {
        self.trusted(cp).map_err(|why| bad_at(cp, link, why))?;
        if cp.body.head_hash != link.hash {
            if next.is_some_and(|n| n.prev_hash == cp.body.head_hash) {
                let detail = "its hash is not the signed checkpoint's, which the next record still links to: changed and re-hashed".into();
                return Err(problem(
                    ProblemKind::Modified,
                    link.seq,
                    link.event_id.as_deref(),
                    detail,
                ));
            }
            let detail = format!(
                "its head hash is not the hash of record #{}: the chain was rewritten after #{}",
                link.seq, self.confirmed_through
            );
            return Err(bad_at(cp, link, detail));
        }
        if cp.body.count != link.seq {
            let detail = format!(
                "it counts {} records but #{} is record number {}",
                cp.body.count, link.seq, link.seq
            );
            return Err(bad_at(cp, link, detail));
        }
        self.checkpoints_verified += 1;
        self.confirmed_through = self.confirmed_through.max(link.seq);
        self.signed_through = Some(self.signed_through.map_or(link.seq, |s| s.max(link.seq)));
        Ok(())
    }

    /// Whether a trusted key signed `cp`; otherwise why not.
    fn trusted(&self, cp: &Checkpoint) -> Result<(), String> {
        if self.keys.iter().any(|k| k.verifies(cp)) {
            return Ok(());
        }
        if self.keys.iter().any(|k| k.key_id == cp.key_id) {
            Err(format!(
                "its signature does not verify with key `{}`",
                cp.key_id
            ))
        } else {
            Err(format!(
                "it is signed by key `{}`, which is not trusted",
                cp.key_id
            ))
        }
    }
}

// === helpers ===

fn bad(cp: &Checkpoint, detail: String) -> Problem {
    problem(ProblemKind::BadCheckpoint, cp.body.chain_seq, None, detail)
}

/// A bad checkpoint at a record that is at hand, named with the record's event id.
fn bad_at(cp: &Checkpoint, link: &Link, detail: String) -> Problem {
    let id = link.event_id.as_deref();
    problem(ProblemKind::BadCheckpoint, cp.body.chain_seq, id, detail)
}

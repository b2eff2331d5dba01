//! Judging one record against the last verified one (and a look at the next): accept it, or
//! classify the first broken link as modified, deleted, inserted or reordered.

use super::probe::Probe;
use super::{Link, ProblemKind, State, Verifier, problem, to_hash};
use crate::audit::{ChainEntry, HASH_LEN, link_hash};

// === impl Verifier ===

impl Verifier<'_> {
    /// Judges `cur` given the record after it (`None` at the end of the stream).
    pub(super) fn judge(&mut self, cur: ChainEntry, next: Option<&ChainEntry>) {
        let p = self.last.clone();
        if let Some((head_seq, _)) = self.head
            && cur.chain_seq > head_seq
            && p.seq >= head_seq
        {
            let detail = format!("it comes after the chain's head #{head_seq}");
            return self.fail(inserted(&cur, detail));
        }
        if cur.chain_seq <= p.seq {
            return self.out_of_order(&cur, &p, next);
        }
        let prev = to_hash(&cur.prev_hash);
        let hash = to_hash(&cur.hash);
        let self_ok =
            matches!((prev, hash), (Some(pr), Some(h)) if link_hash(&pr, cur.body.as_bytes()) == h);
        let gap = cur.chain_seq > p.seq.saturating_add(1);
        if prev != Some(p.hash) {
            return self.broken_link(&cur, &p, next, self_ok, gap);
        }
        if !self_ok {
            if let Some(n) = next.filter(|n| n.prev_hash == p.hash) {
                let detail = format!("its hash does not match and #{} links past it", n.chain_seq);
                return self.fail(inserted(&cur, detail));
            }
            let otherwise = problem(
                ProblemKind::Modified,
                cur.chain_seq,
                Some(&cur.event_id),
                "its body or stored hash no longer matches its link".into(),
            );
            return self.probe(&cur, false, otherwise);
        }
        if gap {
            let detail = format!(
                "its chain_seq jumps from #{} to #{} although it links to #{}: its chain_seq was changed",
                p.seq, cur.chain_seq, p.seq
            );
            let found = problem(
                ProblemKind::Modified,
                cur.chain_seq,
                Some(&cur.event_id),
                detail,
            );
            return self.fail(found);
        }
        self.accept(&cur, hash.unwrap_or_default(), p.hash, next);
    }

    /// `cur.prev_hash` is not the last verified record's hash.
    fn broken_link(
        &mut self,
        cur: &ChainEntry,
        p: &Link,
        next: Option<&ChainEntry>,
        self_ok: bool,
        gap: bool,
    ) {
        let hash = to_hash(&cur.hash);
        if !gap && hash == Some(link_hash(&p.hash, cur.body.as_bytes())) {
            let detail = format!(
                "its stored prev_hash was changed (it still hashes over #{})",
                p.seq
            );
            let found = problem(
                ProblemKind::Modified,
                cur.chain_seq,
                Some(&cur.event_id),
                detail,
            );
            return self.fail(found);
        }
        if let Some(n) = next.filter(|n| n.hash == cur.prev_hash) {
            let detail = format!("it links to #{}, which comes after it", n.chain_seq);
            return self.fail(reordered(cur, detail));
        }
        if next.is_some_and(|n| n.prev_hash == p.hash) {
            let detail = format!(
                "it does not link to #{} and the next record links past it",
                p.seq
            );
            return self.fail(inserted(cur, detail));
        }
        let earlier = to_hash(&cur.prev_hash)
            .and_then(|pr| self.seq_of(&pr))
            .filter(|m| *m < p.seq);
        if let Some(m) = earlier {
            return self.links_to_earlier(cur, p, next, m);
        }
        let otherwise = self.unknown_link(cur, p, next, self_ok, gap);
        self.probe(cur, true, otherwise);
    }

    /// `cur` links to #m, an earlier record than its predecessor: either the records after #m
    /// were inserted (and `cur` is the genuine successor of #m), or `cur` was.
    fn links_to_earlier(&mut self, cur: &ChainEntry, p: &Link, next: Option<&ChainEntry>, m: i64) {
        if self.confirmed_through <= m && self.anchored(cur, next) {
            let first = m.saturating_add(1);
            let event_id = self.recent(first).and_then(|l| l.event_id.clone());
            let detail = format!(
                "#{} links to #{m}, past #{first}..#{}",
                cur.chain_seq, p.seq
            );
            return self.fail(problem(
                ProblemKind::Inserted,
                first,
                event_id.as_deref(),
                detail,
            ));
        }
        let detail = format!(
            "it links back to #{m}, skipping #{}..#{}",
            m.saturating_add(1),
            p.seq
        );
        self.fail(inserted(cur, detail));
    }

    /// What a record whose `prev_hash` is no earlier record's hash is, if no later record's
    /// hash matches it either.
    fn unknown_link(
        &self,
        cur: &ChainEntry,
        p: &Link,
        next: Option<&ChainEntry>,
        self_ok: bool,
        gap: bool,
    ) -> super::Problem {
        let row = |kind, detail: String| problem(kind, cur.chain_seq, Some(&cur.event_id), detail);
        let missing = || {
            let detail = format!(
                "records are missing after #{}: its prev_hash is no record's hash",
                p.seq
            );
            row(ProblemKind::Deleted, detail)
        };
        if gap {
            return missing();
        }
        let anchored = self.anchored(cur, next);
        let p_confirmed = self.confirmed_through >= p.seq;
        let island = || {
            let detail = format!("it does not link to #{} and nothing links to it", p.seq);
            row(ProblemKind::Inserted, detail)
        };
        match (anchored, next.is_some()) {
            (true, _) if !self_ok => {
                return row(
                    ProblemKind::Modified,
                    "its prev_hash and hash no longer match its body".into(),
                );
            }
            (true, _) if p_confirmed => return missing(),
            (true, _) => {}
            (false, true) => return island(),
            (false, false) if p_confirmed || !self_ok => return island(),
            (false, false) => {}
        }
        // #p links correctly to its predecessor, but the genuine-looking #cur expects another
        // hash for it: #p was rewritten with a recomputed hash (or records after it were
        // deleted and the rest renumbered).
        let detail = format!(
            "its hash is not the one #{} links to (changed and re-hashed, or records after it were deleted and renumbered)",
            cur.chain_seq
        );
        problem(ProblemKind::Modified, p.seq, p.event_id.as_deref(), detail)
    }

    /// `cur.chain_seq` is not after the last verified record's.
    fn out_of_order(&mut self, cur: &ChainEntry, p: &Link, next: Option<&ChainEntry>) {
        if cur.chain_seq != p.seq {
            let detail = format!(
                "chain_seq #{} comes after #{}: the records are out of chain order",
                cur.chain_seq, p.seq
            );
            return self.fail(reordered(cur, detail));
        }
        let cur_fits = to_hash(&cur.prev_hash) == Some(p.prev);
        let chain_follows_cur = next.is_some_and(|n| n.prev_hash == cur.hash);
        if cur_fits && chain_follows_cur && self.confirmed_through < p.seq {
            let detail = format!(
                "two records have chain_seq #{}; the chain continues from the other",
                p.seq
            );
            let found = problem(ProblemKind::Inserted, p.seq, p.event_id.as_deref(), detail);
            return self.fail(found);
        }
        let detail = format!("a second record with chain_seq #{}", p.seq);
        self.fail(inserted(cur, detail))
    }

    /// Whether something after `cur` vouches for its hash: the next record, the head, or a
    /// signed checkpoint.
    fn anchored(&self, cur: &ChainEntry, next: Option<&ChainEntry>) -> bool {
        let Some(hash) = to_hash(&cur.hash) else {
            return false;
        };
        next.is_some_and(|n| n.prev_hash == cur.hash)
            || self.head == Some((cur.chain_seq, hash))
            || self.pending.get(&cur.chain_seq).is_some_and(|cps| {
                cps.iter()
                    .any(|cp| cp.body.head_hash == hash && self.keys.iter().any(|k| k.verifies(cp)))
            })
    }

    fn probe(&mut self, cur: &ChainEntry, match_prev: bool, otherwise: super::Problem) {
        let probe = Probe::new(cur, match_prev, otherwise);
        self.state = State::Probing(Box::new(probe));
    }

    /// `cur` links correctly: check the head and checkpoints at it, then remember it.
    fn accept(
        &mut self,
        cur: &ChainEntry,
        hash: [u8; HASH_LEN],
        prev: [u8; HASH_LEN],
        next: Option<&ChainEntry>,
    ) {
        let link = Link {
            seq: cur.chain_seq,
            hash,
            prev,
            event_id: Some(cur.event_id.clone()),
        };
        if let Some((head_seq, head_hash)) = self.head
            && head_seq == cur.chain_seq
        {
            if head_hash != hash {
                let detail = "its hash is not the chain head's: it was changed and re-hashed";
                let found = problem(
                    ProblemKind::Modified,
                    cur.chain_seq,
                    Some(&cur.event_id),
                    detail.into(),
                );
                return self.fail(found);
            }
            self.confirmed_through = cur.chain_seq;
        }
        if let Err(found) = self.checkpoints_at(&link, next) {
            return self.fail(found);
        }
        self.remember(link);
    }
}

// === helpers ===

fn inserted(cur: &ChainEntry, detail: String) -> super::Problem {
    problem(
        ProblemKind::Inserted,
        cur.chain_seq,
        Some(&cur.event_id),
        detail,
    )
}

fn reordered(cur: &ChainEntry, detail: String) -> super::Problem {
    problem(
        ProblemKind::Reordered,
        cur.chain_seq,
        Some(&cur.event_id),
        detail,
    )
}

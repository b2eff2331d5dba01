//! The audit trail as the control plane serves it: verification of the stored chain and the
//! export for auditors, both read up to one head so that records stored meanwhile are not
//! mistaken for inserted ones. Online verification also checks that a row's indexed columns
//! (`id`, time, kind, action, service, principal, decision, status) are its body's: the chain
//! covers the body only, and the columns are what queries filter and report on.

use std::time::{SystemTime, UNIX_EPOCH};

use rampart_events::EventRecord;

use crate::LogStore;
use crate::audit::export::ExportWriter;
use crate::audit::{ChainEntry, Checkpoint, Problem, ProblemKind, Verifier, VerifyReport};
use crate::chain_rows::ChainRow;
use crate::error::LogError;
use crate::query::Query;

/// Chained records read per round trip.
const PAGE: i64 = 10_000;

// === impl LogStore ===

impl LogStore {
    /// Verifies the stored audit chain from its start (genesis, or the checkpoint retention
    /// kept) to its head, with every stored checkpoint and this store's audit keys.
    pub async fn verify_audit(&self) -> Result<VerifyReport, LogError> {
        let head = self.audit_head().await?;
        let start = self.audit_start().await?;
        let keys = self.audit_keys();
        let mut verifier = Verifier::new(&keys, head, Some(start));
        let last = head.map_or(0, |(seq, _)| seq);
        for checkpoint in self.checkpoints_through(last).await? {
            verifier.push_checkpoint(checkpoint);
        }
        let mut wrong_columns = None;
        self.each_chained(start.chain_seq + 1, last, |row| {
            if wrong_columns.is_none() {
                wrong_columns = columns_mismatch(&row);
            }
            verifier.push_entry(row.into())
        })
        .await?;
        Ok(first_problem(verifier.finish(), wrong_columns))
    }

    /// The audit trail as JSON lines (`docs/logs.md`): a header with the public keys, then
    /// records and checkpoints in chain order. A checkpoint of the current head is signed
    /// first, so that cutting records off the end of the export is detected.
    pub async fn export_audit(&self) -> Result<Vec<u8>, LogError> {
        self.checkpoint_now().await?;
        let head = self.audit_head().await?;
        let start = self.audit_start().await?;
        let last = head.map_or(0, |(seq, _)| seq);
        let checkpoints = self.checkpoints_through(last).await?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let mut writer = ExportWriter::new(Vec::new(), &self.audit_keys(), now, Some(start))
            .map_err(|e| LogError::Corrupt(e.to_string()))?;
        let mut entries = Vec::new();
        self.each_chained(start.chain_seq + 1, last, |row| {
            entries.push(ChainEntry::from(row))
        })
        .await?;
        writer
            .write_chain(entries, &checkpoints)
            .map_err(|e| LogError::Corrupt(e.to_string()))?;
        writer
            .finish()
            .map_err(|e| LogError::Corrupt(e.to_string()))
    }

    /// The highest `seq` stored (0 when empty): where a tail starts.
    pub async fn last_seq(&self) -> Result<i64, LogError> {
        let newest = self.query(&Query::default().limit(1)).await?;
        Ok(newest.first().map_or(0, |e| e.seq))
    }

    async fn checkpoints_through(&self, last: i64) -> Result<Vec<Checkpoint>, LogError> {
        let mut checkpoints = self.checkpoints().await?;
        checkpoints.retain(|cp| cp.body.chain_seq <= last);
        Ok(checkpoints)
    }

    /// Calls `f` with every chained record from `from` to `last`, in chain order.
    async fn each_chained(
        &self,
        from: i64,
        last: i64,
        mut f: impl FnMut(ChainRow),
    ) -> Result<(), LogError> {
        let mut next = from.max(1);
        while next <= last {
            let rows = self.chain_rows(next, PAGE).await?;
            let Some(end) = rows.last().map(|r| r.chain_seq) else {
                break;
            };
            for row in rows {
                if row.chain_seq > last {
                    return Ok(());
                }
                f(row);
            }
            next = end + 1;
        }
        Ok(())
    }
}

// === helpers ===

/// A `modified` problem when a row's indexed columns are not what its body says. A body that
/// does not parse is left to the chain check (its hash no longer matches).
fn columns_mismatch(row: &ChainRow) -> Option<Problem> {
    let body = EventRecord::parse(row.body.as_bytes()).ok()?;
    let c = &row.columns;
    let wrong = if body.id != row.event_id {
        Some(("id", row.event_id.clone()))
    } else if body.time_ms != c.time_ms {
        Some(("time_ms", c.time_ms.to_string()))
    } else if body.kind.as_str() != c.kind {
        Some(("kind", c.kind.clone()))
    } else if body.action != c.action {
        Some(("action", c.action.clone()))
    } else if body.service != c.service {
        Some(("service", c.service.clone()))
    } else if body.principal != c.principal {
        Some(("principal", format!("{:?}", c.principal)))
    } else if body.decision != c.decision {
        Some(("decision", format!("{:?}", c.decision)))
    } else if body.status.map(i64::from) != c.status {
        Some(("status", format!("{:?}", c.status)))
    } else {
        None
    };
    let (column, stored) = wrong?;
    Some(Problem {
        kind: ProblemKind::Modified,
        chain_seq: row.chain_seq,
        event_id: Some(body.id),
        detail: format!("its stored {column} `{stored}` is not what its body says"),
    })
}

/// The report with `found` as its problem when that comes first in chain order.
fn first_problem(mut report: VerifyReport, found: Option<Problem>) -> VerifyReport {
    let Some(found) = found else {
        return report;
    };
    let earlier = report
        .problem
        .as_ref()
        .is_none_or(|p| found.chain_seq < p.chain_seq);
    if earlier {
        report.ok = false;
        report.problem = Some(found);
    }
    report
}

//! The audit trail as the control plane serves it: verification of the stored chain and the
//! export for auditors, both read up to one head so that records stored meanwhile are not
//! mistaken for inserted ones.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::LogStore;
use crate::audit::export::ExportWriter;
use crate::audit::{ChainEntry, Checkpoint, Verifier, VerifyReport};
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
        self.each_chained(start.chain_seq + 1, last, |entry| {
            verifier.push_entry(entry)
        })
        .await?;
        Ok(verifier.finish())
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
        self.each_chained(start.chain_seq + 1, last, |entry| entries.push(entry))
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
        mut f: impl FnMut(ChainEntry),
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
                f(row.into());
            }
            next = end + 1;
        }
        Ok(())
    }
}

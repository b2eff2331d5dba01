//! Retention: forgets access records by age and by size, and the audit trail only as a prefix
//! ending at an old checkpoint (so what remains still verifies from that checkpoint).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::LogError;
use crate::options::Retention;
use crate::store::Db;

/// Rows deleted per statement, so a large purge never holds the write lock for long.
const CHUNK: i64 = 10_000;
/// Bounds on the loops (a purge of 10 000 chunks is 100 million rows).
const MAX_CHUNKS: usize = 10_000;
const MAX_SIZE_ROUNDS: usize = 8;

/// What one retention run deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Access records older than `max_age`.
    pub expired: u64,
    /// The oldest access records, deleted to get under `max_bytes`.
    pub over_size: u64,
    /// Chained records deleted as a prefix ending at an old checkpoint.
    pub audit: u64,
}

/// One retention pass as of `now`.
pub(crate) async fn enforce(
    db: &Db,
    retention: &Retention,
    now: SystemTime,
) -> Result<RetentionReport, LogError> {
    let mut report = RetentionReport::default();
    let cutoff = ms_before(now, retention.max_age);
    for _ in 0..MAX_CHUNKS {
        let n = db.delete_access_before(cutoff, CHUNK).await?;
        report.expired += n;
        if n < CHUNK as u64 {
            break;
        }
    }
    report.over_size = shrink(db, retention.max_bytes).await?;
    report.audit = db
        .prune_audit(ms_before(now, retention.audit_max_age))
        .await?;
    if report != RetentionReport::default() {
        tracing::info!(
            expired = report.expired,
            over_size = report.over_size,
            audit = report.audit,
            "event log retention"
        );
    }
    Ok(report)
}

/// Deletes the oldest access records until the estimated live size is at most `max_bytes`:
/// each round deletes `excess / average row size` rows, then measures again.
async fn shrink(db: &Db, max_bytes: u64) -> Result<u64, LogError> {
    let mut deleted = 0;
    for _ in 0..MAX_SIZE_ROUNDS {
        let bytes = db.live_bytes().await?;
        if bytes <= max_bytes {
            break;
        }
        let rows = db.row_count().await?;
        if rows == 0 {
            break;
        }
        let per_row = (bytes / rows).max(1);
        let mut want = (bytes - max_bytes).div_ceil(per_row);
        let mut round = 0;
        while want > 0 {
            let n = db
                .delete_oldest_access(i64::try_from(want).unwrap_or(CHUNK).min(CHUNK))
                .await?;
            round += n;
            if n == 0 {
                break;
            }
            want = want.saturating_sub(n);
        }
        deleted += round;
        if round == 0 {
            // Only chained records are left: they go by audit retention alone.
            break;
        }
    }
    Ok(deleted)
}

fn ms_before(now: SystemTime, age: Duration) -> i64 {
    let now = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    i64::try_from(now.saturating_sub(age.as_millis())).unwrap_or(i64::MAX)
}

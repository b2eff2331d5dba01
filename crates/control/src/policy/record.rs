//! Between the store's policy rows and the API's and proxies' types.

use rampart_policy::{Distribution, PolicyRelease, PolicySource};
use rampart_store::{PolicyVersionRecord, Store};

use crate::{
    ControlError,
    api::{PolicyHistoryEntry, PolicyVersionDetail, PolicyVersionInfo},
    registry::unix_ms,
};

/// The enforced and shadow sets recorded in `store`.
pub(super) async fn distribution(store: &Store) -> Result<Distribution, ControlError> {
    let enforced = store.latest_enforced_policy().await?;
    let shadow = store.current_shadow_policy().await?;
    Ok(Distribution {
        enforced: enforced.as_ref().map(release).transpose()?,
        shadow: shadow.as_ref().map(release).transpose()?,
    })
}

/// The release of a stored version.
pub(super) fn release(row: &PolicyVersionRecord) -> Result<PolicyRelease, ControlError> {
    Ok(PolicyRelease {
        version: version(row),
        digest: row.digest.clone(),
        source: source(row)?,
    })
}

/// `GET /v1/policy`'s view of a stored version.
pub(super) fn info(row: &PolicyVersionRecord) -> Result<PolicyVersionInfo, ControlError> {
    Ok(PolicyVersionInfo {
        version: version(row),
        digest: row.digest.clone(),
        author: row.author.clone(),
        created_at: created_at(row),
        message: row.message.clone(),
        source: source(row)?,
    })
}

/// A history line, with the diff's added and removed line counts.
pub(super) fn history_entry(row: &PolicyVersionRecord) -> PolicyHistoryEntry {
    let (added, removed) = diff_counts(&row.diff);
    PolicyHistoryEntry {
        version: version(row),
        created_at: created_at(row),
        author: row.author.clone(),
        message: row.message.clone(),
        mode: row.mode.clone(),
        digest: row.digest.clone(),
        origin: row.origin.clone(),
        added,
        removed,
    }
}

/// `GET /v1/policy/versions/{n}`.
pub(super) fn detail(row: &PolicyVersionRecord) -> Result<PolicyVersionDetail, ControlError> {
    Ok(PolicyVersionDetail {
        version: version(row),
        created_at: created_at(row),
        author: row.author.clone(),
        message: row.message.clone(),
        mode: row.mode.clone(),
        digest: row.digest.clone(),
        origin: row.origin.clone(),
        diff: row.diff.clone(),
        source: source(row)?,
    })
}

/// The JSON text a source is stored as.
pub(super) fn source_json(source: &PolicySource) -> Result<String, ControlError> {
    serde_json::to_string(source).map_err(|e| ControlError::Policy {
        reason: format!("cannot encode the policy set: {e}"),
    })
}

/// Lines added and removed by a unified diff (headers not counted).
pub(super) fn diff_counts(diff: &str) -> (u64, u64) {
    let mut counts = (0u64, 0u64);
    for line in diff.lines() {
        if line.starts_with("+++") || line.starts_with("---") {
            continue;
        }
        if line.starts_with('+') {
            counts.0 += 1;
        } else if line.starts_with('-') {
            counts.1 += 1;
        }
    }
    counts
}

fn source(row: &PolicyVersionRecord) -> Result<PolicySource, ControlError> {
    serde_json::from_str(&row.source).map_err(|e| ControlError::Policy {
        reason: format!("stored policy version {} does not parse: {e}", row.version),
    })
}

fn version(row: &PolicyVersionRecord) -> u64 {
    u64::try_from(row.version).unwrap_or(0)
}

fn created_at(row: &PolicyVersionRecord) -> u64 {
    u64::try_from(unix_ms(row.created_at)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_diff_lines_without_headers() {
        let diff = "--- a/x.cedar\n+++ b/x.cedar\n@@ -1 +1,2 @@\n-old\n+new\n+more\n context\n";
        assert_eq!(diff_counts(diff), (2, 1));
        assert_eq!(diff_counts(""), (0, 0));
    }
}

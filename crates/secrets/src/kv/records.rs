//! Conversions between the store's rows and the engine's metadata types.

use std::collections::BTreeMap;

use rampart_store::{SecretMetaRecord, SecretVersionRecord};

use super::to_i64;
use super::types::{MetadataUpdate, SecretMetadata, VersionMeta};
use crate::error::SecretsError;

/// The metadata of `record`; `deletion_time_ms` includes the `delete_version_after` expiry
/// (the secret's setting, else `mount_dva_secs`).
pub(crate) fn version_meta(
    meta: &SecretMetaRecord,
    record: &SecretVersionRecord,
    mount_dva_secs: u64,
) -> Result<VersionMeta, SecretsError> {
    Ok(VersionMeta {
        version: u64::try_from(record.version).unwrap_or(0),
        created_time_ms: record.created_at_ms,
        deletion_time_ms: deletion_time(meta, record, mount_dva_secs),
        destroyed: record.destroyed,
        custom_metadata: custom(meta)?,
    })
}

/// The whole metadata of a secret from its row and its versions' rows.
pub(crate) fn secret_metadata(
    meta: &SecretMetaRecord,
    versions: &[SecretVersionRecord],
    mount_dva_secs: u64,
) -> Result<SecretMetadata, SecretsError> {
    let custom_metadata = custom(meta)?;
    let mut by_number = BTreeMap::new();
    for record in versions {
        let info = version_meta(meta, record, mount_dva_secs)?;
        by_number.insert(info.version, info);
    }
    Ok(SecretMetadata {
        path: meta.path.clone(),
        current_version: u64::try_from(meta.current_version).unwrap_or(0),
        oldest_version: u64::try_from(meta.oldest_version).unwrap_or(0),
        max_versions: u64::try_from(meta.max_versions).unwrap_or(0),
        cas_required: meta.cas_required,
        delete_version_after_secs: u64::try_from(meta.delete_version_after_secs).unwrap_or(0),
        custom_metadata,
        created_time_ms: meta.created_at_ms,
        updated_time_ms: meta.updated_at_ms,
        versions: by_number,
    })
}

/// The metadata row after writing `version`.
pub(crate) fn next_meta(
    path: &str,
    meta: Option<&SecretMetaRecord>,
    version: u64,
    prune_below: u64,
    now_ms: i64,
) -> SecretMetaRecord {
    let oldest = meta
        .map_or(0, |m| m.oldest_version)
        .max(to_i64(prune_below));
    match meta {
        Some(m) => SecretMetaRecord {
            current_version: to_i64(version),
            oldest_version: oldest,
            updated_at_ms: now_ms,
            ..m.clone()
        },
        None => SecretMetaRecord {
            path: path.to_owned(),
            current_version: to_i64(version),
            oldest_version: oldest,
            max_versions: 0,
            cas_required: false,
            delete_version_after_secs: 0,
            custom_metadata: "{}".to_owned(),
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
        },
    }
}

/// `meta` (or a new row for `path`) with `update` applied.
pub(crate) fn updated_meta(
    path: &str,
    meta: Option<SecretMetaRecord>,
    update: &MetadataUpdate,
    now_ms: i64,
) -> Result<SecretMetaRecord, SecretsError> {
    let mut row = meta.unwrap_or_else(|| next_meta(path, None, 0, 0, now_ms));
    if let Some(max) = update.max_versions {
        row.max_versions = to_i64(max);
    }
    if let Some(cas) = update.cas_required {
        row.cas_required = cas;
    }
    if let Some(secs) = update.delete_version_after_secs {
        row.delete_version_after_secs = to_i64(secs);
    }
    if let Some(custom) = &update.custom_metadata {
        row.custom_metadata = serde_json::to_string(custom)
            .map_err(|e| SecretsError::InvalidRequest(format!("custom_metadata: {e}")))?;
    }
    row.updated_at_ms = now_ms;
    Ok(row)
}

fn deletion_time(
    meta: &SecretMetaRecord,
    record: &SecretVersionRecord,
    mount_dva_secs: u64,
) -> Option<i64> {
    let secs = if meta.delete_version_after_secs > 0 {
        meta.delete_version_after_secs
    } else {
        to_i64(mount_dva_secs)
    };
    let expiry = (secs > 0).then(|| {
        record
            .created_at_ms
            .saturating_add(secs.saturating_mul(1000))
    });
    match (record.deleted_at_ms, expiry) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn custom(meta: &SecretMetaRecord) -> Result<BTreeMap<String, String>, SecretsError> {
    if meta.custom_metadata.is_empty() {
        return Ok(BTreeMap::new());
    }
    serde_json::from_str(&meta.custom_metadata).map_err(|_| SecretsError::Integrity {
        path: meta.path.clone(),
        version: 0,
    })
}

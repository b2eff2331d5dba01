//! The rows of the secrets store: per-path metadata, encrypted versions, and one write.

use std::fmt;

use sqlx::{ColumnIndex, Decode, Row, Type};

/// The metadata of one secret path (`secret_meta`).
///
/// Times are unix milliseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretMetaRecord {
    pub path: String,
    /// The newest version; 0 while the path has none yet.
    pub current_version: i64,
    /// The oldest version still kept.
    pub oldest_version: i64,
    /// How many versions to keep; 0 = the mount's default.
    pub max_versions: i64,
    /// Whether every write must carry a `cas` option.
    pub cas_required: bool,
    /// How long after creation a version is soft-deleted; 0 = never.
    pub delete_version_after_secs: i64,
    /// The custom metadata as JSON object text.
    pub custom_metadata: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// One version of a secret (`secret_versions`): its data encrypted under a data key that is
/// itself wrapped by key-encryption key `kek_id`.
///
/// Its `Debug` shows the blobs' lengths only.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretVersionRecord {
    pub path: String,
    pub version: i64,
    pub created_at_ms: i64,
    /// When the version was soft-deleted; `None` while it is live.
    pub deleted_at_ms: Option<i64>,
    /// Whether its data was destroyed (both blobs are then empty).
    pub destroyed: bool,
    pub kek_id: i64,
    /// The wrapped data key; empty when destroyed, or when read as metadata only.
    pub wrapped_dek: Vec<u8>,
    /// The encrypted data; empty when destroyed, or when read as metadata only.
    pub ciphertext: Vec<u8>,
}

/// One compare-and-swap write of a new version, for [`Store::secret_write`](crate::Store::secret_write).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretWrite {
    /// The write applies only if the path's `current_version` is still this (0 = no row yet,
    /// or a row without versions).
    pub expected_current: i64,
    /// The new metadata row (its `current_version` is `version.version`).
    pub meta: SecretMetaRecord,
    /// The new version.
    pub version: SecretVersionRecord,
    /// Versions below this are deleted in the same transaction; 0 = none.
    pub prune_below: i64,
}

// === impl SecretMetaRecord ===

impl SecretMetaRecord {
    /// Reads the `secret_meta` columns in [`columns::secret_meta_columns`] order, from column 0.
    pub(crate) fn from_row<'r, R>(row: &'r R) -> Result<Self, sqlx::Error>
    where
        R: Row,
        usize: ColumnIndex<R>,
        String: Decode<'r, R::Database> + Type<R::Database>,
        i64: Decode<'r, R::Database> + Type<R::Database>,
        bool: Decode<'r, R::Database> + Type<R::Database>,
    {
        Ok(Self {
            path: row.try_get(0)?,
            current_version: row.try_get(1)?,
            oldest_version: row.try_get(2)?,
            max_versions: row.try_get(3)?,
            cas_required: row.try_get(4)?,
            delete_version_after_secs: row.try_get(5)?,
            custom_metadata: row.try_get(6)?,
            created_at_ms: row.try_get(7)?,
            updated_at_ms: row.try_get(8)?,
        })
    }
}

// === impl SecretVersionRecord ===

impl SecretVersionRecord {
    /// Reads the `secret_versions` columns in [`columns::secret_version_columns`] order,
    /// starting at column `at`; `None` when its `version` is NULL (an outer join that matched
    /// no version).
    pub(crate) fn from_row_at<'r, R>(row: &'r R, at: usize) -> Result<Option<Self>, sqlx::Error>
    where
        R: Row,
        usize: ColumnIndex<R>,
        Option<String>: Decode<'r, R::Database> + Type<R::Database>,
        Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
        Option<bool>: Decode<'r, R::Database> + Type<R::Database>,
        Option<Vec<u8>>: Decode<'r, R::Database> + Type<R::Database>,
    {
        let Some(version) = row.try_get::<Option<i64>, _>(at + 1)? else {
            return Ok(None);
        };
        Ok(Some(Self {
            path: row.try_get::<Option<String>, _>(at)?.unwrap_or_default(),
            version,
            created_at_ms: row.try_get::<Option<i64>, _>(at + 2)?.unwrap_or_default(),
            deleted_at_ms: row.try_get(at + 3)?,
            destroyed: row.try_get::<Option<bool>, _>(at + 4)?.unwrap_or_default(),
            kek_id: row.try_get::<Option<i64>, _>(at + 5)?.unwrap_or_default(),
            wrapped_dek: row
                .try_get::<Option<Vec<u8>>, _>(at + 6)?
                .unwrap_or_default(),
            ciphertext: row
                .try_get::<Option<Vec<u8>>, _>(at + 7)?
                .unwrap_or_default(),
        }))
    }
}

impl fmt::Debug for SecretVersionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretVersionRecord")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("created_at_ms", &self.created_at_ms)
            .field("deleted_at_ms", &self.deleted_at_ms)
            .field("destroyed", &self.destroyed)
            .field("kek_id", &self.kek_id)
            .field("wrapped_dek_len", &self.wrapped_dek.len())
            .field("ciphertext_len", &self.ciphertext.len())
            .finish()
    }
}

/// The smallest string greater than every string that starts with `prefix`, or `None` when
/// there is none (only strings of `char::MAX`): the exclusive upper bound of a prefix range.
///
/// Both backends compare paths by their UTF-8 bytes, which orders them like their chars.
pub(crate) fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// The column lists of the secrets tables, for `concat!`, shared by both backends.
pub(crate) mod columns {
    macro_rules! secret_meta_columns {
        () => {
            "path, current_version, oldest_version, max_versions, cas_required, \
             delete_version_after_secs, custom_metadata, created_at_ms, updated_at_ms"
        };
    }
    macro_rules! secret_version_columns {
        () => {
            "path, version, created_at_ms, deleted_at_ms, destroyed, kek_id, wrapped_dek, ciphertext"
        };
    }
    pub(crate) use {secret_meta_columns, secret_version_columns};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_successor_bounds_exactly_the_prefixed_strings() {
        assert_eq!(prefix_successor("a/b"), Some("a/c".to_owned()));
        assert_eq!(prefix_successor("a%_"), Some("a%`".to_owned()));
        assert_eq!(prefix_successor(""), None);
        assert_eq!(prefix_successor("a\u{10FFFF}"), Some("b".to_owned()));
        assert_eq!(prefix_successor("\u{D7FF}"), Some("\u{E000}".to_owned()));
        assert_eq!(prefix_successor("\u{10FFFF}"), None);
        let upper = prefix_successor("x/é").unwrap_or_default();
        for s in ["x/é", "x/é/deep", "x/é\u{10FFFF}"] {
            assert!(s >= "x/é" && s < upper.as_str(), "{s:?}");
        }
        assert!("x/ê" >= upper.as_str());
    }
}

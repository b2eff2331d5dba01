-- The secrets store (see docs/secrets.md, "Store API"). `secret_meta` holds one row per secret
-- path (`current_version` 0 = no version yet); `secret_versions` one row per kept version, its
-- data encrypted under a per-version data key (`wrapped_dek`, wrapped by key-encryption key
-- `kek_id`); both blobs are emptied when the version is destroyed. The three single-row tables
-- hold the sealed keyring, the seal configuration and the mount configuration (JSON text).
-- Times are unix milliseconds.
CREATE TABLE secret_meta (
    path                      TEXT    NOT NULL PRIMARY KEY,
    current_version           INTEGER NOT NULL,
    oldest_version            INTEGER NOT NULL,
    max_versions              INTEGER NOT NULL,
    cas_required              INTEGER NOT NULL CHECK (cas_required IN (0, 1)),
    delete_version_after_secs INTEGER NOT NULL,
    custom_metadata           TEXT    NOT NULL,
    created_at_ms             INTEGER NOT NULL,
    updated_at_ms             INTEGER NOT NULL
) STRICT;

CREATE TABLE secret_versions (
    path          TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL,
    deleted_at_ms INTEGER,
    destroyed     INTEGER NOT NULL CHECK (destroyed IN (0, 1)),
    kek_id        INTEGER NOT NULL,
    wrapped_dek   BLOB    NOT NULL,
    ciphertext    BLOB    NOT NULL,
    PRIMARY KEY (path, version)
) STRICT, WITHOUT ROWID;

CREATE INDEX secret_versions_kek ON secret_versions (kek_id, path, version);

CREATE TABLE secret_keyring (
    id   INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    blob BLOB    NOT NULL
) STRICT;

CREATE TABLE secret_seal_config (
    id     INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    config TEXT    NOT NULL
) STRICT;

CREATE TABLE secret_config (
    id     INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    config TEXT    NOT NULL
) STRICT;

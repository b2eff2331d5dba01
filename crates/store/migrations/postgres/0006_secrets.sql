-- The secrets store (see docs/secrets.md, "Store API"). `secret_meta` holds one row per secret
-- path (`current_version` 0 = no version yet); `secret_versions` one row per kept version, its
-- data encrypted under a per-version data key (`wrapped_dek`, wrapped by key-encryption key
-- `kek_id`); both blobs are emptied when the version is destroyed. The three single-row tables
-- hold the sealed keyring, the seal configuration and the mount configuration (JSON text).
-- Times are unix milliseconds. Paths use the "C" collation so that they sort by bytes, like
-- SQLite's, and a prefix is the range [prefix, successor).
CREATE TABLE secret_meta (
    path                      TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    current_version           BIGINT  NOT NULL,
    oldest_version            BIGINT  NOT NULL,
    max_versions              BIGINT  NOT NULL,
    cas_required              BOOLEAN NOT NULL,
    delete_version_after_secs BIGINT  NOT NULL,
    custom_metadata           TEXT    NOT NULL,
    created_at_ms             BIGINT  NOT NULL,
    updated_at_ms             BIGINT  NOT NULL
);

CREATE TABLE secret_versions (
    path          TEXT COLLATE "C" NOT NULL,
    version       BIGINT  NOT NULL,
    created_at_ms BIGINT  NOT NULL,
    deleted_at_ms BIGINT,
    destroyed     BOOLEAN NOT NULL,
    kek_id        BIGINT  NOT NULL,
    wrapped_dek   BYTEA   NOT NULL,
    ciphertext    BYTEA   NOT NULL,
    PRIMARY KEY (path, version)
);

CREATE INDEX secret_versions_kek ON secret_versions (kek_id, path, version);

CREATE TABLE secret_keyring (
    id   SMALLINT NOT NULL PRIMARY KEY CHECK (id = 1),
    blob BYTEA    NOT NULL
);

CREATE TABLE secret_seal_config (
    id     SMALLINT NOT NULL PRIMARY KEY CHECK (id = 1),
    config TEXT     NOT NULL
);

CREATE TABLE secret_config (
    id     SMALLINT NOT NULL PRIMARY KEY CHECK (id = 1),
    config TEXT     NOT NULL
);

-- The event log (docs/logs.md, "Storage"). AUTOINCREMENT: a seq is never handed out twice, even
-- after retention deleted the newest rows, so `after=SEQ` cursors stay valid.
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    time_ms    INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    action     TEXT NOT NULL,
    service    TEXT NOT NULL,
    principal  TEXT,
    decision   TEXT,
    status     INTEGER,
    body       TEXT NOT NULL,
    chain_seq  INTEGER,
    prev_hash  BLOB,
    hash       BLOB
);
-- Unique like the contract's `chain_seq BIGINT UNIQUE`, but partial: access rows (NULL) stay out.
CREATE UNIQUE INDEX events_chain_seq ON events (chain_seq) WHERE chain_seq IS NOT NULL;
CREATE INDEX events_time_ms ON events (time_ms);
CREATE INDEX events_kind_action ON events (kind, action);
CREATE INDEX events_service ON events (service);
CREATE INDEX events_principal ON events (principal);
CREATE INDEX events_decision ON events (decision);
-- No index on status: status filters come with a time range in practice (`status>=500
-- since=1h`), served by the time index; one index less is ~1/8 of the ingest cost.

CREATE TABLE audit_head (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    chain_seq INTEGER NOT NULL,
    hash      BLOB NOT NULL
);
INSERT INTO audit_head (id, chain_seq, hash) VALUES (1, 0, zeroblob(32));

CREATE TABLE audit_checkpoints (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    chain_seq  INTEGER NOT NULL,
    head_hash  BLOB NOT NULL,
    count      INTEGER NOT NULL,
    time_ms    INTEGER NOT NULL,
    key_id     TEXT NOT NULL,
    signature  BLOB NOT NULL
);
CREATE INDEX audit_checkpoints_chain_seq ON audit_checkpoints (chain_seq);
CREATE INDEX audit_checkpoints_time_ms ON audit_checkpoints (time_ms);

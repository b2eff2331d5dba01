-- The event log (docs/logs.md, "Storage").
CREATE TABLE events (
    seq        BIGSERIAL PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    time_ms    BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    action     TEXT NOT NULL,
    service    TEXT NOT NULL,
    principal  TEXT,
    decision   TEXT,
    status     INTEGER,
    body       TEXT NOT NULL,
    chain_seq  BIGINT,
    prev_hash  BYTEA,
    hash       BYTEA
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
    chain_seq BIGINT NOT NULL,
    hash      BYTEA NOT NULL
);
INSERT INTO audit_head (id, chain_seq, hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));

CREATE TABLE audit_checkpoints (
    seq        BIGSERIAL PRIMARY KEY,
    chain_seq  BIGINT NOT NULL,
    head_hash  BYTEA NOT NULL,
    count      BIGINT NOT NULL,
    time_ms    BIGINT NOT NULL,
    key_id     TEXT NOT NULL,
    signature  BYTEA NOT NULL
);
CREATE INDEX audit_checkpoints_chain_seq ON audit_checkpoints (chain_seq);
CREATE INDEX audit_checkpoints_time_ms ON audit_checkpoints (time_ms);

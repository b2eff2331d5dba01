-- The mesh: every SVID the control plane issued, revoked serials, workload endpoints and the
-- CA generations. Times are unix milliseconds; serials are lowercase hex without leading zero
-- bytes.

-- Every X.509-SVID issued. `how` is `join` (a join token), `renew` (over mTLS with the
-- previous SVID, whose serial is `renewed_from`) or `local` (in-process, for the control
-- plane's own gateway). `ca_fingerprint` is the hex SHA-256 of the signing CA certificate.
CREATE TABLE issued_svids (
    serial         TEXT    NOT NULL PRIMARY KEY,
    spiffe_id      TEXT    NOT NULL,
    issued_at_ms   BIGINT  NOT NULL,
    expires_at_ms  BIGINT  NOT NULL,
    how            TEXT    NOT NULL,
    renewed_from   TEXT,
    ca_fingerprint TEXT    NOT NULL,
    revoked_at_ms  BIGINT
);

CREATE INDEX issued_svids_spiffe_id ON issued_svids (spiffe_id, issued_at_ms);
CREATE INDEX issued_svids_issued_at_ms ON issued_svids (issued_at_ms);
CREATE INDEX issued_svids_expires_at_ms ON issued_svids (expires_at_ms);

-- Revoked serials, kept until the certificate expires.
CREATE TABLE revocations (
    serial        TEXT    NOT NULL PRIMARY KEY,
    spiffe_id     TEXT    NOT NULL,
    revoked_at_ms BIGINT  NOT NULL,
    expires_at_ms BIGINT  NOT NULL,
    reason        TEXT    NOT NULL
);

CREATE INDEX revocations_expires_at_ms ON revocations (expires_at_ms);

-- The sidecars of the mesh, one row per instance of a workload identity, refreshed by
-- heartbeats.
CREATE TABLE workload_endpoints (
    spiffe_id        TEXT    NOT NULL,
    instance         TEXT    NOT NULL,
    service          TEXT    NOT NULL,
    namespace        TEXT    NOT NULL,
    address          TEXT    NOT NULL,
    registered_at_ms BIGINT  NOT NULL,
    last_seen_ms     BIGINT  NOT NULL,
    PRIMARY KEY (spiffe_id, instance)
);

CREATE INDEX workload_endpoints_last_seen_ms ON workload_endpoints (last_seen_ms);

-- The CA generations: which exist, which are trusted (their root is in the bundle) and which
-- one signs new SVIDs (exactly one, `active`).
CREATE TABLE ca_generations (
    generation    BIGINT  NOT NULL PRIMARY KEY,
    fingerprint   TEXT    NOT NULL,
    not_after_ms  BIGINT  NOT NULL,
    created_at_ms BIGINT  NOT NULL,
    trusted       BOOLEAN NOT NULL,
    active        BOOLEAN NOT NULL
);

-- Proxies that report to the control plane (gateways and sidecars).
-- Times are unix milliseconds.
CREATE TABLE proxies (
    id             TEXT    NOT NULL PRIMARY KEY,
    kind           TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    version        TEXT    NOT NULL,
    address        TEXT    NOT NULL,
    config_version TEXT    NOT NULL,
    started_at_ms  INTEGER NOT NULL,
    last_seen_ms   INTEGER NOT NULL
) STRICT;

CREATE INDEX proxies_last_seen_ms ON proxies (last_seen_ms);

-- Small key/value settings owned by the control plane.
CREATE TABLE meta (
    key   TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- Every configuration the control plane tried to apply, accepted or not.
-- AUTOINCREMENT so ids are never reused, even after old rows are deleted.
CREATE TABLE config_versions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    hash          TEXT    NOT NULL,
    source        TEXT    NOT NULL,
    applied_at_ms INTEGER NOT NULL,
    accepted      INTEGER NOT NULL CHECK (accepted IN (0, 1)),
    error         TEXT
) STRICT;

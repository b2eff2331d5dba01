-- Proxies that report to the control plane (gateways and sidecars).
-- Times are unix milliseconds.
CREATE TABLE proxies (
    id             TEXT   NOT NULL PRIMARY KEY,
    kind           TEXT   NOT NULL,
    name           TEXT   NOT NULL,
    version        TEXT   NOT NULL,
    address        TEXT   NOT NULL,
    config_version TEXT   NOT NULL,
    started_at_ms  BIGINT NOT NULL,
    last_seen_ms   BIGINT NOT NULL
);

CREATE INDEX proxies_last_seen_ms ON proxies (last_seen_ms);

-- Small key/value settings owned by the control plane.
CREATE TABLE meta (
    key   TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);

-- Every configuration the control plane tried to apply, accepted or not.
CREATE TABLE config_versions (
    id            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hash          TEXT    NOT NULL,
    source        TEXT    NOT NULL,
    applied_at_ms BIGINT  NOT NULL,
    accepted      BOOLEAN NOT NULL,
    error         TEXT
);

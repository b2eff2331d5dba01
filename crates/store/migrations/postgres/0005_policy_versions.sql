-- Versioned Cedar policy sets (see docs/policy.md, "Distribution"). `version` is assigned 1, 2, …
-- in insertion order. `mode` is `enforce`, `dry-run` (evaluated in shadow beside the enforced set)
-- or `dry-run-cleared` (a dry run that was stopped). `source` is the JSON `PolicySource`;
-- `diff` the unified diff against the enforced set before it; `origin` is `config` (seeded
-- from the configuration file) or `api`. Times are unix milliseconds.
CREATE TABLE policy_versions (
    version       BIGINT NOT NULL PRIMARY KEY,
    created_at_ms BIGINT NOT NULL,
    author        TEXT    NOT NULL,
    message       TEXT    NOT NULL,
    mode          TEXT    NOT NULL CHECK (mode IN ('enforce', 'dry-run', 'dry-run-cleared')),
    digest        TEXT    NOT NULL,
    source        TEXT    NOT NULL,
    diff          TEXT    NOT NULL,
    origin        TEXT    NOT NULL CHECK (origin IN ('config', 'api'))
);

CREATE INDEX policy_versions_mode ON policy_versions (mode, version);
CREATE INDEX policy_versions_origin ON policy_versions (origin, version);

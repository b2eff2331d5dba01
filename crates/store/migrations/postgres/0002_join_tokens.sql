-- One-time tokens that bootstrap a workload's identity. Only the SHA-256 of the secret is kept.
-- Times are unix milliseconds; `used_at_ms` is set once, when the token is redeemed.
CREATE TABLE join_tokens (
    id            TEXT   NOT NULL PRIMARY KEY,
    secret_hash   TEXT   NOT NULL,
    trust_domain  TEXT   NOT NULL,
    namespace     TEXT   NOT NULL,
    service       TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    used_at_ms    BIGINT
);

CREATE INDEX join_tokens_expires_at_ms ON join_tokens (expires_at_ms);

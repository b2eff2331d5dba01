-- The OAuth2 authorization server: registered clients, the signing keys of access tokens and
-- revoked access tokens. Times are unix milliseconds.

-- A registered OAuth client. `auth_method` is `client_secret` (`secret_hash` holds the PHC
-- string of its argon2id hash), `private_key_jwt` (`public_jwk` holds its public JWK, JSON)
-- or `tls_client_auth` (`tls_subject` holds the SPIFFE id or subject its certificate must
-- carry). `scopes` are space-separated.
CREATE TABLE oauth_clients (
    id               TEXT    NOT NULL PRIMARY KEY,
    name             TEXT    NOT NULL,
    scopes           TEXT    NOT NULL,
    auth_method      TEXT    NOT NULL,
    secret_hash      TEXT,
    public_jwk       TEXT,
    tls_subject      TEXT,
    default_audience TEXT,
    created_at_ms    BIGINT  NOT NULL
);

-- The keys that sign access tokens. `state` is `next` (published, not signing yet), `active`
-- (signs; exactly one) or `retired` (published until `retire_after_ms`, when its last token
-- has expired). `private_pkcs8` is the PKCS#8 DER of the private key, stored as is for now
-- (issue 6 encrypts it at rest).
CREATE TABLE signing_keys (
    kid              TEXT    NOT NULL PRIMARY KEY,
    alg              TEXT    NOT NULL,
    private_pkcs8    BYTEA   NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('next', 'active', 'retired')),
    created_at_ms    BIGINT  NOT NULL,
    activates_at_ms  BIGINT,
    retire_after_ms  BIGINT
);

-- Revoked access tokens (RFC 7009) by `jti`, and used client assertions (RFC 7523 replay
-- protection) as `client_assertion:<client id>:<jti>`, each kept until it expires.
CREATE TABLE revoked_tokens (
    jti           TEXT    NOT NULL PRIMARY KEY,
    expires_at_ms BIGINT  NOT NULL
);

CREATE INDEX revoked_tokens_expires_at_ms ON revoked_tokens (expires_at_ms);

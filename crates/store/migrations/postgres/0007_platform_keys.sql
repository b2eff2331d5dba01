-- Platform keys in the secrets store (issue 6, docs/secrets.md "Platform keys"). The private
-- key of a signing key is kept encrypted in the secrets store under the reserved path
-- `sys/platform/oauth-signing/<kid>`; its `private_pkcs8` is then empty (a row written before
-- this migration still holds the PKCS#8 until the first unsealed start moves it). The public
-- JWK (JSON) is kept here in clear so that the JWKS is served while the store is sealed.
ALTER TABLE signing_keys ADD COLUMN public_jwk TEXT;

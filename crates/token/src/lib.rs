//! `rampart-token`: JOSE for Rampart (issue 4, contract in `docs/oauth.md`).
//!
//! Signing keys (ES256 on P-256, EdDSA on Ed25519), public JWK/JWKS with RFC 7638 `kid`s,
//! compact JWS signing and verification with a per-issuer algorithm allow-list, RFC 9068
//! access-token claim checks with leeway, a size limit, the RFC 8705 `cnf.x5t#S256` binding
//! check and a bounded verified-token cache. No network, no storage.
//!
//! Implementation choice: the compact JWS framing (strict base64url, three parts, header
//! rules) is written here on `serde_json` + `base64`, and every cryptographic operation is
//! aws-lc-rs (`ECDSA_P256_SHA256_FIXED`, `ED25519`, `RSA_PKCS1_2048_8192_SHA*`,
//! `RSA_PSS_2048_8192_SHA*`, SHA-256, key generation). `jsonwebtoken` is not used: this gives
//! exact control over the checks the Wycheproof JOSE vectors demand (no `none`, no HMAC ever,
//! key type bound to `alg`, `crit`/`b64` refused, fixed-length r||s ECDSA signatures) and
//! avoids its run-time backend panic and missing Ed25519 thumbprints.

#![deny(missing_docs)]

mod algorithm;
mod b64;
mod binding;
mod cache;
mod claims;
mod error;
mod header;
mod jwk;
mod jws;
mod keys;
mod policy;
mod roca;
mod signing;
mod strict_json;

pub use algorithm::Algorithm;
pub use binding::{certificate_thumbprint, check_binding};
pub use cache::{CacheKey, VerifiedCache};
pub use claims::{Verified, check_claims, verify, verify_parsed};
pub use error::TokenError;
pub use header::{Header, peek_header};
pub use jwk::{Jwk, Jwks};
pub use jws::{ParsedToken, VerifiedJws, verify_jws, verify_parsed_jws};
pub use keys::VerifyingKeys;
pub use policy::{DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_BYTES, Policy};
pub use rampart_core::Sensitive;
pub use signing::SigningKey;

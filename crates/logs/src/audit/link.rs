//! One link of the audit chain: `hash = SHA-256("rampart-audit/v1\n" || prev_hash || json)`.
//!
//! The record's own sequence number is not hashed: order is proven by the links themselves, so a
//! renumbered row shows up as a broken link rather than a modified record.

use aws_lc_rs::digest;

/// Length of a chain hash in bytes.
pub const HASH_LEN: usize = 32;

/// The `prev_hash` of the first record of a chain.
pub const GENESIS: [u8; HASH_LEN] = [0; HASH_LEN];

const DOMAIN: &[u8] = b"rampart-audit/v1\n";

/// The hash of a record whose predecessor's hash is `prev` and whose stored JSON is `json`.
pub fn link_hash(prev: &[u8; HASH_LEN], json: &[u8]) -> [u8; HASH_LEN] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(DOMAIN);
    ctx.update(prev);
    ctx.update(json);
    let d = ctx.finish();
    let mut out = [0u8; HASH_LEN];
    out.copy_from_slice(d.as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_depend_on_predecessor_and_content() {
        let a = link_hash(&GENESIS, b"{\"a\":1}");
        let b = link_hash(&a, b"{\"a\":1}");
        assert_ne!(a, b);
        assert_ne!(a, link_hash(&GENESIS, b"{\"a\":2}"));
        assert_eq!(a, link_hash(&GENESIS, b"{\"a\":1}"));
    }
}

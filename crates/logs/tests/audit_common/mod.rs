//! Builders for audit-chain tests: a valid chain made with `link_hash`, signed checkpoints, and
//! the edits an attacker with write access to the database would make.
#![allow(dead_code, clippy::unwrap_used)]

use rampart_logs::audit::{
    AuditKey, AuditSigner, ChainEntry, Checkpoint, CheckpointBody, GENESIS, HASH_LEN, link_hash,
};

pub struct Chain {
    pub signer: AuditSigner,
    pub entries: Vec<ChainEntry>,
    pub checkpoints: Vec<Checkpoint>,
}

pub fn body(i: i64) -> String {
    format!(r#"{{"id":"ev-{i}","kind":"security","action":"policy_denied","n":{i}}}"#)
}

/// A valid chain of `n` records (chain_seq 1..=n) with a checkpoint every `every` records.
pub fn chain(n: i64, every: i64) -> Chain {
    let (signer, _) = AuditSigner::generate().unwrap();
    let mut entries = Vec::with_capacity(n as usize);
    let mut checkpoints = Vec::new();
    let mut prev = GENESIS;
    for i in 1..=n {
        let body = body(i);
        let hash = link_hash(&prev, body.as_bytes());
        entries.push(ChainEntry {
            chain_seq: i,
            event_id: format!("ev-{i}"),
            prev_hash: prev.to_vec(),
            hash: hash.to_vec(),
            body,
        });
        if every > 0 && i % every == 0 {
            checkpoints.push(sign(&signer, i, hash));
        }
        prev = hash;
    }
    Chain {
        signer,
        entries,
        checkpoints,
    }
}

pub fn sign(signer: &AuditSigner, chain_seq: i64, head_hash: [u8; HASH_LEN]) -> Checkpoint {
    signer.sign(CheckpointBody {
        chain_seq,
        head_hash,
        count: chain_seq,
        time_ms: 1_700_000_000_000 + chain_seq,
    })
}

pub fn hash_of(entry: &ChainEntry) -> [u8; HASH_LEN] {
    entry.hash.clone().try_into().unwrap()
}

/// An entry that links to `prev` with a correct hash over `body`.
pub fn linked(chain_seq: i64, id: &str, prev: &[u8], body: &str) -> ChainEntry {
    let prev32: [u8; HASH_LEN] = prev.try_into().unwrap();
    ChainEntry {
        chain_seq,
        event_id: id.into(),
        prev_hash: prev.to_vec(),
        hash: link_hash(&prev32, body.as_bytes()).to_vec(),
        body: body.into(),
    }
}

/// Recomputes the hash of `entries[from]` and of every later entry, relinking them: an attacker
/// rewriting the rest of the chain.
pub fn rehash_from(entries: &mut [ChainEntry], from: usize) {
    for i in from..entries.len() {
        if i > from {
            entries[i].prev_hash = entries[i - 1].hash.clone();
        }
        let prev: [u8; HASH_LEN] = entries[i].prev_hash.clone().try_into().unwrap();
        entries[i].hash = link_hash(&prev, entries[i].body.as_bytes()).to_vec();
    }
}

pub fn head(entries: &[ChainEntry]) -> Option<(i64, [u8; HASH_LEN])> {
    entries.last().map(|e| (e.chain_seq, hash_of(e)))
}

pub fn keys(chain: &Chain) -> Vec<AuditKey> {
    vec![chain.signer.key().clone()]
}

/// Index of chain_seq `seq` in a chain starting at 1.
pub fn at(seq: i64) -> usize {
    (seq - 1) as usize
}

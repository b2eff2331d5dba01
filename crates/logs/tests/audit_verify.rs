//! Audit chain verification against every tampering an attacker with database write access can
//! do, each classified as `docs/logs.md` says.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod audit_common;

use audit_common::*;
use rampart_logs::audit::{
    ChainEntry, Checkpoint, ProblemKind, StartPoint, VerifyReport, link_hash, verify,
};

fn run(chain: &Chain, entries: Vec<ChainEntry>, head: Option<(i64, [u8; 32])>) -> VerifyReport {
    verify(entries, &chain.checkpoints, &keys(chain), head, None)
}

/// Asserts the report names `kind` at `seq` (and the record's event id when `id` is given).
fn assert_problem(report: &VerifyReport, kind: ProblemKind, seq: i64, id: Option<&str>) {
    assert!(
        !report.ok,
        "expected {kind:?} at #{seq}, got ok: {report:?}"
    );
    let p = report.problem.as_ref().unwrap();
    assert_eq!((p.kind, p.chain_seq), (kind, seq), "{p:?}");
    if let Some(id) = id {
        assert_eq!(p.event_id.as_deref(), Some(id), "{p:?}");
    }
}

#[test]
fn a_clean_chain_of_10_000_verifies() {
    let c = chain(10_000, 1_000);
    let head = head(&c.entries);
    let report = run(&c, c.entries.clone(), head);
    assert!(report.ok, "{report:?}");
    assert_eq!(report.records, 10_000);
    assert_eq!(report.checkpoints_verified, 10);
    assert_eq!(report.signed_through, Some(10_000));
    assert_eq!(report.head.as_ref().map(|h| h.0), Some(10_000));
    assert_eq!(report.head.unwrap().1, hex::encode(&c.entries[9_999].hash));
    assert!(!report.keys_from_export);
}

#[test]
fn an_empty_chain_verifies_unless_a_head_says_otherwise() {
    let c = chain(0, 0);
    assert!(run(&c, vec![], None).ok);
    let report = run(&c, vec![], Some((3, [1; 32])));
    assert_problem(&report, ProblemKind::Truncated, 1, None);
}

#[test]
fn changed_body_is_modified_at_that_record() {
    let c = chain(2_000, 1_000);
    let mut entries = c.entries.clone();
    entries[at(500)].body = entries[at(500)]
        .body
        .replace("policy_denied", "policy_allowed");
    let report = run(&c, entries, head(&c.entries));
    assert_problem(&report, ProblemKind::Modified, 500, Some("ev-500"));
    assert_eq!(report.records, 499);
}

#[test]
fn changed_and_rehashed_body_is_modified_at_that_record_not_the_next() {
    let c = chain(2_000, 1_000);
    let mut entries = c.entries.clone();
    entries[at(500)].body = entries[at(500)]
        .body
        .replace("policy_denied", "policy_allowed");
    rehash_from(&mut entries[..at(501)], at(500)); // only row 500's own hash
    let report = run(&c, entries, head(&c.entries));
    assert_problem(&report, ProblemKind::Modified, 500, Some("ev-500"));
}

#[test]
fn rehashed_record_under_a_checkpoint_is_modified_at_that_record() {
    let c = chain(2_000, 1_000);
    let mut entries = c.entries.clone();
    entries[at(1_000)].body = entries[at(1_000)].body.replace("security", "admin");
    rehash_from(&mut entries[..at(1_001)], at(1_000));
    let report = run(&c, entries, head(&c.entries));
    assert_problem(&report, ProblemKind::Modified, 1_000, Some("ev-1000"));
}

#[test]
fn rehashed_last_record_is_caught_by_the_head() {
    let c = chain(100, 50);
    let mut entries = c.entries.clone();
    entries[at(100)].body = entries[at(100)].body.replace("security", "admin");
    rehash_from(&mut entries, at(100));
    let report = run(&c, entries, head(&c.entries));
    assert_problem(&report, ProblemKind::Modified, 100, Some("ev-100"));
}

#[test]
fn rewriting_the_whole_rest_of_the_chain_breaks_the_next_checkpoint() {
    let c = chain(3_000, 1_000);
    let mut entries = c.entries.clone();
    entries[at(1_500)].body = entries[at(1_500)].body.replace("security", "admin");
    rehash_from(&mut entries, at(1_500));
    let new_head = head(&entries);
    let report = run(&c, entries, new_head);
    assert_problem(&report, ProblemKind::BadCheckpoint, 2_000, None);
    assert_eq!(report.checkpoints_verified, 1);
    assert_eq!(report.signed_through, Some(1_000));
}

#[test]
fn changed_stored_hash_or_prev_hash_is_modified() {
    let c = chain(1_000, 0);
    let mut entries = c.entries.clone();
    entries[at(300)].hash[0] ^= 1;
    let report = run(&c, entries, head(&c.entries));
    assert_problem(&report, ProblemKind::Modified, 300, Some("ev-300"));

    let mut entries = c.entries.clone();
    entries[at(300)].prev_hash[5] ^= 1;
    let report = run(&c, entries, head(&c.entries));
    assert_problem(&report, ProblemKind::Modified, 300, Some("ev-300"));

    let mut entries = c.entries.clone();
    entries[at(300)].hash.truncate(10);
    let report = run(&c, entries, head(&c.entries));
    assert_problem(&report, ProblemKind::Modified, 300, Some("ev-300"));
}

#[test]
fn deleted_record_is_named_at_its_successor() {
    let c = chain(2_000, 1_000);
    let mut entries = c.entries.clone();
    entries.remove(at(500));
    let report = run(&c, entries, head(&c.entries));
    assert_problem(&report, ProblemKind::Deleted, 501, Some("ev-501"));

    let mut entries = c.entries.clone();
    entries.drain(at(500)..=at(510));
    let report = run(&c, entries, head(&c.entries));
    assert_problem(&report, ProblemKind::Deleted, 511, Some("ev-511"));

    let mut entries = c.entries.clone();
    entries.remove(0);
    let report = run(&c, entries, head(&c.entries));
    assert_problem(&report, ProblemKind::Deleted, 2, Some("ev-2"));
}

#[test]
fn deleted_record_with_a_checkpointed_predecessor_and_renumbering_is_deleted() {
    // Row 1001 deleted and every later chain_seq moved down by one: no gap, but #1000 is signed.
    let c = chain(2_000, 1_000);
    let mut entries = c.entries.clone();
    entries.remove(at(1_001));
    for e in &mut entries[at(1_001)..] {
        e.chain_seq -= 1;
    }
    let cps = &c.checkpoints[..1];
    let report = verify(entries, cps, &keys(&c), None, None);
    assert_problem(&report, ProblemKind::Deleted, 1_001, Some("ev-1002"));
}

#[test]
fn deleted_tail_is_truncated_by_the_head_or_a_checkpoint() {
    let c = chain(2_000, 1_000);
    let mut entries = c.entries.clone();
    entries.truncate(1_990);
    let report = run(&c, entries.clone(), head(&c.entries));
    assert_problem(&report, ProblemKind::Truncated, 1_991, None);
    assert!(report.problem.unwrap().detail.contains("head is #2000"));

    // Without the head, the checkpoint at #2000 still proves the chain went further.
    let report = run(&c, entries, None);
    assert_problem(&report, ProblemKind::Truncated, 1_991, None);

    // Cut back to a checkpoint, with the head rewritten to match: only a later checkpoint shows.
    let mut entries = c.entries.clone();
    entries.truncate(1_500);
    let forged_head = head(&entries);
    let report = run(&c, entries, forged_head);
    assert_problem(&report, ProblemKind::Truncated, 1_501, None);
}

#[test]
fn forged_record_appended_past_the_head_is_inserted() {
    let c = chain(100, 50);
    let mut entries = c.entries.clone();
    let last = entries.last().unwrap().hash.clone();
    entries.push(linked(101, "forged", &last, &body(101)));
    let report = run(&c, entries, head(&c.entries));
    assert_problem(&report, ProblemKind::Inserted, 101, Some("forged"));

    let mut entries = c.entries.clone();
    entries.push(linked(101, "forged", &[9; 32], &body(101)));
    let report = run(&c, entries, head(&c.entries));
    assert_problem(&report, ProblemKind::Inserted, 101, Some("forged"));
}

#[test]
fn forged_record_in_the_middle_is_inserted() {
    // The attacker makes room by moving every later chain_seq up by one.
    let c = chain(1_000, 0);
    let renumbered = |forged: ChainEntry| {
        let mut entries = c.entries.clone();
        for e in &mut entries[at(501)..] {
            e.chain_seq += 1;
        }
        entries.insert(at(501), forged);
        entries
    };
    let prev = c.entries[at(500)].hash.clone();
    let entries = renumbered(linked(501, "forged", &prev, r#"{"id":"forged"}"#));
    let report = run(&c, entries, None);
    assert_problem(&report, ProblemKind::Inserted, 501, Some("forged"));

    let junk = ChainEntry {
        chain_seq: 501,
        event_id: "junk".into(),
        prev_hash: vec![7; 32],
        hash: vec![8; 32],
        body: "{}".into(),
    };
    let report = run(&c, renumbered(junk), None);
    assert_problem(&report, ProblemKind::Inserted, 501, Some("junk"));

    // Two consecutive forged records that link to each other: the first one is named.
    let f1 = linked(501, "f1", &prev, r#"{"id":"f1"}"#);
    let f2 = linked(502, "f2", &f1.hash, r#"{"id":"f2"}"#);
    let mut entries = c.entries.clone();
    for e in &mut entries[at(501)..] {
        e.chain_seq += 2;
    }
    entries.splice(at(501)..at(501), [f1, f2]);
    let report = run(&c, entries, None);
    assert_problem(&report, ProblemKind::Inserted, 501, Some("f1"));
}

#[test]
fn forged_record_in_the_gap_of_a_deleted_one_is_inserted() {
    let c = chain(1_000, 0);
    let mut entries = c.entries.clone();
    entries[at(500)] = linked(500, "forged", &[3; 32], r#"{"id":"forged"}"#);
    let report = run(&c, entries, head(&c.entries));
    assert_problem(&report, ProblemKind::Inserted, 500, Some("forged"));
}

#[test]
fn swapped_chain_seq_is_reordered() {
    let c = chain(10_000, 1_000);
    let swap = |a: i64, b: i64| {
        let mut entries = c.entries.clone();
        entries[at(a)].chain_seq = b;
        entries[at(b)].chain_seq = a;
        entries.sort_by_key(|e| e.chain_seq); // the store reads ORDER BY chain_seq
        entries
    };
    let report = run(&c, swap(500, 501), head(&c.entries));
    assert_problem(&report, ProblemKind::Reordered, 500, Some("ev-501"));

    let report = run(&c, swap(100, 9_000), head(&c.entries));
    assert_problem(&report, ProblemKind::Reordered, 100, Some("ev-9000"));
}

#[test]
fn swapped_bodies_and_hashes_are_reordered() {
    let c = chain(1_000, 0);
    let mut entries = c.entries.clone();
    let (a, b) = (entries[at(500)].clone(), entries[at(501)].clone());
    entries[at(500)].body = b.body;
    entries[at(500)].hash = b.hash;
    entries[at(501)].body = a.body;
    entries[at(501)].hash = a.hash;
    let report = run(&c, entries, head(&c.entries));
    assert_problem(&report, ProblemKind::Reordered, 500, None);
}

#[test]
fn duplicate_chain_seq_is_inserted() {
    let c = chain(100, 0);
    let mut entries = c.entries.clone();
    let prev = entries[at(49)].hash.clone();
    entries.insert(at(51), linked(50, "dup", &prev, r#"{"id":"dup"}"#));
    let report = run(&c, entries, None);
    assert_problem(&report, ProblemKind::Inserted, 50, Some("dup"));

    // The forged one first: the chain continues from the genuine second one.
    let mut entries = c.entries.clone();
    entries.insert(at(50), linked(50, "dup", &prev, r#"{"id":"dup"}"#));
    let report = run(&c, entries, None);
    assert_problem(&report, ProblemKind::Inserted, 50, Some("dup"));
}

#[test]
fn tampered_checkpoint_signature_is_a_bad_checkpoint() {
    let mut c = chain(3_000, 1_000);
    c.checkpoints[1].signature[3] ^= 0x40;
    let report = run(&c, c.entries.clone(), None);
    assert_problem(&report, ProblemKind::BadCheckpoint, 2_000, None);
    assert!(report.problem.unwrap().detail.contains("does not verify"));

    let mut c = chain(3_000, 1_000);
    c.checkpoints[1].body.count = 1_999; // any signed field changed
    let report = run(&c, c.entries.clone(), None);
    assert_problem(&report, ProblemKind::BadCheckpoint, 2_000, None);
}

#[test]
fn checkpoint_signed_by_an_untrusted_key_is_a_bad_checkpoint() {
    let c = chain(3_000, 1_000);
    let (other, _) = rampart_logs::audit::AuditSigner::generate().unwrap();
    let mut checkpoints = c.checkpoints.clone();
    checkpoints[2] = sign(&other, 3_000, hash_of(&c.entries[at(3_000)]));
    let report = verify(c.entries.clone(), &checkpoints, &keys(&c), None, None);
    assert_problem(&report, ProblemKind::BadCheckpoint, 3_000, None);
    assert!(report.problem.unwrap().detail.contains("not trusted"));

    // The same chain, trusting no key at all: the first checkpoint already fails.
    let report = verify(c.entries.clone(), &c.checkpoints, &[], None, None);
    assert_problem(&report, ProblemKind::BadCheckpoint, 1_000, None);
}

#[test]
fn checkpoint_with_a_wrong_head_hash_or_count_is_a_bad_checkpoint() {
    let c = chain(2_000, 0);
    let wrong = sign(&c.signer, 1_000, [5; 32]);
    let report = verify(c.entries.clone(), &[wrong], &keys(&c), None, None);
    assert_problem(&report, ProblemKind::BadCheckpoint, 1_000, None);

    let mut body = sign(&c.signer, 1_000, hash_of(&c.entries[at(1_000)])).body;
    body.count = 999;
    let report = verify(
        c.entries.clone(),
        &[c.signer.sign(body)],
        &keys(&c),
        None,
        None,
    );
    assert_problem(&report, ProblemKind::BadCheckpoint, 1_000, None);

    // A checkpoint past the end that does not verify is reported as such, not as truncation.
    let mut beyond = sign(&c.signer, 5_000, [1; 32]);
    beyond.signature[0] ^= 1;
    let report = verify(c.entries.clone(), &[beyond], &keys(&c), None, None);
    assert_problem(&report, ProblemKind::BadCheckpoint, 5_000, None);
}

#[test]
fn verification_starts_after_a_retention_prune() {
    let c = chain(3_000, 1_000);
    let start = StartPoint {
        chain_seq: 1_000,
        hash: hash_of(&c.entries[at(1_000)]),
    };
    let kept = c.entries[at(1_001)..].to_vec();
    let report = verify(
        kept.clone(),
        &c.checkpoints,
        &keys(&c),
        head(&kept),
        Some(start),
    );
    assert!(report.ok, "{report:?}");
    assert_eq!(report.records, 2_000);
    assert_eq!(report.checkpoints_verified, 3); // the start's own checkpoint included

    // Records from before the start point are skipped, not re-verified.
    let report = verify(
        c.entries.clone(),
        &c.checkpoints,
        &keys(&c),
        None,
        Some(start),
    );
    assert!(report.ok && report.records == 2_000, "{report:?}");

    // A start point that is not the signed one.
    let forged = StartPoint {
        chain_seq: 1_000,
        hash: [4; 32],
    };
    let report = verify(kept.clone(), &c.checkpoints, &keys(&c), None, Some(forged));
    assert_problem(&report, ProblemKind::BadCheckpoint, 1_000, None);

    // Without checkpoints, a record not linking to the start point means records are missing.
    let report = verify(kept, &[], &keys(&c), None, Some(forged));
    assert_problem(&report, ProblemKind::Deleted, 1_001, Some("ev-1001"));
}

#[test]
fn first_problem_in_chain_order_wins() {
    let c = chain(2_000, 1_000);
    let mut entries = c.entries.clone();
    entries[at(700)].body.push(' ');
    entries.remove(at(300));
    let report = run(&c, entries, head(&c.entries));
    assert_problem(&report, ProblemKind::Deleted, 301, Some("ev-301"));
}

#[test]
fn report_serializes_with_snake_case_kinds() {
    let mut c = chain(10, 5);
    c.checkpoints[0].signature[0] ^= 1;
    let report = run(&c, c.entries.clone(), None);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["ok"], false);
    assert_eq!(json["problem"]["kind"], "bad_checkpoint");
    assert_eq!(json["problem"]["chain_seq"], 5);
    assert_eq!(json["head"][0], 4);
}

#[test]
fn link_hash_is_over_the_exact_body_bytes() {
    let c = chain(3, 0);
    let mut entries = c.entries.clone();
    entries[1].body = entries[1].body.replace(':', ": "); // same JSON, other bytes
    let report = run(&c, entries, None);
    assert_problem(&report, ProblemKind::Modified, 2, Some("ev-2"));
    let prev: [u8; 32] = c.entries[0].hash.clone().try_into().unwrap();
    assert_eq!(
        link_hash(&prev, c.entries[1].body.as_bytes()).to_vec(),
        c.entries[1].hash
    );
}

#[test]
fn every_single_tampering_at_every_position_is_named() {
    let n = 120;
    let c = chain(n, 25);
    let h = head(&c.entries);
    for k in 1..=n {
        let mut entries = c.entries.clone();
        entries[at(k)].body.insert(1, ' ');
        let report = run(&c, entries, h);
        assert_problem(&report, ProblemKind::Modified, k, Some(&format!("ev-{k}")));

        let mut entries = c.entries.clone();
        entries[at(k)].body.insert(1, ' ');
        rehash_from(&mut entries[..=at(k)], at(k));
        let report = run(&c, entries, h);
        assert_problem(&report, ProblemKind::Modified, k, Some(&format!("ev-{k}")));

        let mut entries = c.entries.clone();
        entries.remove(at(k));
        let report = run(&c, entries, h);
        if k == n {
            assert_problem(&report, ProblemKind::Truncated, k, None);
        } else {
            assert_problem(
                &report,
                ProblemKind::Deleted,
                k + 1,
                Some(&format!("ev-{}", k + 1)),
            );
        }

        if k < n {
            let mut entries = c.entries.clone();
            entries.swap(at(k), at(k + 1));
            entries[at(k)].chain_seq = k;
            entries[at(k + 1)].chain_seq = k + 1;
            let report = run(&c, entries, h);
            assert_problem(
                &report,
                ProblemKind::Reordered,
                k,
                Some(&format!("ev-{}", k + 1)),
            );
        }
    }
}

/// One million records through the streaming verifier, generated lazily so that peak memory is
/// the verifier's (run with `--ignored` for the figures: time and, under `/usr/bin/time -v`,
/// peak memory).
#[test]
#[ignore]
fn a_million_records_stream_in_bounded_memory() {
    let (signer, _) = rampart_logs::audit::AuditSigner::generate().unwrap();
    let n = 1_000_000;
    let records = || {
        let mut prev = rampart_logs::audit::GENESIS;
        (1..=n).map(move |i| {
            let body = body(i);
            let hash = link_hash(&prev, body.as_bytes());
            let entry = ChainEntry {
                chain_seq: i,
                event_id: format!("ev-{i}"),
                prev_hash: prev.to_vec(),
                hash: hash.to_vec(),
                body,
            };
            prev = hash;
            entry
        })
    };
    let mut checkpoints: Vec<Checkpoint> = Vec::new();
    let mut last = [0; 32];
    for e in records() {
        last = hash_of(&e);
        if e.chain_seq % 1_000 == 0 {
            checkpoints.push(sign(&signer, e.chain_seq, last));
        }
    }
    let started = std::time::Instant::now();
    let keys = vec![signer.key().clone()];
    let report = verify(records(), &checkpoints, &keys, Some((n, last)), None);
    eprintln!(
        "verified {} records in {:?}",
        report.records,
        started.elapsed()
    );
    assert!(report.ok, "{report:?}");
    assert_eq!(report.checkpoints_verified, 1_000);
}

#[test]
fn extreme_chain_seqs_do_not_panic() {
    let c = chain(3, 0);
    let start = StartPoint {
        chain_seq: i64::MAX - 1,
        hash: rampart_logs::audit::GENESIS,
    };
    let mut entries = c.entries.clone();
    entries[0].chain_seq = i64::MAX;
    entries[1].chain_seq = i64::MAX;
    let report = verify(
        entries.clone(),
        &[],
        &keys(&c),
        Some((i64::MAX, [0; 32])),
        Some(start),
    );
    assert!(!report.ok);
    let report = verify(entries, &[], &keys(&c), None, None);
    // It links to genesis, so nothing is missing: only its chain_seq was changed.
    assert_problem(&report, ProblemKind::Modified, i64::MAX, Some("ev-1"));
    let mut entries = c.entries.clone();
    entries[2].chain_seq = i64::MIN;
    let report = verify(entries, &[], &keys(&c), Some((i64::MAX, [0; 32])), None);
    assert_problem(&report, ProblemKind::Reordered, i64::MIN, None);
}

//! The JSON-lines audit export: exact format, byte-exact round trip of bodies, offline
//! verification, and clear errors for malformed lines.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod audit_common;

use audit_common::*;
use rampart_logs::audit::export::{
    ExportItem, ExportReader, ExportWriter, read_export, verify_export,
};
use rampart_logs::audit::{AuditError, AuditSigner, ChainEntry, ProblemKind, StartPoint};

fn export(c: &Chain, entries: &[ChainEntry], start: Option<StartPoint>) -> String {
    let mut w = ExportWriter::new(Vec::new(), &keys(c), 1_764_000_000_000, start).unwrap();
    w.write_chain(entries.iter().cloned(), &c.checkpoints)
        .unwrap();
    String::from_utf8(w.finish().unwrap()).unwrap()
}

fn line_error(text: &str) -> (u64, String) {
    match read_export(text.as_bytes()) {
        Err(AuditError::Export { line, msg }) => (line, msg),
        other => panic!("expected a line error, got {other:?}"),
    }
}

#[test]
fn header_records_and_checkpoints_have_the_documented_shape() {
    let c = chain(4, 2);
    let text = export(&c, &c.entries, None);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1 + 4 + 2);
    let header = &lines[0];
    assert_eq!(header["format"], "rampart-audit-export/v1");
    assert_eq!(header["exported_at"], 1_764_000_000_000i64);
    assert!(header["start"].is_null());
    assert_eq!(header["keys"][0]["key_id"], c.signer.key().key_id.as_str());
    assert_eq!(
        header["keys"][0]["public_key"],
        c.signer.key().public_key_base64().as_str()
    );

    // Chain order: each checkpoint right after the record at its chain_seq.
    let seqs: Vec<String> = lines[1..]
        .iter()
        .map(|l| match l.get("checkpoint") {
            Some(cp) => format!("cp{}", cp["chain_seq"]),
            None => l["chain_seq"].to_string(),
        })
        .collect();
    assert_eq!(seqs, ["1", "2", "cp2", "3", "4", "cp4"]);

    let rec = &lines[2];
    assert_eq!(rec["event_id"], "ev-2");
    assert_eq!(rec["prev_hash"], hex::encode(&c.entries[0].hash));
    assert_eq!(rec["hash"], hex::encode(&c.entries[1].hash));
    assert_eq!(
        rec["event"]["id"], "ev-2",
        "the event is embedded as JSON, not a string"
    );
    let cp = &lines[3]["checkpoint"];
    assert_eq!(cp["head_hash"], hex::encode(&c.entries[1].hash));
    assert_eq!(
        (cp["count"].as_i64(), cp["key_id"].as_str()),
        (Some(2), Some(c.signer.key().key_id.as_str()))
    );
    assert!(
        cp["signature"].as_str().unwrap().ends_with('='),
        "base64 with padding"
    );
}

#[test]
fn bodies_round_trip_byte_for_byte() {
    let odd = [
        r#"{"id":"a" , "x": [1, 2.50, 1e3],"s":"tab\t\u00e9\/ \"q\"","n":null}"#,
        "{\"id\":\"b\",\"u\":\"é ☃ \\ud83d\\ude00\"}",
        "{}",
        "  {\"id\":\"lead\"}", // leading blank: not embeddable verbatim
        "{\"id\":\"two\",\n\"lines\":1}",
        "not json at all",
        "[1,2]",
    ];
    let c = chain(0, 0);
    let mut prev = rampart_logs::audit::GENESIS.to_vec();
    let mut entries = Vec::new();
    for (i, body) in odd.iter().enumerate() {
        let e = linked(i as i64 + 1, &format!("ev-{i}"), &prev, body);
        prev = e.hash.clone();
        entries.push(e);
    }
    let text = export(&c, &entries, None);
    assert!(text.contains(odd[0]), "an object body is written verbatim");
    let back = read_export(text.as_bytes()).unwrap();
    assert_eq!(back.entries, entries);
    assert_eq!(back.keys, keys(&c));
    let report = verify_export(text.as_bytes(), None).unwrap();
    assert!(
        report.ok && report.records == odd.len() as u64,
        "{report:?}"
    );
}

#[test]
fn a_clean_export_verifies_with_its_own_or_trusted_keys() {
    let c = chain(3_000, 1_000);
    let text = export(&c, &c.entries, None);
    let own = verify_export(text.as_bytes(), None).unwrap();
    assert!(own.ok && own.keys_from_export, "{own:?}");
    assert_eq!((own.records, own.checkpoints_verified), (3_000, 3));

    let trusted = verify_export(text.as_bytes(), Some(&keys(&c))).unwrap();
    assert!(trusted.ok && !trusted.keys_from_export, "{trusted:?}");

    // An export re-signed by an attacker's key vouches for itself, but not for a trusted key.
    let (other, _) = AuditSigner::generate().unwrap();
    let report = verify_export(text.as_bytes(), Some(&[other.key().clone()])).unwrap();
    assert_eq!(report.problem.unwrap().kind, ProblemKind::BadCheckpoint);
}

#[test]
fn a_pruned_chain_exports_its_start_point() {
    let c = chain(2_000, 1_000);
    let start = StartPoint {
        chain_seq: 1_000,
        hash: hash_of(&c.entries[at(1_000)]),
    };
    let text = export(&c, &c.entries[at(1_001)..], Some(start));
    let back = read_export(text.as_bytes()).unwrap();
    assert_eq!(back.start, Some(start));
    assert_eq!(back.checkpoints.len(), 2);
    assert!(
        text.lines().nth(1).unwrap().starts_with("{\"checkpoint\""),
        "the start's checkpoint first"
    );
    let report = verify_export(text.as_bytes(), Some(&keys(&c))).unwrap();
    assert!(
        report.ok && report.records == 1_000 && report.checkpoints_verified == 2,
        "{report:?}"
    );
}

#[test]
fn tampering_with_the_file_is_reported() {
    let c = chain(1_500, 1_000);
    let text = export(&c, &c.entries, None);
    let edited = text.replace(r#""n":700}"#, r#""n":701}"#);
    assert_ne!(edited, text);
    let report = verify_export(edited.as_bytes(), Some(&keys(&c))).unwrap();
    let p = report.problem.unwrap();
    assert_eq!(
        (p.kind, p.chain_seq, p.event_id.as_deref()),
        (ProblemKind::Modified, 700, Some("ev-700"))
    );

    // A record line removed.
    let dropped: String = text
        .lines()
        .filter(|l| !l.contains(r#""event_id":"ev-900""#))
        .map(|l| format!("{l}\n"))
        .collect();
    let report = verify_export(dropped.as_bytes(), Some(&keys(&c))).unwrap();
    assert_eq!(report.problem.unwrap().kind, ProblemKind::Deleted);

    // The tail cut off below the last checkpoint.
    let cut: String = text.lines().take(900).map(|l| format!("{l}\n")).collect();
    let report = verify_export(cut.as_bytes(), Some(&keys(&c))).unwrap();
    assert!(
        report.ok,
        "no checkpoint past the cut in the file itself: {report:?}"
    );
}

#[test]
fn malformed_lines_are_errors_naming_the_line() {
    let c = chain(3, 0);
    let good = export(&c, &c.entries, None);
    let mut lines: Vec<&str> = good.lines().collect();

    lines[2] = "{\"chain_seq\":2,";
    assert_eq!(line_error(&lines.join("\n")).0, 3);

    lines[2] = r#"{"chain_seq":2,"event_id":"x","prev_hash":"zz","hash":"00","event":{}}"#;
    let (line, msg) = line_error(&lines.join("\n"));
    assert_eq!(line, 3);
    assert!(msg.contains("prev_hash"), "{msg}");

    lines[2] =
        r#"{"chain_seq":2,"event_id":"x","prev_hash":"00","hash":"00","event":{},"extra":1}"#;
    assert_eq!(line_error(&lines.join("\n")).0, 3);

    lines[2] = r#"{"chain_seq":2}"#;
    let (_, msg) = line_error(&lines.join("\n"));
    assert!(msg.contains("neither"), "{msg}");

    assert_eq!(line_error("").0, 1);
    let (line, msg) = line_error(r#"{"format":"other/v9","keys":[],"exported_at":0,"start":null}"#);
    assert_eq!(line, 1);
    assert!(msg.contains("other/v9"), "{msg}");
    let bad_key = r#"{"format":"rampart-audit-export/v1","keys":[{"key_id":"00","public_key":"AAAA"}],"exported_at":0,"start":null}"#;
    assert_eq!(line_error(bad_key).0, 1);
}

#[test]
fn blank_lines_and_crlf_are_tolerated_and_the_reader_streams() {
    let c = chain(3, 3);
    let text = export(&c, &c.entries, None).replace('\n', "\r\n\n");
    let mut reader = ExportReader::new(text.as_bytes()).unwrap();
    assert_eq!(reader.keys(), keys(&c).as_slice());
    assert_eq!(reader.exported_at_ms(), 1_764_000_000_000);
    let items: Vec<ExportItem> = reader.by_ref().collect::<Result<_, _>>().unwrap();
    assert_eq!(items.len(), 4);
    assert!(matches!(&items[3], ExportItem::Checkpoint(cp) if cp == &c.checkpoints[0]));
    assert!(reader.next_item().unwrap().is_none());
}

#[test]
fn corrupted_exports_never_panic() {
    let c = chain(6, 3);
    let text = export(&c, &c.entries, None);
    let bytes = text.as_bytes();
    for at in (0..bytes.len()).step_by(3) {
        for replacement in [b'"', b'{', b'\n', b'0', 0xff] {
            let mut bad = bytes.to_vec();
            bad[at] = replacement;
            let _ = verify_export(bad.as_slice(), None);
            let _ = verify_export(bad.as_slice(), Some(&keys(&c)));
        }
        let _ = verify_export(&bytes[..at], None);
    }
}

/// A million-record export written to a file and verified as it streams (run with `--ignored`
/// under `/usr/bin/time -v` for the figures).
#[test]
#[ignore]
fn a_million_record_export_verifies_as_it_streams() {
    let (signer, _) = AuditSigner::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let keys = vec![signer.key().clone()];
    let mut w = ExportWriter::new(file, &keys, 0, None).unwrap();
    let mut prev = rampart_logs::audit::GENESIS;
    for i in 1..=1_000_000 {
        let e = linked(i, &format!("ev-{i}"), &prev, &body(i));
        prev = hash_of(&e);
        w.write_entry(&e).unwrap();
        if i % 1_000 == 0 {
            w.write_checkpoint(&sign(&signer, i, prev)).unwrap();
        }
    }
    w.finish().unwrap();
    let started = std::time::Instant::now();
    let file = std::io::BufReader::new(std::fs::File::open(&path).unwrap());
    let report = verify_export(file, Some(&keys)).unwrap();
    eprintln!(
        "verified {} exported records in {:?}",
        report.records,
        started.elapsed()
    );
    assert!(
        report.ok && report.checkpoints_verified == 1_000,
        "{report:?}"
    );
}

#!/usr/bin/env python3
"""Tampering with a running control plane's event log (`events.db`), for logs_audit.rs.

Writes go through another SQLite connection (the log runs in WAL mode), each change in one
`BEGIN IMMEDIATE` transaction with a busy timeout. Every command prints one JSON line.

  stats DB                 chained rows, the head, checkpoints
  row DB CS                the chained row at chain_seq CS (blobs as hex)
  modify DB CS             changes one byte of the row's body (keeps it valid JSON)
  put DB ROWJSON           restores a row saved with `row` (its body, or the whole row if gone)
  delete DB CS             removes the row
  forge DB CS              shifts chain_seq >= CS up by one (and the head) and inserts a forged
                           record at CS that links correctly to CS-1
  unforge DB CS            removes the forged record at CS and shifts the rest back
  swap DB A B              exchanges two rows' chain_seq
  setid DB CS ID           sets the row's id column (not its body) to ID
  cpflip DB CS             flips a bit of the signature of the checkpoint at CS (twice undoes)
  keys URL CA              GET URL/v1/audit/keys with $RAMPART_TOKEN, trusting CA
"""

import hashlib
import json
import ssl
import sys
import sqlite3
import urllib.request
import uuid

COLUMNS = ["seq", "id", "time_ms", "kind", "action", "service", "principal", "decision",
           "status", "body", "chain_seq", "prev_hash", "hash"]
BLOBS = {"prev_hash", "hash"}


def connect(db):
    conn = sqlite3.connect(db, timeout=30, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn


def txn(db, work):
    conn = connect(db)
    try:
        conn.execute("BEGIN IMMEDIATE")
        out = work(conn)
        conn.execute("COMMIT")
        return out
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()


def row_at(conn, cs):
    cols = ", ".join(COLUMNS)
    r = conn.execute(f"SELECT {cols} FROM events WHERE chain_seq = ?", (cs,)).fetchone()
    if r is None:
        raise SystemExit(f"no chained row at chain_seq {cs}")
    return {c: (v.hex() if c in BLOBS and v is not None else v) for c, v in zip(COLUMNS, r)}


def stats(db):
    conn = connect(db)
    chained, top = conn.execute(
        "SELECT COUNT(*), COALESCE(MAX(chain_seq), 0) FROM events WHERE chain_seq IS NOT NULL"
    ).fetchone()
    head = conn.execute("SELECT chain_seq FROM audit_head WHERE id = 1").fetchone()[0]
    cps, last_cp = conn.execute(
        "SELECT COUNT(*), COALESCE(MAX(chain_seq), 0) FROM audit_checkpoints").fetchone()
    total = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    at = [r[0] for r in conn.execute(
        "SELECT DISTINCT chain_seq FROM audit_checkpoints ORDER BY chain_seq")]
    conn.close()
    return {"chained": chained, "max_chain_seq": top, "head": head, "checkpoints": cps,
            "last_checkpoint": last_cp, "checkpoint_seqs": at, "events": total}


def modify(conn, cs):
    body = row_at(conn, cs)["body"]
    changed = body.replace('"@timestamp":', '"@timestamp": ', 1)
    if changed == body:
        changed = body + " "
    conn.execute("UPDATE events SET body = ? WHERE chain_seq = ?", (changed, cs))
    return {"modified": cs}


def put(conn, saved):
    vals = [bytes.fromhex(saved[c]) if c in BLOBS and saved[c] is not None else saved[c]
            for c in COLUMNS]
    exists = conn.execute("SELECT 1 FROM events WHERE seq = ?", (saved["seq"],)).fetchone()
    if exists:
        conn.execute("UPDATE events SET body = ? WHERE seq = ?", (saved["body"], saved["seq"]))
    else:
        marks = ", ".join("?" for _ in COLUMNS)
        conn.execute(f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES ({marks})", vals)
    return {"restored": saved["chain_seq"]}


def shift(conn, first, by):
    """Adds `by` to every chain_seq >= first, through negatives to keep them unique."""
    conn.execute("UPDATE events SET chain_seq = -(chain_seq + ?) "
                 "WHERE chain_seq IS NOT NULL AND chain_seq >= ?", (by, first))
    conn.execute("UPDATE events SET chain_seq = -chain_seq "
                 "WHERE chain_seq IS NOT NULL AND chain_seq < 0")
    conn.execute("UPDATE audit_head SET chain_seq = chain_seq + ? WHERE id = 1", (by,))


def forge(conn, cs):
    before = row_at(conn, cs - 1)
    prev = bytes.fromhex(before["hash"])
    forged_id = str(uuid.uuid4())
    body = before["body"].replace(before["id"], forged_id)
    digest = hashlib.sha256(b"rampart-audit/v1\n" + prev + body.encode()).digest()
    shift(conn, cs, 1)
    conn.execute(
        "INSERT INTO events (id, time_ms, kind, action, service, principal, decision, status, "
        "body, chain_seq, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (forged_id, before["time_ms"], before["kind"], before["action"], before["service"],
         before["principal"], before["decision"], before["status"], body, cs, prev, digest))
    return {"forged": forged_id, "chain_seq": cs}


def unforge(conn, cs):
    conn.execute("DELETE FROM events WHERE chain_seq = ?", (cs,))
    shift(conn, cs + 1, -1)
    return {"unforged": cs}


def swap(conn, a, b):
    conn.execute("UPDATE events SET chain_seq = -1 WHERE chain_seq = ?", (a,))
    conn.execute("UPDATE events SET chain_seq = ? WHERE chain_seq = ?", (a, b))
    conn.execute("UPDATE events SET chain_seq = ? WHERE chain_seq = -1", (b,))
    return {"swapped": [a, b]}


def cpflip(conn, cs):
    r = conn.execute("SELECT seq, signature FROM audit_checkpoints WHERE chain_seq = ? "
                     "ORDER BY seq LIMIT 1", (cs,)).fetchone()
    if r is None:
        raise SystemExit(f"no checkpoint at chain_seq {cs}")
    sig = bytearray(r[1])
    sig[0] ^= 1
    conn.execute("UPDATE audit_checkpoints SET signature = ? WHERE seq = ?", (bytes(sig), r[0]))
    return {"flipped": cs}


def keys(url, ca):
    import os
    ctx = ssl.create_default_context(cafile=ca)
    req = urllib.request.Request(url.rstrip("/") + "/v1/audit/keys")
    req.add_header("Authorization", "Bearer " + os.environ["RAMPART_TOKEN"])
    with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
        return json.loads(resp.read())


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "stats":
        out = stats(args[0])
    elif cmd == "row":
        conn = connect(args[0])
        out = row_at(conn, int(args[1]))
        conn.close()
    elif cmd == "modify":
        out = txn(args[0], lambda c: modify(c, int(args[1])))
    elif cmd == "put":
        out = txn(args[0], lambda c: put(c, json.loads(args[1])))
    elif cmd == "delete":
        out = txn(args[0], lambda c: {"deleted": c.execute(
            "DELETE FROM events WHERE chain_seq = ?", (int(args[1]),)).rowcount})
    elif cmd == "forge":
        out = txn(args[0], lambda c: forge(c, int(args[1])))
    elif cmd == "unforge":
        out = txn(args[0], lambda c: unforge(c, int(args[1])))
    elif cmd == "swap":
        out = txn(args[0], lambda c: swap(c, int(args[1]), int(args[2])))
    elif cmd == "setid":
        out = txn(args[0], lambda c: {"set": c.execute(
            "UPDATE events SET id = ? WHERE chain_seq = ?", (args[2], int(args[1]))).rowcount})
    elif cmd == "cpflip":
        out = txn(args[0], lambda c: cpflip(c, int(args[1])))
    elif cmd == "keys":
        out = keys(args[0], args[1])
    else:
        raise SystemExit(f"unknown command {cmd}")
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv)

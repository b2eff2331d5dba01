#!/usr/bin/env python3
"""Writer and checker of the durability test (crates/rampart/tests/cli/secrets_durability.rs).
Standard library only.

  secrets_writer.py write ADDR CA TOKEN_FILE MAX_WRITES MAX_SECONDS
      KV v2 writes on one keep-alive connection, round-robin over 16 paths; after each
      acknowledged write (200 with a version) prints `{"path", "version", "value"}` on its own
      line and flushes. Stops at the first failure (the server was killed), MAX_WRITES or
      MAX_SECONDS; exits 0.
  secrets_writer.py check ADDR CA TOKEN_FILE ACKS_FILE
      reads every acknowledged (path, version) back; prints {"checked": n, "missing": [...],
      "wrong": [...]}.
"""

import http.client
import json
import ssl
import sys
import time
from urllib.parse import urlparse


def connect(addr, ca):
    u = urlparse(addr)
    return http.client.HTTPSConnection(u.hostname, u.port, context=ssl.create_default_context(cafile=ca), timeout=5)


def write(addr, ca, token, max_writes, max_seconds):
    conn = connect(addr, ca)
    headers = {"X-Vault-Token": token, "Content-Type": "application/json"}
    deadline = time.monotonic() + max_seconds
    for i in range(max_writes):
        if time.monotonic() > deadline:
            break
        path = f"durable/k{i % 16}"
        value = f"ack-{i}-{time.monotonic_ns()}"
        try:
            conn.request("POST", f"/v1/secret/data/{path}", body=json.dumps({"data": {"v": value}}), headers=headers)
            r = conn.getresponse()
            body = r.read()
        except (OSError, http.client.HTTPException):
            break
        if r.status != 200:
            print(json.dumps({"error": r.status, "body": body.decode(errors="replace")}), file=sys.stderr)
            break
        version = json.loads(body)["data"]["version"]
        print(json.dumps({"path": path, "version": version, "value": value}), flush=True)
    return 0


def check(addr, ca, token, acks_file):
    conn = connect(addr, ca)
    headers = {"X-Vault-Token": token}
    checked, missing, wrong = 0, [], []
    for line in open(acks_file):
        line = line.strip()
        if not line:
            continue
        try:
            ack = json.loads(line)
        except json.JSONDecodeError:
            continue  # the last line may be cut by the kill: it was never acknowledged whole
        conn.request("GET", f"/v1/secret/data/{ack['path']}?version={ack['version']}", headers=headers)
        r = conn.getresponse()
        body = r.read()
        checked += 1
        if r.status != 200:
            missing.append([ack["path"], ack["version"], r.status])
        elif json.loads(body)["data"]["data"].get("v") != ack["value"]:
            wrong.append([ack["path"], ack["version"]])
    print(json.dumps({"checked": checked, "missing": missing, "wrong": wrong}))
    return 0


def main():
    mode, addr, ca, token_file = sys.argv[1:5]
    token = open(token_file).read().strip()
    if mode == "write":
        return write(addr, ca, token, int(sys.argv[5]), float(sys.argv[6]))
    return check(addr, ca, token, sys.argv[5])


if __name__ == "__main__":
    sys.exit(main())

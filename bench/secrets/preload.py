#!/usr/bin/env python3
"""Writes N secrets bench/s1..sN (KV v2, mount `secret`) to a Vault-compatible server and
reads one back: the data the read runs of bench/secrets.sh read. Standard library only.

  preload.py --addr https://127.0.0.1:P --ca CA.pem --token-file F --count N [--concurrency 8]
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
import time
import http.client
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse


def connection(addr: str, ctx: ssl.SSLContext) -> http.client.HTTPSConnection:
    u = urlparse(addr)
    return http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=10)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--addr", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--token-file", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--concurrency", type=int, default=8)
    a = p.parse_args()
    token = open(a.token_file).read().strip()
    ctx = ssl.create_default_context(cafile=a.ca)
    headers = {"X-Vault-Token": token, "Content-Type": "application/json"}

    def worker(k: int) -> int:
        conn, failures = connection(a.addr, ctx), 0
        for i in range(k + 1, a.count + 1, a.concurrency):
            body = json.dumps({"data": {"user": f"svc-{i}", "password": f"preload-{i:08d}"}})
            conn.request("POST", f"/v1/secret/data/bench/s{i}", body=body, headers=headers)
            r = conn.getresponse()
            r.read()
            failures += r.status != 200
        conn.close()
        return failures

    t0 = time.monotonic()
    with ThreadPoolExecutor(a.concurrency) as pool:
        failures = sum(pool.map(worker, range(a.concurrency)))
    took = time.monotonic() - t0
    conn = connection(a.addr, ctx)
    conn.request("GET", "/v1/secret/data/bench/s1", headers=headers)
    r = conn.getresponse()
    got = json.loads(r.read() or b"{}")
    ok = r.status == 200 and got.get("data", {}).get("data", {}).get("password") == "preload-00000001"
    print(json.dumps({"written": a.count - failures, "failures": failures, "seconds": round(took, 3),
                      "read_back": ok}))
    return 0 if failures == 0 and ok else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Access tokens from Rampart's token endpoint, for bench/jwt.sh.

  tokens.py --issuer https://127.0.0.1:P --ca CA.pem --count N [--concurrency 8]
            (--secret-file F | --key-file K --kid KID) --client-id ID
            [--audience bench] [--scope bench] [--server control=PID]
            [--max-seconds 120] --out TOKENS --json OUT

POSTs `grant_type=client_credentials` to <issuer>/oauth2/token --count times from
--concurrency threads, each on its own keep-alive HTTPS connection, and writes the
`access_token`s, one per line, to --out. The client authenticates either with its secret
(client_secret_basic: an argon2id check per request on the server) or with a fresh
RFC 7523 client assertion per request (private_key_jwt, ES256, signed here with the Python
`cryptography` package, untimed: made before the clock starts). Every answer must be 200 with
a token; the JSON report has the count, the wall time, issuances per second and, with
--server, the control plane's CPU time per issuance. Bounded by --max-seconds; 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import ssl
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode, urlparse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "mesh"))
import procstat  # noqa: E402


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def assertions(n: int, key_pem: bytes, kid: str, client_id: str, audience: str) -> list[str]:
    """`n` ES256 client assertions (RFC 7523) with distinct `jti`s."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    key = serialization.load_pem_private_key(key_pem, password=None)
    header = b64url(json.dumps({"alg": "ES256", "kid": kid, "typ": "JWT"}).encode())
    now = int(time.time())
    out = []
    for _ in range(n):
        claims = {"iss": client_id, "sub": client_id, "aud": audience, "iat": now,
                  "exp": now + 540, "jti": str(uuid.uuid4())}
        signing_input = f"{header}.{b64url(json.dumps(claims).encode())}"
        der = key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        out.append(f"{signing_input}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--issuer", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--client-id", required=True)
    ap.add_argument("--secret-file")
    ap.add_argument("--key-file")
    ap.add_argument("--kid")
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--audience", default="bench")
    ap.add_argument("--scope", default="bench")
    ap.add_argument("--server", action="append")
    ap.add_argument("--max-seconds", type=float, default=120.0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--json", required=True)
    args = ap.parse_args()

    url = urlparse(args.issuer)
    if url.hostname != "127.0.0.1":
        print("tokens.py talks to 127.0.0.1 only", file=sys.stderr)
        return 2
    path = (url.path.rstrip("/") or "") + "/oauth2/token"
    endpoint = f"{args.issuer.rstrip('/')}/oauth2/token"
    form = {"grant_type": "client_credentials", "scope": args.scope, "audience": args.audience}
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    bodies: list[str]
    if args.secret_file:
        secret = Path(args.secret_file).read_text().strip()
        method = "client_secret_basic"
        headers["Authorization"] = "Basic " + base64.b64encode(f"{args.client_id}:{secret}".encode()).decode()
        bodies = [urlencode(form)] * args.count
    else:
        method = "private_key_jwt"
        signed = assertions(args.count, Path(args.key_file).read_bytes(), args.kid, args.client_id, endpoint)
        bodies = [urlencode({**form, "client_id": args.client_id,
                             "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                             "client_assertion": a}) for a in signed]

    ctx = ssl.create_default_context(cafile=args.ca)
    lock = threading.Lock()
    tokens: list[str] = []
    errors: dict[str, int] = {}
    first_error: list[str] = []
    next_i = [0]
    deadline = time.monotonic() + args.max_seconds

    def worker() -> None:
        conn = http.client.HTTPSConnection(url.hostname, url.port, context=ctx, timeout=30)
        while time.monotonic() < deadline:
            with lock:
                i = next_i[0]
                if i >= len(bodies):
                    return
                next_i[0] = i + 1
            try:
                conn.request("POST", path, body=bodies[i], headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                if resp.status == 200:
                    tok = json.loads(data)["access_token"]
                    with lock:
                        tokens.append(tok)
                    continue
                key, detail = f"http {resp.status}", data[:200].decode(errors="replace")
            except Exception as e:  # noqa: BLE001 - counted and reported
                key, detail = type(e).__name__, str(e)[:200]
                conn.close()
                conn = http.client.HTTPSConnection(url.hostname, url.port, context=ctx, timeout=30)
            with lock:
                errors[key] = errors.get(key, 0) + 1
                if not first_error:
                    first_error.append(f"{key}: {detail}")

    groups = procstat.parse_groups(args.server)
    cpu0 = {k: procstat.cpu_ticks(v) for k, v in groups.items()}
    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, args.concurrency))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(1.0, deadline - time.monotonic() + 35))
    wall = time.monotonic() - t0
    cpu1 = {k: procstat.cpu_ticks(v) for k, v in groups.items()}

    with lock:
        got = list(tokens)
    Path(args.out).write_text("".join(t + "\n" for t in got))
    Path(args.out).chmod(0o600)
    n = len(got)
    report = {
        "method": method, "requested": args.count, "issued": n, "concurrency": args.concurrency,
        "distinct": len(set(got)), "errors": errors, "first_error": first_error[0] if first_error else None,
        "wall_s": round(wall, 3), "per_s": round(n / wall, 1) if wall > 0 else 0.0,
        "cpu_us_per_issuance": {k: round((cpu1[k] - cpu0[k]) * 1e6 / procstat.CLK_TCK / n, 1) if n else None
                                for k in groups},
        "timed_out": time.monotonic() >= deadline and n + sum(errors.values()) < args.count,
    }
    Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    cpu = ", ".join(f"{k} {v} µs CPU/issuance" for k, v in report["cpu_us_per_issuance"].items())
    print(f"{method}: {n}/{args.count} tokens in {wall:.2f} s = {report['per_s']}/s"
          f"{' (' + cpu + ')' if cpu else ''}{'; errors ' + json.dumps(errors) if errors else ''}",
          file=sys.stderr)
    if first_error:
        print(f"  first error: {first_error[0]}", file=sys.stderr)
    return 0 if n == args.count else 1


if __name__ == "__main__":
    sys.exit(main())

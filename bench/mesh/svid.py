#!/usr/bin/env python3
"""SVID issuance and renewal rates of Rampart's control plane, for bench/mesh.sh.

  svid.py --control https://127.0.0.1:P --token-file ADMIN_TOKEN --ca CA.pem
          [--service a] [--count 200] [--renewals 200] [--concurrency 8]
          [--server NAME=PID] [--out-dir DIR] --json OUT

1. Makes --count P-256 keys and CSRs (the Python `cryptography` package), untimed.
2. Creates --count join tokens (POST /v1/identity/join-tokens with the admin token), timed.
3. Issuance: redeems each token once with its CSR (POST /v1/identity/svid), from
   --concurrency threads, each on its own keep-alive HTTPS connection; timed. This is the
   bootstrap path of a new workload: token check and burn, CSR check, signing, recording.
4. Renewal: --renewals renewals (POST /v1/identity/svid/renew) authenticated over mTLS by
   the first issued SVID, from --concurrency threads, each on its own keep-alive mTLS
   connection (so the handshake is not what is measured); timed.

Every answer is checked (200, the expected SPIFFE id), and the first SVID is checked
independently: one URI SAN, CA:FALSE, digitalSignature, serverAuth+clientAuth, and its
signature verifies against the returned bundle. With --server, the control plane's CPU
time per issuance/renewal is read from /proc. With --out-dir, the first SVID (chain),
its key (0600) and the bundle are written there (svid.pem, svid.key, bundle.pem).
127.0.0.1 only; bounded by the counts and a 60 s timeout per phase.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import ssl
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
import procstat  # noqa: E402

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
except ImportError:  # pragma: no cover - reported to the caller
    print("svid.py needs the Python package `cryptography` (pip install cryptography)", file=sys.stderr)
    sys.exit(2)

PHASE_TIMEOUT_S = 60.0


def make_csrs(n: int) -> list[tuple[str, bytes]]:
    """`n` (CSR PEM, key PEM) pairs for fresh P-256 keys."""
    out = []
    for i in range(n):
        key = ec.generate_private_key(ec.SECP256R1())
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"bench-{i}")]))
            .sign(key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        out.append((csr.public_bytes(serialization.Encoding.PEM).decode(), key_pem))
    return out


class Api:
    """A keep-alive HTTPS connection to the control plane (one per thread)."""

    def __init__(self, url: str, ctx: ssl.SSLContext, token: str | None) -> None:
        u = urlparse(url)
        self.host, self.port = u.hostname or "127.0.0.1", u.port or 443
        if self.host not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit(f"refusing a non-loopback control plane: {self.host}")
        self.ctx, self.token = ctx, token
        self.conn = http.client.HTTPSConnection(self.host, self.port, context=ctx, timeout=10)

    def post(self, path: str, body: dict) -> tuple[int, dict]:
        headers = {"content-type": "application/json"}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode()
        for attempt in range(2):
            try:
                self.conn.request("POST", path, body=data, headers=headers)
                r = self.conn.getresponse()
                raw = r.read()
                try:
                    return r.status, json.loads(raw or b"{}")
                except ValueError:
                    return r.status, {"raw": raw[:200].decode("latin-1")}
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=10)
                if attempt:
                    raise
        raise RuntimeError("unreachable")


def run_parallel(n_threads: int, items: list, fn) -> tuple[float, list]:
    """Runs fn(api_index, item) over items from n_threads threads; (wall seconds, results)."""
    results: list = [None] * len(items)
    lock = threading.Lock()
    nxt = [0]
    deadline = time.monotonic() + PHASE_TIMEOUT_S

    def loop(t: int) -> None:
        while time.monotonic() < deadline:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= len(items):
                return
            try:
                results[i] = fn(t, items[i])
            except Exception as e:  # noqa: BLE001 - counted as a failure
                results[i] = (0, {"error": f"{type(e).__name__}: {e}"})

    threads = [threading.Thread(target=loop, args=(t,)) for t in range(n_threads)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join(PHASE_TIMEOUT_S + 10)
    return time.perf_counter() - t0, results


def check_svid(chain_pem: list[str], bundle_pem: list[str], expected_id: str) -> list[str]:
    """Independent checks of an SVID; the list of problems (empty: fine)."""
    problems = []
    leaf = x509.load_pem_x509_certificate(chain_pem[0].encode())
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        uris = []
    if uris != [expected_id]:
        problems.append(f"URI SANs {uris}, expected [{expected_id}]")
    bc = leaf.extensions.get_extension_for_class(x509.BasicConstraints).value
    if bc.ca:
        problems.append("leaf is a CA")
    ku = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    if not ku.digital_signature:
        problems.append("no digitalSignature")
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    if ExtendedKeyUsageOID.SERVER_AUTH not in eku or ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
        problems.append("EKU lacks serverAuth or clientAuth")
    issuer_pem = chain_pem[1] if len(chain_pem) > 1 else None
    roots = [x509.load_pem_x509_certificate(p.encode()) for p in bundle_pem]
    issuers = ([x509.load_pem_x509_certificate(issuer_pem.encode())] if issuer_pem else []) + roots
    if not any(_signed_by(leaf, i) for i in issuers):
        problems.append("leaf signature does not verify against the chain or bundle")
    return problems


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except (InvalidSignature, ValueError, TypeError):
        return False


def phase_result(name: str, wall: float, results: list, expected_id: str | None, cpu_ticks: int | None) -> dict:
    ok = sum(1 for r in results if r and r[0] == 200 and (expected_id is None or r[1].get("spiffe_id") == expected_id))
    created = sum(1 for r in results if r and r[0] == 201)
    good = ok or created
    first_bad = next((r for r in results if not r or r[0] not in (200, 201)), "none")
    res = {
        "count": len(results),
        "ok": good,
        "errors": len(results) - good,
        "wall_s": wall,
        "per_s": good / wall if wall > 0 else None,
        # A result of None is an item no thread reached before the phase timed out.
        "first_error": None if first_bad == "none" else (first_bad[1] if first_bad else "not attempted"),
    }
    if cpu_ticks is not None:
        cpu_s = cpu_ticks / procstat.CLK_TCK
        res["server_cpu_s"] = cpu_s
        res["per_server_cpu_s"] = good / cpu_s if cpu_s > 0 else None
        res["server_cpu_us_each"] = cpu_s * 1e6 / good if good else None
    line = f"  {name:<12} {good}/{len(results)} in {wall:.2f} s = {res['per_s'] or 0:.0f}/s"
    if res.get("per_server_cpu_s"):
        line += f" ({res['per_server_cpu_s']:.0f} per server CPU-second)"
    if res["errors"]:
        line += f"  ERRORS {res['errors']}: {res['first_error']}"
    print(line, file=sys.stderr)
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--control", required=True)
    ap.add_argument("--token-file", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--service", default="a")
    ap.add_argument("--namespace", default="default")
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--renewals", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--server", action="append", help="NAME=PID: the control plane's CPU time")
    ap.add_argument("--out-dir")
    ap.add_argument("--json", required=True)
    a = ap.parse_args()
    if not (1 <= a.count <= 10000 and 0 <= a.renewals <= 10000 and 1 <= a.concurrency <= 64):
        ap.error("count 1..10000, renewals 0..10000, concurrency 1..64")
    token = Path(a.token_file).read_text().strip()
    server = procstat.parse_groups(a.server)
    spids = next(iter(server.values()), None)

    def ticks() -> int | None:
        return procstat.cpu_ticks(spids) if spids else None

    ctx = ssl.create_default_context(cafile=a.ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    res: dict = {"tool": "svid.py", "concurrency": a.concurrency, "service": a.service, "phases": {}}

    t0 = time.perf_counter()
    csrs = make_csrs(max(a.count, 1))
    res["client_csr_s"] = time.perf_counter() - t0
    print(f"svid: {len(csrs)} CSRs made in {res['client_csr_s']:.2f} s (client side, untimed)", file=sys.stderr)

    admin = [Api(a.control, ctx, token) for _ in range(a.concurrency)]
    c0 = ticks()
    body = {"service": a.service, "namespace": a.namespace, "ttl_secs": 600}
    wall, tok = run_parallel(a.concurrency, list(range(a.count)), lambda t, _i: admin[t].post("/v1/identity/join-tokens", body))
    c1 = ticks()
    res["phases"]["join_tokens"] = phase_result("join tokens", wall, tok, None, None if c0 is None else c1 - c0)
    tokens = [r[1]["token"] for r in tok if r and r[0] in (200, 201) and "token" in r[1]]
    if not tokens:
        res["ok"] = False
        Path(a.json).write_text(json.dumps(res, indent=2, sort_keys=True) + "\n")
        return 1
    expected_id = next(r[1]["spiffe_id"] for r in tok if r and r[0] in (200, 201) and "spiffe_id" in r[1])

    workload = [Api(a.control, ctx, None) for _ in range(a.concurrency)]
    items = list(zip(tokens, csrs))
    c0 = ticks()
    wall, issued = run_parallel(
        a.concurrency, items, lambda t, it: workload[t].post("/v1/identity/svid", {"join_token": it[0], "csr_pem": it[1][0]})
    )
    c1 = ticks()
    res["phases"]["issue"] = phase_result("issuance", wall, issued, expected_id, None if c0 is None else c1 - c0)
    first = next((i for i, r in enumerate(issued) if r and r[0] == 200), None)
    if first is None:
        res["ok"] = False
        Path(a.json).write_text(json.dumps(res, indent=2, sort_keys=True) + "\n")
        return 1
    svid = issued[first][1]
    problems = check_svid(svid["svid_chain_pem"], svid["bundle_pem"], expected_id)
    res["svid_check"] = {"spiffe_id": svid["spiffe_id"], "problems": problems}
    if problems:
        print(f"  SVID check FAILED: {problems}", file=sys.stderr)

    out = Path(a.out_dir) if a.out_dir else Path(a.json).parent
    out.mkdir(parents=True, exist_ok=True)
    (out / "svid.pem").write_text("".join(svid["svid_chain_pem"]))
    key_path = out / "svid.key"
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(csrs[first][1])
    (out / "bundle.pem").write_text("".join(svid["bundle_pem"]))

    if a.renewals:
        mctx = ssl.create_default_context(cafile=a.ca)
        mctx.load_cert_chain(str(out / "svid.pem"), str(key_path))
        renewers = [Api(a.control, mctx, None) for _ in range(a.concurrency)]
        renew_csrs = [c[0] for c in csrs]
        c0 = ticks()
        wall, renewed = run_parallel(
            a.concurrency,
            list(range(a.renewals)),
            lambda t, i: renewers[t].post("/v1/identity/svid/renew", {"csr_pem": renew_csrs[i % len(renew_csrs)]}),
        )
        c1 = ticks()
        res["phases"]["renew"] = phase_result("renewal", wall, renewed, expected_id, None if c0 is None else c1 - c0)

    res["ok"] = all(p["errors"] == 0 for p in res["phases"].values()) and not problems
    Path(a.json).write_text(json.dumps(res, indent=2, sort_keys=True) + "\n")
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Full mTLS handshakes per second (and per CPU-second of the server) for bench/mesh.sh.

  handshakes.py --port P --ca CA.pem --cert CLIENT.pem --key CLIENT.key
                [--expect-uri spiffe://…] [--sni NAME] [--host-header b]
                [--procs 2] [--duration 5] [--max 100000] [--server NAME=PID[,PID]] --json OUT

Each of --procs client processes loops: a new TCP connection, a full TLS 1.3 handshake with
a client certificate (no session resumption: every connection starts a fresh session), the
server's chain verified against --ca (and, on the first connection of each process, its
URI SAN compared with --expect-uri), then one `GET /` with `Connection: close` read to the
end. So every connection is one complete mTLS handshake that the server has finished
(it answered), and one request through the sidecar to the app.

With --server, the CPU time (utime+stime from /proc) the server spent meanwhile is read
before and after, which gives handshakes per CPU-second of the server: the rate one core
of it sustains, whatever the client could generate. Bounded by --duration and --max;
127.0.0.1 only. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import socket
import ssl
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
import procstat  # noqa: E402


def client_context(a: argparse.Namespace) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(a.ca)
    # SPIFFE identities are URI SANs, not host names: the chain is verified, the name is
    # compared by hand below.
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_cert_chain(a.cert, a.key)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def peer_uris(ss: ssl.SSLSocket) -> list[str]:
    cert = ss.getpeercert() or {}
    return [v for (k, v) in cert.get("subjectAltName", ()) if k == "URI"]


def read_response(ss: ssl.SSLSocket) -> bytes:
    """One whole response: the head and Content-Length bytes of body (or up to EOF without
    one). Does not wait for the server to close: some servers linger before closing."""
    data = b""
    while len(data) < 1 << 20:
        head_end = data.find(b"\r\n\r\n")
        if head_end >= 0:
            length = None
            for line in data[:head_end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            if length is not None and len(data) >= head_end + 4 + length:
                return data
        chunk = ss.recv(65536)
        if not chunk:
            return data
        data += chunk
    return data


def worker(a: argparse.Namespace, deadline: float, quota: int, out: mp.Queue) -> None:
    ctx = client_context(a)
    request = f"GET / HTTP/1.1\r\nHost: {a.host_header}\r\nConnection: close\r\n\r\n".encode()
    ok = errors = 0
    first_error = None
    info: dict = {}
    while ok + errors < quota and time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", a.port), timeout=5) as raw:
                # Without it, Nagle holds the request until the server's delayed ACK (40 ms).
                raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with ctx.wrap_socket(raw, server_hostname=a.sni) as ss:
                    if not info:
                        info = {"version": ss.version(), "cipher": ss.cipher()[0], "alpn": ss.selected_alpn_protocol()}
                        uris = peer_uris(ss)
                        info["peer_uris"] = uris
                        if a.expect_uri and uris != [a.expect_uri]:
                            raise ssl.SSLError(f"peer URI SANs {uris}, expected [{a.expect_uri}]")
                    ss.sendall(request)
                    data = read_response(ss)
                    if not data.startswith(b"HTTP/1.1 200") and not data.startswith(b"HTTP/1.0 200"):
                        raise ValueError(f"unexpected answer {data[:40]!r}")
            ok += 1
        except (OSError, ssl.SSLError, ValueError) as e:
            errors += 1
            if first_error is None:
                first_error = f"{type(e).__name__}: {e}"
            if errors > 50 and errors > ok:
                break
    out.put({"ok": ok, "errors": errors, "first_error": first_error, "info": info})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--expect-uri")
    ap.add_argument("--sni", default=None)
    ap.add_argument("--host-header", default="b")
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--max", type=int, default=100000)
    ap.add_argument("--server", action="append", help="NAME=PID[,PID]: CPU time of the server")
    ap.add_argument("--json", required=True)
    a = ap.parse_args()
    if not (1 <= a.procs <= 16 and 0 < a.duration <= 60 and 1 <= a.max <= 1_000_000):
        ap.error("procs 1..16, duration 1..60 s, max 1..1000000")
    servers = procstat.parse_groups(a.server)
    ctx = mp.get_context("fork")
    q: mp.Queue = ctx.Queue()
    t0 = time.monotonic()
    deadline = t0 + a.duration
    cpu0 = {n: procstat.cpu_ticks(p) for n, p in servers.items()}
    procs = [ctx.Process(target=worker, args=(a, deadline, a.max // a.procs, q)) for _ in range(a.procs)]
    for p in procs:
        p.start()
    results = []
    for _ in procs:
        try:
            results.append(q.get(timeout=a.duration + 30))
        except Exception:  # noqa: BLE001 - a worker that died reports nothing
            break
    wall = time.monotonic() - t0
    cpu1 = {n: procstat.cpu_ticks(p) for n, p in servers.items()}
    for p in procs:
        p.join(timeout=5)
        if p.is_alive():
            p.kill()
    ok = sum(r["ok"] for r in results)
    errors = sum(r["errors"] for r in results) + (len(procs) - len(results))
    res: dict = {
        "tool": "handshakes.py",
        "procs": a.procs,
        "wall_s": wall,
        "handshakes": ok,
        "errors": errors,
        "per_s": ok / wall if wall > 0 else None,
        "first_error": next((r["first_error"] for r in results if r["first_error"]), None),
        "tls": next((r["info"] for r in results if r["info"]), {}),
        "server": {},
    }
    for n in servers:
        ticks = cpu1[n] - cpu0[n]
        cpu_s = ticks / procstat.CLK_TCK
        res["server"][n] = {
            "cpu_ticks": ticks,
            "cpu_s": cpu_s,
            "per_cpu_s": ok / cpu_s if cpu_s > 0 else None,
            "cpu_us_per_handshake": cpu_s * 1e6 / ok if ok else None,
        }
    res["ok"] = ok > 0 and errors == 0
    Path(a.json).write_text(json.dumps(res, indent=2, sort_keys=True) + "\n")
    line = f"handshakes: {ok} in {wall:.1f} s = {res['per_s'] or 0:.0f}/s"
    for n, s in res["server"].items():
        if s["per_cpu_s"]:
            line += f", {n}: {s['per_cpu_s']:.0f} per CPU-second ({s['cpu_us_per_handshake']:.0f} us each)"
    if errors:
        line += f", ERRORS {errors} ({res['first_error']})"
    print(line, file=sys.stderr)
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

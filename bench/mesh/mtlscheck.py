#!/usr/bin/env python3
"""Proves that a sidecar's inbound port is mTLS-only, for bench/mesh.sh.

  mtlscheck.py --port P --ca CA.pem --cert CLIENT.pem --key CLIENT.key
               [--expect-uri spiffe://…] [--host-header b] --json OUT

Three probes against 127.0.0.1:P:
- plaintext HTTP: must not get a 200;
- TLS without a client certificate: must not get a 200 (a TLS 1.3 server refuses after the
  client's Finished, so the refusal shows on the first read);
- TLS 1.3 with the client certificate: must get a 200; the negotiated version, cipher and
  the server's URI SANs are recorded (and compared with --expect-uri).
Exit 0 when all three hold. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import socket
import ssl
import sys
from pathlib import Path


def request(host_header: str) -> bytes:
    return f"GET / HTTP/1.1\r\nHost: {host_header}\r\nConnection: close\r\n\r\n".encode()


def read_all(s) -> bytes:
    data = b""
    while len(data) < 1 << 16:
        try:
            chunk = s.recv(65536)
        except (OSError, ssl.SSLError):
            break
        if not chunk:
            break
        data += chunk
    return data


def is_200(data: bytes) -> bool:
    return data.startswith(b"HTTP/1.1 200") or data.startswith(b"HTTP/1.0 200")


def tls_probe(a: argparse.Namespace, with_cert: bool) -> dict:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(a.ca)
    ctx.check_hostname = False
    ctx.set_alpn_protocols(["http/1.1"])
    if with_cert:
        ctx.load_cert_chain(a.cert, a.key)
    out: dict = {}
    try:
        with socket.create_connection(("127.0.0.1", a.port), timeout=5) as raw:
            with ctx.wrap_socket(raw) as ss:
                out["version"] = ss.version()
                out["cipher"] = ss.cipher()[0]
                cert = ss.getpeercert() or {}
                out["peer_uris"] = [v for (k, v) in cert.get("subjectAltName", ()) if k == "URI"]
                ss.sendall(request(a.host_header))
                data = read_all(ss)
                out["status_line"] = data.split(b"\r\n", 1)[0].decode("latin-1")
                out["ok"] = is_200(data)
    except (OSError, ssl.SSLError) as e:
        out["ok"] = False
        out["error"] = f"{type(e).__name__}: {e}"
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--expect-uri")
    ap.add_argument("--host-header", default="b")
    ap.add_argument("--json", required=True)
    a = ap.parse_args()

    plain: dict = {}
    try:
        with socket.create_connection(("127.0.0.1", a.port), timeout=5) as s:
            s.sendall(request(a.host_header))
            s.settimeout(3)
            data = read_all(s)
            plain = {"ok": is_200(data), "answer": data[:40].decode("latin-1")}
    except OSError as e:
        plain = {"ok": False, "error": str(e)}
    no_cert = tls_probe(a, with_cert=False)
    with_cert = tls_probe(a, with_cert=True)
    res = {
        "plaintext_refused": not plain.get("ok"),
        "no_client_cert_refused": not no_cert.get("ok"),
        "client_cert_accepted": bool(with_cert.get("ok")),
        "tls": {k: with_cert.get(k) for k in ("version", "cipher", "peer_uris")},
        "probes": {"plaintext": plain, "no_cert": no_cert, "with_cert": with_cert},
    }
    if a.expect_uri:
        res["peer_uri_matches"] = with_cert.get("peer_uris") == [a.expect_uri]
    res["ok"] = (
        res["plaintext_refused"]
        and res["no_client_cert_refused"]
        and res["client_cert_accepted"]
        and with_cert.get("version") == "TLSv1.3"
        and res.get("peer_uri_matches", True)
    )
    Path(a.json).write_text(json.dumps(res, indent=2, sort_keys=True) + "\n")
    print(
        f"  mTLS check :{a.port}: plaintext refused {res['plaintext_refused']}, no client cert refused "
        f"{res['no_client_cert_refused']}, with cert {with_cert.get('status_line') or with_cert.get('error')} "
        f"({with_cert.get('version')} {with_cert.get('cipher')}, peer {with_cert.get('peer_uris')})",
        file=sys.stderr,
    )
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

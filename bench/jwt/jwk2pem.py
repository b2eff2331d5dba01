#!/usr/bin/env python3
"""The public keys of a JWKS as PEM, for HAProxy's `jwt_verify` (bench/jwt.sh).

  jwk2pem.py JWKS.json OUT.pem [--kid KID]

Writes the EC P-256 key with `kid` (default: the only or first EC P-256 key) as a
SubjectPublicKeyInfo PEM, with the Python `cryptography` package. Prints the kid used.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def b64(s: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)), "big")


def main() -> int:
    args = sys.argv[1:]
    if len(args) not in (2, 4) or (len(args) == 4 and args[2] != "--kid"):
        print(__doc__, file=sys.stderr)
        return 2
    want = args[3] if len(args) == 4 else None
    keys = [k for k in json.loads(Path(args[0]).read_text())["keys"]
            if k.get("kty") == "EC" and k.get("crv") == "P-256" and (want is None or k.get("kid") == want)]
    if not keys:
        print(f"no EC P-256 key{' with kid ' + want if want else ''} in {args[0]}", file=sys.stderr)
        return 1
    jwk = keys[0]
    key = ec.EllipticCurvePublicNumbers(b64(jwk["x"]), b64(jwk["y"]), ec.SECP256R1()).public_key()
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    Path(args[1]).write_bytes(pem)
    print(jwk.get("kid", ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

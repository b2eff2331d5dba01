#!/usr/bin/env python3
"""A P-256 key for a `private_key_jwt` OAuth client of bench/jwt.sh.

  client-key.py KEY.pem JWK.json

Writes the private key (PKCS#8 PEM, mode 0600) and its public JWK (with an RFC 7638
thumbprint as `kid`, `alg` ES256); prints the kid.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    key = ec.generate_private_key(ec.SECP256R1())
    nums = key.public_key().public_numbers()
    x, y = b64url(nums.x.to_bytes(32, "big")), b64url(nums.y.to_bytes(32, "big"))
    thumb = json.dumps({"crv": "P-256", "kty": "EC", "x": x, "y": y}, separators=(",", ":"))
    kid = b64url(hashlib.sha256(thumb.encode()).digest())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    jwk = {"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "alg": "ES256", "use": "sig"}
    Path(sys.argv[2]).write_text(json.dumps(jwk) + "\n")
    print(kid)
    return 0


if __name__ == "__main__":
    sys.exit(main())

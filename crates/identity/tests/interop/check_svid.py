"""Checks an X.509-SVID with Python's `cryptography`, independently of Rampart.

usage: check_svid.py ROOT_PEM LEAF_PEM EXPECTED_SPIFFE_ID TTL_SECS
Prints "svid ok" and exits 0, or prints the first broken rule and exits 1.
"""

import datetime
import sys

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID


def fail(message):
    print(message)
    sys.exit(1)


def main():
    root_path, leaf_path, expected, ttl = sys.argv[1:5]
    root = x509.load_pem_x509_certificate(open(root_path, "rb").read())
    leaf = x509.load_pem_x509_certificate(open(leaf_path, "rb").read())

    # The signature chains to the root (ECDSA roots only, as Rampart's CA).
    public_key = root.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        fail("root key is not ecdsa")
    public_key.verify(
        leaf.signature,
        leaf.tbs_certificate_bytes,
        ec.ECDSA(leaf.signature_hash_algorithm),
    )
    if leaf.issuer != root.subject:
        fail("issuer does not match the root subject")

    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    if uris != [expected]:
        fail(f"uri san is {uris}, expected exactly [{expected}]")
    if san.get_values_for_type(x509.DNSName):
        fail("unexpected dns san")

    basic = leaf.extensions.get_extension_for_class(x509.BasicConstraints).value
    if basic.ca:
        fail("leaf is a ca")
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    if not usage.critical:
        fail("key usage is not critical")
    if not usage.value.digital_signature or usage.value.key_cert_sign or usage.value.crl_sign:
        fail("key usage is not digitalSignature only")
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    if set(eku) != {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}:
        fail(f"extended key usage is {list(eku)}")

    now = datetime.datetime.now(datetime.timezone.utc)
    if not leaf.not_valid_before_utc <= now < leaf.not_valid_after_utc:
        fail("not valid now")
    lifetime = (leaf.not_valid_after_utc - now).total_seconds()
    if not 0 < lifetime <= int(ttl) + 5:
        fail(f"remaining lifetime {lifetime}s is beyond the ttl {ttl}s")
    print("svid ok")


if __name__ == "__main__":
    main()

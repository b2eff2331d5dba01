#!/usr/bin/env bash
# Throwaway PKI for the peer sidecars of bench/mesh.sh (Envoy and nginx pairs):
#
#   bench/mesh/pki.sh DIR
#
# writes into DIR an ECDSA P-256 CA (ca.pem, ca.key) and two leaf SVIDs as the SPIFFE
# X509-SVID spec describes them (a.pem/a.key, b.pem/b.key): one URI SAN
# spiffe://bench.local/ns/default/sa/{a,b}, CA:FALSE, keyUsage digitalSignature,
# extendedKeyUsage serverAuth+clientAuth, valid for 2 days.
#
# Each leaf also carries one DNS SAN ({a,b}.default.svc), which the spec allows: nginx can
# only check an upstream's certificate by host name (proxy_ssl_name), not by URI SAN. Envoy
# checks the URI SAN. The app-facing a.pem/b.pem hold the leaf only; the CA is given to
# every verifier as its trust anchor, like a SPIFFE trust bundle.
set -euo pipefail

DIR=${1:?usage: pki.sh DIR}
TRUST_DOMAIN=${TRUST_DOMAIN:-bench.local}
mkdir -p "$DIR"
cd "$DIR"

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key 2>/dev/null
openssl req -x509 -new -key ca.key -sha256 -days 2 -subj "/O=Rampart bench/CN=mesh bench CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectAltName=URI:spiffe://$TRUST_DOMAIN" \
    -out ca.pem 2>/dev/null

for svc in a b; do
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$svc.key" 2>/dev/null
    openssl req -new -key "$svc.key" -subj "/O=Rampart bench/CN=$svc" -out "$svc.csr" 2>/dev/null
    printf '%s\n' \
        "subjectAltName=critical,URI:spiffe://$TRUST_DOMAIN/ns/default/sa/$svc,DNS:$svc.default.svc" \
        "basicConstraints=critical,CA:FALSE" \
        "keyUsage=critical,digitalSignature" \
        "extendedKeyUsage=serverAuth,clientAuth" >"$svc.ext"
    openssl x509 -req -in "$svc.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -sha256 \
        -extfile "$svc.ext" -out "$svc.pem" 2>/dev/null
    openssl verify -CAfile ca.pem -purpose sslclient "$svc.pem" >/dev/null
    openssl verify -CAfile ca.pem -purpose sslserver "$svc.pem" >/dev/null
    rm -f "$svc.csr" "$svc.ext"
done
# Certificates readable by anyone; keys by the owner only (nginx's master and Envoy read
# them as root before anything drops privileges).
chmod 644 ./*.pem
chmod 600 ./*.key

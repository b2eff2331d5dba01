"""A real OAuth2 client (authlib) calling a route of the gateway that demands a bearer token.

argv: issuer, ca file, client id, client secret, gateway base URL (plain HTTP), and `revoke`
or `keep`. Does discovery and the client_credentials grant, calls the gateway with a token,
without one and with a token lacking the route's scope; with `revoke`, revokes the first token
(RFC 7009) and calls again until it is refused. Prints what it saw as JSON.
"""
import base64
import json
import sys
import time

import requests
from authlib.integrations.requests_client import OAuth2Session

issuer, ca, client_id, client_secret, gateway, mode = sys.argv[1:7]
meta = requests.get(issuer + "/.well-known/openid-configuration", verify=ca, timeout=10).json()
assert meta["issuer"] == issuer, meta


def token_for(scope):
    session = OAuth2Session(client_id, client_secret, scope=scope)
    return session, session.fetch_token(
        meta["token_endpoint"], grant_type="client_credentials", verify=ca
    )


def call(token=None):
    headers = {} if token is None else {"Authorization": "Bearer " + token}
    resp = requests.get(gateway + "/api/orders", headers=headers, timeout=10)
    body = resp.json() if resp.headers.get("content-type", "").startswith("application/json") else None
    claims = (body or {}).get("headers", {}).get("x-rampart-claims")
    if claims is not None:
        claims = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    return {
        "status": resp.status_code,
        "claims": claims,
        "www_authenticate": resp.headers.get("www-authenticate"),
        "body": body,
    }


out = {}
session, good = token_for("orders.read")
out["with_token"] = call(good["access_token"])
out["without_token"] = call()
_, narrow = token_for("orders.write")
out["lacking_scope"] = call(narrow["access_token"])

if mode == "revoke":
    session.revoke_token(
        meta["revocation_endpoint"], token=good["access_token"], verify=ca
    )
    started = time.monotonic()
    seen = call(good["access_token"])
    while seen["status"] == 200 and time.monotonic() - started < 30:
        time.sleep(0.25)
        seen = call(good["access_token"])
    out["after_revocation"] = seen
    out["revocation_seen_after_s"] = time.monotonic() - started
print(json.dumps(out))

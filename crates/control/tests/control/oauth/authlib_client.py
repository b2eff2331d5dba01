"""A real OAuth2 client (authlib) against a running Rampart control plane.

argv: issuer, ca file, client id, client secret. Does discovery, then client_credentials
with client_secret_basic and with client_secret_post, and prints the tokens as JSON.
"""
import json
import sys

import requests
from authlib.integrations.requests_client import OAuth2Session

issuer, ca, client_id, client_secret = sys.argv[1:5]
meta = requests.get(issuer + "/.well-known/openid-configuration", verify=ca, timeout=10).json()
assert meta["issuer"] == issuer, meta
assert "client_credentials" in meta["grant_types_supported"], meta

out = {}
for method in ("client_secret_basic", "client_secret_post"):
    session = OAuth2Session(
        client_id, client_secret, scope="orders.read", token_endpoint_auth_method=method
    )
    token = session.fetch_token(
        meta["token_endpoint"], grant_type="client_credentials", verify=ca
    )
    out[method] = token

jwks = requests.get(meta["jwks_uri"], verify=ca, timeout=10).json()
out["jwks_kids"] = [k["kid"] for k in jwks["keys"]]
print(json.dumps(out))

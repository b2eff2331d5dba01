#!/usr/bin/env python3
"""An OAuth2 client (client_credentials, with `requests`) calling the secrets store
(crates/rampart/tests/cli/secrets_shamir.rs).

  secrets_oauth_client.py ADDR CA CLIENT_ID SECRET_FILE PATH

Prints {"token": bool, "x_vault_token": status, "bearer": status} for GET /v1/secret/data/PATH
with the access token in X-Vault-Token and in Authorization: Bearer.
"""

import json
import sys

import requests


def main():
    addr, ca, client_id, secret_file, path = sys.argv[1:6]
    secret = open(secret_file).read().strip()
    r = requests.post(f"{addr}/oauth2/token", auth=(client_id, secret),
                      data={"grant_type": "client_credentials", "scope": "secrets"}, verify=ca, timeout=10)
    token = r.json().get("access_token") if r.status_code == 200 else None
    out = {"token": token is not None, "token_status": r.status_code}
    if token:
        url = f"{addr}/v1/secret/data/{path}"
        out["x_vault_token"] = requests.get(url, headers={"X-Vault-Token": token}, verify=ca, timeout=10).status_code
        out["bearer"] = requests.get(url, headers={"Authorization": f"Bearer {token}"}, verify=ca, timeout=10).status_code
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

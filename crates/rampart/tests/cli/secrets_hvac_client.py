#!/usr/bin/env python3
"""The secrets store driven by hvac, the Python Vault client (crates/rampart/tests/cli/secrets.rs).

  secrets_hvac_client.py ADDR CA_FILE TOKEN_FILE

Runs the KV v2 calls an application makes (write, read, CAS, patch, list, delete, undelete,
destroy, metadata, config, lookup_self) against ADDR, verifying TLS with CA_FILE, and prints
one JSON object describing what came back; the Rust test asserts on it. Exits 1 with the
traceback on stderr if hvac raises where it should not.
"""

import json
import sys

import hvac
from hvac import exceptions


def main() -> int:
    addr, ca, token_file = sys.argv[1:4]
    token = open(token_file).read().strip()
    client = hvac.Client(url=addr, token=token, verify=ca, timeout=10)
    kv = client.secrets.kv.v2
    out = {"authenticated": client.is_authenticated()}
    out["lookup_self"] = client.auth.token.lookup_self()["data"]["display_name"]

    w1 = kv.create_or_update_secret(path="app/db", secret={"user": "app", "password": "hvac-pw-1"})
    w2 = kv.create_or_update_secret(path="app/db", secret={"user": "app", "password": "hvac-pw-2"}, cas=1)
    out["versions_written"] = [w1["data"]["version"], w2["data"]["version"]]
    try:
        kv.create_or_update_secret(path="app/db", secret={"password": "stale"}, cas=1)
        out["stale_cas"] = "accepted"
    except exceptions.InvalidRequest as e:
        out["stale_cas"] = "refused"
        out["stale_cas_error"] = str(e)

    latest = kv.read_secret_version(path="app/db", raise_on_deleted_version=True)
    out["latest"] = {"data": latest["data"]["data"], "version": latest["data"]["metadata"]["version"]}
    first = kv.read_secret_version(path="app/db", version=1, raise_on_deleted_version=True)
    out["first"] = first["data"]["data"]

    kv.patch(path="app/db", secret={"password": "hvac-pw-3", "port": "5432"})
    patched = kv.read_secret_version(path="app/db", raise_on_deleted_version=True)
    out["patched"] = {"data": patched["data"]["data"], "version": patched["data"]["metadata"]["version"]}

    kv.create_or_update_secret(path="app/cache", secret={"url": "redis://cache"})
    kv.create_or_update_secret(path="app/nested/deep", secret={"k": "v"})
    out["list_app"] = kv.list_secrets(path="app")["data"]["keys"]

    kv.delete_secret_versions(path="app/db", versions=[1])
    try:
        kv.read_secret_version(path="app/db", version=1, raise_on_deleted_version=True)
        out["deleted_v1_read"] = "readable"
    except exceptions.InvalidPath:
        out["deleted_v1_read"] = "404"
    kv.undelete_secret_versions(path="app/db", versions=[1])
    out["undeleted_v1"] = kv.read_secret_version(path="app/db", version=1, raise_on_deleted_version=True)["data"]["data"]
    kv.destroy_secret_versions(path="app/db", versions=[2])
    meta = kv.read_secret_metadata(path="app/db")["data"]
    out["metadata"] = {
        "current_version": meta["current_version"],
        "oldest_version": meta["oldest_version"],
        "v1_deleted": meta["versions"]["1"]["deletion_time"] != "",
        "v2_destroyed": meta["versions"]["2"]["destroyed"],
        "max_versions": meta["max_versions"],
    }
    kv.update_metadata(path="app/db", max_versions=2, custom_metadata={"owner": "team-a"})
    meta = kv.read_secret_metadata(path="app/db")["data"]
    out["metadata_updated"] = {"max_versions": meta["max_versions"], "custom": meta["custom_metadata"]}

    kv.delete_latest_version_of_secret(path="app/cache")
    try:
        kv.read_secret_version(path="app/cache", raise_on_deleted_version=True)
        out["cache_after_delete"] = "readable"
    except exceptions.InvalidPath:
        out["cache_after_delete"] = "404"
    kv.delete_metadata_and_all_versions(path="app/nested/deep")
    out["list_after_metadata_delete"] = kv.list_secrets(path="app")["data"]["keys"]

    out["config_before"] = kv.read_configuration()["data"]
    kv.configure(max_versions=7)
    out["config_after"] = kv.read_configuration()["data"]

    bad = hvac.Client(url=addr, token="not-a-token", verify=ca, timeout=10)
    try:
        bad.secrets.kv.v2.read_secret_version(path="app/db", raise_on_deleted_version=True)
        out["bad_token"] = "readable"
    except exceptions.Forbidden:
        out["bad_token"] = "403"
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

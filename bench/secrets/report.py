#!/usr/bin/env python3
"""Report of bench/secrets.sh (standard library only).

  report.py --raw RAW_DIR --meta META.json --json OUT [--strict]

RAW_DIR holds one wrk output per run, `<server>-<read|write>.txt` (server: rampart, openbao),
and `<server>-<op>.cpu` with the server's CPU seconds during the run; META.json what the script
knew (versions, secrets, criterion figures). Prints the side-by-side table and the targets.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "jwt"))
from report import parse_wrk  # noqa: E402  (bench/jwt/report.py: wrk's output)

SERVERS = ("rampart", "openbao")
OPS = ("read", "write")
# Rampart's targets (docs/secrets.md, issue 6): per run on one core, and against OpenBao.
MIN_RPS = {"read": 20_000, "write": 5_000}
MIN_RATIO = 2.0


def load(raw: Path) -> dict:
    runs = {}
    for server in SERVERS:
        for op in OPS:
            out = raw / f"{server}-{op}.txt"
            if not out.exists():
                continue
            r = parse_wrk(out.read_text(errors="replace"))
            cpu = raw / f"{server}-{op}.cpu"
            if cpu.exists() and r["requests"]:
                r["cpu_us_per_req"] = round(float(cpu.read_text()) * 1e6 / r["requests"], 1)
            runs[f"{server}-{op}"] = r
    return runs


def fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--raw", required=True)
    p.add_argument("--meta", required=True)
    p.add_argument("--json", required=True)
    p.add_argument("--strict", action="store_true")
    a = p.parse_args()
    meta = json.loads(Path(a.meta).read_text())
    runs = load(Path(a.raw))

    print(f"KV v2 over HTTPS on loopback, {meta.get('secrets')} secrets, {meta.get('connections')} connections, "
          f"{meta.get('duration_s')} s per run, servers pinned: {meta.get('pinning')}")
    print(f"{'op':<6} {'server':<8} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'CPU µs/req':>11} {'non-2xx':>8}")
    for op in OPS:
        for server in SERVERS:
            r = runs.get(f"{server}-{op}")
            if r is None:
                continue
            print(f"{op:<6} {server:<8} {r['rps']:>10.0f} {fmt(r['p50_ms'], '.2f'):>8} {fmt(r['p99_ms'], '.2f'):>8} "
                  f"{fmt(r.get('cpu_us_per_req'), '.1f'):>11} {r['non_2xx'] + r['socket_errors']:>8}")
    crit = meta.get("criterion") or {}
    if crit:
        print("engine alone (criterion):", ", ".join(f"{k} {v}" for k, v in crit.items()))

    failures = []
    summary = {"meta": meta, "runs": runs, "targets": {}}
    for op in OPS:
        ours, theirs = runs.get(f"rampart-{op}"), runs.get(f"openbao-{op}")
        if ours is None:
            failures.append(f"no rampart {op} run")
            continue
        bad = ours["non_2xx"] + ours["socket_errors"]
        if bad:
            failures.append(f"rampart {op}: {bad} failed requests")
        if ours["rps"] < MIN_RPS[op]:
            failures.append(f"rampart {op}: {ours['rps']:.0f} req/s < {MIN_RPS[op]}")
        ratio = ours["rps"] / theirs["rps"] if theirs and theirs["rps"] else None
        if ratio is not None and ratio < MIN_RATIO:
            failures.append(f"rampart {op}: {ratio:.2f}x OpenBao < {MIN_RATIO}x")
        summary["targets"][op] = {"rps": ours["rps"], "min_rps": MIN_RPS[op], "ratio_to_openbao": ratio}
        print(f"target {op}: rampart {ours['rps']:.0f} req/s (>= {MIN_RPS[op]}), "
              f"{'-' if ratio is None else f'{ratio:.2f}'}x OpenBao (>= {MIN_RATIO}x)")
    summary["failures"] = failures
    Path(a.json).write_text(json.dumps(summary, indent=2) + "\n")
    for f in failures:
        print("MISSED:", f)
    return 1 if failures and a.strict else 0


if __name__ == "__main__":
    sys.exit(main())

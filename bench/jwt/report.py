#!/usr/bin/env python3
"""Records and report of bench/jwt.sh (standard library only).

  report.py record --name N --proxy P --route open|jwt --tokens same|distinct|none
                   --out WRK_OUTPUT --cpu0 T --cpu1 T --clk-tck HZ [--distinct-tokens K]
      -> one JSON line on stdout: req/s, p50/p99, non-2xx, the proxy's CPU µs per request
  report.py summarize --runs RUNS.jsonl --meta META.json --json OUT [--strict]
      -> the table and the targets on stdout, everything in OUT
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def ms(text: str) -> float | None:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    return float(m.group(1)) * UNITS[m.group(2)] if m else None


def parse_wrk(text: str) -> dict:
    """requests, seconds, req/s, p50/p99 (ms), non-2xx and socket errors from wrk's output."""
    out: dict = {"requests": 0, "seconds": None, "rps": 0.0, "p50_ms": None, "p99_ms": None,
                 "non_2xx": 0, "socket_errors": 0}
    if m := re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", text):
        out["requests"] = int(m.group(1))
        out["seconds"] = float(m.group(2)) * UNITS[m.group(3)] / 1e3
    if m := re.search(r"Requests/sec:\s+([\d.]+)", text):
        out["rps"] = float(m.group(1))
    for pct, key in (("50", "p50_ms"), ("99", "p99_ms")):
        if m := re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", text, re.M):
            out[key] = ms(m.group(1))
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text):
        out["non_2xx"] = int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text):
        out["socket_errors"] = sum(int(x) for x in m.groups())
    if m := re.search(r"tokens-run: (\d+) responses in ([\d.]+) s", text):
        # The distinct runs stop when their tokens are used up; wrk still counts the whole -d.
        n, secs = int(m.group(1)), float(m.group(2))
        if secs > 0 and out["seconds"] and secs < out["seconds"]:
            out["seconds"], out["rps"] = round(secs, 3), round(n / secs, 1)
    return out


def record(a: argparse.Namespace) -> int:
    r = parse_wrk(Path(a.out).read_text(errors="replace"))
    cpu_s = (a.cpu1 - a.cpu0) / a.clk_tck
    r.update(name=a.name, proxy=a.proxy, route=a.route, tokens=a.tokens,
             cpu_s=round(cpu_s, 3),
             cpu_us_per_req=round(cpu_s * 1e6 / r["requests"], 1) if r["requests"] else None,
             raw=Path(a.out).name)
    if a.distinct_tokens is not None:
        # Each token was sent once, except the requests past the end of the file (wrap-around).
        r["distinct_tokens"] = min(a.distinct_tokens, r["requests"])
        r["repeated_requests"] = max(0, r["requests"] - a.distinct_tokens)
    r["ok"] = r["requests"] > 0 and r["non_2xx"] == 0 and r["socket_errors"] == 0
    print(json.dumps(r))
    return 0


def fmt(v, spec: str = "{:.1f}") -> str:
    return "-" if v is None else spec.format(v)


def summarize(a: argparse.Namespace) -> int:
    runs = [json.loads(line) for line in Path(a.runs).read_text().splitlines() if line.strip()]
    meta = json.loads(Path(a.meta).read_text())
    by = {r["name"]: r for r in runs}

    lines = [f"JWT validation benchmark ({meta.get('started')}): {meta.get('connections')} connections, "
             f"{meta.get('duration_s')} s runs, one worker per proxy; {meta.get('pinning')}",
             f"  token: ES256, {meta.get('token_bytes')} bytes; Rampart {meta.get('versions', {}).get('rampart', '?')}, "
             f"HAProxy {meta.get('versions', {}).get('haproxy', '?')}, Envoy {meta.get('versions', {}).get('envoy', '?')}"
             f" (jwt cache: {'on' if meta.get('envoy_jwt_cache') else 'off, its default'})",
             "",
             f"{'run':<28} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'CPU µs/req':>10} {'non-2xx':>8}  note"]
    for r in runs:
        note = ""
        if "distinct_tokens" in r:
            note = f"{r['distinct_tokens']} distinct tokens"
            if r.get("repeated_requests"):
                note += f", {r['repeated_requests']} repeats"
        if not r["ok"]:
            note += " FAILED" + (f" ({r['socket_errors']} socket errors)" if r["socket_errors"] else "")
        lines.append(f"{r['name']:<28} {r['rps']:>9.0f} {fmt(r['p50_ms'], '{:.2f}'):>7} "
                     f"{fmt(r['p99_ms'], '{:.2f}'):>7} {fmt(r['cpu_us_per_req']):>10} {r['non_2xx']:>8}  {note}")

    iss = meta.get("issuance") or {}
    if iss:
        lines.append("")
        lines.append("Token endpoint (client_credentials, POST /oauth2/token over TLS, keep-alive):")
        for k, v in iss.items():
            cpu = v.get("cpu_us_per_issuance", {}).get("control")
            lines.append(f"  {k:<20} {v.get('issued')}/{v.get('requested')} in {v.get('wall_s')} s = "
                         f"{v.get('per_s')}/s, {v.get('concurrency')} concurrent"
                         + (f", control plane {cpu / 1000:.2f} ms CPU/issuance" if cpu else ""))

    def get(name: str, key: str):
        r = by.get(name)
        return r.get(key) if r and r.get("ok") else None

    targets = []
    failed = any(not r["ok"] for r in runs)
    same = get("rampart jwt same-token", "rps")
    peers = {p: get(f"{p} jwt same-token", "rps") for p in ("haproxy", "envoy")}
    peers = {p: v for p, v in peers.items() if v}
    if same and peers:
        best = max(peers, key=peers.get)
        ratio = same / peers[best]
        targets.append(("(a) repeated-token throughput >= 1.0x the better peer",
                        f"{ratio:.2f}x {best} ({same:.0f} vs {peers[best]:.0f} req/s)", ratio >= 1.0))
    open_cpu = get("rampart open", "cpu_us_per_req")
    same_cpu = get("rampart jwt same-token", "cpu_us_per_req")
    if open_cpu and same_cpu:
        ratio = same_cpu / open_cpu
        targets.append(("(b) repeated-token CPU/request <= 1.15x no validation",
                        f"{ratio:.2f}x ({same_cpu:.1f} vs {open_cpu:.1f} µs)", ratio <= 1.15))
    dist_cpu = get("rampart jwt distinct", "cpu_us_per_req")
    raw = meta.get("raw_verify_us")
    if open_cpu and dist_cpu:
        extra = dist_cpu - open_cpu
        if raw:
            ratio = extra / raw
            targets.append(("(c) distinct-token cost within 1.1x of raw verification",
                            f"{ratio:.2f}x ({dist_cpu:.1f} - {open_cpu:.1f} = {extra:.1f} µs per token vs "
                            f"{raw:.1f} µs criterion ES256 verify)", ratio <= 1.1))
        else:
            targets.append(("(c) distinct-token cost within 1.1x of raw verification",
                            f"{extra:.1f} µs per token ({dist_cpu:.1f} - {open_cpu:.1f}); no criterion figure "
                            f"this run (reference: about 55 µs per ES256 verification)", None))
    lines.append("")
    lines.append("Targets (Rampart):")
    for what, got, ok in targets:
        verdict = "n/a" if ok is None else ("met" if ok else "MISSED")
        lines.append(f"  {what:<58} {got:<60} {verdict}")
    text = "\n".join(lines)
    print(text)
    result = {"meta": meta, "runs": runs,
              "targets": [{"target": w, "value": g, "met": ok} for w, g, ok in targets]}
    Path(a.json).write_text(json.dumps(result, indent=2) + "\n")
    if a.strict and (failed or any(ok is False for _, _, ok in targets)):
        return 1
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("--name", required=True)
    r.add_argument("--proxy", required=True)
    r.add_argument("--route", required=True)
    r.add_argument("--tokens", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--cpu0", type=int, required=True)
    r.add_argument("--cpu1", type=int, required=True)
    r.add_argument("--clk-tck", type=int, required=True)
    r.add_argument("--distinct-tokens", type=int)
    s = sub.add_parser("summarize")
    s.add_argument("--runs", required=True)
    s.add_argument("--meta", required=True)
    s.add_argument("--json", required=True)
    s.add_argument("--strict", action="store_true")
    a = ap.parse_args()
    return record(a) if a.cmd == "record" else summarize(a)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Helper of bench/gateway.sh: parses wrk/h2load output and prints the tables.

  report.py record  --proxy P --scenario S --tool wrk|h2load --out FILE [--log FILE]
                    --cpu0 T --cpu1 T --up0 T --up1 T --clk-tck N
                    --status0 FILE --status1 FILE
      Parses one run, prints one JSON line (append it to runs.jsonl) and a
      progress line on stderr.
  report.py summarize --runs runs.jsonl --meta meta.json --json OUT.json
                    [--subject rampart] [--strict]
      Prints one table per scenario, the ratios of the subject to every peer
      and the targets; writes everything to OUT.json.

Standard library only.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

SCENARIO_TITLES = {
    "http": "HTTP/1.1 keep-alive, plaintext (wrk)",
    "tls": "HTTP/1.1 keep-alive over TLS 1.3 (wrk)",
    "h2": "HTTP/2 over TLS 1.3, ALPN h2 (h2load)",
}
# Scenarios that the targets apply to (h2 is informational).
TARGET_SCENARIOS = ("http", "tls")
IDLE_RSS_TARGET_KB = 20 * 1024


def _to_ms(value: str, unit: str) -> float:
    v = float(value)
    return {"us": v / 1000.0, "ms": v, "s": v * 1000.0, "m": v * 60000.0}[unit]


def parse_wrk(text: str) -> dict:
    res: dict = {"ok": False}
    m = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m)", text, re.M)
    if m:
        res["requests"] = int(m.group(1))
        res["elapsed_s"] = _to_ms(m.group(2), m.group(3)) / 1000.0
    m = re.search(r"^Requests/sec:\s*([\d.]+)", text, re.M)
    if m:
        res["rps"] = float(m.group(1))
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
        if m:
            res[f"p{pct}_ms"] = _to_ms(m.group(1), m.group(2))
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        errors += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        errors += int(m.group(1))
    res["errors"] = errors
    res["ok"] = all(k in res for k in ("requests", "rps", "p50_ms", "p99_ms"))
    return res


def _percentile(sorted_vals: list[int], pct: float) -> float:
    if not sorted_vals:
        return float("nan")
    # nearest-rank
    k = max(0, min(len(sorted_vals) - 1, math.ceil(pct / 100.0 * len(sorted_vals)) - 1))
    return float(sorted_vals[k])


def parse_h2load(text: str, log: Path | None) -> dict:
    res: dict = {"ok": False}
    m = re.search(r"^finished in ([\d.]+)(us|ms|s|m), ([\d.]+) req/s", text, re.M)
    if m:
        res["elapsed_s"] = _to_ms(m.group(1), m.group(2)) / 1000.0
        res["rps"] = float(m.group(3))
    m = re.search(
        r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout",
        text,
        re.M,
    )
    if m:
        total, _started, done, ok, failed, errored, timeout = (int(x) for x in m.groups())
        res["requests"] = ok
        res["errors"] = failed + errored + timeout + (done - ok if done > ok else 0)
    m = re.search(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text, re.M)
    if m:
        res["errors"] = res.get("errors", 0) + int(m.group(3)) + int(m.group(4))
    m = re.search(r"^Application protocol: (\S+)", text, re.M)
    res["alpn"] = m.group(1) if m else None
    m = re.search(r"^TLS Protocol: (\S+)", text, re.M)
    res["tls_protocol"] = m.group(1) if m else None
    m = re.search(r"^Cipher: (\S+)", text, re.M)
    res["cipher"] = m.group(1) if m else None
    if log is not None and log.exists():
        lat: list[int] = []
        with log.open() as fh:
            for line in fh:
                parts = line.split("\t")
                if len(parts) >= 3 and parts[1].strip().startswith("2"):
                    lat.append(int(parts[2]))
        lat.sort()
        for pct in (50, 75, 90, 99):
            res[f"p{pct}_ms"] = _percentile(lat, pct) / 1000.0
        res["latency_samples"] = len(lat)
    res["ok"] = (
        all(k in res for k in ("requests", "rps", "p50_ms", "p99_ms"))
        and res.get("alpn") == "h2"
        and res.get("requests", 0) > 0
    )
    return res


def parse_stub_status(path: str | None) -> dict | None:
    if not path:
        return None
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    m = re.search(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s*$", text, re.M)
    if not m:
        return None
    return {"accepts": int(m.group(1)), "handled": int(m.group(2)), "requests": int(m.group(3))}


def cmd_record(a: argparse.Namespace) -> int:
    text = Path(a.out).read_text(errors="replace") if Path(a.out).exists() else ""
    if a.tool == "wrk":
        res = parse_wrk(text)
    else:
        res = parse_h2load(text, Path(a.log) if a.log else None)
    rec: dict = {"proxy": a.proxy, "scenario": a.scenario, "tool": a.tool, "raw_output": a.out}
    rec.update(res)
    reqs = res.get("requests") or 0
    clk = a.clk_tck
    if a.cpu0 is not None and a.cpu1 is not None:
        rec["proxy_cpu_ticks"] = a.cpu1 - a.cpu0
        rec["proxy_cpu_us_per_req"] = (a.cpu1 - a.cpu0) / clk * 1e6 / reqs if reqs else None
    if a.up0 is not None and a.up1 is not None:
        rec["upstream_cpu_ticks"] = a.up1 - a.up0
        rec["upstream_cpu_us_per_req"] = (a.up1 - a.up0) / clk * 1e6 / reqs if reqs else None
    if a.gen0 is not None and a.gen1 is not None:
        rec["loadgen_cpu_ticks"] = a.gen1 - a.gen0
        rec["loadgen_cpu_us_per_req"] = (a.gen1 - a.gen0) / clk * 1e6 / reqs if reqs else None
    if a.all0 is not None and a.all1 is not None:
        # Everything else that ran on the machine meanwhile (other processes, the
        # kernel outside these processes' accounting), in percent of one CPU.
        rec["machine_cpu_ticks"] = a.all1 - a.all0
        ours = sum(rec.get(k, 0) for k in ("proxy_cpu_ticks", "upstream_cpu_ticks", "loadgen_cpu_ticks"))
        elapsed = res.get("elapsed_s") or 0
        if elapsed:
            rec["other_cpu_pct"] = max(0.0, (a.all1 - a.all0 - ours) / clk / elapsed * 100.0)
    s0, s1 = parse_stub_status(a.status0), parse_stub_status(a.status1)
    if s0 and s1:
        # -1: the status request itself is counted by nginx as accepted/handled.
        rec["upstream_new_connections"] = s1["accepts"] - s0["accepts"]
        rec["upstream_requests"] = s1["requests"] - s0["requests"] - 1
    print(json.dumps(rec, sort_keys=True))
    line = f"  {a.proxy:<8} {a.scenario:<5} "
    if res.get("ok"):
        line += f"{res['rps']:>10.0f} req/s  p50 {res['p50_ms']:.3f} ms  p99 {res['p99_ms']:.3f} ms"
        if rec.get("proxy_cpu_us_per_req") is not None:
            line += f"  proxy CPU {rec['proxy_cpu_us_per_req']:.1f} us/req"
        if rec.get("upstream_cpu_us_per_req") is not None:
            line += f"  upstream CPU {rec['upstream_cpu_us_per_req']:.1f} us/req"
        if rec.get("other_cpu_pct") is not None:
            line += f"  other {rec['other_cpu_pct']:.0f}%"
        if res.get("errors"):
            line += f"  ERRORS {res['errors']}"
    else:
        line += f"FAILED (see {a.out})"
    print(line, file=sys.stderr)
    return 0


def _fmt(v, spec: str, dash: str = "-") -> str:
    if v is None:
        return dash
    return format(v, spec)


def _ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def cmd_summarize(a: argparse.Namespace) -> int:
    runs = [json.loads(line) for line in Path(a.runs).read_text().splitlines() if line.strip()]
    meta = json.loads(Path(a.meta).read_text()) if a.meta and Path(a.meta).exists() else {}
    subject = a.subject
    out: dict = {"meta": meta, "runs": runs, "ratios": {}, "targets": {}}
    failures: list[str] = []

    order = meta.get("proxies_run") or sorted({r["proxy"] for r in runs})
    scenarios = [s for s in ("http", "tls", "h2") if any(r["scenario"] == s for r in runs)]
    by = {(r["proxy"], r["scenario"]): r for r in runs}

    print()
    print(
        f"Rampart gateway benchmark: {meta.get('connections', '?')} connections, "
        f"{meta.get('duration_s', '?')} s per run after {meta.get('warmup_s', '?')} s warm-up, "
        f"pinning: {meta.get('pinning', '?')}"
    )
    for sc in scenarios:
        print()
        print(f"== {sc}: {SCENARIO_TITLES.get(sc, sc)}")
        hdr = (
            f"{'name':<9} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU us/req':>10} "
            f"{'upstr us/req':>12} {'upstr conns':>11} {'errors':>6} {'other %':>7}"
        )
        print(hdr)
        print("-" * len(hdr))
        for p in ["direct"] + [x for x in order if x != "direct"]:
            r = by.get((p, sc))
            if r is None:
                continue
            if not r.get("ok"):
                print(f"{p:<9} {'FAILED':>9}   ({r.get('raw_output')})")
                continue
            cpu = None if p == "direct" else r.get("proxy_cpu_us_per_req")
            print(
                f"{p:<9} {r['rps']:>9.0f} {r['p50_ms']:>8.3f} {r['p99_ms']:>8.3f} "
                f"{_fmt(cpu, '>10.1f'):>10} {_fmt(r.get('upstream_cpu_us_per_req'), '>12.1f'):>12} "
                f"{_fmt(r.get('upstream_new_connections'), '>11d'):>11} {r.get('errors', 0):>6} "
                f"{_fmt(r.get('other_cpu_pct'), '>7.0f'):>7}"
            )

        peers = [
            by[(p, sc)]
            for p in order
            if p not in ("direct", subject) and (p, sc) in by and by[(p, sc)].get("ok")
        ]
        subj = by.get((subject, sc))
        if subj is None or not subj.get("ok") or not peers:
            continue
        print()
        print(f"{subject} / peer   (req/s: higher is better; p50, p99, CPU: lower is better)")
        print(f"{'peer':<9} {'req/s':>7} {'p50':>7} {'p99':>7} {'CPU/req':>8}")
        ratios = {}
        for r in peers:
            rr = {
                "rps": _ratio(subj["rps"], r["rps"]),
                "p50": _ratio(subj["p50_ms"], r["p50_ms"]),
                "p99": _ratio(subj["p99_ms"], r["p99_ms"]),
                "cpu_per_req": _ratio(subj.get("proxy_cpu_us_per_req"), r.get("proxy_cpu_us_per_req")),
            }
            ratios[r["proxy"]] = rr
            print(
                f"{r['proxy']:<9} {_fmt(rr['rps'], '.2f'):>7} {_fmt(rr['p50'], '.2f'):>7} "
                f"{_fmt(rr['p99'], '.2f'):>7} {_fmt(rr['cpu_per_req'], '.2f'):>8}"
            )
        out["ratios"][sc] = ratios
        if sc in TARGET_SCENARIOS:
            best_cpu = min(r["proxy_cpu_us_per_req"] for r in peers if r.get("proxy_cpu_us_per_req") is not None)
            best_rps = max(r["rps"] for r in peers)
            best_p99 = min(r["p99_ms"] for r in peers)
            checks = {
                "cpu_per_req": (subj.get("proxy_cpu_us_per_req"), "<=", best_cpu),
                "rps": (subj["rps"], ">=", best_rps),
                "p99_ms": (subj["p99_ms"], "<=", best_p99),
            }
            tgt = {}
            for name, (val, op, best) in checks.items():
                ok = val is not None and (val <= best if op == "<=" else val >= best)
                tgt[name] = {"value": val, "best_peer": best, "op": op, "pass": ok}
                print(f"  target {sc} {name:<12} {subject} {_fmt(val, '.3f')} {op} best peer {best:.3f}: {'PASS' if ok else 'FAIL'}")
                if not ok:
                    failures.append(f"{sc} {name}")
            out["targets"][sc] = tgt

    rss = meta.get("rss_kb", {})
    if rss:
        print()
        print("== resident memory (VmRSS summed over the proxy's processes)")
        print(f"{'name':<9} {'idle MiB':>9} {'peak MiB':>9}")
        for p in order:
            if p in rss:
                idle = rss[p].get("idle")
                peak = rss[p].get("peak")
                print(
                    f"{p:<9} {_fmt(idle / 1024 if idle else None, '>9.1f'):>9} "
                    f"{_fmt(peak / 1024 if peak else None, '>9.1f'):>9}"
                )
        if subject in rss and rss[subject].get("idle") is not None:
            idle = rss[subject]["idle"]
            ok = idle <= IDLE_RSS_TARGET_KB
            out["targets"]["idle_rss_kb"] = {"value": idle, "limit": IDLE_RSS_TARGET_KB, "pass": ok}
            print(f"  target idle RSS {subject} {idle / 1024:.1f} MiB <= 20 MiB: {'PASS' if ok else 'FAIL'}")
            if not ok:
                failures.append("idle_rss")

    bad = [f"{r['proxy']}/{r['scenario']}" for r in runs if not r.get("ok") or r.get("errors")]
    if bad:
        print()
        print("runs that failed or had errors: " + ", ".join(bad))
    out["failed_targets"] = failures
    Path(a.json).write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    print()
    print(f"raw results: {a.json}")
    if a.strict and (failures or bad):
        return 1
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("--proxy", required=True)
    r.add_argument("--scenario", required=True)
    r.add_argument("--tool", choices=("wrk", "h2load"), required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--log")
    r.add_argument("--cpu0", type=int)
    r.add_argument("--cpu1", type=int)
    r.add_argument("--up0", type=int)
    r.add_argument("--up1", type=int)
    r.add_argument("--gen0", type=int)
    r.add_argument("--gen1", type=int)
    r.add_argument("--all0", type=int)
    r.add_argument("--all1", type=int)
    r.add_argument("--clk-tck", type=int, default=100)
    r.add_argument("--status0")
    r.add_argument("--status1")
    s = sub.add_parser("summarize")
    s.add_argument("--runs", required=True)
    s.add_argument("--meta")
    s.add_argument("--json", required=True)
    s.add_argument("--subject", default="rampart")
    s.add_argument("--strict", action="store_true")
    a = ap.parse_args()
    return cmd_record(a) if a.cmd == "record" else cmd_summarize(a)


if __name__ == "__main__":
    sys.exit(main())

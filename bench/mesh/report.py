#!/usr/bin/env python3
"""Helper of bench/mesh.sh: records closed-loop runs and prints the mesh benchmark's tables.

  report.py closed --path NAME --out WRK_OUTPUT --json OUT.json
                   [--a0 T --a1 T --b0 T --b1 T] --app0 T --app1 T --gen0 T --gen1 T
                   --all0 T --all1 T --clk-tck N [--status0 F --status1 F] [--hop-conns N]
      Parses one wrk run (bench/report.py's parser) with the CPU ticks of sidecar A, sidecar
      B, the app and the load generator; writes one JSON file and a progress line.
  report.py summarize --raw DIR --meta meta.json --json OUT.json [--subject rampart] [--strict]
      Reads DIR/<path>-{closed,open,hs,mtls}.json and DIR/svid.json, prints the tables, ratios
      and targets, writes everything to OUT.json.

Standard library only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from report import parse_stub_status, parse_wrk  # noqa: E402  (bench/report.py)

PEERS = ("nginx", "envoy")
ORDER = ("direct", "nginx", "envoy", "rampart")
TARGET_ADDED_P99_MS = 1.0
TARGET_IDLE_RSS_KB = 20 * 1024
TARGET_LOAD_RSS_KB = 40 * 1024


def _load(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _fmt(v, spec: str, dash: str = "-") -> str:
    return dash if v is None else format(v, spec)


def _ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def _per_req(t0, t1, clk, reqs):
    if t0 is None or t1 is None or not reqs:
        return None
    return (t1 - t0) / clk * 1e6 / reqs


def cmd_closed(a: argparse.Namespace) -> int:
    text = Path(a.out).read_text(errors="replace") if Path(a.out).exists() else ""
    rec: dict = {"path": a.path, "tool": "wrk", "raw_output": a.out}
    rec.update(parse_wrk(text))
    reqs = rec.get("requests") or 0
    clk = a.clk_tck
    rec["a_cpu_us_per_req"] = _per_req(a.a0, a.a1, clk, reqs)
    rec["b_cpu_us_per_req"] = _per_req(a.b0, a.b1, clk, reqs)
    rec["app_cpu_us_per_req"] = _per_req(a.app0, a.app1, clk, reqs)
    rec["loadgen_cpu_us_per_req"] = _per_req(a.gen0, a.gen1, clk, reqs)
    ticks = {k: (getattr(a, k + "1") - getattr(a, k + "0")) for k in ("a", "b", "app", "gen")
             if getattr(a, k + "0") is not None and getattr(a, k + "1") is not None}
    rec["cpu_ticks"] = ticks
    if a.all0 is not None and a.all1 is not None and rec.get("elapsed_s"):
        rec["other_cpu_pct"] = max(0.0, (a.all1 - a.all0 - sum(ticks.values())) / clk / rec["elapsed_s"] * 100.0)
    s0, s1 = parse_stub_status(a.status0), parse_stub_status(a.status1)
    if s0 and s1:
        rec["app_new_connections"] = s1["accepts"] - s0["accepts"] - 1  # -1: the status request itself
    if a.hop_conns is not None:
        rec["hop_connections_open"] = a.hop_conns
        if a.hop_opened0 is not None and a.hop_opened1 is not None:
            rec["hop_new_connections"] = a.hop_opened1 - a.hop_opened0
            rec["hop_new_connections_source"] = "sidecar A's own counter"
        elif a.passive0 is not None and a.passive1 is not None and "app_new_connections" in rec:
            rec["hop_new_connections_source"] = "estimate: PassiveOpens of the machine - wrk's - the app's"
            # Every connection accepted on the machine during the run, less wrk's own and
            # B's new ones to the app: the connections A opened to B (0-few when pooled).
            rec["hop_new_connections"] = max(
                0, a.passive1 - a.passive0 - (a.clients or 0) - rec["app_new_connections"]
            )
    Path(a.json).write_text(json.dumps(rec, indent=2, sort_keys=True) + "\n")
    line = f"  {a.path:<8} closed loop "
    if rec.get("ok"):
        line += f"{rec['rps']:>9.0f} req/s  p50 {rec['p50_ms']:.3f} ms  p99 {rec['p99_ms']:.3f} ms"
        for side in ("a", "b"):
            if rec.get(f"{side}_cpu_us_per_req") is not None:
                line += f"  {side.upper()} {rec[f'{side}_cpu_us_per_req']:.1f} us/req"
        if rec.get("other_cpu_pct") is not None:
            line += f"  other {rec['other_cpu_pct']:.0f}%"
        if rec.get("errors"):
            line += f"  ERRORS {rec['errors']}"
    else:
        line += f"FAILED (see {a.out})"
    print(line, file=sys.stderr)
    return 0


def cmd_summarize(a: argparse.Namespace) -> int:
    raw = Path(a.raw)
    meta = _load(Path(a.meta)) or {}
    subject = a.subject
    paths = [p for p in ORDER if any((raw / f"{p}-{k}.json").exists() for k in ("closed", "open", "hs"))]
    closed = {p: _load(raw / f"{p}-closed.json") for p in paths}
    opened = {p: _load(raw / f"{p}-open.json") for p in paths}
    hs = {p: _load(raw / f"{p}-hs.json") for p in paths}
    mtls = {p: _load(raw / f"{p}-mtls.json") for p in paths}
    svid = _load(raw / "svid.json")
    rss = meta.get("rss_kb", {})
    out: dict = {"meta": meta, "closed": closed, "open": opened, "handshakes": hs, "mtls_checks": mtls,
                 "svid": svid, "ratios": {}, "added_p99_ms": {}, "targets": {}}
    failures: list[str] = []
    ok = lambda r: bool(r and r.get("ok"))  # noqa: E731

    print()
    print(
        f"Rampart mesh benchmark: client -> sidecar A -> (mTLS, TLS 1.3, pooled) -> sidecar B -> app; "
        f"{meta.get('connections', '?')} connections, {meta.get('duration_s', '?')} s per closed-loop run "
        f"after {meta.get('warmup_s', '?')} s warm-up; pinning: {meta.get('pinning', '?')}"
    )
    skipped = meta.get("skipped", {})
    for p, why in skipped.items():
        print(f"  {p}: SKIPPED: {why}")

    # --- closed loop
    print()
    print("== closed loop (wrk, fixed concurrency): throughput and latency")
    hdr = (f"{'path':<8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'A us/req':>9} {'B us/req':>9} "
           f"{'hop open':>8} {'hop new':>7} {'app new':>7} {'errors':>6} {'other %':>7}")
    print(hdr)
    print("-" * len(hdr))
    for p in paths:
        r = closed.get(p)
        if r is None:
            continue
        if not ok(r):
            print(f"{p:<8} {'FAILED':>9}   ({r.get('raw_output')})")
            continue
        print(
            f"{p:<8} {r['rps']:>9.0f} {r['p50_ms']:>8.3f} {r['p99_ms']:>8.3f} "
            f"{_fmt(r.get('a_cpu_us_per_req'), '>9.1f'):>9} {_fmt(r.get('b_cpu_us_per_req'), '>9.1f'):>9} "
            f"{_fmt(r.get('hop_connections_open'), '>8d'):>8} {_fmt(r.get('hop_new_connections'), '>7d'):>7} "
            f"{_fmt(r.get('app_new_connections'), '>7d'):>7} "
            f"{r.get('errors', 0):>6} {_fmt(r.get('other_cpu_pct'), '>7.0f'):>7}"
        )
    print("   A/B us/req: CPU time of each sidecar per request; hop open/new: A->B connections open after the run /"
          " opened during it (pooled: 0-few new); app new: connections opened to the app during the run")
    good_peers = [closed[p] for p in PEERS if ok(closed.get(p))]
    best = max(good_peers, key=lambda r: r["rps"]) if good_peers else None
    direct = closed.get("direct") if ok(closed.get("direct")) else None
    if best or direct:
        print()
        best_name = best["path"] if best else "-"
        print(f"ratios: path / best peer pair ({best_name}) and path / direct  "
              f"(req/s: higher is better; p50, p99: lower is better)")
        print(f"{'path':<8} {'req/s vs best':>13} {'p50 vs best':>11} {'p99 vs best':>11} {'req/s vs direct':>15} {'p99 vs direct':>13}")
        for p in paths:
            r = closed.get(p)
            if not ok(r) or p == "direct":
                continue
            rr = {
                "rps_vs_best_peer": _ratio(r["rps"], best["rps"]) if best else None,
                "p50_vs_best_peer": _ratio(r["p50_ms"], best["p50_ms"]) if best else None,
                "p99_vs_best_peer": _ratio(r["p99_ms"], best["p99_ms"]) if best else None,
                "rps_vs_direct": _ratio(r["rps"], direct["rps"]) if direct else None,
                "p99_vs_direct": _ratio(r["p99_ms"], direct["p99_ms"]) if direct else None,
                "best_peer": best_name,
            }
            out["ratios"][p] = rr
            print(f"{p:<8} {_fmt(rr['rps_vs_best_peer'], '.2f'):>13} {_fmt(rr['p50_vs_best_peer'], '.2f'):>11} "
                  f"{_fmt(rr['p99_vs_best_peer'], '.2f'):>11} {_fmt(rr['rps_vs_direct'], '.2f'):>15} "
                  f"{_fmt(rr['p99_vs_direct'], '.2f'):>13}")

    # --- open loop
    print()
    rate = next((o.get("target_rate") for o in opened.values() if o), None)
    print(f"== open loop at {_fmt(rate, '.0f')} req/s (openloop.py): latency, and what the two sidecars add")
    rounds = next((o.get("round_count") for o in opened.values() if o), None)
    print("   service = from writing the request; corrected = from when it was due (no coordinated omission)")
    if rounds and rounds > 1:
        print(f"   each row: the median (by service p99) of {rounds} runs; all runs' p99s in the last column")
    hdr = (f"{'path':<8} {'achieved/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'p99.9 ms':>8} {'corr p99':>8} "
           f"{'added p99':>9} {'added corr':>10} {'errors':>6} {'other %':>7}  p99 of each run")
    print(hdr)
    print("-" * len(hdr))
    od = opened.get("direct") if ok(opened.get("direct")) else None
    for p in paths:
        o = opened.get(p)
        if o is None:
            continue
        if not ok(o):
            print(f"{p:<8} {'FAILED':>10}   ({o.get('error') or o.get('error_kinds')})")
            continue
        s, c = o["service"], o["corrected"]
        added = (s["p99_ms"] - od["service"]["p99_ms"]) if od and p != "direct" else None
        added_c = (c["p99_ms"] - od["corrected"]["p99_ms"]) if od and p != "direct" else None
        if p != "direct":
            out["added_p99_ms"][p] = {"service": added, "corrected": added_c}
        print(f"{p:<8} {_fmt(o.get('achieved_rate'), '>10.0f'):>10} {s['p50_ms']:>8.3f} {s['p99_ms']:>8.3f} "
              f"{_fmt(s.get('p99_9_ms'), '>8.3f'):>8} {c['p99_ms']:>8.3f} {_fmt(added, '>9.3f'):>9} "
              f"{_fmt(added_c, '>10.3f'):>10} {o.get('errors', 0):>6} {_fmt(o.get('other_cpu_pct'), '>7.0f'):>7}  "
              + " ".join(_fmt(r.get("service_p99_ms"), ".3f") for r in o.get("rounds", [])))

    # --- handshakes
    print()
    print("== new mTLS handshakes at sidecar B (full TLS 1.3 handshakes with a client certificate, "
          "no resumption, one request each)")
    hdr = f"{'path':<8} {'handshakes':>10} {'per s':>8} {'per B CPU-s':>11} {'B us each':>9} {'errors':>6}  tls"
    print(hdr)
    print("-" * len(hdr))
    for p in paths:
        h = hs.get(p)
        if h is None:
            continue
        b = (h.get("server") or {}).get("b", {})
        tls = h.get("tls") or {}
        print(f"{p:<8} {h.get('handshakes', 0):>10} {_fmt(h.get('per_s'), '>8.0f'):>8} "
              f"{_fmt(b.get('per_cpu_s'), '>11.0f'):>11} {_fmt(b.get('cpu_us_per_handshake'), '>9.0f'):>9} "
              f"{h.get('errors', 0):>6}  {tls.get('version', '')} {tls.get('cipher', '')}"
              + (f"  ({h.get('first_error')})" if h.get("errors") else ""))

    # --- mTLS checks
    if any(mtls.values()):
        print()
        print("== mTLS on B's port (plaintext refused / no client certificate refused / with certificate)")
        for p in paths:
            m = mtls.get(p)
            if not m:
                continue
            t = m.get("tls") or {}
            print(f"{p:<8} {'yes' if m.get('plaintext_refused') else 'NO':>4} / "
                  f"{'yes' if m.get('no_client_cert_refused') else 'NO':>4} / "
                  f"{'200' if m.get('client_cert_accepted') else 'FAILED'}  {t.get('version')} {t.get('cipher')} "
                  f"peer {','.join(t.get('peer_uris') or [])}")

    # --- memory
    if rss:
        print()
        print("== resident memory per sidecar (VmRSS, MiB; nginx: master + worker)")
        hdr = f"{'path':<8} {'A idle':>7} {'B idle':>7} {'A@rate':>7} {'B@rate':>7} {'A peak':>7} {'B peak':>7}"
        print(hdr)
        print("-" * len(hdr))
        for p in paths:
            if p not in rss:
                continue
            m = rss[p]
            w = (opened.get(p) or {}).get("watch", {})
            la = (w.get("a") or {}).get("rss_kb_max")
            lb = (w.get("b") or {}).get("rss_kb_max")
            mib = lambda kb: None if not kb else kb / 1024  # noqa: E731
            print(f"{p:<8} {_fmt(mib(m.get('a_idle')), '>7.1f'):>7} {_fmt(mib(m.get('b_idle')), '>7.1f'):>7} "
                  f"{_fmt(mib(la), '>7.1f'):>7} {_fmt(mib(lb), '>7.1f'):>7} "
                  f"{_fmt(mib(m.get('a_peak')), '>7.1f'):>7} {_fmt(mib(m.get('b_peak')), '>7.1f'):>7}")
        print("   A@rate/B@rate: the largest VmRSS sampled (every 0.5 s) during the open-loop run; "
              "peak: VmHWM after all runs (includes the closed-loop and handshake runs)")

    # --- SVIDs
    if svid:
        print()
        print(f"== SVID issuance (Rampart control plane; {svid.get('concurrency')} concurrent keep-alive clients)")
        for name, title in (("join_tokens", "join tokens created (admin API)"),
                            ("issue", "SVIDs issued (join token + CSR)"),
                            ("renew", "SVIDs renewed (mTLS with the current SVID)")):
            ph = (svid.get("phases") or {}).get(name)
            if not ph:
                continue
            print(f"  {title:<44} {ph['ok']:>5}/{ph['count']:<5} {_fmt(ph.get('per_s'), '>7.0f'):>7}/s"
                  f"   {_fmt(ph.get('per_server_cpu_s'), '>7.0f'):>7} per control-plane CPU-second"
                  + (f"  ERRORS {ph['errors']}" if ph.get("errors") else ""))
        chk = svid.get("svid_check") or {}
        if chk:
            print(f"  independent check of an issued SVID ({chk.get('spiffe_id')}): "
                  f"{'ok' if not chk.get('problems') else chk['problems']}")

    # --- targets
    sc = closed.get(subject)
    if ok(sc) or ok(opened.get(subject)) or subject in rss:
        print()
        print(f"== targets ({subject})")

        def check(name: str, val, op: str, limit, unit: str = "") -> None:
            passed = val is not None and limit is not None and (val <= limit if op == "<=" else val >= limit)
            out["targets"][name] = {"value": val, "op": op, "limit": limit, "pass": passed}
            print(f"  {name:<34} {_fmt(val, '.3f')}{unit} {op} {_fmt(limit, '.3f')}{unit}: {'PASS' if passed else 'FAIL'}")
            if not passed:
                failures.append(name)

        if ok(sc) and best:
            check(f"req/s >= best peer ({best['path']})", sc["rps"], ">=", best["rps"])
            check(f"p99 ms <= best peer's ({best['path']})", sc["p99_ms"], "<=", best["p99_ms"])
        added = (out["added_p99_ms"].get(subject) or {}).get("service")
        if ok(opened.get(subject)) and added is not None:
            check(f"added p99 at {_fmt(rate, '.0f')} rps (ms)", added, "<=", TARGET_ADDED_P99_MS)
        m = rss.get(subject) or {}
        w = (opened.get(subject) or {}).get("watch", {})
        for side in ("a", "b"):
            if m.get(f"{side}_idle"):
                check(f"sidecar {side.upper()} idle RSS (MiB)", m[f"{side}_idle"] / 1024, "<=", TARGET_IDLE_RSS_KB / 1024)
            load = (w.get(side) or {}).get("rss_kb_max")
            if load:
                check(f"sidecar {side.upper()} RSS at {_fmt(rate, '.0f')} rps (MiB)", load / 1024, "<=",
                      TARGET_LOAD_RSS_KB / 1024)

    bad = [f"{p}/{k}" for p in paths for k, d in (("closed", closed), ("open", opened), ("handshakes", hs), ("mtls", mtls))
           if d.get(p) is not None and not ok(d.get(p))]
    if svid is not None and not ok(svid):
        bad.append("svid")
    if bad:
        print()
        print("runs that failed or had errors: " + ", ".join(bad))
    out["failed_targets"] = failures
    out["failed_runs"] = bad
    Path(a.json).write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    print()
    print(f"results: {a.json}")
    if a.strict and (failures or bad or skipped):
        return 1
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("closed")
    c.add_argument("--path", required=True)
    c.add_argument("--out", required=True)
    c.add_argument("--json", required=True)
    for k in ("a", "b", "app", "gen", "all"):
        c.add_argument(f"--{k}0", type=int)
        c.add_argument(f"--{k}1", type=int)
    c.add_argument("--clk-tck", type=int, default=100)
    c.add_argument("--status0")
    c.add_argument("--status1")
    c.add_argument("--hop-conns", type=int)
    c.add_argument("--passive0", type=int)
    c.add_argument("--hop-opened0", type=int)
    c.add_argument("--hop-opened1", type=int)
    c.add_argument("--passive1", type=int)
    c.add_argument("--clients", type=int)
    s = sub.add_parser("summarize")
    s.add_argument("--raw", required=True)
    s.add_argument("--meta", required=True)
    s.add_argument("--json", required=True)
    s.add_argument("--subject", default="rampart")
    s.add_argument("--strict", action="store_true")
    a = ap.parse_args()
    return cmd_closed(a) if a.cmd == "closed" else cmd_summarize(a)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Open-loop HTTP/1.1 load at a fixed request rate (wrk2-like), for bench/mesh.sh.

  openloop.py --port P [--host-header b] [--rate 1000] [--duration 10] [--warmup 1]
              [--connections 32] [--timeout 2] [--watch NAME=PID[,PID]]... --json OUT

Requests are scheduled at fixed intervals (1/rate) whatever the server does: request i is
due at t0 + i/rate and is written on an idle keep-alive connection of a fixed pool (a due
request waits in a backlog when none is idle). Two latencies are recorded for each request:

- service: from the moment the request was written to the end of its response;
- corrected: from the moment it was due (includes any wait in the backlog, so a server
  stall is not hidden: no coordinated omission).

One thread, non-blocking sockets and select() with microsecond timeouts (epoll's
timeouts are whole milliseconds, too coarse for 1 ms spacing). Only 127.0.0.1; bounded by
count (rate x (warmup + duration)) and by time (duration + warmup + timeout + 5 s).

With --watch, the resident memory (VmRSS) and CPU time of the named processes (each a pid
and its descendants) are sampled every 0.5 s during the measured part, and the machine's
busy time that neither they nor the generator account for is reported as other_cpu_pct. Standard library
only.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import select
import socket
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
import procstat  # noqa: E402


class Conn:
    """One keep-alive connection and the request in flight on it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = self._connect()
        self.buf = b""
        self.due = 0.0
        self.sent = 0.0
        self.measured = False

    def _connect(self) -> socket.socket:
        s = socket.create_connection(("127.0.0.1", self.port), timeout=2)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        return s

    def reconnect(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
        self.sock = self._connect()
        self.buf = b""


def response_end(buf: bytes) -> tuple[int, int] | None:
    """(status, length of the whole response) once `buf` holds a complete response."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = buf[:head_end].decode("latin-1")
    lines = head.split("\r\n")
    try:
        status = int(lines[0].split(" ", 2)[1])
    except (IndexError, ValueError):
        return (0, len(buf))
    length = None
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    body_start = head_end + 4
    if chunked:
        end = buf.find(b"0\r\n\r\n", body_start)
        return None if end < 0 else (status, end + 5)
    total = body_start + (length or 0)
    return (status, total) if len(buf) >= total else None


def percentile(sorted_vals: list[float], pct: float) -> float | None:
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, math.ceil(pct / 100.0 * len(sorted_vals)) - 1))
    return sorted_vals[k]


def summarize(vals_s: list[float]) -> dict:
    v = sorted(x * 1000.0 for x in vals_s)
    out = {f"p{str(p).replace('.', '_')}_ms": percentile(v, p) for p in (50, 90, 99, 99.9)}
    out["max_ms"] = v[-1] if v else None
    out["mean_ms"] = sum(v) / len(v) if v else None
    return out


def run_rounds(a: argparse.Namespace) -> dict:
    """--rounds runs; the round with the median service p99 stands for all (its figures at
    the top level), every round's summary in `rounds`, memory maxima over all rounds."""
    results = []
    for i in range(a.rounds):
        a.round_warmup = a.warmup if i == 0 else min(a.warmup, 0.2)
        results.append(run(a))
    good = [r for r in results if r.get("ok")]
    pool = good or results
    pool_sorted = sorted(pool, key=lambda r: (r.get("service") or {}).get("p99_ms") or 0.0)
    res = dict(pool_sorted[(len(pool_sorted) - 1) // 2])
    res["rounds"] = [
        {
            "service_p99_ms": (r.get("service") or {}).get("p99_ms"),
            "corrected_p99_ms": (r.get("corrected") or {}).get("p99_ms"),
            "service_p50_ms": (r.get("service") or {}).get("p50_ms"),
            "other_cpu_pct": r.get("other_cpu_pct"),
            "errors": r.get("errors"),
            "requests": r.get("requests"),
        }
        for r in results
    ]
    res["round_count"] = a.rounds
    res["errors"] = sum(r.get("errors", 0) for r in results)
    res["ok"] = len(good) == len(results) and res["errors"] == 0
    if res.get("watch"):
        for n in res["watch"]:
            maxima = [r["watch"][n]["rss_kb_max"] for r in results if r.get("watch", {}).get(n, {}).get("rss_kb_max")]
            res["watch"][n] = dict(res["watch"][n], rss_kb_max=max(maxima) if maxima else None)
    return res


def run(a: argparse.Namespace) -> dict:
    request = f"GET {a.path} HTTP/1.1\r\nHost: {a.host_header}\r\nUser-Agent: rampart-bench-openloop\r\n\r\n".encode()
    watch = procstat.parse_groups(a.watch)
    conns = [Conn(a.port) for _ in range(a.connections)]
    idle: collections.deque[Conn] = collections.deque(conns)
    busy: dict[int, Conn] = {}
    backlog: collections.deque[float] = collections.deque()
    interval = 1.0 / a.rate
    warmup = a.round_warmup
    total = int(round(a.rate * (warmup + a.duration)))
    t0 = time.perf_counter() + 0.05
    measure_from = t0 + warmup
    hard_deadline = t0 + warmup + a.duration + a.timeout + 5.0
    service: list[float] = []
    corrected: list[float] = []
    errors = collections.Counter()
    statuses = collections.Counter()
    scheduled = 0
    samples: dict[str, list[int]] = {n: [] for n in watch}
    cpu0: dict[str, int] = {}
    cpu1: dict[str, int] = {}
    machine0 = machine1 = self0 = self1 = 0
    next_sample = measure_from
    first_sent = last_done = None

    def fail(c: Conn, why: str) -> None:
        if c.measured:
            errors[why] += 1
        busy.pop(c.sock.fileno(), None)
        try:
            c.reconnect()
        except OSError:
            errors["reconnect"] += 1
            return
        idle.append(c)

    while True:
        now = time.perf_counter()
        while scheduled < total and t0 + scheduled * interval <= now:
            backlog.append(t0 + scheduled * interval)
            scheduled += 1
        while backlog and idle:
            c = idle.popleft()
            c.due = backlog.popleft()
            c.measured = c.due >= measure_from
            c.sent = time.perf_counter()
            try:
                n = c.sock.send(request)
                if n != len(request):
                    raise OSError("short write")
            except OSError:
                fail(c, "write")
                continue
            busy[c.sock.fileno()] = c
            if c.measured and first_sent is None:
                first_sent = c.due
        if watch and now >= next_sample and now < measure_from + a.duration:
            if not cpu0:
                cpu0 = {n: procstat.cpu_ticks(p) for n, p in watch.items()}
                machine0, self0 = procstat.machine_ticks(), procstat.self_ticks()
            for n, p in watch.items():
                samples[n].append(procstat.status_kb(p))
            next_sample += 0.5
        if scheduled >= total and not backlog and not busy:
            break
        if now > hard_deadline:
            errors["timeout"] += len(busy) + len(backlog)
            break
        for c in list(busy.values()):
            if now - c.sent > a.timeout:
                fail(c, "timeout")
        wait = (t0 + scheduled * interval - now) if scheduled < total else 0.05
        wait = max(0.0, min(wait, 0.05))
        ready, _, _ = select.select(list(busy), [], [], wait)
        for fd in ready:
            c = busy.get(fd)
            if c is None:
                continue
            try:
                data = c.sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                fail(c, "read")
                continue
            if not data:
                fail(c, "closed")
                continue
            c.buf += data
            end = response_end(c.buf)
            if end is None:
                continue
            done = time.perf_counter()
            status, length = end
            c.buf = c.buf[length:]
            del busy[fd]
            idle.append(c)
            if c.measured:
                statuses[status] += 1
                if 200 <= status < 300:
                    service.append(done - c.sent)
                    corrected.append(done - c.due)
                    last_done = done
                else:
                    errors[f"status {status}"] += 1
    if watch and cpu0:
        cpu1 = {n: procstat.cpu_ticks(p) for n, p in watch.items()}
        machine1, self1 = procstat.machine_ticks(), procstat.self_ticks()
    for c in conns:
        try:
            c.sock.close()
        except OSError:
            pass
    span = (last_done - first_sent) if (first_sent is not None and last_done is not None) else 0.0
    res: dict = {
        "tool": "openloop.py",
        "target_rate": a.rate,
        "duration_s": a.duration,
        "warmup_s": warmup,
        "connections": a.connections,
        "requests": len(service),
        "achieved_rate": len(service) / span if span > 0 else None,
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "statuses": {str(k): v for k, v in statuses.items()},
        "service": summarize(service),
        "corrected": summarize(corrected),
    }
    res["ok"] = res["requests"] > 0 and res["errors"] == 0
    if watch and cpu1:
        # Busy time of the whole machine that neither the watched processes nor this
        # generator account for, in % of one CPU: anything else running spoils latency.
        ours = sum(cpu1[n] - cpu0[n] for n in watch) + (self1 - self0)
        res["other_cpu_pct"] = max(0.0, (machine1 - machine0 - ours) / procstat.CLK_TCK / a.duration * 100.0)
        res["loadgen_cpu_pct"] = (self1 - self0) / procstat.CLK_TCK / a.duration * 100.0
    if watch:
        res["watch"] = {}
        for n in watch:
            s = samples[n]
            ticks = cpu1.get(n, 0) - cpu0.get(n, cpu1.get(n, 0))
            res["watch"][n] = {
                "rss_kb_max": max(s) if s else None,
                "rss_kb_mean": sum(s) / len(s) if s else None,
                "rss_kb_last": s[-1] if s else None,
                "cpu_ticks": ticks,
                "cpu_pct": ticks / procstat.CLK_TCK / a.duration * 100.0,
            }
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/")
    ap.add_argument("--host-header", default="b")
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=1, help="runs of --duration; the median (by p99) is reported")
    ap.add_argument("--timeout", type=float, default=2.0)
    ap.add_argument("--watch", action="append", help="NAME=PID[,PID]: sample RSS and CPU of these")
    ap.add_argument("--json", required=True)
    a = ap.parse_args()
    if not (0 < a.rate <= 20000 and 0 < a.duration <= 120 and 0 <= a.warmup <= 30 and 1 <= a.connections <= 512
            and 1 <= a.rounds <= 10):
        ap.error("rate 1..20000, duration 1..120 s, warmup 0..30 s, connections 1..512, rounds 1..10")
    try:
        res = run_rounds(a)
    except OSError as e:
        res = {"tool": "openloop.py", "ok": False, "error": str(e), "target_rate": a.rate}
    Path(a.json).write_text(json.dumps(res, indent=2, sort_keys=True) + "\n")
    if res.get("ok"):
        s = res["service"]
        c = res["corrected"]
        print(
            f"open loop {a.rate:.0f} rps: achieved {res['achieved_rate']:.0f}/s, {res['requests']} requests, "
            f"service p50 {s['p50_ms']:.3f} p99 {s['p99_ms']:.3f} ms, corrected p99 {c['p99_ms']:.3f} ms"
            + (f", other {res['other_cpu_pct']:.0f}%" if res.get("other_cpu_pct") is not None else "")
            + (f"; median of {a.rounds} rounds, whose p99s were "
               + ", ".join(f"{r['service_p99_ms']:.3f}" for r in res["rounds"] if r["service_p99_ms"] is not None)
               if a.rounds > 1 else ""),
            file=sys.stderr,
        )
    else:
        print(f"open loop FAILED: {res.get('error') or res.get('error_kinds')}", file=sys.stderr)
    return 0 if res.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())

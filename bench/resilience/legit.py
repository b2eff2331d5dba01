#!/usr/bin/env python3
"""The legitimate client of bench/resilience.sh's flood scenario.

    legit.py HOST PORT SOURCE_IP RATE SECONDS

Sends GET / at RATE requests per second for SECONDS over one keep-alive connection bound to
SOURCE_IP (a new one after any error), each with a 2 s timeout, on a fixed schedule (a slow
answer delays the next request, it is not skipped). Prints one line:
    scheduled=N sent=N ok=N share=P p50_ms=X p99_ms=X
where scheduled is RATE x SECONDS, sent the requests the client got to send (fewer when
answers are slower than the schedule), ok the 200 answers, share = ok / scheduled, and the
latencies are those of the successful requests.
"""
import http.client
import sys
import time


def main() -> int:
    host, port, src = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rate, seconds = float(sys.argv[4]), float(sys.argv[5])
    interval = 1.0 / rate
    conn = None
    sent = ok = 0
    lat = []
    scheduled = int(round(rate * seconds))
    start = time.monotonic()
    next_at = start
    while sent < scheduled and time.monotonic() - start < seconds:
        now = time.monotonic()
        if now < next_at:
            time.sleep(next_at - now)
        next_at += interval
        sent += 1
        t0 = time.monotonic()
        try:
            if conn is None:
                conn = http.client.HTTPConnection(host, port, timeout=2, source_address=(src, 0))
            conn.request("GET", "/")
            resp = conn.getresponse()
            resp.read()
            if resp.status == 200:
                ok += 1
                lat.append((time.monotonic() - t0) * 1000)
            if resp.getheader("connection", "").lower() == "close":
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException):
            if conn is not None:
                conn.close()
            conn = None
    lat.sort()

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(len(lat) * p))] if lat else float("nan")

    share = 100.0 * ok / scheduled if scheduled else 0.0
    print(f"scheduled={scheduled} sent={sent} ok={ok} share={share:.1f} p50_ms={pct(0.50):.1f} p99_ms={pct(0.99):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

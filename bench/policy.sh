#!/usr/bin/env bash
# Authorization benchmark: the Rampart gateway's throughput and CPU per request with
# authorization OFF (no `policy` section) and ON (segments, flows and ~1 000 Cedar policies,
# of which the request's slice holds a couple), in one run, on loopback.
#
#   bench/policy.sh                     # about 1 minute
#   DURATION=5 ROUNDS=1 bench/policy.sh
#
# Each round runs OFF then ON: the gateway (`rampart gateway`, one worker) in front of a small
# nginx upstream, loaded with wrk (HTTP/1.1 keep-alive, GET /api/orders/1, anonymous). CPU per
# request is the gateway's utime+stime (from /proc/<pid>/stat, before and after the measured
# run) divided by the requests served. See docs/benchmarks.md, "Authorization".
#
# Environment (defaults in brackets):
#   DURATION [10]       seconds of each measured run
#   WARMUP [2]          seconds of warm-up before each measured run
#   CONNECTIONS [50]    concurrent connections
#   POLICIES [1000]     policies in the ON set
#   ROUNDS [2]          OFF/ON pairs; the table shows each run and the medians
#   RAMPART_BIN         use this binary instead of `cargo build --release -p rampart`
#   PIN [1]             gateway on PROXY_CPU [1]; wrk and upstream on LOAD_CPU [0]
#   BASE_PORT [18300]   ports BASE_PORT+90..+99 on 127.0.0.1
#   INSTALL [1]         install missing tools (apt-get); INSTALL=0 only checks
#   OUT_DIR [bench/out/policy]
#   PATHS [distinct]    distinct: a new path per request (bench/policy/distinct.lua; the memo
#                       keys on which path tests pass, not the path); same: one path
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
OUT_DIR=${OUT_DIR:-$BENCH_DIR/out/policy}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-50}
POLICIES=${POLICIES:-1000}
ROUNDS=${ROUNDS:-2}
PIN=${PIN:-1}
LOAD_CPU=${LOAD_CPU:-0}
PROXY_CPU=${PROXY_CPU:-1}
BASE_PORT=${BASE_PORT:-18300}
INSTALL=${INSTALL:-1}
PATH_UNDER_TEST=/api/orders/1
PATHS=${PATHS:-distinct}
case $PATHS in
distinct) WRK_SCRIPT=(-s "$BENCH_DIR/policy/distinct.lua") ;;
same) WRK_SCRIPT=() ;;
*) echo "PATHS must be distinct or same" >&2; exit 2 ;;
esac

LOG_TAG=policy-bench
# shellcheck source=SCRIPTDIR/lib.sh
source "$BENCH_DIR/lib.sh"

require_uint DURATION WARMUP CONNECTIONS POLICIES ROUNDS BASE_PORT LOAD_CPU PROXY_CPU
((DURATION > 0 && DURATION <= 120)) || die "DURATION must be 1..120 seconds"
((ROUNDS >= 1 && ROUNDS <= 10)) || die "ROUNDS must be 1..10"
((POLICIES >= 2 && POLICIES <= 100000)) || die "POLICIES must be 2..100000"

export BENCH_UPSTREAM_PORT=$((BASE_PORT + 90))
export BENCH_RAMPART_PORT=$((BASE_PORT + 91))
export BENCH_RAMPART_ADMIN_PORT=$((BASE_PORT + 92))
export BENCH_RAMPART_CONTROL_PORT=$((BASE_PORT + 93))

mkdir -p "$OUT_DIR"
LOG_DIR=$OUT_DIR/logs
RAW_DIR=$OUT_DIR/raw
rm -rf "$LOG_DIR" "$RAW_DIR"
mkdir -p "$LOG_DIR" "$RAW_DIR"

install_tools nginx wrk envsubst:gettext-base taskset:util-linux pgrep:procps curl python3
build_rampart || die "cargo build --release -p rampart failed (log: $LOG_DIR/cargo-build.log)"
[[ -x $RAMPART_BIN ]] || die "$RAMPART_BIN is not an executable"
check_ports_free
make_run_dir rampart-policy-bench
probe_machine
((BUSY_BEFORE > 20)) && log "WARNING: the machine is ${BUSY_BEFORE}% busy before the run: figures will be noisy"

# ---------------------------------------------------------------- configs
render "$BENCH_DIR/policy/nginx-upstream.conf" "$OUT_DIR/nginx-upstream.conf"
render "$BENCH_DIR/policy/rampart.yaml" "$OUT_DIR/off.yaml"
{ cat "$OUT_DIR/off.yaml"; cat "$BENCH_DIR/policy/policy-section.yaml"; } >"$OUT_DIR/on.yaml"
rm -rf "$OUT_DIR/policies"
python3 "$BENCH_DIR/policy/gen-policies.py" "$OUT_DIR/policies" "$POLICIES"
"$RAMPART_BIN" config check "$OUT_DIR/on.yaml" >"$LOG_DIR/config-check.log" 2>&1 ||
    { cat "$LOG_DIR/config-check.log" >&2; die "the ON configuration does not check"; }
log "$(cat "$LOG_DIR/config-check.log")"

# ---------------------------------------------------------------- upstream
NGINX=$(command -v nginx)
mkdir -p "$RUN_DIR/nginx-upstream/tmp"
start_bg nginx-upstream "$LOAD_CPU" "$NGINX" -e "$LOG_DIR/nginx-upstream.err" -p "$RUN_DIR/nginx-upstream" \
    -c "$OUT_DIR/nginx-upstream.conf" -g 'daemon off;'
UPSTREAM_PID=$STARTED_PID
wait_http "$UPSTREAM_PID" "http://127.0.0.1:$BENCH_UPSTREAM_PORT/" || { show_log nginx-upstream; die "upstream did not start"; }

# ---------------------------------------------------------------- measuring
# to_us VALUE: wrk's latency (e.g. 812.00us, 1.23ms, 2.00s) in microseconds
to_us() { awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") m = 1; else if (u == "ms") m = 1000; else if (u == "s") m = 1000000; else m = 1
    printf "%.0f", n * m }'; }

# run MODE ROUND: one gateway start, warm-up, measured run; appends a row to ROWS
ROWS=()
run() {
    local mode=$1 round=$2 url=http://127.0.0.1:$BENCH_RAMPART_PORT$PATH_UNDER_TEST out code
    out=$RAW_DIR/$mode-$round.txt
    start_bg "rampart-$mode-$round" "$PROXY_CPU" "$RAMPART_BIN" gateway --config "$OUT_DIR/$mode.yaml"
    local pid=$STARTED_PID
    wait_http "$pid" "http://127.0.0.1:$BENCH_RAMPART_ADMIN_PORT/readyz" 30 ||
        { show_log "rampart-$mode-$round"; die "rampart ($mode) never became ready"; }
    wait_http "$pid" "$url" 30 || { show_log "rampart-$mode-$round"; die "rampart ($mode): $PATH_UNDER_TEST is not 200"; }
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$BENCH_RAMPART_PORT/admin")
    if [[ $mode == on ]]; then
        [[ $code == 403 ]] || die "authorization is not on: /admin answered $code"
    else
        [[ $code == 200 ]] || die "authorization is not off: /admin answered $code"
    fi
    if ((WARMUP > 0)); then
        on_cpu "$LOAD_CPU" timeout $((WARMUP + 20)) wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" "${WRK_SCRIPT[@]}" "$url" >/dev/null 2>&1 || true
    fi
    local c0 c1
    c0=$(cpu_ticks "$pid")
    on_cpu "$LOAD_CPU" timeout $((DURATION + 30)) wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "${WRK_SCRIPT[@]}" "$url" >"$out" 2>&1 || true
    c1=$(cpu_ticks "$pid")
    pid_alive "$pid" || die "rampart ($mode) died during the run"
    stop_pid "$pid"
    local reqs rps p50 p99 non2xx cpu_us
    reqs=$(awk '/requests in/ {print $1; exit}' "$out")
    rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2; exit}' "$out")
    p50=$(to_us "$(awk '$1 == "50%" {print $2; exit}' "$out")")
    p99=$(to_us "$(awk '$1 == "99%" {print $2; exit}' "$out")")
    non2xx=$(awk '/Non-2xx/ {print $NF; exit}' "$out")
    [[ -n $reqs && $reqs -gt 0 ]] || { cat "$out" >&2; die "wrk served no requests ($mode)"; }
    [[ -z $non2xx ]] || log "WARNING: $non2xx non-2xx answers in the $mode run"
    cpu_us=$(awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')
    log "  $mode round $round: $rps req/s, p50 ${p50} us, p99 ${p99} us, ${cpu_us} us CPU/request"
    ROWS+=("$mode $round $rps $p50 $p99 $cpu_us $reqs")
}

for ((r = 1; r <= ROUNDS; r++)); do
    log "round $r/$ROUNDS: authorization off"
    run off "$r"
    log "round $r/$ROUNDS: authorization on ($POLICIES policies)"
    run on "$r"
done

# ---------------------------------------------------------------- report
printf '%s\n' "${ROWS[@]}" >"$RAW_DIR/rows.txt"
python3 - "$RAW_DIR/rows.txt" "$OUT_DIR/results.json" <<PY
import json, statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
runs = [dict(mode=r[0], round=int(r[1]), rps=int(r[2]), p50_us=int(r[3]), p99_us=int(r[4]),
             cpu_us_per_req=float(r[5]), requests=int(r[6])) for r in rows]
print()
print(f"Authorization: gateway, HTTP/1.1 keep-alive, ${CONNECTIONS} connections, ${DURATION} s runs, "
      f"${POLICIES} policies when on, ${PATHS} paths")
print(f"{'mode':<5} {'round':>5} {'req/s':>9} {'p50 us':>8} {'p99 us':>8} {'CPU us/req':>11}")
for r in runs:
    print(f"{r['mode']:<5} {r['round']:>5} {r['rps']:>9} {r['p50_us']:>8} {r['p99_us']:>8} {r['cpu_us_per_req']:>11.2f}")
med = {}
for mode in ("off", "on"):
    rs = [r for r in runs if r["mode"] == mode]
    med[mode] = {k: statistics.median(r[k] for r in rs) for k in ("rps", "p50_us", "p99_us", "cpu_us_per_req")}
    m = med[mode]
    print(f"{mode:<5} {'med':>5} {m['rps']:>9.0f} {m['p50_us']:>8.0f} {m['p99_us']:>8.0f} {m['cpu_us_per_req']:>11.2f}")
off, on = med["off"], med["on"]
cpu = (on["cpu_us_per_req"] / off["cpu_us_per_req"] - 1) * 100
thr = on["rps"] / off["rps"]
print(f"\non/off: throughput x{thr:.3f}, CPU per request {cpu:+.1f} % "
      f"({on['cpu_us_per_req'] - off['cpu_us_per_req']:+.2f} us)  (target: <= +5 %)")
json.dump({"runs": runs, "median": med, "throughput_ratio": thr, "cpu_per_request_pct": cpu,
           "policies": ${POLICIES}, "paths": "${PATHS}", "duration_s": ${DURATION}, "connections": ${CONNECTIONS}},
          open(sys.argv[2], "w"), indent=2)
PY

#!/usr/bin/env bash
# Resilience benchmark: Rampart's gateway (retries with a budget, outlier ejection,
# gateway.overload) beside nginx (passive max_fails checks, proxy_next_upstream, limit_conn),
# in one run, on loopback. About 2 minutes.
#
#   bench/resilience.sh
#   RAMPART_BIN=target/debug/rampart bench/resilience.sh
#
# Three scenarios, each run against both proxies with fresh upstreams and a fresh proxy:
#   1. kill:  3 nginx endpoints, wrk steady load (KILL_CONNECTIONS, KILL_DURATION s); after
#             KILL_AT s endpoint c is killed (SIGKILL, master and worker). Counted: the client's
#             non-2xx answers and socket errors.
#   2. eject: the same load (EJECT_DURATION s); after EJECT_AT s endpoint b starts answering
#             500 (a toggle file its nginx tests per request). Measured from b's access log:
#             how long b still received requests after the switch (time to eject), how many
#             it answered 500, and the client's non-2xx answers.
#   3. flood: wrk with FLOOD_CONNECTIONS keep-alive connections from 127.0.0.1 saturates the
#             proxy while a legitimate client (bench/resilience/legit.py, bound to 127.0.0.2)
#             sends LEGIT_RATE requests/s. Reported: the share of the scheduled legitimate
#             requests answered 200 (a client stuck on slow answers sends fewer) and their p99. Both proxies bound connections per address (PER_IP) and the
#             requests in flight (MAX_CONCURRENT). wrk cannot bind a source address, so the
#             flood uses 127.0.0.1 and the legitimate client the other address.
#
# Proxies: rampart and nginx in every scenario; also nginx-no500 in "eject" (nginx as the
# issue states it, proxy_next_upstream without http_500, so max_fails never counts a 500), and
# rampart-nolimit / nginx-nolimit in "flood" (no overload bounds: what the bounds buy).
# A 3 s "alone" run of the legitimate client before each flood gives its p99 without flood.
#
# Environment (defaults in brackets):
#   RAMPART_BIN         use this binary instead of `cargo build --release -p rampart`
#   KILL_DURATION [10] KILL_AT [3] KILL_CONNECTIONS [8]
#   EJECT_DURATION [8] EJECT_AT [2]
#   FLOOD_DURATION [10] FLOOD_CONNECTIONS [400] LEGIT_RATE [50] PER_IP [32] MAX_CONCURRENT [64]
#   PIN [1]             proxy on PROXY_CPU [1]; wrk, upstreams and legit client on LOAD_CPU [0]
#   BASE_PORT [18600]   ports BASE_PORT+1..+6 on 127.0.0.1
#   INSTALL [1]         install missing tools (apt-get); INSTALL=0 only checks
#   OUT_DIR [bench/out/resilience]; the summary also goes to bench/out/resilience-results.txt
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
OUT_DIR=${OUT_DIR:-$BENCH_DIR/out/resilience}
RESULTS=$BENCH_DIR/out/resilience-results.txt
KILL_DURATION=${KILL_DURATION:-10}
KILL_AT=${KILL_AT:-3}
KILL_CONNECTIONS=${KILL_CONNECTIONS:-8}
EJECT_DURATION=${EJECT_DURATION:-8}
EJECT_AT=${EJECT_AT:-2}
FLOOD_DURATION=${FLOOD_DURATION:-10}
FLOOD_CONNECTIONS=${FLOOD_CONNECTIONS:-400}
LEGIT_RATE=${LEGIT_RATE:-50}
PER_IP=${PER_IP:-32}
MAX_CONCURRENT=${MAX_CONCURRENT:-64}
PIN=${PIN:-1}
LOAD_CPU=${LOAD_CPU:-0}
PROXY_CPU=${PROXY_CPU:-1}
BASE_PORT=${BASE_PORT:-18600}
INSTALL=${INSTALL:-1}

LOG_TAG=resilience-bench
# shellcheck source=SCRIPTDIR/lib.sh
source "$BENCH_DIR/lib.sh"

require_uint KILL_DURATION KILL_AT KILL_CONNECTIONS EJECT_DURATION EJECT_AT FLOOD_DURATION \
    FLOOD_CONNECTIONS LEGIT_RATE PER_IP MAX_CONCURRENT BASE_PORT LOAD_CPU PROXY_CPU
((KILL_AT < KILL_DURATION && KILL_DURATION <= 60)) || die "need KILL_AT < KILL_DURATION <= 60"
((EJECT_AT < EJECT_DURATION && EJECT_DURATION <= 60)) || die "need EJECT_AT < EJECT_DURATION <= 60"
((FLOOD_DURATION >= 1 && FLOOD_DURATION <= 60)) || die "FLOOD_DURATION must be 1..60"
((LEGIT_RATE >= 1 && LEGIT_RATE <= 500)) || die "LEGIT_RATE must be 1..500"
((PER_IP >= 1 && MAX_CONCURRENT >= 1)) || die "PER_IP and MAX_CONCURRENT must be at least 1"

export BENCH_UP_A_PORT=$((BASE_PORT + 1))
export BENCH_UP_B_PORT=$((BASE_PORT + 2))
export BENCH_UP_C_PORT=$((BASE_PORT + 3))
export BENCH_RAMPART_PORT=$((BASE_PORT + 4))
export BENCH_RAMPART_ADMIN_PORT=$((BASE_PORT + 5))
export BENCH_NGINX_PORT=$((BASE_PORT + 6))
export BENCH_PER_IP=$PER_IP BENCH_MAX_CONCURRENT=$MAX_CONCURRENT

mkdir -p "$OUT_DIR"
LOG_DIR=$OUT_DIR/logs
RAW_DIR=$OUT_DIR/raw
rm -rf "$LOG_DIR" "$RAW_DIR"
mkdir -p "$LOG_DIR" "$RAW_DIR"

install_tools nginx wrk envsubst:gettext-base taskset:util-linux pgrep:procps curl python3
build_rampart || die "cargo build --release -p rampart failed (log: $LOG_DIR/cargo-build.log)"
[[ -x $RAMPART_BIN ]] || die "$RAMPART_BIN is not an executable"
check_ports_free
make_run_dir rampart-resilience-bench
probe_machine
((BUSY_BEFORE > 20)) && log "WARNING: the machine is ${BUSY_BEFORE}% busy before the run: figures will be noisy"
python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.2", 0))' 2>/dev/null ||
    die "cannot bind 127.0.0.2 (the legitimate client's address)"

# ---------------------------------------------------------------- configs
NGINX=$(command -v nginx)
for name in a b c; do
    v=BENCH_UP_${name^^}_PORT
    BENCH_UP_NAME=$name BENCH_UP_PORT=${!v} render "$BENCH_DIR/resilience/upstream.conf" "$OUT_DIR/up-$name.conf"
done
render "$BENCH_DIR/resilience/nginx-proxy.conf" "$OUT_DIR/nginx.conf"
render "$BENCH_DIR/resilience/rampart.yaml" "$OUT_DIR/rampart.yaml"
# Variants: nginx as the issue states it (no http_500 in proxy_next_upstream: a 500 is not a
# failure for max_fails); both proxies without their overload bounds (flood baseline).
sed 's/ http_500//' "$OUT_DIR/nginx.conf" >"$OUT_DIR/nginx-no500.conf"
grep -v '^ *limit_conn ' "$OUT_DIR/nginx.conf" >"$OUT_DIR/nginx-nolimit.conf"
grep -Ev '^ *(overload:|max_connections_per_ip:|max_concurrent_requests:)' "$OUT_DIR/rampart.yaml" >"$OUT_DIR/rampart-nolimit.yaml"
grep -q 'http_500' "$OUT_DIR/nginx-no500.conf" && die "nginx-no500.conf still lists http_500"
grep -q 'limit_conn ' "$OUT_DIR/nginx-nolimit.conf" && die "nginx-nolimit.conf still limits"
grep -q 'max_concurrent_requests' "$OUT_DIR/rampart-nolimit.yaml" && die "rampart-nolimit.yaml still has overload"
"$RAMPART_BIN" config check "$OUT_DIR/rampart-nolimit.yaml" >"$LOG_DIR/config-check.log" 2>&1 ||
    { cat "$LOG_DIR/config-check.log" >&2; die "the Rampart configuration without overload does not check"; }
"$RAMPART_BIN" config check "$OUT_DIR/rampart.yaml" >"$LOG_DIR/config-check.log" 2>&1 ||
    { cat "$LOG_DIR/config-check.log" >&2; die "the Rampart configuration does not check (a binary without resilience/overload?)"; }
mkdir -p "$RUN_DIR/nginx-proxy/tmp"
for conf in nginx nginx-no500 nginx-nolimit; do
    "$NGINX" -t -q -e "$RUN_DIR/nginx-proxy/error.log" -p "$RUN_DIR/nginx-proxy" -c "$OUT_DIR/$conf.conf" >"$LOG_DIR/nginx-t.log" 2>&1 ||
        { cat "$LOG_DIR/nginx-t.log" >&2; die "$conf.conf does not check"; }
done

# ---------------------------------------------------------------- processes
declare -A UP_PID=()
start_upstreams() { # fresh logs, no toggle files
    local name v
    for name in a b c; do
        rm -rf "$RUN_DIR/up-$name" "$RUN_DIR/fail-$name"
        mkdir -p "$RUN_DIR/up-$name/tmp"
        start_bg "up-$name" "$LOAD_CPU" "$NGINX" -e "$RUN_DIR/up-$name/error.log" -p "$RUN_DIR/up-$name" \
            -c "$OUT_DIR/up-$name.conf" -g 'daemon off;'
        UP_PID[$name]=$STARTED_PID
    done
    for name in a b c; do
        v=BENCH_UP_${name^^}_PORT
        wait_http "${UP_PID[$name]}" "http://127.0.0.1:${!v}/" || { show_log "up-$name"; die "upstream $name did not start"; }
        : >"$RUN_DIR/up-$name/access.log" # forget wait_http's probe
    done
}
stop_upstreams() {
    local name
    for name in a b c; do stop_pid "${UP_PID[$name]}"; done
}
kill_upstream() { # SIGKILL the endpoint's master and workers: its connections are reset
    local p
    for p in $(tree_pids "${UP_PID[$1]}"); do kill -KILL "$p" 2>/dev/null || true; done
}

PROXY_PID=""
PROXY_URL=""
start_proxy() { # start_proxy KIND TAG; KIND: rampart[-nolimit] or nginx[-no500|-nolimit]
    local kind=$1 tag=$2
    if [[ $kind == rampart* ]]; then
        start_bg "$kind-$tag" "$PROXY_CPU" "$RAMPART_BIN" gateway --config "$OUT_DIR/$kind.yaml"
        PROXY_PID=$STARTED_PID
        PROXY_URL=http://127.0.0.1:$BENCH_RAMPART_PORT/
        wait_http "$PROXY_PID" "http://127.0.0.1:$BENCH_RAMPART_ADMIN_PORT/readyz" 30 ||
            { show_log "$kind-$tag"; die "$kind never became ready"; }
    else
        rm -rf "$RUN_DIR/nginx-proxy"
        mkdir -p "$RUN_DIR/nginx-proxy/tmp"
        start_bg "$kind-$tag" "$PROXY_CPU" "$NGINX" -e "$RUN_DIR/nginx-proxy/error.log" -p "$RUN_DIR/nginx-proxy" \
            -c "$OUT_DIR/$kind.conf" -g 'daemon off;'
        PROXY_PID=$STARTED_PID
        PROXY_URL=http://127.0.0.1:$BENCH_NGINX_PORT/
    fi
    wait_http "$PROXY_PID" "$PROXY_URL" 30 || { show_log "$kind-$tag"; die "$kind: / is not 200"; }
    local name
    for name in a b c; do : >"$RUN_DIR/up-$name/access.log"; done
}
stop_proxy() {
    pid_alive "$PROXY_PID" || die "the proxy died during the run"
    stop_pid "$PROXY_PID"
}

# wrk_figures FILE: "requests non2xx socket_errors req/s" from wrk's output
wrk_figures() {
    awk '/requests in/ {r = $1}
         /Non-2xx/ {n = $NF}
         /Socket errors/ {gsub(",", ""); e = $4 + $6 + $8 + $10}
         /^Requests\/sec:/ {s = $2}
         END {printf "%d %d %d %.0f\n", r, n, e, s}' "$1"
}

# ---------------------------------------------------------------- scenarios
ROWS=()
now() { date +%s.%N; }

scenario_kill() { # scenario_kill KIND
    local kind=$1 out=$RAW_DIR/kill-$1.txt t_kill
    log "$kind: kill an endpoint under load (${KILL_DURATION} s, c at ${KILL_AT} s)"
    start_upstreams
    start_proxy "$kind" kill
    on_cpu "$LOAD_CPU" timeout $((KILL_DURATION + 20)) wrk -t1 -c"$KILL_CONNECTIONS" -d"${KILL_DURATION}s" "$PROXY_URL" >"$out" 2>&1 &
    local wrk_pid=$!
    sleep "$KILL_AT"
    t_kill=$(now)
    kill_upstream c
    wait "${UP_PID[c]}" 2>/dev/null || true # reap it here, without the shell's "Killed" notice
    wait "$wrk_pid" || true
    stop_proxy
    stop_upstreams
    read -r reqs non2xx errs rps < <(wrk_figures "$out")
    ((reqs > 0)) || { cat "$out" >&2; die "wrk served no requests ($kind kill)"; }
    # Requests endpoint c logged after the kill (its log ends when it dies: expect 0).
    log "  $kind: $reqs requests, $non2xx non-2xx, $errs socket errors ($rps req/s)"
    ROWS+=("kill $kind requests=$reqs non2xx=$non2xx socket_errors=$errs lost=$((non2xx + errs)) rps=$rps t_kill=$t_kill")
}

scenario_eject() { # scenario_eject KIND
    local kind=$1 out=$RAW_DIR/eject-$1.txt t_fail
    log "$kind: an endpoint starts answering 500 (${EJECT_DURATION} s, b at ${EJECT_AT} s)"
    start_upstreams
    start_proxy "$kind" eject
    on_cpu "$LOAD_CPU" timeout $((EJECT_DURATION + 20)) wrk -t1 -c"$KILL_CONNECTIONS" -d"${EJECT_DURATION}s" "$PROXY_URL" >"$out" 2>&1 &
    local wrk_pid=$!
    sleep "$EJECT_AT"
    t_fail=$(now)
    touch "$RUN_DIR/fail-b"
    wait "$wrk_pid" || true
    stop_proxy
    stop_upstreams
    cp "$RUN_DIR/up-b/access.log" "$RAW_DIR/eject-$kind-b.log"
    read -r reqs non2xx errs rps < <(wrk_figures "$out")
    ((reqs > 0)) || { cat "$out" >&2; die "wrk served no requests ($kind eject)"; }
    # b's requests after the switch: how many answered 500, the last one's time, and how many
    # reached b in the last second before the switch (its normal share of the load).
    local eject
    # "never" when b still answered 500 in the last second of the run.
    eject=$(awk -v t="$t_fail" -v w=$((EJECT_DURATION - EJECT_AT)) '
        $1 >= t - 1 && $1 < t {before++}
        $1 >= t && $2 == 500 {n++; if ($1 > last) last = $1}
        END {
            if (n == 0) printf "fails_at_b=0 eject_ms=n/a before_per_s=%d\n", before
            else if (last - t > w - 1) printf "fails_at_b=%d eject_ms=never before_per_s=%d\n", n, before
            else printf "fails_at_b=%d eject_ms=%.0f before_per_s=%d\n", n, (last - t) * 1000, before
        }' "$RAW_DIR/eject-$kind-b.log")
    log "  $kind: $eject; client: $reqs requests, $non2xx non-2xx, $errs socket errors"
    ROWS+=("eject $kind requests=$reqs non2xx=$non2xx socket_errors=$errs $eject window_s=$((EJECT_DURATION - EJECT_AT))")
}

scenario_flood() { # scenario_flood KIND
    local kind=$1 out=$RAW_DIR/flood-$1.txt legit port
    log "$kind: flood (${FLOOD_CONNECTIONS} connections) + legitimate client (${LEGIT_RATE} req/s) for ${FLOOD_DURATION} s"
    start_upstreams
    start_proxy "$kind" flood
    port=${PROXY_URL#http://127.0.0.1:}
    port=${port%/}
    # The legitimate client alone first (3 s): its p99 without the flood.
    legit=$(on_cpu "$LOAD_CPU" timeout 30 python3 "$BENCH_DIR/resilience/legit.py" 127.0.0.1 "$port" 127.0.0.2 "$LEGIT_RATE" 3)
    local base_p99=${legit##*p99_ms=}
    on_cpu "$LOAD_CPU" timeout $((FLOOD_DURATION + 25)) wrk -t1 -c"$FLOOD_CONNECTIONS" -d"$((FLOOD_DURATION + 2))s" "$PROXY_URL" >"$out" 2>&1 &
    local wrk_pid=$!
    sleep 1
    legit=$(on_cpu "$LOAD_CPU" timeout $((FLOOD_DURATION + 30)) python3 "$BENCH_DIR/resilience/legit.py" 127.0.0.1 "$port" 127.0.0.2 "$LEGIT_RATE" "$FLOOD_DURATION")
    wait "$wrk_pid" || true
    stop_proxy
    stop_upstreams
    read -r reqs non2xx errs rps < <(wrk_figures "$out")
    log "  $kind: legit $legit (alone: p99 ${base_p99} ms); flood: $reqs requests ($rps req/s), $non2xx non-2xx, $errs socket errors"
    ROWS+=("flood $kind $legit alone_p99_ms=$base_p99 flood_requests=$reqs flood_rps=$rps flood_non2xx=$non2xx flood_socket_errors=$errs")
}

for kind in rampart nginx; do scenario_kill "$kind"; done
for kind in rampart nginx nginx-no500; do scenario_eject "$kind"; done
for kind in rampart nginx rampart-nolimit nginx-nolimit; do scenario_flood "$kind"; done

# ---------------------------------------------------------------- report
{
    echo "# bench/resilience.sh $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "# rampart: $RAMPART_BIN; $(first_line "$NGINX" -v)"
    echo "# machine: $NPROC CPUs, load1 $LOAD1, ${BUSY_BEFORE}% of one CPU busy before the run; PIN=$PIN"
    echo "# kill: ${KILL_CONNECTIONS} connections, ${KILL_DURATION} s, endpoint c killed at ${KILL_AT} s"
    echo "# eject: ${KILL_CONNECTIONS} connections, ${EJECT_DURATION} s, endpoint b answers 500 from ${EJECT_AT} s"
    echo "# flood: ${FLOOD_CONNECTIONS} wrk connections from 127.0.0.1, legit ${LEGIT_RATE} req/s from 127.0.0.2, ${FLOOD_DURATION} s; per-IP ${PER_IP}, concurrent ${MAX_CONCURRENT}"
    printf '%s\n' "${ROWS[@]}"
} | tee "$OUT_DIR/results.txt" >"$RESULTS"
cat "$RESULTS"

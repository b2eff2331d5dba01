#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for Rampart's tests and print how to reach it.
#
# Idempotent: installs PostgreSQL with apt only when no `initdb` is on the machine, runs `initdb`
# once into a scratch directory, starts the server only if it is not already up, and makes sure the
# `rampart` role and database exist. Everything goes to stderr except the last line on stdout:
#
#   export RAMPART_TEST_POSTGRES_URL=postgres://rampart:rampart@127.0.0.1:54329/rampart
#
# so callers can run `eval "$(scripts/start-postgres.sh | tail -1)"`.
#
# The server is for tests only: it listens on loopback, trusts local socket connections, asks for a
# password over TCP, and runs with fsync off. Run as root (it switches to the `postgres` user, since
# initdb refuses root) or as an ordinary user who can run the PostgreSQL binaries.
#
# Environment: RAMPART_PG_PORT (default 54329), RAMPART_PG_DIR (default /tmp/rampart-pg).
set -euo pipefail

PORT="${RAMPART_PG_PORT:-54329}"
DIR="${RAMPART_PG_DIR:-/tmp/rampart-pg}"
DATA="$DIR/data"
URL="postgres://rampart:rampart@127.0.0.1:$PORT/rampart"

log() { echo "start-postgres: $*" >&2; }

# Run a command as the user that owns the cluster, with its stdout sent to stderr.
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@" >&2
    else
        "$@" >&2
    fi
}

find_bin() {
    if [ -f "$DATA/PG_VERSION" ] && [ -x "/usr/lib/postgresql/$(cat "$DATA/PG_VERSION")/bin/initdb" ]; then
        echo "/usr/lib/postgresql/$(cat "$DATA/PG_VERSION")/bin"
        return
    fi
    local found
    found="$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1 || true)"
    [ -n "$found" ] && dirname "$found"
}

print_url() { echo "export RAMPART_TEST_POSTGRES_URL=$URL"; }

BIN="$(find_bin || true)"

# Already serving the URL (ours from an earlier run, or a server set up some other way): done.
if [ -n "$BIN" ] && PGCONNECT_TIMEOUT=3 "$BIN/psql" "$URL" -Atqc 'select 1' >/dev/null 2>&1; then
    log "already running at 127.0.0.1:$PORT"
    print_url
    exit 0
fi

if [ -z "$BIN" ]; then
    if [ "$(id -u)" != 0 ]; then
        log "PostgreSQL is not installed and installing it needs root"
        exit 1
    fi
    log "installing PostgreSQL with apt"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    apt-get install -y postgresql >&2
    BIN="$(find_bin || true)"
    if [ -z "$BIN" ]; then
        log "apt installed PostgreSQL but no /usr/lib/postgresql/*/bin/initdb was found"
        exit 1
    fi
fi
log "using $BIN"

mkdir -p "$DIR"
if [ "$(id -u)" = 0 ]; then
    chown postgres: "$DIR"
fi
chmod 0700 "$DIR"

if [ ! -f "$DATA/PG_VERSION" ]; then
    log "initializing a cluster in $DATA"
    as_pg "$BIN/initdb" -D "$DATA" -U postgres -E UTF8 --no-locale \
        --auth-local=trust --auth-host=scram-sha-256
fi

if as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    log "server in $DATA is already running"
else
    log "starting the server on 127.0.0.1:$PORT (log: $DIR/postgres.log)"
    as_pg "$BIN/pg_ctl" -D "$DATA" -l "$DIR/postgres.log" -w -t 60 start \
        -o "-p $PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$DIR -c max_connections=200 -c fsync=off -c synchronous_commit=off"
fi

for _ in $(seq 1 60); do
    if "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
        break
    fi
    sleep 0.5
done
if ! "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
    log "server did not become ready; see $DIR/postgres.log"
    exit 1
fi

# Superuser over the local socket (trusted) creates the test role and database.
admin_sql() {
    local cmd=("$BIN/psql" -h "$DIR" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -Atqc "$1")
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "${cmd[@]}"
    else
        "${cmd[@]}"
    fi
}

if [ "$(admin_sql "select 1 from pg_roles where rolname = 'rampart'")" != 1 ]; then
    log "creating role rampart"
    admin_sql "create role rampart login createdb password 'rampart'" >&2
fi
if [ "$(admin_sql "select 1 from pg_database where datname = 'rampart'")" != 1 ]; then
    log "creating database rampart"
    admin_sql "create database rampart owner rampart" >&2
fi

log "ready at 127.0.0.1:$PORT"
print_url

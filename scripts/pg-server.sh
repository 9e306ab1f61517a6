#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests and benchmarks (Debian's postgresql packages).
#
#   scripts/pg-server.sh start DIR   creates DIR, starts a cluster in it and prints its URL
#                                    (postgres://postgres@127.0.0.1:PORT/postgres), nothing else
#   scripts/pg-server.sh stop DIR    stops that cluster and removes DIR
#
# The server listens on 127.0.0.1 only, on a free port, with its unix socket in DIR, `trust`
# authentication, max_connections=300 (several idgate instances and a test suite with many
# parallel pools) and logs to DIR/log. PG_FAST=1 turns durability off (fsync,
# synchronous_commit, full_page_writes): for the test suite, never for the benchmark.
# initdb refuses to run as root: as root the cluster runs as the `postgres` user.
set -euo pipefail

MARKER=.idgate-pg-server   # written by start; stop removes only a DIR that has it

die() {
    echo "pg-server: $*" >&2
    exit 1
}

usage() {
    echo "usage: $0 start DIR | stop DIR" >&2
    exit 2
}

# The newest installed major version's binaries.
pg_bin() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$d" ] && [ -x "$d/initdb" ] \
        || die "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (apt-get install postgresql)"
    echo "$d"
}

# Runs a command as the cluster's owner: the `postgres` user when we are root, else ourselves.
# From inside DIR, so that a working directory postgres cannot read does not get in the way.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        (cd "$DIR" && runuser -u postgres -- "$@")
    else
        (cd "$DIR" && "$@")
    fi
}

# The last lines of the given logs (default: the server's).
log_tail() {
    local f
    for f in "${@:-$DIR/log}"; do
        if [ -s "$f" ]; then
            echo "---- last lines of $f" >&2
            tail -n 30 "$f" >&2
        fi
    done
}

# fail_start MESSAGE [LOG…]
fail_start() {
    echo "pg-server: $1" >&2
    shift
    log_tail "$@"
    if [ -f "$DIR/data/postmaster.pid" ]; then
        as_owner "$BIN/pg_ctl" stop -D "$DIR/data" -m immediate >/dev/null 2>&1 || true
    fi
    echo "pg-server: $DIR kept for inspection; remove it with: $0 stop $DIR" >&2
    exit 1
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# As root, the postgres user must be able to reach DIR: give o+x to the directories above it
# that lack it, but only the temp directories a test made (the direct parent, or anything
# under $TMPDIR or /tmp); anything else is an error rather than a surprise chmod.
open_parents() {
    local p parent tmp
    parent=$(dirname "$DIR")
    tmp=$(realpath -m "${TMPDIR:-/tmp}")
    p=$parent
    while [ "$p" != / ]; do
        if ! runuser -u postgres -- test -x "$p" 2>/dev/null; then
            case "$p" in
                "$parent" | "$tmp"/* | /tmp/*) chmod o+x "$p" ;;
                *) die "the postgres user cannot enter $p; choose a DIR under ${TMPDIR:-/tmp}" ;;
            esac
        fi
        p=$(dirname "$p")
    done
}

start() {
    BIN=$(pg_bin)
    command -v python3 >/dev/null || die "python3 is required (to pick a free port)"
    if [ -e "$DIR" ] && [ -n "$(ls -A "$DIR" 2>/dev/null)" ]; then
        die "$DIR exists and is not empty"
    fi
    mkdir -p "$DIR"
    # The socket path must fit in sun_path (107 bytes).
    [ ${#DIR} -le 80 ] || die "DIR is too long for a unix socket path: $DIR"
    touch "$DIR/$MARKER"
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || die "no postgres user (install Debian's postgresql package)"
        chown postgres: "$DIR" "$DIR/$MARKER"
        chmod 700 "$DIR"
        open_parents
    fi

    if ! as_owner "$BIN/initdb" -D "$DIR/data" -U postgres --auth=trust --encoding=UTF8 \
        --locale=C.UTF-8 --no-sync >"$DIR/initdb.log" 2>&1; then
        fail_start "initdb failed" "$DIR/initdb.log"
    fi
    cat >"$DIR/data/pg_hba.conf" <<'EOF'
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 trust
host    all       all   127.0.0.1/32  trust
EOF
    {
        echo "listen_addresses = '127.0.0.1'"
        echo "unix_socket_directories = '$DIR'"
        echo "max_connections = 300"
        if [ "${PG_FAST:-}" = 1 ]; then
            echo "fsync = off"
            echo "synchronous_commit = off"
            echo "full_page_writes = off"
        fi
    } >>"$DIR/data/postgresql.conf"
    [ "$(id -u)" = 0 ] && chown postgres: "$DIR/data/pg_hba.conf" "$DIR/data/postgresql.conf"

    # A port free a moment ago may be taken by the time the server binds it: try again.
    local port attempt started=""
    for attempt in 1 2 3; do
        port=$(free_port) || die "could not pick a free port"
        if as_owner "$BIN/pg_ctl" start -D "$DIR/data" -l "$DIR/log" -w -t 60 \
            -o "-p $port" >/dev/null 2>&1; then
            started=1
            break
        fi
        grep -q "could not bind\|Address already in use" "$DIR/log" 2>/dev/null || break
        echo "pg-server: port $port was taken, trying another (attempt $attempt)" >&2
    done
    [ -n "$started" ] || fail_start "pg_ctl start failed"
    echo "$port" >"$DIR/port"

    local i
    for i in $(seq 1 150); do
        if "$BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres; then
            echo "postgres://postgres@127.0.0.1:$port/postgres"
            return 0
        fi
        sleep 0.2
    done
    fail_start "the server on 127.0.0.1:$port did not answer pg_isready within 30 s"
}

stop() {
    if [ ! -e "$DIR" ]; then
        echo "pg-server: $DIR does not exist: nothing to stop" >&2
        return 0
    fi
    [ -f "$DIR/$MARKER" ] || die "$DIR was not made by '$0 start': not removing it"
    BIN=$(pg_bin)
    if [ -f "$DIR/data/postmaster.pid" ] \
        && as_owner "$BIN/pg_ctl" status -D "$DIR/data" >/dev/null 2>&1; then
        as_owner "$BIN/pg_ctl" stop -D "$DIR/data" -m fast -w -t 60 >/dev/null 2>&1 \
            || as_owner "$BIN/pg_ctl" stop -D "$DIR/data" -m immediate -w -t 30 >/dev/null 2>&1 \
            || { log_tail; die "could not stop the server in $DIR/data"; }
    fi
    rm -rf "$DIR"
}

[ $# = 2 ] || usage
DIR=$(realpath -m "$2")
[ "$DIR" != / ] || die "refusing DIR /"
case "$1" in
    start) start ;;
    stop) stop ;;
    *) usage ;;
esac

#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the event log's tests, from Debian's `postgresql`
# package (install it first: apt-get install -y postgresql).
#
#   postgres.sh start DIR [--watch PID]   initdb in DIR, start on a free 127.0.0.1 port, print
#                                         the admin URL (postgres://postgres@127.0.0.1:PORT/postgres);
#                                         with --watch, stop it and remove DIR once PID is gone
#   postgres.sh stop DIR                  stop the cluster in DIR and remove DIR (idempotent)
#
# As root, every PostgreSQL program runs as the `postgres` user (initdb refuses root), and DIR
# is handed to that user. Authentication is `trust` on loopback only: the cluster is for tests.
set -euo pipefail

die() {
    echo "postgres.sh: $*" >&2
    exit 1
}

bin_dir() {
    local initdb
    initdb=$(ls -1 /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$initdb" ] ||
        die "PostgreSQL is not installed: run ./scripts/test (it installs Debian's postgresql), or apt-get install -y postgresql"
    dirname "$initdb"
}

# Runs a PostgreSQL program as the cluster's owner, from inside DIR.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        (cd "$dir" && runuser -u postgres -- "$@")
    else
        (cd "$dir" && "$@")
    fi
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start() {
    local bin port attempt
    bin=$(bin_dir)
    mkdir -p "$dir"
    [ -z "$(ls -A "$dir")" ] || die "$dir is not empty: give a new directory"
    if [ "$(id -u)" = 0 ]; then
        getent passwd postgres >/dev/null ||
            die "there is no postgres user: reinstall Debian's postgresql package"
        chown postgres: "$dir"
        chmod 700 "$dir"
        runuser -u postgres -- test -w "$dir" ||
            die "the postgres user cannot reach $dir: choose a directory under /tmp (set TMPDIR)"
    fi
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --no-locale -E UTF8 \
        --no-sync >"$dir/initdb.log" 2>&1 ||
        die "initdb failed: $(tail -n 5 "$dir/initdb.log")"
    for attempt in 1 2 3 4 5 6 7 8; do
        # Below the kernel's ephemeral range (32768-60999): a port there may be taken by any
        # outgoing connection between this check and the server's bind.
        port=$((20000 + RANDOM % 12000))
        port_in_use "$port" && continue
        if as_owner "$bin/pg_ctl" start -w -t 60 -D "$dir/data" -l "$dir/server.log" \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200" \
            >/dev/null 2>&1; then
            echo "$port" >"$dir/port"
            if [ -n "$watch" ]; then
                # Stops the cluster when the watched process is gone, even after kill -9.
                setsid bash "$0" __watch "$watch" "$dir" </dev/null >/dev/null 2>&1 &
            fi
            echo "postgres://postgres@127.0.0.1:$port/postgres"
            return 0
        fi
        grep -q "could not bind\|Address already in use" "$dir/server.log" 2>/dev/null ||
            die "PostgreSQL did not start (attempt $attempt): $(tail -n 5 "$dir/server.log" 2>/dev/null)"
    done
    die "no free loopback port found for PostgreSQL after 8 tries"
}

stop() {
    local bin
    [ -d "$dir" ] || return 0
    if [ -f "$dir/data/postmaster.pid" ]; then
        bin=$(bin_dir)
        as_owner "$bin/pg_ctl" stop -D "$dir/data" -m immediate -w >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}

command=${1:-}
dir=${2:-}
watch=""
case "$command" in
start)
    [ -n "$dir" ] || die "usage: postgres.sh start DIR [--watch PID]"
    if [ "${3:-}" = "--watch" ]; then
        watch=${4:?--watch takes a process id}
    fi
    dir=$(realpath -m "$dir")
    start
    ;;
stop)
    [ -n "$dir" ] || die "usage: postgres.sh stop DIR"
    stop
    ;;
__watch)
    pid=$2
    dir=$3
    while kill -0 "$pid" 2>/dev/null; do sleep 0.5; done
    stop
    ;;
*)
    die "usage: postgres.sh start DIR [--watch PID] | postgres.sh stop DIR"
    ;;
esac

#!/usr/bin/env bash
# Local PostgreSQL for development and tests, in a folder of our own.
#   pg.sh start DIR PORT   initdb if needed, start on 127.0.0.1:PORT, create db "mt"
#   pg.sh stop DIR         fast shutdown
#   pg.sh dsn PORT         print the DSN
# PostgreSQL refuses to run as root: as root, the server runs as user postgres
# and DIR is handed to that user.
set -euo pipefail
cmd=${1:?usage: pg.sh start DIR PORT | stop DIR | dsn PORT}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bindir" ] || { echo "pg.sh: PostgreSQL server binaries not found" >&2; exit 1; }

as_pg () {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
start)
    dir=${2:?DIR}; port=${3:?PORT}
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres:postgres "$dir"
        # the server user must be able to reach DIR
        p=$dir; while [ "$p" != / ]; do p=$(dirname "$p"); chmod o+x "$p" 2>/dev/null || true; done
    fi
    if [ ! -f "$dir/PG_VERSION" ]; then
        as_pg "$bindir/initdb" -D "$dir" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null 2>&1 \
          || as_pg "$bindir/initdb" -D "$dir" -U postgres -A trust -E UTF8 >/dev/null
    fi
    as_pg "$bindir/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=200" start >/dev/null
    for _ in $(seq 1 50); do
        as_pg "$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atqc "SELECT 1" >/dev/null 2>&1 && break
        sleep 0.2
    done
    as_pg "$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atqc \
        "SELECT 1 FROM pg_database WHERE datname = 'mt'" | grep -q 1 \
      || as_pg "$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qc "CREATE DATABASE mt" >/dev/null
    ;;
stop)
    dir=${2:?DIR}
    [ -f "$dir/postmaster.pid" ] && as_pg "$bindir/pg_ctl" -D "$dir" -m fast -w stop >/dev/null || true
    ;;
dsn)
    echo "host=127.0.0.1 port=${2:?PORT} dbname=mt user=postgres"
    ;;
*)
    echo "pg.sh: unknown command $cmd" >&2; exit 2 ;;
esac

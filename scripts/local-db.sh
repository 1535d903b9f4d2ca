#!/usr/bin/env bash
# A private PostgreSQL for development, tests and benchmarks: its own data folder and a
# Unix socket in that folder (no TCP port). The server refuses to run as root, so when
# we are root it runs as the `postgres` user.
#
#   scripts/local-db.sh start [NAME]   start (initdb on first use); prints nothing else
#   scripts/local-db.sh stop  [NAME]
#   scripts/local-db.sh url   [NAME]   the conninfo for database dispatch_due
#   scripts/local-db.sh admin-url [NAME] the conninfo for database postgres
#
# NAME (default "pg") lets a benchmark run a second cluster beside the test one.
# DD_LOCAL_PG_DURABLE=1 with `start` runs NAME durably (fsync=on, synchronous_commit=on,
# full_page_writes=on: PostgreSQL's defaults, as in production); without it a cluster runs
# with those off (a scratch cluster). A running cluster with the other setting is restarted.
set -euo pipefail
cd "$(dirname "$0")/.."
cmd=${1:?usage: local-db.sh start|stop|url|admin-url [NAME]}
name=${2:-pg}
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
port=${DD_LOCAL_PG_PORT:-55432}
if [ "${DD_LOCAL_PG_DURABLE:-0}" = 1 ]; then durable=on; else durable=off; fi

as_server_user() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# The data folder lives under .local/ when the server user can reach it and the socket path
# fits in sun_path (107 bytes); otherwise under /tmp, with .local/NAME pointing at it.
resolve_dir() {
  local wanted="$PWD/.local/$name"
  if [ -L "$wanted" ]; then readlink -f "$wanted"; return; fi
  if [ -d "$wanted" ]; then echo "$wanted"; return; fi
  mkdir -p "$PWD/.local"
  local ok=yes
  [ ${#wanted} -gt 80 ] && ok=no
  if [ "$ok" = yes ] && [ "$(id -u)" = 0 ]; then
    mkdir -p "$wanted" && chown postgres: "$wanted"
    as_server_user test -w "$wanted" || ok=no
    [ "$ok" = yes ] || rmdir "$wanted"
  fi
  if [ "$ok" = yes ]; then mkdir -p "$wanted"; echo "$wanted"; return; fi
  local alt
  alt=$(mktemp -d /tmp/dd-pg-XXXXXX)
  [ "$(id -u)" = 0 ] && chown postgres: "$alt"
  ln -s "$alt" "$wanted"
  echo "$alt"
}

dir=$(resolve_dir)
data="$dir/data"
conninfo() { echo "host=$dir port=$port user=$(server_user) dbname=$1"; }
server_user() { if [ "$(id -u)" = 0 ]; then echo postgres; else id -un; fi; }

case "$cmd" in
  start)
    if [ ! -f "$data/PG_VERSION" ]; then
      as_server_user "$PG_BIN/initdb" -D "$data" -U "$(server_user)" --auth=trust \
        --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    # A server started before an apt upgrade of PostgreSQL runs the old binary against the new
    # extension libraries (plpgsql fails to load): restart it on the installed version.
    if as_server_user "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
      installed=$("$PG_BIN/postgres" --version | awk '{print $3}')
      running=$("$PG_BIN/psql" "$(conninfo postgres)" -Atqc 'SHOW server_version' 2>/dev/null | awk '{print $1}')
      if [ -n "$running" ] && [ "$running" != "$installed" ]; then
        echo "local-db: restarting PostgreSQL $running as the installed $installed" >&2
        as_server_user "$PG_BIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null
      else
        fsync_now=$("$PG_BIN/psql" "$(conninfo postgres)" -Atqc 'SHOW fsync' 2>/dev/null || true)
        if [ -n "$fsync_now" ] && [ "$fsync_now" != "$durable" ]; then
          echo "local-db: restarting $name with fsync=$durable" >&2
          as_server_user "$PG_BIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null
        fi
      fi
    fi
    if ! as_server_user "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
      # fsync off (unless durable): a scratch cluster trades durability for speed.
      # max_connections covers parallel tests that each start several dispatchers.
      as_server_user "$PG_BIN/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 start -o \
        "-c listen_addresses='' -c unix_socket_directories='$dir' -p $port -c max_connections=300 \
         -c fsync=$durable -c synchronous_commit=$durable -c full_page_writes=$durable -c shared_buffers=256MB" \
        >/dev/null || { tail -n 20 "$dir/server.log" >&2; exit 1; }
    fi
    # The default database for `make run`; tests make their own.
    if ! "$PG_BIN/psql" "$(conninfo postgres)" -Atqc "SELECT 1 FROM pg_database WHERE datname = 'dispatch_due'" | grep -q 1; then
      "$PG_BIN/createdb" -h "$dir" -p "$port" -U "$(server_user)" dispatch_due
    fi
    ;;
  stop)
    if [ -f "$data/PG_VERSION" ]; then
      as_server_user "$PG_BIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    ;;
  url) conninfo dispatch_due ;;
  admin-url) conninfo postgres ;;
  *) echo "usage: local-db.sh start|stop|url|admin-url [NAME]" >&2; exit 64 ;;
esac

#!/usr/bin/env bash
# spec/pgbouncer.sh -- a throwaway PgBouncer in front of the suite's cluster,
# for the specs and `make stress` (never the system service).
#
#   bash spec/pgbouncer.sh start DIR PGHOST PGPORT [POOL_MODE [POOL_SIZE [LINE]]]
#     writes DIR/pgbouncer.ini (listen 127.0.0.1 on a free port, the given
#     pool_mode, default transaction, default_pool_size (20), one more
#     [pgbouncer] line, e.g. "server_round_robin = 1"; every database forwarded to PGHOST:PGPORT,
#     a socket directory or an address), starts pgbouncer as the postgres user
#     when run as root (it refuses root), waits until it accepts
#     connections and prints its port. DIR/pgbouncer.log is its log.
#   bash spec/pgbouncer.sh stop DIR
#     stops the one started in DIR (its pidfile), if it runs.
#
# Clients connect as postgres (trusted by the cluster on its socket and on
# 127.0.0.1): auth_type = trust on loopback, with the user listed in
# auth_file, so no password travels; the server side is the cluster's own
# postgres login.
set -uo pipefail
PGBOUNCER=${PGBOUNCER:-/usr/sbin/pgbouncer}
cmd=${1:-}
dir=${2:-}
[ -n "$dir" ] || { echo "usage: pgbouncer.sh start|stop DIR [PGHOST PGPORT [POOL_MODE]]" >&2; exit 2; }
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "$cmd" in
  start)
    pghost=$3 pgport=$4 mode=${5:-transaction} size=${6:-20} extra=${7:-}
    [ -x "$PGBOUNCER" ] || { echo "pgbouncer.sh: $PGBOUNCER is missing (apt-get install pgbouncer)" >&2; exit 1; }
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    for try in 1 2 3 4 5 6 7 8 9 10; do
      port=$((20000 + RANDOM % 30000))
      cat >"$dir/pgbouncer.ini" <<INI
[databases]
* = host=$pghost port=$pgport user=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = $mode
max_client_conn = 200
default_pool_size = $size
$extra
server_reset_query =
ignore_startup_parameters = extra_float_digits,options
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
      echo '"postgres" ""' >"$dir/userlist.txt"
      [ "$(id -u)" = 0 ] && chown postgres "$dir/pgbouncer.ini" "$dir/userlist.txt"
      rm -f "$dir/pgbouncer.pid"
      as_owner "$PGBOUNCER" -d "$dir/pgbouncer.ini" >>"$dir/pgbouncer.out" 2>&1 || continue
      for _ in $(seq 1 50); do
        if [ -f "$dir/pgbouncer.pid" ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
          echo "$port"
          exit 0
        fi
        sleep 0.1
      done
      "$0" stop "$dir"
    done
    cat "$dir/pgbouncer.log" "$dir/pgbouncer.out" 2>/dev/null >&2
    exit 1 ;;
  stop)
    if [ -f "$dir/pgbouncer.pid" ]; then
      pid=$(cat "$dir/pgbouncer.pid")
      kill "$pid" 2>/dev/null
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      rm -f "$dir/pgbouncer.pid"
    fi
    exit 0 ;;
  *) echo "usage: pgbouncer.sh start|stop DIR [PGHOST PGPORT [POOL_MODE]]" >&2; exit 2 ;;
esac

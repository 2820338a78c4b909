#!/usr/bin/env bash
# spec/pg_standby.sh -- a REAL hot standby of the specs' throwaway cluster
# (spec/pg_cluster.sh), for the read-only specs (spec/15b).
#
#   spec/pg_standby.sh start SOCKET_DIR PORT DIR   prints the standby's port
#   spec/pg_standby.sh stop DIR                     stops it and removes DIR
#
# start: pg_basebackup -R (streaming the WAL it needs; -R writes
# standby.signal and primary_conninfo) from the primary on SOCKET_DIR:PORT
# into DIR/pg as the cluster's owner, then starts it on a unix socket in
# DIR at a free port; pg_ctl -w returns once it takes read-only
# connections. The primary needs wal_level replica (PostgreSQL's default)
# and a replication entry in pg_hba.conf (pg_cluster.sh has one in each
# mode). A hot standby needs max_connections at least the primary's: it is
# read from the primary.
set -u
. "$(dirname "$0")/pg_cluster.sh"

case "${1:-}" in
start)
  host=$2 port=$3 dir=$4
  owner=$([ "$(id -u)" = 0 ] && echo postgres || id -un)
  mkdir -p "$dir/pg" && chown "$owner" "$dir" "$dir/pg" && chmod 700 "$dir/pg" || exit 1
  conns=$(pg_cluster_as_owner "$PGBIN/psql" -X -A -t -h "$host" -p "$port" -U postgres -d postgres \
    -c "SHOW max_connections") || exit 1
  pg_cluster_as_owner "$PGBIN/pg_basebackup" -h "$host" -p "$port" -U postgres -D "$dir/pg" \
    -R -X stream -c fast --no-sync >"$dir/basebackup.log" 2>&1 || { cat "$dir/basebackup.log"; exit 1; }
  # fsync = off: a throwaway standby; without it, its start-up fsyncs the whole copied data
  # directory (every database the suite made so far), which took over a minute on a loaded
  # machine. A start that failed with its server still running (pg_ctl -w gave up waiting) is
  # waited for, not started again over it; another port is tried only when none runs.
  for try in 1 2 3 4 5 6 7 8 9 10; do
    p=$((20000 + RANDOM % 30000))
    if pg_cluster_as_owner "$PGBIN/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -w -t 300 start \
         -o "-c listen_addresses='' -p $p -k $dir -c max_connections=$conns -c hot_standby=on -c fsync=off" \
         >/dev/null 2>&1; then
      echo "$p"
      exit 0
    fi
    if [ -f "$dir/pg/postmaster.pid" ]; then
      for wait in $(seq 1 300); do
        if "$PGBIN/pg_isready" -q -h "$dir" -p "$p"; then echo "$p"; exit 0; fi
        sleep 1
      done
      break
    fi
  done
  cat "$dir/pg.log"
  exit 1 ;;
stop)
  dir=$2
  if [ -f "$dir/pg/postmaster.pid" ]; then
    pg_cluster_as_owner "$PGBIN/pg_ctl" -D "$dir/pg" -m immediate -w stop >/dev/null 2>&1
  fi
  rm -rf "$dir"
  exit 0 ;;
*)
  echo "usage: spec/pg_standby.sh start SOCKET_DIR PORT DIR | stop DIR" >&2
  exit 2 ;;
esac

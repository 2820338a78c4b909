# spec/pg_cluster.sh -- a throwaway PostgreSQL cluster for one script's run.
# Sourced (not run) by spec/run, spec/stress/run and bench/run:
#
#   . spec/pg_cluster.sh
#   cleanup() { pg_cluster_stop; rm -rf "$tmp"; }
#   trap cleanup EXIT
#   trap 'exit 130' INT TERM
#   pg_cluster_start "$tmp" --no-fsync -c max_connections=200 || { echo "..."; exit 1; }
#
# pg_cluster_start DIR [--no-fsync] [--tcp] [--password-auth] [-c NAME=VALUE]...
#   initdbs DIR/pg (as the postgres user when run as root: initdb refuses
#   root; DIR and DIR/pg are then chowned to postgres) and starts it on a
#   unix socket in DIR at a free port (ten random tries in 20000-49999),
#   waiting up to 60 s for it. On success it sets
#     PG_CLUSTER_DIR   DIR, the socket directory (libpq's host)
#     PG_CLUSTER_PORT  the port
#     PG_CLUSTER_URL   postgresql://postgres@/postgres?host=DIR&port=PORT,
#                      the superuser over the socket
#     PG_CLUSTER_TCP   127.0.0.1:PORT with --tcp, else empty
#   On failure it prints DIR/initdb.log or DIR/pg.log to stdout and returns
#   1; the caller prints its own message. Options:
#     --no-fsync       initdb --no-sync, and fsync, synchronous_commit and
#                      full_page_writes off: fast, for tests. Without it the
#                      server keeps PostgreSQL's durable defaults (bench/run).
#     --tcp            listen on 127.0.0.1 as well as the socket
#     --password-auth  trust only the postgres role; every other role gives
#                      its password (scram-sha-256), on the socket and on
#                      127.0.0.1 (spec/run's auth specs); postgres may also
#                      replicate over the socket (spec/pg_standby.sh; initdb's
#                      own pg_hba.conf allows it in the other mode)
#     -c NAME=VALUE    a server setting, without spaces
#
# pg_cluster_stop
#   stops the server (immediate mode) when it runs. Safe whether or not
#   pg_cluster_start ran or succeeded, and more than once: call it from the
#   caller's EXIT trap. DIR belongs to the caller, who removes it (the logs
#   are there, and usually the caller's own scratch files).
#
# PGBIN names the server's binaries (default PostgreSQL 15's); the callers
# use it for psql and postgres too.

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PG_CLUSTER_DIR="" PG_CLUSTER_PORT="" PG_CLUSTER_URL="" PG_CLUSTER_TCP=""

# Run a command as the cluster's owner: postgres when we are root, else us.
pg_cluster_as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_cluster_start() {
  local dir=$1; shift
  local initdb_opts=() listen="''" settings="" password_auth=0 owner port try
  while [ $# -gt 0 ]; do
    case "$1" in
      --no-fsync)
        initdb_opts+=(--no-sync)
        settings+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off" ;;
      --tcp) listen=127.0.0.1 ;;
      --password-auth) password_auth=1 ;;
      -c) settings+=" -c $2"; shift ;;
      *) echo "pg_cluster_start: unknown option '$1'" >&2; return 2 ;;
    esac
    shift
  done

  PG_CLUSTER_DIR=$dir   # from here on pg_cluster_stop knows where to look
  owner=$([ "$(id -u)" = 0 ] && echo postgres || id -un)
  mkdir -p "$dir/pg" && chown "$owner" "$dir" "$dir/pg" || return 1
  pg_cluster_as_owner "$PGBIN/initdb" -D "$dir/pg" -U postgres -A trust "${initdb_opts[@]}" \
    -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log"; return 1; }
  if [ "$password_auth" = 1 ]; then
    cat >"$dir/pg/pg_hba.conf" <<HBA
local all postgres trust
local replication postgres trust
local all all scram-sha-256
host  all postgres 127.0.0.1/32 trust
host  all all 127.0.0.1/32 scram-sha-256
HBA
  fi

  # a port another server holds makes the start fail: try another
  for try in 1 2 3 4 5 6 7 8 9 10; do
    port=$((20000 + RANDOM % 30000))
    if pg_cluster_as_owner "$PGBIN/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -w -t 60 start \
         -o "-c listen_addresses=$listen -p $port -k $dir$settings" >/dev/null 2>&1; then
      PG_CLUSTER_PORT=$port
      PG_CLUSTER_URL="postgresql://postgres@/postgres?host=$dir&port=$port"
      if [ "$listen" = 127.0.0.1 ]; then PG_CLUSTER_TCP=127.0.0.1:$port; fi
      return 0
    fi
  done
  cat "$dir/pg.log"
  return 1
}

pg_cluster_stop() {
  if [ -n "$PG_CLUSTER_DIR" ] && [ -f "$PG_CLUSTER_DIR/pg/postmaster.pid" ]; then
    pg_cluster_as_owner "$PGBIN/pg_ctl" -D "$PG_CLUSTER_DIR/pg" -m immediate -w stop >/dev/null 2>&1
  fi
  return 0
}

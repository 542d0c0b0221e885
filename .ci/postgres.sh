#!/usr/bin/env bash
# Start (or reuse) a throwaway PostgreSQL server for the store tests and print
#   export TRADEKIT_TEST_POSTGRES_URL=postgresql+psycopg://...
# on stdout for `eval`. Everything else goes to stderr.
#
# The cluster lives in $TRADEKIT_PG_DIR (default: $TMPDIR/tradekit-ci-postgres). A second call
# finds the running server there and prints the same URL, so re-running CI is cheap.
# Stop it with: .ci/postgres.sh stop
#
# initdb refuses to run as root, so as root the server runs as the `postgres` OS user.
# Durability is switched off (fsync, synchronous_commit): the data is thrown away anyway.
set -euo pipefail

base=${TRADEKIT_PG_DIR:-${TMPDIR:-/tmp}/tradekit-ci-postgres}
data="$base/data"
db=tradekit_test

log() { printf 'postgres.sh: %s\n' "$*" >&2; }

find_bindir() {
  if [ -n "${PG_BINDIR:-}" ] && [ -x "$PG_BINDIR/pg_ctl" ]; then
    echo "$PG_BINDIR"
    return
  fi
  local d
  # Newest version first.
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
      echo "$d"
      return
    fi
  done
  if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
    dirname "$(command -v pg_ctl)"
    return
  fi
  return 1
}

bindir=$(find_bindir) || { log "no PostgreSQL binaries (initdb, pg_ctl) found"; exit 1; }

as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

print_url() {
  local port
  port=$(cat "$base/port")
  echo "export TRADEKIT_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:$port/$db"
}

if [ "${1:-}" = stop ]; then
  if [ -d "$data" ]; then
    as_owner "$bindir/pg_ctl" -D "$data" -m immediate stop >&2 || true
  fi
  rm -rf "$base"
  exit 0
fi

# Reuse a server that is already running from an earlier call.
if [ -f "$base/port" ] && as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
  log "reusing the server in $base"
  print_url
  exit 0
fi

# Anything else left over (a crashed or stopped cluster) is started afresh.
rm -rf "$base"
mkdir -p "$base"
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || { log "running as root but there is no 'postgres' user"; exit 1; }
  chown postgres: "$base"
fi
chmod 700 "$base"

as_owner "$bindir/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --locale=C \
  --no-sync >"$base/initdb.log" 2>&1 || { cat "$base/initdb.log" >&2; exit 1; }

port=$(free_port)
echo "$port" >"$base/port"
opts="-h 127.0.0.1 -p $port -k $base -c fsync=off -c synchronous_commit=off"
opts="$opts -c full_page_writes=off -c max_connections=200"
if ! as_owner "$bindir/pg_ctl" -D "$data" -o "$opts" -l "$base/server.log" -w -t 30 start >&2; then
  cat "$base/server.log" >&2 || true
  exit 1
fi
as_owner "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres "$db" >&2
log "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data: $data)"
print_url

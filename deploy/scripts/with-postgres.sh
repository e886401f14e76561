#!/usr/bin/env bash
# Runs a command against a throwaway PostgreSQL cluster, then removes the cluster:
#
#   bash deploy/scripts/with-postgres.sh .venv/bin/python -m pytest
#
# The cluster lives in a new temporary folder, listens on a free loopback port (and a Unix socket in
# that folder), trusts local connections and keeps nothing durable (fsync off): it is for tests and
# benchmarks only. The command gets DATABASE_URL pointing at its database `blogsite` (user
# `postgres`), and PATH starting with the cluster's binaries, so pg_dump and pg_restore match the
# server. PostgreSQL refuses to run as root: as root the cluster runs as the system user `postgres`
# (Debian's package makes it), or `nobody` where there is none. A cluster that does not start is an
# error, never a skip. The command's exit status is this script's.
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi

postgres_bindir() {
  # Debian keeps the server's binaries off PATH, one folder per major version: the newest wins.
  local dir
  dir=$(find /usr/lib/postgresql -maxdepth 3 -path '*/bin/initdb' 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$dir" ]; then
    dirname "$dir"
  elif command -v initdb >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
  else
    return 1
  fi
}

if ! PG_BIN=$(postgres_bindir); then
  echo "PostgreSQL's server binaries (initdb, pg_ctl) are not installed; run deploy/scripts/bootstrap.sh" >&2
  exit 1
fi

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

owner="" parent=${TMPDIR:-/tmp}
if [ "$(id -u)" = "0" ]; then
  owner=postgres
  id -u "$owner" >/dev/null 2>&1 || owner=nobody
  parent=/tmp  # root's own TMPDIR may be closed to that user
fi
CLUSTER_DIR=$(mktemp -d "$parent/blogsite-postgres.XXXXXX")
if [ -n "$owner" ]; then chown "$owner" "$CLUSTER_DIR"; fi
PORT=$(free_port)
as_owner() {
  if [ -n "$owner" ]; then runuser -u "$owner" -- "$@"; else "$@"; fi
}

cluster_remove() {
  as_owner "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$CLUSTER_DIR"
}
trap cluster_remove EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# C.UTF-8 where the system has it, so that full-text search and case folding know non-ASCII letters.
locale_option=--no-locale
if locale -a 2>/dev/null | grep -qix 'c\.utf-\?8'; then locale_option=--locale=C.UTF-8; fi
if ! as_owner "$PG_BIN/initdb" -D "$CLUSTER_DIR/data" -U postgres --auth=trust --encoding=UTF8 \
  "$locale_option" >"$CLUSTER_DIR/initdb.log" 2>&1; then
  cat "$CLUSTER_DIR/initdb.log" >&2
  echo "PostgreSQL's initdb failed (above)." >&2
  exit 1
fi
server_options="-p $PORT -k $CLUSTER_DIR -c listen_addresses=127.0.0.1 -c max_connections=200"
server_options+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
if ! as_owner "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -o "$server_options" -l "$CLUSTER_DIR/server.log" \
  -w -t 60 start >/dev/null; then
  cat "$CLUSTER_DIR/server.log" >&2
  echo "PostgreSQL did not start on 127.0.0.1:$PORT (its log is above)." >&2
  exit 1
fi
"$PG_BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres blogsite

echo "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT, in $CLUSTER_DIR (removed afterwards)"
export DATABASE_URL="postgres://postgres@127.0.0.1:$PORT/blogsite"
export PATH="$PG_BIN:$PATH"
status=0
"$@" || status=$?
exit "$status"

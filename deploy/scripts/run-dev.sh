#!/usr/bin/env bash
# Installs everything, starts Redis, migrates, seeds demo content once, and serves the
# site with daphne on http://127.0.0.1:8000, one process per core (Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash deploy/scripts/bootstrap.sh

mkdir -p .run
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
redis_ping() { .venv/bin/python -c "import redis, os; redis.Redis.from_url(os.environ['REDIS_URL']).ping()" 2>/dev/null; }
if ! redis_ping; then
  port=$(.venv/bin/python -c "import os, urllib.parse; print(urllib.parse.urlparse(os.environ['REDIS_URL']).port or 6379)")
  redis-server --port "$port" --bind 127.0.0.1 --dir "$PWD/.run" --daemonize yes \
    --pidfile "$PWD/.run/redis.pid" --logfile "$PWD/.run/redis.log" >/dev/null
  for _ in $(seq 50); do redis_ping && break; sleep 0.1; done
  redis_ping || { echo "Redis did not start; see .run/redis.log" >&2; exit 1; }
fi

.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py seed_demo --if-empty

# One daphne process per core (WEB_CONCURRENCY overrides) sharing one socket; /metrics adds
# up all of them. See deploy/scripts/serve.py.
export HOST=${HOST:-127.0.0.1}
export PORT=${PORT:-8000}
exec .venv/bin/python deploy/scripts/serve.py --host "$HOST" --port "$PORT" --metrics-dir "$PWD/.run/prometheus"

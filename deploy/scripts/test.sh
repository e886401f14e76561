#!/usr/bin/env bash
# Installs everything, then lints and runs the whole test suite, on SQLite and on PostgreSQL. Tests
# start their own redis-server (and any other process they need, the local model for the end-to-end
# tests included) on free loopback ports; the PostgreSQL pass starts a throwaway cluster.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash deploy/scripts/bootstrap.sh

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python manage.py makemigrations --check --dry-run --settings=blogsite.settings.test >/dev/null

# Monitoring: Prometheus's config, the alert rules and their unit tests (promtool), the compose file.
bash deploy/scripts/check-monitoring.sh

# The suite twice: on SQLite, then on PostgreSQL in a throwaway cluster (deploy/scripts/with-postgres.sh).
# TEST_DATABASES="sqlite" or "postgresql" runs one pass. A pass that selects no test (pytest's 5,
# e.g. `-m postgresql` on SQLite) does not fail the run; a failure in either pass does, after both ran.
status=0 passes_run=0
for database in ${TEST_DATABASES:-sqlite postgresql}; do
  case "$database" in
    sqlite) run=(env DATABASE_URL="sqlite:///$PWD/db.sqlite3") ;;
    postgresql) run=(bash deploy/scripts/with-postgres.sh) ;;
    *) echo "TEST_DATABASES: unknown database '$database' (sqlite, postgresql)" >&2 && exit 2 ;;
  esac
  echo "Tests on $database:"
  pass_status=0
  "${run[@]}" .venv/bin/python -m pytest "$@" || pass_status=$?
  if [ "$pass_status" = 5 ]; then continue; fi
  passes_run=$((passes_run + 1))
  if [ "$pass_status" != 0 ]; then status=$pass_status; fi
done
if [ "$passes_run" = 0 ]; then status=5; fi
exit "$status"

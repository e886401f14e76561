from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from accounts.roles import Role
from tests.factories import UserFactory

# Markers of tests that need one database: the test command runs the suite on both (deploy/scripts/test.sh).
DATABASE_MARKERS = ("postgresql", "sqlite")


def pytest_collection_modifyitems(config, items) -> None:
    """Tests marked for another database than this run's are deselected, never counted as passed or skipped."""
    other = [name for name in DATABASE_MARKERS if name != connection.vendor]
    deselected = [item for item in items if any(item.get_closest_marker(name) for name in other)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        kept = set(items) - set(deselected)
        items[:] = [item for item in items if item in kept]
        config.stash[_deselected_for_database] = len(deselected)


_deselected_for_database = pytest.StashKey[int]()


def pytest_terminal_summary(terminalreporter, config) -> None:
    if count := config.stash.get(_deselected_for_database, 0):
        others = " or ".join(name for name in DATABASE_MARKERS if name != connection.vendor)
        tests = "1 test marked {} was" if count == 1 else f"{count} tests marked {{}} were"
        terminalreporter.write_line(
            f"{tests.format(others)} deselected: this run is on {connection.vendor};"
            " deploy/scripts/test.sh runs the suite on each database."
        )


@pytest.fixture(scope="session", autouse=True)
def _test_database_released(django_db_setup, django_db_blocker):
    """Threads that used the database (Django's sync thread, `asyncio.to_thread`, the audit
    records' writer) keep their connections, and PostgreSQL refuses to drop a database still in
    use: those sessions are ended before the test database is dropped."""
    yield
    if connection.vendor == "postgresql":
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )


@pytest.fixture(autouse=True)
def _database_pool_renewed():
    """On PostgreSQL a thread keeps the pooled connection it borrowed until Django closes it. A
    test's worker threads (`asyncio.to_thread`, its event loop's executor) end with the test without
    closing theirs, so their connections never return: each test leaves with a fresh pool, or the
    pool would run dry over the run."""
    yield
    if connection.vendor == "postgresql" and connection.settings_dict["OPTIONS"].get("pool"):
        connection.close_pool()


def pytest_sessionfinish(session) -> None:
    """Django removes the SQLite test database's file but not its write-ahead log and shared-memory
    index, about 4 MB a run; they go too, so that runs do not fill the temporary folder."""
    name = settings.DATABASES["default"].get("TEST", {}).get("NAME")
    if connection.vendor == "sqlite" and name:
        for suffix in ("-wal", "-shm"):
            Path(f"{name}{suffix}").unlink(missing_ok=True)


@pytest.fixture(autouse=True)
def _clear_cache():
    """Each test starts with an empty cache in the run's private Redis."""
    cache.clear()
    yield


@pytest.fixture
def reader(db):
    return UserFactory(username="reader", role=Role.READER)


@pytest.fixture
def author(db):
    return UserFactory(username="author", role=Role.AUTHOR)


@pytest.fixture
def other_author(db):
    return UserFactory(username="other_author", role=Role.AUTHOR)


@pytest.fixture
def editor(db):
    return UserFactory(username="editor", role=Role.EDITOR)


@pytest.fixture
def staff(db):
    return UserFactory(username="staff", role=Role.STAFF)

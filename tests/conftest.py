from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from accounts.roles import Role
from tests.factories import UserFactory


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

import socket
import time

import pytest
from django.db import connections

from tests.redis_server import free_port


@pytest.fixture(autouse=True)
def _core_checks(settings):
    """The checks this module covers; other apps' checks (Ollama) are tested with their apps."""
    settings.READINESS_CHECKS = ["blogsite.health.check_database", "blogsite.health.check_redis"]


def _statuses(response) -> dict[str, str]:
    return {check["name"]: check["status"] for check in response.json()["checks"]}


def test_healthz_is_alive_without_touching_any_dependency(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    # No database fixture: pytest-django would fail the request if the view touched the database.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-store" in response["Cache-Control"]


def test_readyz_reports_every_dependency_ok(client, db):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert _statuses(response) == {"database": "ok", "redis": "ok"}


def test_readyz_is_degraded_but_ready_when_redis_is_down(client, db, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert _statuses(response) == {"database": "ok", "redis": "degraded"}
    redis_check = next(check for check in response.json()["checks"] if check["name"] == "redis")
    assert "ConnectionError" in redis_check["error"]


def test_readyz_is_503_when_the_database_is_unreachable(client, db, monkeypatch, tmp_path):
    # Connections opened from now on (the check opens its own on a pool thread) point at a
    # database file in a folder that does not exist.
    monkeypatch.setitem(connections.settings["default"], "NAME", str(tmp_path / "missing" / "blog.sqlite3"))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "down"
    assert _statuses(response) == {"database": "down", "redis": "ok"}


@pytest.fixture
def silent_server():
    """A TCP port that accepts connections and never answers: a hung dependency."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


def test_readyz_answers_within_its_deadline_when_a_dependency_hangs(client, db, settings, silent_server):
    settings.REDIS_URL = f"redis://127.0.0.1:{silent_server}/0"
    settings.READINESS_TIMEOUT_SECONDS = 0.2
    started = time.monotonic()
    response = client.get("/readyz")
    assert time.monotonic() - started < 0.45  # the Redis client alone would wait 0.5 s
    assert response.status_code == 200
    redis_check = next(check for check in response.json()["checks"] if check["name"] == "redis")
    assert redis_check == {**redis_check, "status": "degraded", "error": "no answer within 0.2 s"}


def test_readyz_shows_only_each_dependencys_state_to_callers_metrics_would_refuse(client, db, settings):
    """In production (METRICS_REQUIRE_AUTH) addresses and errors are for operators; probes get the states."""
    settings.METRICS_REQUIRE_AUTH, settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = True, "probe-token", []
    port = free_port()
    settings.REDIS_URL = f"redis://127.0.0.1:{port}/0"

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "degraded",
        "checks": [{"name": "database", "status": "ok"}, {"name": "redis", "status": "degraded"}],
    }
    operator = client.get("/readyz", headers={"Authorization": "Bearer probe-token"}).json()
    assert str(port) in str(operator) and connections["default"].vendor in str(operator)
    settings.METRICS_ALLOWED_IPS = ["127.0.0.0/8"]
    assert str(port) in str(client.get("/readyz").json())


def test_readyz_is_still_503_for_everyone_when_the_database_is_down(client, db, settings):
    settings.METRICS_REQUIRE_AUTH, settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = True, "probe-token", []
    settings.READINESS_CHECKS = ["tests.blogsite.test_health._database_down"]
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "down", "checks": [{"name": "database", "status": "down"}]}


def _database_down() -> dict:
    return {"name": "database", "status": "down", "error": "OperationalError: could not reach db.internal:5432"}

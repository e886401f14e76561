import pytest

from aiwriter.health import check_engines
from tests.aiwriter.conftest import backend_of
from tests.aiwriter.fixtures import shared_clients  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("shared_clients")

DOWN = {"dialect": "openai", "url": "http://127.0.0.1:9/v1", "api_key_env": "SECRET_ENGINE_KEY"}


async def test_the_check_reports_each_host_with_its_dialect(settings, engine_factory):
    ollama, openai = engine_factory(dialect="ollama"), engine_factory(dialect="openai", health=False)
    settings.AIWRITER_BACKENDS = [backend_of(ollama), backend_of(openai)]
    result = await check_engines()
    assert result["name"] == "ai_engines" and result["status"] == "ok"
    assert [(host["dialect"], host["status"]) for host in result["hosts"]] == [("ollama", "ok"), ("openai", "ok")]
    assert result["hosts"][0]["answer"] == f"Ollama {ollama.version}"


async def test_a_host_down_degrades_readiness_without_failing_it(settings, engine, monkeypatch):
    monkeypatch.setenv("SECRET_ENGINE_KEY", "sk-do-not-show")
    settings.AIWRITER_BACKENDS = [backend_of(engine), DOWN]
    result = await check_engines()
    assert result["status"] == "degraded"
    assert [host["status"] for host in result["hosts"]] == ["ok", "down"]
    assert "Is it running?" in result["hosts"][1]["error"]
    assert "sk-do-not-show" not in str(result) and "SECRET_ENGINE_KEY" not in str(result)


async def test_readyz_includes_the_engines_check(settings, engine, async_client, db):
    settings.AIWRITER_BACKENDS = [backend_of(engine)]
    response = await async_client.get("/readyz")
    checks = {check["name"]: check for check in response.json()["checks"]}
    assert checks["ai_engines"]["status"] == "ok"


async def test_readyz_hides_engine_addresses_and_models_from_callers_metrics_would_refuse(
    settings, engine, async_client, db
):
    settings.AIWRITER_BACKENDS = [backend_of(engine)]
    settings.METRICS_REQUIRE_AUTH, settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = True, "probe-token", []

    anyone = (await async_client.get("/readyz")).json()
    operator = (await async_client.get("/readyz", headers={"Authorization": "Bearer probe-token"})).json()

    assert {"name": "ai_engines", "status": "ok"} in anyone["checks"]
    assert engine.url not in str(anyone) and "llama3.2" not in str(anyone)
    assert engine.url in str(operator) and "llama3.2:1b" in str(operator)

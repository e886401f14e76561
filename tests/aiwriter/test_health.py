import pytest

from aiwriter.health import check_ollama
from tests.aiwriter.fixtures import shared_clients  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("shared_clients")


async def test_ollama_check_reports_each_host_version(settings, ollama_sim):
    settings.OLLAMA_URLS = [ollama_sim.url]
    result = await check_ollama()
    assert result["name"] == "ollama" and result["status"] == "ok"
    assert result["hosts"][0]["version"] == ollama_sim.version


async def test_ollama_down_degrades_readiness_without_failing_it(settings, ollama_sim):
    settings.OLLAMA_URLS = [ollama_sim.url, "http://127.0.0.1:9"]
    result = await check_ollama()
    assert result["status"] == "degraded"
    assert [host["status"] for host in result["hosts"]] == ["ok", "down"]
    assert "Is it running?" in result["hosts"][1]["error"]


async def test_readyz_includes_the_ollama_check(settings, ollama_sim, async_client, db):
    settings.OLLAMA_URLS = [ollama_sim.url]
    response = await async_client.get("/readyz")
    checks = {check["name"]: check for check in response.json()["checks"]}
    assert checks["ollama"]["status"] == "ok"

"""What operations see: the hosts in /readyz and the AI metrics at /metrics after real traffic."""

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from aiwriter.engines import EngineError
from aiwriter.gateway import get_gateway
from aiwriter.health import check_engines
from tests.aiwriter.conftest import backend_of
from tests.aiwriter.fixtures import collect, generate_message, transactional, websocket
from tests.aiwriter.gateway.conftest import chat, complete


async def test_readiness_shows_each_hosts_breaker_load_and_models(hosts, engine_factory, gateway_settings):
    simulators = hosts(2)
    special = engine_factory(models=["mistral:7b"])
    down = {"dialect": "ollama", "url": "http://127.0.0.1:9", "api_key_env": ""}
    gateway_settings.AIWRITER_BACKENDS = [*gateway_settings.AIWRITER_BACKENDS, backend_of(special), down]
    for _ in range(2):
        result = await check_engines()
    by_url = {host["url"]: host for host in result["hosts"]}
    first = by_url[backend_of(simulators[0])["url"]]
    assert first["reachable"] is True and first["dialect"] == simulators[0].dialect
    assert first["breaker"] == "closed" and first["in_flight"] == 0
    assert by_url[backend_of(special)["url"]]["models"] == ["mistral:7b"]
    down = by_url["http://127.0.0.1:9"]
    assert down["reachable"] is False and down["breaker"] == "open"
    assert get_gateway().hosts[-1].breaker.state == "open"


def scrape(client) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@transactional
async def test_metrics_count_generations_and_cache_after_real_traffic(hosts, author, client):
    (simulator,) = hosts(1)
    await get_gateway().registry.refresh()  # metrics name only the models a host lists
    before = await _scrape(client)
    message = generate_message("r1", action="summarize", text="A body about tea.")
    async with websocket(author) as socket:
        await socket.send_json_to(message)
        await collect(socket, "r1")
        await socket.send_json_to({**message, "request_id": "r2"})
        await collect(socket, "r2")
    after = await _scrape(client)
    model = "llama3.2:1b"

    def grew(name: str, **labels) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    done = {"action": "summarize", "model": model, "outcome": "done"}
    assert grew("blogsite_ai_generations_total", **done, dialect=simulator.dialect) == 1
    assert grew("blogsite_ai_generations_total", **done, dialect="cache") == 1
    assert grew("blogsite_ai_cache_total", result="hit") == 1
    assert grew("blogsite_ai_cache_total", result="miss") == 1
    assert grew("blogsite_ai_tokens_generated_total", model=model) > 0
    assert grew("blogsite_ai_time_to_first_token_seconds_count", model=model) == 2
    assert grew("blogsite_ai_queue_wait_seconds_count", priority="interactive") == 1
    host = {"host": backend_of(simulator)["url"], "dialect": simulator.dialect}
    assert value(after, "blogsite_ai_in_flight", **host) == 0
    assert value(after, "blogsite_ai_breaker_state", **host) == 0


async def _scrape(client):
    return await sync_to_async(scrape)(client)


@pytest.fixture
def client():
    return Client()


async def test_metrics_name_unknown_models_other_so_labels_stay_bounded(hosts):
    (simulator,) = hosts(1)
    await get_gateway().registry.refresh()
    labels = {"action": "-", "model": "other", "dialect": simulator.dialect, "outcome": "error"}
    before = REGISTRY.get_sample_value("blogsite_ai_generations_total", labels) or 0
    with pytest.raises(EngineError):
        await complete(chat(model="made-up-model:1b"))
    assert REGISTRY.get_sample_value("blogsite_ai_generations_total", labels) == before + 1
    assert REGISTRY.get_sample_value("blogsite_ai_generations_total", {**labels, "model": "made-up-model:1b"}) is None

"""Routing across hosts, health, breakers and retries, against several simulated Ollama hosts."""

import asyncio
import time

import pytest

from aiwriter.engines import EngineError
from aiwriter.gateway import get_gateway, hosts_state
from tests.aiwriter.conftest import backend_of, chat_requests
from tests.aiwriter.gateway.conftest import chat, complete


@pytest.fixture
def first_of_ties(monkeypatch):
    """Ties between equally busy hosts go to the first listed, so a test knows where a request lands."""
    monkeypatch.setattr("aiwriter.gateway.routing.random.choice", lambda candidates: candidates[0])


async def test_requests_spread_to_the_least_busy_host(hosts):
    simulators = hosts(3, tokens_per_second=20)
    tasks = [asyncio.create_task(complete(chat(f"Prompt {n}"))) for n in range(6)]
    try:
        for simulator in simulators:
            await simulator.wait_for_in_flight_async(2, timeout=3)
        assert [host["in_flight"] for host in hosts_state()] == [2, 2, 2]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_model_goes_only_to_hosts_that_serve_it(hosts, engine_factory, gateway_settings):
    simulators = hosts(2)
    special = engine_factory(models=["mistral:7b"], dialect="openai" if simulators[0].dialect == "ollama" else "ollama")
    gateway_settings.AIWRITER_BACKENDS = [*gateway_settings.AIWRITER_BACKENDS, backend_of(special)]
    await get_gateway().registry.refresh()
    for n in range(4):
        text, stream = await complete(chat(f"Prompt {n}", model="mistral:7b"))
        assert text and stream.host == backend_of(special)["url"]
    assert chat_requests(*simulators) == []


async def test_a_host_going_down_opens_its_breaker_and_traffic_moves(hosts, engine_factory, first_of_ties):
    healthy, failing = hosts(2)
    port = failing.port
    failing.stop()
    gateway = get_gateway()
    gateway.hosts.reverse()  # the stopped host is tried first
    for n in range(2):
        text, stream = await complete(chat(f"Prompt {n}"))
        assert text and stream.host == backend_of(healthy)["url"]
    state = {host["url"]: host for host in hosts_state()}
    assert state[backend_of(failing)["url"]]["breaker"] == "open"

    # While open, no request is even tried there: nothing more fails, everything lands on the healthy host.
    errors_before = gateway.hosts[0].breaker.failures
    text, stream = await complete(chat("While open"))
    assert stream.host == backend_of(healthy)["url"] and gateway.hosts[0].breaker.failures == errors_before

    restarted = engine_factory(port=port)
    await asyncio.sleep(0.35)  # the cooldown
    await gateway.registry.refresh()  # the health check is the probe
    assert {host["url"]: host for host in hosts_state()}[backend_of(failing)["url"]]["breaker"] == "closed"
    text, stream = await complete(chat("After recovery"))
    assert stream.host == backend_of(restarted)["url"]


@pytest.mark.parametrize("status", [503, 429, 500])
async def test_busy_and_failing_hosts_are_retried_on_another_host(hosts, first_of_ties, status):
    first, second = hosts(2)
    first.fail_with(status, times=None)
    text, stream = await complete(chat())
    assert stream.host == backend_of(second)["url"]
    assert text == chat_requests(second)[0].reply
    assert [record.status for record in chat_requests(first)] == [status]


async def test_a_busy_single_host_is_reported_not_hammered(hosts):
    (only,) = hosts(1)
    only.fail_with(503, times=None)
    with pytest.raises(EngineError) as caught:
        await complete(chat())
    assert caught.value.code == "busy"
    assert len(chat_requests(only)) == 1


async def test_model_not_found_is_not_retried(hosts):
    simulators = hosts(3)
    with pytest.raises(EngineError) as caught:
        await complete(chat(model="missing:1b"))
    assert caught.value.code == "model_not_found"
    # The first host asked (for the model's details, or to chat) said so; no other was asked.
    assert sum(1 for simulator in simulators if simulator.requests and simulator.requests[-1].status == 404) == 1
    assert chat_requests(*simulators) == [] or len(chat_requests(*simulators)) == 1


async def test_no_retry_once_text_has_been_sent(hosts, first_of_ties):
    first, second = hosts(2)
    first.drop_after(3, times=None)
    started = time.monotonic()
    with pytest.raises(EngineError) as caught:
        await complete(chat())
    assert caught.value.code == "upstream"
    assert chat_requests(second) == []
    assert time.monotonic() - started < 2


async def test_a_high_per_host_limit_lets_every_admitted_stream_run_at_once(hosts, gateway_settings):
    gateway_settings.AIWRITER_MAX_IN_FLIGHT = 150
    gateway_settings.AIWRITER_MAX_IN_FLIGHT_PER_HOST = 150
    gateway_settings.AIWRITER_QUEUE_SIZE = 150
    (simulator,) = hosts(1, tokens_per_second=5, num_parallel=200)
    tasks = [asyncio.create_task(complete(chat(f"Prompt {n}"))) for n in range(120)]
    try:
        # More than one HTTP client's default 100 connections, all streaming before any ends.
        await simulator.wait_for_in_flight_async(120, timeout=5)
        assert hosts_state()[0]["in_flight"] == 120
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

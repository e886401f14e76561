"""Admission control: limits on generations in flight, a bounded queue, interactive before batch."""

import asyncio

import pytest
from prometheus_client import REGISTRY

from aiwriter.engines import EngineError
from aiwriter.gateway import Priority, get_gateway
from tests.aiwriter.conftest import chat_requests
from tests.aiwriter.fixtures import collect, generate_message, transactional, websocket
from tests.aiwriter.gateway.conftest import chat, complete


async def test_full_queue_answers_busy_with_a_retry_hint(hosts, gateway_settings):
    gateway_settings.AIWRITER_MAX_IN_FLIGHT = 1
    gateway_settings.AIWRITER_QUEUE_SIZE = 1
    (simulator,) = hosts(1, tokens_per_second=20)
    running = asyncio.create_task(complete(chat("First")))
    await simulator.wait_for_in_flight_async(1)
    waiting = asyncio.create_task(complete(chat("Second")))
    await asyncio.sleep(0.05)
    try:
        assert get_gateway().admission.waiting == 1
        with pytest.raises(EngineError) as caught:
            await complete(chat("Third"))
        assert caught.value.code == "busy"
        assert "Try again in a few seconds" in caught.value.message
        assert caught.value.retry_after > 0
    finally:
        running.cancel()
        waiting.cancel()
        await asyncio.gather(running, waiting, return_exceptions=True)
    assert len(chat_requests(simulator)) == 1


async def test_queue_depth_shows_who_waits_until_they_are_served(hosts, gateway_settings):
    gateway_settings.AIWRITER_MAX_IN_FLIGHT = 1

    def depth() -> float | None:
        return REGISTRY.get_sample_value("blogsite_ai_queue_depth", {"priority": "interactive"})

    (simulator,) = hosts(1, tokens_per_second=200)
    first = asyncio.create_task(complete(chat("First")))
    await simulator.wait_for_in_flight_async(1)
    second = asyncio.create_task(complete(chat("Second")))
    await asyncio.sleep(0.05)
    assert depth() == 1

    await asyncio.gather(first, second)
    assert depth() == 0
    assert len(chat_requests(simulator)) == 2


async def test_per_host_limit_sends_the_overflow_to_the_queue(hosts, gateway_settings):
    gateway_settings.AIWRITER_MAX_IN_FLIGHT_PER_HOST = 1
    simulators = hosts(2, tokens_per_second=20)
    tasks = [asyncio.create_task(complete(chat(f"Prompt {n}"))) for n in range(3)]
    try:
        for simulator in simulators:
            await simulator.wait_for_in_flight_async(1)
        await asyncio.sleep(0.05)
        assert get_gateway().admission.waiting == 1
        assert [simulator.max_in_flight for simulator in simulators] == [1, 1]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_interactive_requests_go_before_batch_jobs(hosts, gateway_settings):
    gateway_settings.AIWRITER_MAX_IN_FLIGHT = 1
    (simulator,) = hosts(1, tokens_per_second=200)
    order: list[str] = []

    async def run(name: str, priority: Priority) -> None:
        await complete(chat(name), priority=priority)
        order.append(name)

    first = asyncio.create_task(run("running", Priority.INTERACTIVE))
    await simulator.wait_for_in_flight_async(1)
    batch = asyncio.create_task(run("batch", Priority.BATCH))
    await asyncio.sleep(0.02)
    editor = asyncio.create_task(run("editor", Priority.INTERACTIVE))
    await asyncio.wait_for(asyncio.gather(first, batch, editor), timeout=10)
    assert order == ["running", "editor", "batch"]
    prompts = [record.body["messages"][0]["content"] for record in chat_requests(simulator)]
    assert prompts == ["running", "editor", "batch"]


@transactional
async def test_editor_sees_busy_when_the_queue_is_full(hosts, gateway_settings, author):
    gateway_settings.AIWRITER_MAX_IN_FLIGHT = 1
    gateway_settings.AIWRITER_QUEUE_SIZE = 0
    (simulator,) = hosts(1, tokens_per_second=20)
    async with websocket(author) as socket:
        await socket.send_json_to(generate_message("r1", options={"title": "One"}))
        await simulator.wait_for_in_flight_async(1)
        await socket.send_json_to(generate_message("r2", options={"title": "Two"}))
        events = await collect(socket, "r2")
        await socket.send_json_to({"type": "cancel", "request_id": "r1"})
    assert events[-1]["type"] == "error" and events[-1]["code"] == "busy"
    assert "Try again" in events[-1]["message"]

"""The response cache, as an editor sees it over the WebSocket."""

import pytest
from asgiref.sync import sync_to_async

from aiwriter.models import Generation
from tests.aiwriter.conftest import chat_requests
from tests.aiwriter.fixtures import collect, generate_message, streamed_text, websocket
from tests.aiwriter.fixtures import transactional as transactional_db
from tests.redis_server import free_port

pytestmark = [transactional_db, pytest.mark.usefixtures("gateway_settings")]

BODY = "A body about brewing green tea at the right temperature."


def summarize(request_id: str, **fields) -> dict:
    return generate_message(request_id, action="summarize", text=BODY, **fields)


async def test_a_repeated_cacheable_request_is_answered_from_the_cache(hosts, author):
    (simulator,) = hosts(1)
    async with websocket(author) as socket:
        await socket.send_json_to(summarize("r1"))
        first = await collect(socket, "r1")
        await socket.send_json_to(summarize("r2"))
        second = await collect(socket, "r2")
    assert first[-1]["cached"] is False and second[-1]["cached"] is True
    assert streamed_text(second) == streamed_text(first)
    assert len(chat_requests(simulator)) == 1
    record = await sync_to_async(Generation.objects.get)(request_id="r2")
    assert record.cached is True


async def test_regenerate_bypasses_the_cache(hosts, author):
    (simulator,) = hosts(1)
    async with websocket(author) as socket:
        await socket.send_json_to(summarize("r1"))
        await collect(socket, "r1")
        await socket.send_json_to(summarize("r2", regenerate=True))
        again = await collect(socket, "r2")
    assert again[-1]["cached"] is False
    assert len(chat_requests(simulator)) == 2


async def test_a_fixed_seed_makes_any_action_cacheable(hosts, author):
    (simulator,) = hosts(1)
    draft = generate_message("r1", options={"title": "Tea", "seed": 7})
    async with websocket(author) as socket:
        await socket.send_json_to(draft)
        await collect(socket, "r1")
        await socket.send_json_to({**draft, "request_id": "r2"})
        second = await collect(socket, "r2")
        await socket.send_json_to({**draft, "request_id": "r3", "options": {"title": "Tea"}})
        unseeded = await collect(socket, "r3")
    assert second[-1]["cached"] is True and unseeded[-1]["cached"] is False
    assert len(chat_requests(simulator)) == 2


async def test_failed_generations_are_not_cached(hosts, author):
    (simulator,) = hosts(1)
    simulator.error_after(2, "out of memory")
    async with websocket(author) as socket:
        await socket.send_json_to(summarize("r1"))
        failed = await collect(socket, "r1")
        await socket.send_json_to(summarize("r2"))
        second = await collect(socket, "r2")
    assert failed[-1]["type"] == "error" and streamed_text(failed), "the partial text was kept"
    assert second[-1]["type"] == "done" and second[-1]["cached"] is False
    assert len(chat_requests(simulator)) == 2


async def test_cancelled_generations_are_not_cached(hosts, author):
    (simulator,) = hosts(1, tokens_per_second=20)
    async with websocket(author) as socket:
        await socket.send_json_to(summarize("r1"))
        await simulator.wait_for_in_flight_async(1)
        await socket.send_json_to({"type": "cancel", "request_id": "r1"})
        cancelled = await collect(socket, "r1")
        await simulator.wait_for_disconnect_async()
        simulator.tokens_per_second = 2000
        await socket.send_json_to(summarize("r2"))
        second = await collect(socket, "r2")
    assert cancelled[-1]["code"] == "cancelled"
    assert second[-1]["type"] == "done" and second[-1]["cached"] is False
    assert len(chat_requests(simulator)) == 2


async def test_an_unreachable_cache_is_a_miss_and_the_editor_still_gets_the_text(hosts, author, gateway_settings):
    (simulator,) = hosts(1)
    gateway_settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    async with websocket(author) as socket:
        await socket.send_json_to(summarize("r1"))
        first = await collect(socket, "r1")
        await socket.send_json_to(summarize("r2"))
        second = await collect(socket, "r2")
    assert first[-1]["type"] == second[-1]["type"] == "done"
    assert first[-1]["cached"] is False and second[-1]["cached"] is False
    assert streamed_text(second) == streamed_text(first)
    assert len(chat_requests(simulator)) == 2

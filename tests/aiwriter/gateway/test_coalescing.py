"""Identical generations in flight share one upstream request, in one process and across processes."""

import asyncio
import time
from contextlib import aclosing

import pytest
import redis.asyncio as redis
from django.conf import settings

from aiwriter.gateway import Gateway, completion_open
from aiwriter.gateway.coalescing import KEY_PREFIX, follower_join, followers_key_for, owner_key_for
from aiwriter.gateway.response_cache import request_key
from aiwriter.engines import Chunk, EngineError
from tests.aiwriter.fixtures import collect, generate_message, streamed_text, transactional, until, websocket
from tests.aiwriter.gateway.conftest import chat, complete

SHARED = {"temperature": 0}


@pytest.fixture(params=["one frame per piece", "paced frames"])
def frame_pacing(request, gateway_settings) -> None:
    """Paced frames hold the upstream socket's reads between frames; sharing must not stall on it."""
    if request.param == "paced frames":
        gateway_settings.AIWRITER_FRAME_INTERVAL_MS = (25.0, 50.0)


async def read_until(events, *, chunks: int) -> str:
    text = []
    async for item in events:
        if isinstance(item, Chunk):
            text.append(item.text)
        if len(text) >= chunks:
            return "".join(text)
    return "".join(text)


async def test_a_hundred_identical_requests_make_one_upstream_request(hosts):
    (simulator,) = hosts(1, tokens_per_second=400)
    results = await asyncio.gather(*(complete(chat(options=SHARED)) for _ in range(100)))
    (record,) = simulator.requests_to("/api/chat")
    assert {text for text, _ in results} == {record.reply}
    assert sum(stream.coalesced for _, stream in results) == 99


async def test_a_late_follower_replays_what_was_sent_before_it_joined(hosts, frame_pacing):
    (simulator,) = hosts(1, tokens_per_second=100)
    owner = asyncio.create_task(complete(chat(options=SHARED)))
    await until(lambda: any(record.chunks_sent >= 5 for record in simulator.requests))
    follower_text, follower = await complete(chat(options=SHARED))
    owner_text, _ = await owner
    (record,) = simulator.requests_to("/api/chat")
    assert follower.coalesced and follower_text == owner_text == record.reply


async def test_owner_cancel_keeps_upstream_going_for_followers(hosts, frame_pacing):
    (simulator,) = hosts(1, tokens_per_second=100)
    follower = asyncio.create_task(complete(chat(options=SHARED)))
    await asyncio.sleep(0)
    owner = completion_open(chat(options=SHARED))
    async with aclosing(owner.events) as events:
        await read_until(events, chunks=3)
    text, _ = await follower
    (record,) = simulator.requests_to("/api/chat")
    assert text == record.reply
    assert simulator.disconnects == []


async def test_generations_in_two_processes_share_one_upstream_request(hosts, frame_pacing):
    (simulator,) = hosts(1, tokens_per_second=100)
    first, second = Gateway(), Gateway()
    try:
        owner = first.open(chat(options=SHARED))
        async with aclosing(owner.events) as events:
            started = await read_until(events, chunks=3)
            follower = asyncio.create_task(_drain(second.open(chat(options=SHARED)).events))
            rest = []
            async for item in events:
                if isinstance(item, Chunk):
                    rest.append(item.text)
        (record,) = simulator.requests_to("/api/chat")
        assert started + "".join(rest) == record.reply
        assert await asyncio.wait_for(follower, 5) == record.reply
    finally:
        await first.aclose()
        await second.aclose()


async def test_owner_cancel_in_one_process_keeps_the_follower_in_another(hosts, frame_pacing):
    (simulator,) = hosts(1, tokens_per_second=100)
    first, second = Gateway(), Gateway()
    key = request_key(chat(options=SHARED))
    try:
        owner = first.open(chat(options=SHARED))
        async with aclosing(owner.events) as events:
            await read_until(events, chunks=2)
            follower = asyncio.create_task(_drain(second.open(chat(options=SHARED)).events))
            # The owner learns of followers elsewhere with each piece it publishes.
            await until(lambda: remote_followers_known(first, key) > 0)
        text = await asyncio.wait_for(follower, 5)
        (record,) = simulator.requests_to("/api/chat")
        assert text == record.reply
        assert simulator.disconnects == []
    finally:
        await first.aclose()
        await second.aclose()


async def test_a_follower_that_joins_just_before_the_owner_cancels_keeps_streaming(hosts):
    # Pieces 200 ms apart: the owner has published nothing since the follower joined when its editor leaves.
    (simulator,) = hosts(1, tokens_per_second=5, reply="Tea leaves unfurl slowly in hot water.")
    first, second = Gateway(), Gateway()
    key = request_key(chat(options=SHARED))
    connection = redis.Redis.from_url(settings.REDIS_URL)
    try:
        owner = first.open(chat(options=SHARED))
        async with aclosing(owner.events) as events:
            await read_until(events, chunks=1)
            follower = asyncio.create_task(_drain(second.open(chat(options=SHARED)).events))
            flight_id = (await connection.get(owner_key_for(key))).decode()
            await until(lambda: connection.zcard(followers_key_for(key, flight_id)), timeout=1.0, poll=0.002)
        text = await asyncio.wait_for(follower, 5)
        (record,) = simulator.requests_to("/api/chat")
        assert text == record.reply
        assert simulator.disconnects == []
    finally:
        await connection.aclose()
        await first.aclose()
        await second.aclose()


async def test_a_follower_whose_process_died_stops_counting(hosts, gateway_settings):
    (simulator,) = hosts(1, tokens_per_second=20)
    first = Gateway()
    key = request_key(chat(options=SHARED))
    heartbeat = gateway_settings.AIWRITER_COALESCE_HEARTBEAT
    connection = redis.Redis.from_url(settings.REDIS_URL)
    try:
        owner = first.open(chat(options=SHARED))
        async with aclosing(owner.events) as events:
            await read_until(events, chunks=1)
            # Another process joined and died without leaving: it never says again that it listens.
            flight_id = (await connection.get(owner_key_for(key))).decode()
            assert await follower_join(connection, key, flight_id, "dead", heartbeat=heartbeat)
            await until(lambda: remote_followers_known(first, key) == 1)
        left = time.monotonic()
        # Counted as listening for a while, so the upstream request goes on...
        await asyncio.sleep(heartbeat / 2)
        assert simulator.disconnects == []
        # ...then it stops, instead of running on to the end for a process that is gone.
        await simulator.wait_for_disconnect_async(timeout=heartbeat * 3)
        assert time.monotonic() - left >= heartbeat
        (record,) = simulator.requests_to("/api/chat")
        assert record.chunks_sent < len(record.reply.split())
    finally:
        await connection.aclose()
        await first.aclose()


async def test_the_generation_stops_when_the_last_follower_elsewhere_leaves(hosts):
    (simulator,) = hosts(1, tokens_per_second=20)
    first, second = Gateway(), Gateway()
    key = request_key(chat(options=SHARED))
    try:
        owner_events = first.open(chat(options=SHARED)).events
        await read_until(owner_events, chunks=1)
        follower_events = second.open(chat(options=SHARED)).events
        await read_until(follower_events, chunks=1)
        await until(lambda: remote_followers_known(first, key) > 0)
        await owner_events.aclose()
        # The owner's editor left; the follower keeps the generation going...
        await read_until(follower_events, chunks=3)
        assert simulator.disconnects == []
        await follower_events.aclose()
        # ...until it leaves too.
        await simulator.wait_for_disconnect_async(timeout=2.0)
        (record,) = simulator.requests_to("/api/chat")
        assert record.chunks_sent < len(record.reply.split())
    finally:
        await first.aclose()
        await second.aclose()


async def test_followers_fail_in_bounded_time_when_the_owner_process_dies(hosts):
    (simulator,) = hosts(1)
    request = chat(options=SHARED)
    # Another process claimed this request and died before sending anything: its heartbeat runs out.
    connection = redis.Redis.from_url(settings.REDIS_URL)
    await connection.set(f"{KEY_PREFIX}{request_key(request)}:owner", "dead", px=600)
    await connection.aclose()
    started = time.monotonic()
    with pytest.raises(EngineError) as caught:
        await complete(request)
    assert caught.value.code == "unavailable"
    assert time.monotonic() - started < 3
    assert simulator.requests_to("/api/chat") == []


@transactional
async def test_two_editors_sockets_share_one_generation(hosts, author, other_author):
    (simulator,) = hosts(1, tokens_per_second=100)
    message = generate_message("r1", action="summarize", text="A body about tea and its history.")
    async with websocket(author) as first, websocket(other_author) as second:
        await first.send_json_to(message)
        await simulator.wait_for_in_flight_async(1)
        await second.send_json_to(message)
        first_events, second_events = await asyncio.gather(collect(first), collect(second))
    (record,) = simulator.requests_to("/api/chat")
    assert streamed_text(first_events) == streamed_text(second_events) == record.reply
    assert second_events[-1]["type"] == "done"


def remote_followers_known(gateway: Gateway, key: str) -> int:
    flight = gateway.flights.get(key)
    return flight.mirror.remote_followers if flight is not None and flight.mirror is not None else 0


async def _drain(events) -> str:
    text = []
    async with aclosing(events) as items:
        async for item in items:
            if isinstance(item, Chunk):
                text.append(item.text)
    return "".join(text)


async def test_a_request_stopped_at_once_leaves_nothing_behind_for_the_next(hosts):
    (simulator,) = hosts(1)
    stream = completion_open(chat(options=SHARED))
    async with aclosing(stream.events) as events:
        task = asyncio.ensure_future(anext(events))
        await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    text, again = await asyncio.wait_for(complete(chat(options=SHARED)), 5)
    assert text == simulator.requests_to("/api/chat")[-1].reply and not again.coalesced

"""What `completion_open(..., after=...)` starts before its events are read, and what it never sends."""

import asyncio
from contextlib import aclosing

from aiwriter.gateway import completion_open
from aiwriter.engines import Chunk
from tests.aiwriter.gateway.conftest import chat, chat_requests


async def read_all(stream) -> str:
    pieces = []
    async with aclosing(stream):
        async for item in stream.events:
            if isinstance(item, Chunk):
                pieces.append(item.text)
    return "".join(pieces)


async def test_the_request_leaves_once_after_returns_before_the_events_are_read(hosts):
    (simulator,) = hosts(1)
    allowed = asyncio.Event()
    stream = completion_open(chat(), after=allowed.wait)
    await asyncio.sleep(0.1)
    assert chat_requests(simulator) == [], "nothing is sent while `after` has not returned"
    allowed.set()
    await simulator.wait_for_requests_async(1)
    assert await read_all(stream)
    assert len(chat_requests(simulator)) == 1


async def test_nothing_is_sent_when_after_refuses(hosts):
    (simulator,) = hosts(1)

    async def refused() -> None:
        raise PermissionError("over the editor's limit")

    stream = completion_open(chat(), after=refused)
    await asyncio.sleep(0.1)
    await stream.aclose()
    assert chat_requests(simulator) == []


async def test_a_stream_closed_while_waiting_for_after_sends_nothing(hosts):
    (simulator,) = hosts(1)
    allowed = asyncio.Event()
    stream = completion_open(chat(), after=allowed.wait)
    await asyncio.sleep(0)
    await stream.aclose()
    allowed.set()
    await asyncio.sleep(0.1)
    assert chat_requests(simulator) == []


async def test_a_shareable_request_still_comes_from_the_cache_with_after(hosts):
    (simulator,) = hosts(1)
    request = chat("Summarize tea.", options={"temperature": 0})
    first = await read_all(completion_open(request))

    async def allowed() -> None:
        return None

    stream = completion_open(request, after=allowed)
    assert await read_all(stream) == first
    assert stream.cached and len(chat_requests(simulator)) == 1

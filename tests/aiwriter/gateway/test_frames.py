"""Paced frames: the first text at once, then one frame per stream every interval, on a cadence."""

import asyncio
import math
import time
from contextlib import aclosing

from aiwriter.gateway import completion_open
from aiwriter.gateway.coalescing import Flight
from aiwriter.gateway.frames import frame_interval, frames
from aiwriter.engines import Chunk, Done, GenerationStats
from aiwriter.engines.transport import _Connection
from tests.aiwriter.gateway.conftest import chat

REPLY = " ".join(f"word{n}" for n in range(120))


async def test_frames_are_paced_while_the_first_text_goes_out_at_once(hosts, gateway_settings):
    gateway_settings.AIWRITER_FRAME_INTERVAL_MS = (25.0, 50.0)
    (simulator,) = hosts(1, tokens_per_second=400, reply=REPLY)
    stream = completion_open(chat())
    arrivals: list[tuple[float, str]] = []
    started = time.monotonic()
    async with aclosing(stream.events) as events:
        async for item in events:
            if isinstance(item, Chunk):
                arrivals.append((time.monotonic(), item.text))
    (record,) = simulator.requests_to("/api/chat")
    assert "".join(text for _, text in arrivals) == REPLY
    assert arrivals[0][1] == record.reply.split(" ")[0], "the first token is sent alone, without waiting"
    assert arrivals[0][0] - started < 0.2
    gaps = [later - earlier for (earlier, _), (later, _) in zip(arrivals, arrivals[1:], strict=False)]
    assert min(gaps) >= 0.012, "never two frames within half an interval"
    assert len(gaps) <= (arrivals[-1][0] - arrivals[0][0]) / 0.025 + 1, "one frame per interval on average"
    assert len(arrivals) < record.chunks_sent / 3


async def test_between_frames_the_upstream_text_waits_in_the_socket(hosts, gateway_settings, monkeypatch):
    gateway_settings.AIWRITER_FRAME_INTERVAL_MS = (25.0, 50.0)
    (simulator,) = hosts(1, tokens_per_second=400, reply=REPLY)
    reads = 0
    data_received = _Connection.data_received

    def counted(connection, data: bytes) -> None:
        nonlocal reads
        reads += 1
        data_received(connection, data)

    monkeypatch.setattr(_Connection, "data_received", counted)
    frames_sent = 0
    async with aclosing(completion_open(chat()).events) as events:
        async for item in events:
            frames_sent += isinstance(item, Chunk)
    (record,) = simulator.requests_to("/api/chat")
    assert record.chunks_sent > 3 * frames_sent
    # The response's head, the first token, then one read per frame (and perhaps the end's own).
    assert reads <= frames_sent + 3


async def paced(flight: Flight, *, interval: float, busy_after: int, busy_for: float) -> list[float]:
    """When each frame of `flight` arrived; the event loop is blocked for `busy_for` seconds in the
    middle of the pause after frame number `busy_after`, so the frame after it goes out late."""

    async def produce() -> None:
        for n in range(120):
            flight.add(f"w{n} ")
            await asyncio.sleep(0.01)
        flight.finish(Done(GenerationStats(done_reason="stop")))

    producer = asyncio.create_task(produce())
    arrivals: list[float] = []
    async with aclosing(frames(flight, interval=lambda: interval)) as events:
        async for item in events:
            if isinstance(item, Chunk):
                arrivals.append(time.monotonic())
                if len(arrivals) == busy_after:
                    asyncio.get_running_loop().call_later(interval / 2, time.sleep, busy_for)
    await producer
    return arrivals


async def test_a_frame_sent_late_does_not_push_back_the_next():
    arrivals = await paced(Flight(None), interval=0.2, busy_after=2, busy_for=0.2)

    assert arrivals[2] - arrivals[1] >= 0.28, "the third frame went out late"
    # Due one interval after the third frame was due, not one interval after it went out.
    assert arrivals[3] - arrivals[2] < 0.16


async def test_catching_up_after_a_long_stall_keeps_frames_half_an_interval_apart():
    arrivals = await paced(Flight(None), interval=0.2, busy_after=2, busy_for=0.4)

    assert arrivals[2] - arrivals[1] >= 0.45
    assert arrivals[3] - arrivals[2] >= 0.09


def test_the_interval_grows_with_the_streams_held():
    pacing = {"shortest": 0.025, "longest": 0.05, "load": 200, "ceiling": 0.15}
    assert frame_interval(active=1, **pacing) < 0.026
    assert math.isclose(frame_interval(active=100, **pacing), 0.0375)
    assert math.isclose(frame_interval(active=200, **pacing), 0.05)


def test_beyond_the_load_frames_per_second_stay_level_up_to_the_ceiling():
    pacing = {"shortest": 0.025, "longest": 0.05, "load": 200, "ceiling": 0.15}
    for active in (200, 400, 600):
        assert math.isclose(active / frame_interval(active=active, **pacing), 4000)
    assert frame_interval(active=1000, **pacing) == 0.15
    assert frame_interval(active=100_000, **pacing) == 0.15

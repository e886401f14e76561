"""Merged frames: the first text at once, then at most one frame per stream every interval."""

import asyncio
import math
import time
from contextlib import aclosing

from aiwriter.engines import Chunk, Done, GenerationStats, Thinking
from aiwriter.gateway import completion_open
from aiwriter.gateway.frames import frame_interval, frames
from tests.aiwriter.conftest import chat_requests
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
    (record,) = chat_requests(simulator)
    assert "".join(text for _, text in arrivals) == REPLY
    assert arrivals[0][1] == record.reply.split(" ")[0], "the first token is sent alone, without waiting"
    assert arrivals[0][0] - started < 0.2
    gaps = [later - earlier for (earlier, _), (later, _) in zip(arrivals, arrivals[1:], strict=False)]
    assert min(gaps[:-1]) >= 0.02, "no two frames within an interval, but for the end"
    assert len(arrivals) < record.chunks_sent / 3


async def _events(*items, gap: float = 0.0):
    for item in items:
        await asyncio.sleep(gap)
        yield item


async def _framed(*items, gap: float = 0.0, interval: float = 0.05) -> list:
    async with aclosing(frames(_events(*items, gap=gap), interval=lambda: interval)) as framed:
        return [item async for item in framed]


async def test_pieces_held_within_an_interval_go_out_with_the_next_piece_or_the_end():
    done = Done(GenerationStats(done_reason="stop"))
    framed = await _framed(Chunk("a"), Chunk("b"), Chunk("c"), done)
    assert framed == [Chunk("a"), Chunk("bc"), done]


async def test_thinking_and_answer_are_never_merged_into_one_frame():
    done = Done(GenerationStats())
    framed = await _framed(Thinking("hm"), Thinking("m"), Chunk("Yes"), Chunk("."), done)
    assert framed == [Thinking("hm"), Thinking("m"), Chunk("Yes."), done]


async def test_an_interval_of_zero_sends_every_piece_as_it_came():
    done = Done(GenerationStats())
    assert await _framed(Chunk("a"), Chunk("b"), done, interval=0) == [Chunk("a"), Chunk("b"), done]


async def test_slow_pieces_are_never_held_back():
    done = Done(GenerationStats())
    framed = await _framed(Chunk("a"), Chunk("b"), done, gap=0.03, interval=0.02)
    assert framed == [Chunk("a"), Chunk("b"), done]


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

"""One frame per stream at most every 25 to 50 ms: the text that arrived meanwhile goes out together.

The first text goes out at once, so the time to first token does not grow; after that a stream
waits out the interval before sending again. The interval grows from its shortest to its longest
as the process holds more streams, up to `load` streams. Beyond that it grows with the streams,
so the process keeps sending about `load / longest` frames a second (2,000 by default, half
of what one daphne process delivers, leaving the rest for reading the streams), up to a ceiling
that keeps the text moving for the editor.
An interval of 0 switches pacing off.
"""

import asyncio
from collections.abc import AsyncIterator, Callable

from ..engines import Chunk, Done
from .coalescing import Flight


def frame_interval(*, active: int, shortest: float, longest: float, load: int, ceiling: float) -> float:
    """Seconds between two frames of a stream when the process holds `active` streams."""
    if load <= 0:
        return longest
    if active <= load:
        return shortest + (longest - shortest) * active / load
    return max(longest, min(longest * active / load, ceiling))


async def frames(flight: Flight, *, interval: Callable[[], float]) -> AsyncIterator[Chunk | Done]:
    """The flight's events as one subscriber sees them, text merged into frames; raises the flight's error.

    Frames keep a cadence: the next one is due an interval after this one was due, not after it
    went out, so a frame that a busy event loop sent late does not push back the ones after it.
    To catch up, two frames may come as close as half an interval; on average there is one per
    interval. After a frame the stream sleeps until the next is due, and the text arriving
    meanwhile stays in the upstream socket (`flight.reads`): the next frame takes it in with one
    read, instead of one socket callback per piece. When no text is waiting at that time, the
    next text goes out as soon as it arrives and the cadence starts again from there.
    """
    loop = asyncio.get_running_loop()
    index = 0
    due: float | None = None  # when the next frame is due, while the cadence holds
    try:
        while True:
            items = flight.items
            if index < len(items):
                pace = interval()
                if pace <= 0:
                    # Pacing switched off: one frame per piece, as Ollama sent them.
                    index += 1
                    yield Chunk(items[index - 1])
                    continue
                pieces = items[index:]
                index += len(pieces)
                now = loop.time()
                due = max(now if due is None else due, now - pace / 2) + pace
                yield Chunk("".join(pieces))
            elif flight.finished:
                if flight.error is not None:
                    raise flight.error
                yield flight.done
                return
            else:
                if await flight.wait_beyond(index):
                    due = None  # the cadence starts again from the text that comes next
                continue
            if flight.finished and index == len(flight.items):
                continue  # nothing left to pace: the end goes out at once
            pause = due - loop.time()
            if pause > 0:
                flight.reads.hold()
                await asyncio.sleep(pause)
    finally:
        # Another subscriber may be waiting since before this one held the reads.
        flight.reads.release()

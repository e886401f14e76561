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

from ..ollama import Chunk, Done
from .coalescing import Flight


def frame_interval(*, active: int, shortest: float, longest: float, load: int, ceiling: float) -> float:
    """Seconds between two frames of a stream when the process holds `active` streams."""
    if load <= 0:
        return longest
    if active <= load:
        return shortest + (longest - shortest) * active / load
    return max(longest, min(longest * active / load, ceiling))


async def frames(flight: Flight, *, interval: Callable[[], float]) -> AsyncIterator[Chunk | Done]:
    """The flight's events as one subscriber sees them, text merged into frames; raises the flight's error."""
    loop = asyncio.get_running_loop()
    index = 0
    last_frame: float | None = None
    while True:
        changed = flight.changed
        if index == len(flight.items) and not flight.finished:
            await changed.wait()
            continue
        if last_frame is not None and index < len(flight.items):
            pause = last_frame + interval() - loop.time()
            if pause > 0:
                await asyncio.sleep(pause)
        if index < len(flight.items) and interval() <= 0:
            # Pacing switched off: one frame per piece, as Ollama sent them.
            index += 1
            yield Chunk(flight.items[index - 1])
            continue
        if index < len(flight.items):
            pieces = flight.items[index:]
            index += len(pieces)
            last_frame = loop.time()
            yield Chunk("".join(pieces))
        if flight.finished and index == len(flight.items):
            if flight.error is not None:
                raise flight.error
            yield flight.done
            return

"""Merging streamed pieces into frames: at most one frame per stream every 25 to 50 ms.

A model streams a piece per token; sending each as its own WebSocket frame costs the server a
write per token per editor. A piece goes out at once when the stream's last frame is older than
the interval, else it waits for the next piece (or the end) and goes out with it, so text is
held back by at most one gap between tokens. The interval grows from its shortest to its longest
as the process holds more streams, up to `load` streams; beyond that it grows with the streams up
to a ceiling, so the frames a process sends per second stay level. An interval of 0 sends every
piece as it came.
"""

import time
from collections.abc import AsyncIterator, Callable

from ..engines import Chunk, Done, Thinking

Event = Chunk | Thinking | Done


def frame_interval(*, active: int, shortest: float, longest: float, load: int, ceiling: float) -> float:
    """Seconds between two frames of a stream when the process holds `active` streams."""
    if load <= 0:
        return longest
    if active <= load:
        return shortest + (longest - shortest) * active / load
    return max(longest, min(longest * active / load, ceiling))


async def frames(events: AsyncIterator[Event], *, interval: Callable[[], float]) -> AsyncIterator[Event]:
    """The events with consecutive pieces of the same kind merged, one frame per interval at most."""
    held: list[str] = []
    kind: type[Chunk] | type[Thinking] = Chunk
    last_sent = float("-inf")
    async for event in events:
        if isinstance(event, Done):
            if held:
                yield kind("".join(held))
            yield event
            return
        if held and type(event) is not kind:
            yield kind("".join(held))
            held.clear()
            last_sent = time.monotonic()
        kind = type(event)
        held.append(event.text)
        now = time.monotonic()
        if now - last_sent >= interval():
            yield kind("".join(held))
            held.clear()
            last_sent = now

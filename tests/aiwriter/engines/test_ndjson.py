import json
import random

import httpx
import pytest

from aiwriter.engines import Chunk, Done, MalformedResponse, OllamaClient
from aiwriter.engines.ndjson import LineTooLong, NDJSONLineBuffer

PIECES = ["Caf\u00e9 ", "\u65e5\u672c\u8a9e ", "tea\u2028time ", "next\u0085line ", "\U0001f375", " done."]


def chat_body(pieces: list[str], *, line_end: bytes = b"\n") -> bytes:
    lines = [{"model": "m", "message": {"role": "assistant", "content": piece}, "done": False} for piece in pieces]
    lines.append(
        {
            "model": "m",
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "eval_count": len(pieces),
            "eval_duration": 500_000_000,
        }
    )
    return b"".join(json.dumps(line, ensure_ascii=False).encode() + line_end for line in lines)


class SplitStream(httpx.AsyncByteStream):
    def __init__(self, parts: list[bytes]) -> None:
        self.parts = parts

    async def __aiter__(self):
        for part in self.parts:
            yield part


class SplittingTransport(httpx.AsyncBaseTransport):
    """Answers every request with `body`, delivered in reads of the given sizes."""

    def __init__(self, body: bytes, sizes: list[int]) -> None:
        self.parts, start = [], 0
        for size in [*sizes, len(body)]:
            if start >= len(body):
                break
            self.parts.append(body[start : start + size])
            start += size

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Type": "application/x-ndjson"}, stream=SplitStream(self.parts))


async def stream_through(body: bytes, sizes: list[int]) -> tuple[str, Done]:
    client = OllamaClient("http://ollama.test", transport=SplittingTransport(body, sizes))
    try:
        events = [event async for event in client.chat(model="m", messages=[{"role": "user", "content": "hi"}])]
    finally:
        await client.aclose()
    assert all(isinstance(event, Chunk) for event in events[:-1])
    return "".join(event.text for event in events[:-1]), events[-1]


def random_sizes(seed: int, total: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.randint(1, 40) for _ in range(total)]


@pytest.mark.parametrize(
    "sizes",
    [[1] * 5000, [7] * 1000, [3, 200, 1, 1, 90, 5], *(random_sizes(seed, 400) for seed in range(5)), []],
    ids=["byte-by-byte", "seven-bytes", "uneven", *(f"random-{seed}" for seed in range(5)), "all-at-once"],
)
async def test_text_is_the_same_however_the_bytes_are_split(sizes):
    text, done = await stream_through(chat_body(PIECES), sizes)

    assert text == "".join(PIECES)
    assert done.stats.eval_count == len(PIECES)
    assert done.stats.tokens_per_second == pytest.approx(12.0)


async def test_crlf_line_endings_and_blank_lines_are_accepted():
    body = chat_body(PIECES, line_end=b"\r\n").replace(b"\r\n", b"\r\n\r\n", 1)

    text, _ = await stream_through(body, [5] * 500)

    assert text == "".join(PIECES)


async def test_last_line_without_a_newline_still_counts():
    text, done = await stream_through(chat_body(PIECES).rstrip(b"\n"), [9] * 500)

    assert text == "".join(PIECES) and done.stats.done_reason == "stop"


async def test_stream_that_ends_without_done_is_malformed():
    body = chat_body(PIECES).rsplit(b"\n", 2)[0] + b"\n"

    with pytest.raises(MalformedResponse, match="without finishing"):
        await stream_through(body, [11] * 500)


def test_buffer_returns_only_complete_lines():
    buffer = NDJSONLineBuffer()

    assert buffer.feed(b'{"a"') == []
    assert buffer.feed(b':1}\n{"b":2}\n{"c"') == [b'{"a":1}', b'{"b":2}']
    assert buffer.feed(b":3}") == []
    assert buffer.flush() == b'{"c":3}'
    assert buffer.flush() is None


def test_buffer_refuses_a_line_that_never_ends():
    buffer = NDJSONLineBuffer(max_line_bytes=100)

    buffer.feed(b"x" * 60)
    with pytest.raises(LineTooLong):
        buffer.feed(b"x" * 60)

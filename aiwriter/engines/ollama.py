"""Async client for the Ollama HTTP API, as described in ollama-api.md.

It speaks Ollama and nothing else: routing between hosts, retries and breakers sit one level up.
Every failure surfaces as an `EngineError` subclass (or `CancelledError` when the caller is
cancelled).
"""

from __future__ import annotations

import asyncio
import collections
import functools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import orjson

from blogsite.per_loop import PerLoop

from .errors import (
    BadRequest,
    MalformedResponse,
    EngineError,
    StreamError,
    Timeout,
    Unavailable,
    error_for_status,
)
from .ndjson import LineTooLong, NDJSONLineBuffer
from .transport import PacedReads, ResponseStream, StreamTransport
from .types import Chunk, Done, GenerationStats, ModelInfo, Timeouts

DEFAULT_TAGS_TTL = 5.0
# How long the end of the body may take after the done line before the connection is dropped.
_DRAIN_SECONDS = 1.0

StreamEvent = Chunk | Done


class OllamaClient:
    """One Ollama host: httpx requests over a pooled `StreamTransport`, with the time limits of ollama-api.md.

    `chat()` and `generate()` return async generators. Close them when you stop early, best with
    `async with contextlib.aclosing(client.chat(...)) as stream:`; closing (or cancelling the task
    that is reading) closes the HTTP response at once, which is how Ollama learns to stop.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeouts: Timeouts = Timeouts(),  # noqa: B008 - frozen, so one shared default is safe
        max_connections: int = 100,
        transport: httpx.AsyncBaseTransport | None = None,
        tags_ttl: float = DEFAULT_TAGS_TTL,
    ) -> None:
        self.base_url = normalize_base_url(base_url)
        self.timeouts = timeouts
        self.tags_ttl = tags_ttl
        self._tags_cache: tuple[float, list[ModelInfo]] | None = None
        self._tags_lock = asyncio.Lock()
        # Requests go straight to the transport: httpx's client layer (merging the URL with the base,
        # cookies, auth and redirect handling, a log line per request) cost about 0.3 ms of the event
        # loop per generation, and Ollama needs none of it.
        self._transport = transport or StreamTransport(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        self._closed = False
        # Reads are timed around the stream (first token, idle gap, total), not per socket read.
        self._timeout_limits = httpx.Timeout(
            connect=timeouts.connect, read=None, write=timeouts.idle, pool=None
        ).as_dict()
        self._headers = {"Accept": "application/x-ndjson, application/json", "User-Agent": "blogsite-aiwriter"}
        self._json_headers = {**self._headers, "Content-Type": "application/json"}
        self._urls: dict[str, httpx.URL] = {}

    def __repr__(self) -> str:
        return f"OllamaClient({self.base_url!r})"

    @property
    def is_closed(self) -> bool:
        return self._closed

    def chat(
        self,
        *,
        model: str,
        messages: list[dict],
        options: dict | None = None,
        keep_alive: str | int | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Streams a chat completion: `Chunk`s with text, then one `Done`."""
        payload = _payload(model=model, messages=messages, options=options, keep_alive=keep_alive)
        return self._events("/api/chat", payload, model=model, piece=_chat_piece)

    async def chat_into(
        self,
        receive: Callable[[str], None],
        *,
        model: str,
        messages: list[dict],
        options: dict | None = None,
        keep_alive: str | int | None = None,
        pacing: PacedReads | None = None,
    ) -> Done:
        """Streams a chat completion into `receive`, called with each piece of text as it arrives.

        `receive` runs in the socket's own callback: no task wakes up per piece, which is what a
        process streaming to many editors at once needs. It must not block. With `pacing`, the
        caller may leave the text in the socket between the moments it wants it (see
        `PacedReads`). Returns the `Done`; cancelling the caller closes the response at once.
        """
        payload = _payload(model=model, messages=messages, options=options, keep_alive=keep_alive)
        return await self._stream_into(
            "/api/chat", payload, model=model, piece=_chat_piece, receive=receive, pacing=pacing
        )

    def generate(
        self,
        *,
        model: str,
        prompt: str,
        system: str | None = None,
        options: dict | None = None,
        keep_alive: str | int | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Streams a plain completion: `Chunk`s with text, then one `Done`."""
        payload = _payload(model=model, prompt=prompt, system=system, options=options, keep_alive=keep_alive)
        return self._events("/api/generate", payload, model=model, piece=_generate_piece)

    async def tags(self) -> list[ModelInfo]:
        """The installed models, cached for `tags_ttl` seconds because every editor page asks."""
        cached = self._fresh_tags()
        if cached is not None:
            return cached
        async with self._tags_lock:
            cached = self._fresh_tags()
            if cached is not None:
                return cached
            models = _parse_tags(await self._get_json("/api/tags"), host=self.base_url)
            self._tags_cache = (time.monotonic() + self.tags_ttl, models)
            return list(models)

    async def version(self) -> str:
        data = await self._get_json("/api/version")
        if not isinstance(data, dict) or not isinstance(data.get("version"), str):
            raise MalformedResponse("The Ollama server sent an unreadable version.", host=self.base_url)
        return data["version"]

    async def ps(self) -> list[dict]:
        """The models loaded in memory right now, as Ollama describes them."""
        data = await self._get_json("/api/ps")
        models = data.get("models") if isinstance(data, dict) else None
        if not isinstance(models, list) or not all(isinstance(model, dict) for model in models):
            raise MalformedResponse("The Ollama server sent an unreadable list of loaded models.", host=self.base_url)
        return models

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._transport.aclose()

    def _request(self, method: str, path: str, body: bytes | None = None) -> httpx.Request:
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = httpx.URL(self.base_url + path)
        headers = self._headers if body is None else self._json_headers
        return httpx.Request(method, url, headers=headers, content=body, extensions={"timeout": self._timeout_limits})

    def _fresh_tags(self) -> list[ModelInfo] | None:
        if self._tags_cache is None or self._tags_cache[0] <= time.monotonic():
            return None
        return list(self._tags_cache[1])

    async def _events(
        self, path: str, payload: dict, *, model: str, piece: Callable[[dict], str]
    ) -> AsyncIterator[StreamEvent]:
        """The pieces of `_stream_into` as an async generator; closing it closes the response."""
        pieces: collections.deque[str] = collections.deque()
        arrived = asyncio.Event()

        def receive(text: str) -> None:
            pieces.append(text)
            arrived.set()

        streaming = asyncio.ensure_future(self._stream_into(path, payload, model=model, piece=piece, receive=receive))
        streaming.add_done_callback(lambda _task: arrived.set())
        try:
            while True:
                await arrived.wait()
                arrived.clear()
                while pieces:
                    yield Chunk(pieces.popleft())
                if streaming.done():
                    yield streaming.result()
                    return
        finally:
            if not streaming.done():
                streaming.cancel()
                # The response is closed by the time the generator is.
                await asyncio.wait([streaming])
            if not streaming.cancelled():
                streaming.exception()  # seen, even when the caller stopped listening first

    async def _stream_into(
        self,
        path: str,
        payload: dict,
        *,
        model: str,
        piece: Callable[[dict], str],
        receive: Callable[[str], None],
        pacing: PacedReads | None = None,
    ) -> Done:
        deadlines = _Deadlines(self.timeouts)
        response = await self._open(path, _encode(payload, host=self.base_url), model=model, deadlines=deadlines)
        lines = _StreamLines(piece=piece, receive=receive, deadlines=deadlines, host=self.base_url)
        try:
            await self._within(deadlines, _stream_body(response, lines.feed, pacing))
            lines.end()
        except TimeoutError:
            if lines.done is None:
                phase = deadlines.expired or ("idle" if deadlines.output_started else "first_token")
                raise self._timeout(phase, output_started=deadlines.output_started) from None
            # Only the end of the body was late: the reply is complete; the connection is not reused.
        except LineTooLong as exc:
            raise MalformedResponse(f"The Ollama server sent an oversized line ({exc}).", host=self.base_url) from exc
        except httpx.HTTPError as exc:
            if lines.done is None:
                raise self._transport_error(exc, output_started=deadlines.output_started) from exc
            # A bad tail after the last line only means the connection is not reused.
        finally:
            await response.aclose()
        if lines.done is None:
            raise MalformedResponse("The Ollama server ended the reply without finishing it.", host=self.base_url)
        return lines.done

    @staticmethod
    async def _within(deadlines: _Deadlines, awaitable: Awaitable[None]) -> None:
        """Awaits under the stream's moving time limits; raises TimeoutError, with `deadlines.expired` set.

        One timer per limit, checked when it fires and armed again if the limit moved meanwhile,
        instead of a timer armed and cancelled for every line.
        """
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(None) as limit:

            def check() -> None:
                nonlocal watch
                when, phase = deadlines.next()
                if when <= loop.time():
                    deadlines.expired = phase
                    limit.reschedule(when)
                else:
                    watch = loop.call_at(when, check)

            watch = loop.call_at(deadlines.next()[0], check)
            try:
                await awaitable
            finally:
                watch.cancel()

    async def _open(self, path: str, body: bytes, *, model: str, deadlines: _Deadlines) -> httpx.Response:
        """Sends the request and returns the streaming response once Ollama answered 200."""
        request = self._request("POST", path, body)
        deadline, phase = deadlines.next()
        try:
            async with asyncio.timeout_at(deadline):
                return await self._send(request, model=model)
        except TimeoutError:
            raise self._timeout(phase, output_started=False) from None
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, output_started=False) from exc

    async def _send(self, request: httpx.Request, *, model: str | None) -> httpx.Response:
        if self._closed:
            raise EngineError("The connection to the Ollama server has been shut down.", host=self.base_url)
        response = await self._transport.handle_async_request(request)
        response.request = request
        if response.is_success:
            return response
        try:
            body = await response.aread()
        finally:
            await response.aclose()
        raise error_for_status(response.status_code, body, model=model, host=self.base_url)

    async def _get_json(self, path: str) -> Any:
        deadline, phase = _Deadlines(self.timeouts).next()
        request = self._request("GET", path)
        try:
            async with asyncio.timeout_at(deadline):
                response = await self._send(request, model=None)
                try:
                    body = await response.aread()
                finally:
                    await response.aclose()
        except TimeoutError:
            raise self._timeout(phase, output_started=False) from None
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, output_started=False) from exc
        try:
            return json.loads(body)
        except ValueError:
            raise MalformedResponse(
                f"The Ollama server sent a reply to {path} that is not JSON.", host=self.base_url
            ) from None

    def _timeout(self, phase: str, *, output_started: bool) -> Timeout:
        limit = getattr(self.timeouts, phase)
        what = {
            "connect": "did not accept a connection",
            "first_token": "did not start answering",
            "idle": "stopped sending text",
            "total": "did not finish",
        }[phase]
        return Timeout(
            f"The Ollama server at {self.base_url} {what} within {limit:g} seconds.",
            phase=phase,
            output_started=output_started,
            host=self.base_url,
        )

    def _transport_error(self, exc: httpx.HTTPError, *, output_started: bool) -> EngineError:
        if isinstance(exc, httpx.ConnectTimeout):
            return self._timeout("connect", output_started=False)
        if isinstance(exc, httpx.TimeoutException):
            return self._timeout("first_token" if not output_started else "idle", output_started=output_started)
        if isinstance(exc, httpx.UnsupportedProtocol):
            return EngineError(f"The Ollama address {self.base_url} is not an http(s) URL.", host=self.base_url)
        if isinstance(exc, httpx.ConnectError):
            return Unavailable(
                f"Cannot connect to the Ollama server at {self.base_url}. Is it running?", host=self.base_url
            )
        if isinstance(exc, httpx.TransportError) and output_started:
            return StreamError("The connection to the Ollama server broke off mid-reply.", host=self.base_url)
        if isinstance(exc, httpx.TransportError):
            return Unavailable(
                f"The Ollama server at {self.base_url} closed the connection before answering.", host=self.base_url
            )
        if isinstance(exc, httpx.DecodingError):
            return MalformedResponse("The Ollama server sent a reply that could not be decoded.", host=self.base_url)
        return EngineError(f"Talking to the Ollama server failed: {exc}", host=self.base_url)


class _Deadlines:
    """Which time limit bounds the next read of a stream, and the phase to blame when it runs out."""

    def __init__(self, timeouts: Timeouts) -> None:
        self._timeouts = timeouts
        self._clock = asyncio.get_running_loop().time
        now = self._clock()
        self._total_at = now + timeouts.total
        # Connecting counts towards the first token: it is part of what the editor waits for.
        self._first_token_at = now + timeouts.first_token
        self._idle_at = now + timeouts.idle
        self._drain_at: float | None = None
        self.output_started = False
        # The phase whose limit ran out, once one has.
        self.expired = ""

    def next(self) -> tuple[float, str]:
        if self._drain_at is not None:
            return self._drain_at, "drain"
        phase_at, phase = (self._idle_at, "idle") if self.output_started else (self._first_token_at, "first_token")
        if self._total_at <= phase_at:
            return self._total_at, "total"
        return phase_at, phase

    def line_received(self) -> None:
        self._idle_at = self._clock() + self._timeouts.idle

    def last_line_received(self) -> None:
        """After the done line only the end of the body is left; waiting for it lets the connection
        go back to the pool, but never for long."""
        self._drain_at = self._clock() + _DRAIN_SECONDS


class _StreamLines:
    """A streaming body's NDJSON lines, parsed as the bytes arrive; each piece of text goes to `receive`."""

    def __init__(
        self, *, piece: Callable[[dict], str], receive: Callable[[str], None], deadlines: _Deadlines, host: str
    ) -> None:
        self._buffer = NDJSONLineBuffer()
        self._piece = piece
        self._receive = receive
        self._deadlines = deadlines
        self._host = host
        self.done: Done | None = None

    def feed(self, data: bytes) -> None:
        if self.done is not None:
            return  # only the end of the body is left
        for line in self._buffer.feed(data):
            self._line(line)
            if self.done is not None:
                return

    def end(self) -> None:
        """The body ended: a last line without a newline still counts."""
        tail = self._buffer.flush()
        if tail and self.done is None:
            self._line(tail)

    def _line(self, line: bytes) -> None:
        text, done = _parse_stream_line(line, piece=self._piece, host=self._host)
        self._deadlines.line_received()
        if text:
            self._deadlines.output_started = True
            self._receive(text)
        if done is not None:
            self.done = done
            self._deadlines.last_line_received()


async def _stream_body(response: httpx.Response, receive: Callable[[bytes], None], pacing: PacedReads | None) -> None:
    """The body's bytes into `receive`: straight from the socket with `StreamTransport`, else as httpx reads them."""
    # Ollama never compresses; without a Content-Encoding the raw bytes skip httpx's decoders.
    encoded = "content-encoding" in response.headers
    if isinstance(response.stream, ResponseStream) and not encoded:
        await response.stream.stream_to(receive, pacing)
        return
    async for data in response.aiter_bytes() if encoded else response.aiter_raw():
        receive(data)


def _payload(**fields: Any) -> dict:
    payload = {name: value for name, value in fields.items() if value is not None}
    payload["stream"] = True
    return payload


def _encode(payload: dict, *, host: str) -> bytes:
    try:
        return json.dumps(payload, ensure_ascii=False, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"The request could not be sent to Ollama: {exc}", host=host) from exc


def _parse_stream_line(line: bytes, *, piece: Callable[[dict], str], host: str) -> tuple[str, Done | None]:
    """The text of one stream line, and the `Done` when it is the last line.

    orjson, not json: a stream is a line per token, and at 1,000 streams json.loads was a twentieth
    of the process (3.8 against 0.7 µs a line).
    """
    try:
        data = orjson.loads(line)
    except ValueError:
        preview = line[:80].decode("utf-8", errors="replace")
        raise MalformedResponse(f"The Ollama server sent a line that is not JSON: {preview!r}", host=host) from None
    if not isinstance(data, dict):
        raise MalformedResponse("The Ollama server sent a line that is not a JSON object.", host=host)
    if "error" in data:
        raise StreamError(f"Ollama stopped generating: {data['error']}", host=host)
    try:
        text = piece(data)
    except ValueError as exc:
        raise MalformedResponse(f"The Ollama server sent an unexpected line: {exc}", host=host) from None
    done = Done(GenerationStats.from_response(data)) if data.get("done") is True else None
    return text, done


def _chat_piece(data: dict) -> str:
    message = data.get("message")
    if message is None:
        return ""
    if not isinstance(message, dict) or not isinstance(message.get("content", ""), str):
        raise ValueError("message.content is not text")
    return message.get("content", "")


def _generate_piece(data: dict) -> str:
    response = data.get("response", "")
    if not isinstance(response, str):
        raise ValueError("response is not text")
    return response


def _parse_tags(data: Any, *, host: str) -> list[ModelInfo]:
    entries = data.get("models") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise MalformedResponse("The Ollama server sent an unreadable list of models.", host=host)
    try:
        return [ModelInfo.from_tag(entry) for entry in entries]
    except (AttributeError, ValueError) as exc:
        raise MalformedResponse(f"The Ollama server sent an unreadable list of models: {exc}", host=host) from None


@functools.lru_cache(maxsize=256)
def normalize_base_url(base_url: str) -> str:
    """`http://host:11434/` and `http://host:11434` name the same host; anything but http(s) is refused."""
    url = base_url.strip().rstrip("/")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ValueError(f"invalid Ollama URL {base_url!r}: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"invalid Ollama URL {base_url!r}: expected http://host:port")
    return url


# One client per (event loop, host, limits). A client's pooled connections belong to the loop that
# opened them, so each loop gets its own; the clients of closed loops are dropped.
_clients: PerLoop[dict[tuple, OllamaClient]] = PerLoop()


def get_client(
    base_url: str,
    *,
    timeouts: Timeouts | None = None,
    max_connections: int = 100,
    tags_ttl: float = DEFAULT_TAGS_TTL,
) -> OllamaClient:
    """The shared client for `base_url` in the running event loop (call it from async code)."""
    timeouts = timeouts or Timeouts()
    key = (normalize_base_url(base_url), timeouts, max_connections, tags_ttl)
    clients = _clients.get(dict)  # only this loop's thread uses it
    client = clients.get(key)
    if client is None or client.is_closed:
        client = clients[key] = OllamaClient(
            key[0], timeouts=timeouts, max_connections=max_connections, tags_ttl=tags_ttl
        )
    return client


async def close_clients() -> None:
    """Closes the shared clients of the running event loop (on shutdown, or at the end of a test)."""
    for client in list((_clients.pop() or {}).values()):
        await client.aclose()

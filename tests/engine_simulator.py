"""Stand-ins for AI inference engines in tests: real HTTP servers on loopback, built on aiohttp.web.

One class speaks either dialect the project's engine clients speak, chosen by `dialect`:

- "ollama": Ollama's API as /work/shared/ollama-api.md describes it. POST /api/chat and
  /api/generate (NDJSON lines with chunked transfer, or one JSON object with `"stream": false`),
  POST /api/show, GET /api/tags, /api/ps and /api/version, `{"error": "..."}` bodies.
- "openai": the OpenAI-compatible API of vLLM, llama.cpp's llama-server, TGI and LM Studio.
  POST /v1/chat/completions (Server-Sent Events ending in `data: [DONE]`, or one
  `chat.completion` object), GET /v1/models and /health, `{"error": {"message", "type", "code"}}`
  bodies, an optional API key.

Both have a bounded request queue with parallel slots, paced tokens, model loading, a reasoning
model's thinking, images for vision models (Ollama: base64 strings in a message's `images`;
OpenAI: `image_url` content parts with `data:` URLs; each checked as the engine would, decoded and
kept on the request's record), and generation cancelled by closing the connection. Tests change the behaviour
while it runs (models, speed, reply text, injected faults) and read what it saw (requests, client
disconnects, requests in flight).

Prompt sizes are counted in `split_tokens` pieces, about one word each: the unit replies are
streamed in, so `num_ctx`, `max_tokens` and the usage figures all count the same thing.

A client that goes away is noticed through aiohttp's `handler_cancellation`: aiohttp cancels the
request's handler as soon as the connection is lost, whatever it is awaiting (a paced token, a
stall, a place in the queue), and the handler records the disconnect as it unwinds.

The server runs in a background thread with its own event loop, so sync and async tests can both
use it. By hand:

    python -m tests.engine_simulator --port 11434 --tps 20
    python -m tests.engine_simulator --port 8000 --tps 20 --dialect openai
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import collections
import contextlib
import functools
import hashlib
import io
import itertools
import json
import logging
import random
import re
import signal
import threading
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from PIL import Image, UnidentifiedImageError

logger = logging.getLogger("engine_simulator")

DIALECTS = ("ollama", "openai")
THINKING_STYLES = ("field", "tags")
DEFAULT_MODELS = ("llama3.2:1b", "qwen2.5:0.5b")
GENERATION_PATHS = ("/api/chat", "/api/generate")
OPENAI_GENERATION_PATHS = ("/v1/chat/completions",)
CHAT_PATHS = ("/api/chat", "/v1/chat/completions")
MODEL_ERROR_MESSAGE = "an error was encountered while running the model"
# A data URL of an image, as OpenAI's API and vLLM take it in an `image_url` part.
_DATA_URL = re.compile(r"^data:(image/[A-Za-z0-9.+-]+);base64,(.*)$", re.DOTALL)
BUSY_MESSAGE = "server busy, please try again.  maximum pending requests exceeded"
OPENAI_BUSY_MESSAGE = "The server is busy: too many requests are waiting. Please try again later."
DEFAULT_ERROR_MESSAGES = {
    400: "invalid request",
    401: "unauthorized",
    404: "not found",
    429: "too many requests",
    500: "internal server error",
    502: "bad gateway",
    503: BUSY_MESSAGE,
}
OPENAI_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    404: "invalid_request_error",
    429: "rate_limit_error",
}
DEFAULT_KEEP_ALIVE = 300.0
# Ollama's default context window when a request names no `num_ctx`.
DEFAULT_NUM_CTX = 2048
# Servers listen with the kernel's largest backlog; a small one would drop the SYNs of a burst of
# new connections, and each dropped one costs the client a 1 s retransmit.
LISTEN_BACKLOG = 4096
MAX_BODY_BYTES = 32 * 1024 * 1024
# Seconds aiohttp waits for handlers still running at stop; the simulator cancels them first.
SHUTDOWN_TIMEOUT = 0.1
_WORDS = (
    "the editor writes a clear draft about local models and careful prose while readers follow each idea through "
    "short paragraphs with examples notes and quiet revisions that keep the story honest simple useful friendly "
    "precise calm bright small steady open patient"
)
_VOCABULARY = _WORDS.split()
_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}

ReplySource = str | Callable[[dict], str] | None
Handler = Callable[[web.Request, "RequestRecord"], Awaitable[web.StreamResponse]]


@dataclass
class RequestRecord:
    """One request as the simulator saw it. Times are `time.monotonic()` values."""

    id: int
    method: str
    path: str
    body: Any
    received_at: float
    connection_id: int
    # Header names in lower case, values as sent.
    headers: dict[str, str] = field(default_factory=dict)
    status: int | None = None
    # The text the generation was planned to send (thinking inside `<think>` tags included).
    reply: str | None = None
    text_sent: str = ""
    thinking_sent: str = ""
    # Pieces streamed so far, thinking pieces included.
    chunks_sent: int = 0
    fault: str | None = None
    finished_at: float | None = None
    disconnected: bool = False
    # Set once the whole response is handed to the socket, or when the simulator itself closes the
    # connection; an end of file after that is not the client giving up.
    response_complete: bool = False
    # When each streamed piece was handed to the socket: the simulator's own pace, as it kept it.
    piece_times: list[float] = field(default_factory=list)
    # The prompt's size in `split_tokens` pieces, before any truncation.
    prompt_tokens: int = 0
    # Ollama's `options.num_ctx` as the request gave it (None: absent).
    num_ctx: int | None = None
    # Ollama dropped the start of the prompt because it did not fit the context window.
    truncated: bool = False
    # The images of a generation request's messages, decoded, in order.
    images: list[bytes] = field(default_factory=list)

    @property
    def has_authorization(self) -> bool:
        return "authorization" in self.headers


@dataclass(frozen=True)
class DisconnectRecord:
    """A client that closed its connection before its generation finished."""

    request_id: int
    path: str
    at: float
    chunks_sent: int


@dataclass
class Fault:
    """A failure to inject into the next `times` matching requests (`times=None`: every request).

    kind "status": answer `status` with the dialect's error body before any output.
    kind "error_line": after `after_chunks` chunks, send an error (Ollama: an `{"error": ...}` line;
        OpenAI: a `data: {"error": {...}}` event) and end the stream.
    kind "malformed": after `after_chunks` chunks, send a line that is not JSON and end the stream.
    kind "drop": after `after_chunks` chunks, close the connection mid-response.
    kind "stall": after `after_chunks` chunks, go silent for `seconds` (None: until the client leaves).
    `paths` None means the dialect's generation paths.
    """

    kind: str
    after_chunks: int = 0
    status: int = 500
    message: str = ""
    seconds: float | None = None
    times: int | None = 1
    paths: tuple[str, ...] | None = None


class _ApiError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


@dataclass
class _Job:
    """A generation, planned before it waits for a slot."""

    model: str
    pieces: list[tuple[str, str]]  # ("thinking" or "content", text)
    done_reason: str
    prompt_tokens: int
    keep_alive: float | None = None


@dataclass
class _Stats:
    """Durations in nanoseconds and counts in pieces, as Ollama's done line carries them."""

    total_duration: int
    load_duration: int
    prompt_eval_count: int
    prompt_eval_duration: int
    eval_count: int
    eval_duration: int


def deterministic_reply(prompt: str) -> str:
    """A reply of 24-47 words that depends only on the prompt, so tests can predict it."""
    digest = hashlib.sha256(prompt.encode()).digest()
    rng = random.Random(digest)
    words = [rng.choice(_VOCABULARY) for _ in range(24 + digest[0] % 24)]
    sentences, start = [], 0
    while start < len(words):
        end = min(len(words), start + rng.randint(6, 12))
        sentence = " ".join(words[start:end])
        sentences.append(sentence[0].upper() + sentence[1:] + ".")
        start = end
    return " ".join(sentences)


def split_tokens(text: str) -> list[str]:
    """Splits text into word-sized tokens that join back to exactly the same text."""
    return re.findall(r"\s*\S+|\s+$", text)


def prompt_text(path: str, body: dict) -> str:
    """The text a model would read for this request: the conversation, or system and prompt."""
    if path in CHAT_PATHS:
        return "\n".join(_content_text(message.get("content")) for message in body.get("messages") or [])
    return "\n".join(part for part in (body.get("system"), body.get("prompt")) if part)


def _content_text(content: Any) -> str:
    """A message's text: a string, or the text parts of an OpenAI content list."""
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


def normalize_model(name: str) -> str:
    return name if ":" in name else f"{name}:latest"


def parse_keep_alive(value: Any) -> float | None:
    """Seconds to keep a model loaded; None means forever. Raises ValueError like Ollama's 400."""
    if value is None:
        return DEFAULT_KEEP_ALIVE
    if isinstance(value, bool):
        raise ValueError("keep_alive must be a duration or a number of seconds")
    if isinstance(value, int | float) or (isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value.strip())):
        seconds = float(value)
    elif isinstance(value, str) and re.fullmatch(rf"-?(?:{_GO_DURATION.pattern})+", value.strip()):
        sign = -1.0 if value.strip().startswith("-") else 1.0
        seconds = sign * sum(float(n) * _DURATION_UNITS[unit] for n, unit in _GO_DURATION.findall(value))
    else:
        raise ValueError(f'time: invalid duration "{value}"')
    return None if seconds < 0 else seconds


def go_json(data: Any) -> bytes:
    """JSON the way Go's encoder writes it: compact, UTF-8, with <, >, &, U+2028 and U+2029 escaped."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028")):
        text = text.replace(char, escape)
    return text.replace("\u2029", "\\u2029").encode()


def compact_json(data: Any) -> bytes:
    """JSON the way the Python engines (vLLM, llama-cpp-python) write it: compact UTF-8."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def openai_error(status: int, message: str, code: str | None = None) -> dict:
    """The OpenAI error body: `{"error": {"message", "type", "code"}}`."""
    kind = OPENAI_ERROR_TYPES.get(status, "server_error")
    return {"error": {"message": message, "type": kind, "code": code}}


@functools.lru_cache(maxsize=4096)
def _text_json(text: str) -> bytes:
    """`go_json` of a token's text: replies repeat their words, so most are encoded once."""
    return go_json(text)


def rfc3339_now() -> str:
    """Now, as Ollama writes `created_at`: UTC to the nanosecond, trailing zeros dropped.

    The date and time of day are formatted once a second, not for every line: at 1,000 streams
    the simulator writes 20,000 lines a second, and `strftime` for each was a tenth of its time.
    """
    seconds, nanoseconds = divmod(time.time_ns(), 1_000_000_000)
    fraction = f"{nanoseconds:09d}".rstrip("0")
    return _utc_second(seconds) + (f".{fraction}" if fraction else "") + "Z"


@functools.lru_cache(maxsize=4)
def _utc_second(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def rfc3339(moment: datetime) -> str:
    fraction = f"{moment.microsecond:06d}000".rstrip("0")
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


class EngineSimulator:
    """An inference engine for tests. Every public attribute may be changed while it runs.

    dialect: "ollama" or "openai" (see the module's docstring).
    models: the model names it serves; others get the dialect's 404.
    tokens_per_second: pacing of the stream (None or 0: as fast as possible). The default, 2000, keeps
        tests fast; lower it where pacing is the point.
    first_token_delay: seconds of "prompt processing" before the first token.
    load_delay: extra seconds the first request for a model that is not loaded waits.
    reply: None (a deterministic reply derived from the prompt), a fixed text, or a callable that
        receives the request's JSON body and returns the text.
    num_parallel, max_queue: like OLLAMA_NUM_PARALLEL and OLLAMA_MAX_QUEUE, for the whole server.
    version: what Ollama's /api/version answers.
    keep_records: how many of the latest requests and disconnects to remember (None: all).
    on_request_end: called with each request's record once it is answered (in the simulator's thread).
    context_length: the models' context window: what /api/show reports, and the OpenAI dialect's
        limit on prompt plus `max_tokens` (a 400 beyond it, as vLLM answers).
    default_num_ctx: Ollama's window when a request names no `options.num_ctx`; a longer prompt
        loses its start silently and its record says `truncated`.
    thinking: None (the models do not reason), a text, or a callable of the request's body: the
        reasoning streamed before the reply. Ollama streams it as `message.thinking` (`response`
        is empty, `thinking` set, on /api/generate) when the request says `"think": true`, and
        answers 400 to `"think": true` without it; OpenAI streams it as `delta.reasoning_content`
        unless `chat_template_kwargs.enable_thinking` is false.
    thinking_style: "field" (as above) or "tags": the thinking goes inside the content between
        `<think>` and `</think>`, whatever the request says, as llama.cpp serves Qwen and DeepSeek.
    usage: whether the OpenAI dialect reports usage (a final chunk when the request asks with
        `stream_options.include_usage`, and `usage` in a `chat.completion`).
    health: whether the OpenAI dialect answers GET /health (llama-cpp-python's server does not).
    api_key: when set, /v1/* (OpenAI) or /api/* (Ollama, as behind a proxy) need
        `Authorization: Bearer <api_key>`, else 401.
    loop_factory: makes the event loop it runs on (asyncio's own by default).
    vision_models: the models that read images: Ollama's /api/show lists "vision" among their
        capabilities; a request with images for another model gets the dialect's 400.
    """

    def __init__(
        self,
        *,
        dialect: str = "ollama",
        host: str = "127.0.0.1",
        port: int = 0,
        models: Iterable[str] = DEFAULT_MODELS,
        tokens_per_second: float | None = 2000.0,
        first_token_delay: float = 0.0,
        load_delay: float = 0.0,
        reply: ReplySource = None,
        num_parallel: int = 1,
        max_queue: int = 512,
        version: str = "0.12.6",
        keep_records: int | None = None,
        on_request_end: Callable[[RequestRecord], None] | None = None,
        context_length: int = 4096,
        default_num_ctx: int = DEFAULT_NUM_CTX,
        thinking: ReplySource = None,
        thinking_style: str = "field",
        usage: bool = True,
        health: bool = True,
        api_key: str | None = None,
        loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop,
        vision_models: Iterable[str] = (),
    ) -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"dialect must be one of {DIALECTS}, not {dialect!r}")
        if thinking_style not in THINKING_STYLES:
            raise ValueError(f"thinking_style must be one of {THINKING_STYLES}, not {thinking_style!r}")
        self.dialect = dialect
        self.host = host
        self.port = port
        self.models = list(models)
        self.tokens_per_second = tokens_per_second
        self.first_token_delay = first_token_delay
        self.load_delay = load_delay
        self.reply = reply
        self._num_parallel = num_parallel
        self.max_queue = max_queue
        self.version = version
        self.context_length = context_length
        self.default_num_ctx = default_num_ctx
        self.thinking = thinking
        self.thinking_style = thinking_style
        self.usage = usage
        self.health = health
        self.api_key = api_key
        self.vision_models = list(vision_models)
        self.on_request_end = on_request_end
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._faults: list[Fault] = []
        # The latest requests and disconnects, all of them by default (tests look back at them); a
        # long-running simulator keeps a bounded number, or its memory and collector pauses grow
        # with every request it has served.
        self._requests: collections.deque[RequestRecord] = collections.deque(maxlen=keep_records)
        self._disconnects: collections.deque[DisconnectRecord] = collections.deque(maxlen=keep_records)
        self._request_ids = itertools.count(1)
        self._in_flight = 0
        self.max_in_flight = 0
        self._loaded: dict[str, float | None] = {}
        self._running = 0
        self._waiters: collections.deque[asyncio.Future] = collections.deque()
        self._started_at = datetime.now(UTC)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._handlers: set[asyncio.Task] = set()
        self._stopping = False
        # Connection numbers by transport: aiohttp has no connection object of its own to number.
        self._connections: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
        self._connection_ids = itertools.count(1)
        self._loop_factory = loop_factory

    # Lifecycle

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> EngineSimulator:
        """Starts serving; returns once the port accepts connections."""
        ready = threading.Event()
        failure: list[BaseException] = []
        self._stopping = False
        self._thread = threading.Thread(target=self._run, args=(ready, failure), name="engine-simulator", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        """Closes the listening socket and every open connection, then ends the thread."""
        if self._loop is None or self._thread is None:
            return
        with contextlib.suppress(RuntimeError):
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> EngineSimulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = self._loop_factory()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._listen())
        except OSError as exc:
            failure.append(exc)
            ready.set()
            loop.close()
            return
        self._loop = loop
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _listen(self) -> None:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_route("*", "/{path:.*}", self._serve)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=LISTEN_BACKLOG)
        try:
            await site.start()
        except OSError:
            await self._runner.cleanup()
            raise
        self.port = self._runner.addresses[0][1]

    async def _shutdown(self) -> None:
        self._stopping = True
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._runner.cleanup()

    # Configuration that needs more than an assignment

    @property
    def num_parallel(self) -> int:
        return self._num_parallel

    @num_parallel.setter
    def num_parallel(self, value: int) -> None:
        self._num_parallel = value
        if self._loop is not None:
            # More slots may let queued requests start now.
            self._loop.call_soon_threadsafe(self._dispatch_slots)

    def fail_with(
        self, status: int, message: str | None = None, *, times: int | None = 1, paths: Iterable[str] | None = None
    ) -> Fault:
        """Answer HTTP `status` with the dialect's error body before any output."""
        message = message if message is not None else DEFAULT_ERROR_MESSAGES.get(status, "error")
        if self.dialect == "openai" and status == 503 and message == BUSY_MESSAGE:
            message = OPENAI_BUSY_MESSAGE
        paths = tuple(paths) if paths is not None else None
        return self.add_fault(Fault("status", status=status, message=message, times=times, paths=paths))

    def error_after(self, chunks: int, message: str = MODEL_ERROR_MESSAGE, **kw) -> Fault:
        """Send an error after `chunks` chunks (HTTP status stays 200)."""
        return self.add_fault(Fault("error_line", after_chunks=chunks, message=message, **kw))

    def malformed_after(self, chunks: int, **kw) -> Fault:
        """Send a line that is not JSON after `chunks` chunks."""
        return self.add_fault(Fault("malformed", after_chunks=chunks, **kw))

    def drop_after(self, chunks: int, **kw) -> Fault:
        """Close the connection after `chunks` chunks, in the middle of the response."""
        return self.add_fault(Fault("drop", after_chunks=chunks, **kw))

    def stall_after(self, chunks: int, seconds: float | None = None, **kw) -> Fault:
        """Go silent after `chunks` chunks for `seconds` (None: until the client gives up)."""
        return self.add_fault(Fault("stall", after_chunks=chunks, seconds=seconds, **kw))

    def hang(self, **kw) -> Fault:
        """Never answer: no status line, no token, until the client gives up."""
        return self.stall_after(0, None, **kw)

    def add_fault(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def reply_for(self, path: str, body: dict) -> str:
        """The full text this simulator answers to a request, before limits and stop sequences apply."""
        if callable(self.reply):
            return self.reply(body)
        if isinstance(self.reply, str):
            return self.reply
        return deterministic_reply(prompt_text(path, body))

    def sees_images(self, model: str) -> bool:
        """Whether `model` reads images."""
        return normalize_model(model) in {normalize_model(name) for name in self.vision_models}

    def thinking_for(self, body: dict) -> str | None:
        """The reasoning this simulator streams before the reply, if its models reason."""
        return self.thinking(body) if callable(self.thinking) else self.thinking

    # What it saw

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._requests)

    @property
    def disconnects(self) -> list[DisconnectRecord]:
        with self._lock:
            return list(self._disconnects)

    @property
    def in_flight(self) -> int:
        """Generation requests received and not yet answered in full (queued ones included)."""
        return self._in_flight

    def requests_to(self, path: str) -> list[RequestRecord]:
        return [record for record in self.requests if record.path == path]

    def clear_records(self) -> None:
        with self._lock:
            self._requests.clear()
            self._disconnects.clear()
            self.max_in_flight = self._in_flight

    def wait_until(self, predicate: Callable[[], bool], *, timeout: float = 1.0, what: str = "the condition") -> None:
        """Blocks until `predicate()` holds, re-checking whenever the simulator records something."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"engine simulator: {what} did not happen within {timeout} seconds")
                self._changed.wait(remaining)

    def wait_for_disconnect(self, timeout: float = 1.0, *, count: int = 1) -> DisconnectRecord:
        """The `count`-th client disconnect, waiting for it if needed."""
        self.wait_until(lambda: len(self._disconnects) >= count, timeout=timeout, what=f"disconnect #{count}")
        return self._disconnects[count - 1]

    def wait_for_requests(self, count: int, timeout: float = 1.0) -> list[RequestRecord]:
        self.wait_until(lambda: len(self._requests) >= count, timeout=timeout, what=f"{count} requests")
        return self.requests

    def wait_for_in_flight(self, count: int, timeout: float = 1.0) -> None:
        self.wait_until(lambda: self._in_flight == count, timeout=timeout, what=f"{count} requests in flight")

    async def wait_for_disconnect_async(self, timeout: float = 1.0, *, count: int = 1) -> DisconnectRecord:
        """Like `wait_for_disconnect`, without blocking the caller's event loop."""
        return await asyncio.to_thread(self.wait_for_disconnect, timeout, count=count)

    async def wait_for_requests_async(self, count: int, timeout: float = 1.0) -> list[RequestRecord]:
        return await asyncio.to_thread(self.wait_for_requests, count, timeout)

    async def wait_for_in_flight_async(self, count: int, timeout: float = 1.0) -> None:
        await asyncio.to_thread(self.wait_for_in_flight, count, timeout)

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    # HTTP

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        """The one aiohttp handler: records the request, routes it, and notes when it is answered."""
        task = asyncio.current_task()
        self._handlers.add(task)
        try:
            record = self._record(request, await request.read())
            try:
                return await self._route(request, record)
            finally:
                self._finished(request, record)
        except ConnectionError:
            # The client left while an answer was going out; aiohttp has nothing left to send.
            return web.Response()
        finally:
            self._handlers.discard(task)

    def _finished(self, request: web.Request, record: RequestRecord) -> None:
        record.finished_at = time.monotonic()
        if self.on_request_end is not None:
            self.on_request_end(record)
        self._notify()
        logger.debug("%s %s %s (%d chunks)", request.method, request.path, record.status, record.chunks_sent)

    def _record(self, request: web.Request, raw: bytes) -> RequestRecord:
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {name.lower(): value for name, value in request.headers.items()}
        with self._changed:
            record = RequestRecord(
                next(self._request_ids),
                request.method,
                request.path,
                body,
                time.monotonic(),
                self._connection_id(request),
                headers=headers,
            )
            self._requests.append(record)
            self._changed.notify_all()
        return record

    def _connection_id(self, request: web.Request) -> int:
        transport = request.transport
        if transport is None:
            return 0
        if transport not in self._connections:
            self._connections[transport] = next(self._connection_ids)
        return self._connections[transport]

    def _routes(self) -> dict[str, tuple[str, Handler]]:
        if self.dialect == "openai":
            return {
                "/health": ("GET", self._health),
                "/v1/models": ("GET", self._openai_models),
                "/v1/chat/completions": ("POST", self._openai_chat),
            }
        return {
            "/": ("GET", self._root),
            "/api/tags": ("GET", self._tags),
            "/api/ps": ("GET", self._ps),
            "/api/version": ("GET", self._version),
            "/api/show": ("POST", self._show),
            "/api/chat": ("POST", self._ollama_generation),
            "/api/generate": ("POST", self._ollama_generation),
        }

    async def _route(self, request: web.Request, record: RequestRecord) -> web.StreamResponse:
        routes = self._routes()
        if request.path not in routes:
            return await self._send_unrouted(request, record, 404)
        method, handler = routes[request.path]
        if request.method != method:
            return await self._send_unrouted(request, record, 405)
        if not self._authorized(request):
            message = "Incorrect API key provided." if self.dialect == "openai" else "unauthorized"
            return await self._send_error(request, record, 401, message, code="invalid_api_key")
        fault = self._take_fault(request.path, kinds=("status",))
        if fault is not None:
            record.fault = fault.kind
            return await self._send_error(request, record, fault.status, fault.message)
        if request.path in self._generation_paths():
            return await self._serve_generation(request, record, handler)
        return await handler(request, record)

    def _authorized(self, request: web.Request) -> bool:
        protected = "/v1/" if self.dialect == "openai" else "/api/"
        if self.api_key is None or not request.path.startswith(protected):
            return True
        return request.headers.get("Authorization") == f"Bearer {self.api_key}"

    def _generation_paths(self) -> tuple[str, ...]:
        return OPENAI_GENERATION_PATHS if self.dialect == "openai" else GENERATION_PATHS

    async def _send_unrouted(self, request: web.Request, record: RequestRecord, status: int) -> web.StreamResponse:
        """404 or 405 as each engine's HTTP framework words them (Go's mux; FastAPI)."""
        if self.dialect == "openai":
            detail = "Not Found" if status == 404 else "Method Not Allowed"
            return await self._send_json(request, record, status, {"detail": detail})
        text = "404 page not found" if status == 404 else "405 method not allowed"
        return await _send(request, record, web.Response(status=status, text=text))

    async def _send_json(self, request: web.Request, record: RequestRecord, status: int, data: Any) -> web.Response:
        body = compact_json(data) if self.dialect == "openai" else go_json(data)
        response = web.Response(status=status, body=body, content_type="application/json", charset="utf-8")
        return await _send(request, record, response)

    async def _send_error(
        self, request: web.Request, record: RequestRecord, status: int, message: str, *, code: str | None = None
    ) -> web.Response:
        data = openai_error(status, message, code) if self.dialect == "openai" else {"error": message}
        return await self._send_json(request, record, status, data)

    # Ollama's small endpoints

    async def _root(self, request: web.Request, record: RequestRecord) -> web.StreamResponse:
        return await _send(request, record, web.Response(text="Ollama is running"))

    async def _version(self, request: web.Request, record: RequestRecord) -> web.StreamResponse:
        return await self._send_json(request, record, 200, {"version": self.version})

    async def _tags(self, request: web.Request, record: RequestRecord) -> web.StreamResponse:
        models = [self._model_entry(name) for name in self.models]
        return await self._send_json(request, record, 200, {"models": models})

    async def _ps(self, request: web.Request, record: RequestRecord) -> web.StreamResponse:
        now = time.time()
        models = []
        for name, expires in sorted(self._loaded.items()):
            if expires is not None and expires <= now:
                continue
            entry = self._model_entry(name)
            until = datetime.fromtimestamp(expires, UTC) if expires is not None else datetime(2318, 1, 1, tzinfo=UTC)
            entry.update(expires_at=rfc3339(until), size_vram=entry["size"])
            del entry["modified_at"]
            models.append(entry)
        return await self._send_json(request, record, 200, {"models": models})

    async def _show(self, request: web.Request, record: RequestRecord) -> web.StreamResponse:
        """A model's details; `model_info` carries the context window a client must fit."""
        body = record.body if isinstance(record.body, dict) else {}
        name = body.get("model") or body.get("name")
        if not isinstance(name, str) or not name:
            return await self._send_error(request, record, 400, "model is required")
        if normalize_model(name) not in {normalize_model(model) for model in self.models}:
            return await self._send_error(request, record, 404, f'model "{name}" not found')
        entry = self._model_entry(name)
        family = entry["details"]["family"]
        capabilities = ["completion"] + (["thinking"] if self.thinking is not None else [])
        if self.sees_images(name):
            capabilities.append("vision")
        answer = {
            "license": "",
            "modelfile": f"# Modelfile generated by the engine simulator\nFROM {name}\n",
            "parameters": "",
            "template": "{{ .Prompt }}",
            "details": entry["details"],
            "model_info": {
                "general.architecture": family,
                "general.parameter_count": entry["size"] * 2,
                f"{family}.context_length": self.context_length,
                f"{family}.embedding_length": 2048,
                f"{family}.block_count": 16,
            },
            "capabilities": capabilities,
            "modified_at": entry["modified_at"],
        }
        return await self._send_json(request, record, 200, answer)

    def _model_entry(self, name: str) -> dict:
        digest = hashlib.sha256(name.encode()).hexdigest()
        base, _, tag = normalize_model(name).partition(":")
        family = re.match(r"[a-z]*", base).group() or "llama"
        size = re.fullmatch(r"(\d+(?:\.\d+)?)b", tag)
        return {
            "name": name,
            "model": name,
            "modified_at": rfc3339(self._started_at),
            "size": 400_000_000 + int(digest[:6], 16) * 100,
            "digest": digest,
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": family,
                "families": [family],
                "parameter_size": f"{size.group(1).upper()}B" if size else "7B",
                "quantization_level": "Q4_K_M",
            },
        }

    # The OpenAI dialect's small endpoints

    async def _health(self, request: web.Request, record: RequestRecord) -> web.StreamResponse:
        if not self.health:
            return await self._send_unrouted(request, record, 404)
        return await self._send_json(request, record, 200, {"status": "ok"})

    async def _openai_models(self, request: web.Request, record: RequestRecord) -> web.StreamResponse:
        created = int(self._started_at.timestamp())
        data = [
            {"id": name, "object": "model", "created": created, "owned_by": "engine-simulator"} for name in self.models
        ]
        return await self._send_json(request, record, 200, {"object": "list", "data": data})

    # Generation requests: each dialect plans a job, then both run it the same way

    async def _ollama_generation(self, request: web.Request, record: RequestRecord) -> web.StreamResponse:
        try:
            body = _ollama_body(await request.read())
            thinking = self._ollama_thinking(body)
        except _ApiError as exc:
            return await self._send_error(request, record, exc.status, exc.message)
        model = normalize_model(body["model"])
        if model not in {normalize_model(name) for name in self.models}:
            error = f'model "{body["model"]}" not found, try pulling it first'
            return await self._send_error(request, record, 404, error)
        if _is_load_only(request.path, body):
            return await self._load_only(request, record, body)
        try:
            record.images = _ollama_images(body)
        except _ApiError as exc:
            return await self._send_error(request, record, exc.status, exc.message)
        if record.images and not self.sees_images(body["model"]):
            return await self._send_error(request, record, 400, f'"{body["model"]}" does not support vision')
        options = body.get("options") or {}
        record.num_ctx = options.get("num_ctx")
        window = record.num_ctx or self.default_num_ctx
        record.prompt_tokens = len(split_tokens(prompt_text(request.path, body)))
        # Ollama drops the start of a prompt that does not fit, and says nothing.
        record.truncated = record.prompt_tokens > window
        pieces, done_reason = self._plan(request.path, body, thinking, options.get("stop"), options.get("num_predict"))
        keep_alive = parse_keep_alive(body.get("keep_alive"))
        job = _Job(model, pieces, done_reason, min(record.prompt_tokens, window), keep_alive)
        output = _OllamaOutput(request, record, model=body["model"], stream=body.get("stream", True))
        return await self._generate(record, job, output)

    def _ollama_thinking(self, body: dict) -> str | None:
        if self.thinking is not None and self.thinking_style == "tags":
            return self.thinking_for(body)
        if not body.get("think"):
            return None
        if self.thinking is None:
            raise _ApiError(400, f'"{body["model"]}" does not support thinking')
        return self.thinking_for(body)

    async def _load_only(self, request: web.Request, record: RequestRecord, body: dict) -> web.StreamResponse:
        """An empty prompt only loads (or with keep_alive 0 unloads) the model, like Ollama."""
        keep_alive = parse_keep_alive(body.get("keep_alive"))
        reason = "unload" if keep_alive == 0 else "load"
        self._mark_loaded(normalize_model(body["model"]), keep_alive)
        answer = {"model": body["model"], "created_at": rfc3339_now()}
        if request.path == "/api/chat":
            answer["message"] = {"role": "assistant", "content": ""}
        else:
            answer["response"] = ""
        answer.update(done_reason=reason, done=True)
        return await self._send_json(request, record, 200, answer)

    async def _openai_chat(self, request: web.Request, record: RequestRecord) -> web.StreamResponse:
        try:
            body = _openai_body(await request.read())
        except _ApiError as exc:
            return await self._send_error(request, record, exc.status, exc.message)
        # vLLM and llama-server answer a request that names no model with the model they serve.
        model = body.get("model") or (self.models[0] if self.models else "")
        if model not in self.models:
            error = f"The model `{model}` does not exist."
            return await self._send_error(request, record, 404, error, code="model_not_found")
        try:
            record.images = _openai_images(body)
        except _ApiError as exc:
            return await self._send_error(request, record, exc.status, exc.message)
        if record.images and not self.sees_images(model):
            error = f"{model} is not a multimodal model: it does not take image input."
            return await self._send_error(request, record, 400, error)
        record.prompt_tokens = len(split_tokens(prompt_text(request.path, body)))
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        room = self.context_length - record.prompt_tokens
        if room < 0 or (max_tokens is not None and max_tokens > room):
            error = _context_error(self.context_length, record.prompt_tokens, max_tokens)
            return await self._send_error(request, record, 400, error)
        enabled = (body.get("chat_template_kwargs") or {}).get("enable_thinking", True)
        thinking = self.thinking_for(body) if enabled else None
        limit = max_tokens if max_tokens is not None else room
        pieces, done_reason = self._plan(request.path, body, thinking, body.get("stop"), limit)
        job = _Job(model, pieces, done_reason, record.prompt_tokens)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage")) and self.usage
        output = _OpenAIOutput(
            request, record, model=model, stream=bool(body.get("stream")), usage=self.usage, include_usage=include_usage
        )
        return await self._generate(record, job, output)

    def _plan(
        self, path: str, body: dict, thinking: str | None, stop: Any, limit: Any
    ) -> tuple[list[tuple[str, str]], str]:
        """The pieces to stream, thinking first, cut by stop sequences and the token limit."""
        text = self.reply_for(path, body)
        for sequence in [stop] if isinstance(stop, str) else stop or []:
            if isinstance(sequence, str) and sequence and sequence in text:
                text = text[: text.index(sequence)]
        pieces: list[tuple[str, str]] = []
        if thinking and self.thinking_style == "tags":
            pieces += [("content", "<think>\n"), *(("content", token) for token in split_tokens(thinking))]
            pieces.append(("content", "\n</think>\n\n"))
        elif thinking:
            pieces += [("thinking", token) for token in split_tokens(thinking)]
        pieces += [("content", token) for token in split_tokens(text)]
        if limit is not None and 0 <= limit < len(pieces):
            return pieces[: int(limit)], "length"
        return pieces, "stop"

    async def _serve_generation(self, request: web.Request, record: RequestRecord, handler: Handler):
        """Runs a generation; a client that leaves cancels it (aiohttp's handler cancellation)."""
        with self._counted_in_flight():
            try:
                return await handler(request, record)
            except asyncio.CancelledError:
                if not self._stopping:
                    self._note_disconnect(record)
                raise
            except ConnectionError:
                # A write found the connection closed before aiohttp reported it lost.
                self._note_disconnect(record)
                return web.Response()

    async def _generate(self, record: RequestRecord, job: _Job, output: _Output) -> web.StreamResponse:
        if not self._acquire_slot_now() and not await self._queue_for_slot():
            return await output.busy()
        try:
            return await self._produce(record, job, output)
        finally:
            self._release_slot()

    async def _produce(self, record: RequestRecord, job: _Job, output: _Output) -> web.StreamResponse:
        fault = self._take_fault(record.path, kinds=("error_line", "malformed", "drop", "stall"))
        record.fault = fault.kind if fault else None
        record.reply = "".join(text for kind, text in job.pieces if kind == "content")
        started = time.monotonic()
        load_ns = await self._load_model(job.model)
        prompt_started = time.monotonic()
        await asyncio.sleep(self.first_token_delay)
        prompt_ns = _ns_since(prompt_started)
        eval_started = time.monotonic()
        pieces = job.pieces
        for index in range(len(pieces) + 1):
            if fault and min(fault.after_chunks, len(pieces)) == index:
                if not await self._inject(fault, output):
                    return output.response
                fault = None
            if index == len(pieces):
                break
            await self._pace(eval_started, index + 1)
            await output.piece(*pieces[index])
        stats = _Stats(
            total_duration=_ns_since(started),
            load_duration=load_ns,
            prompt_eval_count=job.prompt_tokens,
            prompt_eval_duration=prompt_ns,
            eval_count=len(pieces),
            eval_duration=_ns_since(eval_started) if pieces else 0,
        )
        self._mark_loaded(job.model, job.keep_alive)
        return await output.finish(job.done_reason, stats)

    async def _inject(self, fault: Fault, output: _Output) -> bool:
        """Applies a mid-stream fault; False when the response ended with it."""
        if fault.kind == "stall":
            if fault.seconds is None:
                await asyncio.get_running_loop().create_future()  # never done: until the client leaves
            else:
                await asyncio.sleep(fault.seconds)
            return True
        if fault.kind == "error_line":
            await output.error(fault.message)
        elif fault.kind == "malformed":
            await output.malformed()
        else:
            await output.drop()
        return False

    async def _pace(self, eval_started: float, tokens_done: int) -> None:
        rate = self.tokens_per_second
        delay = eval_started + tokens_done / rate - time.monotonic() if rate else 0
        await asyncio.sleep(max(delay, 0))

    async def _load_model(self, model: str) -> int:
        """Nanoseconds spent loading; zero when the model is already in memory."""
        expires = self._loaded.get(model, 0.0)
        if model in self._loaded and (expires is None or expires > time.time()):
            return 0
        started = time.monotonic()
        await asyncio.sleep(self.load_delay)
        return max(_ns_since(started), 1)

    def _mark_loaded(self, model: str, keep_alive: float | None) -> None:
        if keep_alive == 0:
            self._loaded.pop(model, None)
        else:
            self._loaded[model] = None if keep_alive is None else time.time() + keep_alive

    def _take_fault(self, path: str, *, kinds: tuple[str, ...]) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                paths = fault.paths if fault.paths is not None else self._generation_paths()
                if fault.kind in kinds and path in paths:
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self._faults.remove(fault)
                    return fault
        return None

    @contextlib.contextmanager
    def _counted_in_flight(self):
        with self._changed:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            self._changed.notify_all()
        try:
            yield
        finally:
            with self._changed:
                self._in_flight -= 1
                self._changed.notify_all()

    def _note_disconnect(self, record: RequestRecord) -> None:
        with self._changed:
            if record.disconnected or record.response_complete:
                return
            record.disconnected = True
            self._disconnects.append(DisconnectRecord(record.id, record.path, time.monotonic(), record.chunks_sent))
            self._changed.notify_all()

    # Parallel slots and the queue, like OLLAMA_NUM_PARALLEL and OLLAMA_MAX_QUEUE

    def _acquire_slot_now(self) -> bool:
        if self._running < self._num_parallel and not self._waiters:
            self._running += 1
            return True
        return False

    async def _queue_for_slot(self) -> bool:
        """Waits in line for a slot; False at once when the line is full."""
        if len(self._waiters) >= self.max_queue:
            return False
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release_slot()
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)
            raise
        return True

    def _release_slot(self) -> None:
        self._running -= 1
        self._dispatch_slots()

    def _dispatch_slots(self) -> None:
        while self._waiters and self._running < self._num_parallel:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._running += 1
                waiter.set_result(None)


class _Output:
    """Writes one generation's answer: streamed, or with `"stream": false` as one JSON object.

    The status line goes out with the first piece, as the engines flush theirs, so a request that
    never produces a token never gets a status line either.
    """

    content_type = "application/json"

    def __init__(self, request: web.Request, record: RequestRecord, *, model: str, stream: bool) -> None:
        self._request = request
        self._record = record
        self._model = model
        self._stream = stream
        self.response = web.StreamResponse(headers={"Content-Type": self.content_type})
        self.response.enable_chunked_encoding()

    async def piece(self, kind: str, text: str) -> None:
        record = self._record
        record.chunks_sent += 1
        if kind == "thinking":
            record.thinking_sent += text
        else:
            record.text_sent += text
        if self._stream:
            record.piece_times.append(time.monotonic())
            await self._write(self.piece_bytes(kind, text))

    async def drop(self) -> None:
        """Closes the connection mid-response; the client sees the body cut short."""
        self._record.response_complete = True
        # Closing flushes what was written first, then the connection ends mid-body.
        if self._request.transport is not None:
            self._request.transport.close()

    async def _write(self, data: bytes, *, last: bool = False) -> None:
        if not self.response.prepared:
            self._record.status = 200
            await self.response.prepare(self._request)
        if last:
            # The end of the body goes out with the last line, so a client that stops reading at
            # the last line has received the complete response.
            self._record.response_complete = True
            await self.response.write_eof(data)
        else:
            await self.response.write(data)

    async def _send_whole(self, status: int, body: bytes) -> web.StreamResponse:
        response = web.Response(status=status, body=body, content_type="application/json", charset="utf-8")
        return await _send(self._request, self._record, response)

    def piece_bytes(self, kind: str, text: str) -> bytes:
        raise NotImplementedError

    async def finish(self, done_reason: str, stats: _Stats) -> web.StreamResponse:
        raise NotImplementedError

    async def error(self, message: str) -> None:
        raise NotImplementedError

    async def malformed(self) -> None:
        raise NotImplementedError

    async def busy(self) -> web.StreamResponse:
        raise NotImplementedError


class _OllamaOutput(_Output):
    """NDJSON lines, Ollama's way."""

    content_type = "application/x-ndjson"

    def __init__(self, request: web.Request, record: RequestRecord, *, model: str, stream: bool) -> None:
        super().__init__(request, record, model=model, stream=stream)
        self._chat = record.path == "/api/chat"
        # A piece's line from constant parts around its time and text: encoding the whole message for
        # every token was a quarter of the simulator's time at 1,000 streams. Same bytes as `_message`.
        if self._chat:
            text_key, end = b'"message":{"role":"assistant","content":', b'},"done":false}'
        else:
            text_key, end = b'"response":', b',"done":false}'
        self._piece_parts = b'{"model":' + go_json(model) + b',"created_at":"', b'",' + text_key, end

    def piece_line(self, text: str) -> bytes:
        """`go_json(self._message(text, done=False))`, built from its constant parts."""
        start, middle, end = self._piece_parts
        return b"".join((start, rfc3339_now().encode(), middle, _text_json(text), end))

    def piece_bytes(self, kind: str, text: str) -> bytes:
        if kind == "thinking":
            return go_json(self._message("", done=False, thinking=text)) + b"\n"
        return self.piece_line(text) + b"\n"

    async def finish(self, done_reason: str, stats: _Stats) -> web.StreamResponse:
        record = self._record
        if self._stream:
            final = self._message("", done=True)
        else:
            final = self._message(record.text_sent, done=True, thinking=record.thinking_sent or None)
        final["done_reason"] = done_reason
        if not self._chat:
            final["context"] = [(sum(map(ord, self._model)) + index) % 32000 for index in range(8)]
        final.update({name: value for name, value in vars(stats).items() if value})
        if not self._stream:
            return await self._send_whole(200, go_json(final))
        await self._write(go_json(final) + b"\n", last=True)
        return self.response

    async def error(self, message: str) -> None:
        if not self._stream:
            await self._send_whole(500, go_json({"error": message}))
            return
        await self._write(go_json({"error": message}) + b"\n", last=True)

    async def malformed(self) -> None:
        broken = go_json(self._message("trunc", done=False))[:-7]
        if not self._stream:
            await self._send_whole(200, broken)
            return
        await self._write(broken + b"\n", last=True)

    async def busy(self) -> web.StreamResponse:
        return await self._send_whole(503, go_json({"error": BUSY_MESSAGE}))

    def _message(self, text: str, *, done: bool, thinking: str | None = None) -> dict:
        message: dict[str, Any] = {"model": self._model, "created_at": rfc3339_now()}
        if self._chat:
            message["message"] = {"role": "assistant", "content": text}
            if thinking:
                message["message"]["thinking"] = thinking
        else:
            message["response"] = text
            if thinking:
                message["thinking"] = thinking
        message["done"] = done
        return message


class _OpenAIOutput(_Output):
    """Server-Sent Events of `chat.completion.chunk` objects ending in `data: [DONE]`, vLLM's way.

    The first delta carries the role, later ones only their text, as vLLM, llama-server and
    OpenAI itself send them; reasoning goes in `reasoning_content`, as vLLM's reasoning parsers
    and DeepSeek's API put it.
    """

    content_type = "text/event-stream"

    def __init__(
        self, request: web.Request, record: RequestRecord, *, model: str, stream: bool, usage: bool, include_usage: bool
    ) -> None:
        super().__init__(request, record, model=model, stream=stream)
        self.response.headers["Cache-Control"] = "no-cache"
        self._usage = usage
        self._include_usage = include_usage
        self._id = f"chatcmpl-{uuid.uuid4().hex}"
        self._created = int(time.time())
        self._role_sent = False

    def piece_bytes(self, kind: str, text: str) -> bytes:
        delta = {"reasoning_content" if kind == "thinking" else "content": text}
        if not self._role_sent:
            self._role_sent = True
            delta = {"role": "assistant", **delta}
        return _event(self._chunk([{"index": 0, "delta": delta, "finish_reason": None}]))

    async def finish(self, done_reason: str, stats: _Stats) -> web.StreamResponse:
        usage = {
            "prompt_tokens": stats.prompt_eval_count,
            "completion_tokens": stats.eval_count,
            "total_tokens": stats.prompt_eval_count + stats.eval_count,
        }
        if not self._stream:
            return await self._send_whole(200, compact_json(self._completion(done_reason, usage)))
        events = [_event(self._chunk([{"index": 0, "delta": {}, "finish_reason": done_reason}]))]
        if self._include_usage:
            events.append(_event({**self._chunk([]), "usage": usage}))
        events.append(b"data: [DONE]\n\n")
        await self._write(b"".join(events), last=True)
        return self.response

    async def error(self, message: str) -> None:
        if not self._stream:
            await self._send_whole(500, compact_json(openai_error(500, message)))
            return
        await self._write(_event(openai_error(500, message)), last=True)

    async def malformed(self) -> None:
        broken = compact_json(self._chunk([{"index": 0, "delta": {"content": "trunc"}, "finish_reason": None}]))[:-20]
        if not self._stream:
            await self._send_whole(200, broken)
            return
        await self._write(b"data: " + broken + b"\n\n", last=True)

    async def busy(self) -> web.StreamResponse:
        return await self._send_whole(503, compact_json(openai_error(503, OPENAI_BUSY_MESSAGE)))

    def _chunk(self, choices: list) -> dict:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": choices,
        }

    def _completion(self, done_reason: str, usage: dict) -> dict:
        message: dict[str, Any] = {"role": "assistant", "content": self._record.text_sent}
        if self._record.thinking_sent:
            message["reasoning_content"] = self._record.thinking_sent
        answer = {
            "id": self._id,
            "object": "chat.completion",
            "created": self._created,
            "model": self._model,
            "choices": [{"index": 0, "message": message, "finish_reason": done_reason}],
        }
        if self._usage:
            answer["usage"] = usage
        return answer


async def _send(request: web.Request, record: RequestRecord, response: web.Response) -> web.Response:
    """Sends a whole answer before the handler returns, so a record's end follows its answer."""
    record.status = response.status
    record.response_complete = True
    await response.prepare(request)
    await response.write_eof()
    return response


def _event(data: dict) -> bytes:
    return b"data: " + compact_json(data) + b"\n\n"


def _json_object(raw: bytes) -> dict:
    if not raw.strip():
        raise _ApiError(400, "missing request body")
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise _ApiError(400, f"invalid request body: {exc}") from None
    if not isinstance(body, dict):
        raise _ApiError(400, "invalid request body: expected a JSON object")
    return body


def _ollama_body(raw: bytes) -> dict:
    """The JSON body of an Ollama generation request, or the 400 Ollama would answer."""
    body = _json_object(raw)
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise _ApiError(400, "model is required")
    kinds = {"stream": bool, "options": dict, "prompt": str, "system": str, "messages": list, "think": bool | str}
    for name, kind in kinds.items():
        if body.get(name) is not None and not isinstance(body[name], kind):
            raise _ApiError(400, f"invalid request body: {name} has the wrong type")
    for message in body.get("messages") or []:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise _ApiError(400, "invalid message format: each message needs a role")
        if not isinstance(message.get("content", ""), str):
            raise _ApiError(400, "invalid message format: content must be a string")
        if message.get("images") is not None and not isinstance(message["images"], list):
            raise _ApiError(400, "invalid message format: images must be a list of base64 strings")
    options = body.get("options") or {}
    for name in ("num_predict", "num_ctx"):
        value = options.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise _ApiError(400, f"option {name} must be of type integer")
    stop = options.get("stop")
    if stop is not None and not isinstance(stop, str | list):
        raise _ApiError(400, "option stop must be a string or a list of strings")
    try:
        parse_keep_alive(body.get("keep_alive"))
    except ValueError as exc:
        raise _ApiError(400, str(exc)) from None
    return body


def _openai_body(raw: bytes) -> dict:
    """The JSON body of a chat completion request, or the 400 vLLM would answer."""
    body = _json_object(raw)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _ApiError(400, "messages must be a non-empty list")
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise _ApiError(400, "each message needs a role")
        if not isinstance(message.get("content"), str | list | None):
            raise _ApiError(400, "message content must be a string or a list of parts")
    if body.get("model") is not None and not isinstance(body["model"], str):
        raise _ApiError(400, "model must be a string")
    if body.get("stream") is not None and not isinstance(body["stream"], bool):
        raise _ApiError(400, "stream must be a boolean")
    if body.get("stream_options") is not None and not body.get("stream"):
        raise _ApiError(400, "Stream options can only be defined when `stream=True`.")
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise _ApiError(400, f"{name} must be at least 1, got {value}.")
    if body.get("stop") is not None and not isinstance(body["stop"], str | list):
        raise _ApiError(400, "stop must be a string or a list of strings")
    return body


def _ollama_images(body: dict) -> list[bytes]:
    """The images of an Ollama chat's messages, decoded as Go decodes `[]byte` JSON: standard base64."""
    images = []
    for message in body.get("messages") or []:
        encoded = message.get("images")
        if encoded is None:
            continue
        if not isinstance(encoded, list) or not all(isinstance(image, str) for image in encoded):
            raise _ApiError(400, "invalid message format: images must be a list of base64 strings")
        images += [_image_bytes(_base64_decoded(image)) for image in encoded]
    return images


def _openai_images(body: dict) -> list[bytes]:
    """The images of `image_url` parts: only `data:` URLs, since the simulator fetches nothing."""
    images = []
    for message in body["messages"]:
        content = message.get("content")
        for part in content if isinstance(content, list) else []:
            if not isinstance(part, dict) or part.get("type") not in ("text", "image_url"):
                raise _ApiError(400, "each content part must be of type text or image_url")
            if part["type"] == "text":
                if not isinstance(part.get("text"), str):
                    raise _ApiError(400, "a text part needs its text as a string")
                continue
            url = (part.get("image_url") or {}).get("url") if isinstance(part.get("image_url"), dict) else None
            match = _DATA_URL.match(url) if isinstance(url, str) else None
            if match is None:
                raise _ApiError(400, "image_url must hold a url of the form data:image/<type>;base64,<data>")
            images.append(_image_bytes(_base64_decoded(match[2])))
    return images


def _base64_decoded(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        bad = next((i for i, char in enumerate(text) if not (char.isascii() and (char.isalnum() or char in "+/="))), 0)
        raise _ApiError(400, f"illegal base64 data at input byte {bad}") from None


def _image_bytes(data: bytes) -> bytes:
    """The bytes, once they read as an image, as the engines' image loaders require."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError):
        raise _ApiError(400, "failed to process inputs: image: unknown format") from None
    return data


def _context_error(context_length: int, prompt_tokens: int, max_tokens: int | None) -> str:
    """vLLM's words for a request larger than the context window."""
    if max_tokens is None:
        return (
            f"This model's maximum context length is {context_length} tokens. However, your request has "
            f"{prompt_tokens} input tokens. Please reduce the length of the input messages."
        )
    return (
        f"This model's maximum context length is {context_length} tokens. However, you requested "
        f"{prompt_tokens + max_tokens} tokens ({prompt_tokens} in the messages, {max_tokens} in the completion). "
        "Please reduce the length of the messages or completion."
    )


def _is_load_only(path: str, body: dict) -> bool:
    if path == "/api/chat":
        return not body.get("messages")
    return not body.get("prompt")


def _ns_since(started: float) -> int:
    return int((time.monotonic() - started) * 1e9)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a simulated inference engine on loopback.")
    parser.add_argument("--dialect", choices=DIALECTS, default="ollama", help="the API it speaks")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument("--tps", type=float, default=20.0, help="tokens per second (0: as fast as possible)")
    parser.add_argument("--first-token-delay", type=float, default=0.2, help="seconds before the first token")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated model names")
    parser.add_argument("--num-parallel", type=int, default=1, help="requests served at once")
    parser.add_argument("--max-queue", type=int, default=512, help="queued requests before 503")
    parser.add_argument("--reply", default=None, help="fixed reply text (default: derived from the prompt)")
    parser.add_argument("--thinking", default=None, help="reasoning text streamed before each reply")
    parser.add_argument("--thinking-style", choices=THINKING_STYLES, default="field")
    parser.add_argument("--context-length", type=int, default=4096, help="the models' context window in tokens")
    parser.add_argument("--api-key", default=None, help="require `Authorization: Bearer <key>`")
    parser.add_argument("--vision-models", default="", help="comma-separated models that read images")
    parser.add_argument("--no-usage", action="store_true", help="report no token usage (OpenAI dialect)")
    parser.add_argument("--no-health", action="store_true", help="answer GET /health with 404 (OpenAI dialect)")
    parser.add_argument(
        "--keep-records", type=int, default=1000, help="latest requests remembered (memory stays bounded)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    parser.add_argument(
        "--uvloop",
        action="store_true",
        help="run on uvloop: a cheaper stand-in leaves more of a shared machine to what it serves (the benchmarks)",
    )
    parser.add_argument(
        "--timings",
        type=Path,
        help="append each streamed response's times to this file, a JSON line each "
        '({"path", "received", "pieces"}: time.monotonic() values, shared by the processes of one machine)',
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(message)s")
    simulator = EngineSimulator(
        dialect=args.dialect,
        host=args.host,
        port=args.port,
        models=[name.strip() for name in args.models.split(",") if name.strip()],
        tokens_per_second=args.tps or None,
        first_token_delay=args.first_token_delay,
        reply=args.reply,
        num_parallel=args.num_parallel,
        max_queue=args.max_queue,
        keep_records=args.keep_records,
        on_request_end=_timings_writer(args.timings) if args.timings else None,
        context_length=args.context_length,
        thinking=args.thinking,
        thinking_style=args.thinking_style,
        usage=not args.no_usage,
        health=not args.no_health,
        api_key=args.api_key,
        vision_models=[name.strip() for name in args.vision_models.split(",") if name.strip()],
        loop_factory=_uvloop_factory() if args.uvloop else asyncio.new_event_loop,
    )
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    simulator.start()
    logger.info(
        "%s simulator on %s serving %s at %g tokens/s",
        args.dialect,
        simulator.url,
        ", ".join(simulator.models),
        args.tps,
    )
    try:
        stopping.wait()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()


def _uvloop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    import uvloop  # only the benchmarks' simulator needs it

    return uvloop.new_event_loop


def _timings_writer(path: Path) -> Callable[[RequestRecord], None]:
    timings = path.open("a", buffering=1)  # a line at a time: a reader sees every finished response

    def write(record: RequestRecord) -> None:
        if record.piece_times:
            line = {"path": record.path, "received": record.received_at, "pieces": record.piece_times}
            timings.write(json.dumps(line) + "\n")

    return write


if __name__ == "__main__":
    main()

"""A protocol-faithful stand-in for Ollama: a real HTTP/1.1 server on loopback.

It follows /work/shared/ollama-api.md: POST /api/chat and /api/generate (streamed NDJSON with
chunked transfer, or one JSON object with `"stream": false`), GET /api/tags, /api/ps and
/api/version, Ollama's error bodies and status codes, a bounded request queue with parallel slots,
and generation cancelled by closing the connection. Tests change its behaviour while it runs
(models, speed, reply text, injected faults) and read what it saw (requests, client disconnects,
requests in flight).

The server runs in a background thread with its own event loop, so sync and async tests can both
use it. Stdlib only. By hand:

    python -m tests.ollama_simulator --port 11434 --tps 20
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import functools
import hashlib
import itertools
import json
import logging
import random
import re
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from pathlib import Path
from typing import Any

logger = logging.getLogger("ollama_simulator")

DEFAULT_MODELS = ("llama3.2:1b", "qwen2.5:0.5b")
GENERATION_PATHS = ("/api/chat", "/api/generate")
MODEL_ERROR_MESSAGE = "an error was encountered while running the model"
BUSY_MESSAGE = "server busy, please try again.  maximum pending requests exceeded"
DEFAULT_ERROR_MESSAGES = {
    400: "invalid request",
    404: "not found",
    429: "too many requests",
    500: "internal server error",
    502: "bad gateway",
    503: BUSY_MESSAGE,
}
DEFAULT_KEEP_ALIVE = 300.0
# Ollama's Go server listens with the kernel's largest backlog; asyncio's default of 100 would drop
# the SYNs of a burst of new connections, and each dropped one costs the client a 1 s retransmit.
LISTEN_BACKLOG = 4096
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 32 * 1024 * 1024
REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
_WORDS = (
    "the editor writes a clear draft about local models and careful prose while readers follow each idea through "
    "short paragraphs with examples notes and quiet revisions that keep the story honest simple useful friendly "
    "precise calm bright small steady open patient"
)
_VOCABULARY = _WORDS.split()
_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}

ReplySource = str | Callable[[dict], str] | None


@dataclass
class RequestRecord:
    """One request as the simulator saw it. Times are `time.monotonic()` values."""

    id: int
    method: str
    path: str
    body: Any
    received_at: float
    connection_id: int
    status: int | None = None
    reply: str | None = None
    text_sent: str = ""
    chunks_sent: int = 0
    fault: str | None = None
    finished_at: float | None = None
    disconnected: bool = False
    # Set once the whole response is handed to the socket, or when the simulator itself closes the
    # connection; an end of file after that is not the client giving up.
    response_complete: bool = False
    # When each streamed piece was handed to the socket: the simulator's own pace, as it kept it.
    piece_times: list[float] = field(default_factory=list)


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

    kind "status": answer `status` with `{"error": message}` before any output.
    kind "error_line": after `after_chunks` chunks, send `{"error": message}` and end the stream.
    kind "malformed": after `after_chunks` chunks, send a line that is not JSON and end the stream.
    kind "drop": after `after_chunks` chunks, close the connection mid-response.
    kind "stall": after `after_chunks` chunks, go silent for `seconds` (None: until the client leaves).
    """

    kind: str
    after_chunks: int = 0
    status: int = 500
    message: str = ""
    seconds: float | None = None
    times: int | None = 1
    paths: tuple[str, ...] = GENERATION_PATHS


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class _HttpRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool


class _ClientGone(Exception):
    """The client closed the connection while the simulator was still answering."""


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
    if path == "/api/chat":
        return "\n".join(message.get("content", "") for message in body.get("messages") or [])
    return "\n".join(part for part in (body.get("system"), body.get("prompt")) if part)


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


class OllamaSimulator:
    """An Ollama server for tests. Every public attribute may be changed while it runs.

    models: the model names it serves; others get 404 `model "x" not found, try pulling it first`.
    tokens_per_second: pacing of the stream (None or 0: as fast as possible). The default, 2000, keeps
        tests fast; lower it where pacing is the point.
    first_token_delay: seconds of "prompt processing" before the first token.
    load_delay: extra seconds the first request for a model that is not loaded waits.
    keep_records: how many of the latest requests and disconnects to remember (None: all).
    on_request_end: called with each request's record once it is answered (in the simulator's thread).
    reply: None (a deterministic reply derived from the prompt), a fixed text, or a callable that
        receives the request's JSON body and returns the text.
    num_parallel, max_queue: like OLLAMA_NUM_PARALLEL and OLLAMA_MAX_QUEUE, for the whole server.
    loop_factory: makes the event loop it runs on (asyncio's own by default).
    """

    def __init__(
        self,
        *,
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
        loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop,
    ) -> None:
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
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._faults: list[Fault] = []
        # The latest requests and disconnects, all of them by default (tests look back at them); a
        # long-running simulator keeps a bounded number, or its memory and collector pauses grow
        # with every request it has served.
        self._requests: collections.deque[RequestRecord] = collections.deque(maxlen=keep_records)
        self._disconnects: collections.deque[DisconnectRecord] = collections.deque(maxlen=keep_records)
        self._request_ids = itertools.count(1)
        self.on_request_end = on_request_end
        self._in_flight = 0
        self.max_in_flight = 0
        self._loaded: dict[str, float | None] = {}
        self._running = 0
        self._waiters: collections.deque[asyncio.Future] = collections.deque()
        self._started_at = datetime.now(UTC)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task] = set()
        self._connection_ids = itertools.count(1)
        self._loop_factory = loop_factory

    # Lifecycle

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> OllamaSimulator:
        """Starts serving; returns once the port accepts connections."""
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(ready, failure), name="ollama-simulator", daemon=True)
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

    def __enter__(self) -> OllamaSimulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = self._loop_factory()
        asyncio.set_event_loop(loop)
        try:
            self._server = loop.run_until_complete(
                asyncio.start_server(
                    self._serve_connection, self.host, self.port, limit=MAX_HEADER_BYTES, backlog=LISTEN_BACKLOG
                )
            )
        except OSError as exc:
            failure.append(exc)
            ready.set()
            loop.close()
            return
        self.port = self._server.sockets[0].getsockname()[1]
        self._loop = loop
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _shutdown(self) -> None:
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

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
        self, status: int, message: str | None = None, *, times: int | None = 1, paths: Iterable[str] = GENERATION_PATHS
    ) -> Fault:
        """Answer HTTP `status` with `{"error": message}` before any output."""
        message = message if message is not None else DEFAULT_ERROR_MESSAGES.get(status, "error")
        return self.add_fault(Fault("status", status=status, message=message, times=times, paths=tuple(paths)))

    def error_after(
        self, chunks: int, message: str = "an error was encountered while running the model", **kw
    ) -> Fault:
        """Send an `{"error": ...}` line after `chunks` chunks (HTTP status stays 200)."""
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
        """The full text this simulator answers to a request, before `num_predict` and `stop` apply."""
        if callable(self.reply):
            return self.reply(body)
        if isinstance(self.reply, str):
            return self.reply
        return deterministic_reply(prompt_text(path, body))

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
                    raise TimeoutError(f"ollama simulator: {what} did not happen within {timeout} seconds")
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

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._handlers.add(task)
        connection = _Connection(reader, writer, next(self._connection_ids))
        try:
            while await self._serve_one(connection):
                pass
        except (ConnectionError, _ClientGone):
            pass
        finally:
            self._handlers.discard(task)
            connection.close()

    async def _serve_one(self, connection: _Connection) -> bool:
        """Answers one request; False when the connection must close afterwards."""
        try:
            request = await connection.read_request()
        except _HttpError as exc:
            await connection.send_text(exc.status, exc.message, keep_alive=False)
            return False
        if request is None:
            return False
        record = self._record(request, connection_id=connection.id)
        try:
            keep_alive = await self._route(connection, request, record)
        finally:
            record.finished_at = time.monotonic()
            if self.on_request_end is not None:
                self.on_request_end(record)
            self._notify()
            logger.debug("%s %s %s (%d chunks)", request.method, request.path, record.status, record.chunks_sent)
        return keep_alive and request.keep_alive

    def _record(self, request: _HttpRequest, *, connection_id: int) -> RequestRecord:
        try:
            body = json.loads(request.body) if request.body else None
        except ValueError:
            body = None
        with self._changed:
            record_id = next(self._request_ids)
            record = RequestRecord(record_id, request.method, request.path, body, time.monotonic(), connection_id)
            self._requests.append(record)
            self._changed.notify_all()
        return record

    async def _route(self, connection: _Connection, request: _HttpRequest, record: RequestRecord) -> bool:
        routes = {
            "/": ("GET", self._root),
            "/api/tags": ("GET", self._tags),
            "/api/ps": ("GET", self._ps),
            "/api/version": ("GET", self._version),
            "/api/chat": ("POST", self._generation),
            "/api/generate": ("POST", self._generation),
        }
        if request.path not in routes:
            return await _answer_text(connection, record, 404, "404 page not found")
        method, handler = routes[request.path]
        if request.method != method:
            return await _answer_text(connection, record, 405, "405 method not allowed")
        fault = self._take_fault(request.path, kinds=("status",))
        if fault is not None:
            record.fault = fault.kind
            return await _answer_json(connection, record, fault.status, {"error": fault.message})
        return await handler(connection, request, record)

    async def _root(self, connection: _Connection, request: _HttpRequest, record: RequestRecord) -> bool:
        return await _answer_text(connection, record, 200, "Ollama is running")

    async def _version(self, connection: _Connection, request: _HttpRequest, record: RequestRecord) -> bool:
        return await _answer_json(connection, record, 200, {"version": self.version})

    async def _tags(self, connection: _Connection, request: _HttpRequest, record: RequestRecord) -> bool:
        models = [self._model_entry(name) for name in self.models]
        return await _answer_json(connection, record, 200, {"models": models})

    async def _ps(self, connection: _Connection, request: _HttpRequest, record: RequestRecord) -> bool:
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
        return await _answer_json(connection, record, 200, {"models": models})

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

    # Generation

    async def _generation(self, connection: _Connection, request: _HttpRequest, record: RequestRecord) -> bool:
        """Generates while watching the connection, so a client that leaves is noticed at once."""
        with self._counted_in_flight():
            watcher = asyncio.create_task(connection.wait_for_close())
            worker = asyncio.create_task(self._generate(connection, request, record))
            try:
                await asyncio.wait({watcher, worker}, return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                watcher.cancel()
                worker.cancel()
                await asyncio.gather(watcher, worker, return_exceptions=True)
                raise
            client_left = watcher.done() and not record.response_complete
            watcher.cancel()
            if client_left:
                worker.cancel()
            await asyncio.gather(watcher, worker, return_exceptions=True)
            if client_left or _raised(worker, _ClientGone):
                self._note_disconnect(record, at=connection.closed_at)
                return False
            return worker.result()

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

    def _note_disconnect(self, record: RequestRecord, *, at: float | None) -> None:
        with self._changed:
            if record.disconnected:
                return
            record.disconnected = True
            at = at if at is not None else time.monotonic()
            self._disconnects.append(DisconnectRecord(record.id, record.path, at, record.chunks_sent))
            self._changed.notify_all()

    async def _generate(self, connection: _Connection, request: _HttpRequest, record: RequestRecord) -> bool:
        try:
            body = _validated_body(request)
        except _HttpError as exc:
            return await _answer_json(connection, record, exc.status, {"error": exc.message})
        model = normalize_model(body["model"])
        if model not in {normalize_model(name) for name in self.models}:
            error = f'model "{body["model"]}" not found, try pulling it first'
            return await _answer_json(connection, record, 404, {"error": error})
        if _is_load_only(request.path, body):
            return await self._load_only(connection, request.path, body, record)
        if not self._acquire_slot_now() and not await self._queue_for_slot():
            return await _answer_json(connection, record, 503, {"error": BUSY_MESSAGE})
        try:
            return await self._produce(connection, request.path, body, record)
        finally:
            self._release_slot()

    async def _load_only(self, connection: _Connection, path: str, body: dict, record: RequestRecord) -> bool:
        """An empty prompt only loads (or with keep_alive 0 unloads) the model, like Ollama."""
        keep_alive = parse_keep_alive(body.get("keep_alive"))
        reason = "unload" if keep_alive == 0 else "load"
        self._mark_loaded(normalize_model(body["model"]), keep_alive)
        answer = {"model": body["model"], "created_at": rfc3339_now()}
        answer.update({"message": {"role": "assistant", "content": ""}} if path == "/api/chat" else {"response": ""})
        answer.update(done_reason=reason, done=True)
        return await _answer_json(connection, record, 200, answer)

    async def _produce(self, connection: _Connection, path: str, body: dict, record: RequestRecord) -> bool:
        fault = self._take_fault(path, kinds=("error_line", "malformed", "drop", "stall"))
        record.fault = fault.kind if fault else None
        text, done_reason = _limited(self.reply_for(path, body), body.get("options") or {})
        tokens = split_tokens(text)
        record.reply = text
        started = time.monotonic()
        load_ns = await self._load_model(normalize_model(body["model"]))
        output = _StreamOutput(connection, record, path=path, model=body["model"], stream=body.get("stream", True))
        prompt_started = time.monotonic()
        await asyncio.sleep(self.first_token_delay)
        prompt_ns = _ns_since(prompt_started)
        eval_started = time.monotonic()
        for index in range(len(tokens) + 1):
            if fault and min(fault.after_chunks, len(tokens)) == index:
                if not await self._inject(fault, output):
                    return False
                fault = None
            if index == len(tokens):
                break
            await self._pace(eval_started, index + 1)
            await output.piece(tokens[index])
        stats = {
            "total_duration": _ns_since(started),
            "load_duration": load_ns,
            "prompt_eval_count": len(split_tokens(prompt_text(path, body))),
            "prompt_eval_duration": prompt_ns,
            "eval_count": len(tokens),
            "eval_duration": _ns_since(eval_started) if tokens else 0,
        }
        self._mark_loaded(normalize_model(body["model"]), parse_keep_alive(body.get("keep_alive")))
        return await output.finish(done_reason, stats)

    async def _inject(self, fault: Fault, output: _StreamOutput) -> bool:
        """Applies a mid-stream fault; False when the response ended with it."""
        if fault.kind == "stall":
            await (asyncio.sleep(fault.seconds) if fault.seconds is not None else asyncio.Event().wait())
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
                if fault.kind in kinds and path in fault.paths:
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self._faults.remove(fault)
                    return fault
        return None

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


class _Connection:
    """One client connection: a read buffer the request parser and the close watcher share."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, connection_id: int) -> None:
        self.id = connection_id
        self.reader = reader
        self.writer = writer
        self.buffer = bytearray()
        self.closed_at: float | None = None

    async def read_more(self) -> bool:
        data = await self.reader.read(65536)
        if not data:
            self.closed_at = self.closed_at or time.monotonic()
        self.buffer += data
        return bool(data)

    async def wait_for_close(self) -> None:
        """Returns when the client closes the connection; keeps anything it sends meanwhile."""
        while len(self.buffer) < MAX_BODY_BYTES:
            if not await self.read_more():
                return
        await asyncio.Event().wait()

    async def read_request(self) -> _HttpRequest | None:
        head = await self._read_head()
        if head is None:
            return None
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        parts = request_line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _HttpError(400, "malformed request line")
        headers = {}
        for line in header_lines:
            name, colon, value = line.partition(":")
            if not colon:
                raise _HttpError(400, "malformed header line")
            headers[name.strip().lower()] = value.strip()
        body = await self._read_body(headers)
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" if parts[2] == "HTTP/1.1" else connection == "keep-alive"
        return _HttpRequest(parts[0], parts[1].split("?")[0], headers, body, keep_alive)

    async def _read_head(self) -> bytes | None:
        while b"\r\n\r\n" not in self.buffer:
            if len(self.buffer) > MAX_HEADER_BYTES:
                raise _HttpError(431, "request headers too large")
            if not await self.read_more():
                if self.buffer.strip():
                    raise _HttpError(400, "incomplete request")
                return None
        head, _, rest = bytes(self.buffer).partition(b"\r\n\r\n")
        self.buffer = bytearray(rest)
        return head

    async def _read_body(self, headers: dict[str, str]) -> bytes:
        if headers.get("transfer-encoding", "").lower() == "chunked":
            return await self._read_chunked()
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            raise _HttpError(400, "invalid Content-Length") from None
        if length < 0 or length > MAX_BODY_BYTES:
            raise _HttpError(413, "request body too large")
        return await self._read_exactly(length)

    async def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size_line = await self._read_line()
            try:
                size = int(size_line.split(b";")[0], 16)
            except ValueError:
                raise _HttpError(400, "invalid chunk size") from None
            if len(body) + size > MAX_BODY_BYTES:
                raise _HttpError(413, "request body too large")
            if size == 0:
                while await self._read_line():
                    pass
                return bytes(body)
            body += await self._read_exactly(size)
            await self._read_line()

    async def _read_line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            if not await self.read_more():
                raise _HttpError(400, "incomplete request body")
        line, _, rest = bytes(self.buffer).partition(b"\r\n")
        self.buffer = bytearray(rest)
        return line

    async def _read_exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not await self.read_more():
                raise _HttpError(400, "incomplete request body")
        data, self.buffer = bytes(self.buffer[:size]), self.buffer[size:]
        return data

    async def send(self, data: bytes) -> None:
        if self.writer.is_closing():
            raise _ClientGone
        self.writer.write(data)
        try:
            await self.writer.drain()
        except ConnectionError as exc:
            raise _ClientGone from exc

    async def send_text(self, status: int, text: str, *, keep_alive: bool = True) -> None:
        await self.send_body(status, "text/plain; charset=utf-8", text.encode(), keep_alive=keep_alive)

    async def send_body(self, status: int, content_type: str, body: bytes, *, keep_alive: bool = True) -> None:
        headers = _head(status, {"Content-Type": content_type, "Content-Length": str(len(body))}, keep_alive)
        await self.send(headers + body)

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.writer.close()


class _StreamOutput:
    """Writes a generation either as NDJSON lines or, with `"stream": false`, as one JSON object.

    Headers go out with the first line, as Ollama's flushes do, so a request that never produces
    a token never gets a status line either.
    """

    def __init__(self, connection: _Connection, record: RequestRecord, *, path: str, model: str, stream: bool) -> None:
        self._connection = connection
        self._record = record
        self._path = path
        self._model = model
        self._stream = stream
        self._headers_sent = False
        # A piece's line from constant parts around its time and text: encoding the whole message for
        # every token was a quarter of the simulator's time at 1,000 streams. Same bytes as `_message`.
        if path == "/api/chat":
            text_key, end = b'"message":{"role":"assistant","content":', b'},"done":false}'
        else:
            text_key, end = b'"response":', b',"done":false}'
        self._piece_parts = b'{"model":' + go_json(model) + b',"created_at":"', b'",' + text_key, end

    def piece_line(self, text: str) -> bytes:
        """`go_json(self._message(text, done=False))`, built from its constant parts."""
        start, middle, end = self._piece_parts
        return b"".join((start, rfc3339_now().encode(), middle, _text_json(text), end))

    async def piece(self, text: str) -> None:
        self._record.chunks_sent += 1
        self._record.text_sent += text
        if self._stream:
            self._record.piece_times.append(time.monotonic())
            await self._raw_line(self.piece_line(text))

    async def finish(self, done_reason: str, stats: dict[str, int]) -> bool:
        final = self._message("" if self._stream else self._record.text_sent, done=True)
        final["done_reason"] = done_reason
        if self._path == "/api/generate":
            final["context"] = [(sum(map(ord, self._model)) + index) % 32000 for index in range(8)]
        final.update({name: value for name, value in stats.items() if value})
        if not self._stream:
            self._record.response_complete = True
            return await _answer_json(self._connection, self._record, 200, final)
        await self._line(final, last=True)
        return True

    async def error(self, message: str) -> None:
        if not self._stream:
            await _answer_json(self._connection, self._record, 500, {"error": message})
            return
        await self._line({"error": message}, last=True)

    async def malformed(self) -> None:
        broken = go_json(self._message("trunc", done=False))[:-7]
        if not self._stream:
            self._record.response_complete = True
            self._record.status = 200
            await self._connection.send_body(200, "application/json; charset=utf-8", broken)
            return
        await self._raw_line(broken, last=True)

    async def drop(self) -> None:
        self._record.response_complete = True
        with contextlib.suppress(ConnectionError):
            await self._connection.writer.drain()
        self._connection.writer.transport.close()

    def _message(self, text: str, *, done: bool) -> dict:
        message: dict[str, Any] = {"model": self._model, "created_at": rfc3339_now()}
        if self._path == "/api/chat":
            message["message"] = {"role": "assistant", "content": text}
        else:
            message["response"] = text
        message["done"] = done
        return message

    async def _line(self, data: dict, *, last: bool = False) -> None:
        await self._raw_line(go_json(data), last=last)

    async def _raw_line(self, line: bytes, *, last: bool = False) -> None:
        payload = line + b"\n"
        data = f"{len(payload):x}\r\n".encode() + payload + b"\r\n"
        if not self._headers_sent:
            self._headers_sent = True
            self._record.status = 200
            data = _head(200, {"Content-Type": "application/x-ndjson", "Transfer-Encoding": "chunked"}, True) + data
        if last:
            # The end of the body goes out with the last line, so a client that stops reading at
            # the done line has received the complete response.
            self._record.response_complete = True
            data += b"0\r\n\r\n"
        await self._connection.send(data)


async def _answer_json(connection: _Connection, record: RequestRecord, status: int, data: Any) -> bool:
    record.status = status
    record.response_complete = True
    await connection.send_body(status, "application/json; charset=utf-8", go_json(data))
    return True


async def _answer_text(connection: _Connection, record: RequestRecord, status: int, text: str) -> bool:
    record.status = status
    record.response_complete = True
    await connection.send_text(status, text)
    return True


def _head(status: int, headers: dict[str, str], keep_alive: bool) -> bytes:
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}", f"Date: {formatdate(usegmt=True)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if not keep_alive:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _validated_body(request: _HttpRequest) -> dict:
    """The JSON body of a generation request, or the 400 Ollama would answer."""
    if not request.body.strip():
        raise _HttpError(400, "missing request body")
    try:
        body = json.loads(request.body)
    except ValueError as exc:
        raise _HttpError(400, f"invalid request body: {exc}") from None
    if not isinstance(body, dict):
        raise _HttpError(400, "invalid request body: expected a JSON object")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise _HttpError(400, "model is required")
    for name, kind in (("stream", bool), ("options", dict), ("prompt", str), ("system", str), ("messages", list)):
        if body.get(name) is not None and not isinstance(body[name], kind):
            raise _HttpError(400, f"invalid request body: {name} has the wrong type")
    for message in body.get("messages") or []:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise _HttpError(400, "invalid message format: each message needs a role")
        if not isinstance(message.get("content", ""), str):
            raise _HttpError(400, "invalid message format: content must be a string")
    _validate_options(body.get("options") or {})
    try:
        parse_keep_alive(body.get("keep_alive"))
    except ValueError as exc:
        raise _HttpError(400, str(exc)) from None
    return body


def _validate_options(options: dict) -> None:
    num_predict = options.get("num_predict")
    if num_predict is not None and (isinstance(num_predict, bool) or not isinstance(num_predict, int | float)):
        raise _HttpError(400, "option num_predict must be of type integer")
    stop = options.get("stop")
    if stop is not None and not isinstance(stop, str | list):
        raise _HttpError(400, "option stop must be a string or a list of strings")


def _is_load_only(path: str, body: dict) -> bool:
    if path == "/api/chat":
        return not body.get("messages")
    return not body.get("prompt")


def _limited(text: str, options: dict) -> tuple[str, str]:
    """Applies `stop` and `num_predict`; returns the text and its done_reason."""
    stops = options.get("stop") or []
    for stop in [stops] if isinstance(stops, str) else stops:
        if isinstance(stop, str) and stop and stop in text:
            text = text[: text.index(stop)]
    limit = options.get("num_predict")
    tokens = split_tokens(text)
    if limit is not None and 0 <= limit < len(tokens):
        return "".join(tokens[: int(limit)]), "length"
    return text, "stop"


def _ns_since(started: float) -> int:
    return int((time.monotonic() - started) * 1e9)


def _raised(task: asyncio.Task, kind: type[BaseException]) -> bool:
    return task.exception() is not None and isinstance(task.exception(), kind)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a simulated Ollama API on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument("--tps", type=float, default=20.0, help="tokens per second (0: as fast as possible)")
    parser.add_argument("--first-token-delay", type=float, default=0.2, help="seconds before the first token")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated model names")
    parser.add_argument("--num-parallel", type=int, default=1, help="requests served at once")
    parser.add_argument("--max-queue", type=int, default=512, help="queued requests before 503")
    parser.add_argument("--reply", default=None, help="fixed reply text (default: derived from the prompt)")
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
    simulator = OllamaSimulator(
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
        loop_factory=_uvloop_factory() if args.uvloop else asyncio.new_event_loop,
    )
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    simulator.start()
    logger.info(
        "Ollama simulator on %s serving %s at %g tokens/s", simulator.url, ", ".join(simulator.models), args.tps
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

"""What both engine clients share: one `httpx.AsyncClient` per host, time limits and error mapping.

A dialect's client (ollama.py, openai.py) says which requests to send and how to read the
replies; this module sends them. Streams are read line by line, each read under the limit that
applies at that moment (first token, idle gap, whole request), so no timer spans a `yield`.
Closing a stream early closes its HTTP response, and with it the connection: that is how an
engine learns to stop generating.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from .errors import BadRequest, EngineError, MalformedResponse, StreamError, Timeout, Unavailable, error_for_status
from .types import Chunk, Done, ModelDetails, ModelInfo, Thinking, Timeouts

StreamEvent = Chunk | Thinking | Done

DEFAULT_MODELS_TTL = 5.0


class EngineClient:
    """One inference host. Subclasses implement `stream_chat`, `_fetch_models`, `model_details` and `ping`."""

    dialect: ClassVar[str] = ""

    def __init__(
        self,
        base_url: str,
        *,
        timeouts: Timeouts = Timeouts(),  # noqa: B008 - frozen, so one shared default is safe
        api_key: str = "",
        max_connections: int = 100,
        models_ttl: float = DEFAULT_MODELS_TTL,
        vision_models: frozenset[str] = frozenset(),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeouts = timeouts
        self.models_ttl = models_ttl
        # Models the site's configuration says read images, for engines whose API does not say.
        self.vision_models = frozenset(vision_models)
        headers = {"User-Agent": "blogsite-aiwriter"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        # Reads are timed per line by the stream (first token, idle, total); httpx times connecting.
        # aiohttp's connection pool under httpx's API: httpcore's own pool looks at every open
        # connection for each request, which cost whole seconds with a hundred long streams open
        # (120 streams took 2.7 s to start against 0.1 s this way, measured with the simulator).
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._http = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(connect=timeouts.connect, read=None, write=timeouts.idle, pool=None),
            transport=AiohttpTransport(limits=limits),
        )
        self._models: tuple[float, list[ModelInfo]] | None = None
        self._models_lock = asyncio.Lock()
        self._details: dict[str, ModelDetails] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r})"

    @property
    def is_closed(self) -> bool:
        return self._http.is_closed

    async def aclose(self) -> None:
        await self._http.aclose()

    # What each dialect provides

    def stream_chat(
        self, *, model: str, messages: list[dict], options: dict | None = None, think: bool = False
    ) -> AsyncIterator[StreamEvent]:
        """`Thinking` and `Chunk` pieces as they stream, then one `Done`.

        A message may carry `images` (see `types.image_part`); each dialect sends them its own way.
        """
        raise NotImplementedError

    async def _fetch_models(self) -> list[ModelInfo]:
        raise NotImplementedError

    async def model_details(self, model: str) -> ModelDetails:
        raise NotImplementedError

    async def ping(self) -> str:
        """A short description of a healthy host (its version, say); raises EngineError otherwise."""
        raise NotImplementedError

    # Shared behaviour

    async def models(self) -> list[ModelInfo]:
        """The models the host serves, cached for `models_ttl` seconds because every editor page asks."""
        async with self._models_lock:
            if self._models is None or self._models[0] <= time.monotonic():
                self._models = (time.monotonic() + self.models_ttl, await self._fetch_models())
            return list(self._models[1])

    async def cached_details(self, model: str) -> ModelDetails:
        """`model_details`, asked once per model for the life of the client (again while the engine could not say)."""
        details = self._details.get(model)
        if details is None:
            details = await self.model_details(model)
            if details.known:
                self._details[model] = details
        return details

    async def get_json(self, url: str, *, model: str | None = None) -> Any:
        return await self._request_json("GET", url, model=model)

    async def post_json(self, url: str, payload: dict, *, model: str | None = None) -> Any:
        return await self._request_json("POST", url, payload=payload, model=model)

    async def _request_json(self, method: str, url: str, *, payload: dict | None = None, model: str | None) -> Any:
        async with self.opened(method, url, payload=payload, model=model, limit=self.timeouts.first_token) as response:
            try:
                async with asyncio.timeout(self.timeouts.idle):
                    body = await response.aread()
            except TimeoutError:
                raise self.timeout("idle", output_started=False) from None
            except httpx.HTTPError as exc:
                raise self.transport_error(exc, output_started=False) from exc
        try:
            return response.json() if body else None
        except ValueError:
            raise MalformedResponse(f"The engine at {self.base_url} sent a reply to {url} that is not JSON.") from None

    @asynccontextmanager
    async def opened(
        self, method: str, url: str, *, payload: dict | None = None, model: str | None = None, limit: float
    ) -> AsyncIterator[httpx.Response]:
        """The response once the engine answered 2xx (within `limit` seconds); closed when the block ends."""
        try:
            request = self._http.build_request(method, url, json=payload)
        except (TypeError, ValueError) as exc:
            raise BadRequest(f"The request could not be sent to {self.base_url}: {exc}", host=self.base_url) from exc
        try:
            async with asyncio.timeout(limit):
                response = await self._http.send(request, stream=True)
        except TimeoutError:
            raise self.timeout("first_token", output_started=False) from None
        except httpx.HTTPError as exc:
            raise self.transport_error(exc, output_started=False) from exc
        try:
            if not response.is_success:
                try:
                    async with asyncio.timeout(self.timeouts.idle):
                        body = await response.aread()
                except (TimeoutError, httpx.HTTPError):
                    body = b""
                raise error_for_status(response.status_code, body, model=model, host=self.base_url)
            yield response
        finally:
            await response.aclose()

    def timeout(self, phase: str, *, output_started: bool) -> Timeout:
        limit = getattr(self.timeouts, phase)
        what = {
            "connect": "did not accept a connection",
            "first_token": "did not start answering",
            "idle": "stopped sending text",
            "total": "did not finish",
        }[phase]
        return Timeout(
            f"The engine at {self.base_url} {what} within {limit:g} seconds.",
            phase=phase,
            output_started=output_started,
            host=self.base_url,
        )

    def transport_error(self, exc: httpx.HTTPError, *, output_started: bool) -> EngineError:
        cause = exc.__cause__
        if isinstance(exc, httpx.ConnectTimeout) and cause is not None and not isinstance(cause, TimeoutError):
            # httpx-aiohttp reports every aiohttp connection error as a connect timeout; the aiohttp
            # error it chains tells a refused connection from one the server closed.
            if isinstance(cause, aiohttp.ClientConnectorError):
                return Unavailable(
                    f"Cannot connect to the engine at {self.base_url}. Is it running?", host=self.base_url
                )
            exc = httpx.RemoteProtocolError(str(cause))
        if isinstance(exc, httpx.ConnectTimeout):
            return self.timeout("connect", output_started=False)
        if isinstance(exc, httpx.TimeoutException):
            return self.timeout("idle" if output_started else "first_token", output_started=output_started)
        if isinstance(exc, httpx.ConnectError):
            return Unavailable(f"Cannot connect to the engine at {self.base_url}. Is it running?", host=self.base_url)
        if isinstance(exc, httpx.TransportError) and output_started:
            return StreamError(f"The connection to {self.base_url} broke off mid-reply.", host=self.base_url)
        if isinstance(exc, httpx.TransportError):
            return Unavailable(
                f"The engine at {self.base_url} closed the connection before answering.", host=self.base_url
            )
        return EngineError(f"Talking to the engine at {self.base_url} failed: {exc}", host=self.base_url)


class StreamClock:
    """Which time limit bounds the next read of a stream, and the phase to blame when it runs out."""

    def __init__(self, timeouts: Timeouts) -> None:
        now = time.monotonic()
        self.timeouts = timeouts
        self.total_at = now + timeouts.total
        self.first_token_at = now + timeouts.first_token
        self.idle_at = now + timeouts.idle
        self.output_started = False
        self.first_output_at: float | None = None

    def next_limit(self) -> tuple[float, str]:
        """Seconds left for the next read, and the phase that runs out then."""
        phase_at, phase = (self.idle_at, "idle") if self.output_started else (self.first_token_at, "first_token")
        if self.total_at <= phase_at:
            phase_at, phase = self.total_at, "total"
        return max(phase_at - time.monotonic(), 0.0), phase

    def line_read(self, *, text: bool) -> None:
        now = time.monotonic()
        self.idle_at = now + self.timeouts.idle
        if text and not self.output_started:
            self.output_started = True
            self.first_output_at = now


async def timed_lines(client: EngineClient, lines: AsyncIterator, clock: StreamClock) -> AsyncIterator:
    """Each item of `lines`, read under the stream's limits; transport failures become EngineErrors."""
    iterator = aiter(lines)
    while True:
        limit, phase = clock.next_limit()
        try:
            async with asyncio.timeout(limit):
                line = await anext(iterator)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise client.timeout(phase, output_started=clock.output_started) from None
        except httpx.HTTPError as exc:
            raise client.transport_error(exc, output_started=clock.output_started) from exc
        yield line

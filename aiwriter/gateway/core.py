"""The gateway of one process: cache, admission, routing and retries around the engine clients."""

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import aclosing

from django.conf import settings

from blogsite.per_loop import PerLoop

from ..engines import Backend, Chunk, ConfigurationError, Done, EngineError, Thinking, Timeouts, Unavailable
from . import metrics
from .admission import Admission, Priority
from .context import fitted_options
from .frames import frame_interval, frames
from .hosts import HostRegistry, HostState
from .request import CompletionRequest, CompletionStream
from .response_cache import ResponseCache, shareable
from .retry import backoff_delay, counts_against_host, may_retry
from .routing import NoHealthyHost, least_busy

logger = logging.getLogger(__name__)


class Gateway:
    """Shared by every generation of one event loop (one per server process, one per Celery worker process)."""

    def __init__(self) -> None:
        self.registry = HostRegistry(
            [Backend.from_setting(entry) for entry in settings.AIWRITER_BACKENDS],
            timeouts=Timeouts(**settings.AIWRITER_TIMEOUTS),
            failures=settings.AIWRITER_BREAKER_FAILURES,
            cooldown=settings.AIWRITER_BREAKER_COOLDOWN,
            interval=settings.AIWRITER_HEALTH_INTERVAL,
            per_host_limit=settings.AIWRITER_MAX_IN_FLIGHT_PER_HOST,
        )
        self.admission = Admission(limit=settings.AIWRITER_MAX_IN_FLIGHT, queue_size=settings.AIWRITER_QUEUE_SIZE)
        self.per_host_limit = settings.AIWRITER_MAX_IN_FLIGHT_PER_HOST
        self.retry_attempts = max(settings.AIWRITER_RETRY_ATTEMPTS, 1)
        self.retry_backoff = settings.AIWRITER_RETRY_BACKOFF
        shortest, longest = settings.AIWRITER_FRAME_INTERVAL_MS
        self.frame_shortest, self.frame_longest = shortest / 1000, longest / 1000
        self.frame_load = settings.AIWRITER_FRAME_LOAD_STREAMS
        self.frame_ceiling = settings.AIWRITER_FRAME_INTERVAL_CEILING_MS / 1000
        self.cache = ResponseCache(settings.REDIS_URL)
        self.streams = 0

    async def aclose(self) -> None:
        """Stops the background refresh and closes the clients and Redis (at shutdown, or after a test)."""
        await self.registry.aclose()
        await self.cache.aclose()

    @property
    def hosts(self) -> list[HostState]:
        return self.registry.hosts

    def model_label(self, model: str) -> str:
        """The model as a metric label: only names a host lists, so labels cannot grow without bound."""
        return model if any(host.models is not None and model in host.models for host in self.hosts) else "other"

    def frame_interval(self) -> float:
        return frame_interval(
            active=self.streams,
            shortest=self.frame_shortest,
            longest=self.frame_longest,
            load=self.frame_load,
            ceiling=self.frame_ceiling,
        )

    def open(self, request: CompletionRequest, *, priority: Priority | None = None) -> CompletionStream:
        """A stream of the completion's events; nothing is sent until they are first iterated."""
        if priority is None:
            priority = Priority.INTERACTIVE if request.interactive else Priority.BATCH
        self.registry.start()
        stream = CompletionStream(events=None)  # type: ignore[arg-type]
        stream.events = self._events(request, priority, stream)
        return stream

    async def remember(self, request: CompletionRequest, *, text: str, stats) -> None:
        """Keeps the answer the editor received for the next identical request, where that is allowed."""
        if shareable(request):
            await self.cache.put(request, text=text, stats=stats)

    async def _events(
        self, request: CompletionRequest, priority: Priority, stream: CompletionStream
    ) -> AsyncIterator[Chunk | Thinking | Done]:
        opened = time.monotonic()
        outcome, dialect = "cancelled", ""
        first_token: float | None = None
        try:
            cached = await self.cache.get(request) if shareable(request) else None
            if shareable(request):
                metrics.labelled(metrics.CACHE, result="hit" if cached else "miss").inc()
            if cached is not None:
                stream.host, stream.cached, dialect = "cache", True, "cache"
                first_token = time.monotonic()
                yield Chunk(cached.text)
                yield Done(cached.stats)
                outcome = "done"
                return
            async with aclosing(self._upstream(request, priority, stream)) as upstream:
                async for event in frames(upstream, interval=self.frame_interval):
                    if first_token is None and isinstance(event, Chunk | Thinking):
                        first_token = time.monotonic()
                    yield event
            outcome = "done"
        except EngineError:
            outcome = "error"
            raise
        finally:
            dialect = dialect or next((h.dialect for h in self.hosts if h.url == stream.host), "-")
            model = self.model_label(request.model)
            labels = {"action": request.action or "-", "model": model, "dialect": dialect, "outcome": outcome}
            metrics.labelled(metrics.GENERATIONS, **labels).inc()
            if first_token is not None:
                metrics.labelled(metrics.TIME_TO_FIRST_TOKEN, model=model).observe(first_token - opened)
            metrics.labelled(metrics.DURATION, model=model).observe(time.monotonic() - opened)

    async def _upstream(
        self, request: CompletionRequest, priority: Priority, stream: CompletionStream
    ) -> AsyncIterator[Chunk | Thinking | Done]:
        """The engine's events, from the least busy healthy host; retried elsewhere while no text has come."""
        tried: set[str] = set()
        attempt = 1
        while True:
            host = await self.admission.acquire(priority=priority, pick=lambda: self._pick(request.model, tried))
            stream.host = host.url
            self.streams += 1
            output_started = False
            try:
                async for event in self._stream_from(host, request):
                    output_started = output_started or not isinstance(event, Done)
                    yield event
            except EngineError as error:
                self._failed(host, error)
                tried.add(host.url)
                if (
                    not may_retry(error, output_started=output_started)
                    or attempt >= self.retry_attempts
                    or len(tried) >= len(self.hosts)
                ):
                    raise
                metrics.labelled(metrics.RETRIES, kind=type(error).__name__).inc()
                attempt += 1
                await asyncio.sleep(backoff_delay(attempt - 1, base=self.retry_backoff))
                continue
            except BaseException:
                host.breaker.release()
                raise
            finally:
                self.streams -= 1
                self.admission.release(host)
            host.succeeded()
            return

    async def _stream_from(self, host: HostState, request: CompletionRequest) -> AsyncIterator[Chunk | Thinking | Done]:
        details = await host.client.cached_details(request.model)
        options = fitted_options(
            model=request.model, messages=request.messages, options=request.options, details=details
        )
        events = host.client.stream_chat(
            model=request.model, messages=request.messages, options=options, think=details.thinks
        )
        async with aclosing(events):
            async for event in events:
                if isinstance(event, Done):
                    self._count(request, event)
                yield event

    def _count(self, request: CompletionRequest, done: Done) -> None:
        model = self.model_label(request.model)
        if done.stats.eval_count:
            metrics.labelled(metrics.TOKENS, model=model).inc(done.stats.eval_count)
        if done.stats.tokens_per_second:
            metrics.labelled(metrics.TOKENS_PER_SECOND, model=model).observe(done.stats.tokens_per_second)

    def _failed(self, host: HostState, error: EngineError) -> None:
        metrics.labelled(metrics.UPSTREAM_ERRORS, host=host.url, dialect=host.dialect, kind=type(error).__name__).inc()
        if isinstance(error, ConfigurationError):
            # For operators: the editor is told only that the AI writer is unavailable.
            logger.error("AI engine %s refused the site's credentials: %s", host.url, error.message)
        if counts_against_host(error):
            host.failed(error)
        else:
            host.breaker.release()

    def _pick(self, model: str, tried: set[str]) -> HostState | None:
        # A retry goes to a host not tried yet: asking a host that just failed or said busy again helps no one.
        try:
            return least_busy(self.hosts, model=model, per_host_limit=self.per_host_limit, exclude=frozenset(tried))
        except NoHealthyHost:
            raise Unavailable("No AI engine is available right now: every host is failing.") from None


# One gateway per event loop: its clients' connections belong to the loop that opened them.
_gateways: PerLoop[Gateway] = PerLoop()


def get_gateway() -> Gateway:
    """This process's gateway (for the running event loop), created on first use."""
    return _gateways.get(Gateway)


async def close_gateway() -> None:
    """Closes the running loop's gateway, if it has one; the next request starts a fresh one."""
    gateway = _gateways.pop()
    if gateway is not None:
        await gateway.aclose()

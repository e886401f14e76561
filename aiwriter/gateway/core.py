"""The gateway of one process: admission, routing, retries, cache and coalescing around the Ollama client."""

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import redis.asyncio as redis
from django.conf import settings
from redis.exceptions import RedisError

from blogsite.per_loop import PerLoop
from blogsite.pipelined_redis import PipelinedRedis

from ..engines import Chunk, Done, EngineError, Timeouts, Unavailable
from . import metrics
from .admission import Admission, Priority
from .coalescing import Flight, FlightMirror, cancelled_upstream, follow_remote
from .frames import frame_interval, frames
from .hosts import HostRegistry, HostState
from .request import CompletionRequest, CompletionStream
from .response_cache import ResponseCache, request_key, shareable, ttl_for
from .retry import backoff_delay, counts_against_host, may_retry
from .routing import NoHealthyHost, least_busy

logger = logging.getLogger(__name__)

# Awaited before anything is sent for a stream; raising means nothing is to be sent at all.
Readiness = Callable[[], Awaitable[None]]

# A cache lookup that takes longer counts as a miss.
CACHE_REDIS_TIMEOUT_SECONDS = 0.5


class Gateway:
    """Shared by every generation of one event loop (one per server process)."""

    def __init__(self) -> None:
        self.registry = HostRegistry(
            list(settings.OLLAMA_URLS),
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
        self.heartbeat = settings.AIWRITER_COALESCE_HEARTBEAT
        shortest, longest = settings.AIWRITER_FRAME_INTERVAL_MS
        self.frame_shortest, self.frame_longest = shortest / 1000, longest / 1000
        self.frame_load = settings.AIWRITER_FRAME_LOAD_STREAMS
        self.frame_ceiling = settings.AIWRITER_FRAME_INTERVAL_CEILING_MS / 1000
        # Timeouts longer than the longest blocking read of a followed stream.
        self.redis = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=0.5, socket_timeout=max(self.heartbeat * 2, 2.0)
        )
        self.cache = ResponseCache(PipelinedRedis(settings.REDIS_URL, timeout=CACHE_REDIS_TIMEOUT_SECONDS))
        self.flights: dict[str, Flight] = {}
        self.streams = 0
        self._tasks: set[asyncio.Task] = set()

    async def aclose(self) -> None:
        """Stops the background work and closes the Redis connections (at shutdown, or after a test)."""
        self.registry.stop()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.redis.aclose()
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

    def open(
        self, request: CompletionRequest, *, priority: Priority | None = None, after: Readiness | None = None
    ) -> CompletionStream:
        if priority is None:
            priority = Priority.INTERACTIVE if request.interactive else Priority.BATCH
        self.registry.start()
        stream = CompletionStream(host="", events=None)  # type: ignore[arg-type]
        early = None
        if after is not None and not shareable(request):
            # Nothing to look up or share first: the task that streams it starts now and waits for
            # `after`, so that the request leaves as soon as it may, not a turn of the loop later.
            early = self._start(request, key=None, priority=priority, after=after)
            stream.on_close = lambda: self._abandon_unheard(early)
        stream.events = self._events(request, priority, stream, early)
        return stream

    async def _events(
        self, request: CompletionRequest, priority: Priority, stream: CompletionStream, early: Flight | None
    ) -> AsyncIterator[Chunk | Done]:
        """The stream's events; `early` is the flight `open()` started already, if it did."""
        opened = time.monotonic()
        outcome = "cancelled"
        first_token: float | None = None
        key = request_key(request) if early is None and shareable(request) else None
        try:
            cached = await self.cache.get(key) if key else None
            if key:
                metrics.labelled(metrics.CACHE, result="hit" if cached else "miss").inc()
            if cached is not None:
                stream.host, stream.cached = "cache", True
                first_token = time.monotonic()
                yield Chunk(cached.text)
                yield Done(cached.stats)
                outcome = "done"
                return
            flight = early or self._join_or_start(request, key=key, priority=priority, stream=stream)
            flight.subscribers += 1
            self.streams += 1
            try:
                async for item in frames(flight, interval=self.frame_interval):
                    stream.host = flight.host
                    if first_token is None and isinstance(item, Chunk):
                        first_token = time.monotonic()
                    yield item
            finally:
                stream.host = flight.host
                flight.subscribers -= 1
                self.streams -= 1
                self._abandon_unheard(flight)
            outcome = "done"
        except EngineError:
            outcome = "error"
            raise
        finally:
            model = self.model_label(request.model)
            metrics.labelled(metrics.GENERATIONS, action=request.action or "-", model=model, outcome=outcome).inc()
            if first_token is not None:
                metrics.labelled(metrics.TIME_TO_FIRST_TOKEN, model=model).observe(first_token - opened)
            metrics.labelled(metrics.DURATION, model=model).observe(time.monotonic() - opened)

    def _join_or_start(
        self, request: CompletionRequest, *, key: str | None, priority: Priority, stream: CompletionStream
    ) -> Flight:
        if key is not None:
            flight = self.flights.get(key)
            if flight is not None and not flight.finished:
                metrics.labelled(metrics.COALESCED, where="process").inc()
                stream.coalesced = True
                return flight
        return self._start(request, key=key, priority=priority)

    def _start(
        self, request: CompletionRequest, *, key: str | None, priority: Priority, after: Readiness | None = None
    ) -> Flight:
        flight = Flight(key)
        if key is not None:
            self.flights[key] = flight
        flight.producer = self._spawn(self._run(flight, request, priority, after), name="aiwriter:upstream")
        flight.producer.add_done_callback(lambda _task: self._forget(flight))
        return flight

    def _forget(self, flight: Flight) -> None:
        """A producer cancelled before it began never reaches its own cleanup: no one may join it, or wait on it."""
        if flight.key is not None and self.flights.get(flight.key) is flight:
            del self.flights[flight.key]
        flight.fail(cancelled_upstream())

    def _spawn(self, coroutine, *, name: str) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _abandon_unheard(self, flight: Flight) -> None:
        """Stops a flight that nobody in this process listens to (any more), unless it has ended."""
        if flight.subscribers == 0 and not flight.finished:
            self._abandon(flight)

    def _abandon(self, flight: Flight) -> None:
        """Nobody in this process listens any more: stop upstream unless another process follows it."""
        mirror = flight.mirror
        if mirror is None:
            # Nobody elsewhere can follow it: stop now, so Ollama stops generating at once.
            self._stop(flight)
            return
        if flight.stopping:
            return
        flight.stopping = True

        async def stop_unless_followed() -> None:
            try:
                released = await mirror.release_unless_followed()
            finally:
                flight.stopping = False
            # Checked after the await: an editor here may have joined meanwhile.
            if released and flight.subscribers == 0 and not flight.finished:
                self._stop(flight)

        self._spawn(stop_unless_followed(), name="aiwriter:abandon")

    def _stop(self, flight: Flight) -> None:
        """Cancels the upstream request; an editor asking the same thing from now on gets a flight of its own."""
        if flight.key is not None and self.flights.get(flight.key) is flight:
            del self.flights[flight.key]
        # Ended first, for whatever loops on it: on Python 3.11 a cancel can be lost. asyncio.wait_for,
        # which redis-py writes each command through, returns the result instead of raising when the
        # command finishes in the same turn as the cancel, and a follower then read on to the end.
        flight.fail(cancelled_upstream())
        if flight.producer is not None:
            flight.producer.cancel()

    async def _run(
        self, flight: Flight, request: CompletionRequest, priority: Priority, after: Readiness | None = None
    ) -> None:
        """Owns the flight: becomes its producer, or follows the same request run by another process."""
        if after is not None:
            try:
                await after()
            except Exception:
                # The caller may not go on (its editor is over a limit): nothing was sent, no one listens.
                flight.fail(cancelled_upstream())
                return
        try:
            if flight.key is not None and await self._follow_elsewhere(flight):
                return
            await self._produce(flight, request, priority)
        except EngineError as error:
            flight.fail(error)
        except asyncio.CancelledError:
            flight.fail(cancelled_upstream())
            raise
        except Exception:
            logger.exception("AI gateway failed while streaming")
            flight.fail(EngineError("The AI writer failed unexpectedly. Try again."))
        finally:
            if flight.key is not None and self.flights.get(flight.key) is flight:
                del self.flights[flight.key]

    async def _follow_elsewhere(self, flight: Flight) -> bool:
        """Claims the request for this process, or follows the process that has it. False: produce here."""
        mirror = FlightMirror(self.redis, flight.key, heartbeat=self.heartbeat)
        try:
            for _ in range(2):
                if await mirror.claim():
                    flight.mirror = mirror
                    unheard = functools.partial(self._abandon_unheard, flight)
                    self._spawn(mirror.mirror(flight, unheard=unheard), name="aiwriter:mirror")
                    return False
                if await follow_remote(self.redis, flight.key, flight, heartbeat=self.heartbeat):
                    metrics.labelled(metrics.COALESCED, where="remote").inc()
                    flight.host = "coalesced"
                    return True
        except RedisError:
            logger.warning("AI generations not shared across processes: Redis is unreachable", exc_info=True)
            if flight.output_started:
                raise Unavailable("Lost the shared generation: Redis became unreachable. Try again.") from None
        return False

    async def _produce(self, flight: Flight, request: CompletionRequest, priority: Priority) -> None:
        tried: set[str] = set()
        attempt = 1
        while True:
            host = await self.admission.acquire(priority=priority, pick=lambda: self._pick(request.model, tried))
            flight.host = host.url
            try:
                done = await self._stream_from(host, flight, request)
            except EngineError as error:
                metrics.labelled(metrics.UPSTREAM_ERRORS, host=host.url, kind=type(error).__name__).inc()
                if counts_against_host(error):
                    host.failed(error)
                else:
                    host.breaker.release()
                tried.add(host.url)
                if (
                    not may_retry(error, output_started=flight.output_started)
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
                self.admission.release(host)
            host.succeeded()
            await self._finish(flight, request, done)
            return

    def _pick(self, model: str, tried: set[str]) -> HostState | None:
        # A retry goes to a host not tried yet: asking a host that just failed or said busy again helps no one.
        try:
            return least_busy(self.hosts, model=model, per_host_limit=self.per_host_limit, exclude=frozenset(tried))
        except NoHealthyHost:
            raise Unavailable(
                "No Ollama server is available right now: every host is failing. Try again in a minute."
            ) from None

    async def _stream_from(self, host: HostState, flight: Flight, request: CompletionRequest) -> Done:
        client = self.registry.client(host)
        return await client.chat_into(
            flight.add,
            model=request.model,
            messages=request.messages,
            options=dict(request.options),
            pacing=flight.reads,
        )

    async def _finish(self, flight: Flight, request: CompletionRequest, done: Done) -> None:
        stats = done.stats
        model = self.model_label(request.model)
        if stats.eval_count:
            metrics.labelled(metrics.TOKENS, model=model).inc(stats.eval_count)
        if stats.tokens_per_second:
            metrics.labelled(metrics.TOKENS_PER_SECOND, model=model).observe(stats.tokens_per_second)
        flight.finish(done)
        if flight.key is not None:
            ttl = ttl_for(request.action)
            await self.cache.put(flight.key, text="".join(flight.items), stats=stats, ttl=ttl)


# One gateway per event loop, like the Ollama clients: their connections belong to the loop that opened them.
_gateways: PerLoop[Gateway] = PerLoop()


def get_gateway() -> Gateway:
    """This process's gateway (for the running event loop), created on first use."""
    return _gateways.get(Gateway)


async def close_gateway() -> None:
    """Closes the running loop's gateway, if it has one; the next request starts a fresh one."""
    gateway = _gateways.pop()
    if gateway is not None:
        await gateway.aclose()


def current_gateway() -> Gateway | None:
    """The running loop's gateway if one was created, without creating it."""
    return _gateways.current()

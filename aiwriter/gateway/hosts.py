"""The inference hosts of AIWRITER_BACKENDS: their models, reachability, breaker and requests in flight.

Each host's models come from its model list (Ollama's /api/tags, an OpenAI-compatible engine's
/v1/models), refreshed in the background every health interval; the refresh doubles as the
health check, and after a breaker's cooldown as its probe. The refresh is scheduled with
`call_later`, so nothing is left running when the event loop ends.
"""

import asyncio
import logging
import time
from dataclasses import dataclass, field

from ..engines import Backend, EngineClient, EngineError, Timeouts
from . import metrics
from .breaker import STATE_VALUES, CircuitBreaker

logger = logging.getLogger(__name__)

HEALTH_DEADLINE_SECONDS = 2.0
# Connections per host and event loop when the per-host limit is lower (the Ollama client's default).
DEFAULT_MAX_CONNECTIONS = 100


@dataclass(eq=False)
class HostState:
    backend: Backend
    client: EngineClient
    breaker: CircuitBreaker
    in_flight: int = 0
    # None until the first successful /api/tags: then a host is assumed to serve any model.
    models: frozenset[str] | None = None
    reachable: bool | None = None
    last_error: str = ""
    checked_at: float = field(default=0.0)

    @property
    def url(self) -> str:
        return self.backend.url

    @property
    def dialect(self) -> str:
        return self.backend.dialect

    def serves(self, model: str) -> bool:
        return self.models is None or model in self.models or f"{model}:latest" in self.models

    def started(self) -> None:
        self.in_flight += 1
        metrics.labelled(metrics.IN_FLIGHT, host=self.url, dialect=self.dialect).set(self.in_flight)

    def finished(self) -> None:
        self.in_flight -= 1
        metrics.labelled(metrics.IN_FLIGHT, host=self.url, dialect=self.dialect).set(self.in_flight)

    def succeeded(self) -> None:
        self.reachable = True
        self.last_error = ""
        self.breaker.success()
        self._publish_breaker()

    def failed(self, error: EngineError) -> None:
        self.last_error = error.message
        self.breaker.failure()
        self._publish_breaker()

    def _publish_breaker(self) -> None:
        metrics.labelled(metrics.BREAKER_STATE, host=self.url, dialect=self.dialect).set(
            STATE_VALUES[self.breaker.state]
        )

    def as_dict(self) -> dict:
        return {
            "url": self.url,
            "dialect": self.dialect,
            "reachable": self.reachable,
            "breaker": str(self.breaker.state),
            "in_flight": self.in_flight,
            "models": sorted(self.models) if self.models is not None else None,
        }


class HostRegistry:
    """The hosts of one process (one event loop), and their background refresh."""

    def __init__(
        self,
        backends: list[Backend],
        *,
        timeouts: Timeouts,
        failures: int,
        cooldown: float,
        interval: float,
        per_host_limit: int = 0,
    ) -> None:
        self.timeouts = timeouts
        # The gateway already bounds the streams per host; a smaller connection pool would be a
        # second, hidden bound where admitted generations wait for a connection before their
        # first token. One spare connection is for the health check.
        self.max_connections = max(DEFAULT_MAX_CONNECTIONS, per_host_limit + 1)
        self.interval = interval
        self.hosts = [
            HostState(
                backend=backend,
                client=backend.client(timeouts=timeouts, max_connections=self.max_connections),
                breaker=CircuitBreaker(failures=failures, cooldown=cooldown),
            )
            for backend in backends
        ]
        self._handle: asyncio.TimerHandle | None = None
        self._refreshing: asyncio.Task | None = None
        self._stopped = False

    def start(self) -> None:
        """Refresh now and then every `interval` seconds while the loop runs."""
        if self._refreshing is None and self.interval > 0 and not self._stopped:
            self._spawn()

    async def aclose(self) -> None:
        """Stops the refresh and closes every host's client (its connection pool)."""
        self.stop()
        for host in self.hosts:
            await host.client.aclose()

    def stop(self) -> None:
        self._stopped = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._refreshing is not None:
            self._refreshing.cancel()

    def _spawn(self) -> None:
        self._refreshing = asyncio.get_running_loop().create_task(self.refresh(), name="aiwriter:hosts-refresh")
        self._refreshing.add_done_callback(self._schedule)

    def _schedule(self, task: asyncio.Task) -> None:
        loop = task.get_loop()
        if not self._stopped and not loop.is_closed():
            self._handle = loop.call_later(self.interval, self._spawn)

    async def refresh(self) -> None:
        await asyncio.gather(*(self.check(host) for host in self.hosts))

    async def check(self, host: HostState) -> None:
        """Reads the host's models. An open breaker is probed only once its cooldown is over."""
        if not host.breaker.allows():
            return
        host.breaker.claim()
        try:
            async with asyncio.timeout(HEALTH_DEADLINE_SECONDS):
                models = await host.client.models()
        except (EngineError, TimeoutError) as error:
            host.reachable = False
            if not isinstance(error, EngineError):
                error = EngineError(f"{host.url} did not answer within {HEALTH_DEADLINE_SECONDS:g} s", host=host.url)
            logger.warning("AI engine %s failed its health check: %s", host.url, error.message)
            host.failed(error)
        except asyncio.CancelledError:
            host.breaker.release()
            raise
        else:
            host.models = frozenset(model.name for model in models)
            host.checked_at = time.monotonic()
            host.succeeded()

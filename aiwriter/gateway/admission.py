"""Admission control: a global and a per-host limit on generations upstream, and a bounded wait queue.

Waiters are served by priority (interactive editors before batch jobs), then in arrival order.
A waiter is granted a slot only together with a host that has room, so a per-host limit and
the global limit are one decision. A full queue refuses at once with `busy`: the queue, not the
process's memory, absorbs a burst.
"""

import asyncio
import enum
import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..engines import EngineError
from . import metrics
from .hosts import HostState


class Priority(enum.IntEnum):
    """Lower goes first."""

    INTERACTIVE = 0
    BATCH = 1


class GatewayBusy(EngineError):
    """Too many generations are waiting; `retry_after` says when trying again makes sense."""

    code = "busy"
    editor_message = "The AI writer is busy: many requests are waiting. Try again in a few seconds."

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


Pick = Callable[[], HostState | None]


@dataclass(order=True)
class _Waiter:
    priority: int
    seq: int
    pick: Pick = field(compare=False)
    future: asyncio.Future = field(compare=False)


class Admission:
    def __init__(self, *, limit: int, queue_size: int) -> None:
        self.limit = limit
        self.queue_size = queue_size
        self.in_flight = 0
        self._queue: list[_Waiter] = []
        self._seq = itertools.count()
        self._published_depth: dict[Priority, int] = {}

    @property
    def waiting(self) -> int:
        return len(self._queue)

    async def acquire(self, *, priority: Priority, pick: Pick) -> HostState:
        """A host with a slot taken on it and globally. `pick` may raise to refuse (no healthy host)."""
        started = time.monotonic()
        if not self._queue and self.in_flight < self.limit:
            host = pick()
            if host is not None:
                return self._grant(host, priority=priority, started=started)
        if len(self._queue) >= self.queue_size:
            metrics.labelled(metrics.QUEUE_REJECTED, priority=priority.name.lower()).inc()
            raise GatewayBusy(
                f"The AI writer is busy: {len(self._queue)} requests are already waiting. Try again in a few seconds.",
                retry_after=5,
            )
        waiter = _Waiter(int(priority), next(self._seq), pick, asyncio.get_running_loop().create_future())
        heapq.heappush(self._queue, waiter)
        self._publish_depth()
        try:
            host = await waiter.future
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled() and waiter.future.exception() is None:
                # Granted just as the waiter gave up: hand the slot on.
                self.release(waiter.future.result())
            elif waiter in self._queue:
                self._queue.remove(waiter)
                heapq.heapify(self._queue)
            self._publish_depth()
            raise
        return self._grant(host, priority=priority, started=started, counted=True)

    def _grant(self, host: HostState, *, priority: Priority, started: float, counted: bool = False) -> HostState:
        if not counted:
            self.in_flight += 1
            host.started()
            host.breaker.claim()
        metrics.labelled(metrics.QUEUE_WAIT, priority=priority.name.lower()).observe(time.monotonic() - started)
        return host

    def release(self, host: HostState) -> None:
        self.in_flight -= 1
        host.finished()
        self.dispatch()

    def dispatch(self) -> None:
        """Grants slots to waiters, best priority first, while there is room (also after a host recovers)."""
        blocked: list[_Waiter] = []
        while self._queue and self.in_flight < self.limit:
            waiter = heapq.heappop(self._queue)
            if waiter.future.done():
                continue
            try:
                host = waiter.pick()
            except Exception as error:
                waiter.future.set_exception(error)
                continue
            if host is None:
                # Its hosts are full; a waiter for another model may still fit.
                blocked.append(waiter)
                continue
            self.in_flight += 1
            host.started()
            host.breaker.claim()
            waiter.future.set_result(host)
        for waiter in blocked:
            heapq.heappush(self._queue, waiter)
        self._publish_depth()

    def _publish_depth(self) -> None:
        counts = dict.fromkeys(Priority, 0)
        for waiter in self._queue:
            counts[Priority(waiter.priority)] += 1
        if counts == self._published_depth:
            return  # every slot released with nobody waiting comes here
        self._published_depth = counts
        for priority, count in counts.items():
            metrics.labelled(metrics.QUEUE_DEPTH, priority=priority.name.lower()).set(count)

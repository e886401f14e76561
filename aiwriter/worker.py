"""One event loop per Celery worker process, and with it one AI gateway for the process's whole life.

The gateway (aiwriter.gateway) belongs to the event loop that made it: its breakers, health
refresh, admission queue, Redis clients and pooled connections to the engines. `async_to_sync`
gives each call a loop of its own, which would build all of that again for every batch item and
leave it behind. So a worker process runs one loop on a daemon thread for as long as it lives,
and its tasks hand their coroutines to it with `run()`; the task threads of a threads pool share it.

The loop starts when a prefork child starts (`worker_process_init`), or else on first use (the
solo and threads pools, tasks run eagerly, a management command, tests). When the process ends,
the gateway (with its engine clients) is closed on the loop and the loop stops:
`worker_process_shutdown` in a prefork child, `worker_shutdown` in a solo or threads worker, and
at exit in any other process. The signals are connected when this module is imported, which
aiwriter/tasks.py does; Celery imports the tasks modules before it forks the pool.
"""

import asyncio
import atexit
import logging
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from celery import signals

from .gateway import close_gateway

logger = logging.getLogger(__name__)

T = TypeVar("T")

# How long closing the gateway, and then the loop's thread, may take at shutdown.
STOP_SECONDS = 10.0


class LoopThread:
    """An event loop running on a daemon thread of its own."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.pid = os.getpid()
        self._thread = threading.Thread(target=self.loop.run_forever, name="aiwriter-loop", daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], *, timeout: float) -> T:
        """The coroutine's result; it is cancelled after `timeout` seconds (raising TimeoutError).

        The timeout applies on the loop, so a cancelled generation has closed its upstream stream
        before this returns. A caller interrupted while waiting (Celery's soft time limit) cancels it too.
        """
        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(coroutine, timeout), self.loop)
        try:
            # The margin is for a loop that does not answer at all.
            return future.result(timeout + STOP_SECONDS)
        except BaseException:
            future.cancel()
            raise

    def stop(self) -> None:
        try:
            self.run(close_gateway(), timeout=STOP_SECONDS)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(STOP_SECONDS)
            if not self._thread.is_alive():
                self.loop.close()


class ProcessLoop:
    """The process's one LoopThread, started on demand and stopped once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: LoopThread | None = None

    def get(self) -> LoopThread:
        with self._lock:
            # A forked child inherits its parent's LoopThread but not the thread that ran it.
            if self._current is None or self._current.pid != os.getpid():
                self._current = LoopThread()
            return self._current

    def stop(self) -> bool:
        """Closes the gateway and stops the loop; False when this process had none running."""
        with self._lock:
            current, self._current = self._current, None
        if current is None or current.pid != os.getpid():
            return False
        current.stop()
        return True


_process_loop = ProcessLoop()


def run(coroutine: Coroutine[Any, Any, T], *, timeout: float) -> T:
    """Runs `coroutine` on this process's loop, where the gateway lives, and returns its result.

    Raises what the coroutine raises, and TimeoutError when it took longer than `timeout` seconds.
    """
    return _process_loop.get().run(coroutine, timeout=timeout)


def loop_start() -> None:
    _process_loop.get()


def loop_stop() -> None:
    """Closes this process's gateway and stops its loop, if it has one; a later `run()` starts afresh."""
    if _process_loop.stop():
        logger.info("AI gateway of process %s closed", os.getpid())


@signals.worker_process_init.connect
def _loop_start_with_process(**kwargs) -> None:
    loop_start()


@signals.worker_process_shutdown.connect
@signals.worker_shutdown.connect
def _loop_stop_with_process(**kwargs) -> None:
    loop_stop()


atexit.register(loop_stop)

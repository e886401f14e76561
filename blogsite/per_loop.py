"""Values kept one per event loop: a connection, a pool or a future belongs to the loop that made it.

daphne runs one loop per process, but tests and Celery tasks run loops of their own, one after
another or in other threads; each must get its own value, and a closed loop's value must go.
"""

import asyncio
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerLoop(Generic[T]):
    """One value per running event loop, made on first use; the values of closed loops are dropped."""

    def __init__(self) -> None:
        self._values: dict[asyncio.AbstractEventLoop, T] = {}
        self._lock = threading.Lock()

    def get(self, make: Callable[[], T], *, usable: Callable[[T], bool] | None = None) -> T:
        """The running loop's value; a new one from `make` when it has none, or its own is not `usable`."""
        loop = asyncio.get_running_loop()
        with self._lock:
            value = self._values.get(loop)
            if value is None or (usable is not None and not usable(value)):
                for stale in [other for other in self._values if other.is_closed()]:
                    del self._values[stale]
                value = self._values[loop] = make()
            return value

    def current(self) -> T | None:
        """The running loop's value if it has one, without making it (None outside a loop too)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        with self._lock:
            return self._values.get(loop)

    def pop(self) -> T | None:
        """Takes the running loop's value away, for its owner to close; the next `get` makes a new one."""
        with self._lock:
            return self._values.pop(asyncio.get_running_loop(), None)

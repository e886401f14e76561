"""A per-host circuit breaker: stop sending traffic to a host that keeps failing, then probe it."""

import enum
import time


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


# Gauge values for /metrics: 0 closed, 1 half open, 2 open.
STATE_VALUES = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


class CircuitBreaker:
    """Opens after `failures` failures in a row; after `cooldown` seconds lets one probe through.

    The probe's success closes it, its failure opens it for another cooldown.
    """

    def __init__(self, *, failures: int, cooldown: float) -> None:
        self.failures_to_open = max(failures, 1)
        self.cooldown = cooldown
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.opened_at = 0.0
        self.probing = False

    def allows(self) -> bool:
        """Whether a request may go to the host now (without claiming the probe)."""
        if self.state == BreakerState.CLOSED:
            return True
        if self.state == BreakerState.OPEN:
            return time.monotonic() - self.opened_at >= self.cooldown
        return not self.probing

    def claim(self) -> None:
        """A request is going out: after the cooldown it is the one probe."""
        if self.state == BreakerState.OPEN and time.monotonic() - self.opened_at >= self.cooldown:
            self.state = BreakerState.HALF_OPEN
        if self.state == BreakerState.HALF_OPEN:
            self.probing = True

    def success(self) -> None:
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.probing = False

    def failure(self) -> None:
        self.failures += 1
        self.probing = False
        if self.state == BreakerState.HALF_OPEN or self.failures >= self.failures_to_open:
            self.state = BreakerState.OPEN
            self.opened_at = time.monotonic()

    def release(self) -> None:
        """A claimed request ended without telling anything about the host (cancelled)."""
        self.probing = False

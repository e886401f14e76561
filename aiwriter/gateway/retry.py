"""When a failed request may be sent again, and how long to wait first."""

import random

from ..engines import EngineError, RateLimited, ServerBusy, Timeout


def may_retry(error: EngineError, *, output_started: bool) -> bool:
    """Connection errors, timeouts before the first token, 429, 503 and 5xx, and only before any text.

    Once text reached the editor a retry would repeat or contradict it, so the error is reported instead.
    """
    if output_started:
        return False
    if isinstance(error, Timeout):
        return not error.output_started
    return error.retryable


def counts_against_host(error: EngineError) -> bool:
    """Whether the error says the host is unwell (a busy host or a bad request says nothing about that)."""
    if isinstance(error, RateLimited | ServerBusy):
        return False
    return error.retryable or error.code in ("upstream", "timeout", "unavailable")


def backoff_delay(attempt: int, *, base: float) -> float:
    """Exponential backoff with full jitter: up to base, 2*base, 4*base... for attempts 1, 2, 3..."""
    return random.uniform(0, base * (2 ** max(attempt - 1, 0)))

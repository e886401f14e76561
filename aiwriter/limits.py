"""Per-editor limits on AI generations: how many at once, and how many per minute.

The counts live in Redis so that they hold across every process serving WebSockets and SSE.
Each limit is a sorted set of request ids scored by start time, checked and updated by one Lua
script so that two processes cannot both take the last slot. A process that dies mid-generation
cannot release its slot, so slots older than the longest possible generation are dropped.
If Redis cannot be reached the limits are skipped: generating slower to police is worse than
letting an editor through.
"""

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as redis
from django.conf import settings
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from blogsite.per_loop import PerLoop
from blogsite.redis_clients import async_redis

logger = logging.getLogger(__name__)

RATE_WINDOW_SECONDS = 60

_ACQUIRE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local window, rate, concurrent, stale = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - stale)
if redis.call('ZCARD', KEYS[2]) >= concurrent then
  return {1, 0}
end
if redis.call('ZCARD', KEYS[1]) >= rate then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {2, tostring(math.ceil(tonumber(oldest[2]) + window - now))}
end
redis.call('ZADD', KEYS[1], now, ARGV[5])
redis.call('ZADD', KEYS[2], now, ARGV[5])
redis.call('EXPIRE', KEYS[1], math.ceil(window))
redis.call('EXPIRE', KEYS[2], math.ceil(stale))
return {0, 0}
"""


class LimitExceeded(Exception):
    """The editor asked for more than their share; the message says what to do."""

    code = "rate_limited"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def too_many_running_message() -> str:
    concurrent = settings.AIWRITER_MAX_CONCURRENT_PER_USER
    return f"You already have {concurrent} AI generations running. Wait for one to finish, or stop one."


def _keys(user_id: int) -> list[str]:
    return [f"blogsite:aiwriter:rate:{user_id}", f"blogsite:aiwriter:active:{user_id}"]


# One client per event loop (a connection belongs to the loop that opened it), with its script.
_clients: PerLoop[tuple[str, redis.Redis, AsyncScript]] = PerLoop()
REDIS_TIMEOUT_SECONDS = 0.5


def _client() -> tuple[redis.Redis, AsyncScript]:
    """The running loop's client and acquire script; it connects again after Redis comes back."""
    _, client, script = _clients.get(_new_client, usable=lambda value: value[0] == settings.REDIS_URL)
    return client, script


def redis_client() -> redis.Redis:
    """The running loop's client, for the AI writer's other per-editor checks (aiwriter/access.py)."""
    client, _ = _client()
    return client


def _new_client() -> tuple[str, redis.Redis, AsyncScript]:
    url = settings.REDIS_URL
    client = async_redis(url, timeout=REDIS_TIMEOUT_SECONDS)
    return url, client, client.register_script(_ACQUIRE)


def _stale_after() -> float:
    return float(settings.AIWRITER_TIMEOUTS["total"]) + 60


def _verdict_check(reply: list) -> None:
    verdict, wait = reply
    if int(verdict) == 1:
        raise LimitExceeded(too_many_running_message())
    if int(verdict) == 2:
        raise LimitExceeded(
            f"You have reached {settings.AIWRITER_RATE_LIMIT} AI generations a minute. "
            f"Try again in {max(int(wait), 1)} seconds."
        )


async def _acquire(user_id: int, slot: str) -> bool:
    """Takes a slot; False when Redis cannot be reached (the limits are skipped). Raises LimitExceeded."""
    _, script = _client()
    args = [RATE_WINDOW_SECONDS, settings.AIWRITER_RATE_LIMIT, settings.AIWRITER_MAX_CONCURRENT_PER_USER]
    try:
        reply = await script(keys=_keys(user_id), args=[*args, _stale_after(), slot])
    except RedisError:
        logger.warning("AI writer limits skipped: Redis is unreachable", exc_info=True)
        return False
    _verdict_check(reply)
    return True


async def _release(user_id: int, slot: str) -> None:
    client, _ = _client()
    try:
        await client.zrem(_keys(user_id)[1], slot)
    except RedisError:
        logger.warning("AI writer slot not released (it expires on its own)", exc_info=True)


@asynccontextmanager
async def generation_slot(*, user_id: int) -> AsyncIterator[None]:
    """Holds one of the editor's generation slots for the block; raises LimitExceeded at either limit."""
    slot = uuid.uuid4().hex
    held = await _acquire(user_id, slot)
    try:
        yield
    finally:
        if held:
            await _release(user_id, slot)

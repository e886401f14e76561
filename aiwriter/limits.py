"""Per-editor limits on AI generations: how many at once, and how many per minute.

The counts live in Redis so that they hold across every process serving WebSockets and SSE.
Each limit is a sorted set of request ids scored by start time, checked and updated by one Lua
script so that two processes cannot both take the last slot. A process that dies mid-generation
cannot release its slot, so slots older than the longest possible generation are dropped.
If Redis cannot be reached the limits are skipped: generating slower to police is worse than
letting an editor through.
"""

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from django.conf import settings
from redis.exceptions import RedisError

from blogsite.per_loop import PerLoop
from blogsite.pipelined_redis import PipelinedRedis

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


# One pipelined connection per event loop (a connection belongs to the loop that opened it).
# Every generation takes a slot before its first token; with redis-py's pooled client, a burst of
# editors made the pool open new connections and the slot took tens of milliseconds at 200 streams.
_clients: PerLoop[PipelinedRedis] = PerLoop()
# Releases of slots whose generation never ran, kept until done (the loop holds tasks only weakly).
_releasing: set[asyncio.Task] = set()
REDIS_TIMEOUT_SECONDS = 0.5


def _client() -> PipelinedRedis:
    """The running loop's shared client; it connects again on the next command after Redis comes back."""
    return _clients.get(_new_client, usable=_for_current_url)


def _new_client() -> PipelinedRedis:
    return PipelinedRedis(settings.REDIS_URL, timeout=REDIS_TIMEOUT_SECONDS)


def _for_current_url(client: PipelinedRedis) -> bool:
    return client.url == settings.REDIS_URL


def _stale_after() -> float:
    return float(settings.AIWRITER_TIMEOUTS["total"]) + 60


def _acquire_args(user_id: int, slot: str) -> list:
    concurrent = settings.AIWRITER_MAX_CONCURRENT_PER_USER
    args = [RATE_WINDOW_SECONDS, settings.AIWRITER_RATE_LIMIT, concurrent, _stale_after(), slot]
    return ["EVAL", _ACQUIRE, 2, *_keys(user_id), *args]


def _verdict_check(reply: list) -> None:
    verdict, wait = reply
    if int(verdict) == 1:
        raise LimitExceeded(too_many_running_message())
    if int(verdict) == 2:
        raise LimitExceeded(
            f"You have reached {settings.AIWRITER_RATE_LIMIT} AI generations a minute. "
            f"Try again in {max(int(wait), 1)} seconds."
        )


class GenerationSlot:
    """One of the editor's generation slots: asked for when created, granted or refused once Redis answers.

    The request goes to Redis at once, so the caller can get the generation ready while Redis
    answers; every step that must not happen before the verdict (asking Ollama, telling the
    editor) awaits `granted()`, as many times and from as many tasks as it likes.
    """

    def __init__(self, *, user_id: int) -> None:
        self.user_id = user_id
        self.id = uuid.uuid4().hex
        self.held: bool | None = None  # None until the verdict is known
        self._reply = _client().submit(*_acquire_args(user_id, self.id))

    async def granted(self) -> None:
        """Returns once the slot is held; raises LimitExceeded when the editor is at either limit."""
        with contextlib.suppress(RedisError):  # the limits are skipped; _settle says so
            await self._reply
        refusal = self._settle()
        if refusal is not None:
            raise refusal

    async def release(self) -> None:
        """Gives the slot back, also when the generation stopped before anyone read the verdict."""
        if self.held is None:
            if not self._reply.done():
                # The request must reach Redis before its removal does (while connecting, nothing orders them).
                await asyncio.wait([self._reply])
            self._settle()
        if self.held:
            self.held = False
            await _release_quietly(self.user_id, self.id)

    def release_soon(self) -> None:
        """`release()` in a task of its own, for a slot whose generation never ran."""
        task = asyncio.get_running_loop().create_task(self.release(), name="aiwriter:slot-release")
        _releasing.add(task)
        task.add_done_callback(_releasing.discard)

    def _settle(self) -> LimitExceeded | None:
        """Sets `held` from the reply, which has come; returns the refusal if it was one."""
        if self._reply.cancelled():
            self.held = True  # the verdict was lost, not the request: release it to be sure
            return None
        error = self._reply.exception()
        if error is not None:
            if self.held is None:
                logger.warning("AI writer limits skipped: Redis is unreachable", exc_info=error)
            self.held = False
            return None
        try:
            _verdict_check(self._reply.result())
        except LimitExceeded as refusal:
            self.held = False
            return refusal
        self.held = True
        return None


async def _release(user_id: int, slot: str) -> None:
    await _client().execute("ZREM", _keys(user_id)[1], slot)


@asynccontextmanager
async def generation_slot(*, user_id: int, asked: GenerationSlot | None = None) -> AsyncIterator[GenerationSlot]:
    """Ask for one of the editor's generation slots (unless `asked` is one), and hold it for the block.

    The block learns the verdict from `await slot.granted()`, which raises LimitExceeded.
    """
    slot = asked or GenerationSlot(user_id=user_id)
    try:
        yield slot
    finally:
        await slot.release()


async def _release_quietly(user_id: int, slot: str) -> None:
    try:
        await _release(user_id, slot)
    except RedisError:
        logger.warning("AI writer slot not released (it expires on its own)", exc_info=True)

"""Identical generations in flight share one upstream request, within a process and across processes.

Within a process a `Flight` holds what one upstream generation produced so far; every editor
asking the same thing subscribes to it and replays the text from the start. Across processes
the first process to claim the request's owner key in Redis runs it and mirrors each piece to a
Redis stream that lives only briefly; another process follows that stream (replaying it, then
blocking on it) and feeds its own local flight, so its editors share one Redis reader too.

The owner refreshes a heartbeat key while it runs. A follower that finds no new entries and no
heartbeat knows the owner's process died, and fails within the heartbeat time instead of hanging.
When the owner's editor cancels, the upstream request goes on as long as anyone still listens.

Who listens elsewhere is a sorted set per flight: each following process adds itself, scored by
Redis' clock, and says so again while it reads, so a process that died stops counting after
`follower_ttl()`. Joining and the owner's decision to stop are each one Lua script that also
checks the owner key: a process either joins before the owner decides (and the upstream request
goes on for it) or finds the request no longer owned and runs it itself. No follower is cut off
by a stop it could not see coming.
"""

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable

import redis.asyncio as redis
from redis.exceptions import RedisError

from ..engines import Done, GenerationStats, EngineError, PacedReads, Unavailable

logger = logging.getLogger(__name__)

KEY_PREFIX = "blogsite:aiwriter:flight:"
# How long a finished flight's stream stays for followers that joined late and still replay it.
FINISHED_STREAM_SECONDS = 30

# Joins the flight ARGV[1] (or says again that it still listens) only while it still owns the request.
_JOIN = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
local now = redis.call('TIME')
redis.call('ZADD', KEYS[2], tonumber(now[1]) + tonumber(now[2]) / 1000000, ARGV[2])
redis.call('PEXPIRE', KEYS[2], math.ceil(tonumber(ARGV[3]) * 1000))
return 1
"""

# Drops the followers that have not said within ARGV[1] seconds that they listen; counts the rest.
_FOLLOWERS_LISTENING = """
local now = redis.call('TIME')
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(now[1]) + tonumber(now[2]) / 1000000 - tonumber(ARGV[1]))
local followers = redis.call('ZCARD', KEYS[1])
"""

# The followers still listening.
_COUNT = _FOLLOWERS_LISTENING + "return followers\n"

# The owner's stop: the count of followers still listening, or 0 once the flight ARGV[2] gave up the request.
_RELEASE_UNLESS_FOLLOWED = (
    _FOLLOWERS_LISTENING
    + """
if followers > 0 then
  return followers
end
if redis.call('GET', KEYS[2]) == ARGV[2] then
  redis.call('DEL', KEYS[2])
end
return 0
"""
)


def follower_ttl(heartbeat: float) -> float:
    """Seconds a follower counts after it last said it listens; it says so every half heartbeat."""
    return heartbeat * 2


def owner_key_for(key: str) -> str:
    return f"{KEY_PREFIX}{key}:owner"


def stream_key_for(key: str, flight_id: str) -> str:
    """The Redis stream of one flight's pieces."""
    return f"{KEY_PREFIX}{key}:{flight_id}"


def followers_key_for(key: str, flight_id: str) -> str:
    return f"{stream_key_for(key, flight_id)}:followers"


class Flight:
    """One upstream generation and its subscribers in this process. Text pieces, then done or error.

    A subscriber that sends text on at intervals may hold the upstream socket's reads meanwhile
    (`reads`, see `frames()`), so whoever waits for more text does so through `wait_beyond()`,
    which takes in what has arrived first, and when nothing has, lets the next piece through as
    it comes.
    """

    def __init__(self, key: str | None) -> None:
        self.key = key
        self.items: list[str] = []
        self.done: Done | None = None
        self.error: EngineError | None = None
        self.finished = False
        self.host = ""
        self.subscribers = 0
        self.producer: asyncio.Task | None = None
        # Set when this process owns the request and mirrors it to Redis for other processes.
        self.mirror: FlightMirror | None = None
        # While this process asks Redis whether another one still follows it, before stopping it.
        self.stopping = False
        self.changed = asyncio.Event()
        self.reads = PacedReads()

    @property
    def output_started(self) -> bool:
        return bool(self.items)

    async def wait_beyond(self, seen: int) -> bool:
        """Returns once the flight has more than `seen` pieces or has ended; True if it had to wait."""
        self.reads.pull()
        if seen < len(self.items) or self.finished:
            return False
        await self.changed.wait()
        return True

    def add(self, text: str) -> None:
        if self.finished:
            return  # stopped meanwhile: what a producer still had in hand goes nowhere
        self.items.append(text)
        self._wake()

    def finish(self, done: Done) -> None:
        if self.finished:
            return
        self.done = done
        self.finished = True
        self._wake()

    def fail(self, error: EngineError) -> None:
        if self.finished:
            return
        self.error = error
        self.finished = True
        self._wake()

    def _wake(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()


def cancelled_upstream() -> EngineError:
    return EngineError("The generation was stopped before it finished. Try again.")


def owner_gone() -> Unavailable:
    return Unavailable(
        "The identical generation this request joined stopped answering: its server went away. Try again."
    )


class FlightMirror:
    """The owner's side in Redis: the heartbeat key and the stream of pieces."""

    def __init__(self, connection: redis.Redis, key: str, *, heartbeat: float) -> None:
        self.redis = connection
        self.key = key
        self.heartbeat = heartbeat
        self.flight_id = uuid.uuid4().hex
        self.stream = stream_key_for(key, self.flight_id)
        self.owner_key = owner_key_for(key)
        self.followers_key = followers_key_for(key, self.flight_id)
        # Processes following this flight, as of the last piece published.
        self.remote_followers = 0
        self._beating: asyncio.Task | None = None

    def _ttl_ms(self) -> int:
        return max(int(self.heartbeat * 1000), 100)

    async def claim(self) -> bool:
        """Whether this process now owns the request (no other process runs it)."""
        claimed = await self.redis.set(self.owner_key, self.flight_id, nx=True, px=self._ttl_ms())
        if claimed:
            self._beating = asyncio.create_task(self._beat(), name=f"aiwriter:heartbeat:{self.key[:12]}")
        return bool(claimed)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat / 3)
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.pexpire(self.owner_key, self._ttl_ms())
                    pipe.pexpire(self.stream, self._ttl_ms() + FINISHED_STREAM_SECONDS * 1000)
                    await pipe.execute()
            except RedisError:
                logger.warning("AI flight heartbeat not sent: Redis is unreachable", exc_info=True)

    async def mirror(self, flight: "Flight", *, unheard: Callable[[], None]) -> None:
        """Copies the flight's pieces to the Redis stream as they come, in batches, then its end.

        It runs beside the upstream request, so a slow Redis never slows the editors of this process.
        When a batch finds no follower elsewhere and nobody here listens (the last follower left
        after the owner's editor did), it calls `unheard`, which decides whether to stop upstream.
        """
        index = 0
        try:
            while True:
                if index == len(flight.items) and not flight.finished:
                    await flight.wait_beyond(index)
                    continue
                batch = flight.items[index:]
                index += len(batch)
                entries = [chunk_fields("".join(batch))] if batch else []
                # Decided before publishing: the flight may finish while the batch is on its way.
                final = flight.finished
                if final:
                    entries.append(error_fields(flight.error) if flight.error else done_fields(flight.done))
                await self._publish(entries)
                if final:
                    return
                if self.remote_followers == 0 and flight.subscribers == 0:
                    unheard()
        except RedisError:
            # Followers elsewhere will miss the heartbeat and give up; editors here are unaffected.
            logger.warning("AI flight not mirrored to Redis: it is unreachable", exc_info=True)
        finally:
            await self.close()

    async def _publish(self, entries: list[dict[str, str]]) -> None:
        # The follower count rides along, so the owner knows without waiting whether anyone elsewhere listens.
        async with self.redis.pipeline(transaction=False) as pipe:
            for fields in entries:
                pipe.xadd(self.stream, fields)
            pipe.eval(_COUNT, 1, self.followers_key, follower_ttl(self.heartbeat))
            *_, followers = await pipe.execute()
        self.remote_followers = int(followers)

    async def release_unless_followed(self) -> bool:
        """True once the request is no longer this process's to share: nobody elsewhere follows it.

        From then on a process asking the same thing runs it itself instead of joining a flight
        that is about to stop. Without Redis nobody elsewhere can follow it either: True.
        """
        keys, args = (self.followers_key, self.owner_key), (follower_ttl(self.heartbeat), self.flight_id)
        try:
            followers = await self.redis.eval(_RELEASE_UNLESS_FOLLOWED, 2, *keys, *args)
        except RedisError:
            logger.warning("AI flight stopped without asking for followers: Redis is unreachable", exc_info=True)
            return True
        self.remote_followers = int(followers)
        return self.remote_followers == 0

    async def close(self) -> None:
        if self._beating is not None:
            self._beating.cancel()
            self._beating = None
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.expire(self.stream, FINISHED_STREAM_SECONDS)
                pipe.get(self.owner_key)
                _, owner = await pipe.execute()
            if owner is not None and owner.decode() == self.flight_id:
                await self.redis.delete(self.owner_key)
        except RedisError:
            logger.warning("AI flight owner key left to expire: Redis is unreachable", exc_info=True)


def chunk_fields(text: str) -> dict[str, str]:
    return {"k": "c", "t": text}


def done_fields(done: Done) -> dict[str, str]:
    stats = {name: getattr(done.stats, name) for name in GenerationStats.__dataclass_fields__}
    return {"k": "d", "t": json.dumps(stats)}


def error_fields(error: EngineError) -> dict[str, str]:
    return {"k": "e", "t": json.dumps({"code": error.code, "message": error.message})}


class _RemoteError(EngineError):
    """An error the owner's process reported, with its code kept for the editor."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


async def follow_remote(connection: redis.Redis, key: str, flight: Flight, *, heartbeat: float) -> bool:
    """Feeds `flight` from another process's stream. False when no owner was found (nothing to follow)."""
    owner_key = owner_key_for(key)
    owner = await connection.get(owner_key)
    if owner is None:
        return False
    flight_id = owner.decode()
    follower = uuid.uuid4().hex
    if not await follower_join(connection, key, flight_id, follower, heartbeat=heartbeat):
        return False  # the owner gave the request up meanwhile: it stops for want of listeners
    loop = asyncio.get_running_loop()
    said_at = loop.time()
    stream, last_id = stream_key_for(key, flight_id), "0-0"
    block_ms = max(int(heartbeat * 1000 / 2), 50)
    try:
        while not flight.finished:
            if loop.time() - said_at >= heartbeat / 2:
                # Still listening (a no-op once the owner has finished).
                await follower_join(connection, key, flight_id, follower, heartbeat=heartbeat)
                said_at = loop.time()
            reply = await connection.xread({stream: last_id}, count=1000, block=block_ms)
            if not reply:
                if not await connection.exists(owner_key):
                    flight.fail(owner_gone())
                continue
            for entry_id, fields in reply[0][1]:
                last_id = entry_id
                _apply(flight, fields)
    finally:
        with contextlib.suppress(RedisError):
            await connection.zrem(followers_key_for(key, flight_id), follower)
    return True


async def follower_join(connection: redis.Redis, key: str, flight_id: str, follower: str, *, heartbeat: float) -> bool:
    """Counts `follower` among the flight's listeners for `follower_ttl()`; False once it no longer owns the request."""
    keys = (owner_key_for(key), followers_key_for(key, flight_id))
    return bool(await connection.eval(_JOIN, 2, *keys, flight_id, follower, follower_ttl(heartbeat)))


def _apply(flight: Flight, fields: dict[bytes, bytes]) -> None:
    kind, text = fields[b"k"].decode(), fields[b"t"].decode()
    if kind == "c":
        flight.add(text)
    elif kind == "d":
        flight.finish(Done(GenerationStats(**json.loads(text))))
    else:
        data = json.loads(text)
        flight.fail(_RemoteError(data["code"], data["message"]))

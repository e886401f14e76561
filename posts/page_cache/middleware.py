"""The ASGI layer that answers reader pages from Redis, and stores what Django renders for them."""

import asyncio
import contextlib
import logging
import time

import redis.asyncio as aioredis
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import DatabaseError
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import LockError, RedisError

from blogsite import metrics
from blogsite.per_loop import PerLoop
from blogsite.redis_clients import async_redis
from posts import cache_keys, reader_fragment, releases
from posts.cache_keys import PageKey, redis_outage

from . import routes
from .responses import (
    HIT,
    STALE,
    ASGIApp,
    Capture,
    Receive,
    Scope,
    Send,
    StoredPage,
    marked,
    request_info,
    send_json,
    send_page,
    without_cookies,
)

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.02
LOCK_SECONDS = 10
Flights = dict[tuple[str, bytes | None], asyncio.Future]


class PageCacheMiddleware:
    """ASGI middleware for the http protocol; wrap Django's ASGI application with it."""

    def __init__(self, app: ASGIApp, *, redis_url: str | None = None):
        self.app = app
        self.redis_url = redis_url
        # A client and the renders in flight belong to the event loop that made them.
        self._clients: PerLoop[tuple[str, aioredis.Redis]] = PerLoop()
        self._flights: PerLoop[Flights] = PerLoop()
        self._retry_at = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        info = request_info(scope)
        page = None
        if not info.personal and info.origin is not None:
            page = routes.page_for_request(scope["path"], scope["query_string"], info.origin)
        if page is not None:
            # Everyone gets the same page; a signed-in reader's own parts come from the reader fragment.
            await self._cached(page, without_cookies(scope) if info.session else scope, receive, send)
        elif not (info.session or info.personal) and routes.is_reader_fragment(scope["path"]):
            await send_json(send, reader_fragment.ANONYMOUS, head=scope["method"] == "HEAD")
        elif routes.is_public_path(scope["path"]):
            await self.app(scope, receive, marked(send, personal=info.personal or info.session))
        else:
            await self.app(scope, receive, send)

    async def aclose(self) -> None:
        """Close this event loop's Redis connections (tests and shutdown)."""
        self._flights.pop()
        entry = self._clients.pop()
        if entry is not None:
            await entry[1].aclose()

    async def _cached(self, page: PageKey, scope: Scope, receive: Receive, send: Send) -> None:
        redis = self._client()
        if redis is None:
            await self._uncached(scope, receive, send)
            return
        try:
            entry, *versions = await redis.mget(page.key, *page.version_keys)
            redis_outage.recovered()
        except RedisError as error:
            self._failed(error, page)
            await self._uncached(scope, receive, send)
            return
        tag = version_tag(versions)
        if tag is not None and entry is not None and entry.startswith(tag + b"\n"):
            metrics.PAGE_CACHE_HITS.labels(page.kind).inc()
            await send_page(send, StoredPage.decode(entry), x_cache=HIT, head=scope["method"] == "HEAD")
            return
        metrics.PAGE_CACHE_MISSES.labels(page.kind).inc()
        await self._miss(redis, page, entry, versions, scope, receive, send)

    async def _uncached(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, marked(send, personal=False))

    async def _miss(self, redis, page: PageKey, entry: bytes | None, versions: list, scope, receive, send) -> None:
        """Get the page once for every request here that wants it now; the others wait for that copy."""
        head = scope["method"] == "HEAD"
        flights = self._flights.get(dict)
        flight_key = (page.key, version_tag(versions))
        flight = flights.get(flight_key)
        if flight is not None:
            outcome = await _wait(flight, settings.PAGE_CACHE_WAIT_SECONDS)
            if outcome is not None:
                await send_page(send, outcome[0], x_cache=outcome[1], head=head)
                return
        if flight is not None or head:  # the first request took too long, or a HEAD has no body to keep
            await self._uncached(scope, receive, send)
            return
        flight = flights[flight_key] = asyncio.get_running_loop().create_future()
        outcome = None
        try:
            outcome = await self._get_once(redis, page, entry, versions, scope, receive, send)
        finally:
            flight.set_result(outcome)
            del flights[flight_key]

    async def _get_once(
        self, redis, page: PageKey, entry: bytes | None, versions: list, scope, receive, send
    ) -> tuple[StoredPage, bytes] | None:
        """Render under the page's lock, or take the copy of the process holding it (or the previous copy)."""
        lock = redis.lock(page.lock_key, timeout=LOCK_SECONDS, blocking=False, thread_local=False)
        try:
            locked = await lock.acquire()
            if not locked:
                fresh, locked = await self._wait_for_other(redis, page, lock)
                outcome = (fresh, HIT) if fresh is not None else None
                if outcome is None and not locked and entry is not None:
                    outcome = (StoredPage.decode(entry), STALE)
                if outcome is not None:
                    await send_page(send, outcome[0], x_cache=outcome[1], head=False)
                    return outcome
            versions = await _create_shared_versions(redis, page, versions)
        except RedisError as error:
            self._failed(error, page)
            await self._uncached(scope, receive, send)
            return None
        stored = await self._render(redis, page, versions, lock if locked else None, scope, receive, send)
        return (stored, HIT) if stored is not None else None

    async def _wait_for_other(self, redis, page: PageKey, lock) -> tuple[StoredPage | None, bool]:
        """Poll until the other render is stored (its copy) or its lock is gone (True: ours now)."""
        deadline = time.monotonic() + settings.PAGE_CACHE_WAIT_SECONDS
        while time.monotonic() < deadline:
            await asyncio.sleep(POLL_SECONDS)
            fresh = await _fresh_copy(redis, page)
            if fresh is not None:
                return fresh, False
            if await lock.acquire():
                # The other render may have been stored between the read above and its lock's release.
                fresh = await _fresh_copy(redis, page)
                if fresh is None:
                    return None, True
                with contextlib.suppress(LockError):
                    await lock.release()
                return fresh, False
        return None, False

    async def _render(self, redis, page: PageKey, versions: list, lock, scope, receive, send) -> StoredPage | None:
        """Django answers the reader; a copy is stored when it may be shared, and the lock let go."""
        stored = None
        since = time.time()  # before Django reads anything the page shows
        try:
            capture = Capture(send)
            await self.app(scope, receive, capture)
            stored = capture.page()
        finally:
            if stored is not None or lock is not None:
                await self._finish(redis, page, versions, stored, lock, since=since)
        return stored

    async def _finish(self, redis, page: PageKey, versions: list, stored: StoredPage | None, lock, *, since) -> None:
        try:
            if stored is not None:
                await self._store(redis, page, versions, stored, since=since)
            if lock is not None:
                await lock.release()
        except LockError:
            pass  # the render outlasted the lock, which another process may hold by now
        except RedisError as error:
            self._failed(error, page)

    async def _store(self, redis, page: PageKey, versions: list, stored: StoredPage, *, since: float) -> None:
        if page.popular_only:
            async with redis.pipeline(transaction=False) as pipe:
                seen, _ = await pipe.incr(page.seen_key).expire(page.seen_key, page.ttl).execute()
            if seen < 2:
                return
        tag = await _tag_for_store(redis, page, versions)
        milliseconds = int(await _lifetime(page, versions, since=since) * 1000)
        if tag is not None and milliseconds > 0:
            await redis.set(page.key, stored.encode(tag), px=milliseconds)

    def _client(self) -> aioredis.Redis | None:
        """This loop's client, or None while Redis is known to be down."""
        if time.monotonic() < self._retry_at:
            return None
        url = self.redis_url or settings.CACHES[cache_keys.CACHE_ALIAS]["LOCATION"]
        return self._clients.get(lambda: (url, _connect(url)), usable=lambda entry: entry[0] == url)[1]

    def _failed(self, error: RedisError, page: PageKey) -> None:
        self._retry_at = time.monotonic() + settings.PAGE_CACHE_RETRY_SECONDS
        redis_outage.failed(error)
        metrics.PAGE_CACHE_ERRORS.labels(page.kind).inc()


def _connect(url: str) -> aioredis.Redis:
    """A client that fails at once when Redis does not answer in time: the page is then rendered by Django."""
    return async_redis(url, timeout=settings.PAGE_CACHE_REDIS_TIMEOUT, retry=Retry(NoBackoff(), retries=0))


async def _fresh_copy(redis, page: PageKey) -> StoredPage | None:
    """The page's stored copy if it was rendered under the current versions."""
    entry, *versions = await redis.mget(page.key, *page.version_keys)
    tag = version_tag(versions)
    if tag is not None and entry is not None and entry.startswith(tag + b"\n"):
        return StoredPage.decode(entry)
    return None


def version_tag(versions: list[bytes | None]) -> bytes | None:
    """The versions a copy was rendered under, as stored with it; None while one is missing."""
    if None in versions:
        return None
    return b"|".join(versions)


async def _wait(flight: asyncio.Future, seconds: float) -> tuple[StoredPage, bytes] | None:
    try:
        return await asyncio.wait_for(asyncio.shield(flight), seconds)
    except TimeoutError:
        return None


async def _create_shared_versions(redis, page: PageKey, versions: list) -> list:
    """Create the missing site-wide versions before rendering, so the render's fragments share them."""
    missing = [
        key
        for key, value in zip(page.version_keys, versions, strict=True)
        if value is None and key in page.shared_version_keys
    ]
    if not missing:
        return versions
    async with redis.pipeline(transaction=False) as pipe:
        for key in missing:
            pipe.set(key, cache_keys.version_stamp(), nx=True)
        pipe.mget(page.version_keys)
        return (await pipe.execute())[-1]


async def _tag_for_store(redis, page: PageKey, versions: list) -> bytes | None:
    """The versions to store a copy under; None if one of them appeared while the page rendered.

    A version missing at lookup is created here with a fresh stamp. Had a change bumped it in
    the meantime, the key would exist already and the copy (perhaps rendered before that
    change) is not stored.
    """
    missing = [key for key, value in zip(page.version_keys, versions, strict=True) if value is None]
    if not missing:
        return version_tag(versions)
    stamps = {key: cache_keys.version_stamp() for key in missing}
    async with redis.pipeline(transaction=False) as pipe:
        for key, stamp in stamps.items():
            pipe.set(key, stamp, nx=True)
        if not all(await pipe.execute()):
            return None
    return b"|".join(stamps.get(key, value) for key, value in zip(page.version_keys, versions, strict=True))


async def _lifetime(page: PageKey, versions: list, *, since: float) -> float:
    """The page's lifetime, cut at the next release for lists (posts/releases.py); 0 if it is unknown."""
    if page.schedule_position is None:
        return page.ttl
    schedule = {"seconds": page.ttl, "schedule_version": versions[page.schedule_position].decode(), "since": since}
    seconds = releases.known_lifetime(**schedule)
    if seconds is not None:
        return seconds
    try:
        return await database_sync_to_async(releases.lifetime)(**schedule)
    except DatabaseError:
        logger.warning("The schedule of releases could not be read; the page is not stored.", exc_info=True)
        return 0.0

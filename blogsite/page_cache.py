"""Reader pages answered from Redis before Django runs.

Under ASGI, Django runs sync middleware and views on one thread per process, so a page cache
inside Django serves at the pace of that thread. This thin ASGI layer sits in front instead:
for an anonymous GET or HEAD of a public page it fetches the stored copy and the versions the
copy must match in one MGET on an async Redis client, and a match goes straight back to the
client with `X-Cache: HIT`. Anything else goes to Django; a public page answered by Django
says `X-Cache: MISS`, and an anonymous one is stored when it is safe to share.

Keys and versions come from posts.cache_keys; posts.signals bumps the versions.

- Anyone carrying a session or messages cookie gets Django's own answer (`X-Cache: MISS`,
  `Cache-Control: private`), and their responses are never stored.
- Only complete 200 responses without cookies, private or no-store caching, CSRF tokens or
  variation beyond the cookie are stored, for their kind's lifetime.
- A miss renders once: requests for the same page in this process wait for that render, other
  processes wait on a short Redis lock, and one that waits too long gets the previous copy.
- Scheduled posts: the next release time is read with every lookup; once it has passed, the
  pages of the posts now public are refreshed before anything is answered from the cache.
- Redis unreachable: pages are served by Django uncached, Redis is tried again after
  PAGE_CACHE_RETRY_SECONDS, and the outage is logged once per interval.
"""

import asyncio
import logging
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http.cookie import parse_cookie
from redis.exceptions import RedisError

from blogsite import metrics
from blogsite.pipelined_redis import PipelinedRedis
from posts import cache_keys
from posts.cache_keys import PageKey, redis_outage
from posts.signals import scheduled_posts_release

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

HIT, MISS, STALE = b"HIT", b"MISS", b"STALE"
MAX_BODY_BYTES = 2 * 1024 * 1024
POLL_SECONDS = 0.02
LOCK_MILLISECONDS = 10_000
# Headers that describe one delivery rather than the page.
_NOT_STORED = {b"date", b"server-timing", b"x-cache", b"age", b"connection", b"transfer-encoding"}
_CSRF_MARK = b"csrfmiddlewaretoken"
_PERSONAL_COOKIES = ("messages",)
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-:[]")
_UNLOCK_SCRIPT = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


@dataclass(slots=True)
class StoredPage:
    """A response as kept in Redis: `tag\\nstatus\\nheaders\\nbody`, headers joined by NUL bytes."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def encode(self, tag: bytes) -> bytes:
        head = b"\x00".join(part for header in self.headers for part in header)
        return b"\n".join((tag, str(self.status).encode(), head, self.body))

    @classmethod
    def decode(cls, data: bytes) -> "StoredPage":
        _tag, status, head, body = data.split(b"\n", 3)
        parts = head.split(b"\x00") if head else []
        return cls(int(status), list(zip(parts[::2], parts[1::2], strict=True)), body)


def storable(status: int, headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether a response may be shared with every anonymous reader."""
    if status != 200:
        return False
    for name, value in headers:
        name = name.lower()
        if name == b"set-cookie" or b"\n" in value or b"\x00" in value or b"\x00" in name:
            return False
        if name == b"cache-control" and any(word in value.lower() for word in (b"private", b"no-store", b"no-cache")):
            return False
        if name == b"vary" and any(v.strip() not in (b"cookie", b"") for v in value.lower().split(b",")):
            return False
    return True


def version_tag(versions: list[bytes | None]) -> bytes | None:
    """The versions a copy was rendered under, as stored with it; None while one is missing."""
    if None in versions:
        return None
    return b"|".join(versions)


@dataclass(slots=True)
class RequestInfo:
    personal: bool  # a session or messages cookie: the answer is for this person only
    origin: str | None  # scheme://host, None when the host is not one to key a page by


def request_info(scope: Scope) -> RequestInfo:
    host = forwarded_proto = b""
    personal = False
    for name, value in scope["headers"]:
        if name == b"host":
            host = value
        elif name == b"cookie":
            cookies = parse_cookie(value.decode("latin-1"))
            personal = personal or any(
                cookie in cookies for cookie in (settings.SESSION_COOKIE_NAME, *_PERSONAL_COOKIES)
            )
        elif name == b"x-forwarded-proto":
            forwarded_proto = value
    return RequestInfo(personal=personal, origin=_origin(scope, host, forwarded_proto))


def _origin(scope: Scope, host: bytes, forwarded_proto: bytes) -> str | None:
    hostname = host.decode("latin-1").lower()
    if not hostname or len(hostname) > 255 or not _HOST_CHARS.issuperset(hostname):
        return None
    # The forwarded scheme is part of the key whether or not Django trusts it: never wrong, at worst a second copy.
    scheme = scope.get("scheme", "http") + ("+" + forwarded_proto.decode("latin-1") if forwarded_proto else "")
    return f"{scheme}://{hostname}"


class _Capture:
    """Passes Django's response to the client and keeps a copy of it when it may be stored."""

    def __init__(self, send: Send):
        self.send = send
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.size = 0
        self.keep = False
        self.complete = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            self.status = message["status"]
            self.keep = storable(self.status, headers)
            self.headers = [(name, value) for name, value in headers if name.lower() not in _NOT_STORED]
            message = {**message, "headers": [*headers, (b"x-cache", MISS)]}
        elif message["type"] == "http.response.body" and self.keep:
            body = message.get("body", b"")
            self.size += len(body)
            self.chunks.append(body)
            self.keep = self.size <= MAX_BODY_BYTES
            self.complete = not message.get("more_body", False)
        await self.send(message)

    def page(self) -> StoredPage | None:
        if not (self.keep and self.complete):
            return None
        body = b"".join(self.chunks)
        if _CSRF_MARK in body:  # a form for one visitor: never shared, whatever the headers say
            return None
        return StoredPage(self.status, self.headers, body)


def _marked(send: Send, *, personal: bool) -> Send:
    """`X-Cache: MISS` on a public page Django answered; `private` too when it was for one person."""

    async def send_marked(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [*message.get("headers", []), (b"x-cache", MISS)]
            if personal and not any(name.lower() == b"cache-control" for name, _ in headers):
                headers.append((b"cache-control", b"private"))
            message = {**message, "headers": headers}
        await send(message)

    return send_marked


async def send_page(send: Send, page: StoredPage, *, x_cache: bytes, head: bool) -> None:
    await send(
        {"type": "http.response.start", "status": page.status, "headers": [*page.headers, (b"x-cache", x_cache)]}
    )
    await send({"type": "http.response.body", "body": b"" if head else page.body})


@dataclass
class _LoopState:
    """What lives on one event loop: its Redis client, renders in flight, a release in flight."""

    client: PipelinedRedis | None = None
    url: str = ""
    flights: dict[tuple[str, bytes | None], asyncio.Future] = field(default_factory=dict)
    release: asyncio.Future | None = None


class PageCacheMiddleware:
    """ASGI middleware for the http protocol; wrap Django's ASGI application with it."""

    def __init__(self, app: ASGIApp, *, redis_url: str | None = None):
        self.app = app
        self.redis_url = redis_url
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = weakref.WeakKeyDictionary()
        self._retry_at = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        info = request_info(scope)
        page = None
        if not info.personal and info.origin is not None:
            page = cache_keys.page_for_request(scope["path"], scope["query_string"], info.origin)
        if page is not None:
            await self._cached(page, scope, receive, send)
        elif cache_keys.is_public_path(scope["path"]):
            await self._release_if_due()
            await self.app(scope, receive, _marked(send, personal=info.personal))
        else:
            await self.app(scope, receive, send)

    async def aclose(self) -> None:
        """Close this event loop's Redis connections (tests and shutdown)."""
        state = self._loops.pop(asyncio.get_running_loop(), None)
        if state is not None and state.client is not None:
            await state.client.aclose()

    async def _cached(self, page: PageKey, scope: Scope, receive: Receive, send: Send) -> None:
        redis = self._client()
        if redis is None:
            await self._uncached(page, scope, receive, send)
            return
        try:
            entry, versions = await self._lookup(redis, page)
        except RedisError as error:
            self._failed(error, page)
            await self._uncached(page, scope, receive, send)
            return
        if versions is None:  # another process is releasing scheduled posts right now
            await self._uncached(page, scope, receive, send)
            return
        tag = version_tag(versions)
        if tag is not None and entry is not None and entry.startswith(tag + b"\n"):
            metrics.PAGE_CACHE_HITS.labels(page.kind).inc()
            await send_page(send, StoredPage.decode(entry), x_cache=HIT, head=scope["method"] == "HEAD")
            return
        metrics.PAGE_CACHE_MISSES.labels(page.kind).inc()
        await self._miss(redis, page, entry, versions, scope, receive, send)

    async def _lookup(self, redis: PipelinedRedis, page: PageKey) -> tuple[bytes | None, list[bytes | None] | None]:
        """The stored copy and current versions in one round trip, after any release that is due."""
        values = await redis.execute("MGET", page.key, *page.version_keys, cache_keys.next_release_key())
        redis_outage.recovered()
        if _release_due(values[-1]):
            if not await self._release(redis):
                return None, None
            values = await redis.execute("MGET", page.key, *page.version_keys, cache_keys.next_release_key())
        return values[0], values[1:-1]

    async def _uncached(self, page: PageKey, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, _marked(send, personal=False))

    async def _miss(
        self, redis: PipelinedRedis, page: PageKey, entry: bytes | None, versions: list, scope: Scope, receive, send
    ) -> None:
        """Get the page once for every request here that wants it now; the others wait for that copy."""
        head = scope["method"] == "HEAD"
        flights = self._state().flights
        flight_key = (page.key, version_tag(versions))
        flight = flights.get(flight_key)
        if flight is not None:
            outcome = await _wait(flight, settings.PAGE_CACHE_WAIT_SECONDS)
            if outcome is not None:
                await send_page(send, outcome[0], x_cache=outcome[1], head=head)
                return
        if flight is not None or head:  # the first request took too long, or a HEAD has no body to keep
            await self._uncached(page, scope, receive, send)
            return
        flight = flights[flight_key] = asyncio.get_running_loop().create_future()
        outcome = None
        try:
            outcome = await self._get_once(redis, page, entry, versions, scope, receive, send)
        finally:
            flight.set_result(outcome)
            del flights[flight_key]

    async def _get_once(
        self, redis: PipelinedRedis, page: PageKey, entry: bytes | None, versions: list, scope: Scope, receive, send
    ) -> tuple[StoredPage, bytes] | None:
        """Render under the page's lock, or take the copy of the process holding it (or the previous copy)."""
        token = uuid.uuid4().hex.encode()
        try:
            locked = await redis.execute("SET", page.lock_key, token, "NX", "PX", LOCK_MILLISECONDS)
            if not locked:
                fresh, locked = await self._wait_for_other(redis, page, token)
                outcome = (fresh, HIT) if fresh is not None else None
                if outcome is None and not locked and entry is not None:
                    outcome = (StoredPage.decode(entry), STALE)
                if outcome is not None:
                    await send_page(send, outcome[0], x_cache=outcome[1], head=False)
                    return outcome
            versions = await _create_shared_versions(redis, page, versions)
        except RedisError as error:
            self._failed(error, page)
            await self._uncached(page, scope, receive, send)
            return None
        stored = await self._render(redis, page, versions, token if locked else None, scope, receive, send)
        return (stored, HIT) if stored is not None else None

    async def _wait_for_other(
        self, redis: PipelinedRedis, page: PageKey, token: bytes
    ) -> tuple[StoredPage | None, bool]:
        """Poll until the other render is stored (its copy) or its lock is gone (True: ours now)."""
        deadline = time.monotonic() + settings.PAGE_CACHE_WAIT_SECONDS
        while time.monotonic() < deadline:
            await asyncio.sleep(POLL_SECONDS)
            values = await redis.execute("MGET", page.key, *page.version_keys)
            tag = version_tag(values[1:])
            if tag is not None and values[0] is not None and values[0].startswith(tag + b"\n"):
                return StoredPage.decode(values[0]), False
            if await redis.execute("SET", page.lock_key, token, "NX", "PX", LOCK_MILLISECONDS):
                return None, True
        return None, False

    async def _render(
        self, redis: PipelinedRedis, page: PageKey, versions: list, token: bytes | None, scope: Scope, receive, send
    ) -> StoredPage | None:
        """Django answers the reader; a copy is stored when it may be shared, and the lock let go."""
        stored = None
        try:
            capture = _Capture(send)
            await self.app(scope, receive, capture)
            stored = capture.page()
        finally:
            if stored is not None or token is not None:
                await self._finish(redis, page, versions, stored, token)
        return stored

    async def _finish(
        self, redis: PipelinedRedis, page: PageKey, versions: list, stored: StoredPage | None, token: bytes | None
    ) -> None:
        try:
            if stored is not None:
                await self._store(redis, page, versions, stored)
            if token is not None:
                await redis.execute("EVAL", _UNLOCK_SCRIPT, 1, page.lock_key, token)
        except RedisError as error:
            self._failed(error, page)

    async def _store(self, redis: PipelinedRedis, page: PageKey, versions: list, stored: StoredPage) -> None:
        if page.popular_only:
            seen, _ = await redis.pipeline([("INCR", page.seen_key), ("EXPIRE", page.seen_key, page.ttl)])
            if seen < 2:
                return
        tag = await _tag_for_store(redis, page, versions)
        if tag is not None:
            await redis.execute("SET", page.key, stored.encode(tag), "EX", page.ttl)

    async def _release_if_due(self) -> None:
        """For public pages Django renders anyway: their sidebar fragments follow the schedule too."""
        redis = self._client()
        if redis is None:
            return
        try:
            if _release_due(await redis.execute("GET", cache_keys.next_release_key())):
                await self._release(redis)
        except RedisError as error:
            self._failed(error, None)

    async def _release(self, redis: PipelinedRedis) -> bool:
        """Refresh the pages of scheduled posts whose time has come; False if another process is on it."""
        state = self._state()
        if state.release is None:
            state.release = asyncio.ensure_future(self._release_under_lock(redis))
            state.release.add_done_callback(lambda _: setattr(state, "release", None))
        return await asyncio.shield(state.release)

    async def _release_under_lock(self, redis: PipelinedRedis) -> bool:
        token = uuid.uuid4().hex.encode()
        if not await redis.execute("SET", cache_keys.release_lock_key(), token, "NX", "PX", LOCK_MILLISECONDS * 3):
            return False
        try:
            await sync_to_async(scheduled_posts_release)()
        except Exception:
            logger.exception("Releasing scheduled posts failed; pages are served uncached until it succeeds.")
            return False
        finally:
            await redis.execute("EVAL", _UNLOCK_SCRIPT, 1, cache_keys.release_lock_key(), token)
        return True

    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            state = self._loops[loop] = _LoopState()
        return state

    def _client(self) -> PipelinedRedis | None:
        """This loop's pooled client, or None while Redis is known to be down."""
        if time.monotonic() < self._retry_at:
            return None
        state = self._state()
        url = self.redis_url or settings.CACHES[cache_keys.CACHE_ALIAS]["LOCATION"]
        if state.client is None or state.url != url:
            state.client, state.url = PipelinedRedis(url, timeout=settings.PAGE_CACHE_REDIS_TIMEOUT), url
        return state.client

    def _failed(self, error: RedisError, page: PageKey | None) -> None:
        self._retry_at = time.monotonic() + settings.PAGE_CACHE_RETRY_SECONDS
        redis_outage.failed(error)
        if page is not None:
            metrics.PAGE_CACHE_ERRORS.labels(page.kind).inc()


def _release_due(next_release: bytes | None) -> bool:
    """True when the release time has passed, or is unknown (Redis restarted or the value expired)."""
    if next_release is None:
        return True
    return next_release != b"none" and time.time() >= float(next_release)


async def _wait(flight: asyncio.Future, seconds: float) -> StoredPage | None:
    try:
        return await asyncio.wait_for(asyncio.shield(flight), seconds)
    except TimeoutError:
        return None


async def _create_shared_versions(redis: PipelinedRedis, page: PageKey, versions: list) -> list:
    """Create the missing site-wide versions before rendering, so the render's fragments share them."""
    missing = [
        key
        for key, value in zip(page.version_keys, versions, strict=True)
        if value is None and key in page.shared_version_keys
    ]
    if not missing:
        return versions
    commands = [("SET", key, cache_keys.version_stamp(), "NX") for key in missing]
    return (await redis.pipeline([*commands, ("MGET", *page.version_keys)]))[-1]


async def _tag_for_store(redis: PipelinedRedis, page: PageKey, versions: list) -> bytes | None:
    """The versions to store a copy under; None if one of them appeared while the page rendered.

    A version missing at lookup is created here with a fresh stamp. Had a change bumped it in
    the meantime, the key would exist already and the copy (perhaps rendered before that
    change) is not stored.
    """
    missing = [key for key, value in zip(page.version_keys, versions, strict=True) if value is None]
    if not missing:
        return version_tag(versions)
    stamps = {key: cache_keys.version_stamp() for key in missing}
    if not all(await redis.pipeline([("SET", key, stamp, "NX") for key, stamp in stamps.items()])):
        return None
    return b"|".join(stamps.get(key, value) for key, value in zip(page.version_keys, versions, strict=True))

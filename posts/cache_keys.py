"""Keys of the reader caches, and the versions that invalidate them.

A cached page, fragment or selector result depends on a few *versions*: counters in Redis,
one per thing readers see (the index, one post, one tag, one author, the feeds, the sitemap,
search results, the sidebar). A copy is stored with the versions it was rendered under; a
change increments the counters of what it touches (posts/signals.py), so the next read finds
other versions and renders afresh. Invalidation is an INCR per dependency, never a scan of
the keyspace, and the page cache (posts/page_cache/), the templates, the selectors and the
signals all take their keys from the functions here, so reads and invalidations cannot drift
apart.

Copies of lists also follow the schedule of posts going public (posts/releases.py): they are
stored under its version too, and never kept past the next release.

A page's versions travel inside its stored copy rather than in its key: one MGET then fetches
the page and the versions it must match, and an outdated copy stays at hand as the previous
copy while a fresh one renders.
"""

import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

from django.conf import settings
from django.core.cache import caches
from redis.exceptions import RedisError

from . import releases

logger = logging.getLogger("posts.cache")

T = TypeVar("T")

# Dependencies: the things pages show. Signals bump them; copies are stored under them.
INDEX = "index"  # every page of the index
FEEDS = "feeds"  # RSS and Atom
SITEMAP = "sitemap"
SEARCH = "search"  # every search result page
SIDEBAR = "sidebar"  # tag cloud and recent posts, on every list page
SCHEDULE = "schedule"  # when posts go public: every list, with a lifetime cut at the next release
# Versions of things every site has; the page cache creates them before a first render when
# missing, so the render's fragments use the same ones. Per-object versions (a post, a tag, an
# author) are created only when a page under them is stored, so mistyped URLs create nothing.
SHARED_DEPS = frozenset({INDEX, FEEDS, SITEMAP, SEARCH, SIDEBAR, SCHEDULE})

# The cache alias for fragments and selector results: it ignores Redis errors (a miss instead).
CACHE_ALIAS = "pages"


def post_dep(slug: str) -> str:
    return f"post:{slug}"


def tag_dep(slug: str) -> str:
    return f"tag:{slug}"


def author_dep(username: str) -> str:
    return f"author:{username}"


def namespace() -> str:
    """Shared by every key here; the number changes when the stored format does."""
    prefix = settings.CACHES[CACHE_ALIAS].get("KEY_PREFIX", "")
    return f"{prefix}:pc1:" if prefix else "pc1:"


def version_key(dep: str) -> str:
    return f"{namespace()}v:{dep}"


def page_seconds() -> int:
    return settings.PAGE_CACHE_SECONDS


@dataclass(frozen=True, slots=True)
class PageKey:
    """Where one reader page is stored for one origin, and the versions a copy must match."""

    kind: str
    key: str
    version_keys: tuple[str, ...]
    shared_version_keys: frozenset[str]
    ttl: int
    popular_only: bool = False  # stored only once asked for again while `seen_key` lives
    schedule_position: int | None = None  # where the schedule's version is in `version_keys`, for lists

    @property
    def lock_key(self) -> str:
        return f"{self.key}:lock"

    @property
    def seen_key(self) -> str:
        return f"{self.key}:seen"


def _page(kind: str, name: str, deps: Iterable[str], *, origin: str, ttl: int | None = None, **options) -> PageKey:
    # Pages carry absolute links (canonical URL, feeds, sitemap), so each origin has its copy.
    key = f"{namespace()}page:{origin}{name}"
    version_keys = tuple(version_key(dep) for dep in deps)
    shared = frozenset(version_key(dep) for dep in deps if dep in SHARED_DEPS)
    ttl = ttl or page_seconds()
    schedule = list(deps).index(SCHEDULE) if SCHEDULE in deps else None
    return PageKey(
        kind=kind,
        key=key,
        version_keys=version_keys,
        shared_version_keys=shared,
        ttl=ttl,
        schedule_position=schedule,
        **options,
    )


def index_page(*, origin: str, page: int = 1) -> PageKey:
    return _page("index", f"/?page={page}", (INDEX, SIDEBAR, SCHEDULE), origin=origin)


def post_page(*, origin: str, slug: str) -> PageKey:
    """The post page shows no sidebar: only the post, its tags, author and approved comments."""
    return _page("post", f"/posts/{slug}/", (post_dep(slug),), origin=origin)


def tag_page(*, origin: str, slug: str, page: int = 1) -> PageKey:
    return _page("tag", f"/tags/{slug}/?page={page}", (tag_dep(slug), SIDEBAR, SCHEDULE), origin=origin)


def author_page(*, origin: str, username: str, page: int = 1) -> PageKey:
    deps = (author_dep(username), SIDEBAR, SCHEDULE)
    return _page("author", f"/authors/{username}/?page={page}", deps, origin=origin)


def search_page(*, origin: str, query: str, page: int = 1) -> PageKey:
    """Searches are many and mostly unique: only repeated ones are stored, and not for long."""
    digest = hashlib.sha1(normalize_search(query).encode()).hexdigest()
    name = f"/search/?q={digest}&page={page}"
    ttl = settings.PAGE_CACHE_SEARCH_SECONDS
    return _page("search", name, (SEARCH, SIDEBAR, SCHEDULE), origin=origin, ttl=ttl, popular_only=True)


def feed_page(*, origin: str, kind: str) -> PageKey:
    return _page("feed", f"/feed/{kind}", (FEEDS, SCHEDULE), origin=origin)


def sitemap_page(*, origin: str) -> PageKey:
    return _page("sitemap", "/sitemap.xml", (SITEMAP, SCHEDULE), origin=origin)


def robots_page(*, origin: str) -> PageKey:
    """The same text until a deploy changes it; the TTL alone refreshes it."""
    return _page("robots", "/robots.txt", (), origin=origin)


def normalize_search(query: str) -> str:
    """Spacing differences give the same results, so they share one copy."""
    return " ".join(query.split())


def search_name(query: str) -> str:
    """A search's name in fragment and selector keys: its results are kept under SEARCH's version."""
    return "search:" + hashlib.sha1(normalize_search(query).encode()).hexdigest()


def version_stamp() -> bytes:
    """A first value for a version that is missing (new, or lost with a Redis restart).

    Microseconds since the epoch are larger than any count reached before, so a copy stored
    under a version's earlier life can never match it again.
    """
    return str(time.time_ns() // 1000).encode()


class RedisOutageLog:
    """Reports Redis being unreachable once per interval per process, not once per request."""

    def __init__(self) -> None:
        self._last_warning = float("-inf")
        self.down = False

    def failed(self, error: BaseException) -> None:
        self.down = True
        now = time.monotonic()
        if now - self._last_warning >= settings.PAGE_CACHE_WARNING_INTERVAL:
            self._last_warning = now
            logger.warning("Redis is unreachable (%s); pages are served uncached until it answers again.", error)

    def recovered(self) -> None:
        if self.down:
            self.down = False
            logger.info("Redis answers again; pages are cached again.")

    def should_report(self) -> bool:
        """For log records raised elsewhere (django-redis): True at most once per interval."""
        self.down = True
        now = time.monotonic()
        if now - self._last_warning < settings.PAGE_CACHE_WARNING_INTERVAL:
            return False
        self._last_warning = now
        return True


redis_outage = RedisOutageLog()


class RedisOutageLogFilter(logging.Filter):
    """Turns django-redis's per-call tracebacks for ignored errors into one warning per interval."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not redis_outage.should_report():
            return False
        error = record.exc_info[1] if record.exc_info else None
        detail = (error.__cause__ or error) if error else record.getMessage()
        record.msg = "Redis is unreachable (%s); cache calls are skipped until it answers again."
        record.args = (detail,)
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info, record.exc_text = None, None
        return True


def _redis():
    from django_redis import get_redis_connection

    return get_redis_connection(CACHE_ALIAS)


def versions_bump(deps: Iterable[str]) -> None:
    """Make every copy stored under these dependencies outdated: one INCR each, in one round trip."""
    keys = sorted({version_key(dep) for dep in deps})
    if not keys:
        return
    try:
        client = _redis()
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.incr(key)
        counts = pipe.execute()
        restarted = {key: version_stamp() for key, count in zip(keys, counts, strict=True) if count == 1}
        if restarted:
            client.mset(restarted)
    except RedisError as error:
        redis_outage.failed(error)


def versions_get(deps: Iterable[str]) -> str | None:
    """The current versions of these dependencies as one string, or None while Redis is unreachable."""
    values = _versions_read(list(deps))
    return ".".join(values) if values is not None else None


def _versions_read(deps: list[str], *, create_only: frozenset[str] | None = None) -> list[str] | None:
    """The versions of `deps` in their order, created where missing.

    None while Redis is unreachable, or when one is missing that is not in `create_only`.
    """
    keys = [version_key(dep) for dep in deps]
    try:
        client = _redis()
        values = client.mget(keys)
        missing = {dep for dep, value in zip(deps, values, strict=True) if value is None}
        if create_only is not None and not missing <= create_only:
            return None
        if None in values:
            pipe = client.pipeline(transaction=False)
            for key, value in zip(keys, values, strict=True):
                if value is None:
                    pipe.set(key, version_stamp(), nx=True)
            pipe.mget(keys)
            values = pipe.execute()[-1]
    except RedisError as error:
        redis_outage.failed(error)
        return None
    return [value.decode() for value in values]


@dataclass(frozen=True, slots=True)
class ListVersion:
    """What a copy of a list (a fragment, a selector's result) is stored under, and for how many seconds."""

    version: str
    seconds: int


def list_version(deps: Iterable[str], *, name: str = "") -> ListVersion | None:
    """The versions of a list's `deps` and the schedule's, and how long a copy read from now may be kept.

    None while Redis is unreachable, or while a tag's or an author's version does not exist
    yet: the list is then read from the database. The page cache creates those when it stores a
    page under them (as for a post's, see versions_get_existing); site-wide ones are created here.
    """
    since = time.time()  # before the list's data is read
    values = _versions_read([*deps, SCHEDULE], create_only=SHARED_DEPS)
    if values is None:
        return None
    seconds = releases.lifetime(seconds=page_seconds(), schedule_version=values[-1], since=since)
    version = ".".join(values)
    return ListVersion(version=f"{name}:{version}" if name else version, seconds=int(seconds))


def list_versions(lists: Iterable[Iterable[str]]) -> list[ListVersion | None]:
    """list_version() of several lists (their deps each), the same values, read in one round trip."""
    lists = [list(deps) for deps in lists]
    since = time.time()
    every = list(dict.fromkeys(dep for deps in lists for dep in deps))
    values = _versions_read([*every, SCHEDULE], create_only=SHARED_DEPS)
    if values is None:  # Redis unreachable, or a tag's or an author's version missing: each list on its own
        return [list_version(deps) for deps in lists]
    read = dict(zip([*every, SCHEDULE], values, strict=True))
    seconds = int(releases.lifetime(seconds=page_seconds(), schedule_version=read[SCHEDULE], since=since))
    return [
        ListVersion(version=".".join([*(read[dep] for dep in deps), read[SCHEDULE]]), seconds=seconds) for deps in lists
    ]


def named(version: ListVersion | None, name: str) -> ListVersion | None:
    """A list's version under a name of its own (a page of it), as list_version(..., name=name) gives."""
    return ListVersion(version=f"{name}:{version.version}", seconds=version.seconds) if version else None


class TemplateVersions:
    """`cache_versions.sidebar` for the sidebar's `{% cache %}` tags, read from Redis only when a template asks.

    A view that reads the sidebar's version with its own (list_versions) hands it over instead.
    """

    def __init__(self, *, sidebar: ListVersion | None = None) -> None:
        self._sidebar = sidebar

    @cached_property
    def sidebar(self) -> ListVersion:
        # While Redis is unreachable the fragment cache is too; a one-off value keeps a copy
        # stored in that moment from ever being read back.
        return (
            self._sidebar
            or list_version([SIDEBAR])
            or ListVersion(version=f"unavailable-{uuid.uuid4().hex}", seconds=0)
        )


def template_versions(request) -> dict:
    """Context processor: the sidebar's versions, and the lifetime of fragments that are not lists."""
    return {"cache_versions": TemplateVersions(), "cache_seconds": page_seconds()}


def selector_key(name: str, version: str) -> str:
    return f"selector:{name}:{version}"


def versions_get_existing(deps: Iterable[str]) -> str | None:
    """Like versions_get, but None when one is missing, and nothing is created.

    For dependencies named after a URL part (a post's slug): a mistyped URL must not leave a
    version behind. The page cache creates them when it stores a page under them.
    """
    keys = [version_key(dep) for dep in deps]
    try:
        values = _redis().mget(keys)
    except RedisError as error:
        redis_outage.failed(error)
        return None
    if None in values:
        return None
    return ".".join(value.decode() for value in values)


def cached_under_version(*, name: str, version: str | None, compute: Callable[[], T], seconds: int | None = None) -> T:
    """A result kept under a version read beforehand (versions_get_existing); computed afresh without one."""
    if version is None:
        return compute()
    key = selector_key(name, version)
    value = caches[CACHE_ALIAS].get(key)  # None also when Redis failed: this alias ignores its errors
    if value is None:
        value = compute()
        caches[CACHE_ALIAS].set(key, value, page_seconds() if seconds is None else seconds)
    return value

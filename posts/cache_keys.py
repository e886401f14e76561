"""Keys of the reader caches, and the versions that invalidate them.

A cached page, fragment or selector result depends on a few *versions*: counters in Redis,
one per thing readers see (the index, one post, one tag, one author, the feeds, the sitemap,
search results, the sidebar). A copy is stored with the versions it was rendered under; a
change increments the counters of what it touches (posts/signals.py), so the next read finds
other versions and renders afresh. Invalidation is an INCR per dependency, never a scan of
the keyspace, and the page cache (blogsite/page_cache.py), the templates, the selectors and
the signals all take their keys from the functions here, so reads and invalidations cannot
drift apart.

A page's versions travel inside its stored copy rather than in its key: one MGET then fetches
the page and the versions it must match, and an outdated copy stays at hand as the previous
copy while a fresh one renders.
"""

import hashlib
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TypeVar
from urllib.parse import parse_qsl

from django.conf import settings
from django.core.cache import caches
from django.utils import timezone
from redis.exceptions import RedisError

logger = logging.getLogger("posts.cache")

T = TypeVar("T")

# Dependencies: the things pages show. Signals bump them; copies are stored under them.
INDEX = "index"  # every page of the index
FEEDS = "feeds"  # RSS and Atom
SITEMAP = "sitemap"
SEARCH = "search"  # every search result page
SIDEBAR = "sidebar"  # tag cloud and recent posts, on every list page
# Versions of things every site has; the page cache creates them before a first render when
# missing, so the render's fragments use the same ones. Per-object versions (a post, a tag, an
# author) are created only when a page under them is stored, so mistyped URLs create nothing.
SHARED_DEPS = frozenset({INDEX, FEEDS, SITEMAP, SEARCH, SIDEBAR})

# The cache alias for fragments and selector results: it ignores Redis errors (a miss instead).
CACHE_ALIAS = "pages"
SEARCH_QUERY_MAX_CHARS = 200  # longer searches are refused by the search form, so never stored
_PAGE_NUMBER = re.compile(r"[1-9][0-9]{0,5}")
_SEGMENT = r"([^/]{1,250})"
_ROUTES = {
    "index": re.compile(r"/"),
    "post": re.compile(rf"/posts/{_SEGMENT}/"),
    "tag": re.compile(rf"/tags/{_SEGMENT}/"),
    "author": re.compile(rf"/authors/{_SEGMENT}/"),
    "search": re.compile(r"/search/"),
    "feed": re.compile(r"/feed/"),
    "atom": re.compile(r"/feed/atom/"),
    "sitemap": re.compile(r"/sitemap\.xml"),
    "robots": re.compile(r"/robots\.txt"),
}
# Query parameters that change what a page shows; any other one means the request is not cached.
_PARAMETERS = {"index": {"page"}, "tag": {"page"}, "author": {"page"}, "search": {"q", "page"}}


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


def next_release_key() -> str:
    """When the next scheduled post goes public (epoch seconds), or `none`."""
    return f"{namespace()}next-release"


def release_lock_key() -> str:
    return f"{namespace()}release-lock"


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
    return PageKey(kind=kind, key=key, version_keys=version_keys, shared_version_keys=shared, ttl=ttl, **options)


def index_page(*, origin: str, page: int = 1) -> PageKey:
    return _page("index", f"/?page={page}", (INDEX, SIDEBAR), origin=origin)


def post_page(*, origin: str, slug: str) -> PageKey:
    """The post page shows no sidebar: only the post, its tags, author and approved comments."""
    return _page("post", f"/posts/{slug}/", (post_dep(slug),), origin=origin)


def tag_page(*, origin: str, slug: str, page: int = 1) -> PageKey:
    return _page("tag", f"/tags/{slug}/?page={page}", (tag_dep(slug), SIDEBAR), origin=origin)


def author_page(*, origin: str, username: str, page: int = 1) -> PageKey:
    return _page("author", f"/authors/{username}/?page={page}", (author_dep(username), SIDEBAR), origin=origin)


def search_page(*, origin: str, query: str, page: int = 1) -> PageKey:
    """Searches are many and mostly unique: only repeated ones are stored, and not for long."""
    digest = hashlib.sha1(normalize_search(query).encode()).hexdigest()
    name = f"/search/?q={digest}&page={page}"
    ttl = settings.PAGE_CACHE_SEARCH_SECONDS
    return _page("search", name, (SEARCH, SIDEBAR), origin=origin, ttl=ttl, popular_only=True)


def feed_page(*, origin: str, kind: str) -> PageKey:
    return _page("feed", f"/feed/{kind}", (FEEDS,), origin=origin)


def sitemap_page(*, origin: str) -> PageKey:
    return _page("sitemap", "/sitemap.xml", (SITEMAP,), origin=origin)


def robots_page(*, origin: str) -> PageKey:
    """The same text until a deploy changes it; the TTL alone refreshes it."""
    return _page("robots", "/robots.txt", (), origin=origin)


def normalize_search(query: str) -> str:
    """Spacing differences give the same results, so they share one copy."""
    return " ".join(query.split())


def is_public_path(path: str) -> bool:
    return any(route.fullmatch(path) for route in _ROUTES.values())


@lru_cache(maxsize=4096)
def page_for_request(path: str, query_string: bytes, origin: str) -> PageKey | None:
    """The key of a reader page for an anonymous GET, or None when the request is not cached."""
    for kind, route in _ROUTES.items():
        match = route.fullmatch(path)
        if match is not None:
            params = _parameters(query_string, allowed=_PARAMETERS.get(kind, set()))
            if params is None:
                return None
            return _page_for(kind, match.groups(), params, origin=origin)
    return None


def _parameters(query_string: bytes, *, allowed: set[str]) -> dict[str, str] | None:
    """The query as a dict when it holds only known, single, well-formed parameters."""
    if not query_string:
        return {}
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True, encoding="utf-8", errors="replace")
    params = dict(pairs)
    if len(params) != len(pairs) or not set(params) <= allowed:
        return None
    if "page" in params and not _PAGE_NUMBER.fullmatch(params["page"]):
        return None
    if len(params.get("q", "")) > SEARCH_QUERY_MAX_CHARS:
        return None
    return params


def _page_for(kind: str, groups: tuple[str, ...], params: dict[str, str], *, origin: str) -> PageKey:
    page = int(params.get("page", 1))
    builders: dict[str, Callable[[], PageKey]] = {
        "index": lambda: index_page(origin=origin, page=page),
        "post": lambda: post_page(origin=origin, slug=groups[0]),
        "tag": lambda: tag_page(origin=origin, slug=groups[0], page=page),
        "author": lambda: author_page(origin=origin, username=groups[0], page=page),
        "search": lambda: search_page(origin=origin, query=params.get("q", ""), page=page),
        "feed": lambda: feed_page(origin=origin, kind="rss"),
        "atom": lambda: feed_page(origin=origin, kind="atom"),
        "sitemap": lambda: sitemap_page(origin=origin),
        "robots": lambda: robots_page(origin=origin),
    }
    return builders[kind]()


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
    keys = [version_key(dep) for dep in deps]
    try:
        client = _redis()
        values = client.mget(keys)
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
    return ".".join(value.decode() for value in values)


# Sets the next release time, keeping an earlier one still to come: two writers that each saw
# part of the schedule must not let a release be forgotten. ARGV: candidate or "none", now,
# ttl, and whether the writer may set a value where none is known ("release") or not ("lower").
_NEXT_RELEASE_SCRIPT = """
local current = redis.call('GET', KEYS[1])
local candidate = ARGV[1]
if not current then
  if ARGV[4] ~= 'release' then return 0 end
elseif current ~= 'none' and tonumber(current) > tonumber(ARGV[2]) then
  if candidate == 'none' or tonumber(current) < tonumber(candidate) then candidate = current end
end
redis.call('SET', KEYS[1], candidate, 'EX', ARGV[3])
return 1
"""


def next_release_set(*, at: float | None, now: float, full_schedule: bool) -> None:
    """Record when the next scheduled post goes public, for the page cache to watch.

    `full_schedule` is True for the release step, which read the whole schedule and may fill
    in a missing value; a single post's change only lowers a known value, so that a lost one
    (Redis restarted) is recomputed from the database rather than guessed.
    """
    candidate = "none" if at is None else f"{at:.6f}"
    mode = "release" if full_schedule else "lower"
    try:
        _redis().eval(_NEXT_RELEASE_SCRIPT, 1, next_release_key(), candidate, f"{now:.6f}", page_seconds(), mode)
    except RedisError as error:
        redis_outage.failed(error)


class TemplateVersions:
    """`{{ cache_versions.sidebar }}` for `{% cache %}` keys, read from Redis only when a template asks."""

    @cached_property
    def sidebar(self) -> str:
        # While Redis is unreachable the fragment cache is too; a one-off value keeps a copy
        # stored in that moment from ever being read back.
        return versions_get([SIDEBAR]) or f"unavailable-{uuid.uuid4().hex}"


def release_pending() -> bool:
    """True when the recorded next release time has passed or is unknown, or Redis is unreachable.

    A scheduled post goes public with time alone, and lists cached under versions show it only
    once a release step bumps them (the page cache runs one before Django renders a public
    page). While one is pending, lists are read from the database instead.
    """
    try:
        value = _redis().get(next_release_key())
    except RedisError as error:
        redis_outage.failed(error)
        return True
    return value is None or (value != b"none" and timezone.now().timestamp() >= float(value))


def post_list_fragment_version(*, name: str, deps: Iterable[str]) -> str | None:
    """What a list page's cached post list is stored under: the list and page it shows, and their versions.

    None when it must be rendered from the database (Redis unreachable). The versions are
    created when missing: callers ask only for lists that exist (a known tag or author), before
    reading them, so a change made meanwhile still bumps past this copy.
    """
    version = versions_get(deps)
    return f"{name}:{version}" if version is not None else None


def template_versions(request) -> dict:
    """Context processor: the versions and lifetime for fragment caches in templates."""
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


def cached_selector(*, name: str, deps: Iterable[str], compute: Callable[[], T]) -> T:
    """A selector's result kept until one of `deps` changes (or the page lifetime passes)."""
    return cached_under_version(name=name, version=versions_get(deps), compute=compute)


def cached_under_version(*, name: str, version: str | None, compute: Callable[[], T]) -> T:
    """A result kept under a version read beforehand (versions_get_existing); computed afresh without one."""
    if version is None:
        return compute()
    key = selector_key(name, version)
    value = caches[CACHE_ALIAS].get(key)  # None also when Redis failed: this alias ignores its errors
    if value is None:
        value = compute()
        caches[CACHE_ALIAS].set(key, value, page_seconds())
    return value

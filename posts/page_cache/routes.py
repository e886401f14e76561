"""Which requests the page cache answers, found through the reader URLconf (posts/urls.py).

A path is resolved as Django would resolve it; its URL name picks the key builder of its kind
of page in posts.cache_keys, which takes the URL's arguments and the query parameters that
change what the page shows. Any other parameter, or a path that is not a reader page, means
the request is not cached.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qsl

from django.urls import Resolver404, ResolverMatch, resolve

from posts import cache_keys
from posts.cache_keys import PageKey
from posts.forms import SEARCH_QUERY_MAX_CHARS

MAX_PATH_CHARS = 300  # longer paths (a slug is at most 220 characters) are not cached
_PAGE_NUMBER = re.compile(r"[1-9][0-9]{0,5}")

Builder = Callable[[str, dict[str, str], dict[str, str]], PageKey]  # origin, URL arguments, query parameters


@dataclass(frozen=True, slots=True)
class Route:
    build: Builder
    parameters: frozenset[str] = frozenset()  # the query parameters that change what the page shows


def _number(query: dict[str, str]) -> int:
    return int(query.get("page", 1))


def _index(origin: str, url: dict[str, str], query: dict[str, str]) -> PageKey:
    return cache_keys.index_page(origin=origin, page=_number(query))


def _post(origin: str, url: dict[str, str], query: dict[str, str]) -> PageKey:
    return cache_keys.post_page(origin=origin, slug=url["slug"])


def _tag(origin: str, url: dict[str, str], query: dict[str, str]) -> PageKey:
    return cache_keys.tag_page(origin=origin, slug=url["slug"], page=_number(query))


def _author(origin: str, url: dict[str, str], query: dict[str, str]) -> PageKey:
    return cache_keys.author_page(origin=origin, username=url["username"], page=_number(query))


def _search(origin: str, url: dict[str, str], query: dict[str, str]) -> PageKey:
    return cache_keys.search_page(origin=origin, query=query.get("q", ""), page=_number(query))


def _rss(origin: str, url: dict[str, str], query: dict[str, str]) -> PageKey:
    return cache_keys.feed_page(origin=origin, kind="rss")


def _atom(origin: str, url: dict[str, str], query: dict[str, str]) -> PageKey:
    return cache_keys.feed_page(origin=origin, kind="atom")


def _sitemap(origin: str, url: dict[str, str], query: dict[str, str]) -> PageKey:
    return cache_keys.sitemap_page(origin=origin)


def _robots(origin: str, url: dict[str, str], query: dict[str, str]) -> PageKey:
    return cache_keys.robots_page(origin=origin)


PAGED = frozenset({"page"})
# Reader pages by URL name; the other URLs of the site are never cached.
ROUTES: dict[str, Route] = {
    "posts:index": Route(_index, PAGED),
    "posts:detail": Route(_post),
    "posts:tag": Route(_tag, PAGED),
    "posts:author": Route(_author, PAGED),
    "posts:search": Route(_search, frozenset({"q", "page"})),
    "posts:feed": Route(_rss),
    "posts:feed_atom": Route(_atom),
    "posts:sitemap": Route(_sitemap),
    "posts:robots": Route(_robots),
}


def _resolved(path: str) -> ResolverMatch | None:
    """The path resolved as Django would, or None for one too long or matching no URL."""
    if len(path) > MAX_PATH_CHARS:
        return None
    try:
        return resolve(path)
    except Resolver404:
        return None


@lru_cache(maxsize=4096)
def route_for(path: str) -> tuple[Route, dict[str, str]] | None:
    """The route of a reader page and the URL's arguments, or None for any other path."""
    match = _resolved(path)
    route = ROUTES.get(match.view_name) if match is not None else None
    return (route, match.kwargs) if route is not None else None


def is_public_path(path: str) -> bool:
    return route_for(path) is not None


# The signed-in reader's parts of a shared page (posts.views.reader_fragment).
READER_FRAGMENT = "posts:reader"


@lru_cache(maxsize=1024)
def is_reader_fragment(path: str) -> bool:
    match = _resolved(path)
    return match is not None and match.view_name == READER_FRAGMENT


@lru_cache(maxsize=4096)
def page_for_request(path: str, query_string: bytes, origin: str) -> PageKey | None:
    """The key of a reader page for an anonymous GET, or None when the request is not cached."""
    found = route_for(path)
    if found is None:
        return None
    route, kwargs = found
    params = _parameters(query_string, allowed=route.parameters)
    return route.build(origin, kwargs, params) if params is not None else None


def _parameters(query_string: bytes, *, allowed: frozenset[str]) -> dict[str, str] | None:
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

"""Readers of the public site for page-cache tests.

Requests go through the whole ASGI application (Server-Timing, the page cache, Django), as
under daphne; django.test.Client would skip the page cache. Database work in async tests runs
in a thread (`asyncio.to_thread`), as the ORM refuses to run on the event loop.
"""

import contextlib
from collections.abc import AsyncIterator, Iterable

import httpx
from django.test import Client

from blogsite.asgi import application
from posts.page_cache import PageCacheMiddleware


def page_cache_layer() -> PageCacheMiddleware:
    layer = application
    while not hasattr(layer, "application_mapping"):  # the ASGI layers in front of the protocol router
        layer = layer.app
    layer = layer.application_mapping["http"]
    assert isinstance(layer, PageCacheMiddleware)
    return layer


@contextlib.asynccontextmanager
async def site(*, app=None, cookies: dict | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the site (or of `app`); closes the page caches' Redis connections on this event loop after."""
    transport = httpx.ASGITransport(app=app or application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", cookies=cookies) as client:
        try:
            yield client
        finally:
            await page_cache_layer().aclose()
            if isinstance(app, PageCacheMiddleware):
                await app.aclose()


def session_cookies(user) -> dict:
    """The cookies of a browser signed in as `user`."""
    client = Client()
    client.force_login(user)
    return {"sessionid": client.cookies["sessionid"].value}


async def x_cache(client: httpx.AsyncClient, path: str) -> str:
    return (await client.get(path)).headers.get("x-cache", "")


async def warm(client: httpx.AsyncClient, paths: Iterable[str]) -> None:
    """Request each page until the page cache answers it."""
    for path in paths:
        await client.get(path)
        assert await x_cache(client, path) == "HIT", path


async def outcomes(client: httpx.AsyncClient, paths: Iterable[str]) -> dict[str, str]:
    """X-Cache of each page, requested once."""
    return {path: await x_cache(client, path) for path in paths}

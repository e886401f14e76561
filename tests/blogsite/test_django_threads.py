"""Django's sync code under ASGI runs on a few long-lived threads (blogsite/asgi.py), not one new thread per request."""

import asyncio
import contextlib
import threading
from collections.abc import Iterator

import pytest
from django.core.signals import request_started

from tests.posts.readers import site

transactional = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@contextlib.contextmanager
def request_threads() -> Iterator[list[threading.Thread]]:
    """The thread each request Django starts meanwhile runs on, in order."""
    threads: list[threading.Thread] = []

    def started(**kwargs) -> None:
        threads.append(threading.current_thread())

    request_started.connect(started)
    try:
        yield threads
    finally:
        request_started.disconnect(started)


@transactional
async def test_requests_share_a_few_long_lived_threads(settings):
    with request_threads() as threads:
        async with site() as client:
            # Sync views Django answers (not the page cache), many at once, then one after another.
            responses = await asyncio.gather(*(client.get(f"/posts/missing-{n}/") for n in range(20)))
            responses += [await client.get(f"/tags/missing-{n}/") for n in range(10)]
    assert [r.status_code for r in responses] == [404] * 30
    assert len(threads) == 30
    assert 1 <= len(set(threads)) <= settings.DJANGO_SYNC_THREADS
    assert all(thread.name.startswith("django_") for thread in threads)  # the site's own, never the loop's


@transactional
async def test_a_request_waits_for_a_free_thread_rather_than_failing(settings):
    async with site() as client:
        paths = [f"/posts/missing-{n}/" for n in range(8 * settings.DJANGO_SYNC_THREADS)]
        responses = await asyncio.gather(*(client.get(path) for path in paths))
    assert {r.status_code for r in responses} == {404}


@transactional
async def test_async_views_keep_a_thread_of_their_own():
    """An async view holds its thread while it awaits (an SSE generation until its first event):
    never one of the few that every sync view shares."""
    with request_threads() as threads:
        async with site() as client:
            responses = await asyncio.gather(*(client.get("/healthz") for _ in range(5)))
    assert {r.status_code for r in responses} == {200}
    assert len(threads) == 5 and not any(thread.name.startswith("django_") for thread in threads)

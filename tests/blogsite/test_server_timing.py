import asyncio
import re

import httpx
import pytest

from blogsite.asgi import application
from blogsite.server_timing import ServerTimingMiddleware
from tests.factories import PostFactory
from tests.posts.readers import site

TIMING = re.compile(r"^(app|cache);dur=(\d+\.\d+)$")


def _timing(response: httpx.Response) -> tuple[str, float]:
    match = TIMING.match(response.headers["server-timing"].split(",")[-1].strip())
    assert match, response.headers["server-timing"]
    return match[1], float(match[2])


async def _get(app, path: str, **kwargs) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        return await client.get(path, **kwargs)


async def test_django_responses_carry_the_time_spent():
    response = await _get(application, "/healthz")
    assert response.status_code == 200
    metric, duration = _timing(response)
    assert metric == "app"
    assert 0 < duration < 5000


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # roles come from a data migration
async def test_rendered_and_cached_pages_say_which_path_served_them():
    post = await asyncio.to_thread(PostFactory)
    async with site() as client:
        rendered = await client.get(post.get_absolute_url())
        cached = await client.get(post.get_absolute_url())
    assert (rendered.headers["x-cache"], cached.headers["x-cache"]) == ("MISS", "HIT")
    assert _timing(rendered)[0] == "app"
    assert _timing(cached)[0] == "cache"
    assert post.title in cached.text


async def test_page_cache_hits_are_reported_as_cache_and_earlier_entries_are_kept():
    async def cached_page(scope, receive, send):
        await asyncio.sleep(0.02)
        headers = [(b"content-type", b"text/html"), (b"x-cache", b"HIT"), (b"server-timing", b"redis;dur=0.3")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"<p>cached</p>"})

    response = await _get(ServerTimingMiddleware(cached_page), "/")
    assert response.headers["server-timing"].startswith("redis;dur=0.3, ")
    metric, duration = _timing(response)
    assert metric == "cache"
    assert duration >= 20
    assert response.text == "<p>cached</p>"


async def test_non_http_traffic_passes_through_untouched():
    seen = []

    async def app(scope, receive, send):
        await send({"type": "websocket.accept", "headers": [(b"x-kind", b"ws")]})

    await ServerTimingMiddleware(app)({"type": "websocket"}, None, lambda message: _record(seen, message))
    assert seen == [{"type": "websocket.accept", "headers": [(b"x-kind", b"ws")]}]


async def _record(seen: list, message: dict) -> None:
    seen.append(message)

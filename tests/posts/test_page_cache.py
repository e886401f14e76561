"""The page cache in front of Django (posts/page_cache/), against the run's real Redis.

Pages of the real site go through the whole ASGI application; the rules about which responses
may be shared, stampedes and slow renders use small stand-in apps behind their own layer.
"""

import asyncio
import logging

import httpx
import pytest
from prometheus_client import REGISTRY

from blogsite.asgi import django_asgi_app
from posts import cache_keys, services
from posts.page_cache import PageCacheMiddleware
from tests.factories import PostFactory
from tests.posts.readers import session_cookies, site, x_cache
from tests.redis_server import start_redis, stop_redis

transactional = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def no_schedule(db):
    """Nothing is scheduled: the stand-in apps below serve lists kept for their full lifetime."""


def page_app(*, body: bytes = b"<p>A page</p>", status: int = 200, headers=(), delay: float = 0.0, calls=None):
    """A stand-in for Django that answers every request with one response, counting them."""

    async def app(scope, receive, send):
        if calls is not None:
            calls.append(scope["path"])
        await asyncio.sleep(delay)
        response_headers = [(b"content-type", b"text/html; charset=utf-8"), *headers]
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": body})

    return app


@pytest.fixture
def post():
    return PostFactory(title="Cached for readers", body="Plenty of *words*.")


@transactional
async def test_readers_get_the_stored_page_and_head_requests_too(post):
    async with site() as client:
        first, second = await client.get(post.get_absolute_url()), await client.get(post.get_absolute_url())
        head = await client.head(post.get_absolute_url())
    assert (first.headers["x-cache"], second.headers["x-cache"], head.headers["x-cache"]) == ("MISS", "HIT", "HIT")
    assert second.text == first.text and "Cached for readers" in second.text
    assert second.headers["content-type"] == first.headers["content-type"]
    assert head.content == b"" and head.headers["content-length"] == str(len(first.content))


@transactional
async def test_hits_are_counted_by_kind_of_page(post):
    def hits() -> float:
        return REGISTRY.get_sample_value("blogsite_page_cache_hits_total", {"kind": "post"}) or 0.0

    async with site() as client:
        await client.get(post.get_absolute_url())
        before = hits()
        await client.get(post.get_absolute_url())
    assert hits() == before + 1


@transactional
async def test_signed_in_readers_get_the_shared_page_and_never_leave_theirs(post, editor):
    editor_cookies = await asyncio.to_thread(session_cookies, editor)
    async with site(cookies=editor_cookies) as signed_in, site() as anonymous:
        # Their miss renders the page every reader gets, as for a visitor who is not signed in.
        theirs = await signed_in.get(post.get_absolute_url())
        assert theirs.headers["x-cache"] == "MISS"
        assert "csrfmiddlewaretoken" not in theirs.text and 'href="/editor/"' not in theirs.text
        assert editor.public_name not in theirs.text and "set-cookie" not in theirs.headers

        public = await anonymous.get(post.get_absolute_url())
        assert public.headers["x-cache"] == "HIT" and public.text == theirs.text

        again = await signed_in.get(post.get_absolute_url())
        assert again.headers["x-cache"] == "HIT" and again.text == theirs.text
        # Their own parts come from the reader fragment the page's script asks for.
        assert 'data-reader-account="/reader/"' in again.text
        assert f'data-reader-comments="{post.slug}"' in again.text


@transactional
async def test_a_page_with_notices_for_one_person_is_rendered_for_them_alone(post, editor):
    cookies = {**await asyncio.to_thread(session_cookies, editor), "messages": "anything"}
    async with site(cookies=cookies) as signed_in, site() as anonymous:
        theirs = await signed_in.get(post.get_absolute_url())
        assert theirs.headers["x-cache"] == "MISS" and "private" in theirs.headers["cache-control"]
        assert 'href="/editor/"' in theirs.text and "csrfmiddlewaretoken" in theirs.text
        assert await x_cache(anonymous, post.get_absolute_url()) == "MISS"  # theirs was not stored


@transactional
async def test_a_draft_is_never_served_from_the_cache(post, author, editor):
    draft = await asyncio.to_thread(
        services.post_create, author=author, data={"title": "Unreleased draft", "body": "Shh."}
    )
    editor_cookies = await asyncio.to_thread(session_cookies, editor)
    async with site(cookies=editor_cookies) as signed_in, site() as anonymous:
        await signed_in.get("/")
        for _ in range(2):
            index = await anonymous.get("/")
            assert "Unreleased draft" not in index.text
            missing = await anonymous.get(draft.get_absolute_url())
            assert missing.status_code == 404 and missing.headers["x-cache"] == "MISS"


@pytest.mark.parametrize(
    ("status", "headers", "body"),
    [
        (404, [], b"<p>Not here</p>"),
        (200, [(b"set-cookie", b"csrftoken=abc; Path=/")], b"<p>A page</p>"),
        (200, [(b"cache-control", b"private")], b"<p>A page</p>"),
        (200, [(b"cache-control", b"no-store")], b"<p>A page</p>"),
        (200, [(b"vary", b"Accept-Language")], b"<p>A page</p>"),
        (200, [], b'<form><input type="hidden" name="csrfmiddlewaretoken" value="x"></form>'),
    ],
    ids=["not-found", "set-cookie", "private", "no-store", "vary", "csrf-token"],
)
async def test_responses_not_meant_for_everyone_are_never_stored(no_schedule, status, headers, body):
    layer = PageCacheMiddleware(page_app(status=status, headers=headers, body=body))
    async with site(app=layer) as client:
        assert [await x_cache(client, "/robots.txt") for _ in range(2)] == ["MISS", "MISS"]


async def test_a_shareable_response_is_stored_with_its_headers(no_schedule):
    layer = PageCacheMiddleware(page_app(headers=[(b"vary", b"Cookie"), (b"x-frame-options", b"DENY")]))
    async with site(app=layer) as client:
        await client.get("/robots.txt")
        hit = await client.get("/robots.txt")
    assert hit.headers["x-cache"] == "HIT" and hit.text == "<p>A page</p>"
    assert (hit.headers["vary"], hit.headers["x-frame-options"]) == ("Cookie", "DENY")


async def test_unknown_query_parameters_and_other_paths_are_passed_through(no_schedule):
    calls = []
    layer = PageCacheMiddleware(page_app(calls=calls))
    async with site(app=layer) as client:
        tracked = [await x_cache(client, "/?utm_source=newsletter") for _ in range(2)]
        invalid_page = [await x_cache(client, "/?page=last") for _ in range(2)]
        admin = [await x_cache(client, "/admin/") for _ in range(2)]
        posted = (await client.post("/posts/some-post/")).headers.get("x-cache")
    assert tracked == invalid_page == ["MISS", "MISS"]
    assert admin == ["", ""] and posted is None
    assert len(calls) == 7


async def test_list_pages_vary_by_page_number_and_page_one_is_the_first(no_schedule):
    layer = PageCacheMiddleware(page_app())
    async with site(app=layer) as client:
        states = [await x_cache(client, path) for path in ("/", "/?page=1", "/?page=2", "/?page=2")]
    assert states == ["MISS", "HIT", "MISS", "HIT"]


async def test_only_repeated_searches_are_stored(no_schedule):
    layer = PageCacheMiddleware(page_app())
    async with site(app=layer) as client:
        once = [await x_cache(client, "/search/?q=rare+words")]
        repeated = [await x_cache(client, path) for path in ("/search/?q=async", "/search/?q=async")]
        spaced = await x_cache(client, "/search/?q=%20async%20%20")
    assert once == ["MISS"]
    assert repeated == ["MISS", "MISS"] and spaced == "HIT"


async def test_a_hot_page_that_misses_is_rendered_once(no_schedule):
    calls = []
    layer = PageCacheMiddleware(page_app(delay=0.2, calls=calls))
    async with site(app=layer) as client:
        responses = await asyncio.gather(*(client.get("/") for _ in range(20)))
    assert len(calls) == 1
    assert all(r.status_code == 200 and r.text == "<p>A page</p>" for r in responses)
    assert sorted(r.headers["x-cache"] for r in responses) == ["HIT"] * 19 + ["MISS"]


async def test_processes_sharing_redis_render_a_hot_page_once(no_schedule):
    calls = []
    first, second = (PageCacheMiddleware(page_app(delay=0.2, calls=calls)) for _ in range(2))
    async with site(app=first) as one, site(app=second) as two:
        requests = [client.get("/") for client in (one, two) for _ in range(10)]
        responses = await asyncio.gather(*requests)
    assert len(calls) == 1
    assert all(r.text == "<p>A page</p>" for r in responses)


async def test_readers_get_the_previous_copy_while_a_slow_render_runs(no_schedule, settings):
    settings.PAGE_CACHE_WAIT_SECONDS = 0.1
    async with site(app=PageCacheMiddleware(page_app(body=b"<p>Before</p>"))) as client:
        await client.get("/")
    cache_keys.versions_bump([cache_keys.INDEX])  # an editor changed something

    slow, other = (PageCacheMiddleware(page_app(body=b"<p>After</p>", delay=0.5)) for _ in range(2))
    async with site(app=slow) as renderer, site(app=other) as reader:
        rendering = asyncio.ensure_future(renderer.get("/"))
        await asyncio.sleep(0.05)
        previous = await reader.get("/")
        fresh = await rendering
    assert (previous.headers["x-cache"], previous.text) == ("STALE", "<p>Before</p>")
    assert (fresh.headers["x-cache"], fresh.text) == ("MISS", "<p>After</p>")


@transactional
async def test_pages_are_served_while_redis_is_down_and_cached_again_when_it_returns(
    post, editor, settings, caplog, monkeypatch
):
    process, port = start_redis()
    url = f"redis://127.0.0.1:{port}/0"
    settings.CACHES = {alias: {**config, "LOCATION": url} for alias, config in settings.CACHES.items()}
    settings.PAGE_CACHE_RETRY_SECONDS = 0.2
    monkeypatch.setattr(cache_keys.redis_outage, "_last_warning", float("-inf"))
    layer = PageCacheMiddleware(django_asgi_app)
    paths = [post.get_absolute_url(), "/", "/feed/"]
    try:
        async with site(app=layer) as client:
            assert [await x_cache(client, path) for path in paths * 2] == ["MISS"] * 3 + ["HIT"] * 3

            stop_redis(process)
            with caplog.at_level(logging.WARNING):
                for _ in range(3):
                    responses = [await client.get(path) for path in paths]
                    assert [(r.status_code, r.headers["x-cache"]) for r in responses] == [(200, "MISS")] * 3
                    assert "Cached for readers" in responses[0].text and "Tags" in responses[1].text
                    await asyncio.sleep(0.1)
                # an editor's change goes through; the pages it touches are refreshed when Redis returns
                await asyncio.to_thread(
                    services.post_update, post=post, by=editor, data={"title": "Edited"}, expected_version=post.version
                )
            outage = [r for r in caplog.records if "Redis is unreachable" in r.getMessage()]
            assert len(outage) == 1 and outage[0].levelno == logging.WARNING

            process, _ = start_redis(port)
            await asyncio.sleep(0.25)  # past PAGE_CACHE_RETRY_SECONDS
            assert [await x_cache(client, paths[0]) for _ in range(2)] == ["MISS", "HIT"]
            assert "Edited" in (await client.get(paths[0])).text
    finally:
        stop_redis(process)


async def test_websocket_lifespan_and_posted_requests_pass_through_untouched():
    seen = []
    pages = page_app()

    async def app(scope, receive, send):
        seen.append(scope["type"])
        if scope["type"] == "http":
            await pages(scope, receive, send)

    layer = PageCacheMiddleware(app)
    await layer({"type": "lifespan"}, None, None)
    await layer({"type": "websocket", "path": "/ws/aiwriter/", "headers": []}, None, None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=layer), base_url="http://testserver") as client:
        response = await client.post("/")
    assert seen == ["lifespan", "websocket", "http"]
    assert response.status_code == 200 and "x-cache" not in response.headers


async def test_the_reader_fragment_of_a_visitor_without_a_session_never_reaches_django(no_schedule):
    calls = []
    layer = PageCacheMiddleware(page_app(calls=calls))
    async with site(app=layer) as anonymous, site(app=layer, cookies={"sessionid": "someone"}) as signed_in:
        theirs = await anonymous.get("/reader/?post=anything")
        assert theirs.json() == {"signed_in": False} and theirs.headers["cache-control"] == "private, no-store"
        assert calls == []
        await signed_in.get("/reader/?post=anything")  # a session: Django says who it is
    assert calls == ["/reader/"]

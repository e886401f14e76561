"""A scheduled post appears on cached pages at its time, not when the copies expire."""

import asyncio
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from posts import services
from tests.factories import PostFactory, TagFactory
from tests.posts.readers import site, warm, x_cache

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

LISTS = ["/", "/tags/python/", "/authors/author/", "/feed/", "/sitemap.xml"]


@pytest.fixture
def python(author):
    """A public post, so the tag and author pages exist before the scheduled one goes out."""
    tag = TagFactory(name="Python", slug="python")
    PostFactory(title="Already out", author=author, tags=[tag])
    return tag


def schedule(*, author, editor, seconds: float):
    post = services.post_create(author=author, data={"title": "Right on time", "body": "Hello."}, tag_names=["Python"])
    return services.post_publish(post=post, by=editor, at=timezone.now() + timedelta(seconds=seconds))


async def test_a_scheduled_post_shows_on_cached_pages_at_its_time(author, editor, python):
    post = await asyncio.to_thread(schedule, author=author, editor=editor, seconds=1.5)
    release_at = post.published_at.timestamp()
    async with site() as client:
        await warm(client, LISTS)
        assert not any("Right on time" in text for text in [(await client.get(path)).text for path in LISTS])
        assert (await client.get(post.get_absolute_url())).status_code == 404

        await asyncio.sleep(max(0.0, release_at - time.time()) + 0.05)
        assert [await x_cache(client, path) for path in LISTS] == ["MISS"] * len(LISTS)
        assert all("Right on time" in text for text in [(await client.get(path)).text for path in LISTS[:4]])
        assert post.get_absolute_url() in (await client.get("/sitemap.xml")).text
        assert (await client.get(post.get_absolute_url())).status_code == 200


async def test_pages_stay_cached_while_the_scheduled_time_is_ahead(author, editor, python):
    await asyncio.to_thread(schedule, author=author, editor=editor, seconds=60)
    async with site() as client:
        await warm(client, LISTS)
        assert [await x_cache(client, path) for path in LISTS] == ["HIT"] * len(LISTS)


async def test_a_post_scheduled_after_the_lists_were_cached_shows_at_its_time(author, editor, python):
    async with site() as client:
        await warm(client, LISTS)
        post = await asyncio.to_thread(schedule, author=author, editor=editor, seconds=2.5)
        assert [await x_cache(client, path) for path in LISTS] == ["MISS"] * len(LISTS)  # kept until its time now
        await warm(client, LISTS)

        await asyncio.sleep(max(0.0, post.published_at.timestamp() - time.time()) + 0.05)
        assert all("Right on time" in text for text in [(await client.get(path)).text for path in LISTS[:4]])
        assert post.get_absolute_url() in (await client.get("/sitemap.xml")).text

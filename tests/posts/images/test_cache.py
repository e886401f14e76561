"""The page cache refreshes the pages that show an image when its alt text or file changes, and only those."""

import asyncio

import pytest

from posts import services as post_services
from posts.images import services
from tests.factories import PostFactory
from tests.posts.readers import outcomes, site, warm

from .pictures import picture_bytes, upload

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

SHOWS, OTHER, COVERED = "/posts/shows-it/", "/posts/other/", "/posts/covered/"


@pytest.fixture
def world(editor):
    image = services.image_upload(file=upload(picture_bytes("PNG", (900, 600))), by=editor, alt_text="Old words")
    shows = PostFactory(slug="shows-it", author=editor)
    post_services.post_update(post=shows, by=editor, data={"body": f"![]({image.url})"}, expected_version=1)
    covered = PostFactory(slug="covered", author=editor)
    services.post_cover_set(post=covered, image=image, by=editor)
    PostFactory(slug="other", author=editor)
    return {"image": image, "editor": editor}


async def test_new_alt_text_shows_on_the_pages_that_use_the_image_at_once(world):
    async with site() as client:
        await warm(client, [SHOWS, OTHER, COVERED])
        await asyncio.to_thread(
            services.image_update, image=world["image"], by=world["editor"], title="", alt_text="New words"
        )
        assert await outcomes(client, [SHOWS, OTHER, COVERED]) == {SHOWS: "MISS", OTHER: "HIT", COVERED: "MISS"}
        assert 'alt="New words"' in (await client.get(SHOWS)).text
        assert 'content="New words"' in (await client.get(COVERED)).text  # og:image:alt


async def test_a_title_change_alone_leaves_cached_pages_alone(world):
    async with site() as client:
        await warm(client, [SHOWS])
        await asyncio.to_thread(
            services.image_update, image=world["image"], by=world["editor"], title="Renamed", alt_text="Old words"
        )
        assert await outcomes(client, [SHOWS]) == {SHOWS: "HIT"}


async def test_a_new_file_shows_on_the_pages_that_use_the_image(world):
    old_url = world["image"].file.url
    async with site() as client:
        await warm(client, [SHOWS, OTHER])
        replaced = await asyncio.to_thread(
            services.image_replace_file,
            image=world["image"],
            by=world["editor"],
            file=upload(picture_bytes("JPEG", (1000, 500)), name="new.jpg"),
        )
        assert await outcomes(client, [SHOWS, OTHER]) == {SHOWS: "MISS", OTHER: "HIT"}
        page = (await client.get(SHOWS)).text
    assert replaced.file.url in page and old_url not in page
    assert 'width="1000" height="500"' in page

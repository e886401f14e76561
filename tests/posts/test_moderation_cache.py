"""Moderating in the editor's queue shows on the post's cached public page at the next request."""

import asyncio

import pytest
from django.test import Client

from posts.models import CommentStatus
from tests.factories import CommentFactory, PostFactory
from tests.posts.readers import site, warm, x_cache

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

PAGE = "/posts/winter-garden/"


def moderate(user, data: dict) -> int:
    client = Client()
    client.force_login(user)
    return client.post("/editor/comments/moderate/", data).status_code


async def test_approving_and_rejecting_from_the_queue_refresh_the_cached_post_page(editor, author, reader):
    post = await asyncio.to_thread(PostFactory, title="Winter garden", slug="winter-garden", author=author)
    comment = await asyncio.to_thread(
        CommentFactory, post=post, author=reader, body="Mulch the roses early.", status=CommentStatus.PENDING
    )
    async with site() as client:
        await warm(client, [PAGE])
        assert "Mulch the roses early." not in (await client.get(PAGE)).text

        assert await asyncio.to_thread(moderate, editor, {"row_action": f"approve:{comment.pk}"}) == 302
        assert await x_cache(client, PAGE) == "MISS"
        assert "Mulch the roses early." in (await client.get(PAGE)).text

        await warm(client, [PAGE])
        assert await asyncio.to_thread(moderate, editor, {"comments": [comment.pk], "action": "reject"}) == 302
        assert "Mulch the roses early." not in (await client.get(PAGE)).text

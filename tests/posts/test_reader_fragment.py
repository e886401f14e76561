"""Signed-in readers on shared pages: the page every reader gets, and their own parts from the reader fragment.

Requests go through the whole ASGI application, page cache included (tests/posts/readers.py).
"""

import asyncio
import json
import re

import pytest
from django.contrib.auth import get_user_model
from django_redis import get_redis_connection

from accounts.roles import Role
from posts import cache_keys
from posts.models import Comment, CommentStatus
from tests.factories import CommentFactory, PostFactory, UserFactory
from tests.posts.readers import session_cookies, site

transactional = pytest.mark.django_db(transaction=True, serialized_rollback=True)
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture
def post():
    return PostFactory(title="Shared by every reader", body="Words for all.")


@pytest.fixture
def alice(db):
    return UserFactory(username="alice", display_name="Alice Appleby", role=Role.READER)


@pytest.fixture
def bob(db):
    return UserFactory(username="bob", display_name="Bob Brambles", role=Role.READER)


def fragment_url(post) -> str:
    return f"/reader/?post={post.slug}"


def shared_values() -> list[bytes]:
    """Every string the page cache, the template fragments and the selectors keep in Redis."""
    client = get_redis_connection(cache_keys.CACHE_ALIAS)
    keys = [key for key in client.scan_iter(count=1000) if client.type(key) == b"string"]
    assert any(b"page:" in key for key in keys), "no page was stored"
    return [value for value in client.mget(keys) if value is not None]


@transactional
async def test_each_reader_gets_the_shared_page_and_only_their_own_parts(post, alice, bob):
    await asyncio.to_thread(CommentFactory, post=post, author=alice, body="Alice waits", status=CommentStatus.PENDING)
    alice_cookies, bob_cookies = await asyncio.gather(
        asyncio.to_thread(session_cookies, alice), asyncio.to_thread(session_cookies, bob)
    )
    async with site(cookies=alice_cookies) as as_alice, site(cookies=bob_cookies) as as_bob:
        for _ in range(2):  # the cache is warm from Alice's requests
            alice_page = await as_alice.get(post.get_absolute_url())
            alice_parts = await as_alice.get(fragment_url(post))
        bob_page = await as_bob.get(post.get_absolute_url())
        bob_parts = await as_bob.get(fragment_url(post))

    assert (alice_page.headers["x-cache"], bob_page.headers["x-cache"]) == ("HIT", "HIT")
    assert bob_page.text == alice_page.text
    for name in ("Alice Appleby", "Bob Brambles", "Alice waits", "csrfmiddlewaretoken"):
        assert name not in bob_page.text

    for parts in (alice_parts, bob_parts):
        assert parts.headers["cache-control"] == "private, no-store"
        assert parts.headers["vary"] == "Cookie" and parts.headers["content-type"] == "application/json"
    alice_json, bob_json = alice_parts.json(), bob_parts.json()
    assert alice_json["signed_in"] is bob_json["signed_in"] is True

    assert "Alice Appleby" in alice_json["account"] and "Bob Brambles" not in alice_json["account"]
    assert "Bob Brambles" in bob_json["account"] and "Alice Appleby" not in bob_json["account"]
    assert "Alice waits" in alice_json["comments"] and "Waiting for approval" in alice_json["comments"]
    assert "Alice waits" not in bob_json["comments"] and "Alice" not in bob_json["comments"]

    # Each form carries the token of its reader's own CSRF cookie, which the fragment sets.
    alice_token = CSRF_FIELD.search(alice_json["comments"])[1]
    bob_token = CSRF_FIELD.search(bob_json["comments"])[1]
    assert alice_token != bob_token

    # Nothing personal entered the shared cache.
    stored = b"\n".join(await asyncio.to_thread(shared_values))
    for personal in (b"Alice Appleby", b"Bob Brambles", b"Alice waits", alice_token.encode(), bob_token.encode()):
        assert personal not in stored


@transactional
async def test_the_form_from_the_fragment_posts_a_comment_that_its_author_then_sees_waiting(post, bob):
    cookies = await asyncio.to_thread(session_cookies, bob)
    async with site(cookies=cookies) as browser:
        await browser.get(post.get_absolute_url())
        form = (await browser.get(fragment_url(post))).json()["comments"]
        token = CSRF_FIELD.search(form)[1]
        sent = await browser.post(
            f"/posts/{post.slug}/comments/",
            data={"body": "Thanks for this", "csrfmiddlewaretoken": token},
            headers={"Referer": "http://testserver/"},
        )
        assert sent.status_code == 302 and sent.headers["location"] == f"/posts/{post.slug}/#comments"
        landed = await browser.get(sent.headers["location"])  # with the confirmation's messages cookie
        later = (await browser.get(fragment_url(post))).json()["comments"]

    comment = await asyncio.to_thread(Comment.objects.get)
    assert (comment.author_id, comment.status) == (bob.pk, CommentStatus.PENDING)
    assert landed.headers["x-cache"] == "MISS" and "private" in landed.headers["cache-control"]
    comments_area = landed.text[landed.text.index('id="comments"') :]
    assert "An editor will review it" in comments_area and "Thanks for this" in comments_area
    assert "Thanks for this" in later and "Waiting for approval" in later


@transactional
async def test_visitors_not_signed_in_are_answered_before_django(post):
    async with site() as anonymous:
        response = await anonymous.get(fragment_url(post))
    assert response.status_code == 200 and json.loads(response.content) == {"signed_in": False}
    assert response.headers["cache-control"] == "private, no-store"
    assert "x-cache" not in response.headers


@transactional
async def test_a_fragment_for_no_public_post_has_only_the_account_menu(alice):
    draft = await asyncio.to_thread(PostFactory, status="draft", published_at=None)
    cookies = await asyncio.to_thread(session_cookies, alice)
    async with site(cookies=cookies) as browser:
        for url in (f"/reader/?post={draft.slug}", "/reader/?post=no-such-post", "/reader/"):
            parts = (await browser.get(url)).json()
            assert set(parts) == {"signed_in", "account"} and "Alice Appleby" in parts["account"]


@transactional
async def test_a_reader_without_the_comment_permission_is_told_so(post):
    create = get_user_model().objects.create_user  # no role: no permission to comment
    muted = await asyncio.to_thread(create, username="muted", display_name="Muted Reader", password="x" * 20)
    cookies = await asyncio.to_thread(session_cookies, muted)
    async with site(cookies=cookies) as browser:
        comments = (await browser.get(fragment_url(post))).json()["comments"]
    assert "Your account cannot post comments." in comments and "comment-form" not in comments

"""Each change an editor makes shows on the very next request; pages it does not touch stay cached.

Pages are warmed until the page cache answers them (X-Cache: HIT), then something changes
through the services, as the editor, admin and profile pages do, and every page is requested
again against the real Redis and the real ASGI stack.
"""

import asyncio
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from accounts import services as accounts_services
from accounts.roles import Role
from posts import services
from posts.models import CommentStatus
from tests.factories import CommentFactory, PostFactory, TagFactory, UserFactory
from tests.posts.readers import outcomes, site, warm

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

P1, P2 = "/posts/alice-on-python/", "/posts/bob-on-rust/"
INDEX, INDEX_2 = "/", "/?page=2"
TAG_PYTHON, TAG_RUST = "/tags/python/", "/tags/rust/"
ALICE, BOB = "/authors/alice/", "/authors/bob/"
FEEDS_AND_SITEMAP = ["/feed/", "/feed/atom/", "/sitemap.xml"]
PAGES = [P1, P2, INDEX, INDEX_2, TAG_PYTHON, TAG_RUST, ALICE, BOB, *FEEDS_AND_SITEMAP]
P1_LISTS = [INDEX, INDEX_2, TAG_PYTHON, ALICE, *FEEDS_AND_SITEMAP]  # where Alice's post is listed


@pytest.fixture
def world(settings, editor):
    """Alice's post tagged Python and Bob's tagged Rust, one per index page."""
    settings.POSTS_PER_PAGE = 1
    alice = UserFactory(username="alice", display_name="Alice Writer", role=Role.AUTHOR)
    bob = UserFactory(username="bob", display_name="Bob Builder", role=Role.AUTHOR)
    python, rust = TagFactory(name="Python", slug="python"), TagFactory(name="Rust", slug="rust")
    p1 = PostFactory(title="Alice on Python", slug="alice-on-python", author=alice, tags=[python])
    p2 = PostFactory(title="Bob on Rust", slug="bob-on-rust", author=bob, tags=[rust])
    return {"alice": alice, "bob": bob, "python": python, "rust": rust, "p1": p1, "p2": p2, "editor": editor}


def expect(miss: list[str]) -> dict[str, str]:
    return {path: "MISS" if path in miss else "HIT" for path in PAGES}


async def change_and_read(change, *paths: str) -> tuple[dict[str, str], dict[str, str]]:
    """Warm every page, apply `change` in a thread, then X-Cache of every page and the text of `paths`."""
    async with site() as client:
        await warm(client, PAGES)
        await asyncio.to_thread(change)
        states = await outcomes(client, PAGES)
        texts = {path: (await client.get(path)).text for path in paths}
    return states, texts


async def test_editing_a_posts_body_refreshes_where_it_shows_and_nothing_else(world):
    p1, editor = world["p1"], world["editor"]

    def edit():
        services.post_update(post=p1, by=editor, data={"body": "A freshly edited body."}, expected_version=p1.version)

    states, texts = await change_and_read(edit, P1)
    # Bob's pages stay cached: the sidebar shows titles and dates, which did not change.
    assert states == expect(miss=[P1, *P1_LISTS])
    assert "A freshly edited body." in texts[P1]


async def test_retitling_a_post_also_refreshes_every_sidebar(world):
    p1, editor = world["p1"], world["editor"]

    def retitle():
        services.post_update(post=p1, by=editor, data={"title": "Alice on Python 3.13"}, expected_version=p1.version)

    states, texts = await change_and_read(retitle, TAG_RUST)
    assert states == expect(miss=[P1, *P1_LISTS, TAG_RUST, BOB])
    assert "Alice on Python 3.13" in texts[TAG_RUST]  # in its recent posts


async def test_retitling_a_post_older_than_the_recent_posts_keeps_the_pages_it_is_not_on(world):
    """The sidebar lists the five newest posts; with ten of Bob's after it, Alice's post is not there."""
    p1, editor = world["p1"], world["editor"]

    def newer_posts():
        for n in range(10):
            published_at = timezone.now() - timedelta(minutes=n)
            PostFactory(title=f"Bob again {n}", author=world["bob"], tags=[world["rust"]], published_at=published_at)

    def retitle():
        services.post_update(post=p1, by=editor, data={"title": "Alice on Python 3.13"}, expected_version=p1.version)

    await asyncio.to_thread(newer_posts)
    states, texts = await change_and_read(retitle, P1, TAG_PYTHON)
    assert states == expect(miss=[P1, *P1_LISTS])  # Bob's tag and author pages keep their copies
    assert "Alice on Python 3.13" in texts[P1] and "Alice on Python 3.13" in texts[TAG_PYTHON]


async def test_publishing_a_new_post_shows_it_on_lists_feeds_and_sitemap(world):
    alice, editor = world["alice"], world["editor"]

    def publish():
        post = services.post_create(author=alice, data={"title": "Alice again", "body": "More."}, tag_names=["Python"])
        services.post_publish(post=post, by=editor)

    states, texts = await change_and_read(publish, INDEX, TAG_PYTHON, "/feed/", "/sitemap.xml", "/posts/alice-again/")
    assert states == expect(miss=[*P1_LISTS, TAG_RUST, BOB])  # the last two for their recent posts
    assert all("Alice again" in texts[path] for path in (INDEX, TAG_PYTHON, "/feed/"))
    assert "/posts/alice-again/" in texts["/sitemap.xml"]
    assert "More." in texts["/posts/alice-again/"]


async def test_saving_a_draft_changes_no_public_page(world):
    alice = world["alice"]

    def write():
        draft = services.post_create(author=alice, data={"title": "Secret plans", "body": "Not yet."})
        services.post_update(post=draft, by=alice, data={"body": "Still not."}, expected_version=draft.version)

    states, texts = await change_and_read(write, INDEX)
    assert states == expect(miss=[])
    assert "Secret plans" not in texts[INDEX]


@pytest.mark.parametrize("service", [services.post_unpublish, services.post_archive])
async def test_unpublished_and_archived_posts_leave_every_cached_page(world, service):
    p1, editor = world["p1"], world["editor"]
    states, texts = await change_and_read(lambda: service(post=p1, by=editor), P1, INDEX, TAG_RUST, "/feed/")
    assert states == expect(miss=[P1, *P1_LISTS, TAG_RUST, BOB])
    assert "Alice on Python" not in texts[INDEX] + texts[TAG_RUST] + texts["/feed/"]
    assert "Alice on Python" not in texts[P1]  # the 404 page


async def test_deleting_a_post_leaves_every_cached_page(world):
    p1, editor = world["p1"], world["editor"]
    states, texts = await change_and_read(lambda: services.post_delete(post=p1, by=editor), P1, INDEX, "/sitemap.xml")
    assert states == expect(miss=[P1, *P1_LISTS, TAG_RUST, BOB])
    assert "Alice on Python" not in texts[INDEX]
    assert P1 not in texts["/sitemap.xml"]


def set_tags(post, *, by, names: list[str]) -> None:
    services.post_update(post=post, by=by, data={}, expected_version=post.version, tag_names=names)


async def test_adding_a_tag_refreshes_the_post_and_both_tags_pages(world):
    p1, editor = world["p1"], world["editor"]
    states, texts = await change_and_read(lambda: set_tags(p1, by=editor, names=["Python", "Rust"]), P1, TAG_RUST)
    assert states == expect(miss=[P1, *P1_LISTS, TAG_RUST, BOB])  # the tag cloud's counts changed
    assert "/tags/rust/" in texts[P1]
    assert "Alice on Python" in texts[TAG_RUST]


async def test_removing_a_tag_refreshes_the_post_and_the_tags_page(world):
    p1, editor = world["p1"], world["editor"]
    states, texts = await change_and_read(lambda: set_tags(p1, by=editor, names=[]), P1)
    assert states == expect(miss=[P1, *P1_LISTS, TAG_RUST, BOB])
    assert "/tags/python/" not in texts[P1]


async def test_renaming_a_tag_refreshes_every_page_that_names_it(world):
    python, editor = world["python"], world["editor"]

    def rename():
        services.tag_update(tag=python, by=editor, name="CPython", slug="python")

    states, texts = await change_and_read(rename, P1, INDEX_2)
    assert states == expect(miss=[P1, *P1_LISTS, TAG_RUST, BOB])
    assert "CPython" in texts[P1]


async def test_a_renamed_tag_that_no_public_post_carries_changes_nothing(world):
    def rename():
        tag = services.tag_create(by=world["editor"], name="Unused", slug="unused")
        services.tag_update(tag=tag, by=world["editor"], name="Still unused", slug="unused")

    states, _ = await change_and_read(rename)
    assert states == expect(miss=[])


async def test_approving_and_deleting_a_comment_refreshes_only_the_posts_page(world, reader):
    p1, editor = world["p1"], world["editor"]
    comment = await asyncio.to_thread(services.comment_create, post=p1, author=reader, body="A pending thought.")

    def approve():
        services.comment_moderate(comment=comment, by=editor, status=CommentStatus.APPROVED)

    states, texts = await change_and_read(approve, P1)
    assert states == expect(miss=[P1])
    assert "A pending thought." in texts[P1]

    states, texts = await change_and_read(lambda: services.comment_delete(comment=comment, by=editor), P1)
    assert states == expect(miss=[P1])
    assert "A pending thought." not in texts[P1]


async def test_a_pending_comment_changes_nothing_readers_see(world, reader):
    p1 = world["p1"]
    states, texts = await change_and_read(lambda: services.comment_create(post=p1, author=reader, body="Hmm."), P1)
    assert states == expect(miss=[])
    assert "Hmm." not in texts[P1]


async def test_an_authors_new_display_name_shows_wherever_their_posts_do(world):
    alice = world["alice"]

    def rename():
        accounts_services.user_profile_update(user=alice, data={"display_name": "Alice Cooper"})

    states, texts = await change_and_read(rename, P1, INDEX_2, ALICE, "/feed/")
    assert states == expect(miss=[P1, INDEX, INDEX_2, TAG_PYTHON, ALICE, "/feed/", "/feed/atom/"])
    assert all("Alice Cooper" in texts[path] for path in (P1, INDEX_2, ALICE, "/feed/"))


async def test_an_authors_bio_refreshes_only_their_author_page(world):
    alice = world["alice"]

    def describe():
        accounts_services.user_profile_update(user=alice, data={"bio": "Writes about snakes."})

    states, texts = await change_and_read(describe, ALICE)
    assert states == expect(miss=[ALICE])
    assert "Writes about snakes." in texts[ALICE]


async def test_a_commenters_new_name_refreshes_the_posts_they_commented_on(world, reader):
    await asyncio.to_thread(CommentFactory, post=world["p2"], author=reader, status=CommentStatus.APPROVED)

    def rename():
        accounts_services.user_profile_update(user=reader, data={"display_name": "Renamed Reader"})

    states, texts = await change_and_read(rename, P2)
    assert states == expect(miss=[P2])
    assert "Renamed Reader" in texts[P2]


async def test_a_change_that_is_rolled_back_refreshes_nothing(world):
    p1, editor = world["p1"], world["editor"]

    def edit_then_fail():
        with pytest.raises(RuntimeError), transaction.atomic():
            services.post_update(post=p1, by=editor, data={"title": "Never saved"}, expected_version=p1.version)
            raise RuntimeError("the editor's request failed later on")

    states, texts = await change_and_read(edit_then_fail, P1)
    assert states == expect(miss=[])
    assert "Never saved" not in texts[P1]

"""The sidebar's fragment cache and the cached post counts: fewer queries, never stale.

Django's test client renders through Django alone (no page cache), as for signed-in readers,
whose pages are never cached whole but still reuse these.
"""

import re

import pytest

from posts import cache_keys, selectors, services
from tests.factories import PostFactory, TagFactory


@pytest.fixture
def posts(author):
    python, rust = TagFactory(name="Python", slug="python"), TagFactory(name="Rust", slug="rust")
    PostFactory(title="On Python", author=author, tags=[python])
    PostFactory(title="On Rust", author=author, tags=[rust])
    return {"python": python, "rust": rust}


def recent_posts(html: str) -> str:
    return re.search(r'aria-labelledby="recent-posts-heading">(.*?)</section>', html, re.S)[1]


def tag_cloud(html: str) -> str:
    return re.search(r'aria-labelledby="tag-cloud-heading">(.*?)</section>', html, re.S)[1]


def test_the_sidebar_is_rendered_once_for_every_list_page(client, django_assert_num_queries, posts):
    # count, page of posts, their tags, tag cloud, recent posts, the next scheduled release
    with django_assert_num_queries(6):
        first = client.get("/").content.decode()
    with django_assert_num_queries(4):  # the tag, count, page, tags: the sidebar comes from the cache
        second = client.get("/tags/rust/").content.decode()
    assert recent_posts(first) == recent_posts(second)
    assert "On Python" in recent_posts(second)


def test_publishing_refreshes_the_sidebar_of_pages_not_listing_the_post(
    client, reader, author, editor, posts, django_capture_on_commit_callbacks
):
    client.force_login(reader)  # signed in: Django renders every page, the sidebar may come from cache
    assert "Brand new" not in recent_posts(client.get("/tags/rust/").content.decode())
    with django_capture_on_commit_callbacks(execute=True):
        post = services.post_create(author=author, data={"title": "Brand new"}, tag_names=["Python"])
        services.post_publish(post=post, by=editor)
    html = client.get("/tags/rust/").content.decode()
    assert "Brand new" in recent_posts(html)
    assert "Python <span" in tag_cloud(html) and "(2<span" in tag_cloud(html)


def test_sidebar_is_kept_when_a_change_does_not_show_in_it(
    client, editor, posts, django_assert_num_queries, django_capture_on_commit_callbacks
):
    client.get("/")
    post = selectors.post_list_published().get(title="On Rust")
    with django_capture_on_commit_callbacks(execute=True):
        services.post_update(post=post, by=editor, data={"body": "Edited body."}, expected_version=post.version)
    with django_assert_num_queries(3):
        client.get("/")


def test_post_counts_are_cached_until_their_list_changes(
    author, editor, posts, django_assert_num_queries, django_capture_on_commit_callbacks
):
    python = posts["python"]
    cache_keys.versions_get([cache_keys.tag_dep("python")])  # as the page cache does when it stores the tag's page
    assert selectors.post_count_published(tag=python) == 1
    assert selectors.post_count_published() == 2
    with django_assert_num_queries(0):
        assert selectors.post_count_published(tag=python) == 1
        assert selectors.post_count_published() == 2
    with django_capture_on_commit_callbacks(execute=True):
        post = services.post_create(author=author, data={"title": "Third"}, tag_names=["Python"])
        services.post_publish(post=post, by=editor)
    assert selectors.post_count_published(tag=python) == 2
    assert selectors.post_count_published(author=author) == 3
    assert selectors.post_count_published(tag=posts["rust"]) == 1

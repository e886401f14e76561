"""Every public page costs the same number of queries however many posts, tags and authors there are."""

import pytest

from accounts.roles import Role
from posts import cache_keys, services
from posts.models import Post
from tests.factories import CommentFactory, PostFactory, TagFactory, UserFactory

pytestmark = pytest.mark.django_db

# index, tag, author and search: [tag or author,] count, page of posts, their tags, tag cloud, recent posts,
# and when the next scheduled post goes public (read once per process until the schedule changes)
LIST_PAGES = {
    "/": 6,
    "/tags/shared/": 7,
    "/authors/writer/": 7,
    "/search/?q=common": 6,
}


def make_posts(count: int) -> None:
    writer = UserFactory(username="writer", role=Role.AUTHOR)
    shared = TagFactory(name="Shared")
    for n in range(count):
        author = writer if n % 2 == 0 else UserFactory(role=Role.AUTHOR)
        post = PostFactory(title=f"Common post {n}", author=author, tags=[shared, TagFactory(name=f"Own {n}")])
        CommentFactory.create_batch(2, post=post)


@pytest.mark.parametrize("count", [3, 14])
@pytest.mark.parametrize(("url", "queries"), LIST_PAGES.items(), ids=LIST_PAGES.keys())
def test_list_pages(client, django_assert_num_queries, count, url, queries):
    make_posts(count)
    with django_assert_num_queries(queries):
        assert client.get(url).status_code == 200


@pytest.mark.parametrize(
    ("url", "dep"),
    [("/", cache_keys.INDEX), ("/tags/shared/", cache_keys.tag_dep("shared")), ("/authors/writer/", "author:writer")],
)
def test_list_pages_reuse_their_posts_until_the_list_changes(
    client, django_assert_num_queries, django_capture_on_commit_callbacks, editor, url, dep
):
    make_posts(3)
    cache_keys.versions_get([dep])  # as the page cache does when it stores the page
    first = client.get(url).content
    # the tag or author, then nothing: count, posts and sidebar come from the cache
    with django_assert_num_queries(0 if url == "/" else 1):
        assert client.get(url).content == first
    with django_capture_on_commit_callbacks(execute=True):
        post = Post.objects.get(title="Common post 2")
        services.post_update(post=post, by=editor, data={"title": "Fresh title"}, expected_version=post.version)
    assert b"Fresh title" in client.get(url).content


@pytest.mark.parametrize("count", [3, 14])
def test_post_page(client, django_assert_num_queries, count):
    make_posts(1)
    post = PostFactory(tags=[TagFactory(name=f"T{n}") for n in range(count)])
    CommentFactory.create_batch(count, post=post)
    # the post with its author, its tags, its approved comments with their authors, its library images
    with django_assert_num_queries(4):
        assert client.get(post.get_absolute_url()).status_code == 200


def test_post_page_data_is_kept_once_the_page_cache_versions_the_post(client, django_assert_num_queries):
    post = PostFactory(tags=[TagFactory(name="Kept")])
    CommentFactory(post=post, body="First!")
    cache_keys.versions_get([cache_keys.post_dep(post.slug)])  # as the page cache does when it stores the page
    first = client.get(post.get_absolute_url())
    with django_assert_num_queries(0):
        again = client.get(post.get_absolute_url())
    assert again.content == first.content
    assert b"First!" in again.content and b"Kept" in again.content


def test_post_page_data_is_read_afresh_after_a_new_comment(client, django_capture_on_commit_callbacks, editor):
    post = PostFactory()
    cache_keys.versions_get([cache_keys.post_dep(post.slug)])
    assert b"No comments yet." in client.get(post.get_absolute_url()).content
    with django_capture_on_commit_callbacks(execute=True):
        services.comment_create(post=post, author=editor, body="A reply that must show at once.")  # approved
    page = client.get(post.get_absolute_url()).content
    assert b"A reply that must show at once." in page and b"1 comment" in page


def test_cached_post_page_still_gives_each_reader_their_own_comment_form(client, reader):
    post = PostFactory()
    cache_keys.versions_get([cache_keys.post_dep(post.slug)])
    assert b"Sign in to comment" in client.get(post.get_absolute_url()).content
    client.force_login(reader)
    page = client.get(post.get_absolute_url()).content
    assert b"Leave a comment" in page and b"csrfmiddlewaretoken" in page and b"Sign in to comment" not in page


def test_unknown_post_leaves_no_version_behind(client):
    assert client.get("/posts/no-such-post/").status_code == 404
    assert cache_keys.versions_get_existing([cache_keys.post_dep("no-such-post")]) is None


@pytest.mark.parametrize("count", [3, 14])
@pytest.mark.parametrize("url", ["/feed/", "/feed/atom/"])
def test_feeds(client, django_assert_num_queries, count, url):
    make_posts(count)
    with django_assert_num_queries(2):  # posts with authors, their tags
        assert client.get(url).status_code == 200


@pytest.mark.parametrize("count", [3, 14])
def test_sitemap(client, django_assert_num_queries, count):
    make_posts(count)
    with django_assert_num_queries(6):  # a count and a page for each of posts, tags and authors
        assert client.get("/sitemap.xml").status_code == 200

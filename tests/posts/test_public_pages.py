import json
import re
import time
from datetime import timedelta

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from django.views.defaults import server_error

from accounts.roles import Role
from posts.models import PostStatus
from tests.factories import CommentFactory, PostFactory, TagFactory, UserFactory

pytestmark = pytest.mark.django_db

HIDDEN_STATES = [
    pytest.param({"status": PostStatus.DRAFT, "published_at": None}, id="draft"),
    pytest.param({"status": PostStatus.REVIEW, "published_at": None}, id="in-review"),
    pytest.param({"status": PostStatus.ARCHIVED}, id="archived"),
    pytest.param({"status": PostStatus.DRAFT}, id="unpublished-after-publishing"),
    pytest.param(
        {"status": PostStatus.SCHEDULED, "published_at": timezone.now() + timedelta(days=1)}, id="future-scheduled"
    ),
]


def post_list(response) -> str:
    """The main list of a list page, without the sidebar (which lists recent posts too)."""
    content = response.content.decode()
    return content[content.index('<div class="layout-main">') : content.index('<aside class="sidebar"')]


def json_ld(content: str) -> dict:
    match = re.search(r'<script type="application/ld\+json">(.*?)</script>', content, re.S)
    return json.loads(match.group(1))


def test_index_lists_public_posts_newest_first(client):
    older = PostFactory(title="Older post", published_at=timezone.now() - timedelta(days=2))
    newer = PostFactory(title="Newer post", excerpt="What is new.")
    response = client.get("/")
    content = response.content.decode()
    assert response.status_code == 200
    assert content.index(newer.title) < content.index(older.title)
    assert "What is new." in content
    assert f'href="/authors/{newer.author.username}/"' in content


def test_index_with_no_posts_says_so(client):
    response = client.get("/")
    assert response.status_code == 200
    assert "No posts yet." in response.content.decode()


def test_index_paginates_with_the_configured_page_size(client, settings):
    settings.POSTS_PER_PAGE = 2
    for day in range(5):
        PostFactory(title=f"Day {day} post", published_at=timezone.now() - timedelta(days=day))
    first = post_list(client.get("/"))
    second = post_list(client.get("/?page=2"))
    assert "Day 0 post" in first and "Day 1 post" in first and "Day 2 post" not in first
    assert "Day 2 post" in second and "Day 3 post" in second and "Day 0 post" not in second
    assert "Page 2 of 3" in second
    assert 'href="?page=3" rel="next"' in second
    assert 'href="?page=1" rel="prev"' in second


@pytest.mark.parametrize("page", ["4", "0", "abc"])
def test_index_page_out_of_range_is_not_found(client, settings, page):
    settings.POSTS_PER_PAGE = 2
    PostFactory.create_batch(5)
    response = client.get(f"/?page={page}")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


@pytest.mark.parametrize("state", HIDDEN_STATES)
def test_posts_that_are_not_public_are_hidden_everywhere(client, state):
    tag = TagFactory(name="Shared")
    PostFactory(title="Visible post", tags=[tag])
    hidden = PostFactory(title="Hidden post", body="hiddenword", tags=[tag], **state)
    assert client.get(hidden.get_absolute_url()).status_code == 404
    for url in ["/", "/tags/shared/", f"/authors/{hidden.author.username}/", "/search/?q=hiddenword"]:
        assert "Hidden post" not in client.get(url).content.decode(), url


def test_hidden_post_gives_404_even_to_its_author_and_editors(client, editor):
    draft = PostFactory(status=PostStatus.DRAFT, published_at=None)
    for user in (draft.author, editor):
        client.force_login(user)
        assert client.get(draft.get_absolute_url()).status_code == 404


def test_scheduled_post_appears_once_its_time_passes(client):
    at = timezone.now() + timedelta(seconds=1)
    post = PostFactory(title="Scheduled story", status=PostStatus.SCHEDULED, published_at=at)
    assert client.get(post.get_absolute_url()).status_code == 404
    assert "Scheduled story" not in client.get("/").content.decode()
    time.sleep(max(0.0, (at - timezone.now()).total_seconds()) + 0.05)  # the cached list ends at its time
    assert client.get(post.get_absolute_url()).status_code == 200
    assert "Scheduled story" in post_list(client.get("/"))


def test_post_page_shows_the_post(client):
    tag = TagFactory(name="Python")
    post = PostFactory(
        title="Decorators explained",
        body="Some **bold** words.\n\n```python\ndef f():\n    return 1\n```",
        cover_image_url="https://img.example.com/cover.png",
        tags=[tag],
    )
    response = client.get(post.get_absolute_url())
    content = response.content.decode()
    assert response.status_code == 200
    assert '<h1 id="post-title">Decorators explained</h1>' in content
    assert "<strong>bold</strong>" in content
    assert (
        '<pre class="highlight" tabindex="0" role="group" aria-label="Python code"><code class="language-python">'
        in content
    )
    assert 'href="/static/css/code.css"' in content
    assert '<img class="cover" src="https://img.example.com/cover.png" alt="">' in content
    assert f'href="/authors/{post.author.username}/" rel="author">{post.author.public_name}</a>' in content
    assert 'href="/tags/python/" rel="tag">Python</a>' in content
    assert f'datetime="{post.published_at.replace(microsecond=0).isoformat()}"' in content


def test_post_page_with_a_unicode_slug(client):
    post = PostFactory(title="Привет, мир", slug="привет-мир")
    response = client.get(post.get_absolute_url())
    assert response.status_code == 200
    assert "Привет, мир" in response.content.decode()


def test_post_page_seo_from_the_seo_fields(client):
    post = PostFactory(
        title="Long title",
        meta_title="Short SEO title",
        meta_description="A description for search engines.",
        cover_image_url="https://img.example.com/c.jpg",
    )
    content = client.get(post.get_absolute_url()).content.decode()
    assert "<title>Short SEO title · Blogsite</title>" in content
    assert '<meta name="description" content="A description for search engines.">' in content
    assert '<meta property="og:title" content="Short SEO title">' in content
    assert '<meta property="og:description" content="A description for search engines.">' in content
    assert '<meta property="og:type" content="article">' in content
    assert f'<meta property="og:url" content="http://testserver/posts/{post.slug}/">' in content
    assert '<meta property="og:image" content="https://img.example.com/c.jpg">' in content
    assert '<meta name="twitter:card" content="summary_large_image">' in content
    assert f'<link rel="canonical" href="http://testserver/posts/{post.slug}/">' in content


def test_post_page_seo_falls_back_to_title_and_excerpt(client):
    post = PostFactory(title="Plain title", excerpt="The excerpt.", meta_title="", meta_description="")
    content = client.get(post.get_absolute_url()).content.decode()
    assert "<title>Plain title · Blogsite</title>" in content
    assert '<meta property="og:description" content="The excerpt.">' in content
    # No cover and no site default set by staff: the picture the site ships, at the cards' size.
    assert '<meta property="og:image" content="http://testserver/static/img/share-default.png">' in content
    assert '<meta property="og:image:width" content="1200">' in content
    assert '<meta name="twitter:card" content="summary_large_image">' in content


def test_canonical_url_points_to_the_original_when_set(client):
    post = PostFactory(canonical_url="https://elsewhere.example.org/original")
    content = client.get(post.get_absolute_url()).content.decode()
    assert '<link rel="canonical" href="https://elsewhere.example.org/original">' in content
    assert '<meta property="og:url" content="https://elsewhere.example.org/original">' in content


def test_post_page_has_blog_posting_structured_data(client):
    post = PostFactory(title="Structured", tags=[TagFactory(name="Django")], cover_image_url="https://i.example/c.png")
    data = json_ld(client.get(post.get_absolute_url()).content.decode())
    assert data["@type"] == "BlogPosting"
    assert data["headline"] == "Structured"
    assert data["author"] == {
        "@type": "Person",
        "name": post.author.public_name,
        "url": f"http://testserver/authors/{post.author.username}/",
    }
    assert data["keywords"] == ["Django"]
    assert data["image"] == ["https://i.example/c.png"]
    assert data["publisher"] == {"@type": "Organization", "name": "Blogsite", "url": "http://testserver/"}
    assert data["datePublished"].startswith(post.published_at.date().isoformat())


def test_post_page_shows_only_approved_comments(client):
    post = PostFactory()
    CommentFactory(post=post, body="An approved remark")
    CommentFactory(post=post, body="A pending remark", status="pending")
    CommentFactory(post=post, body="A rejected remark", status="rejected")
    CommentFactory(body="A remark on another post")
    content = client.get(post.get_absolute_url()).content.decode()
    assert "An approved remark" in content
    assert "1 comment<" in content
    for hidden in ("A pending remark", "A rejected remark", "A remark on another post"):
        assert hidden not in content


def test_post_page_shows_nothing_from_other_posts(client):
    PostFactory(title="Neighbour post", tags=[TagFactory(name="Neighbour tag")])
    post = PostFactory(title="The post itself")
    content = client.get(post.get_absolute_url()).content.decode()
    assert "Neighbour post" not in content
    assert "Neighbour tag" not in content
    assert "Recent posts" not in content


def test_anonymous_pages_carry_no_csrf_token_or_cookie(client):
    post = PostFactory(tags=[TagFactory(name="Tagged")])
    for url in [
        "/",
        post.get_absolute_url(),
        "/tags/tagged/",
        f"/authors/{post.author.username}/",
        "/search/?q=x",
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert "csrfmiddlewaretoken" not in response.content.decode(), url
        assert "csrftoken" not in response.cookies, url


def test_list_pages_have_the_sidebar(client):
    post = PostFactory(title="In the sidebar", tags=[TagFactory(name="Cloudy")])
    for url in ["/", "/tags/cloudy/", f"/authors/{post.author.username}/", "/search/?q=sidebar"]:
        content = client.get(url).content.decode()
        assert '<h2 id="tag-cloud-heading">Tags</h2>' in content, url
        assert 'href="/tags/cloudy/" rel="tag">Cloudy <span class="count">(1' in content, url
        assert '<h2 id="recent-posts-heading">Recent posts</h2>' in content, url


def test_tag_page_lists_that_tags_public_posts(client):
    python = TagFactory(name="Python")
    PostFactory(title="About Python", tags=[python])
    PostFactory(title="About Rust", tags=[TagFactory(name="Rust")])
    response = client.get("/tags/python/")
    assert response.status_code == 200
    assert "<h1>Posts tagged “Python”</h1>" in post_list(response)
    assert "About Python" in post_list(response)
    assert "About Rust" not in post_list(response)


def test_tag_without_public_posts_is_not_found(client):
    tag = TagFactory(name="Only drafts")
    PostFactory(status=PostStatus.DRAFT, published_at=None, tags=[tag])
    assert client.get(tag.get_absolute_url()).status_code == 404
    assert client.get("/tags/no-such-tag/").status_code == 404


def test_author_page_shows_profile_and_posts(client):
    writer = UserFactory(
        username="ada",
        display_name="Ada Lovelace",
        bio="Writes about engines.\n\nAnd poetry.",
        avatar_url="https://img.example.com/ada.png",
        role=Role.AUTHOR,
    )
    PostFactory(title="Notes on the engine", author=writer)
    PostFactory(title="Someone else's post")
    response = client.get("/authors/ada/")
    content = post_list(response)
    assert response.status_code == 200
    assert "<h1>Ada Lovelace</h1>" in content
    assert "<p>Writes about engines.</p>\n\n<p>And poetry.</p>" in content
    assert '<img class="avatar" src="https://img.example.com/ada.png" alt=""' in content
    assert "Notes on the engine" in content
    assert "Someone else&#x27;s post" not in content


def test_author_avatar_that_is_not_a_web_url_is_left_out(client):
    writer = UserFactory(avatar_url="javascript:alert(1)", role=Role.AUTHOR)
    PostFactory(author=writer)
    content = client.get(f"/authors/{writer.username}/").content.decode()
    assert "javascript:" not in content
    assert 'class="avatar"' not in content


def test_people_without_public_posts_have_no_author_page(client, reader):
    PostFactory(author=UserFactory(username="drafter", role=Role.AUTHOR), status=PostStatus.DRAFT, published_at=None)
    assert client.get("/authors/reader/").status_code == 404
    assert client.get("/authors/drafter/").status_code == 404
    assert client.get("/authors/nobody/").status_code == 404


def test_robots_txt(client):
    response = client.get("/robots.txt")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    lines = response.content.decode().splitlines()
    assert lines[0] == "User-agent: *"
    assert "Allow: /" in lines
    for path in ("/editor/", "/admin/", "/accounts/"):
        assert f"Disallow: {path}" in lines
    assert "Sitemap: http://testserver/sitemap.xml" in lines


def test_unknown_address_gets_the_friendly_404_page(client):
    response = client.get("/no/such/page/")
    content = response.content.decode()
    assert response.status_code == 404
    assert '<h1 id="error-heading">Page not found</h1>' in content
    assert '<a href="/">Read the latest posts</a>' in content


def test_server_error_page_is_friendly_and_stands_alone():
    response = server_error(RequestFactory().get("/"))
    content = response.content.decode()
    assert response.status_code == 500
    assert "<h1>Something went wrong</h1>" in content
    assert "/static/css/site.css" in content


def test_pages_have_landmarks_and_one_h1(client):
    post = PostFactory(tags=[TagFactory(name="Landmarks")])
    for url in ["/", post.get_absolute_url(), "/tags/landmarks/", f"/authors/{post.author.username}/", "/search/"]:
        content = client.get(url).content.decode()
        assert content.count("<h1") == 1, url
        assert '<main id="content"' in content, url
        assert 'role="search"' in content, url
        assert "<header" in content and "<footer" in content, url


def test_reverse_names_match_the_public_urls():
    assert reverse("posts:index") == "/"
    assert reverse("posts:detail", kwargs={"slug": "a"}) == "/posts/a/"
    assert reverse("posts:comment", kwargs={"slug": "a"}) == "/posts/a/comments/"
    assert reverse("posts:tag", kwargs={"slug": "t"}) == "/tags/t/"
    assert reverse("posts:author", kwargs={"username": "u"}) == "/authors/u/"
    assert reverse("posts:search") == "/search/"
    assert reverse("posts:feed") == "/feed/"
    assert reverse("posts:feed_atom") == "/feed/atom/"
    assert reverse("posts:sitemap") == "/sitemap.xml"
    assert reverse("posts:robots") == "/robots.txt"

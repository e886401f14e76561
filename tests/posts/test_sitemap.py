import xml.etree.ElementTree as ET

import pytest

from accounts.roles import Role
from posts.models import PostStatus
from tests.factories import PostFactory, TagFactory, UserFactory

pytestmark = pytest.mark.django_db

NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def sitemap_urls(client) -> list[str]:
    response = client.get("/sitemap.xml")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/xml")
    return [loc.text for loc in ET.fromstring(response.content).iter(f"{NS}loc")]


def test_sitemap_lists_home_public_posts_tags_and_authors(client):
    writer = UserFactory(username="writer", role=Role.AUTHOR)
    public = PostFactory(slug="public-post", author=writer, tags=[TagFactory(name="Shown")])
    urls = sitemap_urls(client)
    assert urls == [
        "http://testserver/",
        "http://testserver/posts/public-post/",
        "http://testserver/tags/shown/",
        "http://testserver/authors/writer/",
    ]
    assert public.updated_at.date().isoformat() in client.get("/sitemap.xml").content.decode()


@pytest.mark.parametrize(
    "state",
    [
        {"status": PostStatus.DRAFT, "published_at": None},
        {"status": PostStatus.REVIEW, "published_at": None},
        {"status": PostStatus.ARCHIVED},
        {"status": PostStatus.SCHEDULED, "published_at": "2999-01-01T00:00:00Z"},
    ],
    ids=["draft", "in-review", "archived", "future-scheduled"],
)
def test_sitemap_leaves_out_posts_that_are_not_public_and_their_tags_and_authors(client, state):
    hidden_author = UserFactory(username="hidden", role=Role.AUTHOR)
    PostFactory(slug="hidden-post", author=hidden_author, tags=[TagFactory(name="Secret")], **state)
    PostFactory(slug="public-post")
    urls = sitemap_urls(client)
    assert "http://testserver/posts/public-post/" in urls
    assert not [url for url in urls if "hidden" in url or "secret" in url]


def test_sitemap_lists_a_multi_post_author_and_tag_once(client):
    writer = UserFactory(username="prolific", role=Role.AUTHOR)
    tag = TagFactory(name="Common")
    PostFactory.create_batch(3, author=writer, tags=[tag])
    urls = sitemap_urls(client)
    assert urls.count("http://testserver/authors/prolific/") == 1
    assert urls.count("http://testserver/tags/common/") == 1

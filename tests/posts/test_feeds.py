import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from django.utils import timezone

from posts.models import PostStatus
from tests.factories import PostFactory, TagFactory, UserFactory

pytestmark = pytest.mark.django_db

ATOM = "{http://www.w3.org/2005/Atom}"
DC_CREATOR = "{http://purl.org/dc/elements/1.1/}creator"


@pytest.fixture
def posts():
    writer = UserFactory(display_name="Grace Hopper", role="Author")
    tags = [TagFactory(name="Compilers"), TagFactory(name="History")]
    newer = PostFactory(title="Newer", body="Text with **bold**.", author=writer, tags=tags)
    older = PostFactory(
        title="Older", body="", excerpt="Just an excerpt.", published_at=timezone.now() - timedelta(days=3)
    )
    PostFactory(title="Draft", status=PostStatus.DRAFT, published_at=None)
    PostFactory(title="Later", status=PostStatus.SCHEDULED, published_at=timezone.now() + timedelta(days=1))
    return newer, older


def test_rss_feed_lists_public_posts_with_full_html(client, posts):
    response = client.get("/feed/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/rss+xml")
    channel = ET.fromstring(response.content).find("channel")
    assert channel.findtext("title") == "Blogsite"
    assert channel.findtext("description") == "Notes, essays and tutorials."
    items = channel.findall("item")
    assert [item.findtext("title") for item in items] == ["Newer", "Older"]
    newer, older = items
    assert newer.findtext("link") == f"http://testserver{posts[0].get_absolute_url()}"
    assert newer.findtext("description") == "<p>Text with <strong>bold</strong>.</p>\n"
    assert newer.findtext(DC_CREATOR) == "Grace Hopper"
    assert [category.text for category in newer.findall("category")] == ["Compilers", "History"]
    assert newer.findtext("pubDate")
    assert older.findtext("description") == "<p>Just an excerpt.</p>"


def test_atom_feed_lists_public_posts_with_authors_and_categories(client, posts):
    response = client.get("/feed/atom/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    feed = ET.fromstring(response.content)
    assert feed.findtext(f"{ATOM}title") == "Blogsite"
    assert feed.findtext(f"{ATOM}subtitle") == "Notes, essays and tutorials."
    entries = feed.findall(f"{ATOM}entry")
    assert [entry.findtext(f"{ATOM}title") for entry in entries] == ["Newer", "Older"]
    newer = entries[0]
    assert newer.find(f"{ATOM}author").findtext(f"{ATOM}name") == "Grace Hopper"
    assert [c.get("term") for c in newer.findall(f"{ATOM}category")] == ["Compilers", "History"]
    assert newer.findtext(f"{ATOM}summary") == "<p>Text with <strong>bold</strong>.</p>\n"
    assert newer.find(f"{ATOM}summary").get("type") == "html"
    assert newer.findtext(f"{ATOM}updated")


def test_feed_holds_the_latest_twenty_posts(client):
    for hours in range(22):
        PostFactory(title=f"Post {hours}", published_at=timezone.now() - timedelta(hours=hours + 1))
    items = ET.fromstring(client.get("/feed/").content).find("channel").findall("item")
    assert len(items) == 20
    assert items[0].findtext("title") == "Post 0"
    assert items[-1].findtext("title") == "Post 19"


def test_feeds_stay_up_when_stored_text_holds_control_characters(client):
    # Rows written before control characters were refused, straight into the database.
    writer = UserFactory(display_name="Ada\x07 Lovelace", role="Author")
    PostFactory(
        title="Bell\x07 post",
        body="Ring \x07 ring",
        excerpt="A\x1b excerpt",
        author=writer,
        tags=[TagFactory(name="Esc\x1bape")],
    )
    for url in ("/feed/", "/feed/atom/"):
        response = client.get(url)
        assert response.status_code == 200
        assert "\x07" not in response.content.decode()
    item = ET.fromstring(client.get("/feed/").content).find("channel").find("item")
    assert item.findtext("title") == "Bell post"
    assert item.findtext(DC_CREATOR) == "Ada Lovelace"
    assert [category.text for category in item.findall("category")] == ["Escape"]


def test_an_author_saving_a_control_character_leaves_the_feeds_working(client, author):
    from posts import services

    post = PostFactory(author=author, title="Published")
    services.post_update(
        post=post, by=author, data={"body": "Ding\x07 dong", "title": "Pub\x07lished"}, expected_version=post.version
    )
    post.refresh_from_db()
    assert (post.title, post.body) == ("Published", "Ding dong")
    assert client.get("/feed/").status_code == 200
    assert client.get("/feed/atom/").status_code == 200

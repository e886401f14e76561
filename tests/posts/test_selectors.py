from datetime import timedelta

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from posts.models import PostStatus
from posts.selectors import tag_suggestions
from tests.factories import PostFactory, TagFactory


def tagged_posts(author, other_author) -> None:
    """A tag on a public post, on a scheduled and a draft post of another author, and on the author's draft."""
    PostFactory(author=other_author, tags=[TagFactory(name="Public topic")])
    later = timezone.now() + timedelta(days=1)
    PostFactory(author=other_author, status=PostStatus.SCHEDULED, published_at=later, tags=[TagFactory(name="Launch")])
    PostFactory(author=other_author, status=PostStatus.DRAFT, published_at=None, tags=[TagFactory(name="Secret plan")])
    PostFactory(author=author, status=PostStatus.DRAFT, published_at=None, tags=[TagFactory(name="My own draft")])
    TagFactory(name="Unused")


def test_tag_suggestions_are_tags_on_public_posts_and_the_authors_own(author, other_author):
    tagged_posts(author, other_author)
    assert tag_suggestions(user=author) == ["My own draft", "Public topic"]
    assert tag_suggestions(user=other_author) == ["Launch", "Public topic", "Secret plan"]


def test_the_editor_page_suggests_no_tag_of_another_authors_draft(author, other_author):
    tagged_posts(author, other_author)
    client = Client()
    client.force_login(author)
    page = client.get(reverse("editor:post_new")).content.decode()
    assert '<option value="Public topic">' in page and '<option value="My own draft">' in page
    assert "Secret plan" not in page and "Launch" not in page

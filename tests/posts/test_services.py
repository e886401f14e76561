from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from posts import services
from posts.models import Post, PostStatus


@pytest.fixture
def draft(author):
    return services.post_create(author=author, data={"title": "First draft", "body": "Hello *world*"})


def test_create_renders_markdown_and_snapshots_a_revision(draft):
    assert draft.body_html == "<p>Hello <em>world</em></p>\n"
    assert draft.version == 1
    assert list(draft.revisions.values_list("version", flat=True)) == [1]


def test_colliding_titles_get_unique_slugs(author):
    first = services.post_create(author=author, data={"title": "Same title"})
    second = services.post_create(author=author, data={"title": "Same title"})
    assert (first.slug, second.slug) == ("same-title", "same-title-2")


def test_non_latin_title_keeps_a_readable_slug(author):
    post = services.post_create(author=author, data={"title": "Привет, мир"})
    assert post.slug == "привет-мир"


@pytest.mark.parametrize("title", ["", "   ", "\t\n"])
def test_blank_titles_are_refused(author, title):
    with pytest.raises(services.PostError, match="title"):
        services.post_create(author=author, data={"title": title})


def test_update_on_an_old_version_is_refused_and_changes_nothing(draft, author):
    services.post_update(post=draft, by=author, data={"body": "newer"}, expected_version=1)
    with pytest.raises(services.PostConflict) as conflict:
        services.post_update(post=draft, by=author, data={"body": "stale"}, expected_version=1)
    assert conflict.value.current.body == "newer"
    assert Post.objects.get(pk=draft.pk).body == "newer"


def test_author_cannot_publish(draft, author):
    with pytest.raises(PermissionDenied):
        services.post_publish(post=draft, by=author)


def test_author_cannot_edit_someone_elses_post(draft, other_author):
    with pytest.raises(PermissionDenied):
        services.post_update(post=draft, by=other_author, data={"body": "x"}, expected_version=draft.version)


def test_scheduled_post_goes_public_at_its_time_without_a_worker(draft, editor):
    at = timezone.now() + timedelta(hours=2)
    services.post_publish(post=draft, by=editor, at=at)
    assert draft.status == PostStatus.SCHEDULED
    assert not Post.objects.published().filter(pk=draft.pk).exists()
    assert Post.objects.published(now=at + timedelta(seconds=1)).filter(pk=draft.pk).exists()


def test_slug_is_stable_once_published(draft, editor):
    services.post_publish(post=draft, by=editor)
    services.post_update(post=draft, by=editor, data={"title": "Renamed"}, expected_version=draft.version)
    assert Post.objects.get(pk=draft.pk).slug == "first-draft"


def test_restore_brings_back_an_old_version_as_a_new_one(draft, author):
    services.post_update(post=draft, by=author, data={"body": "second"}, expected_version=1)
    first = draft.revisions.get(version=1)
    restored = services.revision_restore(revision=first, by=author, expected_version=2)
    assert (restored.body, restored.version) == ("Hello *world*", 3)
    assert draft.revisions.count() == 3


def test_control_characters_are_removed_from_every_text_field_but_line_breaks_and_tabs_stay(author):
    post = services.post_create(
        author=author,
        data={
            "title": "Bell\x07 and\nnewline",
            "body": "Line one\x00\x07\n\tindented\r\nline \x1b[31mthree\x7f\x85",
            "excerpt": "Short\x08 text\nover two lines",
            "meta_title": "Meta\x0b title",
            "meta_description": "Meta\x1f description",
        },
        tag_names=["Ta\x07g"],
    )
    assert post.title == "Bell and newline"
    assert post.body == "Line one\n\tindented\r\nline [31mthree"
    assert post.excerpt == "Short text\nover two lines"
    assert (post.meta_title, post.meta_description) == ("Meta title", "Meta description")
    assert list(post.tags.values_list("name", flat=True)) == ["Tag"]


def test_control_characters_are_removed_from_comments_and_tags(author, editor):
    post = services.post_create(author=author, data={"title": "Open"})
    post.status, post.published_at = PostStatus.PUBLISHED, timezone.now() - timedelta(minutes=1)
    post.save()
    comment = services.comment_create(post=post, author=editor, body="Nice\x07 post\n\x1bthanks")
    assert comment.body == "Nice post\nthanks"
    tag = services.tag_create(by=editor, name="Py\x07thon", slug="python")
    assert tag.name == "Python"
    assert services.tag_update(tag=tag, by=editor, name="Py\x1bthon 3", slug="python").name == "Python 3"


def test_restoring_a_revision_brings_back_every_editable_field(author):
    first = {
        "title": "First",
        "body": "One",
        "excerpt": "First excerpt",
        "cover_image_url": "https://img.example/one.png",
        "meta_title": "Meta one",
        "meta_description": "Description one",
        "canonical_url": "https://elsewhere.example/one",
    }
    post = services.post_create(author=author, data=first)
    second = {
        field: f"{value}-2" if "url" not in field else value.replace("one", "two") for field, value in first.items()
    }
    post = services.post_update(post=post, by=author, data=second, expected_version=1)
    restored = services.revision_restore(revision=post.revisions.get(version=1), by=author, expected_version=2)
    assert {field: getattr(restored, field) for field in services.EDITABLE_FIELDS} == first


def test_restoring_a_revision_saved_before_urls_were_kept_leaves_the_urls(author):
    post = services.post_create(
        author=author, data={"title": "Old", "cover_image_url": "https://img.example/a.png", "canonical_url": ""}
    )
    post.revisions.update(cover_image_url=None, canonical_url=None)
    post = services.post_update(post=post, by=author, data={"title": "New"}, expected_version=1)
    restored = services.revision_restore(revision=post.revisions.get(version=1), by=author, expected_version=2)
    assert (restored.title, restored.cover_image_url) == ("Old", "https://img.example/a.png")

"""The post form: create, save, the status buttons, and the limits a writer can run into."""

import json
import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from posts import services
from posts.models import Post, PostStatus
from tests.factories import PostFactory, TagFactory


@pytest.fixture
def draft(author):
    return services.post_create(author=author, data={"title": "A draft", "body": "First words"}, tag_names=["Python"])


def form_data(post: Post, **changes) -> dict:
    data = {
        "title": post.title,
        "slug": "",
        "body": post.body,
        "excerpt": post.excerpt,
        "tags": ", ".join(post.tags.values_list("name", flat=True)),
        "version": post.version,
    }
    return {**data, **changes}


def edit(client: Client, post: Post, **changes):
    return client.post(reverse("editor:post_edit", args=[post.pk]), form_data(post, **changes))


def test_new_post_page_has_the_fields_and_the_hooks_for_scripts(author, client_for):
    PostFactory(tags=[TagFactory(name="Django")])  # a tag on a public post is suggested
    page = client_for(author).get(reverse("editor:post_new")).content.decode()
    assert 'id="id_body"' in page
    assert '<option value="Django">' in page
    assert 'name="meta_description"' in page and "/ 160 characters" in page
    assert 'name="canonical_url"' in page and 'name="cover_image_url"' in page
    assert 'value="submit"' in page
    assert 'value="publish"' not in page
    assert "js/editor.js" in page


def test_author_creates_a_post_with_tags(author, client_for):
    response = client_for(author).post(
        reverse("editor:post_new"),
        {"title": "  Hello world  ", "body": "Some *Markdown*", "tags": "Python, django ,, Python", "excerpt": "Short"},
    )
    post = Post.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("editor:post_edit", args=[post.pk])
    assert (post.title, post.slug, post.author, post.status) == ("Hello world", "hello-world", author, "draft")
    assert post.body_html == "<p>Some <em>Markdown</em></p>\n"
    assert sorted(post.tags.values_list("name", flat=True)) == ["Python", "django"]


def test_saving_changes_creates_a_new_version_and_says_so(author, draft, client_for):
    client = client_for(author)
    response = edit(client, draft, body="Second words\r\nwith a new line")
    draft.refresh_from_db()
    assert draft.version == 2
    assert draft.body == "Second words\nwith a new line"
    page = client.get(response.url).content.decode()
    assert "Saved version 2." in page


def test_saving_without_changes_writes_nothing(author, draft, client_for):
    client = client_for(author)
    response = edit(client, draft)
    draft.refresh_from_db()
    assert draft.version == 1
    assert "Nothing changed since the last save." in client.get(response.url).content.decode()


def test_a_typed_slug_stays_when_the_title_changes(author, draft, client_for):
    client = client_for(author)
    edit(client, draft, slug="my-own-address")
    draft.refresh_from_db()
    edit(client, draft, slug="my-own-address", title="A new title")
    draft.refresh_from_db()
    assert (draft.title, draft.slug) == ("A new title", "my-own-address")


def test_an_empty_slug_follows_the_title_until_published(author, editor, draft, client_for):
    edit(client_for(author), draft, title="Better title")
    draft.refresh_from_db()
    assert draft.slug == "better-title"
    services.post_publish(post=draft, by=editor)
    client = client_for(editor)
    page = client.get(reverse("editor:post_edit", args=[draft.pk])).content.decode()
    assert "Fixed since the post was first published" in page
    edit(client, draft, title="Renamed after publishing", slug="sneaky-new-slug")
    draft.refresh_from_db()
    assert (draft.title, draft.slug) == ("Renamed after publishing", "better-title")


def test_colliding_titles_get_unique_slugs(author, client_for):
    client = client_for(author)
    for _ in range(2):
        client.post(reverse("editor:post_new"), {"title": "Same title", "body": ""})
    assert sorted(Post.objects.values_list("slug", flat=True)) == ["same-title", "same-title-2"]


@pytest.mark.parametrize("title", ["", "   "])
def test_blank_title_is_refused_and_the_text_kept(author, title, client_for):
    response = client_for(author).post(reverse("editor:post_new"), {"title": title, "body": "Keep this text"})
    page = response.content.decode()
    assert response.status_code == 400
    assert "A post needs a title that is not only spaces." in page
    assert "Keep this text" in page
    assert not Post.objects.exists()


def test_oversized_body_is_refused_with_a_clear_message_and_kept(author, draft, client_for):
    huge = "x" * (settings.POST_BODY_MAX_BYTES + 1) + "THE END"
    response = edit(client_for(author), draft, body=huge)
    page = response.content.decode()
    assert response.status_code == 400
    assert "The body is too long: 1,001 KB, and a post holds at most 1,000 KB." in page
    assert "THE END" in page
    draft.refresh_from_db()
    assert draft.body == "First words"


def test_invalid_url_is_explained(author, draft, client_for):
    response = edit(client_for(author), draft, cover_image_url="not a url")
    assert response.status_code == 400
    assert "Enter a valid URL." in response.content.decode()


def test_author_submits_a_draft_for_review(author, draft, client_for):
    client = client_for(author)
    response = edit(client, draft, action="submit", body="Ready now")
    draft.refresh_from_db()
    assert (draft.status, draft.body) == (PostStatus.REVIEW, "Ready now")
    page = client.get(response.url).content.decode()
    assert "Submitted for review" in page
    assert 'value="submit"' not in page


@pytest.mark.parametrize("action", ["publish", "schedule", "unpublish", "archive"])
def test_author_cannot_take_publishing_actions(author, draft, action, client_for):
    at = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = edit(client_for(author), draft, action=action, publish_at=at, body="changed")
    assert response.status_code == 403
    draft.refresh_from_db()
    assert (draft.status, draft.body, draft.version) == (PostStatus.DRAFT, "First words", 1)


def test_editor_publishes_now(editor, draft, client_for):
    client = client_for(editor)
    response = edit(client, draft, action="publish")
    draft.refresh_from_db()
    assert draft.status == PostStatus.PUBLISHED
    assert draft.is_public
    assert "Published: readers can see the post now." in client.get(response.url).content.decode()


def test_editor_schedules_in_the_site_time_zone(editor, draft, settings, client_for):
    settings.TIME_ZONE = "Europe/Berlin"
    at = timezone.localtime(timezone.now() + timedelta(days=2), timezone.get_default_timezone()).replace(
        second=0, microsecond=0
    )
    client = client_for(editor)
    response = edit(client, draft, action="schedule", publish_at=at.strftime("%Y-%m-%dT%H:%M"))
    draft.refresh_from_db()
    assert draft.status == PostStatus.SCHEDULED
    assert draft.published_at == at
    assert not draft.is_public
    assert f"goes public on {at:%Y-%m-%d at %H:%M} (Europe/Berlin)" in client.get(response.url).content.decode()


@pytest.mark.parametrize("when", ["", "past"])
def test_schedule_needs_a_time_in_the_future(editor, draft, when, client_for):
    value = (timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M") if when else ""
    response = edit(client_for(editor), draft, action="schedule", publish_at=value, body="Kept as typed")
    page = response.content.decode()
    assert response.status_code == 400
    assert "Pick a date and time in the future to schedule the post." in page
    assert "Kept as typed" in page
    draft.refresh_from_db()
    assert draft.status == PostStatus.DRAFT


def test_editor_unpublishes_and_archives(editor, draft, client_for):
    client = client_for(editor)
    services.post_publish(post=draft, by=editor)
    edit(client, draft, action="unpublish")
    draft.refresh_from_db()
    assert draft.status == PostStatus.DRAFT and not draft.is_public
    edit(client, draft, action="archive")
    draft.refresh_from_db()
    assert draft.status == PostStatus.ARCHIVED


def test_an_action_the_post_is_not_in_the_state_for_is_explained(author, editor, draft, client_for):
    services.post_publish(post=draft, by=editor)
    response = edit(client_for(author), draft, action="submit")
    assert response.status_code == 400
    assert "“Submit for review” is not possible for a post that is published." in response.content.decode()


def test_publish_from_the_new_post_page(editor, client_for):
    response = client_for(editor).post(
        reverse("editor:post_new"), {"title": "Straight out", "body": "Now", "action": "publish"}
    )
    post = Post.objects.get()
    assert response.status_code == 302
    assert post.status == PostStatus.PUBLISHED


def editor_config(response) -> dict:
    found = re.search(r'<script id="editor-config" type="application/json">(.*?)</script>', response.content.decode())
    return json.loads(found.group(1))


def test_unsaved_text_in_the_browser_is_kept_under_a_key_naming_the_person(author, other_author, client_for):
    mine = editor_config(client_for(author).get(reverse("editor:post_new")))["localCopyPrefix"]
    theirs = editor_config(client_for(other_author).get(reverse("editor:post_new")))["localCopyPrefix"]
    assert mine == f"blogsite:editor:user-{author.pk}:"
    assert theirs != mine
    script = (settings.BASE_DIR / "static" / "js" / "editor.js").read_text()
    assert 'return `${config.localCopyPrefix}${id ?? "new"}`;' in script


def test_signing_out_from_the_editor_saves_what_it_can_then_keeps_no_copy_in_the_browser(author, client_for):
    # A copy written as the page unloads would outlive the sign-out's Clear-Site-Data.
    page = client_for(author).get(reverse("editor:post_new")).content.decode()
    assert '<form class="inline" action="/accounts/logout/" method="post" data-sign-out>' in page
    script = (settings.BASE_DIR / "static" / "js" / "editor.js").read_text()
    assert 'document.querySelectorAll("form[data-sign-out]")' in script
    assert "if (state.signingOut) return false;" in script


def test_the_save_state_and_the_alerts_stay_in_view_with_save_at_hand(author, draft, client_for):
    page = client_for(author).get(reverse("editor:post_edit", args=[draft.pk])).content.decode()
    sticky = page.split('<div class="editor-sticky">')[1].split('<div class="editor-layout">')[0]
    for element in ('id="save-state"', 'id="local-copy-offer"', 'id="autosave-conflict"'):
        assert element in sticky
    assert '<button type="submit" form="post-form" name="action" value="save">Save</button>' in sticky
    assert '<a href="#actions-heading">Publishing</a>' in sticky
    assert '<input type="hidden" name="editing_session" id="id_editing_session">' in page


def test_the_keyboard_shortcuts_are_listed(author, client_for):
    page = client_for(author).get(reverse("editor:post_new")).content.decode()
    shortcuts = page.split('<details class="side-panel shortcuts-panel">')[1].split("</details>")[0]
    assert "<summary>Keyboard shortcuts</summary>" in shortcuts
    for keys in ("<kbd>Ctrl</kbd> + <kbd>S</kbd>", "<kbd>Ctrl</kbd> + <kbd>Enter</kbd>", "<kbd>Escape</kbd>"):
        assert keys in shortcuts

"""The editor's JSON endpoints (autosave and preview) and the autosave revision policy."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from posts import services
from posts.models import Post, Revision


def autosave(client: Client, **payload):
    return client.post(reverse("editor:autosave"), data=payload, content_type="application/json")


@pytest.fixture
def draft(author):
    return services.post_create(
        author=author, data={"title": "Draft", "body": "One", "excerpt": "Keep me"}, tag_names=["Python"]
    )


def test_autosave_saves_and_answers_the_new_version(author, draft, client_for):
    response = autosave(client_for(author), post_id=draft.pk, version=1, title="Draft", body="One two")
    data = response.json()
    draft.refresh_from_db()
    assert response.status_code == 200
    assert (data["post_id"], data["version"], data["created"]) == (draft.pk, 2, False)
    assert data["saved_at"] == draft.updated_at.isoformat()
    assert (draft.body, draft.version) == ("One two", 2)


def test_autosave_keeps_fields_it_did_not_send(author, draft, client_for):
    autosave(client_for(author), post_id=draft.pk, version=1, body="Only the body")
    draft.refresh_from_db()
    assert (draft.title, draft.excerpt, draft.body) == ("Draft", "Keep me", "Only the body")
    assert list(draft.tags.values_list("name", flat=True)) == ["Python"]


def test_autosave_without_changes_writes_nothing(author, draft, client_for):
    response = autosave(client_for(author), post_id=draft.pk, version=1, title="Draft", body="One", tags="python")
    assert response.status_code == 200
    assert response.json()["version"] == 1
    assert draft.revisions.count() == 1


def test_autosave_on_a_new_post_creates_it(author, client_for):
    response = autosave(client_for(author), post_id=None, title="Fresh idea", body="Typed", tags=["A", "B"])
    data = response.json()
    post = Post.objects.get()
    assert response.status_code == 201
    assert (data["post_id"], data["version"], data["created"]) == (post.pk, 1, True)
    assert data["edit_url"] == reverse("editor:post_edit", args=[post.pk])
    assert (post.author, post.title, post.body) == (author, "Fresh idea", "Typed")
    assert sorted(post.tags.values_list("name", flat=True)) == ["A", "B"]


def test_autosave_conflict_answers_409_with_the_current_version(author, editor, draft, client_for):
    services.post_update(post=draft, by=editor, data={"body": "Editor was here"}, expected_version=1)
    response = autosave(client_for(author), post_id=draft.pk, version=1, body="My typing")
    current = response.json()["current"]
    assert response.status_code == 409
    assert (current["version"], current["body"], current["saved_by"]) == (2, "Editor was here", "Editor")
    draft.refresh_from_db()
    assert draft.body == "Editor was here"


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"title": "   "}, "title", "A post needs a title that is not only spaces."),
        ({"canonical_url": "nope"}, "canonical_url", "Enter a valid URL."),
        ({"body": "x" * (settings.POST_BODY_MAX_BYTES + 1)}, "body", "The body is too long"),
        ({"version": "abc"}, "version", "Enter a whole number."),
    ],
)
def test_autosave_invalid_input_answers_400_with_field_errors(author, draft, payload, field, message, client_for):
    response = autosave(client_for(author), **{"post_id": draft.pk, "version": 1, **payload})
    data = response.json()
    assert response.status_code == 400
    assert data["errors"][field][0].startswith(message)
    assert data["error"].startswith(message)
    draft.refresh_from_db()
    assert draft.version == 1


def test_autosave_refuses_requests_that_are_not_a_json_object(author, client_for):
    client = client_for(author)
    not_json = client.post(reverse("editor:autosave"), data="title=x", content_type="application/json")
    a_list = client.post(reverse("editor:autosave"), data=[1], content_type="application/json")
    bad_id = autosave(client, post_id="7", title="x")
    assert [r.status_code for r in (not_json, a_list, bad_id)] == [400, 400, 400]
    assert not_json.json()["error"] == "The request was not valid JSON."
    assert bad_id.json()["error"] == "post_id must be a post's number, or null for a new post."


def test_autosave_leaves_published_posts_to_a_real_save(author, editor, draft, client_for):
    services.post_publish(post=draft, by=editor)
    response = autosave(client_for(author), post_id=draft.pk, version=draft.version, body="Half-typed")
    assert response.status_code == 400
    assert "Only drafts are saved automatically" in response.json()["error"]
    draft.refresh_from_db()
    assert draft.body == "One"


def test_autosaves_close_together_share_one_revision(author, draft, client_for):
    client = client_for(author)
    autosave(client, post_id=draft.pk, version=1, body="One t")
    autosave(client, post_id=draft.pk, version=2, body="One tw")
    autosave(client, post_id=draft.pk, version=3, body="One two")
    assert list(draft.revisions.values_list("version", "note", "body")) == [
        (4, "autosave", "One two"),
        (1, "created", "One"),
    ]


def test_an_autosave_after_the_window_starts_a_new_revision(author, draft, client_for):
    client = client_for(author)
    autosave(client, post_id=draft.pk, version=1, body="Early")
    Revision.objects.filter(version=2).update(
        created_at=timezone.now() - services.AUTOSAVE_REVISION_WINDOW - timedelta(seconds=1)
    )
    autosave(client, post_id=draft.pk, version=2, body="Later")
    assert list(draft.revisions.values_list("version", "body")) == [(3, "Later"), (2, "Early"), (1, "One")]


def test_autosave_does_not_replace_a_manual_save_or_someone_elses_autosave(author, editor, draft, client_for):
    autosave(client_for(editor), post_id=draft.pk, version=1, body="Editor's autosave")
    autosave(client_for(author), post_id=draft.pk, version=2, body="Author's autosave")
    services.post_update(post=draft, by=author, data={"body": "Saved by hand"}, expected_version=3)
    autosave(client_for(author), post_id=draft.pk, version=4, body="Typing on")
    assert list(draft.revisions.values_list("note", "body")) == [
        ("autosave", "Typing on"),
        ("saved", "Saved by hand"),
        ("autosave", "Author's autosave"),
        ("autosave", "Editor's autosave"),
        ("created", "One"),
    ]


def test_preview_returns_sanitized_html(author, client_for):
    body = "# Title\n\n<script>alert('x')</script>\n\n[click](javascript:alert(1)) **bold**"
    response = client_for(author).post(reverse("editor:preview"), data={"body": body}, content_type="application/json")
    html = response.json()["html"]
    assert response.status_code == 200
    assert "<h1>Title</h1>" in html and "<strong>bold</strong>" in html
    assert "<script" not in html
    assert 'href="javascript' not in html


def test_preview_refuses_an_oversized_body(author, client_for):
    body = "x" * (settings.POST_BODY_MAX_BYTES + 1)
    response = client_for(author).post(reverse("editor:preview"), data={"body": body}, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"]["body"][0].startswith("The body is too long")


def test_preview_of_a_costly_document_answers_at_once_with_a_clear_message(author, settings, client_for):
    settings.MARKDOWN_INLINE_MAX_BYTES = 1_000
    settings.MARKDOWN_RENDER_SECONDS = 0.5
    body = "![" * 150_000
    response = client_for(author).post(reverse("editor:preview"), data={"body": body}, content_type="application/json")
    assert response.status_code == 400
    assert "takes too long to turn into HTML" in response.json()["error"]


def test_preview_is_rate_limited_per_person(author, settings, client_for):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "preview": (2, 60)}
    client = client_for(author)
    for _ in range(2):
        response = client.post(reverse("editor:preview"), data={"body": "Hi"}, content_type="application/json")
        assert response.status_code == 200
    response = client.post(reverse("editor:preview"), data={"body": "Hi"}, content_type="application/json")
    assert response.status_code == 429
    assert response.json()["error"] == "Too many previews in a short time. Try again in 1 minute."


def test_saving_a_costly_document_is_refused_with_a_clear_message(draft, author, settings, client_for):
    settings.MARKDOWN_INLINE_MAX_BYTES = 1_000
    settings.MARKDOWN_RENDER_SECONDS = 0.5
    response = autosave(client_for(author), post_id=draft.pk, version=draft.version, body="[" * 300_000)
    assert response.status_code == 400
    assert "takes too long to turn into HTML" in response.json()["error"]
    draft.refresh_from_db()
    assert draft.body == "One"

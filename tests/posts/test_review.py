"""Request changes: an editor sends a post in review back to its author with a note."""

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse

from posts import services
from posts.models import ChangeRequest, PostStatus


@pytest.fixture
def in_review(author):
    post = services.post_create(author=author, data={"title": "Ready for a look", "body": "Draft text"})
    return services.post_submit_for_review(post=post, by=author)


def request_changes(client: Client, post, note: str):
    return client.post(reverse("editor:request_changes", args=[post.pk]), {"note": note})


def test_the_editor_page_offers_request_changes_to_editors_on_posts_in_review(editor, author, in_review, client_for):
    url = reverse("editor:post_edit", args=[in_review.pk])
    assert f'action="/editor/posts/{in_review.pk}/request-changes/"' in client_for(editor).get(url).content.decode()
    assert "request-changes" not in client_for(author).get(url).content.decode()


def test_an_editor_sends_a_post_back_with_a_note(editor, in_review, client_for):
    client = client_for(editor)
    response = request_changes(client, in_review, "Please cite your sources.\nAnd shorten the intro.")
    assert response.status_code == 302
    in_review.refresh_from_db()
    assert in_review.status == PostStatus.DRAFT
    change = ChangeRequest.objects.get()
    assert (change.post, change.requested_by, change.resolved_at) == (in_review, editor, None)
    assert change.note == "Please cite your sources.\nAnd shorten the intro."
    assert change.version == in_review.version
    assert in_review.revisions.first().note == "changes requested"
    page = client.get(response.url).content.decode()
    assert "Sent back to Author as a draft, with your note." in page


def test_the_author_sees_the_note_on_the_dashboard_and_in_the_editor(editor, author, in_review, client_for):
    request_changes(client_for(editor), in_review, "Cite <b>sources</b>.\nShorten the intro.")
    client = client_for(author)
    dashboard = client.get(reverse("editor:dashboard")).content.decode()
    assert "Changes requested" in dashboard
    assert "Cite &lt;b&gt;sources&lt;/b&gt;.<br>Shorten the intro." in dashboard
    assert f'href="/editor/posts/{in_review.pk}/edit/">Ready for a look</a>' in dashboard
    editor_page = client.get(reverse("editor:post_edit", args=[in_review.pk])).content.decode()
    assert 'id="change-request"' in editor_page
    assert "Editor sent this post back on" in editor_page
    assert "Cite &lt;b&gt;sources&lt;/b&gt;.<br>Shorten the intro." in editor_page


def test_submitting_again_settles_the_note(editor, author, in_review, client_for):
    request_changes(client_for(editor), in_review, "Shorten the intro.")
    client = client_for(author)
    in_review.refresh_from_db()
    client.post(
        reverse("editor:post_edit", args=[in_review.pk]),
        {"title": in_review.title, "body": "Shorter", "version": in_review.version, "action": "submit"},
    )
    in_review.refresh_from_db()
    assert in_review.status == PostStatus.REVIEW
    assert ChangeRequest.objects.get().resolved_at is not None
    assert "Shorten the intro." not in client.get(reverse("editor:dashboard")).content.decode()
    assert 'id="change-request"' not in client.get(reverse("editor:post_edit", args=[in_review.pk])).content.decode()


def test_other_authors_do_not_see_the_note(editor, other_author, in_review, client_for):
    request_changes(client_for(editor), in_review, "Private advice.")
    assert "Private advice." not in client_for(other_author).get(reverse("editor:dashboard")).content.decode()


def test_authors_cannot_request_changes(author, in_review, client_for):
    assert request_changes(client_for(author), in_review, "Looks fine to me").status_code == 403
    in_review.refresh_from_db()
    assert in_review.status == PostStatus.REVIEW
    with pytest.raises(PermissionDenied):
        services.post_request_changes(post=in_review, by=author, note="No")
    assert not ChangeRequest.objects.exists()


def test_an_empty_note_is_refused_and_the_post_stays_in_review(editor, in_review, client_for):
    response = request_changes(client_for(editor), in_review, "   ")
    assert response.status_code == 400
    assert "Write what the author should change; the note cannot be empty." in response.content.decode()
    in_review.refresh_from_db()
    assert in_review.status == PostStatus.REVIEW


def test_a_note_that_is_too_long_is_shown_again_with_the_reason(editor, in_review, client_for):
    response = request_changes(client_for(editor), in_review, "x" * 2001)
    page = response.content.decode()
    assert response.status_code == 400
    assert "Ensure this value has at most 2000 characters (it has 2001)." in page
    assert "x" * 2001 + "</textarea>" in page
    assert not ChangeRequest.objects.exists()


def test_only_posts_in_review_can_be_sent_back(editor, author, client_for):
    draft = services.post_create(author=author, data={"title": "Still a draft"})
    client = client_for(editor)
    response = request_changes(client, draft, "Too early")
    assert response.status_code == 302
    page = client.get(response.url).content.decode()
    assert "Only a post in review can be sent back to its author" in page
    assert "Your note was: “Too early”" in page
    assert not ChangeRequest.objects.exists()


def test_a_note_on_a_post_published_meanwhile_is_no_longer_shown(editor, author, in_review, client_for):
    request_changes(client_for(editor), in_review, "Fix the typo.")
    in_review.refresh_from_db()
    services.post_publish(post=in_review, by=editor)
    assert "Fix the typo." not in client_for(author).get(reverse("editor:dashboard")).content.decode()

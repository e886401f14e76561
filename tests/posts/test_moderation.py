"""Comment moderation in the editor: the queue at /editor/comments/, its actions and who may use them."""

import pytest
from django.test import Client
from django.urls import reverse

from posts.models import CommentStatus
from tests.factories import CommentFactory, PostFactory, UserFactory

QUEUE = "/editor/comments/"
MODERATE = "/editor/comments/moderate/"


@pytest.fixture
def post(author):
    return PostFactory(title="Gardening in winter", slug="gardening-in-winter", author=author)


@pytest.fixture
def pending(post, reader):
    return [
        CommentFactory(post=post, author=reader, body=text, status=CommentStatus.PENDING)
        for text in ("First thoughts on frost", "Buy cheap watches now", "What about bulbs?")
    ]


def test_the_urls_are_the_editors(db):
    assert reverse("editor:comments") == QUEUE
    assert reverse("editor:comments_moderate") == MODERATE


def test_the_queue_lists_pending_comments_oldest_first_with_counts(editor, pending, client_for):
    CommentFactory(post=pending[0].post, body="Already approved words", status=CommentStatus.APPROVED)
    page = client_for(editor).get(QUEUE).content.decode()
    positions = [page.index(comment.body) for comment in pending]
    assert positions == sorted(positions)
    assert "Already approved words" not in page
    assert 'aria-current="page">Pending <span class="count">3</span>' in page
    assert 'Approved <span class="count">1</span>' in page
    assert f'name="row_action" value="approve:{pending[0].pk}"' in page
    assert 'name="csrfmiddlewaretoken"' in page


def test_the_queue_filters_by_status_and_searches(editor, pending, client_for):
    spam = CommentFactory(post=pending[0].post, body="Cheap pills here", status=CommentStatus.SPAM)
    client = client_for(editor)
    spam_page = client.get(QUEUE, {"status": "spam"}).content.decode()
    assert spam.body in spam_page and pending[0].body not in spam_page
    assert f'value="approve:{spam.pk}"' in spam_page and f'value="spam:{spam.pk}"' not in spam_page
    found = client.get(QUEUE, {"q": "bulbs"}).content.decode()
    assert "What about bulbs?" in found and "First thoughts" not in found
    by_post = client.get(QUEUE, {"q": "gardening"}).content.decode()
    assert all(comment.body in by_post for comment in pending)
    nothing = client.get(QUEUE, {"q": "zebra"}).content.decode()
    assert "No pending comments match “zebra”." in nothing


def test_an_unknown_status_shows_the_pending_queue(editor, pending, client_for):
    response = client_for(editor).get(QUEUE, {"status": "deleted"})
    assert response.status_code == 200
    assert pending[0].body in response.content.decode()


def test_the_queue_is_paginated_and_pages_keep_the_filter(editor, post, reader, client_for):
    for number in range(27):
        CommentFactory(post=post, author=reader, body=f"Comment number {number:02}", status=CommentStatus.REJECTED)
    client = client_for(editor)
    first = client.get(QUEUE, {"status": "rejected"}).content.decode()
    assert "Page 1 of 2" in first
    assert "?status=rejected&amp;page=2" in first
    second = client.get(QUEUE, {"status": "rejected", "page": 2}).content.decode()
    assert "Comment number 00" in second and "Comment number 26" not in second


def test_approving_one_comment_publishes_it_and_records_who(editor, pending, client_for):
    client = client_for(editor)
    target = pending[0]
    response = client.post(
        MODERATE, {"row_action": f"approve:{target.pk}", "return_to": f"{QUEUE}?status=pending&page=1"}
    )
    assert response.status_code == 302
    assert response.url == f"{QUEUE}?status=pending&page=1"
    target.refresh_from_db()
    assert target.status == CommentStatus.APPROVED
    assert target.moderated_by == editor and target.moderated_at is not None
    assert "Approved 1 comment." in client.get(response.url).content.decode()
    assert "First thoughts on frost" in client.get(target.post.get_absolute_url()).content.decode()


def test_bulk_actions_change_every_ticked_comment_only(editor, pending, client_for):
    first, second, third = pending
    response = client_for(editor).post(MODERATE, {"comments": [first.pk, second.pk], "action": "spam"}, follow=True)
    statuses = [c.status for c in type(first).objects.filter(pk__in=[first.pk, second.pk, third.pk]).order_by("pk")]
    assert statuses == [CommentStatus.SPAM, CommentStatus.SPAM, CommentStatus.PENDING]
    assert "Marked as spam 2 comments." in response.content.decode()


def test_bulk_reject_says_what_was_already_so_and_what_is_gone(editor, pending, client_for):
    first, second, _ = pending
    client = client_for(editor)
    client.post(MODERATE, {"row_action": f"reject:{first.pk}"})
    second_pk = second.pk
    second.delete()
    page = client.post(MODERATE, {"comments": [first.pk, second_pk], "action": "reject"}, follow=True)
    text = page.content.decode()
    assert "1 comment was already rejected." in text
    assert "1 comment no longer exists." in text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": "approve"}, "Nothing was changed: Select at least one comment first."),
        ({"comments": ["1"]}, "Nothing was changed: Choose what to do with the selected comments"),
        ({"comments": ["1"], "action": "delete"}, "Nothing was changed: Select a valid choice."),
        ({"comments": ["x"], "action": "approve"}, "Nothing was changed: The selected comments were not understood"),
        ({"row_action": "approve:abc"}, "Nothing was changed: Enter a valid value."),
    ],
)
def test_a_moderation_form_that_makes_no_sense_changes_nothing_and_says_why(editor, pending, data, message, client_for):
    page = client_for(editor).post(MODERATE, data, follow=True).content.decode()
    assert message in page
    assert all(c.status == CommentStatus.PENDING for c in type(pending[0]).objects.all())


def test_return_to_never_leaves_the_queue(editor, pending, client_for):
    client = client_for(editor)
    for elsewhere in ("https://evil.example/", "//evil.example/editor/comments/", "/admin/"):
        response = client.post(MODERATE, {"row_action": f"approve:{pending[0].pk}", "return_to": elsewhere})
        assert response.url == QUEUE


def test_authors_and_readers_may_not_moderate(author, reader, pending, client_for):
    for user in (author, reader):
        client = client_for(user)
        assert client.get(QUEUE).status_code == 403
        assert client.post(MODERATE, {"row_action": f"approve:{pending[0].pk}"}).status_code == 403
    pending[0].refresh_from_db()
    assert pending[0].status == CommentStatus.PENDING


def test_anonymous_visitors_are_sent_to_sign_in(client, pending):
    response = client.get(QUEUE)
    assert response.status_code == 302 and "/accounts/login/" in response.url


def test_staff_may_moderate(staff, pending, client_for):
    response = client_for(staff).post(MODERATE, {"row_action": f"spam:{pending[1].pk}"})
    assert response.status_code == 302
    pending[1].refresh_from_db()
    assert pending[1].status == CommentStatus.SPAM


def test_moderation_needs_a_csrf_token(editor, pending):
    client = Client(enforce_csrf_checks=True)
    client.force_login(editor)
    assert client.post(MODERATE, {"row_action": f"approve:{pending[0].pk}"}).status_code == 403
    pending[0].refresh_from_db()
    assert pending[0].status == CommentStatus.PENDING


def test_the_dashboard_shows_the_pending_count_to_moderators_only(editor, author, pending, client_for):
    page = client_for(editor).get(reverse("editor:dashboard")).content.decode()
    assert '<span class="dashboard-count" id="pending-comment-count">3</span>' in page
    assert "3 comments waiting for moderation." in page
    assert f'href="{QUEUE}"' in page
    assert "pending-comment-count" not in client_for(author).get(reverse("editor:dashboard")).content.decode()


def test_comment_text_is_shown_sanitized(editor, post, client_for):
    reader = UserFactory(username="sneaky")
    CommentFactory(post=post, author=reader, body="<script>alert(1)</script> **bold**", status=CommentStatus.PENDING)
    page = client_for(editor).get(QUEUE).content.decode()
    assert "<script>alert(1)" not in page
    assert "<strong>bold</strong>" in page


def test_the_admin_marks_comments_as_spam_and_records_who(staff, pending, client_for):
    client = client_for(staff)
    response = client.post(
        "/admin/posts/comment/",
        {"action": "mark_comments_as_spam", "_selected_action": [pending[1].pk]},
        follow=True,
    )
    assert "Marked as spam 1 comment." in response.content.decode()
    pending[1].refresh_from_db()
    assert (pending[1].status, pending[1].moderated_by) == (CommentStatus.SPAM, staff)

import re

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from accounts.roles import Role
from posts.models import Comment, CommentStatus, PostStatus
from tests.factories import PostFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def post():
    return PostFactory(title="Open for comments")


def comment_url(post) -> str:
    return f"/posts/{post.slug}/comments/"


def test_reader_sees_the_comment_form_with_a_csrf_token(client, reader, post):
    client.force_login(reader)
    content = client.get(post.get_absolute_url()).content.decode()
    assert f'<form class="comment-form" method="post" action="{comment_url(post)}"' in content
    assert 'name="csrfmiddlewaretoken"' in content
    assert '<label for="id_body">Your comment:</label>' in content
    assert "Comments appear once an editor has approved them." in content


def test_anonymous_reader_is_invited_to_sign_in_and_comes_back_to_the_form(client, reader, post):
    content = client.get(post.get_absolute_url()).content.decode()
    assert f'<a href="{comment_url(post)}">Sign in to comment</a>' in content
    assert "comment-form" not in content

    sign_in = client.get(comment_url(post))
    assert sign_in.status_code == 302
    assert sign_in["Location"] == f"/accounts/login/?next=/posts/{post.slug}/comments/"

    # Signed in, the same link gives the post page with the form, even without the page's script.
    client.force_login(reader)
    form_page = client.get(comment_url(post))
    assert form_page.status_code == 200 and "private" in form_page["Cache-Control"]
    assert f'<form class="comment-form" method="post" action="{comment_url(post)}"' in form_page.content.decode()


def test_reader_comment_goes_to_moderation_and_says_so_at_the_comments(client, reader, post):
    client.force_login(reader)
    response = client.post(comment_url(post), {"body": "Nice *post*"}, follow=True)
    comment = Comment.objects.get()
    assert (comment.post, comment.author, comment.status) == (post, reader, CommentStatus.PENDING)
    assert comment.body_html == "<p>Nice <em>post</em></p>\n"
    assert response.redirect_chain == [(f"/posts/{post.slug}/#comments", 302)]
    content = response.content.decode()
    # The confirmation is in the comment area the redirect lands on, not at the top of the page.
    comments = content[content.index('<section class="comments" id="comments"') :]
    confirmation = "An editor will review it, and it will appear here once approved."
    assert confirmation in comments and confirmation not in content[: content.index("<main")]
    # Their comment shows to them, marked as waiting, above the form to write another.
    assert 'aria-label="Comment by Reader, waiting for approval"' in comments
    assert "Nice <em>post</em>" in comments and "Waiting for approval" in comments
    assert comments.index("Nice <em>post</em>") < comments.index('class="comment-form"')


def test_a_pending_comment_shows_to_its_author_alone(client, reader, post):
    client.force_login(reader)
    client.post(comment_url(post), {"body": "Mine, for now"})
    assert "Mine, for now" in client.get(post.get_absolute_url()).content.decode()

    client.force_login(UserFactory(username="another_reader", role=Role.READER))
    assert "Mine, for now" not in client.get(post.get_absolute_url()).content.decode()
    client.logout()
    assert "Mine, for now" not in client.get(post.get_absolute_url()).content.decode()


def test_moderator_comment_is_published_at_once(client, editor, post):
    client.force_login(editor)
    response = client.post(comment_url(post), {"body": "A note from the editor"}, follow=True)
    comment = Comment.objects.get()
    assert comment.status == CommentStatus.APPROVED
    assert response.redirect_chain == [(f"/posts/{post.slug}/#comment-{comment.pk}", 302)]
    content = response.content.decode()
    assert "Your comment is published." in content
    assert "<p>A note from the editor</p>" in content


def test_anonymous_comment_is_refused_with_a_sign_in_redirect(client, post):
    response = client.post(comment_url(post), {"body": "Drive-by"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")
    assert not Comment.objects.exists()


def test_too_long_comment_is_refused_and_the_text_kept(client, reader, post, settings):
    settings.COMMENT_BODY_MAX_CHARS = 50
    client.force_login(reader)
    body = "A thoughtful reply that runs on and on, well past fifty characters."
    response = client.post(comment_url(post), {"body": body})
    content = response.content.decode()
    assert response.status_code == 400
    assert "Comments are limited to 50 characters and yours has 67." in content
    assert f">\n{body}</textarea>" in content
    assert 'aria-invalid="true"' in content
    assert not Comment.objects.exists()


def test_empty_comment_is_refused(client, reader, post):
    client.force_login(reader)
    response = client.post(comment_url(post), {"body": "   "})
    assert response.status_code == 400
    assert "Write something before sending your comment." in response.content.decode()
    assert not Comment.objects.exists()


def test_user_without_the_comment_permission_is_refused(client, post):
    nobody = UserFactory(username="nobody")
    nobody.groups.set(Group.objects.none())
    client.force_login(nobody)
    assert "Your account cannot post comments." in client.get(post.get_absolute_url()).content.decode()
    response = client.post(comment_url(post), {"body": "Let me in"})
    assert response.status_code == 403
    assert "Your account is not allowed to comment." in response.content.decode()
    assert not Comment.objects.exists()


def test_comments_on_posts_that_are_not_public_are_refused(client, reader):
    draft = PostFactory(status=PostStatus.DRAFT, published_at=None)
    client.force_login(reader)
    assert client.post(comment_url(draft), {"body": "Early bird"}).status_code == 404
    assert not Comment.objects.exists()


def test_comment_endpoint_accepts_only_post_and_get(client, reader, post):
    client.force_login(reader)
    assert client.put(comment_url(post)).status_code == 405
    assert client.delete(comment_url(post)).status_code == 405


def test_comment_needs_a_valid_csrf_token(reader, post):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(reader)
    assert browser.post(comment_url(post), {"body": "No token"}).status_code == 403
    assert not Comment.objects.exists()

    page = browser.get(post.get_absolute_url()).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = browser.post(comment_url(post), {"body": "With token", "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert Comment.objects.get().body == "With token"


def test_comments_are_rate_limited_per_person_with_a_clear_message(client, reader, post, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "comment": (2, 60)}
    client.force_login(reader)
    for number in range(2):
        assert client.post(comment_url(post), {"body": f"Comment {number}"}).status_code == 302
    response = client.post(comment_url(post), {"body": "One too many"})
    assert response.status_code == 429
    assert "Too many comments in a short time. Try again in 1 minute." in response.content.decode()
    assert "One too many" in response.content.decode()  # the text is kept in the form
    assert Comment.objects.count() == 2

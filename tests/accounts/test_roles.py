"""What each role may do, as the posts services and the admin enforce it."""

import pytest
from django.core.exceptions import PermissionDenied

from posts import services
from posts.models import CommentStatus, PostStatus
from tests.factories import CommentFactory, PostFactory

pytestmark = pytest.mark.django_db


def test_reader_can_comment_but_not_write_posts(reader):
    post = PostFactory()
    comment = services.comment_create(post=post, author=reader, body="Nice post.")
    assert comment.status == CommentStatus.PENDING
    with pytest.raises(PermissionDenied):
        services.post_create(author=reader, data={"title": "My post"})


def test_author_writes_posts_but_cannot_publish(author):
    post = services.post_create(author=author, data={"title": "Draft"})
    assert post.status == PostStatus.DRAFT
    with pytest.raises(PermissionDenied):
        services.post_publish(post=post, by=author)


def test_author_cannot_moderate_comments(author):
    with pytest.raises(PermissionDenied):
        services.comment_moderate(comment=CommentFactory(status=CommentStatus.PENDING), by=author, status="approved")


def test_editor_publishes_and_moderates(editor, author):
    post = services.post_create(author=author, data={"title": "Ready"})
    services.post_publish(post=post, by=editor)
    assert post.status == PostStatus.PUBLISHED
    comment = CommentFactory(post=post, status=CommentStatus.PENDING)
    services.comment_moderate(comment=comment, by=editor, status=CommentStatus.APPROVED)
    assert comment.status == CommentStatus.APPROVED


@pytest.mark.parametrize("role_fixture", ["reader", "author", "editor"])
def test_only_staff_reach_the_admin(client, request, role_fixture):
    client.force_login(request.getfixturevalue(role_fixture))
    assert client.get("/admin/").status_code == 302


def test_staff_reach_the_admin(client, staff):
    client.force_login(staff)
    assert client.get("/admin/").status_code == 200

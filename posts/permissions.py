"""Who may do what with posts and comments, checked on the server by services and views."""

from .models import Post


def can_write_posts(user) -> bool:
    return user.is_authenticated and user.has_perm("posts.add_post")


def can_edit_post(user, post: Post) -> bool:
    if not user.is_authenticated:
        return False
    if user.has_perm("posts.edit_any_post"):
        return True
    return user.has_perm("posts.change_post") and post.author_id == user.pk


def can_publish(user) -> bool:
    return user.is_authenticated and user.has_perm("posts.publish_post")


def can_moderate_comments(user) -> bool:
    return user.is_authenticated and user.has_perm("posts.moderate_comment")


def can_comment(user) -> bool:
    return user.is_authenticated and user.is_active and user.has_perm("posts.add_comment")

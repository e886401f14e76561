"""Reading change requests: the notes editors leave when they send a post in review back to its author.

posts.services.post_request_changes writes them; post_submit_for_review settles them.
"""

from django.db.models import QuerySet

from .models import ChangeRequest, Post, PostStatus


def _open() -> QuerySet[ChangeRequest]:
    # A post published or archived by an editor meanwhile needs no changes from its author any more.
    return ChangeRequest.objects.open().filter(post__status=PostStatus.DRAFT).select_related("requested_by")


def change_request_open(*, post: Post) -> ChangeRequest | None:
    """The latest note on `post` its author has not answered by submitting it again."""
    return _open().filter(post=post).first()


def change_requests_for_author(*, user) -> QuerySet[ChangeRequest]:
    """The open notes on `user`'s own posts, newest first, one per post."""
    latest = _open().filter(post__author=user).select_related("post")
    seen: set[int] = set()
    pks = []
    for pk, post_id in latest.values_list("pk", "post_id"):
        if post_id not in seen:
            seen.add(post_id)
            pks.append(pk)
    return latest.filter(pk__in=pks)

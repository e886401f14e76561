"""Editing sessions: one editor page in one browser tab, named by a random id the page keeps.

An author's own saves from the same page are never a conflict for that page (posts.services.
post_autosave); these queries tell which saves those are.
"""

from .models import Post


def saved_since_only_by(post: Post, *, by, editing_session: str, version: int) -> bool:
    """Whether every version of `post` after `version` was saved by `by` from `editing_session`.

    Such versions are that page's own earlier saves (an autosave still on its way when the page
    was reloaded, or sent as the tab closed): text typed on top of `version` in the same page
    holds everything they held, so it may be saved over them. A revision an autosave replaced
    was the same page's (_reusable_autosave), so the revisions kept are enough to tell.
    """
    if not editing_session or not getattr(by, "is_authenticated", False) or version >= post.version:
        return False
    newer = list(post.revisions.filter(version__gt=version).values_list("version", "created_by_id", "editing_session"))
    if not any(saved_version == post.version for saved_version, _, _ in newer):
        return False
    return all(author_id == by.pk and session == editing_session for _, author_id, session in newer)


def post_started_in(*, user, editing_session) -> Post | None:
    """The post `user` created from `editing_session`, if any.

    A new post's page sends its first autosave without a post id; when the page was reloaded
    before the answer came, its next autosave still has none. It belongs in that post.
    """
    if not isinstance(editing_session, str) or not editing_session or not getattr(user, "is_authenticated", False):
        return None
    return (
        Post.objects.filter(
            author=user, revisions__version=1, revisions__created_by=user, revisions__editing_session=editing_session
        )
        .order_by("-pk")
        .first()
    )

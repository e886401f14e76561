"""Comment moderation in the editor (/editor/comments/): the queue and moderating many comments at once.

Each comment goes through posts.services.comment_moderate, so its status, who set it and when are
recorded and the post's public page is refreshed (posts.events.comment_changed).
"""

from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils.text import Truncator

from . import permissions, services
from .models import Comment, CommentStatus

# What the queue's buttons do, as the status each one sets.
MODERATION_ACTIONS = {
    "approve": CommentStatus.APPROVED,
    "reject": CommentStatus.REJECTED,
    "spam": CommentStatus.SPAM,
}
# How each action is told afterwards: "Approved 3 comments."
ACTION_VERBS = {"approve": "approved", "reject": "rejected", "spam": "marked as spam"}
MAX_COMMENTS_PER_ACTION = 200


def comment_queue(*, status: str = CommentStatus.PENDING, query: str = "") -> QuerySet[Comment]:
    """Comments with `status` whose text, author or post matches `query`.

    Pending comments come oldest first, as a queue is worked through; the others newest first.
    """
    comments = Comment.objects.filter(status=status).select_related("post", "author", "moderated_by")
    if query:
        comments = comments.filter(
            Q(body__icontains=query)
            | Q(author__username__icontains=query)
            | Q(author__display_name__icontains=query)
            | Q(post__title__icontains=query)
        )
    order = ["created_at", "pk"] if status == CommentStatus.PENDING else ["-created_at", "-pk"]
    return comments.order_by(*order)


def pending_count() -> int:
    return Comment.objects.filter(status=CommentStatus.PENDING).count()


@dataclass
class ModerationOutcome:
    """What a moderation did: how many comments changed, how many already had that status, what is gone."""

    verb: str
    changed: int = 0
    unchanged: int = 0
    missing: int = 0
    refused: list[str] = field(default_factory=list)

    def messages(self) -> list[tuple[str, str]]:
        """(level, text) pairs for the person who asked: "success", "info" or "warning"."""

        def many(n: int) -> str:
            return f"{n} comment{'' if n == 1 else 's'}"

        said = []
        if self.changed:
            said.append(("success", f"{self.verb.capitalize()} {many(self.changed)}."))
        if self.unchanged:
            said.append(
                ("info", f"{many(self.unchanged)} {'was' if self.unchanged == 1 else 'were'} already {self.verb}.")
            )
        if self.missing:
            said.append(("warning", f"{many(self.missing)} no longer exist{'s' if self.missing == 1 else ''}."))
        if self.refused:
            said.append(("warning", f"Not {self.verb}: {'; '.join(self.refused)}."))
        return said


@transaction.atomic
def comments_moderate(*, comment_ids: list[int], by, action: str) -> ModerationOutcome:
    """Give each listed comment the status `action` sets; comments deleted meanwhile are counted, not an error."""
    if not permissions.can_moderate_comments(by):
        raise PermissionDenied("Only editors can moderate comments.")
    if action not in MODERATION_ACTIONS:
        raise services.PostError("Choose what to do with the selected comments: approve, reject or mark as spam.")
    if not comment_ids:
        raise services.PostError("Select at least one comment first.")
    if len(comment_ids) > MAX_COMMENTS_PER_ACTION:
        raise services.PostError(f"Moderate at most {MAX_COMMENTS_PER_ACTION} comments at once.")
    status = MODERATION_ACTIONS[action]
    outcome = ModerationOutcome(verb=ACTION_VERBS[action])
    wanted = set(comment_ids)
    comments = Comment.objects.filter(pk__in=wanted).select_related("post").order_by("pk")
    for comment in comments:
        if comment.status == status:
            outcome.unchanged += 1
            continue
        try:
            services.comment_moderate(comment=comment, by=by, status=status)
        except services.PostError as error:
            outcome.refused.append(f"“{Truncator(comment.body).chars(40)}” ({error})")
        else:
            outcome.changed += 1
    outcome.missing = len(wanted) - outcome.changed - outcome.unchanged - len(outcome.refused)
    return outcome


def status_counts() -> dict[str, int]:
    """How many comments have each status, every status listed (0 when none)."""
    counts = dict(Comment.objects.values_list("status").annotate(total=Count("pk")).order_by())
    return {status: counts.get(status, 0) for status in CommentStatus.values}

"""Reads for batch jobs: the posts a job may cover, a user's jobs, and the work left to do."""

from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Count, F, Max, Min, QuerySet
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from posts.models import Post

from ..models import BatchAction, BatchItem, BatchJob, ItemStatus, JobStatus
from .fields import TARGET_FIELDS

ACTIVE_JOB = (JobStatus.QUEUED, JobStatus.RUNNING)
UNFINISHED_ITEM = (ItemStatus.QUEUED, ItemStatus.RUNNING)


def posts_missing(*, user, action: str) -> QuerySet[Post]:
    """Posts the user may edit whose field for `action` is empty."""
    field = TARGET_FIELDS[action]
    posts = Post.objects.editable_by(user)
    if field == "tags":
        return posts.annotate(tag_count=Count("tags")).filter(tag_count=0)
    return posts.filter(**{field: ""})


def posts_editable(*, user, post_ids: list[int]) -> list[Post]:
    """Those of the posts the user may edit, in order; the others are left out."""
    return list(Post.objects.editable_by(user).filter(pk__in=post_ids).order_by("pk"))


def user_lock(*, user) -> None:
    """Lock the user's row until the transaction ends: their job starts then run one at a time."""
    list(get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True))


def jobs_active(*, user) -> list[BatchJob]:
    return list(BatchJob.objects.filter(user=user, status__in=ACTIVE_JOB).order_by("pk"))


def job_covering(*, jobs: list[BatchJob], action: str, overwrite: bool, post_ids: set[int]) -> BatchJob | None:
    """The job among `jobs` that runs `action` over exactly these posts (images, for alt text), if there is one."""
    column = "image_id" if action == BatchAction.ALT_TEXT else "post_id"
    for job in jobs:
        if (job.action, job.overwrite, job.total) != (action, overwrite, len(post_ids)):
            continue
        if set(job.items.values_list(column, flat=True)) == post_ids:
            return job
    return None


def posts_taken_on(*, user, since) -> tuple[int, datetime | None]:
    """How many posts the user's jobs started since `since` took on, and when the first of those started.

    Posts cancelled before they ran were given back.
    """
    jobs = BatchJob.objects.filter(user=user, created_at__gte=since)
    items = BatchItem.objects.filter(job__in=jobs).exclude(status=ItemStatus.CANCELLED, started_at__isnull=True)
    return items.count(), jobs.aggregate(first=Min("created_at"))["first"]


def job_for_user(*, user, job_id: int) -> BatchJob | None:
    return BatchJob.objects.filter(pk=job_id, user=user).first()


def jobs_recent(*, user, limit: int = 5) -> QuerySet[BatchJob]:
    return BatchJob.objects.filter(user=user)[:limit]


def item_ids_unfinished(*, job_id: int) -> list[int]:
    """The items still to run, while their job is active."""
    items = BatchItem.objects.filter(job_id=job_id, status__in=UNFINISHED_ITEM, job__status__in=ACTIVE_JOB)
    return list(items.values_list("pk", flat=True))


def job_ids_stalled(*, idle_seconds: float) -> list[int]:
    """Active jobs with no item started or finished for `idle_seconds`."""
    since = timezone.now() - timedelta(seconds=idle_seconds)
    last_progress = Greatest(
        Coalesce(Max("items__started_at"), F("created_at")), Coalesce(Max("items__finished_at"), F("created_at"))
    )
    stalled = BatchJob.objects.filter(status__in=ACTIVE_JOB).annotate(last=last_progress).filter(last__lt=since)
    return list(stalled.values_list("pk", flat=True))


def item_counts(*, job_id: int) -> dict[str, int]:
    """How many of the job's items are in each status (statuses with none are left out)."""
    counts = BatchItem.objects.filter(job_id=job_id).values_list("status").annotate(n=Count("pk"))
    return dict(counts.values_list("status", "n"))

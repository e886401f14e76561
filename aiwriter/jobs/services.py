"""Writes for batch jobs: start, dispatch, cancel, process one item, publish progress.

Each post is a `BatchItem` processed exactly once even when a worker dies mid-job and its
messages are delivered again:

- a worker claims an item with one conditional UPDATE (queued, or running with a lapsed lease,
  to running with a fresh token), so two deliveries cannot both hold it;
- the post's new text and the item's `done` are written in one transaction that commits only
  while the claim still holds, so a redelivered message finds the item done and skips it, and a
  worker killed before that commit left nothing behind for the next claim to duplicate.

The lease outlasts the task's hard time limit, so a running item whose lease lapsed was abandoned.
Batch results fill only empty fields unless the job overwrites; every write goes through
`posts.services.post_update`, which keeps the previous text in the post's revisions and refuses to
write over an edit saved meanwhile.

Editors before batch work, across every process: editors' generations run in the web processes,
batch generations only on the Celery workers that consume the `ai` queue, where a process (or a
thread of the threads pool) runs one task at a time and an item's task runs one generation at a
time. So at most `AIWRITER_BATCH_CONCURRENCY` batch generations are upstream at once, site-wide:
it is the workers' concurrency (CELERY_WORKER_CONCURRENCY), and the site runs one worker on `ai`
(with several, the bound is the sum of their concurrencies). Kept below what the engines run in
parallel, batch work never holds every engine slot, so an editor's request starts at once instead
of waiting for a batch item to finish. The gateway's `Priority.BATCH` orders work only inside one
worker process; it is not what keeps editors first.
"""

import logging
import math
import uuid
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import dataclass, replace
from datetime import timedelta

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from kombu.exceptions import OperationalError

from posts.models import Post
from posts.services import PostConflict, PostError, post_update

from .. import services, worker
from ..engines import ContextTooLong, EngineError
from ..gateway import Priority
from ..models import BatchAction, BatchItem, BatchJob, ItemStatus, JobStatus, Outcome
from ..permissions import can_use_aiwriter
from ..protocol import GenerationRequest, RequestRefused
from . import alt_text, selectors
from .fields import FIELD_LABELS, TARGET_FIELDS, field_filled, field_value, field_with_article
from .metrics import items_processed_count
from .selectors import ACTIVE_JOB, UNFINISHED_ITEM
from .serializers import item_state, job_summary

logger = logging.getLogger(__name__)

# How often a post too long for the model is halved before it is refused (into 16 parts at most).
MAX_SUMMARY_SPLITS = 4
# The window of AIWRITER_BATCH_POSTS_PER_HOUR.
BUDGET_WINDOW = timedelta(hours=1)


class JobError(Exception):
    """A batch request refused; the message says why, for the person who made it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class JobLimitReached(JobError):
    """The user has as much batch work as they may have for now; the message says when more fits."""


class JobDuplicate(JobError):
    """The same job is still queued or running: `job` is that one."""

    def __init__(self, message: str, *, job: BatchJob) -> None:
        super().__init__(message)
        self.job = job


class JobsUnavailable(JobError):
    """The job queue (Celery's broker) did not take the job, so it was withdrawn: nothing was started."""


class ItemLeased(Exception):
    """Another delivery holds the item; try again once its lease may have lapsed."""

    def __init__(self, retry_in: float) -> None:
        super().__init__(f"Item held by another worker for {retry_in:.0f} more seconds.")
        self.retry_in = retry_in


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    status: str
    result: str = ""
    error: str = ""


# Starting and cancelling


@transaction.atomic
def batch_start(
    *, user, action: str, post_ids: list[int] | None = None, missing: bool = False, overwrite: bool = False
) -> BatchJob:
    """Create a job with one item per post and hand it to the workers once it is committed.

    Batch work has limits of its own, apart from the editor's generations per minute: at most
    AIWRITER_BATCH_MAX_ACTIVE_JOBS jobs queued or running per user, and at most
    AIWRITER_BATCH_POSTS_PER_HOUR posts taken on by a user's jobs in an hour (JobLimitReached).
    A job identical to one still pending is refused (JobDuplicate), so a retry after a lost answer
    does not start the work twice. When the job queue cannot take the job, it is withdrawn and
    JobsUnavailable is raised at commit (at once, unless a caller's transaction is still open).
    """
    if not can_use_aiwriter(user):
        raise JobError("Your account cannot use the AI writer. Ask an editor for the author role.")
    if not isinstance(action, str) or action not in TARGET_FIELDS:
        raise JobError(f"Unknown action {str(action)[:40]!r}. Choose one of: {', '.join(TARGET_FIELDS)}.")
    if action == BatchAction.ALT_TEXT:
        try:
            posts = alt_text.images_for_job(user=user, missing=missing, ids=post_ids, overwrite=overwrite)
        except alt_text.AltTextJobError as error:
            raise JobError(error.message) from None
    else:
        posts = _posts_for_job(user=user, action=action, post_ids=post_ids, missing=missing)
    if not posts:
        raise JobError(f"No post is missing its {FIELD_LABELS[TARGET_FIELDS[action]]}: there is nothing to do.")
    if len(posts) > settings.AIWRITER_BATCH_MAX_POSTS:
        raise JobError(f"A job may cover at most {settings.AIWRITER_BATCH_MAX_POSTS} posts; choose fewer.")
    selectors.user_lock(user=user)  # one start at a time per user, so two cannot both take the last place
    _check_limits(user=user, action=action, overwrite=overwrite, posts=posts)
    job = BatchJob.objects.create(user=user, action=action, overwrite=overwrite, total=len(posts))
    BatchItem.objects.bulk_create([_item(job=job, target=target) for target in posts])
    transaction.on_commit(lambda: _dispatch_or_withdraw(job.pk))
    return job


def _item(*, job: BatchJob, target) -> BatchItem:
    """The item for one post, or for one library image in an alt-text job."""
    if job.action == BatchAction.ALT_TEXT:
        return BatchItem(job=job, image=target, post_title=str(target)[:200])
    return BatchItem(job=job, post=target, post_title=target.title[:200])


def _check_limits(*, user, action: str, overwrite: bool, posts: list[Post]) -> None:
    active = selectors.jobs_active(user=user)
    same = selectors.job_covering(jobs=active, action=action, overwrite=overwrite, post_ids={p.pk for p in posts})
    if same is not None:
        status = same.get_status_display().lower()
        raise JobDuplicate(f"The same job is already {status} (job {same.pk}); follow it on the dashboard.", job=same)
    if len(active) >= settings.AIWRITER_BATCH_MAX_ACTIVE_JOBS:
        raise JobLimitReached(
            f"You already have {len(active)} batch jobs queued or running. Wait for one to finish, or cancel one."
        )
    since = timezone.now() - BUDGET_WINDOW
    taken, oldest = selectors.posts_taken_on(user=user, since=since)
    budget = settings.AIWRITER_BATCH_POSTS_PER_HOUR
    if taken + len(posts) > budget:
        minutes = max(1, math.ceil((oldest - since).total_seconds() / 60)) if oldest else 60
        raise JobLimitReached(
            f"Batch jobs may take on {budget:,} posts an hour; yours took on {taken:,} in the last hour and this "
            f"one has {len(posts):,}. Choose fewer posts, or try again in about {minutes} minutes."
        )


def _posts_for_job(*, user, action: str, post_ids: list[int] | None, missing: bool) -> list[Post]:
    if missing:
        return list(selectors.posts_missing(user=user, action=action).order_by("pk"))
    if not post_ids:
        raise JobError("Choose at least one post, or ask for all posts missing the field.")
    posts = selectors.posts_editable(user=user, post_ids=post_ids)
    unknown = sorted(set(post_ids) - {post.pk for post in posts})
    if unknown:
        listed = ", ".join(str(pk) for pk in unknown[:10])
        raise JobError(f"You cannot edit these posts, or they do not exist: {listed}.")
    return posts


def _dispatch_or_withdraw(job_id: int) -> None:
    """Hand the job to the workers, or withdraw it when the queue cannot take it.

    A job the queue never got would wait unseen until the resume found it stalled, many minutes
    later, and the user, told nothing, would start it again.
    """
    try:
        _enqueue_dispatch(job_id)
    except OperationalError:
        logger.warning("Batch job %s withdrawn: the job queue did not take it", job_id, exc_info=True)
        BatchJob.objects.filter(pk=job_id).delete()
        raise JobsUnavailable(
            "Batch jobs cannot start right now: the job queue is not answering. Nothing was started; "
            "try again in a minute."
        ) from None


def _enqueue_dispatch(job_id: int) -> None:
    from ..tasks import batch_job_dispatch  # tasks import this module

    batch_job_dispatch.delay(job_id)


def batch_dispatch(*, job_id: int) -> int:
    """Send one message per unfinished item; returns how many were sent.

    Sending again (a redelivered dispatch) is harmless: the claim lets only one delivery work on an item.
    """
    from ..tasks import batch_item_run

    item_ids = selectors.item_ids_unfinished(job_id=job_id)
    for item_id in item_ids:
        batch_item_run.delay(item_id)
    return len(item_ids)


def batch_jobs_resume(*, idle_seconds: float) -> list[int]:
    """Dispatch again the active jobs with no item started or finished for `idle_seconds`.

    Their messages may be gone: Redis, the broker, keeps no copy across a restart. A job that is
    merely slow gets duplicate messages, which its claims turn into no-ops. Returns the job ids.
    """
    job_ids = selectors.job_ids_stalled(idle_seconds=idle_seconds)
    for job_id in job_ids:
        batch_dispatch(job_id=job_id)
    return job_ids


def batch_cancel(*, job: BatchJob, by) -> BatchJob:
    """Stop the items not yet started; those running finish, so no post is left half-written."""
    if by.pk != job.user_id and not by.is_superuser:
        raise JobError("Only the person who started a job can cancel it.")
    with transaction.atomic():
        changed = BatchJob.objects.filter(pk=job.pk, status__in=ACTIVE_JOB).update(status=JobStatus.CANCELLED)
        if not changed:
            raise JobError("The job has already finished; there is nothing left to cancel.")
        BatchItem.objects.filter(job=job, status=ItemStatus.QUEUED).update(
            status=ItemStatus.CANCELLED, error="Cancelled before it started.", finished_at=timezone.now()
        )
    return progress_update(job_id=job.pk)


# Processing one item


def batch_item_process(*, item_id: int) -> str | None:
    """Run one item if it can be claimed; returns its final status, or None when there was nothing to do.

    Raises ItemLeased when another delivery holds it.
    """
    token = _claim(item_id=item_id)
    if token is None:
        return None
    item = BatchItem.objects.select_related("job__user", "post").get(pk=item_id)
    _job_mark_running(item.job)
    try:
        outcome = _outcome(item=item, token=token)
    except Exception:
        logger.exception("Batch item %s failed", item_id)
        outcome = ItemOutcome(ItemStatus.FAILED, error="The AI writer failed unexpectedly on this post.")
        _finish(item_id=item_id, token=token, outcome=outcome)
    progress_update(job_id=item.job_id, item_id=item_id)
    return outcome.status


def _claim(*, item_id: int) -> str | None:
    now = timezone.now()
    token = uuid.uuid4().hex
    lapsed = Q(status=ItemStatus.RUNNING, lease_until__lt=now)
    claimable = BatchItem.objects.filter(Q(status=ItemStatus.QUEUED) | lapsed, pk=item_id)
    claimed = claimable.filter(job__status__in=ACTIVE_JOB).update(
        status=ItemStatus.RUNNING,
        claim_token=token,
        lease_until=now + timedelta(seconds=settings.AIWRITER_BATCH_ITEM_LEASE_SECONDS),
        attempts=F("attempts") + 1,
        started_at=now,
    )
    if claimed:
        return token
    # An item abandoned by a dead worker after its job was cancelled ends here rather than run.
    if claimable.filter(job__status=JobStatus.CANCELLED).update(
        status=ItemStatus.CANCELLED, error="Cancelled before it finished.", finished_at=now, lease_until=None
    ):
        progress_update(job_id=BatchItem.objects.values_list("job_id", flat=True).get(pk=item_id), item_id=item_id)
    held = BatchItem.objects.filter(pk=item_id, status=ItemStatus.RUNNING, lease_until__gte=now).first()
    if held is not None:
        raise ItemLeased(retry_in=(held.lease_until - now).total_seconds() + 1)
    return None


def _job_mark_running(job: BatchJob) -> None:
    BatchJob.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=timezone.now()
    )


def _outcome(*, item: BatchItem, token: str) -> ItemOutcome:
    """Generate and write the item's text; every ending is recorded on the item."""
    if item.job.action == BatchAction.ALT_TEXT:
        return _image_outcome(item=item, token=token)
    post, job = item.post, item.job
    field = TARGET_FIELDS[job.action]
    if post is None:
        return _finish(item_id=item.pk, token=token, outcome=ItemOutcome(ItemStatus.SKIPPED, error="Post deleted."))
    if not job.overwrite and field_filled(post, field):
        outcome = ItemOutcome(ItemStatus.SKIPPED, error=f"Already has {field_with_article(field)}; left as it is.")
        return _finish(item_id=item.pk, token=token, outcome=outcome)
    version = post.version
    value = _generated_value(
        item=item,
        token=token,
        generate=lambda: generate_for_post(user=job.user, post=post, action=job.action, job_id=job.pk),
        subject="post",
    )
    if isinstance(value, ItemOutcome):
        return value
    return _write(item=item, token=token, version=version, value=value)


def _image_outcome(*, item: BatchItem, token: str) -> ItemOutcome:
    """An alt-text item: the image described by a vision model, written only while it has no alt text."""
    image, job = item.image, item.job
    if image is None or image.alt_text:
        error = "Image deleted." if image is None else "Already has alt text; left as it is."
        return _finish(item_id=item.pk, token=token, outcome=ItemOutcome(ItemStatus.SKIPPED, error=error))
    model = worker.run(alt_text.vision_model(), timeout=settings.AIWRITER_TIMEOUTS["first_token"])
    if model is None:
        outcome = ItemOutcome(ItemStatus.FAILED, error=alt_text.NO_VISION_MODEL)
        return _finish(item_id=item.pk, token=token, outcome=outcome)
    request = GenerationRequest(
        request_id=f"batch-{job.pk}-image-{image.pk}", action=job.action, text="", model=model, image_id=image.pk
    )
    value = _generated_value(
        item=item, token=token, generate=lambda: _generate(user=job.user, request=request), subject="image"
    )
    if isinstance(value, ItemOutcome):
        return value
    return _write_image(item=item, token=token, value=value)


def _generated_value(*, item: BatchItem, token: str, generate: Callable[[], str], subject: str) -> str | ItemOutcome:
    """The text `generate` gives, ready to write; or, when the AI writer refused, failed, ran out of
    time or gave nothing usable, the outcome recorded on the item. `subject` names what the item is
    about ("post", "image") in the message its owner reads."""
    try:
        text = generate()
    except RequestRefused as error:
        return _finish(item_id=item.pk, token=token, outcome=ItemOutcome(ItemStatus.SKIPPED, error=error.message))
    except EngineError as error:
        # Operators get the details; the item shows its owner plain words.
        logger.warning("Batch item %s failed on %s: %s", item.pk, error.host or "-", error.message)
        outcome = ItemOutcome(ItemStatus.FAILED, error=error.editor_message)
        return _finish(item_id=item.pk, token=token, outcome=outcome)
    except TimeoutError:
        error = f"The AI writer took too long on this {subject}."
        return _finish(item_id=item.pk, token=token, outcome=ItemOutcome(ItemStatus.FAILED, error=error))
    value = field_value(action=item.job.action, text=text)
    if not value:
        outcome = ItemOutcome(ItemStatus.FAILED, error="The AI writer returned no usable text.")
        return _finish(item_id=item.pk, token=token, outcome=outcome)
    return value


def _write_image(*, item: BatchItem, token: str, value: str) -> ItemOutcome:
    """Write the alt text and mark the item done together, or neither if the claim was lost meanwhile."""
    try:
        return _written(
            item=item,
            token=token,
            write=lambda: alt_text.alt_text_fill(image_id=item.image_id, by=item.job.user, text=value),
            result=value,
        )
    except alt_text.AltTextJobError as error:
        return _finish(item_id=item.pk, token=token, outcome=ItemOutcome(ItemStatus.SKIPPED, error=error.message))


def generate_for_post(*, user, post: Post, action: str, job_id: int) -> str:
    """The model's answer for one post, recorded as the editor's generations are.

    It streams on the worker process's event loop (aiwriter/worker.py), through the gateway that
    lives as long as the process, at batch priority; a thinking model's reasoning never reaches
    the text. A post too long for the model's context window is summarized in parts. Raises
    RequestRefused, EngineError, or TimeoutError past AIWRITER_TIMEOUTS["total"], which the
    item's lease outlasts.
    """
    request = GenerationRequest(request_id=f"batch-{job_id}-{post.pk}", action=action, text="", post_id=post.pk)
    try:
        return _generate(user=user, request=request)
    except ContextTooLong:
        if action != BatchAction.SUMMARIZE:
            raise
        return _summary_in_parts(user=user, request=request, text=post.body, depth=1)


def _summary_in_parts(*, user, request: GenerationRequest, text: str, depth: int) -> str:
    """Each half of `text` summarized (in halves again while still too long), then their summaries.

    Halving needs no tokenizer: the gateway knows the model's window and says when text does not
    fit. A text too long even after MAX_SUMMARY_SPLITS halvings is refused as too long.
    """
    halves = halves_of(text)
    if depth > MAX_SUMMARY_SPLITS or len(halves) < 2:
        raise ContextTooLong("This post is too long for the model to summarize, even in parts.")
    summaries = [
        _summary(
            user=user, request=replace(request, text=half, request_id=f"{request.request_id}-{depth}.{n}"), depth=depth
        )
        for n, half in enumerate(halves, start=1)
    ]
    return _summary(user=user, request=replace(request, text="\n\n".join(summaries)), depth=depth)


def _summary(*, user, request: GenerationRequest, depth: int) -> str:
    try:
        return _generate(user=user, request=request)
    except ContextTooLong:
        return _summary_in_parts(user=user, request=request, text=request.text, depth=depth + 1)


def _generate(*, user, request: GenerationRequest) -> str:
    prepared = async_to_sync(services.generation_prepare)(user=user, request=request)
    run = services.GenerationRun()
    try:
        worker.run(_completion_read(prepared=prepared, run=run), timeout=settings.AIWRITER_TIMEOUTS["total"])
    except EngineError as error:
        _record(user=user, prepared=prepared, run=run, outcome=Outcome.ERROR, error_code=error.code)
        raise
    except TimeoutError:
        _record(user=user, prepared=prepared, run=run, outcome=Outcome.ERROR, error_code="timeout")
        raise
    _record(user=user, prepared=prepared, run=run, outcome=Outcome.DONE)
    return "".join(run.text)


def halves_of(text: str) -> list[str]:
    """`text` in two parts of about equal length, split between paragraphs where it has them."""
    text = text.strip()
    middle = len(text) // 2
    cuts = [at for at in (text.rfind("\n\n", 0, middle), text.find("\n\n", middle)) if at > 0]
    cut = min(cuts, key=lambda at: abs(at - middle)) if cuts else text.rfind(" ", 0, middle)
    if cut <= 0:
        return [text]
    return [part for part in (text[:cut].strip(), text[cut:].strip()) if part]


async def _completion_read(*, prepared: services.PreparedGeneration, run: services.GenerationRun) -> None:
    """Streams the answer to its end; `run` keeps its text (the answer's only, never the thinking)."""
    async with aclosing(services.completion_pieces(prepared=prepared, run=run, priority=Priority.BATCH)) as pieces:
        async for _piece in pieces:
            pass


def _record(*, user, prepared: services.PreparedGeneration, run: services.GenerationRun, **outcome) -> None:
    services.generation_record(user=user, prepared=prepared, run=run, **outcome)


def _write(*, item: BatchItem, token: str, version: int, value: str | list[str]) -> ItemOutcome:
    """Write the post and mark the item done together, or neither if the claim was lost meanwhile."""
    job = item.job
    field = TARGET_FIELDS[job.action]
    result = ", ".join(value) if isinstance(value, list) else value
    try:
        return _written(
            item=item,
            token=token,
            write=lambda: _write_post(post=item.post, job=job, field=field, version=version, value=value),
            result=result,
        )
    except PostConflict:
        error = "The post was saved by someone else while the AI writer worked on it; left unchanged."
        return _finish(item_id=item.pk, token=token, outcome=ItemOutcome(ItemStatus.SKIPPED, error=error))
    except PostError as error:
        return _finish(item_id=item.pk, token=token, outcome=ItemOutcome(ItemStatus.FAILED, error=str(error)))


def _written(*, item: BatchItem, token: str, write: Callable[[], None], result: str) -> ItemOutcome:
    """Run `write` and mark the item done in one transaction, or neither if the claim was lost
    meanwhile (the item stays with the worker that holds it now). What `write` raises is the
    caller's to record; nothing is written then."""
    try:
        with transaction.atomic():
            write()
            outcome = ItemOutcome(ItemStatus.DONE, result=result)
            if not _mark(item_id=item.pk, token=token, outcome=outcome):
                raise _ClaimLost
    except _ClaimLost:
        logger.warning("Batch item %s was taken over by another worker; its result was dropped", item.pk)
        return ItemOutcome(ItemStatus.RUNNING)
    return outcome


class _ClaimLost(Exception):
    pass


def _write_post(*, post: Post, job: BatchJob, field: str, version: int, value: str | list[str]) -> None:
    note = f"AI batch job {job.pk}: {job.get_action_display().lower()}"
    if field == "tags":
        post_update(post=post, by=job.user, data={}, tag_names=value, expected_version=version, note=note)
    else:
        post_update(post=post, by=job.user, data={field: value}, expected_version=version, note=note)


def _finish(*, item_id: int, token: str, outcome: ItemOutcome) -> ItemOutcome:
    _mark(item_id=item_id, token=token, outcome=outcome)
    return outcome


def _mark(*, item_id: int, token: str, outcome: ItemOutcome) -> bool:
    """Record the item's ending if this claim still holds it, and count it for /metrics."""
    marked = bool(
        BatchItem.objects.filter(pk=item_id, status=ItemStatus.RUNNING, claim_token=token).update(
            status=outcome.status,
            result=outcome.result,
            error=outcome.error[:300],
            finished_at=timezone.now(),
            lease_until=None,
        )
    )
    if marked:
        items_processed_count(status=outcome.status)
    return marked


# Progress


def progress_update(*, job_id: int, item_id: int | None = None) -> BatchJob | None:
    """Recount the job's items, finish the job when none is left, and tell its owner."""
    _job_recount(job_id=job_id)
    job = BatchJob.objects.filter(pk=job_id).first()
    if job is not None:
        item = BatchItem.objects.filter(pk=item_id).first() if item_id else None
        progress_publish(job=job, item=item)
    return job


@transaction.atomic
def _job_recount(*, job_id: int) -> None:
    """Store the item counts, one recount of a job at a time.

    Workers finishing items at once would otherwise race: a recount read before another
    item finished could be written after that item's recount and leave a count behind.
    The job's row lock (a write lock from the start of the transaction on SQLite) orders them.
    """
    if not list(BatchJob.objects.select_for_update().filter(pk=job_id).values_list("pk", flat=True)):
        return
    counts = selectors.item_counts(job_id=job_id)
    BatchJob.objects.filter(pk=job_id).update(
        done_count=counts.get(ItemStatus.DONE, 0),
        skipped_count=counts.get(ItemStatus.SKIPPED, 0),
        failed_count=counts.get(ItemStatus.FAILED, 0),
        cancelled_count=counts.get(ItemStatus.CANCELLED, 0),
    )
    if not any(counts.get(status, 0) for status in UNFINISHED_ITEM):
        _job_finish(job_id=job_id, counts=counts)


def _job_finish(*, job_id: int, counts: dict[str, int]) -> None:
    failed_all = counts.get(ItemStatus.FAILED, 0) and not counts.get(ItemStatus.DONE, 0)
    status = JobStatus.FAILED if failed_all else JobStatus.DONE
    now = timezone.now()
    BatchJob.objects.filter(pk=job_id, status__in=ACTIVE_JOB).update(status=status, finished_at=now)
    BatchJob.objects.filter(pk=job_id, status=JobStatus.CANCELLED, finished_at__isnull=True).update(finished_at=now)


def user_group(user_id: int) -> str:
    """The channel-layer group of one user's open AI writer sockets, where their jobs' progress goes."""
    return f"aiwriter.user.{user_id}"


def progress_publish(*, job: BatchJob, item: BatchItem | None = None) -> None:
    """Push the job's state to its owner's sockets; progress stays readable over HTTP if this fails.

    The event that ends a job carries every item's final state, so a page that missed an item's
    own event (the queued items a cancel ends at once, a socket that reconnected) still matches
    the server without reading the job again.
    """
    event = {"type": "aiwriter.job_progress", "job": job_summary(job)}
    if item is not None:
        event["item"] = item_state(item)
    if job.finished_at is not None:
        event["items"] = [item_state(each) for each in job.items.order_by("pk")]
    try:
        async_to_sync(get_channel_layer().group_send)(user_group(job.user_id), event)
    except Exception:
        logger.warning("Progress of batch job %s not pushed", job.pk, exc_info=True)

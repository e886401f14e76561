"""Celery tasks for batch AI jobs (aiwriter/jobs/); all but the resume run on the `ai` queue.

Messages are acknowledged after the task ends and requeued if its worker dies, so no item is
lost; the item claims in jobs/services.py make a second delivery harmless. An item's task runs
one generation at a time, so the concurrency of the workers on `ai` (AIWRITER_BATCH_CONCURRENCY)
bounds the batch generations upstream, site-wide: that is what keeps editors ahead of batch work
(jobs/services.py says how). Each worker process streams through one gateway for its whole life
(aiwriter/worker.py, whose Celery signals are connected by importing it here).
"""

from celery import shared_task
from django.conf import settings

from . import worker  # noqa: F401 - connects each worker process's event loop to Celery's signals
from .jobs import services

AI_TASK_OPTIONS = {
    # Nothing reads these tasks' results. Storing them made each publish subscribe to the result
    # backend (Redis) first, which, with Redis down, retried for about 20 s before failing the request.
    "ignore_result": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    # The item's lease outlasts its hard limit, so a lapsed lease always means an abandoned item.
    "time_limit": settings.AIWRITER_BATCH_ITEM_LEASE_SECONDS - 5,
    "soft_time_limit": settings.AIWRITER_BATCH_ITEM_LEASE_SECONDS - 10,
}


@shared_task(**AI_TASK_OPTIONS)
def batch_job_dispatch(job_id: int) -> int:
    return services.batch_dispatch(job_id=job_id)


@shared_task(bind=True, max_retries=10, **AI_TASK_OPTIONS)
def batch_item_run(self, item_id: int) -> str | None:
    try:
        return services.batch_item_process(item_id=item_id)
    except services.ItemLeased as held:
        # Another delivery holds the item (or held it when its worker died): look again when its lease ends.
        raise self.retry(countdown=held.retry_in) from None


@shared_task(time_limit=120, soft_time_limit=100, ignore_result=True)
def batch_jobs_resume() -> list[int]:
    """Run by beat: jobs whose messages were lost (a broker restart) get them again."""
    return services.batch_jobs_resume(idle_seconds=settings.AIWRITER_BATCH_RESUME_AFTER_SECONDS)

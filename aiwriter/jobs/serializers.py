"""Jobs and items as JSON: the API's answers, the dashboard's panel and the progress events."""

from django.urls import reverse

from ..models import BatchItem, BatchJob


def job_summary(job: BatchJob) -> dict:
    return {
        "id": job.pk,
        "action": job.action,
        "action_label": job.get_action_display(),
        "overwrite": job.overwrite,
        "status": job.status,
        "status_label": job.get_status_display(),
        "total": job.total,
        "done": job.done_count,
        "skipped": job.skipped_count,
        "failed": job.failed_count,
        "cancelled": job.cancelled_count,
        "finished": job.finished_count,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        # A cancelled job still has its running items to finish: it has ended only once they have.
        "ended": job.finished_at is not None,
        "url": reverse("aiwriter:job", args=[job.pk]),
        "cancel_url": reverse("aiwriter:job_cancel", args=[job.pk]),
    }


def item_state(item: BatchItem) -> dict:
    return {
        "id": item.pk,
        "post_id": item.post_id,
        "image_id": item.image_id,
        "title": item.post_title,
        "status": item.status,
        "status_label": item.get_status_display(),
        "result": item.result,
        "error": item.error,
    }


def job_state(job: BatchJob) -> dict:
    """The job with every item, as `GET /aiwriter/jobs/<id>/` returns it."""
    return {**job_summary(job), "items": [item_state(item) for item in job.items.all()]}

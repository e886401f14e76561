"""What the dashboard's batch panel needs: the actions, and the user's latest job to show its progress."""

from django import template

from .. import jobs
from ..models import BatchAction

register = template.Library()


@register.simple_tag(takes_context=True)
def aiwriter_jobs_config(context) -> dict:
    user = context["request"].user
    latest = jobs.jobs_recent(user=user, limit=1).first()
    return {"actions": BatchAction.choices, "latest": jobs.job_summary(latest) if latest else None}

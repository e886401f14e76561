"""What the dashboard's batch panel needs: the actions, and the user's latest job to show its progress."""

from django import template

from ..jobs import selectors as job_selectors
from ..jobs import serializers as job_serializers
from ..models import BatchAction

register = template.Library()


@register.simple_tag(takes_context=True)
def aiwriter_jobs_config(context) -> dict:
    user = context["request"].user
    latest = job_selectors.jobs_recent(user=user, limit=1).first()
    return {"actions": BatchAction.choices, "latest": job_serializers.job_summary(latest) if latest else None}

"""Dates in the form HTML's <time datetime> accepts: whole seconds and an offset, as 2025-03-01T09:30:00+00:00.

Django's `date:'c'` keeps microseconds, which the HTML standard does not allow (three digits at most).
"""

from datetime import date, datetime

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def html_datetime(value: datetime | date | None) -> str:
    """An aware datetime in the current time zone, to the second; a date as it is; nothing for None."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        return value.replace(microsecond=0).isoformat()
    return value.isoformat()

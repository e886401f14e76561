"""Celery tasks for posts; beat runs `posts_publish_due` every minute (CELERY_BEAT_SCHEDULE)."""

import logging

from celery import shared_task
from django.core.cache import cache

from .services import posts_publish_due as publish_due

logger = logging.getLogger(__name__)

PUBLISH_LOCK = "posts:publish-due"


@shared_task(time_limit=55, soft_time_limit=50)
def posts_publish_due() -> int:
    """Mark due scheduled posts published; a second beat's run meanwhile does nothing."""
    lock = cache.lock(PUBLISH_LOCK, timeout=55, blocking=False)
    if not lock.acquire():
        logger.info("Scheduled publishing is already running elsewhere")
        return 0
    try:
        return len(publish_due())
    finally:
        lock.release()

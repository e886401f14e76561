"""Scheduled publishing by beat: due posts become published, once, and their pages refresh."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from posts import cache_keys
from posts.models import PostStatus
from posts.tasks import PUBLISH_LOCK, posts_publish_due
from tests.factories import PostFactory

pytestmark = pytest.mark.django_db


def scheduled(*, minutes: int, **kwargs):
    return PostFactory(status=PostStatus.SCHEDULED, published_at=timezone.now() + timedelta(minutes=minutes), **kwargs)


def test_due_scheduled_posts_become_published_and_later_ones_wait(author):
    due = scheduled(minutes=-2, author=author)
    later = scheduled(minutes=30, author=author)

    assert posts_publish_due() == 1

    due.refresh_from_db()
    later.refresh_from_db()
    assert due.status == PostStatus.PUBLISHED
    assert due.revisions.get().note == "published on schedule"
    assert later.status == PostStatus.SCHEDULED


def test_running_again_publishes_nothing_twice(author):
    post = scheduled(minutes=-1, author=author)
    published_at = post.published_at

    assert posts_publish_due() == 1
    assert posts_publish_due() == 0

    post.refresh_from_db()
    assert post.revisions.count() == 1
    assert post.published_at == published_at  # the time readers saw stays the post's date


def test_a_second_beat_skips_while_the_first_holds_the_lock(author):
    post = scheduled(minutes=-1, author=author)
    lock = cache.lock(PUBLISH_LOCK, timeout=30)
    assert lock.acquire(blocking=False)
    try:
        assert posts_publish_due() == 0
    finally:
        lock.release()

    post.refresh_from_db()
    assert post.status == PostStatus.SCHEDULED


def test_publishing_refreshes_the_post_page(author, django_capture_on_commit_callbacks):
    post = scheduled(minutes=-1, author=author, slug="on-time")
    before = cache_keys.versions_get([cache_keys.post_dep("on-time")])

    with django_capture_on_commit_callbacks(execute=True):
        posts_publish_due()

    assert cache_keys.versions_get([cache_keys.post_dep(post.slug)]) != before

"""Scheduled posts: what makes them public, and how long cached lists may keep a copy.

Design note. One mechanism makes a scheduled post public: time. The post has a public status
(`scheduled`, or `published`) and a `published_at` ahead, and Post.objects.published(), the one
definition of what readers may see, takes it in once that time has passed. Nothing has to run
at that moment; the caches only have to never keep a copy past it:

- every copy of a list (index, tag, author and search pages, feeds, sitemap, the sidebar, the
  rendered post lists and their counts) is kept at most until the next release after the
  moment its data was read (`lifetime`), so at a release those copies are gone and the next
  reader gets a render that includes the post;
- those copies are also stored under the schedule's version (cache_keys.SCHEDULE), which
  posts/signals.py bumps when a post enters the schedule or moves earlier in it: a copy whose
  lifetime was set before that release was known is never served again.

Post pages need neither: a post's own page is a 404 until its time (never stored), and no other
post's page changes when it goes out. The next release time comes from the database once per
process for each version of the schedule and each release that passes. The Celery beat task
(posts.tasks) later marks due posts `published` so that the editor and the admin say so; readers
never wait for it.
"""

import time
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class _Quiet:
    """No post goes public after `since` and before `release` (None: nothing is scheduled)."""

    schedule_version: str
    since: float
    release: float | None

    def covers(self, *, schedule_version: str, since: float) -> bool:
        return (
            self.schedule_version == schedule_version
            and self.since <= since
            and (self.release is None or since < self.release)
        )


# What this process last read of the schedule; replaced whole, so threads may share it.
_quiet: _Quiet | None = None


def lifetime(*, seconds: float, schedule_version: str, since: float) -> float:
    """How long a copy of a list may be kept: `seconds`, cut short at the next release (0: not at all).

    `since` is a time (epoch seconds) no later than the first read of the copy's data, and
    `schedule_version` was read with the copy's other versions, before this is called.
    """
    return _cut(seconds, next_release(schedule_version=schedule_version, since=since))


def known_lifetime(*, seconds: float, schedule_version: str, since: float) -> float | None:
    """`lifetime` without the database: None when the next release has to be read from it."""
    quiet = _quiet
    if quiet is None or not quiet.covers(schedule_version=schedule_version, since=since):
        return None
    return _cut(seconds, quiet.release)


def next_release(*, schedule_version: str, since: float) -> float | None:
    """When the first post set to go public after `since` does (epoch seconds), or None."""
    global _quiet
    quiet = _quiet
    if quiet is not None and quiet.covers(schedule_version=schedule_version, since=since):
        return quiet.release
    # Imported here: posts.cache_keys, and so this module, is loaded with the logging settings, before the models.
    from .models import Post

    after = datetime.fromtimestamp(since, UTC)
    at = Post.objects.going_public_after(after).order_by("published_at").values_list("published_at", flat=True).first()
    release = at.timestamp() if at is not None else None
    _quiet = _Quiet(schedule_version=schedule_version, since=since, release=release)
    return release


def _cut(seconds: float, release: float | None) -> float:
    if release is None:
        return seconds
    return max(0.0, min(seconds, release - time.time()))

"""Cache invalidation: each change readers can see refreshes exactly the pages that show it.

Pages and fragments are stored under versions (posts.cache_keys); these receivers bump the
versions of what changed. What shows what:
- a post's page: the post, its tags, its author's name and its approved comments (with their
  authors' names);
- list pages (index, tag, author, search) and the feeds: title, excerpt or body, date, author
  and tags of each public post; the sitemap: the URLs of public posts, tags and authors and
  when each post last changed;
- the sidebar on every list page: recent post titles and dates, and tag counts.
Changes are bumped once the transaction commits: bumping earlier would let a reader render
the old state under the new versions and keep it.
"""

from collections.abc import Iterable
from datetime import timedelta
from functools import partial

from django.db import transaction
from django.db.models import QuerySet
from django.db.models.signals import m2m_changed, post_save, pre_delete, pre_save
from django.dispatch import receiver
from django.utils import timezone

from accounts.signals import public_profile_changed

from . import cache_keys, selectors
from .cache_keys import FEEDS, INDEX, SEARCH, SIDEBAR, SITEMAP, author_dep, post_dep, tag_dep
from .models import Comment, CommentStatus, Post, PostStatus, Tag

LISTS = frozenset({INDEX, FEEDS, SEARCH})


def bump_after_commit(deps: Iterable[str]) -> None:
    deps = set(deps)
    if deps:
        transaction.on_commit(partial(cache_keys.versions_bump, deps))


def post_pages(post: Post) -> set[str]:
    """Everything that shows this public post, except the sitemap and sidebar (see their receivers)."""
    return {post_dep(post.slug), author_dep(post.author.username), *(tag_dep(t.slug) for t in post.tags.all()), *LISTS}


_STORED_FIELDS = ("slug", "title", "status", "published_at", "author__username")


def _stored(post: Post) -> dict | None:
    """The post as the database holds it (field values on the instance may not be parsed yet)."""
    return Post.objects.filter(pk=post.pk).values(*_STORED_FIELDS).first()


def _is_public(stored: dict) -> bool:
    """Post.is_public for a post as `_stored` read it."""
    public_status = stored["status"] in (PostStatus.PUBLISHED, PostStatus.SCHEDULED)
    return public_status and stored["published_at"] is not None and stored["published_at"] <= timezone.now()


def _public_posts(posts: QuerySet[Post]) -> QuerySet[Post]:
    return posts.published().select_related("author").prefetch_related("tags")


@receiver(pre_save, sender=Post, dispatch_uid="posts.cache.post_before_save")
def post_remember(sender, instance: Post, raw: bool = False, **kwargs) -> None:
    instance._cache_before = None if raw or instance.pk is None else _stored(instance)


@receiver(post_save, sender=Post, dispatch_uid="posts.cache.post_saved")
def post_saved(sender, instance: Post, raw: bool = False, **kwargs) -> None:
    before = instance.__dict__.pop("_cache_before", None)
    if raw:
        return
    after = _stored(instance)
    was_public = before is not None and _is_public(before)
    if _is_public(after) or was_public:
        deps = post_pages(instance) | {SITEMAP}  # the sitemap shows when each post last changed
        if before is not None:
            deps |= {post_dep(before["slug"]), author_dep(before["author__username"])}
        if _sidebar_changed(before, after):
            deps.add(SIDEBAR)
        bump_after_commit(deps)
    if PostStatus.SCHEDULED in (after["status"], before and before["status"]):
        transaction.on_commit(schedule_changed)


def _sidebar_changed(before: dict | None, after: dict) -> bool:
    """Recent posts show titles and dates; the tag cloud counts public posts."""
    if before is None or _is_public(before) != _is_public(after):
        return True
    return any(before[field] != after[field] for field in ("title", "slug", "published_at"))


@receiver(pre_delete, sender=Post, dispatch_uid="posts.cache.post_delete")
def post_deleted(sender, instance: Post, **kwargs) -> None:
    """Collected before the delete, while the post's tags are still there; bumped after commit."""
    stored = _stored(instance)
    if stored is not None and _is_public(stored):
        bump_after_commit(post_pages(instance) | {SITEMAP, SIDEBAR})
    if stored is not None and stored["status"] == PostStatus.SCHEDULED:
        transaction.on_commit(schedule_changed)


@receiver(m2m_changed, sender=Post.tags.through, dispatch_uid="posts.cache.post_tags_changed")
def post_tags_changed(sender, instance, action: str, reverse: bool, pk_set, **kwargs) -> None:
    """Tags added to or removed from posts, from either side (post.tags or tag.posts)."""
    if action == "pre_clear":
        related = instance.posts if reverse else instance.tags
        instance._cache_cleared = set(related.values_list("pk", flat=True))
        return
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    changed = instance.__dict__.pop("_cache_cleared", set()) if action == "post_clear" else set(pk_set or ())
    if reverse:
        posts, tag_slugs = _public_posts(Post.objects.filter(pk__in=changed)), {instance.slug}
    else:
        posts = [instance] if _is_public(_stored(instance)) else []
        tag_slugs = set(Tag.objects.filter(pk__in=changed).values_list("slug", flat=True))
    deps = {dep for post in posts for dep in post_pages(post)}
    if deps:  # the tag cloud's counts and the sitemap's tag list move with them
        bump_after_commit(deps | {tag_dep(slug) for slug in tag_slugs} | {SIDEBAR, SITEMAP})


@receiver(pre_save, sender=Tag, dispatch_uid="posts.cache.tag_before_save")
def tag_remember(sender, instance: Tag, raw: bool = False, **kwargs) -> None:
    instance._cache_before = None
    if not raw and instance.pk is not None:
        instance._cache_before = Tag.objects.filter(pk=instance.pk).values("name", "slug").first()


@receiver(post_save, sender=Tag, dispatch_uid="posts.cache.tag_saved")
def tag_saved(sender, instance: Tag, raw: bool = False, **kwargs) -> None:
    """A renamed tag: its page (old and new slug) and every page that shows it on a post."""
    before = instance.__dict__.pop("_cache_before", None)
    if raw or before is None or (before["name"], before["slug"]) == (instance.name, instance.slug):
        return
    bump_after_commit(_tag_pages(instance) | {tag_dep(before["slug"])})


@receiver(pre_delete, sender=Tag, dispatch_uid="posts.cache.tag_delete")
def tag_deleted(sender, instance: Tag, **kwargs) -> None:
    bump_after_commit(_tag_pages(instance))


def _tag_pages(tag: Tag) -> set[str]:
    deps = {dep for post in _public_posts(tag.posts.all()) for dep in post_pages(post)}
    return deps | {tag_dep(tag.slug), SIDEBAR, SITEMAP} if deps else {tag_dep(tag.slug)}


@receiver(pre_save, sender=Comment, dispatch_uid="posts.cache.comment_before_save")
def comment_remember(sender, instance: Comment, raw: bool = False, **kwargs) -> None:
    instance._cache_status_before = None
    if not raw and instance.pk is not None:
        instance._cache_status_before = Comment.objects.filter(pk=instance.pk).values_list("status", flat=True).first()


@receiver(post_save, sender=Comment, dispatch_uid="posts.cache.comment_saved")
def comment_saved(sender, instance: Comment, raw: bool = False, **kwargs) -> None:
    """Approved comments show on the post's page; a pending or rejected one changes nothing public."""
    before = instance.__dict__.pop("_cache_status_before", None)
    if not raw and CommentStatus.APPROVED in (instance.status, before):
        bump_after_commit({post_dep(instance.post.slug)})


@receiver(pre_delete, sender=Comment, dispatch_uid="posts.cache.comment_delete")
def comment_deleted(sender, instance: Comment, origin=None, **kwargs) -> None:
    # When the post itself is deleted, its own receiver refreshes its page.
    post_deleted_too = isinstance(origin, Post) or (isinstance(origin, QuerySet) and origin.model is Post)
    if instance.status == CommentStatus.APPROVED and not post_deleted_too:
        bump_after_commit({post_dep(instance.post.slug)})


@receiver(public_profile_changed, dispatch_uid="posts.cache.profile_changed")
def profile_changed(sender, user, previous_username: str, name_changed: bool, **kwargs) -> None:
    """The author page shows name, bio and avatar; posts, lists, feeds and comments show the name."""
    deps = {author_dep(user.username), author_dep(previous_username)}
    if name_changed:
        deps |= {dep for post in _public_posts(user.posts.all()) for dep in post_pages(post)}
        commented = Post.objects.filter(comments__author=user, comments__status=CommentStatus.APPROVED)
        deps |= {post_dep(slug) for slug in commented.values_list("slug", flat=True).distinct()}
    if user.username != previous_username:
        deps.add(SITEMAP)  # it lists author pages by username
    bump_after_commit(deps)


def schedule_changed() -> None:
    """A post was scheduled, rescheduled or left the schedule: record the next release time."""
    now = timezone.now()
    at = selectors.post_next_release_at(after=now)
    cache_keys.next_release_set(at=at.timestamp() if at else None, now=now.timestamp(), full_schedule=False)


def scheduled_posts_release() -> None:
    """Refresh the pages of posts whose scheduled time has come, and record the next release time.

    Run by the page cache when the recorded time has passed or is unknown. Posts released
    within the last page lifetime are covered, so a release missed while nobody asked for a
    page is still made before a copy older than it could be served.
    """
    now = timezone.now()
    since = now - timedelta(seconds=cache_keys.page_seconds())
    deps = {dep for post in selectors.post_list_released(since=since, until=now) for dep in post_pages(post)}
    cache_keys.versions_bump(deps | {SIDEBAR, SITEMAP} if deps else ())
    at = selectors.post_next_release_at(after=now)
    cache_keys.next_release_set(at=at.timestamp() if at else None, now=now.timestamp(), full_schedule=True)

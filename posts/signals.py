"""Cache invalidation: each change readers can see refreshes exactly the pages that show it.

Pages and fragments are stored under versions (posts.cache_keys); these receivers bump the
versions of what changed. They listen to the events the services send (posts.events, and
accounts.events for people), which carry the state before and after the write, so no row is
read again to find out what changed. What shows what:
- a post's page: the post, its tags, its author's name and its approved comments (with their
  authors' names), and when it last changed;
- list pages (index, tag, author, search): title, excerpt or body, date, author and tags of each
  public post; the feeds: the same and when each post last changed; the sitemap: the URLs of
  public posts, tags and authors and when each post last changed;
- the sidebar on every list page: the five newest posts' titles and dates, and tag counts;
- a post's page also shows its library images (files and alt text), its cover image, and in its
  link previews the site's default image when it has no cover.
Lists also follow the schedule of releases (posts/releases.py). Changes are bumped once the
transaction commits: bumping earlier would let a reader render the old state under the new
versions and keep it.
"""

from collections.abc import Iterable
from functools import partial
from operator import attrgetter

from django.db import transaction
from django.db.models import QuerySet
from django.dispatch import receiver

from accounts.events import public_profile_changed, public_profile_removed

from . import cache_keys, events, selectors
from .cache_keys import FEEDS, INDEX, SCHEDULE, SEARCH, SIDEBAR, SITEMAP, author_dep, post_dep, tag_dep
from .events import PostState
from .images.models import ImageRole
from .models import CommentStatus, Post

LISTS = frozenset({INDEX, FEEDS, SEARCH})
# What list pages show of a post; a change to anything else shows on its page only.
_LISTED = attrgetter("slug", "title", "excerpt", "body_html", "published_at", "author_username", "tag_slugs")


def bump_after_commit(deps: Iterable[str]) -> None:
    deps = set(deps)
    if deps:
        transaction.on_commit(partial(cache_keys.versions_bump, deps))


def shown_in(state: PostState) -> set[str]:
    """Every page that shows this public post, except the sitemap and the sidebar."""
    return {post_dep(state.slug), author_dep(state.author_username), *map(tag_dep, state.tag_slugs), *LISTS}


def post_pages(post: Post) -> set[str]:
    """shown_in() for a public post read from the database."""
    return {post_dep(post.slug), author_dep(post.author.username), *(tag_dep(t.slug) for t in post.tags.all()), *LISTS}


def _public_posts(posts: QuerySet[Post]) -> QuerySet[Post]:
    return posts.published().select_related("author").prefetch_related("tags")


@receiver(events.post_changed, dispatch_uid="posts.cache.post_changed")
def post_changed(sender, post: Post, before: PostState | None, after: PostState | None, **kwargs) -> None:
    shown = [state for state in (before, after) if state is not None and state.public]
    deps = set()
    if shown:
        # Every save changes when the post last changed: on its page, in the feeds and the sitemap.
        deps = {FEEDS, SITEMAP, *(post_dep(state.slug) for state in shown)}
        if len(shown) == 1 or _LISTED(before) != _LISTED(after):
            deps |= {dep for state in shown for dep in shown_in(state)}
        if _sidebar_changed(post, before, after):
            deps.add(SIDEBAR)
    if _release_earlier(before, after):
        deps.add(SCHEDULE)
    bump_after_commit(deps)


def _sidebar_changed(post: Post, before: PostState | None, after: PostState | None) -> bool:
    """Recent posts show the newest posts' titles and dates; the tag cloud counts public posts' tags."""
    if before is None or after is None or before.public != after.public:
        return True
    if before.tag_slugs != after.tag_slugs or before.published_at != after.published_at:
        return True
    if (before.title, before.slug) == (after.title, after.slug):
        return False
    return selectors.post_is_recent(post=post)  # its date did not change, so neither did its place


def _release_earlier(before: PostState | None, after: PostState | None) -> bool:
    """A release the cached lists' lifetimes do not know of: a post newly scheduled, or moved earlier."""
    new = after.release_at if after is not None else None
    old = before.release_at if before is not None else None
    return new is not None and (old is None or new < old)


@receiver(events.tag_changed, dispatch_uid="posts.cache.tag_changed")
def tag_changed(sender, tag, before: events.TagState | None, after: events.TagState | None, **kwargs) -> None:
    """A renamed or deleted tag: its page (old and new slug) and every page that shows it on a post."""
    if before == after:
        return
    deps = {tag_dep(state.slug) for state in (before, after) if state is not None}
    public = [dep for post in _public_posts(tag.posts.all()) for dep in post_pages(post)]
    if public:  # the tag cloud and the sitemap list it
        deps |= {*public, SIDEBAR, SITEMAP}
    bump_after_commit(deps)


@receiver(events.comment_changed, dispatch_uid="posts.cache.comment_changed")
def comment_changed(sender, post_slug: str, shown_before: bool, shown_after: bool, **kwargs) -> None:
    """Approved comments show on the post's page; a pending or rejected one changes nothing public."""
    if shown_before or shown_after:
        bump_after_commit({post_dep(post_slug)})


@receiver(public_profile_changed, dispatch_uid="posts.cache.profile_changed")
def profile_changed(sender, user, previous_username: str, name_changed: bool, **kwargs) -> None:
    """The author page shows name, bio and avatar; posts, lists, feeds and comments show the name."""
    deps = {author_dep(user.username), author_dep(previous_username)}
    if name_changed:
        deps |= {dep for post in _public_posts(user.posts.all()) for dep in post_pages(post)}
        deps |= _commented_on(user)
    if user.username != previous_username:
        deps.add(SITEMAP)  # it lists author pages by username
    bump_after_commit(deps)


@receiver(public_profile_removed, dispatch_uid="posts.cache.profile_removed")
def profile_removed(sender, user, **kwargs) -> None:
    """A person's approved comments go with their account (their posts keep it from being deleted)."""
    bump_after_commit(_commented_on(user))


def _commented_on(user) -> set[str]:
    commented = Post.objects.filter(comments__author=user, comments__status=CommentStatus.APPROVED)
    return {post_dep(slug) for slug in commented.values_list("slug", flat=True).distinct()}


@receiver(events.image_changed, dispatch_uid="posts.cache.image_changed")
def image_changed(sender, image, **kwargs) -> None:
    """An image's file or alt text: the pages of the public posts that show it, in the body or as cover."""
    slugs = Post.objects.published().filter(image_uses__image=image).values_list("slug", flat=True).distinct()
    bump_after_commit({post_dep(slug) for slug in slugs})


@receiver(events.post_cover_changed, dispatch_uid="posts.cache.post_cover_changed")
def post_cover_changed(sender, post: Post, **kwargs) -> None:
    if post.is_public:
        bump_after_commit({post_dep(post.slug)})


@receiver(events.site_default_image_changed, dispatch_uid="posts.cache.site_default_image_changed")
def site_default_image_changed(sender, **kwargs) -> None:
    """Link previews of public posts with no cover image of their own show the site's default."""
    uncovered = Post.objects.published().filter(cover_image_url="").exclude(image_uses__role=ImageRole.COVER)
    bump_after_commit({post_dep(slug) for slug in uncovered.values_list("slug", flat=True)})

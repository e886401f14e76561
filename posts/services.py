"""Writes to posts, tags, comments and revisions. Views, forms, the admin and tasks call these.

Each write sends its event (posts.events) with what readers saw before and see after; the
cache invalidation in posts/signals.py listens to those.
"""

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from blogsite.text import without_control_characters

from . import events, permissions
from .editing_sessions import saved_since_only_by
from .markdown import MarkdownTooCostly, render_comment_markdown, render_markdown
from .models import PUBLIC_STATUSES, ChangeRequest, Comment, CommentStatus, Post, PostStatus, Revision, Tag
from .slugs import unique_slug

EDITABLE_FIELDS = (
    "title",
    "body",
    "excerpt",
    "cover_image_url",
    "meta_title",
    "meta_description",
    "canonical_url",
)


# Fields that may hold several lines; the rest are one line each.
MULTILINE_FIELDS = frozenset({"body", "excerpt"})


def _clean_text(data: dict) -> dict:
    """The post's text fields in `data` without control characters (blogsite/text.py)."""
    return {
        field: without_control_characters(value, multiline=field in MULTILINE_FIELDS)
        if field in (*EDITABLE_FIELDS, "slug") and isinstance(value, str)
        else value
        for field, value in data.items()
    }


class PostError(Exception):
    """A write that cannot be done; the message is meant for the person who asked."""


class PostConflict(PostError):
    """The post changed since the editor opened it. `current` is the newer version."""

    def __init__(self, current: Post):
        self.current = current
        super().__init__(
            f"This post was saved by someone else (version {current.version}) after you opened it. "
            "Your text is still in the form: compare it with the newer version below, then save again."
        )


def _require(allowed: bool, message: str) -> None:
    if not allowed:
        raise PermissionDenied(message)


def _clean_title(title: str) -> str:
    title = (title or "").strip()
    if not title:
        raise PostError("A post needs a title that is not only spaces.")
    return title


def _check_body_size(body: str) -> None:
    if len((body or "").encode()) > settings.POST_BODY_MAX_BYTES:
        raise PostError(f"The body is larger than {settings.POST_BODY_MAX_BYTES // 1_000_000} MB; split the post.")


def tags_from_names(names: Iterable[str]) -> list[Tag]:
    """The tags with these names, created when new; blank and repeated names are ignored."""
    tags: dict[str, Tag] = {}
    for raw in names:
        name = " ".join(without_control_characters(raw).split())[:60]
        if not name or name.lower() in tags:
            continue
        tag = Tag.objects.filter(name__iexact=name).first()
        if tag is None:
            tag = Tag.objects.create(name=name, slug=unique_slug(Tag, name, max_length=80))
        tags[name.lower()] = tag
    return list(tags.values())


def revision_create(*, post: Post, by, note: str = "", editing_session: str = "") -> Revision:
    """A snapshot of every field an editor can change, so restoring it brings all of them back."""
    return Revision.objects.create(
        post=post,
        version=post.version,
        **{field: getattr(post, field) for field in (*EDITABLE_FIELDS, "slug")},
        tag_names=sorted(post.tags.values_list("name", flat=True)),
        status=post.status,
        created_by=by if getattr(by, "is_authenticated", False) else None,
        note=note[:120],
        editing_session=editing_session,
    )


def _state(post: Post, *, tag_slugs: frozenset[str] | None = None) -> events.PostState:
    """What readers see of `post` now; its tags are read only when it is public and `tag_slugs` is not given."""
    public = post.is_public
    ahead = post.status in PUBLIC_STATUSES and post.published_at is not None and post.published_at > timezone.now()
    state = events.PostState(
        slug=post.slug,
        title=post.title,
        excerpt=post.excerpt,
        body_html=post.body_html,
        published_at=post.published_at,
        public=public,
        release_at=post.published_at if ahead else None,
    )
    if not public:
        return state
    if tag_slugs is None:
        tag_slugs = frozenset(post.tags.values_list("slug", flat=True))
    return replace(state, author_username=post.author.username, tag_slugs=tag_slugs)


def _rendered(render, text: str) -> str:
    try:
        return render(text)
    except MarkdownTooCostly as costly:
        raise PostError(str(costly)) from costly


def _save(
    post: Post,
    *,
    by,
    note: str,
    before: events.PostState | None,
    tags: list[Tag] | None = None,
    editing_session: str = "",
) -> Post:
    """Every save goes through here: render, bump the version, snapshot a revision, tell what changed."""
    post.body_html = _rendered(render_markdown, post.body)
    post.version = (post.version or 0) + 1 if post.pk else 1
    post.save()
    if tags is not None:
        post.tags.set(tags)
    revision_create(post=post, by=by, note=note, editing_session=editing_session)
    if tags is not None:
        tag_slugs = frozenset(tag.slug for tag in tags)
    else:
        tag_slugs = before.tag_slugs if before is not None and before.public else None
    after = _state(post, tag_slugs=tag_slugs)
    events.post_changed.send(sender=Post, post=post, before=before, after=after)
    return post


@transaction.atomic
def post_create(*, author, data: dict, tag_names: Iterable[str] = (), by=None, editing_session: str = "") -> Post:
    by = by or author
    _require(permissions.can_write_posts(by), "You are not allowed to write posts.")
    data = _clean_text(data)
    title = _clean_title(data.get("title", ""))
    _check_body_size(data.get("body", ""))
    post = Post(author=author, **{f: data[f] for f in EDITABLE_FIELDS if f in data})
    post.title = title
    post.slug = unique_slug(Post, data.get("slug") or title)
    post.version = 0
    return _save(
        post, by=by, note="created", before=None, tags=tags_from_names(tag_names), editing_session=editing_session
    )


@transaction.atomic
def post_update(
    *,
    post: Post,
    by,
    data: dict,
    expected_version: int,
    tag_names: Iterable[str] | None = None,
    note: str = "saved",
    editing_session: str = "",
) -> Post:
    """Save an edit made on top of `expected_version`; refuse it if the post moved on since.

    `editing_session` names the editor page (one browser tab) the edit comes from; it is kept
    on the revision, so that page's later saves build on it: versions saved since
    `expected_version` by the same person from the same page are no conflict (saved_since_only_by).
    """
    current = Post.objects.select_for_update().get(pk=post.pk)
    _require(permissions.can_edit_post(by, current), "You are not allowed to edit this post.")
    if current.version != expected_version and not saved_since_only_by(
        current, by=by, editing_session=editing_session, version=expected_version
    ):
        raise PostConflict(current)
    before = _state(current)
    data = _clean_text(data)
    if "title" in data:
        data = {**data, "title": _clean_title(data["title"])}
    _check_body_size(data.get("body", ""))
    for field in EDITABLE_FIELDS:
        if field in data:
            setattr(current, field, data[field])
    if data.get("slug") and data["slug"] != current.slug:
        current.slug = unique_slug(Post, data["slug"], exclude_pk=current.pk)
    elif not current.has_been_published and "title" in data and not data.get("slug"):
        current.slug = unique_slug(Post, current.title, exclude_pk=current.pk)
    tags = tags_from_names(tag_names) if tag_names is not None else None
    _save(current, by=by, note=note, before=before, tags=tags, editing_session=editing_session)
    post.refresh_from_db()
    return current


def status_changes_for(post: Post | None) -> list[str]:
    """The status changes that make sense for a post in its state (None: not saved yet).

    Values are "publish", "schedule", "unpublish" and "archive", in that order; the editor and
    the admin offer these and no others.
    """
    status = post.status if post is not None else PostStatus.DRAFT
    changes = []
    if status != PostStatus.PUBLISHED:
        changes.append("publish")
    if status in (PostStatus.DRAFT, PostStatus.REVIEW, PostStatus.SCHEDULED):
        changes.append("schedule")
    if status in (PostStatus.PUBLISHED, PostStatus.SCHEDULED):
        changes.append("unpublish")
    if post is not None and status != PostStatus.ARCHIVED:
        changes.append("archive")
    return changes


def _set_status(post: Post, *, by, status: str, published_at: datetime | None, note: str) -> Post:
    current = Post.objects.select_for_update().get(pk=post.pk)
    before = _state(current)
    current.status = status
    current.published_at = published_at
    _save(current, by=by, note=note, before=before)
    post.refresh_from_db()
    return current


@transaction.atomic
def post_submit_for_review(*, post: Post, by) -> Post:
    _require(permissions.can_edit_post(by, post), "You are not allowed to edit this post.")
    if post.status not in (PostStatus.DRAFT, PostStatus.REVIEW):
        raise PostError("Only drafts can be submitted for review.")
    submitted = _set_status(post, by=by, status=PostStatus.REVIEW, published_at=post.published_at, note="submitted")
    # Submitting again answers the changes an editor asked for: their notes are settled.
    ChangeRequest.objects.open().filter(post=submitted).update(resolved_at=timezone.now())
    return submitted


CHANGE_REQUEST_NOTE_MAX_CHARS = 2000


@transaction.atomic
def post_request_changes(*, post: Post, by, note: str) -> ChangeRequest:
    """Send a post in review back to its author as a draft, with a note on what to change.

    The note stays open, shown to the author, until the post is submitted for review again.
    """
    _require(permissions.can_publish(by), "Only editors can send a post back to its author.")
    note = without_control_characters(note or "").strip()
    if not note:
        raise PostError("Write what the author should change; the note cannot be empty.")
    if len(note) > CHANGE_REQUEST_NOTE_MAX_CHARS:
        raise PostError(f"The note is limited to {CHANGE_REQUEST_NOTE_MAX_CHARS} characters; it has {len(note)}.")
    if Post.objects.select_for_update().get(pk=post.pk).status != PostStatus.REVIEW:
        raise PostError("Only a post in review can be sent back to its author; this one is not in review any more.")
    returned = _set_status(
        post, by=by, status=PostStatus.DRAFT, published_at=post.published_at, note="changes requested"
    )
    return ChangeRequest.objects.create(post=returned, requested_by=by, note=note, version=returned.version)


@transaction.atomic
def post_publish(*, post: Post, by, at: datetime | None = None) -> Post:
    """Publish now, or schedule when `at` is in the future."""
    _require(permissions.can_publish(by), "Only editors can publish posts.")
    now = timezone.now()
    if at is not None and at > now:
        return _set_status(post, by=by, status=PostStatus.SCHEDULED, published_at=at, note="scheduled")
    keep_date = post.published_at is not None and post.published_at <= now
    published_at = post.published_at if keep_date else (at or now)
    return _set_status(post, by=by, status=PostStatus.PUBLISHED, published_at=published_at, note="published")


@transaction.atomic
def post_unpublish(*, post: Post, by) -> Post:
    """Back to draft. published_at is kept so the slug, and links to the post, stay put."""
    _require(permissions.can_publish(by), "Only editors can unpublish posts.")
    return _set_status(post, by=by, status=PostStatus.DRAFT, published_at=post.published_at, note="unpublished")


@transaction.atomic
def post_archive(*, post: Post, by) -> Post:
    _require(permissions.can_publish(by), "Only editors can archive posts.")
    return _set_status(post, by=by, status=PostStatus.ARCHIVED, published_at=post.published_at, note="archived")


def posts_publish_due(*, now: datetime | None = None) -> list[Post]:
    """Mark scheduled posts whose time has come as published.

    Readers see such posts already (`Post.objects.published()` filters on time, posts/releases.py);
    this makes the status say so in the editor and the admin. Each post is checked again under its
    row lock, so a second run publishes nothing twice.
    """
    now = now or timezone.now()
    due = Post.objects.filter(status=PostStatus.SCHEDULED, published_at__lte=now).values_list("pk", flat=True)
    return [post for pk in list(due) if (post := _publish_if_due(pk=pk, now=now)) is not None]


@transaction.atomic
def _publish_if_due(*, pk: int, now: datetime) -> Post | None:
    post = Post.objects.select_for_update().filter(pk=pk, status=PostStatus.SCHEDULED, published_at__lte=now).first()
    if post is None:
        return None
    before = _state(post)
    post.status = PostStatus.PUBLISHED
    return _save(post, by=None, note="published on schedule", before=before)


@transaction.atomic
def post_delete(*, post: Post, by) -> None:
    """Delete a post with its comments and revisions."""
    _require(by.has_perm("posts.delete_post"), "You are not allowed to delete posts.")
    current = Post.objects.select_for_update().get(pk=post.pk)
    before = _state(current)
    current.delete()
    events.post_changed.send(sender=Post, post=current, before=before, after=None)


AUTOSAVE_NOTE = "autosave"
# Autosaves by one person within this window share one revision: the history keeps a
# checkpoint every few minutes of typing rather than one per pause.
AUTOSAVE_REVISION_WINDOW = timedelta(minutes=5)


def post_differs(*, post: Post, data: dict, tag_names: Iterable[str] | None = None) -> bool:
    """Whether saving `data` and `tag_names` would change the post, so unchanged saves can be skipped."""
    data = _clean_text(data)
    if any(field in data and (data[field] or "") != (getattr(post, field) or "") for field in EDITABLE_FIELDS):
        return True
    if not post.has_been_published and "slug" in data:
        wanted = data["slug"] or unique_slug(Post, data.get("title") or post.title, exclude_pk=post.pk)
        if wanted != post.slug:
            return True
    if tag_names is None:
        return False
    wanted_tags = {" ".join(without_control_characters(name).split())[:60].lower() for name in tag_names} - {""}
    return wanted_tags != {name.lower() for name in post.tags.values_list("name", flat=True)}


def _reusable_autosave(post: Post, *, by, editing_session: str) -> Revision | None:
    latest = post.revisions.filter(version=post.version).first()
    if latest is None or latest.note != AUTOSAVE_NOTE or latest.created_by_id != by.pk:
        return None
    if latest.editing_session != editing_session:
        return None
    return latest if latest.created_at >= timezone.now() - AUTOSAVE_REVISION_WINDOW else None


@transaction.atomic
def post_autosave(
    *,
    post: Post,
    by,
    data: dict,
    expected_version: int,
    tag_names: Iterable[str] | None = None,
    editing_session: str = "",
) -> Post:
    """Save what an editor is typing: drafts only, and only when something changed.

    Text based on an older version is saved when it equals what the post holds (nothing to
    overwrite; the answer carries the current version), or when every newer version came from
    the same person's same editor page (saved_since_only_by): a page reloaded while its last
    autosave was on its way never conflicts with itself. Those versions keep their revisions,
    so nothing typed is lost. Anything else is a conflict.

    When the latest revision is this page's autosave from within AUTOSAVE_REVISION_WINDOW,
    the new text replaces it (keeping its start time) instead of adding one more revision.
    """
    current = Post.objects.select_for_update().get(pk=post.pk)
    _require(permissions.can_edit_post(by, current), "You are not allowed to edit this post.")
    if current.status not in (PostStatus.DRAFT, PostStatus.REVIEW):
        if current.version != expected_version:
            raise PostConflict(current)
        raise PostError("Only drafts are saved automatically; press Save to change a post readers can see.")
    if not post_differs(post=current, data=data, tag_names=tag_names):
        return current
    # post_update refuses text based on an older version unless saved_since_only_by allows it.
    rebased = current.version != expected_version
    replaced = None if rebased else _reusable_autosave(current, by=by, editing_session=editing_session)
    saved = post_update(
        post=current,
        by=by,
        data=data,
        expected_version=expected_version,
        tag_names=tag_names,
        note=AUTOSAVE_NOTE,
        editing_session=editing_session,
    )
    if replaced is not None:
        Revision.objects.filter(post=saved, version=saved.version).update(created_at=replaced.created_at)
        replaced.delete()
    post.refresh_from_db()
    return saved


@transaction.atomic
def revision_restore(*, revision: Revision, by, expected_version: int) -> Post:
    """Bring back an earlier state as a new version; nothing in between is lost.

    Fields a revision did not keep (None: saved before they were) keep their current values, and
    the slug comes back only while the post has never been published, so its links keep working.
    """
    data = {field: getattr(revision, field) for field in EDITABLE_FIELDS if getattr(revision, field) is not None}
    if revision.slug and not revision.post.has_been_published:
        data["slug"] = revision.slug
    return post_update(
        post=revision.post,
        by=by,
        expected_version=expected_version,
        data=data,
        tag_names=revision.tag_names,
        note=f"restored version {revision.version}",
    )


def comment_create(*, post: Post, author, body: str) -> Comment:
    _require(permissions.can_comment(author), "Sign in to comment.")
    body = without_control_characters(body).strip()
    if not body:
        raise PostError("A comment cannot be empty.")
    if len(body) > settings.COMMENT_BODY_MAX_CHARS:
        raise PostError(f"Comments are limited to {settings.COMMENT_BODY_MAX_CHARS} characters.")
    if not post.is_public:
        raise PostError("This post does not take comments.")
    status = CommentStatus.APPROVED if permissions.can_moderate_comments(author) else CommentStatus.PENDING
    comment = Comment.objects.create(
        post=post, author=author, body=body, body_html=_rendered(render_comment_markdown, body), status=status
    )
    _comment_changed(comment, post_slug=post.slug, shown_before=False)
    return comment


@transaction.atomic
def comment_moderate(*, comment: Comment, by, status: str) -> Comment:
    _require(permissions.can_moderate_comments(by), "Only editors can moderate comments.")
    if status not in CommentStatus.values:
        raise PostError("Unknown comment status.")
    current = Comment.objects.select_for_update().get(pk=comment.pk)
    shown_before = current.status == CommentStatus.APPROVED
    current.status = comment.status = status
    current.moderated_by, current.moderated_at = by, timezone.now()
    comment.moderated_by, comment.moderated_at = current.moderated_by, current.moderated_at
    current.save(update_fields=["status", "moderated_by", "moderated_at"])
    _comment_changed(current, post_slug=current.post.slug, shown_before=shown_before)
    return current


@transaction.atomic
def comment_delete(*, comment: Comment, by) -> None:
    _require(by.has_perm("posts.delete_comment"), "You are not allowed to delete comments.")
    current = Comment.objects.select_related("post").get(pk=comment.pk)
    current.delete()
    shown_before = current.status == CommentStatus.APPROVED
    events.comment_changed.send(
        sender=Comment, comment=current, post_slug=current.post.slug, shown_before=shown_before, shown_after=False
    )


def _comment_changed(comment: Comment, *, post_slug: str, shown_before: bool) -> None:
    shown_after = comment.status == CommentStatus.APPROVED
    events.comment_changed.send(
        sender=Comment, comment=comment, post_slug=post_slug, shown_before=shown_before, shown_after=shown_after
    )


@transaction.atomic
def tag_create(*, by, name: str, slug: str) -> Tag:
    _require(by.has_perm("posts.add_tag"), "You are not allowed to add tags.")
    tag = Tag.objects.create(name=without_control_characters(name, multiline=False), slug=slug)
    events.tag_changed.send(sender=Tag, tag=tag, before=None, after=events.TagState(name=tag.name, slug=tag.slug))
    return tag


@transaction.atomic
def tag_update(*, tag: Tag, by, name: str, slug: str) -> Tag:
    """Rename a tag, or change its slug (and so its page's URL)."""
    _require(by.has_perm("posts.change_tag"), "You are not allowed to change tags.")
    current = Tag.objects.select_for_update().get(pk=tag.pk)
    before = events.TagState(name=current.name, slug=current.slug)
    name = without_control_characters(name, multiline=False)
    current.name, current.slug = name, slug
    current.save()
    events.tag_changed.send(sender=Tag, tag=current, before=before, after=events.TagState(name=name, slug=slug))
    return current


@transaction.atomic
def tag_delete(*, tag: Tag, by) -> None:
    """Delete a tag; the posts that carried it lose it."""
    _require(by.has_perm("posts.delete_tag"), "You are not allowed to delete tags.")
    events.tag_changed.send(sender=Tag, tag=tag, before=events.TagState(name=tag.name, slug=tag.slug), after=None)
    tag.delete()

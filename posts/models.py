from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django_prometheus.models import ExportModelOperationsMixin

from .images.models import Image, ImageUse, Rendition, UploadQuota  # noqa: F401  (the media library's models)


class PostStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    REVIEW = "review", "In review"
    SCHEDULED = "scheduled", "Scheduled"
    PUBLISHED = "published", "Published"
    ARCHIVED = "archived", "Archived"


class CommentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    SPAM = "spam", "Spam"


class Tag(models.Model):
    name = models.CharField(max_length=60, unique=True, help_text="Shown to readers, e.g. “Python”.")
    slug = models.SlugField(max_length=80, unique=True, allow_unicode=True, help_text="Used in the tag's URL.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("posts:tag", kwargs={"slug": self.slug})


# Statuses under which a post is public from its published_at on.
PUBLIC_STATUSES = (PostStatus.PUBLISHED, PostStatus.SCHEDULED)


class PostQuerySet(models.QuerySet):
    def published(self, *, now=None):
        """Posts readers may see: published, or scheduled with their time come.

        Filtering on time is what makes a scheduled post public: at published_at, with no
        worker running (posts/releases.py says how cached pages keep up).
        """
        now = now or timezone.now()
        return self.filter(status__in=PUBLIC_STATUSES, published_at__isnull=False, published_at__lte=now)

    def going_public_after(self, moment):
        """Posts that will be public from a time later than `moment`: the schedule of releases."""
        return self.filter(status__in=PUBLIC_STATUSES, published_at__gt=moment)

    def editable_by(self, user):
        """Posts a user may open in the editor: all for editors, their own for authors."""
        if not user.is_authenticated:
            return self.none()
        if user.has_perm("posts.edit_any_post"):
            return self
        if user.has_perm("posts.change_post"):
            return self.filter(author=user)
        return self.none()

    def with_listing_relations(self):
        """What list pages show for each post, fetched without one query per post."""
        return self.select_related("author").prefetch_related("tags")


class Post(ExportModelOperationsMixin("post"), models.Model):
    title = models.CharField(max_length=200, help_text="The headline readers see.")
    slug = models.SlugField(
        max_length=220,
        unique=True,
        allow_unicode=True,
        help_text="Part of the post's URL; fixed once the post is published.",
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="posts")
    body = models.TextField(blank=True, help_text="Markdown.")
    body_html = models.TextField(blank=True, editable=False, help_text="Sanitized HTML rendered from the body.")
    excerpt = models.TextField(blank=True, max_length=1000, help_text="A short summary for lists and feeds.")
    cover_image_url = models.URLField(blank=True, help_text="Optional image shown at the top and in link previews.")
    status = models.CharField(max_length=12, choices=PostStatus.choices, default=PostStatus.DRAFT, db_index=True)
    published_at = models.DateTimeField(
        null=True, blank=True, db_index=True, help_text="When the post is (or will be) public."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="posts")
    meta_title = models.CharField(max_length=70, blank=True, help_text="Title for search engines; the title if empty.")
    meta_description = models.CharField(max_length=160, blank=True, help_text="Summary for search engines.")
    canonical_url = models.URLField(blank=True, help_text="Set when the post first appeared elsewhere.")
    version = models.PositiveIntegerField(
        default=1, help_text="Increases on every save; an edit based on an older version is refused."
    )

    objects = PostQuerySet.as_manager()

    class Meta:
        ordering = ["-published_at", "-created_at"]
        indexes = [models.Index(fields=["status", "published_at"])]
        permissions = [
            ("edit_any_post", "Can edit any author's post"),
            ("publish_post", "Can publish, schedule, unpublish and archive posts"),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("posts:detail", kwargs={"slug": self.slug})

    @property
    def is_public(self) -> bool:
        """The same test as PostQuerySet.published, for one post in memory."""
        return self.status in PUBLIC_STATUSES and self.published_at is not None and self.published_at <= timezone.now()

    @property
    def has_been_published(self) -> bool:
        """Once true the slug no longer follows the title, so links keep working."""
        return self.published_at is not None


class CommentQuerySet(models.QuerySet):
    def approved(self):
        return self.filter(status=CommentStatus.APPROVED)


class Comment(ExportModelOperationsMixin("comment"), models.Model):
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="comments")
    body = models.TextField(help_text="Markdown; links and images are limited.")
    body_html = models.TextField(blank=True, editable=False)
    status = models.CharField(
        max_length=10, choices=CommentStatus.choices, default=CommentStatus.PENDING, db_index=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    moderated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    moderated_at = models.DateTimeField(null=True, blank=True, help_text="When the status was last set by a moderator.")

    objects = CommentQuerySet.as_manager()

    class Meta:
        ordering = ["created_at"]
        permissions = [("moderate_comment", "Can approve and reject comments")]

    def __str__(self) -> str:
        return f"Comment by {self.author} on {self.post}"


class Revision(models.Model):
    """A snapshot of a post as it was saved, so any earlier state can be restored."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="revisions")
    version = models.PositiveIntegerField(help_text="The post's version this snapshot holds.")
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    excerpt = models.TextField(blank=True)
    meta_title = models.CharField(max_length=70, blank=True)
    meta_description = models.CharField(max_length=160, blank=True)
    # Null in revisions saved before these were kept: restoring one leaves the post's value.
    cover_image_url = models.URLField(null=True, blank=True, help_text="Null: not kept in this revision.")
    canonical_url = models.URLField(null=True, blank=True, help_text="Null: not kept in this revision.")
    slug = models.SlugField(
        max_length=220, allow_unicode=True, null=True, blank=True, help_text="Null: not kept in this revision."
    )
    tag_names = models.JSONField(default=list, blank=True, help_text="Tag names at the time of the snapshot.")
    status = models.CharField(max_length=12, choices=PostStatus.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    note = models.CharField(max_length=120, blank=True, help_text="Why it was saved: autosave, publish, restore…")
    editing_session = models.CharField(
        max_length=64,
        blank=True,
        help_text="The editor page (one browser tab) that saved it; its later autosaves build on it.",
    )

    class Meta:
        ordering = ["-version", "-created_at"]
        constraints = [models.UniqueConstraint(fields=["post", "version"], name="unique_revision_per_version")]

    def __str__(self) -> str:
        return f"{self.post} v{self.version}"


class ChangeRequestQuerySet(models.QuerySet):
    def open(self):
        return self.filter(resolved_at__isnull=True)


class ChangeRequest(models.Model):
    """An editor sending a post in review back to its author, with what to change.

    It stays open, shown to the author, until the post is submitted for review again.
    """

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="change_requests")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(max_length=2000, help_text="What the author should change.")
    version = models.PositiveIntegerField(help_text="The post's version the note is about.")
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True, help_text="When the post was submitted again.")

    objects = ChangeRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Changes requested on {self.post}"

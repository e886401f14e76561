"""The Django admin for posts, tags, comments and revisions.

Every write goes through posts.services, as in the editor, so permissions, version checks,
revisions, Markdown rendering and cache invalidation work the same way in both places.
"""

from collections.abc import Callable

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.widgets import AdminSplitDateTime, AdminURLFieldWidget
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.text import Truncator

from . import permissions, selectors, services
from .images import admin as images_admin  # noqa: F401  (registers the media library's admin pages)
from .models import Comment, CommentStatus, Post, PostStatus, Revision, Tag

# Set on a request whose save a service refused after the form had validated, so the form is
# shown again with the reason (see PostAdmin.changeform_view).
REFUSAL_ATTRIBUTE = "posts_admin_refusal"
HISTORY_ROWS = 10
LOST_VERSION = "The form lost the version you opened; reload the page and make your change again."


class Publication(models.TextChoices):
    """What the post form's "Publishing" choice does after saving the text."""

    KEEP = "", "Leave the status as it is"
    PUBLISH = "publish", "Publish now"
    SCHEDULE = "schedule", "Schedule for the date below"
    UNPUBLISH = "unpublish", "Unpublish (back to draft)"
    ARCHIVE = "archive", "Archive"


def publications_for(post: Post | None) -> list[str]:
    """The status changes that make sense for a post in its current state (None: not saved yet)."""
    return [Publication.KEEP, *services.status_changes_for(post)]


def _lf(text: str) -> str:
    """Browsers send textarea lines as CRLF; the editor stores LF, so the same text compares equal."""
    return text.replace("\r\n", "\n")


class PostAdminForm(forms.ModelForm):
    """The post form, with the version it was opened at and an optional status change.

    `user` and `refusal` are set by PostAdmin.get_form for each request.
    """

    expected_version = forms.IntegerField(min_value=1, required=False, widget=forms.HiddenInput)
    publication = forms.ChoiceField(
        label="Status change", choices=Publication.choices, required=False, help_text="Applied after the text is saved."
    )
    publish_at = forms.SplitDateTimeField(
        label="Publish at",
        required=False,
        widget=AdminSplitDateTime,
        help_text=f"For scheduling: a date and time in the future ({settings.TIME_ZONE}).",
    )

    canonical_url = forms.URLField(
        label="Canonical URL",
        required=False,
        assume_scheme="https",
        widget=AdminURLFieldWidget,
        help_text=Post._meta.get_field("canonical_url").help_text,
    )
    cover_image_url = forms.URLField(
        label="Cover image URL",
        required=False,
        assume_scheme="https",
        widget=AdminURLFieldWidget,
        help_text=Post._meta.get_field("cover_image_url").help_text,
    )

    user = None
    refusal: services.PostError | None = None

    class Meta:
        model = Post
        fields = [
            "title",
            "slug",
            "author",
            "body",
            "excerpt",
            "tags",
            "meta_title",
            "meta_description",
            "canonical_url",
            "cover_image_url",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        post = self.instance if self.instance.pk else None
        if post is not None:
            self.fields["expected_version"].initial = post.version
        if self.user is None or not permissions.can_publish(self.user):
            # Publishing is for editors; the services refuse it anyway, so the choice isn't offered.
            del self.fields["publication"], self.fields["publish_at"]
        else:
            allowed = publications_for(post)
            self.fields["publication"].choices = [c for c in Publication.choices if c[0] in allowed]
        if "slug" in self.fields:
            self.fields["slug"].required = False
            self.fields["slug"].help_text = "Part of the post's address; left empty, it is made from the title."
            self.fields["slug"].error_messages["unique"] = "Another post uses this slug; choose another one."

    def clean_body(self) -> str:
        body = _lf(self.cleaned_data["body"])
        size, limit = len(body.encode()), settings.POST_BODY_MAX_BYTES
        if size > limit:
            raise forms.ValidationError(
                f"The body is too long: {-(-size // 1000):,} KB, and a post holds at most {limit // 1000:,} KB. "
                "Split it into two posts."
            )
        return body

    def clean_excerpt(self) -> str:
        return _lf(self.cleaned_data["excerpt"])

    def clean_author(self):
        author = self.cleaned_data["author"]
        if author is not None and not permissions.can_write_posts(author):
            raise forms.ValidationError(f"{author.username} cannot write posts; give them the Author role first.")
        return author

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.refusal is not None:
            self._refuse(self.refusal)
        elif self.instance.pk:
            self._check_version(cleaned.get("expected_version"))
        if cleaned.get("publication") == Publication.SCHEDULE and "publish_at" not in self.errors:
            at = cleaned.get("publish_at")
            if at is None or at <= timezone.now():
                self.add_error("publish_at", "Pick a date and time in the future to schedule the post.")
        return cleaned

    def _check_version(self, expected: int | None) -> None:
        if expected is None:
            self.add_error(None, LOST_VERSION)
        elif expected != self.instance.version:
            self._refuse(services.PostConflict(self.instance))

    def _refuse(self, error: services.PostError) -> None:
        """Show why the save was refused; after a conflict, saving again replaces the newer version."""
        self.add_error(None, str(error))
        if isinstance(error, services.PostConflict):
            self.data = self.data.copy()
            self.data[self.add_prefix("expected_version")] = str(error.current.version)

    def post_data(self) -> dict:
        """The fields posts.services takes, from what this form shows."""
        data = {field: self.cleaned_data[field] for field in services.EDITABLE_FIELDS if field in self.cleaned_data}
        if "slug" in self.cleaned_data:
            data["slug"] = self.cleaned_data["slug"]
        return data

    def tag_names(self) -> list[str]:
        return [tag.name for tag in self.cleaned_data.get("tags", [])]


class ServiceActionsMixin:
    """Bulk actions that run a service on each selected object and say what happened to each."""

    def apply_to_each(
        self, request, queryset: QuerySet, *, change: Callable, skip: Callable, verb: str, noun: str
    ) -> None:
        changed, unchanged, refused = 0, 0, []
        for obj in queryset:
            if skip(obj):
                unchanged += 1
                continue
            try:
                change(obj)
            except (services.PostError, PermissionDenied) as error:
                refused.append(f"“{Truncator(str(obj)).chars(60)}” ({error or 'not allowed'})")
            else:
                changed += 1
        self.report(request, changed=changed, unchanged=unchanged, refused=refused, verb=verb, noun=noun)

    def report(self, request, *, changed: int, unchanged: int, refused: list[str], verb: str, noun: str) -> None:
        """One message for what changed, one for what already was so, one naming each refusal."""

        def many(n: int) -> str:
            return f"{n} {noun}{'' if n == 1 else 's'}"

        if changed or not (unchanged or refused):
            self.message_user(request, f"{verb.capitalize()} {many(changed)}.", messages.SUCCESS)
        if unchanged:
            were = "was" if unchanged == 1 else "were"
            self.message_user(request, f"{many(unchanged)} {were} already {verb}.", messages.INFO)
        if refused:
            self.message_user(request, f"Not {verb}: {'; '.join(refused)}.", messages.WARNING)


@admin.register(Post)
class PostAdmin(ServiceActionsMixin, admin.ModelAdmin):
    form = PostAdminForm
    list_display = ["title", "author", "status", "published_at", "updated_at", "version"]
    list_filter = [
        "status",
        ("author", admin.RelatedOnlyFieldListFilter),
        ("tags", admin.RelatedOnlyFieldListFilter),
        "published_at",
        "created_at",
    ]
    list_select_related = ["author"]
    search_fields = ["title", "body", "author__username", "author__display_name"]
    date_hierarchy = "published_at"
    ordering = ["-updated_at"]
    prepopulated_fields = {"slug": ["title"]}
    autocomplete_fields = ["author", "tags"]
    actions = ["publish_posts", "unpublish_posts", "archive_posts"]
    save_on_top = True
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_fieldsets(self, request, obj=None):
        can_change = obj is None or self.has_change_permission(request, obj)
        main = ["title", "slug", "author", "body", "excerpt", "tags"]
        if obj is not None and can_change:
            main.append("expected_version")
        publishing = ["status", "published_at"] if obj is not None else []
        if can_change and permissions.can_publish(request.user):
            publishing += ["publication", "publish_at"]
        fieldsets = [
            (None, {"fields": main}),
            ("Publishing", {"fields": publishing}),
            (
                "Search engines and sharing",
                {"fields": ["meta_title", "meta_description", "canonical_url", "cover_image_url"]},
            ),
        ]
        if obj is not None:
            fieldsets.append(("History", {"fields": ["version", "created_at", "updated_at", "revision_history"]}))
            fieldsets.append(("Rendered body", {"classes": ["collapse"], "fields": ["body_preview"]}))
        return [(name, options) for name, options in fieldsets if options["fields"]]

    def get_readonly_fields(self, request, obj=None):
        readonly = ["status", "published_at", "version", "created_at", "updated_at", "revision_history", "body_preview"]
        if obj is not None:
            # The services keep a post's author, and its slug once published so links keep working.
            readonly.append("author")
            if obj.has_been_published:
                readonly.append("slug")
        return readonly

    def get_prepopulated_fields(self, request, obj=None):
        return self.prepopulated_fields if obj is None else {}

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        attributes = {"user": request.user, "refusal": getattr(request, REFUSAL_ATTRIBUTE, None)}
        return type(form.__name__, (form,), attributes)

    def get_changeform_initial_data(self, request):
        return {"author": request.user.pk, **super().get_changeform_initial_data(request)}

    def has_change_permission(self, request, obj=None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or permissions.can_edit_post(request.user, obj))

    def has_publish_permission(self, request) -> bool:
        return permissions.can_publish(request.user)

    def view_on_site(self, obj: Post) -> str | None:
        return obj.get_absolute_url() if obj.is_public else None

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        """A save refused by a service after the form validated (another save landed in between)
        rolls back, and the form comes back with the reason and everything the person typed."""
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except services.PostError as error:
            if getattr(request, REFUSAL_ATTRIBUTE, None) is not None:
                raise
            setattr(request, REFUSAL_ATTRIBUTE, error)
            return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj: Post, form: PostAdminForm, change: bool) -> None:
        if change:
            self._update(request, obj, form)
        else:
            created = services.post_create(
                author=form.cleaned_data["author"], data=form.post_data(), tag_names=form.tag_names(), by=request.user
            )
            # The admin goes on with the form's instance (log entry, redirect), so it becomes the new post.
            obj.pk = created.pk
            obj._state.adding = False
            obj.refresh_from_db()
        self._change_status(request, obj, form)

    def _update(self, request, obj: Post, form: PostAdminForm) -> None:
        data, tag_names = form.post_data(), form.tag_names()
        current = Post.objects.get(pk=obj.pk)
        if services.post_differs(post=current, data=data, tag_names=tag_names):
            services.post_update(
                post=obj,
                by=request.user,
                data=data,
                expected_version=form.cleaned_data["expected_version"],
                tag_names=tag_names,
            )
        else:
            obj.refresh_from_db()

    def _change_status(self, request, obj: Post, form: PostAdminForm) -> None:
        choice = form.cleaned_data.get("publication")
        if choice == Publication.PUBLISH:
            services.post_publish(post=obj, by=request.user)
        elif choice == Publication.SCHEDULE:
            services.post_publish(post=obj, by=request.user, at=form.cleaned_data["publish_at"])
        elif choice == Publication.UNPUBLISH:
            services.post_unpublish(post=obj, by=request.user)
        elif choice == Publication.ARCHIVE:
            services.post_archive(post=obj, by=request.user)
        else:
            return
        self.message_user(request, f"“{obj.title}” is now {obj.get_status_display().lower()}.", messages.INFO)

    def save_related(self, request, form, formsets, change) -> None:
        # Tags were saved by the service with the text, in the same revision; save_m2m would set them again.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request, obj: Post) -> None:
        services.post_delete(post=obj, by=request.user)

    def delete_queryset(self, request, queryset: QuerySet[Post]) -> None:
        for post in queryset:
            services.post_delete(post=post, by=request.user)

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        # Revisions go with their post; nobody deletes them on their own, so that takes no permission.
        perms_needed.discard(Revision._meta.verbose_name)
        return deleted, counts, perms_needed, protected

    @admin.display(description="Revisions")
    def revision_history(self, post: Post) -> str:
        """The newest revisions, each with a link to restore it."""
        revisions = selectors.revisions_for_post(post=post)
        return render_to_string(
            "admin/posts/post/revision_history.html",
            {
                "post": post,
                "revisions": revisions[:HISTORY_ROWS],
                "total": revisions.count(),
                "all_url": f"{reverse('admin:posts_revision_changelist')}?post={post.pk}",
            },
        )

    @admin.display(description="Rendered body")
    def body_preview(self, post: Post) -> str:
        # body_html is sanitized by posts.markdown, the one HTML the site marks safe.
        return format_html('<div class="post-body-preview">{}</div>', mark_safe(post.body_html))

    @admin.action(description="Publish selected posts", permissions=["publish"])
    def publish_posts(self, request, queryset: QuerySet[Post]) -> None:
        self.apply_to_each(
            request,
            queryset,
            change=lambda post: services.post_publish(post=post, by=request.user),
            skip=lambda post: post.status == PostStatus.PUBLISHED,
            verb="published",
            noun="post",
        )

    @admin.action(description="Unpublish selected posts (back to draft)", permissions=["publish"])
    def unpublish_posts(self, request, queryset: QuerySet[Post]) -> None:
        self.apply_to_each(
            request,
            queryset,
            change=lambda post: services.post_unpublish(post=post, by=request.user),
            skip=lambda post: post.status == PostStatus.DRAFT,
            verb="unpublished",
            noun="post",
        )

    @admin.action(description="Archive selected posts", permissions=["publish"])
    def archive_posts(self, request, queryset: QuerySet[Post]) -> None:
        self.apply_to_each(
            request,
            queryset,
            change=lambda post: services.post_archive(post=post, by=request.user),
            skip=lambda post: post.status == PostStatus.ARCHIVED,
            verb="archived",
            noun="post",
        )


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "post_count"]
    search_fields = ["name", "slug"]
    # Explicit: with the count's GROUP BY the model's default ordering no longer applies.
    ordering = ["name"]
    prepopulated_fields = {"slug": ["name"]}

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(post_count=Count("posts"))

    @admin.display(description="Posts", ordering="post_count")
    def post_count(self, tag: Tag) -> int:
        return tag.post_count

    def save_model(self, request, obj: Tag, form, change: bool) -> None:
        name, slug = form.cleaned_data["name"], form.cleaned_data["slug"]
        if change:
            services.tag_update(tag=obj, by=request.user, name=name, slug=slug)
        else:
            # The admin goes on with the form's instance (log entry, redirect), so it becomes the new tag.
            obj.pk = services.tag_create(by=request.user, name=name, slug=slug).pk
            obj._state.adding = False

    def delete_model(self, request, obj: Tag) -> None:
        services.tag_delete(tag=obj, by=request.user)

    def delete_queryset(self, request, queryset: QuerySet[Tag]) -> None:
        for tag in queryset:
            services.tag_delete(tag=tag, by=request.user)


class CommentAdminForm(forms.ModelForm):
    class Meta:
        model = Comment
        fields = ["status"]


@admin.register(Comment)
class CommentAdmin(ServiceActionsMixin, admin.ModelAdmin):
    """Comments come from readers on the site; here staff moderate them (comment_moderate)."""

    form = CommentAdminForm
    list_display = ["short_body", "author", "post", "status", "created_at"]
    list_filter = ["status", "created_at"]
    list_select_related = ["author", "post"]
    search_fields = ["body", "author__username", "author__display_name", "post__title"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    fields = ["post", "author", "created_at", "body", "status", "moderated_by", "moderated_at"]
    readonly_fields = ["post", "author", "created_at", "body", "moderated_by", "moderated_at"]
    actions = ["approve_comments", "reject_comments", "mark_comments_as_spam"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_moderate_permission(self, request) -> bool:
        return permissions.can_moderate_comments(request.user)

    @admin.display(description="Comment")
    def short_body(self, comment: Comment) -> str:
        return Truncator(comment.body).chars(80)

    def save_model(self, request, obj: Comment, form, change: bool) -> None:
        if "status" in form.changed_data:
            services.comment_moderate(comment=obj, by=request.user, status=form.cleaned_data["status"])

    def delete_model(self, request, obj: Comment) -> None:
        services.comment_delete(comment=obj, by=request.user)

    def delete_queryset(self, request, queryset: QuerySet[Comment]) -> None:
        for comment in queryset:
            services.comment_delete(comment=comment, by=request.user)

    def _moderate(self, request, queryset: QuerySet[Comment], *, status: str, verb: str) -> None:
        self.apply_to_each(
            request,
            queryset,
            change=lambda comment: services.comment_moderate(comment=comment, by=request.user, status=status),
            skip=lambda comment: comment.status == status,
            verb=verb,
            noun="comment",
        )

    @admin.action(description="Approve selected comments", permissions=["moderate"])
    def approve_comments(self, request, queryset: QuerySet[Comment]) -> None:
        self._moderate(request, queryset, status=CommentStatus.APPROVED, verb="approved")

    @admin.action(description="Reject selected comments", permissions=["moderate"])
    def reject_comments(self, request, queryset: QuerySet[Comment]) -> None:
        self._moderate(request, queryset, status=CommentStatus.REJECTED, verb="rejected")

    @admin.action(description="Mark selected comments as spam", permissions=["moderate"])
    def mark_comments_as_spam(self, request, queryset: QuerySet[Comment]) -> None:
        self._moderate(request, queryset, status=CommentStatus.SPAM, verb="marked as spam")


class RestoreForm(forms.Form):
    expected_version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


@admin.register(Revision)
class RevisionAdmin(admin.ModelAdmin):
    """Snapshots are history: read-only here; restoring one saves it as the post's newest version."""

    list_display = ["post", "version", "note", "created_by", "created_at"]
    list_filter = ["created_at"]
    list_select_related = ["post", "created_by"]
    search_fields = ["post__title", "title", "note"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-version"]
    fields = [
        "post",
        "version",
        "restore",
        "note",
        "created_by",
        "created_at",
        "status",
        "title",
        "tag_names",
        "excerpt",
        "body",
        "meta_title",
        "meta_description",
    ]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        restore = path(
            "<path:object_id>/restore/",
            self.admin_site.admin_view(self.restore_view),
            name="posts_revision_restore",
        )
        return [restore, *super().get_urls()]

    @admin.display(description="Restore")
    def restore(self, revision: Revision) -> str:
        if revision.version == revision.post.version:
            return "This is the post's current version."
        url = reverse("admin:posts_revision_restore", args=[revision.pk])
        return format_html('<a class="button" href="{}">Restore this revision</a>', url)

    def restore_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """A confirmation page (GET) and the restore itself (POST), made on the version shown."""
        revision = self.get_object(request, unquote(object_id))
        if revision is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        post = revision.post
        if not (self.has_view_permission(request, revision) and permissions.can_edit_post(request.user, post)):
            raise PermissionDenied
        post_url = reverse("admin:posts_post_change", args=[post.pk])
        if revision.version == post.version:
            self.message_user(request, f"Version {revision.version} is already the current one.", messages.INFO)
            return redirect(post_url)
        if request.method == "POST":
            form = RestoreForm(request.POST)
            if not form.is_valid():
                self.message_user(request, LOST_VERSION, messages.ERROR)
            else:
                try:
                    restored = services.revision_restore(
                        revision=revision, by=request.user, expected_version=form.cleaned_data["expected_version"]
                    )
                except services.PostError as error:
                    post = getattr(error, "current", post)
                    self.message_user(request, self._restore_refused(error), messages.ERROR)
                else:
                    self.message_user(
                        request,
                        f"Restored version {revision.version} of “{restored.title}” as version {restored.version}.",
                        messages.SUCCESS,
                    )
                    return redirect(post_url)
        return self._restore_confirmation(request, revision=revision, post=post, post_url=post_url)

    @staticmethod
    def _restore_refused(error: services.PostError) -> str:
        if isinstance(error, services.PostConflict):
            return (
                f"Not restored: the post was saved again (now version {error.current.version}) after you opened "
                "this page. Check that restoring still makes sense, then confirm again."
            )
        return f"Not restored: {error}"

    def _restore_confirmation(self, request, *, revision: Revision, post: Post, post_url: str) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": f"Restore version {revision.version} of “{post.title}”?",
            "opts": self.opts,
            "revision": revision,
            "post": post,
            "post_url": post_url,
            "tag_names": ", ".join(revision.tag_names) or "—",
        }
        return TemplateResponse(request, "admin/posts/revision/restore_confirmation.html", context)

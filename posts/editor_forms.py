"""Forms of the editor UI: they validate what a person typed and shape it for posts.services."""

import re
from datetime import datetime

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.text import slugify

from . import permissions
from .images import selectors as image_selectors
from .images.models import Image
from .models import CommentStatus, Post, PostStatus
from .services import CHANGE_REQUEST_NOTE_MAX_CHARS, EDITABLE_FIELDS, status_changes_for

TITLE_REQUIRED = "A post needs a title that is not only spaces."
MAX_TAGS = 20
TAG_MAX_CHARS = 60
# What an autosave request may send; the rest of the form (actions, schedule) needs a real save.
AUTOSAVE_FIELDS = (*EDITABLE_FIELDS, "slug", "tags", "version", "editing_session")
EDITING_SESSION_PATTERN = r"\A[A-Za-z0-9_-]{8,64}\Z"


class EditorAction(models.TextChoices):
    SAVE = "save", "Save"
    SUBMIT = "submit", "Submit for review"
    PUBLISH = "publish", "Publish now"
    SCHEDULE = "schedule", "Schedule"
    UNPUBLISH = "unpublish", "Unpublish"
    ARCHIVE = "archive", "Archive"


# Actions only people with the publish permission may take; anyone else gets a 403.
PUBLISHER_ACTIONS = frozenset(
    {EditorAction.PUBLISH, EditorAction.SCHEDULE, EditorAction.UNPUBLISH, EditorAction.ARCHIVE}
)


def actions_for(*, user, post: Post | None) -> list[str]:
    """The buttons a person gets for a post in its current state (None: a post not yet saved)."""
    status = post.status if post is not None else PostStatus.DRAFT
    if not permissions.can_publish(user):
        return [EditorAction.SAVE, EditorAction.SUBMIT] if status == PostStatus.DRAFT else [EditorAction.SAVE]
    return [EditorAction.SAVE, *status_changes_for(post)]


def validate_body_size(body: str) -> None:
    limit = settings.POST_BODY_MAX_BYTES
    size = len(body.encode())
    if size > limit:
        raise ValidationError(
            f"The body is too long: {-(-size // 1000):,} KB, and a post holds at most {limit // 1000:,} KB. "
            "Split it into two posts; your text is still here."
        )


def slug_is_automatic(post: Post) -> bool:
    """Whether the slug was made from the title (possibly with a -2, -3… suffix) rather than typed."""
    base = slugify(post.title, allow_unicode=True)[:200].strip("-") or "post"
    return re.fullmatch(rf"{re.escape(base)}(-\d+)?", post.slug) is not None


def _help(field: str) -> str:
    return Post._meta.get_field(field).help_text


class SiteDateTimeField(forms.DateTimeField):
    """A datetime-local value read and shown in the site's time zone, whatever zone a request activated."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")

    def to_python(self, value) -> datetime | None:
        with timezone.override(timezone.get_default_timezone()):
            return super().to_python(value)

    def prepare_value(self, value):
        with timezone.override(timezone.get_default_timezone()):
            return super().prepare_value(value)


class MultilineField(forms.CharField):
    """Text from a textarea, with the line endings browsers send (CRLF) stored as plain newlines.

    Autosave sends the same text as JSON with LF; without this, one text would look changed.
    """

    def to_python(self, value) -> str:
        return super().to_python(value).replace("\r\n", "\n")


class PostEditorForm(forms.Form):
    title = forms.CharField(max_length=200, help_text=_help("title"), error_messages={"required": TITLE_REQUIRED})
    slug = forms.SlugField(
        max_length=220,
        allow_unicode=True,
        required=False,
        help_text="Part of the post's address. Leave empty to make it from the title; fixed once published.",
    )
    body = MultilineField(
        required=False,
        strip=False,
        validators=[validate_body_size],
        help_text="Markdown: **bold**, _italic_, # headings, [links](https://…), ```code```.",
        widget=forms.Textarea(attrs={"rows": 24, "spellcheck": "true"}),
    )
    excerpt = MultilineField(
        required=False, max_length=1000, help_text=_help("excerpt"), widget=forms.Textarea(attrs={"rows": 3})
    )
    cover_image = forms.ModelChoiceField(
        queryset=Image.objects.none(),
        required=False,
        widget=forms.HiddenInput,
        error_messages={"invalid_choice": "The cover image is no longer in the library; choose another one."},
    )
    cover_image_url = forms.URLField(
        required=False,
        label="Or an image elsewhere",
        assume_scheme="https",
        help_text="The address of a picture on another site, used when no library image is chosen.",
    )
    tags = forms.CharField(
        required=False,
        max_length=2000,
        help_text="Separate tags with commas, e.g. “Python, Django”.",
        widget=forms.TextInput(attrs={"list": "tag-suggestions", "autocomplete": "off"}),
    )
    meta_title = forms.CharField(required=False, max_length=70, help_text=_help("meta_title"))
    meta_description = MultilineField(
        required=False,
        max_length=160,
        help_text=_help("meta_description"),
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": 160}),
    )
    canonical_url = forms.URLField(
        required=False, label="Canonical URL", assume_scheme="https", help_text=_help("canonical_url")
    )
    version = forms.IntegerField(
        min_value=0,
        required=False,
        widget=forms.HiddenInput,
        error_messages={"required": "The form lost the version you opened; reload the page and try again."},
    )
    publish_at = SiteDateTimeField(
        required=False,
        label="Publish at",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "form": "post-form"}, format="%Y-%m-%dT%H:%M"),
    )
    editing_session = forms.RegexField(
        EDITING_SESSION_PATTERN,
        required=False,
        widget=forms.HiddenInput,
        error_messages={"invalid": "The page's editing session is not valid; reload the page."},
    )
    action = forms.ChoiceField(choices=EditorAction.choices, required=False)
    keep_mine_over = forms.IntegerField(min_value=1, required=False)

    def __init__(self, *args, user, post: Post | None = None, **kwargs):
        super().__init__(*args, label_suffix="", **kwargs)
        self.post = post
        self.allowed_actions = actions_for(user=user, post=post)
        self.fields["version"].required = post is not None
        self.fields["cover_image"].queryset = image_selectors.cover_image_choices(user=user, post=post)
        self.fields["cover_image"].initial = image_selectors.post_cover_image_id(post=post)
        self.fields["publish_at"].help_text = f"Date and time in the site's time zone ({settings.TIME_ZONE})."
        if post is not None and post.has_been_published:
            self.fields["slug"].disabled = True
            self.fields["slug"].help_text = "Fixed since the post was first published, so links keep working."

    @staticmethod
    def initial_for(post: Post) -> dict:
        """The form's values for a saved post."""
        automatic = not post.has_been_published and slug_is_automatic(post)
        return {
            **{field: getattr(post, field) for field in EDITABLE_FIELDS},
            "slug": "" if automatic else post.slug,
            "tags": ", ".join(tag.name for tag in post.tags.all()),
            "version": post.version,
            "publish_at": post.published_at if post.status == PostStatus.SCHEDULED else None,
        }

    def cover_image_object(self) -> Image | None:
        """The library cover the form shows: the one sent back, else the post's."""
        value = str(self["cover_image"].value() or "")
        return self.fields["cover_image"].queryset.filter(pk=value).first() if value.isdigit() else None

    def clean_tags(self) -> list[str]:
        names = [" ".join(name.split()) for name in self.cleaned_data["tags"].split(",")]
        names = [name for name in names if name]
        if len(names) > MAX_TAGS:
            raise ValidationError(f"Use at most {MAX_TAGS} tags; this post has {len(names)}.")
        too_long = [name for name in names if len(name) > TAG_MAX_CHARS]
        if too_long:
            raise ValidationError(f"Tags are limited to {TAG_MAX_CHARS} characters: “{too_long[0][:70]}…” is longer.")
        return names

    def clean_action(self) -> str:
        action = self.cleaned_data["action"] or EditorAction.SAVE
        if action not in self.allowed_actions:
            status = self.post.get_status_display().lower() if self.post else "not saved yet"
            raise ValidationError(f"“{EditorAction(action).label}” is not possible for a post that is {status}.")
        return action

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("action") == EditorAction.SCHEDULE and "publish_at" not in self.errors:
            at = cleaned.get("publish_at")
            if at is None or at <= timezone.now():
                self.add_error("publish_at", "Pick a date and time in the future to schedule the post.")
        return cleaned

    def post_data(self) -> dict:
        """The fields posts.services takes; the slug only while it may still change."""
        data = {field: self.cleaned_data[field] for field in EDITABLE_FIELDS}
        if not self.fields["slug"].disabled:
            data["slug"] = self.cleaned_data["slug"]
        return data

    def expected_version(self) -> int:
        """The version this edit is based on: the one opened, or the newer one when keeping mine after a conflict."""
        return self.cleaned_data["keep_mine_over"] or self.cleaned_data["version"]


def autosave_form_data(payload: dict, *, post: Post | None) -> dict:
    """Form data for an autosave: the fields the request sent, the saved values for the rest.

    An autosave may send only what changed, so a field it leaves out must keep its value
    rather than be emptied.
    """
    data = PostEditorForm.initial_for(post) if post is not None else {}
    for field in AUTOSAVE_FIELDS:
        if field in payload:
            data[field] = _as_text(payload[field], field=field)
    data["action"] = EditorAction.SAVE
    data.pop("publish_at", None)
    return data


def _as_text(value, *, field: str):
    if value is None:
        return ""
    if field == "tags" and isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if field == "version" or isinstance(value, str):
        return value
    return str(value)


class PreviewForm(forms.Form):
    body = MultilineField(required=False, strip=False, validators=[validate_body_size])


class RevisionRestoreForm(forms.Form):
    version = forms.IntegerField(
        min_value=1,
        widget=forms.HiddenInput,
        error_messages={"required": "The form lost the post's version; reload the page and try again."},
    )


class DashboardFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "All statuses"), *PostStatus.choices], required=False)


class CommentQueueFilterForm(forms.Form):
    status = forms.ChoiceField(choices=CommentStatus.choices, required=False)
    q = forms.CharField(required=False, max_length=200, strip=True, label="Search comments")


class CommentIdsField(forms.Field):
    """The comments ticked in the queue: a list of their numbers."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value) -> list[int]:
        if not value:
            return []
        if not all(isinstance(item, str) and re.fullmatch(r"[0-9]{1,18}", item) for item in value):
            raise ValidationError("The selected comments were not understood; reload the page and try again.")
        return sorted({int(item) for item in value})


class CommentModerationForm(forms.Form):
    """The queue's form: ticked comments and a bulk action, or one row's own button ("approve:12")."""

    comments = CommentIdsField(required=False)
    action = forms.ChoiceField(
        choices=[("", "Choose an action"), ("approve", "Approve"), ("reject", "Reject"), ("spam", "Mark as spam")],
        required=False,
        label="With the selected comments",
    )
    row_action = forms.RegexField(r"\A(approve|reject|spam):[0-9]{1,18}\Z", required=False)
    return_to = forms.CharField(required=False, max_length=2000)

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        if cleaned.get("row_action"):
            action, pk = cleaned["row_action"].split(":")
            cleaned["action"], cleaned["comments"] = action, [int(pk)]
        elif not cleaned.get("action"):
            raise ValidationError("Choose what to do with the selected comments: approve, reject or mark as spam.")
        elif not cleaned.get("comments"):
            raise ValidationError("Select at least one comment first.")
        return cleaned


class ChangeRequestForm(forms.Form):
    note = forms.CharField(
        max_length=CHANGE_REQUEST_NOTE_MAX_CHARS,
        label="What should the author change?",
        help_text="The author sees this note on their dashboard and in the editor until they submit the post again.",
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"required": "Write what the author should change; the note cannot be empty."},
    )


class RevisionCompareForm(forms.Form):
    """Which two states of a post to compare: `old` and `new` are versions, or "current" for the post now."""

    old = forms.RegexField(r"\A(current|[0-9]{1,9})\Z", required=False, label="Compare")
    new = forms.RegexField(r"\A(current|[0-9]{1,9})\Z", required=False, label="with")
    mode = forms.ChoiceField(
        choices=[("line", "Line by line"), ("word", "Word by word")], required=False, label="Show changes"
    )

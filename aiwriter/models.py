from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from .prompts import unknown_placeholders


class Action(models.TextChoices):
    DRAFT = "draft", "Draft a post"
    CONTINUE = "continue", "Continue writing"
    REWRITE = "rewrite", "Rewrite the selection"
    SUMMARIZE = "summarize", "Summarize as an excerpt"
    TITLES = "titles", "Suggest titles"
    META_DESCRIPTION = "meta_description", "Write a meta description"
    TAGS = "tags", "Suggest tags"
    CHAT = "chat", "Chat about the post"
    ALT_TEXT = "alt_text", "Write alt text for an image"


class Outcome(models.TextChoices):
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"
    ERROR = "error", "Error"


class ChatRole(models.TextChoices):
    USER = "user", "Editor"
    ASSISTANT = "assistant", "AI writer"


class PromptTemplate(models.Model):
    """The words sent to the model for one action; staff tune them in the admin."""

    action = models.CharField(
        max_length=20, choices=Action.choices, unique=True, help_text="The AI action this prompt is used for."
    )
    system = models.TextField(
        help_text="Standing instructions for the model (its system message). "
        "Placeholders: {title} {body} {selection} {instruction} {max_length} {existing_tags}."
    )
    template = models.TextField(
        help_text="The request sent for each generation, with the same placeholders filled from the editor's input."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["action"]

    def __str__(self) -> str:
        return self.get_action_display()

    def clean(self) -> None:
        errors = {}
        for field in ("system", "template"):
            unknown = unknown_placeholders(getattr(self, field))
            if unknown:
                names = ", ".join("{" + name + "}" for name in unknown)
                errors[field] = f"Unknown placeholder {names}; use only the ones listed below the field."
        if errors:
            raise ValidationError(errors)


class GenerationQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(user=user)


class Generation(models.Model):
    """One AI generation as it happened, for auditing and tuning; written by aiwriter.services."""

    request_id = models.CharField(max_length=64, blank=True, help_text="The id the editor's browser gave the request.")
    http_request_id = models.CharField(
        max_length=64,
        blank=True,
        db_index=True,
        help_text="The X-Request-ID of the WebSocket or SSE request (for batch work, of the request that "
        "started the job), as the logs show it.",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="ai_generations",
        help_text="Who asked; empty once the account is deleted.",
    )
    post = models.ForeignKey(
        "posts.Post",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="ai_generations",
        help_text="The post being edited, if it had been saved.",
    )
    action = models.CharField(max_length=20, choices=Action.choices, db_index=True)
    model = models.CharField(max_length=200, db_index=True, help_text="The Ollama model that answered.")
    host = models.CharField(max_length=200, blank=True, help_text="The Ollama server that answered.")
    input_hash = models.CharField(
        max_length=64, db_index=True, help_text="SHA-256 of everything sent to the model; equal hashes, equal requests."
    )
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True, help_text="Tokens the model read.")
    completion_tokens = models.PositiveIntegerField(null=True, blank=True, help_text="Tokens the model wrote.")
    tokens_estimated = models.BooleanField(
        default=False, help_text="The engine sent no token counts: they were counted from the streamed text."
    )
    output_chars = models.PositiveIntegerField(default=0, help_text="Characters sent to the editor.")
    time_to_first_token_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="Milliseconds from the request to the first text; empty if none came."
    )
    duration_ms = models.PositiveIntegerField(help_text="Milliseconds from the request to its end.")
    outcome = models.CharField(max_length=10, choices=Outcome.choices, db_index=True)
    error_code = models.CharField(max_length=40, blank=True, help_text="Why it failed, when the outcome is an error.")
    cached = models.BooleanField(default=False, help_text="Answered from the response cache, not by a model.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = GenerationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        permissions = [("use_aiwriter", "Can generate text with the AI writer")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} with {self.model} ({self.get_outcome_display()})"


class ChatMessage(models.Model):
    """A turn of an editor's conversation about a post; the newest turns go into each chat prompt."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ai_chat_messages")
    post = models.ForeignKey(
        "posts.Post",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="ai_chat_messages",
        help_text="The post talked about; empty for a post not saved yet.",
    )
    role = models.CharField(max_length=10, choices=ChatRole.choices)
    content = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["user", "post", "created_at"])]

    def __str__(self) -> str:
        return f"{self.get_role_display()}: {self.content[:60]}"


class BatchAction(models.TextChoices):
    """The actions a batch job may run over many posts, each filling one field of the post."""

    SUMMARIZE = "summarize", "Summarize into the excerpt"
    META_DESCRIPTION = "meta_description", "Write the meta description"
    TAGS = "tags", "Suggest tags"
    TITLES = "titles", "Suggest a search-engine title"
    ALT_TEXT = "alt_text", "Write alt text for library images"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class ItemStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class BatchJob(models.Model):
    """AI work over many posts, run item by item by Celery workers (aiwriter/jobs.py)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="ai_batch_jobs",
        help_text="Who started the job; the posts are changed in their name.",
    )
    action = models.CharField(max_length=20, choices=BatchAction.choices)
    overwrite = models.BooleanField(
        default=False, help_text="Replace text already in the field; otherwise only empty fields are filled."
    )
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    total = models.PositiveIntegerField(default=0, help_text="Posts in the job.")
    done_count = models.PositiveIntegerField(default=0, help_text="Posts changed.")
    skipped_count = models.PositiveIntegerField(default=0, help_text="Posts left as they were.")
    failed_count = models.PositiveIntegerField(default=0, help_text="Posts the AI writer could not process.")
    cancelled_count = models.PositiveIntegerField(default=0, help_text="Posts not processed because of a cancel.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True, help_text="When a worker took the first item.")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} over {self.total} posts ({self.get_status_display()})"

    @property
    def finished_count(self) -> int:
        return self.done_count + self.skipped_count + self.failed_count + self.cancelled_count


class BatchItem(models.Model):
    """One post of a batch job (one library image, for alt text). A worker claims it with a token;
    only that claim may finish it."""

    job = models.ForeignKey(BatchJob, on_delete=models.CASCADE, related_name="items")
    post = models.ForeignKey(
        "posts.Post",
        null=True,
        on_delete=models.SET_NULL,
        related_name="ai_batch_items",
        help_text="Empty once the post is deleted.",
    )
    image = models.ForeignKey(
        "posts.Image",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="ai_batch_items",
        help_text="The library image an alt-text job describes; empty for other jobs, or once it is deleted.",
    )
    post_title = models.CharField(
        max_length=200, help_text="The post's title (an alt-text job: the image's name) when the job started."
    )
    status = models.CharField(max_length=10, choices=ItemStatus.choices, default=ItemStatus.QUEUED, db_index=True)
    claim_token = models.CharField(max_length=32, blank=True, help_text="The current claim; empty while queued.")
    lease_until = models.DateTimeField(
        null=True, blank=True, help_text="A running item whose lease has passed was abandoned and may be claimed."
    )
    attempts = models.PositiveSmallIntegerField(default=0, help_text="How many times a worker claimed it.")
    result = models.TextField(blank=True, help_text="The text written into the post.")
    error = models.CharField(max_length=300, blank=True, help_text="Why the post was skipped or failed.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.post_title} ({self.get_status_display()})"

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

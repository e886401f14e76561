from django.contrib import admin, messages

from .jobs import services as job_services
from .models import BatchAction, BatchJob, Generation, PromptTemplate
from .permissions import can_use_aiwriter


@admin.register(PromptTemplate)
class PromptTemplateAdmin(admin.ModelAdmin):
    """Staff tune the prompts here; the placeholders are checked when saving (PromptTemplate.clean)."""

    list_display = ["action", "updated_at"]
    readonly_fields = ["action", "updated_at"]
    fields = ["action", "system", "template", "updated_at"]

    def has_add_permission(self, request) -> bool:
        # One row per action, made by the migration; a new action needs code as well as a prompt.
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    """The audit trail of AI generations: read-only, filterable by what staff ask about most."""

    list_display = [
        "created_at",
        "user",
        "action",
        "model",
        "outcome",
        "error_code",
        "cached",
        "time_to_first_token_ms",
        "duration_ms",
        "prompt_tokens",
        "completion_tokens",
    ]
    list_filter = ["action", "model", "outcome", "cached", ("user", admin.RelatedOnlyFieldListFilter), "created_at"]
    search_fields = ["request_id", "http_request_id", "input_hash", "user__username", "post__title"]
    date_hierarchy = "created_at"
    list_select_related = ["user", "post"]
    ordering = ["-created_at"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def _batch_action(action: str, description: str):
    """A bulk action on posts that starts a batch job filling only empty fields."""

    def start(modeladmin, request, queryset) -> None:
        post_ids = list(queryset.values_list("pk", flat=True))
        try:
            job = job_services.batch_start(user=request.user, action=action, post_ids=post_ids)
        except job_services.JobError as error:
            modeladmin.message_user(request, error.message, messages.ERROR)
            return
        modeladmin.message_user(
            request,
            f"AI batch job {job.pk} started over {job.total} posts; empty fields only. "
            "Follow it on the editor dashboard.",
            messages.SUCCESS,
        )

    start.__name__ = f"ai_batch_{action}"
    start.short_description = description
    start.allowed_permissions = ("use_aiwriter",)
    return start


# Added to the posts admin by AiwriterConfig.ready(), so the posts app knows nothing of the AI writer.
POST_BATCH_ACTIONS = [
    _batch_action(BatchAction.SUMMARIZE, "AI: write missing excerpts"),
    _batch_action(BatchAction.META_DESCRIPTION, "AI: write missing meta descriptions"),
    _batch_action(BatchAction.TAGS, "AI: suggest tags for untagged posts"),
    _batch_action(BatchAction.TITLES, "AI: write missing search-engine titles"),
]


def post_admin_extend(site: admin.AdminSite) -> None:
    """Offer the batch actions on the posts list, to staff who may use the AI writer."""
    from posts.models import Post

    post_admin = site._registry.get(Post)
    if post_admin is None:
        return
    names = {getattr(action, "__name__", action) for action in post_admin.actions}
    post_admin.actions = [*post_admin.actions, *(a for a in POST_BATCH_ACTIONS if a.__name__ not in names)]
    # The admin hides an action unless has_<permission>_permission(request) holds for each of its permissions.
    post_admin.has_use_aiwriter_permission = lambda request: can_use_aiwriter(request.user)


@admin.register(BatchJob)
class BatchJobAdmin(admin.ModelAdmin):
    """Batch jobs as they ran; started from the posts list, the editor dashboard, the API or the command."""

    list_display = ["created_at", "user", "action", "status", "total", "done_count", "skipped_count", "failed_count"]
    list_filter = ["status", "action"]
    readonly_fields = [field.name for field in BatchJob._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

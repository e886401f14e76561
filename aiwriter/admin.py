from django.contrib import admin

from .models import Generation, PromptTemplate


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
    search_fields = ["request_id", "input_hash", "user__username", "post__title"]
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

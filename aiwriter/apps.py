from django.apps import AppConfig


class AiwriterConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "aiwriter"
    verbose_name = "AI writer"

    def ready(self) -> None:
        # The editor knows nothing of the AI writer; the panel joins its page through this hook.
        from posts.editor_hooks import register_editor_panel

        register_editor_panel("aiwriter/panel.html")

        from django.contrib import admin

        from posts.editor_hooks import register_dashboard_panel

        from .admin import post_admin_extend

        register_dashboard_panel("aiwriter/jobs_panel.html")
        post_admin_extend(admin.site)

        from . import signals

        signals.connect()

        from blogsite.metrics import register_scrape_collector

        from .jobs.metrics import BatchJobsCollector

        register_scrape_collector(BatchJobsCollector())

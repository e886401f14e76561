from django.apps import AppConfig


class PostsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "posts"
    verbose_name = "Posts"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (connects the cache invalidation receivers)
        from .images import receivers  # noqa: F401  (records where library images are used)

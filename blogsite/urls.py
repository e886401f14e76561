from django.contrib import admin
from django.urls import include, path

from blogsite import health, metrics

urlpatterns = [
    path("metrics", metrics.metrics_view, name="metrics"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("editor/", include("posts.editor_urls")),
    path("aiwriter/", include("aiwriter.urls")),
    path("", include("posts.urls")),
]

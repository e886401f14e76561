from django.conf import settings
from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView

from blogsite import health, metrics
from posts.images.views import media_file

urlpatterns = [
    path("metrics", metrics.metrics_view, name="metrics"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    # Browsers and crawlers ask for /favicon.ico whatever the page links to. The static file's address
    # is worked out at the first request: under the manifest storage it names the collected file.
    path("favicon.ico", RedirectView.as_view(url=lazy(static, str)("favicon.ico"), permanent=True), name="favicon"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("editor/", include("posts.editor_urls")),
    path("aiwriter/", include("aiwriter.urls")),
    path("", include("posts.urls")),
]
if settings.MEDIA_SERVED_BY_DJANGO:
    # Uploaded images in development; in production nginx serves MEDIA_ROOT (deploy/nginx.conf),
    # or the object storage serves them.
    urlpatterns.insert(0, path(f"{settings.MEDIA_URL.strip('/')}/<path:path>", media_file, name="media"))

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("editor/", include("posts.editor_urls")),
    path("", include("posts.urls")),
]

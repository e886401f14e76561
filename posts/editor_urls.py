"""The editor UI, included at /editor/ under the `editor` namespace. These URLs are a public contract."""

from django.urls import include, path

from . import editor_views as views
from . import moderation_views

app_name = "editor"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("posts/new/", views.post_new, name="post_new"),
    path("posts/<int:pk>/edit/", views.post_edit, name="post_edit"),
    path("posts/<int:pk>/request-changes/", views.request_changes, name="request_changes"),
    path("posts/<int:pk>/revisions/", views.revision_list, name="revisions"),
    path("posts/<int:pk>/revisions/compare/", views.revision_compare, name="revision_compare"),
    path("posts/<int:pk>/revisions/<int:version>/", views.revision_detail, name="revision"),
    path("posts/<int:pk>/revisions/<int:version>/restore/", views.revision_restore, name="revision_restore"),
    path("media/", include("posts.images.urls")),
    path("preview/", views.preview, name="preview"),
    path("autosave/", views.autosave, name="autosave"),
    path("comments/", moderation_views.comment_queue, name="comments"),
    path("comments/moderate/", moderation_views.comment_moderate, name="comments_moderate"),
]

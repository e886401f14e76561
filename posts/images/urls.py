"""The media library, included in the editor's URLs at /editor/media/ (names under `editor:`)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.library, name="media_library"),
    path("upload/", views.upload_json, name="media_upload"),
    path("images.json", views.library_json, name="media_json"),
    path("<int:pk>/", views.image_edit, name="media_edit"),
    path("<int:pk>/delete/", views.image_delete, name="media_delete"),
]

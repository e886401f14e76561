from django.urls import path

from . import alt_text_views, views

app_name = "aiwriter"
urlpatterns = [
    path("stream/", views.generation_stream, name="stream"),
    path("models/", views.models_list, name="models"),
    path("alt-text/images/", alt_text_views.body_images, name="alt_text_images"),
    path("alt-text/images/<int:image_id>/", alt_text_views.image_alt_text_save, name="alt_text_save"),
    path("chat/", views.chat_history, name="chat"),
    path("chat/clear/", views.chat_clear, name="chat_clear"),
    path("jobs/", views.job_start, name="jobs"),
    path("jobs/<int:job_id>/", views.job_detail, name="job"),
    path("jobs/<int:job_id>/cancel/", views.job_cancel, name="job_cancel"),
]

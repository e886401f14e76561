from django.urls import path

from . import views

app_name = "aiwriter"
urlpatterns = [
    path("stream/", views.generation_stream, name="stream"),
    path("models/", views.models_list, name="models"),
    path("chat/", views.chat_history, name="chat"),
    path("chat/clear/", views.chat_clear, name="chat_clear"),
    path("jobs/", views.job_start, name="jobs"),
    path("jobs/<int:job_id>/", views.job_detail, name="job"),
    path("jobs/<int:job_id>/cancel/", views.job_cancel, name="job_cancel"),
]

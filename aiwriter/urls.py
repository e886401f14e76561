from django.urls import path

from . import views

app_name = "aiwriter"
urlpatterns = [
    path("stream/", views.generation_stream, name="stream"),
    path("models/", views.models_list, name="models"),
]

from django.urls import path

from .consumers import AiwriterConsumer

websocket_urlpatterns = [
    path("ws/aiwriter/", AiwriterConsumer.as_asgi(), name="aiwriter-socket"),
]

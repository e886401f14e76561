from django.urls import path

from .consumers import AiwriterConsumer

SOCKET_PATH = "/ws/aiwriter/"

websocket_urlpatterns = [
    path(SOCKET_PATH.lstrip("/"), AiwriterConsumer.as_asgi(), name="aiwriter-socket"),
]

"""HTTP goes through the reader page cache to Django; WebSockets through origin and session checks to the AI writer.

Both get a request id first (blogsite/request_id.py).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blogsite.settings.base")
django_asgi_app = get_asgi_application()  # set up Django before importing consumers

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from aiwriter.auth import AiwriterAuthMiddlewareStack  # noqa: E402
from aiwriter.routing import websocket_urlpatterns  # noqa: E402
from blogsite.request_id import RequestIdMiddleware  # noqa: E402
from blogsite.server_timing import ServerTimingMiddleware  # noqa: E402
from blogsite.websocket_origin import SameOriginValidator  # noqa: E402
from posts.page_cache import PageCacheMiddleware  # noqa: E402

# The request id outermost, so every response carries it and every log line made below has it;
# Server-Timing next, so it covers every layer below it, cached or not.
application = RequestIdMiddleware(
    ServerTimingMiddleware(
        ProtocolTypeRouter(
            {
                "http": PageCacheMiddleware(django_asgi_app),
                "websocket": SameOriginValidator(AiwriterAuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
            }
        )
    )
)

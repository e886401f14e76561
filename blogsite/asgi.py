"""HTTP goes to Django; WebSockets go through origin and session checks to the AI writer."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blogsite.settings.base")
django_asgi_app = get_asgi_application()  # set up Django before importing consumers

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from aiwriter.auth import AiwriterAuthMiddlewareStack  # noqa: E402
from aiwriter.routing import websocket_urlpatterns  # noqa: E402
from blogsite.page_cache import PageCacheMiddleware  # noqa: E402
from blogsite.server_timing import ServerTimingMiddleware  # noqa: E402

# Outermost, so Server-Timing covers every layer below it, cached or not.
application = ServerTimingMiddleware(
    ProtocolTypeRouter(
        {
            "http": PageCacheMiddleware(django_asgi_app),
            "websocket": AllowedHostsOriginValidator(AiwriterAuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
        }
    )
)

# Everything imported and built so far lives as long as the process. Freezing it keeps the cyclic
# garbage collector from walking it again on every full collection: with the site loaded, each one
# paused the event loop for 100 to 250 ms, which every open AI stream felt as a stall.
gc.freeze()
# Full collections still paused the loop 20 to 100 ms each, about a dozen times a minute under
# load, and set the AI writer's p99 time to first token (at 200 streams: 52 to 163 ms added with
# them, 23 to 29 ms with the collector off). The young generations are collected as usual; the
# full collection now waits for 1,000 collections of the middle one instead of 10: none ran while
# 200 streams were held for 30 s, where before they came every few seconds.
FULL_COLLECTION_AFTER = 1000
gc.set_threshold(*gc.get_threshold()[:2], FULL_COLLECTION_AFTER)

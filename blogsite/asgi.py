"""HTTP goes to Django; WebSockets go through origin and session checks to the AI writer."""

import gc
import os
import sys

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

# Django's sync thread (database work) and the audit records' writer share the interpreter lock
# with the event loop. When the loop wakes while one of them holds it, the loop waits until the
# holder lets go, up to the switch interval: 5 ms by default, several times over within one loop
# turn (measured: a 14 ms turn with 0.5 ms of the loop's own work while the records' thread wrote a
# batch). At 1 ms, four paired runs of the gateway benchmark at 200 streams gave a time to first
# token p99 of 9 to 16 ms added, against 14 to 24 with the default; the p50 and the 1,000-stream
# figures did not move.
sys.setswitchinterval(0.001)

"""HTTP goes through the reader page cache to Django; WebSockets through origin and session checks to the AI writer.

Both get a request id first (blogsite/request_id.py).
"""

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

from asgiref.sync import ThreadSensitiveContext, iscoroutinefunction
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blogsite.settings.base")
django_asgi_app = get_asgi_application()  # set up Django before importing consumers

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import Resolver404, resolve  # noqa: E402

from aiwriter.auth import AiwriterAuthMiddlewareStack  # noqa: E402
from aiwriter.routing import websocket_urlpatterns  # noqa: E402
from blogsite.per_loop import PerLoop  # noqa: E402
from blogsite.request_id import RequestIdMiddleware  # noqa: E402
from blogsite.server_timing import ServerTimingMiddleware  # noqa: E402
from blogsite.websocket_origin import SameOriginValidator  # noqa: E402
from posts.page_cache import PageCacheMiddleware  # noqa: E402


class DjangoThreads:
    """Django's sync code on a few long-lived threads, each request's on one of them throughout.

    Django's ASGI handler runs a request's sync middleware and view in a ThreadSensitiveContext
    of its own. Without an executor, that context starts a thread for the request and another to
    join it afterwards, and since database connections belong to a thread, each request also
    opened a new one whatever CONN_MAX_AGE said. Here a request borrows one of
    `settings.DJANGO_SYNC_THREADS` single-thread executors (waiting while all are busy) and
    gives it back: threads, and their database connections, serve request after request.
    Django's own context inside keeps the outer one, as asgiref does for nested contexts.

    Requests for async views keep Django's own context, a thread for each: under the sync
    middleware chain such a view holds its thread for as long as it awaits (an SSE generation
    until its first event), which must not keep other requests waiting for one of these.

    The executors are shared by every event loop (tests run several, one after another): each
    runs one call at a time, so a loop never sees another's call in the middle of its own.
    """

    def __init__(self, app, *, threads: int):
        self.app = app
        self._executors = [ThreadPoolExecutor(max_workers=1, thread_name_prefix="django") for _ in range(threads)]
        self._idle: PerLoop[asyncio.Queue[ThreadPoolExecutor]] = PerLoop()

    async def __call__(self, scope, receive, send) -> None:
        if _async_view(scope["path"]):
            await self.app(scope, receive, send)
            return
        idle = self._idle.get(self._queue)
        executor = await idle.get()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.app(scope, receive, send)
        finally:
            idle.put_nowait(executor)

    def _queue(self) -> asyncio.Queue[ThreadPoolExecutor]:
        queue: asyncio.Queue[ThreadPoolExecutor] = asyncio.Queue()
        for executor in self._executors:
            queue.put_nowait(executor)
        return queue


@lru_cache(maxsize=4096)
def _async_view(path: str) -> bool:
    """Whether the path's view is a coroutine function (Django marks async class-based views so)."""
    try:
        return iscoroutinefunction(resolve(path).func)
    except Resolver404:
        return False


# The request id outermost, so every response carries it and every log line made below has it;
# Server-Timing next, so it covers every layer below it, cached or not.
application = RequestIdMiddleware(
    ServerTimingMiddleware(
        ProtocolTypeRouter(
            {
                "http": PageCacheMiddleware(DjangoThreads(django_asgi_app, threads=settings.DJANGO_SYNC_THREADS)),
                "websocket": SameOriginValidator(AiwriterAuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
            }
        )
    )
)

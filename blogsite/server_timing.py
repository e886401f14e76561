"""A `Server-Timing` header on every HTTP response, added by the outermost ASGI layer.

Sitting outside both the page cache and Django, one layer times every response the same
way: from the request reaching the application to its headers being sent. A page answered
from the page cache (it says `X-Cache: HIT`) is reported as `cache`, everything else as
`app`, so browser devtools and synthetic checks show at a glance which path served it.
"""

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def timing_entry(headers: list, elapsed_seconds: float) -> bytes:
    """`cache;dur=0.42` for page-cache hits, `app;dur=37.1` for the rest (milliseconds)."""
    hit = any(name.lower() == b"x-cache" and value.strip().upper() == b"HIT" for name, value in headers)
    metric = b"cache" if hit else b"app"
    return metric + b";dur=" + f"{elapsed_seconds * 1000:.2f}".encode()


class ServerTimingMiddleware:
    """Wraps an ASGI app; WebSocket and lifespan traffic pass through untouched."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def send_with_timing(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"server-timing", timing_entry(headers, time.perf_counter() - started)))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_timing)

"""A request id for every HTTP request and WebSocket, carried into its log lines, jobs and audit records.

The outermost ASGI layer (blogsite/asgi.py) takes the id from the `X-Request-ID` header when it is
a usable one (nginx sends the client's or makes one), else makes one, and sends it back in the
response's `X-Request-ID`. For the request's life it sits in a context variable, which asyncio
tasks and Django's and Channels' threads inherit, so that:

- every log record made meanwhile carries it (`RequestContextFilter`, on the handler), with the
  path and, once Django or the socket's sign-in knows it, the user's id;
- a Celery task enqueued meanwhile carries it in its message headers, and the worker runs the
  task under it; a task enqueued outside any request (beat's schedule) gets an id of its own;
- the AI writer's audit records keep it (`Generation.http_request_id`).

When the response is done (for a WebSocket, when the socket closes) the layer logs one line on
`blogsite.requests`: method, path, status and duration.
"""

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import SESSION_KEY, get_user_model
from django.http import HttpRequest, HttpResponse

HEADER = b"x-request-id"
# Ids from outside are kept only when short and plain, as they go into logs and headers as they are.
USABLE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,63}")
CELERY_HEADER = "x_request_id"

access_log = logging.getLogger("blogsite.requests")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(slots=True)
class RequestContext:
    request_id: str
    path: str | None = None
    user_id: int | None = None


_current: ContextVar[RequestContext | None] = ContextVar("request_context", default=None)


def current_request_id() -> str:
    """The id of the request (or Celery task) this code runs for; empty outside any."""
    context = _current.get()
    return context.request_id if context is not None else ""


def user_noted(user_id) -> None:
    """Adds the signed-in user's id to the current request's log lines."""
    context = _current.get()
    if context is not None and user_id is not None:
        context.user_id = get_user_model()._meta.pk.to_python(user_id)


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == HEADER:
            incoming = value.decode("latin-1").strip()
            if USABLE_ID.fullmatch(incoming):
                return incoming
            break
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """The ASGI layer: sets the request's id and context, returns the id, logs the request's line."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope.get("headers", []))
        context = RequestContext(request_id=request_id, path=scope.get("path"))
        token = _current.set(context)
        started = time.perf_counter()
        status: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), (HEADER, request_id.encode())]}
            elif kind == "websocket.accept":
                status = 101
                message = {**message, "headers": [*message.get("headers", []), (HEADER, request_id.encode())]}
            elif kind == "websocket.close" and status is None:
                status = 403  # refused during the handshake
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            status = status or 500  # a client that went away (a cancel) sent nothing and is logged without one
            raise
        finally:
            _log_request(scope, status=status, seconds=time.perf_counter() - started)
            _current.reset(token)


def _log_request(scope: Scope, *, status: int | None, seconds: float) -> None:
    if not access_log.isEnabledFor(logging.INFO):
        return
    method = scope.get("method", "WEBSOCKET")
    duration_ms = round(seconds * 1000, 2)
    access_log.info(
        "%s %s %s %.2f ms",
        method,
        scope.get("path"),
        status or "-",
        duration_ms,
        extra={"method": method, "status": status, "duration_ms": duration_ms},
    )


def request_user_middleware(get_response: Callable[[HttpRequest], HttpResponse]):
    """Django middleware, after SessionMiddleware: the request's user in its log lines.

    Sync-only like the rest of the chain (blogsite/metrics.py says why). The id is the session's,
    read after the view and only if the view read the session (as anything showing the user does):
    logging loads neither the session nor the user, so it costs no query, a streaming response
    takes no connection back, and a response the session did not touch gets no `Vary: Cookie`.
    """

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        session = getattr(request, "session", None)
        if session is not None and session.accessed:
            user_noted(session.get(SESSION_KEY))
        return response

    return middleware


class RequestContextFilter(logging.Filter):
    """Adds the current request's id, path and user to each record (on the handler, so every logger's records)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = _current.get()
        if context is not None:
            record.request_id = context.request_id
            if context.path is not None:
                record.path = context.path
            if context.user_id is not None:
                record.user_id = context.user_id
        return True


def celery_headers_add(headers: dict | None = None, **kwargs) -> None:
    """before_task_publish: the enqueuing request's id travels in the task's headers."""
    request_id = current_request_id()
    if request_id and headers is not None:
        headers[CELERY_HEADER] = request_id


def celery_task_started(task=None, **kwargs) -> None:
    """task_prerun: the task runs under the id it was enqueued with, or one of its own.

    A task run eagerly (in the caller, as tests may) stays under its caller's id.
    """
    if task is None or task.request.is_eager:
        return
    _current.set(RequestContext(request_id=getattr(task.request, CELERY_HEADER, None) or uuid.uuid4().hex))


def celery_task_finished(task=None, **kwargs) -> None:
    """task_postrun: the next task on this worker starts without the last one's id."""
    if task is not None and not task.request.is_eager:
        _current.set(None)

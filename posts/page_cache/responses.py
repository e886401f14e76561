"""Responses as the page cache sees them: which may be shared, how a copy is kept, how one is sent."""

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http.cookie import parse_cookie

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

HIT, MISS, STALE = b"HIT", b"MISS", b"STALE"
MAX_BODY_BYTES = 2 * 1024 * 1024
# Headers that describe one delivery rather than the page.
_NOT_STORED = {b"date", b"server-timing", b"x-cache", b"age", b"connection", b"transfer-encoding"}
_CSRF_MARK = b"csrfmiddlewaretoken"
_PERSONAL_COOKIES = ("messages",)  # one-off notices: the page that shows them is for this person only
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-:[]")


@dataclass(slots=True)
class StoredPage:
    """A response as kept in Redis: `tag\\nstatus\\nheaders\\nbody`, headers joined by NUL bytes."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def encode(self, tag: bytes) -> bytes:
        head = b"\x00".join(part for header in self.headers for part in header)
        return b"\n".join((tag, str(self.status).encode(), head, self.body))

    @classmethod
    def decode(cls, data: bytes) -> "StoredPage":
        _tag, status, head, body = data.split(b"\n", 3)
        parts = head.split(b"\x00") if head else []
        return cls(int(status), list(zip(parts[::2], parts[1::2], strict=True)), body)


def storable(status: int, headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether a response may be shared with every anonymous reader."""
    if status != 200:
        return False
    for name, value in headers:
        name = name.lower()
        if name == b"set-cookie" or b"\n" in value or b"\x00" in value or b"\x00" in name:
            return False
        if name == b"cache-control" and any(word in value.lower() for word in (b"private", b"no-store", b"no-cache")):
            return False
        if name == b"vary" and any(v.strip() not in (b"cookie", b"") for v in value.lower().split(b",")):
            return False
    return True


@dataclass(slots=True)
class RequestInfo:
    session: bool  # a session cookie: perhaps signed in; the shared page plus their reader fragment
    personal: bool  # a messages cookie: the answer is for this person only
    origin: str | None  # scheme://host, None when the host is not one to key a page by


def request_info(scope: Scope) -> RequestInfo:
    host = forwarded_proto = b""
    session = personal = False
    for name, value in scope["headers"]:
        if name == b"host":
            host = value
        elif name == b"cookie":
            cookies = parse_cookie(value.decode("latin-1"))
            session = session or settings.SESSION_COOKIE_NAME in cookies
            personal = personal or any(cookie in cookies for cookie in _PERSONAL_COOKIES)
        elif name == b"x-forwarded-proto":
            forwarded_proto = value
    return RequestInfo(session=session, personal=personal, origin=_origin(scope, host, forwarded_proto))


def without_cookies(scope: Scope) -> Scope:
    """The request as a reader without cookies makes it: Django then renders the page every reader gets."""
    return {**scope, "headers": [(name, value) for name, value in scope["headers"] if name != b"cookie"]}


def _origin(scope: Scope, host: bytes, forwarded_proto: bytes) -> str | None:
    hostname = host.decode("latin-1").lower()
    if not hostname or len(hostname) > 255 or not _HOST_CHARS.issuperset(hostname):
        return None
    # The forwarded scheme is part of the key whether or not Django trusts it: never wrong, at worst a second copy.
    scheme = scope.get("scheme", "http") + ("+" + forwarded_proto.decode("latin-1") if forwarded_proto else "")
    return f"{scheme}://{hostname}"


class Capture:
    """Passes Django's response to the client and keeps a copy of it when it may be stored."""

    def __init__(self, send: Send):
        self.send = send
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.size = 0
        self.keep = False
        self.complete = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            self.status = message["status"]
            self.keep = storable(self.status, headers)
            self.headers = [(name, value) for name, value in headers if name.lower() not in _NOT_STORED]
            message = {**message, "headers": [*headers, (b"x-cache", MISS)]}
        elif message["type"] == "http.response.body" and self.keep:
            body = message.get("body", b"")
            self.size += len(body)
            self.chunks.append(body)
            self.keep = self.size <= MAX_BODY_BYTES
            self.complete = not message.get("more_body", False)
        await self.send(message)

    def page(self) -> StoredPage | None:
        if not (self.keep and self.complete):
            return None
        body = b"".join(self.chunks)
        if _CSRF_MARK in body:  # a form for one visitor: never shared, whatever the headers say
            return None
        return StoredPage(self.status, self.headers, body)


def marked(send: Send, *, personal: bool) -> Send:
    """`X-Cache: MISS` on a public page Django answered; `private` too when it was for one person."""

    async def send_marked(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [*message.get("headers", []), (b"x-cache", MISS)]
            if personal and not any(name.lower() == b"cache-control" for name, _ in headers):
                headers.append((b"cache-control", b"private"))
            message = {**message, "headers": headers}
        await send(message)

    return send_marked


async def send_json(send: Send, body: bytes, *, head: bool) -> None:
    """A small JSON answer for one visitor: never kept by a browser or a proxy."""
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"private, no-store"),
        (b"vary", b"Cookie"),
        (b"x-content-type-options", b"nosniff"),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def send_page(send: Send, page: StoredPage, *, x_cache: bytes, head: bool) -> None:
    await send(
        {"type": "http.response.start", "status": page.status, "headers": [*page.headers, (b"x-cache", x_cache)]}
    )
    await send({"type": "http.response.body", "body": b"" if head else page.body})

"""Which pages may open the site's WebSockets: the site's own origin and CSRF_TRUSTED_ORIGINS, nothing else.

A WebSocket is not covered by CSRF protection, and the browser sends the session cookie to any
page that opens one, so the Origin header is all that tells the site's editor from another page.
Channels' AllowedHostsOriginValidator compares the host alone, which lets in a page on another
port of the same host, or a plain-http page on an https site. Here the origin's scheme, host and
port must equal the site's, as Django's CsrfViewMiddleware requires of a form's Origin: the host
and port from the Host header (which must be in ALLOWED_HOSTS), the scheme from the connection
or from SECURE_PROXY_SSL_HEADER behind a proxy. That keeps same-origin working in development on
any port, and trusted origins (with `*.` subdomain patterns) are matched the same way too.
"""

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import is_same_domain, split_domain_port, validate_host


class SameOriginValidator:
    """ASGI middleware for WebSocket connections; a refused one is closed before the application sees it."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if origin_allowed(scope):
            return await self.application(scope, receive, send)
        return await WebsocketDenier.as_asgi()(scope, receive, send)


def origin_allowed(scope) -> bool:
    headers = {name.lower(): value.decode("latin1") for name, value in scope.get("headers", [])}
    origin = headers.get(b"origin")
    if not origin or origin == "null":
        return False
    scheme = "https" if _is_secure(scope, headers) else "http"
    host = headers.get(b"host")
    if host is not None:
        same_origin = _allowed_host(host) and origin == f"{scheme}://{host.lower()}"
    else:
        # No Host header (not a browser; HTTP/1.1 requires one): an allowed host on its scheme's default port.
        parts = urlsplit(origin)
        same_origin = parts.scheme == scheme and parts.port is None and _allowed_host(parts.netloc)
    return same_origin or _trusted(origin)


def _is_secure(scope, headers: dict[bytes, str]) -> bool:
    """As HttpRequest.is_secure: the connection's own scheme, or the proxy's header when one is configured."""
    if scope.get("scheme") in ("wss", "https"):
        return True
    if settings.SECURE_PROXY_SSL_HEADER:
        name, secure_value = settings.SECURE_PROXY_SSL_HEADER
        header = name.removeprefix("HTTP_").replace("_", "-").lower().encode()
        return headers.get(header, "").split(",")[0].strip() == secure_value
    return False


def _allowed_hosts() -> list[str]:
    # Django's own default while debugging with ALLOWED_HOSTS empty.
    if settings.DEBUG and not settings.ALLOWED_HOSTS:
        return [".localhost", "127.0.0.1", "[::1]"]
    return settings.ALLOWED_HOSTS


def _allowed_host(host: str) -> bool:
    domain, _port = split_domain_port(host)
    return bool(domain) and validate_host(domain, _allowed_hosts())


def _trusted(origin: str) -> bool:
    """As CsrfViewMiddleware: an exact trusted origin, or a subdomain of a `scheme://*.domain` one."""
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    parts = urlsplit(origin)
    return any(
        parts.scheme == trusted.scheme and is_same_domain(parts.netloc, trusted.netloc.removeprefix("*"))
        for trusted in map(urlsplit, settings.CSRF_TRUSTED_ORIGINS)
        if "*" in trusted.netloc
    )

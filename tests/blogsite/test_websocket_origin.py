"""The WebSocket origin check: scheme, host and port must all be the site's, as for CSRF."""

import pytest
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.testing import WebsocketCommunicator

from blogsite.asgi import application
from blogsite.websocket_origin import SameOriginValidator


class Accepting(AsyncWebsocketConsumer):
    async def connect(self):
        await self.accept()


async def connects(app, *, origin: str | None, host: str | None = None, proto: str | None = None) -> bool:
    headers = [(b"origin", origin.encode())] if origin is not None else []
    if host is not None:
        headers.append((b"host", host.encode()))
    if proto is not None:
        headers.append((b"x-forwarded-proto", proto.encode()))
    communicator = WebsocketCommunicator(app, "/ws/aiwriter/", headers=headers)
    try:
        connected, _ = await communicator.connect(timeout=3)
    finally:
        await communicator.disconnect(timeout=0.1)  # a refused socket keeps no consumer to wait for
    return connected


@pytest.fixture
def validated():
    return SameOriginValidator(Accepting.as_asgi())


@pytest.fixture
def production_like(settings):
    settings.ALLOWED_HOSTS = ["blog.example.com"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.CSRF_TRUSTED_ORIGINS = []


async def test_a_page_on_another_port_of_the_same_host_is_refused(settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    assert not await connects(application, origin="http://testserver:8080", host="testserver")


async def test_the_same_origin_connects_in_development(validated, settings):
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    assert await connects(validated, origin="http://localhost:8000", host="localhost:8000")
    assert await connects(validated, origin="http://127.0.0.1:8000", host="127.0.0.1:8000")
    assert not await connects(validated, origin="http://localhost:8001", host="localhost:8000")
    assert not await connects(validated, origin="https://localhost:8000", host="localhost:8000")


async def test_plain_http_pages_are_refused_on_an_https_site(validated, production_like):
    assert await connects(validated, origin="https://blog.example.com", host="blog.example.com", proto="https")
    assert not await connects(validated, origin="http://blog.example.com", host="blog.example.com", proto="https")
    assert not await connects(validated, origin="https://blog.example.com:8443", host="blog.example.com", proto="https")


async def test_hosts_outside_allowed_hosts_and_missing_origins_are_refused(validated, production_like):
    assert not await connects(validated, origin="https://evil.example", host="evil.example", proto="https")
    assert not await connects(validated, origin=None, host="blog.example.com", proto="https")
    assert not await connects(validated, origin="null", host="blog.example.com", proto="https")


async def test_trusted_origins_connect_with_their_exact_scheme_and_port(validated, production_like, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://editors.example.com", "https://*.blog.example.com"]
    assert await connects(validated, origin="https://editors.example.com", host="blog.example.com", proto="https")
    assert await connects(validated, origin="https://eu.blog.example.com", host="blog.example.com", proto="https")
    assert not await connects(validated, origin="http://editors.example.com", host="blog.example.com", proto="https")
    assert not await connects(validated, origin="https://editors.example.com:444", host="blog.example.com")


async def test_without_a_host_header_the_origin_must_be_an_allowed_host_on_its_default_port(validated, settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    assert await connects(validated, origin="http://testserver")
    assert not await connects(validated, origin="http://testserver:8080")

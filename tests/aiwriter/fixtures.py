"""Helpers for the AI writer's tests: sockets that always close, sessions, simulator settings.

Test modules import the fixtures they use from here (`from tests.aiwriter.fixtures import ...`).
"""

import asyncio
import inspect
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from aiwriter import limits
from aiwriter.gateway import close_gateway
from aiwriter.models import Generation
from blogsite.asgi import application
from tests.aiwriter.conftest import DIALECTS

# Tests that reach the consumer or an async view touch the database from another thread, so
# they need real transactions; the rollback restores the roles and prompts the migrations made.
transactional = pytest.mark.django_db(transaction=True, serialized_rollback=True)

RECEIVE_TIMEOUT = 3


@pytest.fixture(params=DIALECTS, name="dialect")
def both_dialects(request) -> str:
    """Imported by a module (or a folder's conftest), it runs each test there against an engine
    of each dialect, in place of the Ollama-only `dialect` of tests/aiwriter/conftest.py."""
    return request.param


@pytest.fixture
def aiwriter_settings(settings, engine_settings):
    """The site talks to the simulator, with short time limits so failures show quickly."""
    settings.AIWRITER_TIMEOUTS = {"connect": 1.0, "first_token": 2.0, "idle": 2.0, "total": 10.0}
    settings.AIWRITER_MAX_CONCURRENT_PER_USER = 3
    settings.AIWRITER_RATE_LIMIT = 100
    return engine_settings


@pytest.fixture
async def shared_clients():
    """Closes the gateway (and its engine clients) opened on this test's event loop."""
    yield
    await close_gateway()


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def session_cookie(user) -> str:
    return signed_in(user).cookies["sessionid"].value


@asynccontextmanager
async def websocket(
    user=None, *, origin: str = "http://testserver", client: Client | None = None, headers: list | None = None
) -> AsyncIterator[WebsocketCommunicator]:
    """A connected socket to /ws/aiwriter/ as `user` (anonymous when None), or with the session of a
    signed-in `client`, with any other `headers`; always disconnected after."""
    headers = [(b"origin", origin.encode()), *(headers or [])]
    cookie = client.cookies["sessionid"].value if client is not None else None
    if user is not None:
        cookie = await sync_to_async(session_cookie)(user)
    if cookie is not None:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    communicator = WebsocketCommunicator(application, "/ws/aiwriter/", headers=headers)
    try:
        connected, _ = await communicator.connect()
        assert connected
        yield communicator
    finally:
        await communicator.disconnect()


def generate_message(request_id: str = "r1", *, action: str = "draft", text: str = "", **fields) -> dict:
    return {"type": "generate", "request_id": request_id, "action": action, "text": text, **fields}


async def receive(communicator: WebsocketCommunicator, timeout: float = RECEIVE_TIMEOUT) -> dict:
    return await communicator.receive_json_from(timeout=timeout)


async def collect(
    communicator: WebsocketCommunicator, request_id: str = "r1", *, timeout: float = RECEIVE_TIMEOUT
) -> list[dict]:
    """Events for one request until its done or error event (events of other requests are skipped)."""
    events = []
    while True:
        event = await receive(communicator, timeout)
        if event["request_id"] != request_id:
            continue
        events.append(event)
        if event["type"] in ("done", "error"):
            return events


def streamed_text(events: list[dict]) -> str:
    return "".join(event["text"] for event in events if event["type"] == "chunk")


def parse_sse(body: bytes) -> list[dict]:
    """The events of a Server-Sent Events body, checking each event's name matches its type."""
    events = []
    for block in body.decode().split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        event = json.loads(fields["data"])
        assert fields["event"] == event["type"]
        events.append(event)
    return events


async def running_slots(user) -> int:
    """How many of the editor's generation slots Redis holds now."""
    client, _ = limits._client()
    return await client.zcard(limits._keys(user.pk)[1])


async def until(
    condition, *, timeout: float = 3.0, poll: float = 0.01, message: str = "the condition did not hold in time"
) -> None:
    """Waits for `condition()` to hold; a condition that returns an awaitable (a Redis query) is awaited."""
    deadline = time.monotonic() + timeout
    while not await _value(condition()):
        assert time.monotonic() < deadline, message
        await asyncio.sleep(poll)


async def _value(result):
    return await result if inspect.isawaitable(result) else result


async def recorded_generation(request_id: str):
    """The audit record of a generation once written: a stopped one's is written just after it stops."""
    await until(
        lambda: Generation.objects.filter(request_id=request_id).aexists(), message="the generation has no record"
    )
    return await Generation.objects.aget(request_id=request_id)

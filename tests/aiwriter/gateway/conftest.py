"""Fixtures for the gateway: simulated hosts of either dialect, and settings that make failures show fast.

Every gateway test runs against both dialects: the hosts speak Ollama's API in one run and the
OpenAI-compatible API in the other.
"""

from collections.abc import AsyncIterator, Callable
from contextlib import aclosing

import pytest

from aiwriter.engines import Chunk
from aiwriter.gateway import CompletionRequest, close_gateway, completion_open
from tests.aiwriter.conftest import backend_of
from tests.aiwriter.fixtures import both_dialects  # noqa: F401 (fixture)
from tests.engine_simulator import EngineSimulator

MODEL = "llama3.2:1b"


@pytest.fixture
def gateway_settings(settings):
    settings.AIWRITER_TIMEOUTS = {"connect": 1.0, "first_token": 2.0, "idle": 2.0, "total": 10.0}
    settings.AIWRITER_MAX_CONCURRENT_PER_USER = 3
    settings.AIWRITER_RATE_LIMIT = 1000
    settings.AIWRITER_BREAKER_FAILURES = 2
    settings.AIWRITER_BREAKER_COOLDOWN = 0.3
    settings.AIWRITER_RETRY_BACKOFF = 0.01
    settings.AIWRITER_HEALTH_INTERVAL = 0  # tests refresh the hosts when they mean to
    return settings


@pytest.fixture
def hosts(gateway_settings, engine_factory) -> Callable[..., list[EngineSimulator]]:
    """Starts `count` simulators (same keyword arguments for each) and points AIWRITER_BACKENDS at them."""

    def start(count: int = 3, **config) -> list[EngineSimulator]:
        simulators = [engine_factory(**config) for _ in range(count)]
        gateway_settings.AIWRITER_BACKENDS = [backend_of(simulator) for simulator in simulators]
        return simulators

    return start


@pytest.fixture(autouse=True)
async def fresh_gateway() -> AsyncIterator[None]:
    """Each test gets its own gateway and clients, closed at the end."""
    yield
    await close_gateway()


def chat(content: str = "Write about tea.", *, model: str = MODEL, **fields) -> CompletionRequest:
    fields.setdefault("options", {"temperature": 0.8})
    return CompletionRequest(model=model, messages=[{"role": "user", "content": content}], **fields)


async def complete(request: CompletionRequest, **kwargs) -> tuple[str, object]:
    """The whole text of a completion and its stream (for `.host` and `.cached`)."""
    stream = completion_open(request, **kwargs)
    pieces = []
    async with aclosing(stream.events) as events:
        async for item in events:
            if isinstance(item, Chunk):
                pieces.append(item.text)
    return "".join(pieces), stream

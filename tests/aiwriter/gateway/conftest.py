"""Fixtures for the gateway: three simulated Ollama hosts and settings that make failures show fast."""

from collections.abc import AsyncIterator, Callable
from contextlib import aclosing

import pytest

from aiwriter.gateway import CompletionRequest, close_gateway, completion_open
from aiwriter.engines import Chunk, close_clients
from tests.ollama_simulator import OllamaSimulator

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
    settings.AIWRITER_COALESCE_HEARTBEAT = 0.6
    return settings


@pytest.fixture
def hosts(gateway_settings, ollama_sim_factory) -> Callable[..., list[OllamaSimulator]]:
    """Starts `count` simulators (same keyword arguments for each) and points OLLAMA_URLS at them."""

    def start(count: int = 3, **config) -> list[OllamaSimulator]:
        simulators = [ollama_sim_factory(**config) for _ in range(count)]
        gateway_settings.OLLAMA_URLS = [simulator.url for simulator in simulators]
        return simulators

    return start


@pytest.fixture(autouse=True)
async def fresh_gateway() -> AsyncIterator[None]:
    """Each test gets its own gateway and clients, closed at the end."""
    yield
    await close_gateway()
    await close_clients()


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


def chat_requests(*simulators: OllamaSimulator) -> list:
    return [record for simulator in simulators for record in simulator.requests_to("/api/chat")]

"""Between the generation service and the Ollama client: which host answers a request.

This is the one place that turns a `CompletionRequest` into a stream of `Chunk`s and a `Done`.
Today it sends every request to the first host of OLLAMA_URLS; routing across hosts, retries,
admission, a response cache and coalescing of identical requests belong here too, behind the
same `completion_open()` and `models_list()`, so the service and the views do not change.
"""

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from .ollama import Chunk, Done, ModelInfo, OllamaClient, OllamaError, Timeouts, get_client


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    model: str
    messages: list[dict[str, str]]
    options: Mapping[str, Any] = field(default_factory=dict)
    # The same request may be answered from a cache (the action allows it and the editor did not ask again).
    cacheable: bool = False
    # An editor is watching; batch work waits behind interactive requests.
    interactive: bool = True


@dataclass(slots=True)
class CompletionStream:
    """A started completion: where it comes from, and its events to iterate (and close when stopping early)."""

    host: str
    events: AsyncIterator[Chunk | Done]
    cached: bool = False


@dataclass(frozen=True, slots=True)
class HostModels:
    host: str
    models: list[ModelInfo]
    error: OllamaError | None = None


def ollama_timeouts() -> Timeouts:
    return Timeouts(**settings.AIWRITER_TIMEOUTS)


def ollama_hosts() -> list[str]:
    return list(settings.OLLAMA_URLS)


def host_pick(request: CompletionRequest) -> str:
    """The host that serves `request`."""
    return ollama_hosts()[0]


def client_for(host: str) -> OllamaClient:
    return get_client(host, timeouts=ollama_timeouts())


def completion_open(request: CompletionRequest) -> CompletionStream:
    """Start streaming a chat completion. Nothing is sent until the events are first iterated."""
    host = host_pick(request)
    events = client_for(host).chat(model=request.model, messages=request.messages, options=dict(request.options))
    return CompletionStream(host=host, events=events)


async def models_list() -> list[HostModels]:
    """The models each host has installed; a host that cannot answer says why instead."""
    return list(await asyncio.gather(*(_host_models(host) for host in ollama_hosts())))


async def _host_models(host: str) -> HostModels:
    try:
        return HostModels(host=host, models=await client_for(host).tags())
    except OllamaError as error:
        return HostModels(host=host, models=[], error=error)

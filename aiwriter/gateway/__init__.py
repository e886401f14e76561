"""Between the generation service and the Ollama client: the AI gateway.

`completion_open()` turns a `CompletionRequest` into a stream of `Chunk`s and a `Done`, after
the response cache (response_cache.py), coalescing with an identical generation in flight, anywhere
(coalescing.py), admission under a global and per-host limit with a bounded priority queue
(admission.py), the choice of the least busy healthy host (routing.py, hosts.py, breaker.py) and
retries on another host before any text (retry.py); text reaches the editor in paced frames
(frames.py). Batch jobs call the same entry point with `priority=Priority.BATCH`.
"""

import asyncio

from django.conf import settings

from ..engines import OllamaClient, EngineError, Timeouts, get_client
from .admission import GatewayBusy, Priority
from .core import Gateway, Readiness, close_gateway, current_gateway, get_gateway
from .request import CompletionRequest, CompletionStream, HostModels

__all__ = [
    "CompletionRequest",
    "CompletionStream",
    "Gateway",
    "GatewayBusy",
    "HostModels",
    "Priority",
    "client_for",
    "close_gateway",
    "completion_open",
    "current_gateway",
    "get_gateway",
    "hosts_state",
    "models_list",
    "ollama_hosts",
    "ollama_timeouts",
]


def ollama_timeouts() -> Timeouts:
    return Timeouts(**settings.AIWRITER_TIMEOUTS)


def ollama_hosts() -> list[str]:
    return list(settings.OLLAMA_URLS)


def client_for(host: str) -> OllamaClient:
    return get_client(host, timeouts=ollama_timeouts())


def completion_open(
    request: CompletionRequest, *, priority: Priority | None = None, after: Readiness | None = None
) -> CompletionStream:
    """Start streaming a chat completion; close the stream when done with it (`aclose()`).

    Without `after`, nothing is sent until the events are first iterated. With it, the gateway may
    start at once, and sends the request as soon as `after()` has returned; if it raises, nothing is
    sent at all.
    Without `priority`, `request.interactive` decides: an editor waiting goes before batch work.
    """
    return get_gateway().open(request, priority=priority, after=after)


def hosts_state() -> list[dict]:
    """Each host as this process sees it: reachable, breaker state, generations in flight, models."""
    return [host.as_dict() for host in get_gateway().hosts]


async def models_list() -> list[HostModels]:
    """The models each host has installed; a host that cannot answer says why instead."""
    return list(await asyncio.gather(*(_host_models(host) for host in ollama_hosts())))


async def _host_models(host: str) -> HostModels:
    try:
        return HostModels(host=host, models=await client_for(host).tags())
    except EngineError as error:
        return HostModels(host=host, models=[], error=error)

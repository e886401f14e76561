"""Between the generation service and the engine clients: the AI gateway.

`completion_open()` turns a `CompletionRequest` into a stream of `Thinking` and `Chunk` pieces
and a `Done`, after the response cache (response_cache.py), admission under a global and
per-host limit with a bounded priority queue (admission.py), the choice of the least busy healthy
host that serves the model, whatever its dialect (routing.py, hosts.py, breaker.py), fitting the
prompt into the model's context window (context.py) and retries on another host before any text
(retry.py); text reaches the editor in merged frames (frames.py). Batch jobs call the same entry
point with `priority=Priority.BATCH`.
"""

import asyncio
from dataclasses import replace

from ..engines import EngineError
from .admission import GatewayBusy, Priority
from .core import Gateway, close_gateway, get_gateway
from .hosts import HostState
from .request import CompletionRequest, CompletionStream, HostModels

__all__ = [
    "CompletionRequest",
    "CompletionStream",
    "Gateway",
    "GatewayBusy",
    "HostModels",
    "Priority",
    "close_gateway",
    "completion_open",
    "get_gateway",
    "hosts_state",
    "model_sees_images",
    "models_list",
    "remember",
]


def completion_open(request: CompletionRequest, *, priority: Priority | None = None) -> CompletionStream:
    """Start streaming a chat completion; close the stream when done with it (`aclose()`).

    Nothing is sent until the events are first iterated. Without `priority`, `request.interactive`
    decides: an editor waiting goes before batch work.
    """
    return get_gateway().open(request, priority=priority)


async def remember(request: CompletionRequest, *, text: str, stats) -> None:
    """Keeps the answer an editor received in the response cache, where the request allows it."""
    await get_gateway().remember(request, text=text, stats=stats)


def hosts_state() -> list[dict]:
    """Each host as this process sees it: dialect, reachable, breaker state, generations in flight, models."""
    return [host.as_dict() for host in get_gateway().hosts]


async def models_list() -> list[HostModels]:
    """The models each host serves; a host that cannot answer says why instead."""
    return list(await asyncio.gather(*(_host_models(host) for host in get_gateway().hosts)))


async def _host_models(host: HostState) -> HostModels:
    try:
        models = await host.client.models()
    except EngineError as error:
        return HostModels(host=host.url, dialect=host.dialect, models=[], error=error)
    seeing = await asyncio.gather(*(_sees_images(host, model.name) for model in models))
    models = [replace(model, vision=vision is True) for model, vision in zip(models, seeing, strict=True)]
    return HostModels(host=host.url, dialect=host.dialect, models=models)


async def model_sees_images(model: str) -> bool | None:
    """Whether the model reads images on a host that serves it; None when no such host could say."""
    answers = await asyncio.gather(*(_sees_images(host, model) for host in get_gateway().hosts if host.serves(model)))
    if True in answers:
        return True
    return False if False in answers else None


async def _sees_images(host: HostState, model: str) -> bool | None:
    try:
        details = await host.client.cached_details(model)
    except EngineError:
        return None
    return details.vision if details.known or details.vision else None

"""What the generation service asks of the gateway, and what it gets back."""

from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..engines import Chunk, Done, ModelInfo, EngineError


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    model: str
    messages: list[dict[str, str]]
    options: Mapping[str, Any] = field(default_factory=dict)
    # The same request may be answered from a cache (the action allows it and the editor did not ask again).
    cacheable: bool = False
    # An editor is watching; batch work waits behind interactive requests.
    interactive: bool = True
    # For metrics and the cache's time to live.
    action: str = ""
    # The editor asked for a fresh answer: neither the cache nor an identical generation in flight serves it.
    regenerate: bool = False


@dataclass(slots=True)
class CompletionStream:
    """A started completion: where it comes from, and its events to iterate (and close when stopping early).

    `host` and `cached` are final once the events are exhausted or closed: retries may change the host.
    """

    host: str
    events: AsyncGenerator[Chunk | Done, None]
    cached: bool = False
    coalesced: bool = False
    # Stops what the gateway started for this stream before its events were iterated, if anything.
    on_close: Callable[[], None] | None = None

    async def aclose(self) -> None:
        """Stops the stream, whether or not its events were iterated (closing again does nothing)."""
        await self.events.aclose()
        if self.on_close is not None:
            self.on_close()


@dataclass(frozen=True, slots=True)
class HostModels:
    host: str
    models: list[ModelInfo]
    error: EngineError | None = None

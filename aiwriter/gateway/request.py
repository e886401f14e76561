"""What the generation service asks of the gateway, and what it gets back."""

from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..engines import Chunk, Done, EngineError, ModelInfo, Thinking


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    model: str
    messages: list[dict[str, str]]
    # Ollama-style option names (temperature, seed, num_predict...); each dialect's client maps them.
    options: Mapping[str, Any] = field(default_factory=dict)
    # The same request may be answered from a cache (the action allows it and the editor did not ask again).
    cacheable: bool = False
    # An editor is watching; batch work waits behind interactive requests.
    interactive: bool = True
    # For metrics and the cache's time to live.
    action: str = ""
    # The editor asked for a fresh answer: the cache does not serve it.
    regenerate: bool = False


@dataclass(slots=True)
class CompletionStream:
    """A started completion: where it comes from, and its events to iterate (and close when stopping early).

    `host` and `cached` are final once the events are exhausted or closed: retries may change the host.
    """

    events: AsyncGenerator[Chunk | Thinking | Done, None]
    host: str = ""
    cached: bool = False

    async def aclose(self) -> None:
        """Stops the stream, whether or not its events were iterated (closing again does nothing)."""
        await self.events.aclose()


@dataclass(frozen=True, slots=True)
class HostModels:
    host: str
    dialect: str
    models: list[ModelInfo]
    error: EngineError | None = None

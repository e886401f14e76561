"""Clients for inference engines, one per API dialect. They speak HTTP to engines only: they
import no app's models and no settings, and take their configuration as arguments."""

import os
from dataclasses import dataclass

from .base import EngineClient, StreamEvent
from .errors import (
    BadRequest,
    ConfigurationError,
    ContextTooLong,
    EngineError,
    MalformedResponse,
    ModelNotFound,
    RateLimited,
    ServerBusy,
    ServerError,
    StreamError,
    Timeout,
    Unavailable,
)
from .ollama import OllamaClient
from .openai import OpenAIClient
from .types import Chunk, Done, GenerationStats, ModelDetails, ModelInfo, Thinking, Timeouts, image_part

CLIENTS: dict[str, type[EngineClient]] = {"ollama": OllamaClient, "openai": OpenAIClient}


@dataclass(frozen=True, slots=True)
class Backend:
    """One host of AIWRITER_BACKENDS: its dialect, address, and the variable holding its API key."""

    dialect: str
    url: str
    api_key_env: str = ""
    # Models the configuration says read images (OpenAI-compatible APIs do not say so themselves).
    vision_models: frozenset[str] = frozenset()

    @classmethod
    def from_setting(cls, entry: dict) -> "Backend":
        return cls(
            dialect=entry["dialect"],
            url=entry["url"].rstrip("/"),
            api_key_env=entry.get("api_key_env", ""),
            vision_models=frozenset(entry.get("vision_models", ())),
        )

    def client(self, *, timeouts: Timeouts, max_connections: int = 100) -> EngineClient:
        """A new client for this host; the key is read from the environment here, and kept only in its headers."""
        api_key = os.environ.get(self.api_key_env, "") if self.api_key_env else ""
        return CLIENTS[self.dialect](
            self.url,
            timeouts=timeouts,
            api_key=api_key,
            max_connections=max_connections,
            vision_models=self.vision_models,
        )


__all__ = [
    "Backend",
    "BadRequest",
    "Chunk",
    "ConfigurationError",
    "ContextTooLong",
    "Done",
    "EngineClient",
    "EngineError",
    "GenerationStats",
    "MalformedResponse",
    "ModelDetails",
    "ModelInfo",
    "ModelNotFound",
    "OllamaClient",
    "OpenAIClient",
    "RateLimited",
    "ServerBusy",
    "ServerError",
    "StreamError",
    "StreamEvent",
    "Thinking",
    "Timeout",
    "Timeouts",
    "Unavailable",
    "image_part",
]

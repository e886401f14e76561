"""Client for the Ollama HTTP API. It speaks Ollama only and imports no app's models."""

from .ollama import OllamaClient, close_clients, get_client
from .errors import (
    BadRequest,
    MalformedResponse,
    ModelNotFound,
    EngineError,
    RateLimited,
    ServerBusy,
    ServerError,
    StreamError,
    Timeout,
    Unavailable,
)
from .transport import PacedReads, StreamTransport
from .types import Chunk, Done, GenerationStats, ModelInfo, Timeouts

__all__ = [
    "BadRequest",
    "Chunk",
    "Done",
    "GenerationStats",
    "MalformedResponse",
    "ModelInfo",
    "ModelNotFound",
    "OllamaClient",
    "EngineError",
    "PacedReads",
    "RateLimited",
    "ServerBusy",
    "ServerError",
    "StreamError",
    "StreamTransport",
    "Timeout",
    "Unavailable",
    "Timeouts",
    "close_clients",
    "get_client",
]

"""Client for the Ollama HTTP API. It speaks Ollama only and imports no app's models."""

from .client import OllamaClient, close_clients, get_client
from .errors import (
    BadRequest,
    MalformedResponse,
    ModelNotFound,
    OllamaError,
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
    "OllamaError",
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

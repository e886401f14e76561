"""Typed errors for everything that can go wrong while talking to Ollama.

Each error carries a `code` from the WebSocket protocol in DESIGN.md and a `message` an editor can
read, so the layers above can forward it as is. `retryable` tells the gateway whether the same
request may be sent again (to this host or another) without the editor noticing.
"""

import json


class EngineError(Exception):
    """Base class: an upstream failure the editor cannot fix from the editor."""

    code = "upstream"
    retryable = False

    def __init__(self, message: str, *, status: int | None = None, host: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.host = host

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status!r}, host={self.host!r})"


class ModelNotFound(EngineError):
    code = "model_not_found"

    def __init__(
        self, message: str, *, status: int | None = 404, host: str | None = None, model: str | None = None
    ) -> None:
        super().__init__(message, status=status, host=host)
        self.model = model


class BadRequest(EngineError):
    code = "invalid"


class RateLimited(EngineError):
    code = "busy"
    retryable = True


class ServerBusy(EngineError):
    code = "busy"
    retryable = True


class ServerError(EngineError):
    code = "upstream"
    retryable = True


class StreamError(EngineError):
    """The reply broke off after it had begun: an error line, or the connection was lost."""

    code = "upstream"


class MalformedResponse(EngineError):
    code = "upstream"


class Unavailable(EngineError):
    code = "unavailable"
    retryable = True


class Timeout(EngineError):
    """A time limit ran out; `phase` is "connect", "first_token", "idle" or "total".

    A timeout is retryable only while the editor has seen no text yet: retrying later would
    repeat or contradict what is already on their screen.
    """

    code = "timeout"
    PHASES = ("connect", "first_token", "idle", "total")

    def __init__(
        self,
        message: str,
        *,
        phase: str = "total",
        output_started: bool = False,
        status: int | None = None,
        host: str | None = None,
    ) -> None:
        if phase not in self.PHASES:
            raise ValueError(f"unknown timeout phase {phase!r}")
        super().__init__(message, status=status, host=host)
        self.phase = phase
        self.output_started = output_started
        self.retryable = not output_started


def model_not_found(model: str, *, host: str | None = None) -> ModelNotFound:
    message = (
        f'The model "{model}" is not installed on the Ollama server{_at(host)}. '
        f"Run `ollama pull {model}` there, or pick another model."
    )
    return ModelNotFound(message, host=host, model=model)


def error_for_status(status: int, body: bytes, *, model: str | None = None, host: str | None = None) -> EngineError:
    """The typed error for a non-200 answer that came before any output."""
    detail = error_detail(body)
    if status == 404 and model is not None and _is_error_object(body):
        return model_not_found(model, host=host)
    if status == 404:
        return EngineError(
            f"The server{_at(host)} does not offer this Ollama endpoint (HTTP 404). Is it an Ollama server?",
            status=status,
            host=host,
        )
    if status == 400:
        return BadRequest(f"Ollama rejected the request: {detail or 'bad request'}", status=status, host=host)
    if status == 429:
        return RateLimited(
            "The Ollama server is limiting requests right now. Try again in a moment.", status=status, host=host
        )
    if status == 503:
        return ServerBusy(
            "The Ollama server is busy: its queue of pending requests is full. Try again in a moment.",
            status=status,
            host=host,
        )
    if status >= 500:
        return ServerError(
            f"The Ollama server failed (HTTP {status}){': ' + detail if detail else ''}.", status=status, host=host
        )
    return EngineError(
        f"The Ollama server answered HTTP {status}{': ' + detail if detail else ''}.", status=status, host=host
    )


def error_detail(body: bytes, *, limit: int = 300) -> str:
    """The `error` text of an Ollama error body, or the start of a body that is not JSON (a proxy's page)."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode("utf-8", errors="replace").strip()[:limit]
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return data["error"][:limit]
    return body.decode("utf-8", errors="replace").strip()[:limit]


def _is_error_object(body: bytes) -> bool:
    try:
        data = json.loads(body)
    except ValueError:
        return False
    return isinstance(data, dict) and "error" in data


def _at(host: str | None) -> str:
    return f" at {host}" if host else ""

"""Typed errors for everything that can go wrong while talking to an inference engine.

Each error carries a `code` from the WebSocket protocol in DESIGN.md and a `message`. The
message is for operators and logs: it names the host and what it said. What an editor reads is
`editor_message`, in plain words with no addresses or commands in it. `retryable` tells the
gateway whether the same request may be sent again (to this host or another) before any text.
"""

import json

EDITOR_UNAVAILABLE = "The AI writer is unavailable right now; your text is safe. Try again in a minute."


class EngineError(Exception):
    """Base class: an upstream failure the editor cannot fix from the editor."""

    code = "upstream"
    retryable = False
    editor_message = "The AI writer could not finish this answer; your text is safe. Try again."

    def __init__(self, message: str, *, status: int | None = None, host: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.host = host

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status!r}, host={self.host!r})"


class ModelNotFound(EngineError):
    code = "model_not_found"

    def __init__(self, message: str, *, status: int | None = 404, host: str | None = None, model: str = "") -> None:
        super().__init__(message, status=status, host=host)
        self.model = model
        self.editor_message = f'The model "{model}" is not available on the AI engines. Pick another model.'


class BadRequest(EngineError):
    code = "invalid"
    editor_message = "The AI engine could not take this request. Try shorter text or another model."


class ContextTooLong(EngineError):
    """The prompt does not fit the model's context window; sent to no engine, or refused by one."""

    code = "too_large"

    def __init__(self, message: str, *, status: int | None = None, host: str | None = None) -> None:
        super().__init__(message, status=status, host=host)
        self.editor_message = message


class ConfigurationError(EngineError):
    """The engine refused the site's credentials (401 or 403): something for operators to fix."""

    code = "unavailable"
    editor_message = EDITOR_UNAVAILABLE


class RateLimited(EngineError):
    code = "busy"
    retryable = True
    editor_message = "The AI writer is busy right now. Try again in a moment."


class ServerBusy(EngineError):
    code = "busy"
    retryable = True
    editor_message = "The AI writer is busy right now. Try again in a moment."


class ServerError(EngineError):
    code = "upstream"
    retryable = True


class StreamError(EngineError):
    """The reply broke off after it had begun: an error event, or the connection was lost."""

    code = "upstream"
    editor_message = "The AI writer stopped in the middle of its answer; your text is safe. Try again."


class MalformedResponse(EngineError):
    code = "upstream"


class Unavailable(EngineError):
    code = "unavailable"
    retryable = True
    editor_message = EDITOR_UNAVAILABLE


class Timeout(EngineError):
    """A time limit ran out; `phase` is "connect", "first_token", "idle" or "total".

    A timeout is retryable only while the editor has seen no text yet: retrying later would
    repeat or contradict what is already on their screen.
    """

    code = "timeout"
    PHASES = ("connect", "first_token", "idle", "total")
    editor_message = "The AI writer took too long to answer; your text is safe. Try again."

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
    return ModelNotFound(f'The model "{model}" is not installed on the engine{_at(host)}.', host=host, model=model)


def error_for_status(status: int, body: bytes, *, model: str | None = None, host: str | None = None) -> EngineError:
    """The typed error for a non-2xx answer that came before any output, for either dialect."""
    detail = error_detail(body)
    if status in (401, 403):
        return ConfigurationError(
            f"The engine{_at(host)} refused the site's credentials (HTTP {status}): {detail or 'no detail'}. "
            "Check the API key variable named in AIWRITER_BACKENDS.",
            status=status,
            host=host,
        )
    if model is not None and _names_missing_model(status, body, detail):
        return model_not_found(model, host=host)
    if status == 404:
        return EngineError(
            f"The server{_at(host)} has no such endpoint (HTTP 404). Is its dialect right in AIWRITER_BACKENDS?",
            status=status,
            host=host,
        )
    if status == 400 and "context" in detail.lower() and ("length" in detail.lower() or "exceed" in detail.lower()):
        return ContextTooLong(
            "The text is too long for this model's context window. Shorten it, or pick a model that reads more.",
            status=status,
            host=host,
        )
    if status in (400, 422):
        return BadRequest(
            f"The engine{_at(host)} rejected the request: {detail or 'bad request'}", status=status, host=host
        )
    if status == 429:
        return RateLimited(f"The engine{_at(host)} is limiting requests (HTTP 429).", status=status, host=host)
    if status == 503:
        return ServerBusy(f"The engine{_at(host)} is busy (HTTP 503): {detail}", status=status, host=host)
    if status >= 500:
        return ServerError(
            f"The engine{_at(host)} failed (HTTP {status}){': ' + detail if detail else ''}.", status=status, host=host
        )
    return EngineError(
        f"The engine{_at(host)} answered HTTP {status}{': ' + detail if detail else ''}.", status=status, host=host
    )


def error_detail(body: bytes, *, limit: int = 300) -> str:
    """The message of an error body in either dialect (`{"error": "..."}` from Ollama,
    `{"error": {"message": ...}}` from OpenAI-compatible engines, `{"detail": ...}` from some),
    or the start of a body that is not JSON (a proxy's page)."""
    data = _json(body)
    if isinstance(data, dict):
        error = data.get("error", data.get("detail"))
        if isinstance(error, dict):
            error = error.get("message")
        if isinstance(error, str):
            return error[:limit]
    return body.decode("utf-8", errors="replace").strip()[:limit]


def _names_missing_model(status: int, body: bytes, detail: str) -> bool:
    data = _json(body)
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and error.get("code") == "model_not_found":
        return True
    text = detail.lower()
    mentions_model = "model" in text and ("not found" in text or "does not exist" in text)
    return (status == 404 and isinstance(data, dict) and "error" in data) or (status in (400, 404) and mentions_model)


def _json(body: bytes):
    try:
        return json.loads(body)
    except ValueError:
        return None


def _at(host: str | None) -> str:
    return f" at {host}" if host else ""

"""The AI writer's message contract (DESIGN.md): reading client messages and shaping server events.

The WebSocket consumer and the SSE view both read requests and write events through this module,
so the two transports cannot drift apart.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from blogsite.json_input import JsonInputError, json_parse

from .actions import ACTIONS, REWRITE_PRESETS

MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/+-]{0,199}$")
MAX_REQUEST_ID_CHARS = 64
# Room for JSON escaping on top of the input limit; anything bigger is refused before parsing.
RAW_MESSAGE_FACTOR = 8

# Options an editor may send: the text fields fill prompt placeholders, the rest tune the model.
TEXT_OPTIONS = {"title": 200, "body": None, "instruction": 2000}


class RequestRefused(Exception):
    """A generation request the AI writer refuses; `code` is a contract error code, `message` is for the editor."""

    def __init__(self, code: str, message: str, *, request_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    request_id: str
    action: str
    text: str
    post_id: int | None = None
    model: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    regenerate: bool = False
    # The library image an alt-text request describes.
    image_id: int | None = None


def start_event(request_id: str, *, model: str) -> dict:
    return {"type": "start", "request_id": request_id, "model": model}


def chunk_event(request_id: str, *, text: str) -> dict:
    return {"type": "chunk", "request_id": request_id, "text": text}


def thinking_event(request_id: str, *, text: str) -> dict:
    """A piece of a reasoning model's thinking: the panel shows it apart and never inserts it."""
    return {"type": "thinking", "request_id": request_id, "text": text}


def done_event(request_id: str, *, cached: bool, stats: Mapping[str, Any]) -> dict:
    return {"type": "done", "request_id": request_id, "cached": cached, "stats": dict(stats)}


def error_event(request_id: str | None, *, code: str, message: str) -> dict:
    return {"type": "error", "request_id": request_id, "code": code, "message": message}


def cancelled_event(request_id: str) -> dict:
    return error_event(request_id, code="cancelled", message="Stopped. The text so far is kept.")


def message_decode(raw: str | bytes | None) -> dict:
    """The JSON object in a raw message."""
    if raw is None:
        raise RequestRefused("invalid", "The message was empty; send a JSON object.")
    if len(raw) > settings.AIWRITER_MAX_INPUT_CHARS * RAW_MESSAGE_FACTOR + 65_536:
        raise RequestRefused("too_large", _too_large_message())
    try:
        message = json_parse(raw)
    except JsonInputError as error:
        raise RequestRefused("invalid", str(error)) from None
    if not isinstance(message, dict):
        raise RequestRefused("invalid", "A message must be a JSON object with a type.")
    return message


def request_id_of(message: Mapping[str, Any]) -> str:
    request_id = message.get("request_id")
    if not isinstance(request_id, str) or not request_id.strip() or len(request_id) > MAX_REQUEST_ID_CHARS:
        raise RequestRefused(
            "invalid", f"Each message needs a request_id: a string of 1 to {MAX_REQUEST_ID_CHARS} characters."
        )
    return request_id


def safe_request_id(message: Any) -> str | None:
    """The message's request_id when it is usable, to label an error about the rest of the message."""
    try:
        return request_id_of(message) if isinstance(message, Mapping) else None
    except RequestRefused:
        return None


def generation_request_parse(message: Mapping[str, Any]) -> GenerationRequest:
    """A validated generation request from a `generate` message (or the SSE view's JSON body)."""
    request_id = request_id_of(message)
    try:
        request = GenerationRequest(
            request_id=request_id,
            action=_action(message.get("action")),
            text=_text(message),
            post_id=_post_id(message.get("post_id")),
            model=_model(message.get("model")),
            options=_options(message.get("options")),
            regenerate=_flag(message.get("regenerate"), "regenerate"),
            image_id=_image_id(message.get("image_id")),
        )
        _check_image(request)
        _check_preset(request)
    except RequestRefused as error:
        error.request_id = request_id
        raise
    _check_size(request)
    return request


def _check_preset(request: GenerationRequest) -> None:
    """A preset names a rewrite's instruction, so it goes with the rewrite action alone, and instead of
    an instruction of the editor's own."""
    if "preset" not in request.options:
        return
    if request.action != "rewrite":
        raise RequestRefused("invalid", "A preset goes with the rewrite action only.")
    if request.options.get("instruction", "").strip():
        raise RequestRefused("invalid", "Send either a preset or an instruction, not both.")


def _preset(name: str, value: Any) -> str:
    if not isinstance(value, str) or value not in REWRITE_PRESETS:
        raise RequestRefused(
            "invalid", f"Unknown preset {str(value)[:40]!r}. Choose one of: {', '.join(REWRITE_PRESETS)}."
        )
    return value


def _optional_id(value: Any, refusal: str) -> int | None:
    """A positive integer id or None; anything else is refused with `refusal`."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RequestRefused("invalid", refusal)
    return value


def _image_id(value: Any) -> int | None:
    return _optional_id(value, "image_id must be the number of an image in the media library, or null.")


def _check_image(request: GenerationRequest) -> None:
    """An image goes with the action that reads one, and that action needs it."""
    reads_image = ACTIONS[request.action].reads_image
    if reads_image and request.image_id is None:
        raise RequestRefused("invalid", "Choose an image from the media library to write its alt text.")
    if not reads_image and request.image_id is not None:
        raise RequestRefused("invalid", "An image_id goes with the alt_text action only.")


def _action(value: Any) -> str:
    if not isinstance(value, str) or value not in ACTIONS:
        choices = ", ".join(ACTIONS)
        raise RequestRefused("invalid", f"Unknown action {str(value)[:40]!r}. Choose one of: {choices}.")
    return value


def _text(message: Mapping[str, Any]) -> str:
    if not isinstance(message.get("text"), str):
        raise RequestRefused("invalid", "The request needs a text field: the input for the action, as a string.")
    return message["text"]


def _post_id(value: Any) -> int | None:
    return _optional_id(value, "post_id must be the number of a saved post, or null.")


def _model(value: Any) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or not MODEL_NAME.match(value):
        raise RequestRefused("invalid", "model must be an Ollama model name such as llama3.2:1b.")
    return value


def _flag(value: Any, name: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise RequestRefused("invalid", f"{name} must be true or false.")
    return value


def _options(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RequestRefused("invalid", "options must be a JSON object.")
    readers = {**dict.fromkeys(TEXT_OPTIONS, _text_option), **_OPTION_READERS}
    unknown = sorted(set(value) - set(readers))
    if unknown:
        raise RequestRefused(
            "invalid", f"Unknown option {unknown[0][:40]!r}. Allowed options: {', '.join(sorted(readers))}."
        )
    return {name: readers[name](name, option) for name, option in value.items()}


def _text_option(name: str, value: Any) -> str:
    limit = TEXT_OPTIONS[name]
    if not isinstance(value, str):
        raise RequestRefused("invalid", f"The {name} option must be text.")
    if limit is not None and len(value) > limit:
        raise RequestRefused("too_large", f"The {name} is longer than {limit} characters; shorten it.")
    return value


def _number(name: str, value: Any, *, low: float, high: float, integer: bool = False) -> int | float:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        kind = "a whole number" if integer else "a number"
        raise RequestRefused("invalid", f"The {name} option must be {kind} from {low:g} to {high:g}.")
    return value


_OPTION_READERS = {
    "max_length": lambda name, value: _number(name, value, low=20, high=5000, integer=True),
    "temperature": lambda name, value: _number(name, value, low=0, high=2),
    "seed": lambda name, value: _number(name, value, low=0, high=2**31 - 1, integer=True),
    "new_conversation": lambda name, value: _flag(value, name),
    "preset": _preset,
}


def _check_size(request: GenerationRequest) -> None:
    size = len(request.text) + sum(len(value) for value in request.options.values() if isinstance(value, str))
    if size > settings.AIWRITER_MAX_INPUT_CHARS:
        raise RequestRefused("too_large", _too_large_message(size), request_id=request.request_id)


def _too_large_message(size: int | None = None) -> str:
    limit = settings.AIWRITER_MAX_INPUT_CHARS
    sent = f"{size:,} characters" if size else "too much text"
    return f"That is {sent}; the AI writer takes at most {limit:,} at a time. Select a shorter part and try again."

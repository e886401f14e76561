"""Values the engine clients yield and accept, the same for every dialect."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

# Ollama's field name for each statistic; durations arrive in nanoseconds.
_STAT_FIELDS = {
    "total_duration_ns": "total_duration",
    "load_duration_ns": "load_duration",
    "prompt_eval_count": "prompt_eval_count",
    "prompt_eval_duration_ns": "prompt_eval_duration",
    "eval_count": "eval_count",
    "eval_duration_ns": "eval_duration",
}


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of generated text, never empty."""

    text: str


@dataclass(frozen=True, slots=True)
class Thinking:
    """A piece of a reasoning model's thinking: shown apart, never part of the answer."""

    text: str


@dataclass(frozen=True, slots=True)
class GenerationStats:
    """Statistics of a finished generation. Engines omit some, so each may be None.

    `tokens_estimated` is true when the engine sent no token counts and they were counted from the
    streamed pieces instead.
    """

    done_reason: str | None = None
    total_duration_ns: int | None = None
    load_duration_ns: int | None = None
    prompt_eval_count: int | None = None
    prompt_eval_duration_ns: int | None = None
    eval_count: int | None = None
    eval_duration_ns: int | None = None
    tokens_estimated: bool = False

    @classmethod
    def from_response(cls, data: Mapping[str, Any]) -> GenerationStats:
        """Reads the statistics of a done object; values of the wrong type count as missing."""
        reason = data.get("done_reason")
        values = {name: _int_or_none(data.get(key)) for name, key in _STAT_FIELDS.items()}
        return cls(done_reason=reason if isinstance(reason, str) and reason else None, **values)

    @property
    def tokens_per_second(self) -> float | None:
        if not self.eval_count or not self.eval_duration_ns:
            return None
        return self.eval_count / self.eval_duration_ns * 1e9

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready statistics for the `stats` of a done message, tokens per second included."""
        data = asdict(self)
        rate = self.tokens_per_second
        data["tokens_per_second"] = round(rate, 2) if rate is not None else None
        return data


@dataclass(frozen=True, slots=True)
class Done:
    """The end of a generation."""

    stats: GenerationStats


@dataclass(frozen=True, slots=True)
class ModelDetails:
    """What the gateway needs to know of a model before asking it: its context window, in tokens
    (None when the engine does not say), whether it streams its thinking apart, and whether it
    reads images (`vision`)."""

    context_length: int | None = None
    thinks: bool = False
    vision: bool = False
    # False when the engine could not be asked: worth asking again later, not keeping.
    known: bool = True


def image_part(data: bytes, *, media_type: str) -> dict[str, str]:
    """An image for a chat message's `images` list, the same for every dialect.

    A message may carry `"images": [image_part(...), ...]` beside its text; each dialect's client
    sends them its own way (Ollama: base64 strings in the message's `images`; OpenAI-compatible
    engines: `image_url` content parts holding data URLs). Kept as plain JSON, so a request with
    images hashes (for the response cache and the audit record) like any other.
    """
    if not media_type.startswith("image/"):
        raise ValueError(f"an image part needs an image media type, not {media_type!r}")
    return {"media_type": media_type, "data": base64.b64encode(data).decode("ascii")}


def message_images(message: Mapping[str, Any]) -> list[Mapping[str, str]]:
    """The images of a chat message (see `image_part`); none for a text-only message."""
    images = message.get("images")
    return list(images) if isinstance(images, list) else []


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One model a host serves, as its model list describes it."""

    name: str
    size: int = 0
    family: str = ""
    parameter_size: str = ""
    quantization_level: str = ""
    modified_at: str = ""
    # Whether it reads images; model lists do not say, so the gateway fills it from the details.
    vision: bool = False

    @classmethod
    def from_tag(cls, data: Mapping[str, Any]) -> ModelInfo:
        """Reads one entry of `/api/tags`; raises ValueError when it has no usable name."""
        name = data.get("name") or data.get("model")
        if not isinstance(name, str) or not name:
            raise ValueError("a model entry has no name")
        details = data.get("details")
        details = details if isinstance(details, Mapping) else {}
        return cls(
            name=name,
            size=_int_or_none(data.get("size")) or 0,
            family=_str(details.get("family")),
            parameter_size=_str(details.get("parameter_size")),
            quantization_level=_str(details.get("quantization_level")),
            modified_at=_str(data.get("modified_at")),
        )


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Time limits in seconds.

    `connect`: opening the TCP connection. `first_token`: from sending the request to the first
    piece of text (model loading and prompt processing happen here, so it is generous). `idle`:
    the longest gap between two streamed lines once text flows. `total`: the whole request.
    """

    connect: float = 5.0
    first_token: float = 60.0
    idle: float = 30.0
    total: float = 600.0

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"timeout {field.name!r} must be a positive number of seconds, not {value!r}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, float] | None) -> Timeouts:
        """Builds timeouts from a settings dict such as `AIWRITER_TIMEOUTS`; missing keys keep defaults."""
        values = dict(values or {})
        unknown = set(values) - {field.name for field in fields(cls)}
        if unknown:
            raise ValueError(f"unknown timeout names: {', '.join(sorted(unknown))}")
        return cls(**values)


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""

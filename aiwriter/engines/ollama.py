"""Ollama's native API, as described in ollama-api.md: `/api/chat` streamed as NDJSON (a
message's images in its `images` field, base64-encoded), `/api/tags` for the models, `/api/show`
for a model's context window and capabilities, `/api/version` for health."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from .base import EngineClient, StreamClock, StreamEvent, timed_lines
from .errors import EngineError, MalformedResponse, ModelNotFound, StreamError
from .thinking import ThinkTagSplitter
from .types import Done, GenerationStats, ModelDetails, ModelInfo, Thinking, message_images


class OllamaClient(EngineClient):
    dialect = "ollama"

    async def stream_chat(
        self, *, model: str, messages: list[dict], options: dict | None = None, think: bool = False
    ) -> AsyncIterator[StreamEvent]:
        payload: dict[str, Any] = {"model": model, "messages": [_message(m) for m in messages], "stream": True}
        if options:
            payload["options"] = options
        if think:
            payload["think"] = True
        clock = StreamClock(self.timeouts)
        splitter = ThinkTagSplitter()
        url = f"{self.base_url}/api/chat"
        async with self.opened("POST", url, payload=payload, model=model, limit=self.timeouts.first_token) as response:
            async for line in timed_lines(self, response.aiter_lines(), clock):
                if not line.strip():
                    continue
                data = self._parse_line(line)
                message = data.get("message") or {}
                thinking, content = _text(message, "thinking"), _text(message, "content")
                clock.line_read(text=bool(thinking or content))
                if thinking:
                    yield Thinking(thinking)
                for piece in splitter.feed(content):
                    yield piece
                if data.get("done") is True:
                    for piece in splitter.finish():
                        yield piece
                    yield Done(GenerationStats.from_response(data))
                    return
        raise StreamError(f"The engine at {self.base_url} ended the reply without finishing it.", host=self.base_url)

    def _parse_line(self, line: str) -> dict:
        try:
            data = orjson.loads(line)
        except ValueError:
            raise MalformedResponse(
                f"The engine at {self.base_url} sent a line that is not JSON: {line[:80]!r}", host=self.base_url
            ) from None
        if not isinstance(data, dict):
            raise MalformedResponse(f"The engine at {self.base_url} sent a line that is not an object.")
        if "error" in data:
            raise StreamError(f"Ollama at {self.base_url} stopped generating: {data['error']}", host=self.base_url)
        return data

    async def _fetch_models(self) -> list[ModelInfo]:
        data = await self.get_json(f"{self.base_url}/api/tags")
        entries = data.get("models") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise MalformedResponse(f"The engine at {self.base_url} sent an unreadable list of models.")
        try:
            return [ModelInfo.from_tag(entry) for entry in entries]
        except (AttributeError, ValueError) as exc:
            raise MalformedResponse(f"The engine at {self.base_url} sent an unreadable list of models: {exc}") from None

    async def model_details(self, model: str) -> ModelDetails:
        """The context window from `/api/show`'s `<family>.context_length`; thinking from its capabilities.

        An Ollama too old to answer `/api/show` gives no context window: the prompt is then sent
        with Ollama's own default window.
        """
        try:
            data = await self.post_json(f"{self.base_url}/api/show", {"model": model}, model=model)
        except ModelNotFound:
            raise
        except EngineError:
            return ModelDetails(vision=model in self.vision_models, known=False)
        if not isinstance(data, Mapping):
            return ModelDetails(vision=model in self.vision_models)
        info = data.get("model_info")
        lengths = (
            [value for key, value in info.items() if key.endswith(".context_length")]
            if isinstance(info, Mapping)
            else []
        )
        capabilities = data.get("capabilities")
        capabilities = capabilities if isinstance(capabilities, list) else []
        return ModelDetails(
            context_length=next((int(n) for n in lengths if isinstance(n, int) and n > 0), None),
            thinks="thinking" in capabilities,
            vision="vision" in capabilities or model in self.vision_models,
        )

    async def ping(self) -> str:
        data = await self.get_json(f"{self.base_url}/api/version")
        if not isinstance(data, dict) or not isinstance(data.get("version"), str):
            raise MalformedResponse(f"The engine at {self.base_url} sent an unreadable version.", host=self.base_url)
        return f"Ollama {data['version']}"


def _message(message: dict) -> dict:
    """A chat message as Ollama reads it: images as a list of base64 strings beside the text."""
    images = message_images(message)
    if not images:
        return message
    return {**message, "images": [image["data"] for image in images]}


def _text(message: Any, name: str) -> str:
    value = message.get(name) if isinstance(message, Mapping) else None
    return value if isinstance(value, str) else ""

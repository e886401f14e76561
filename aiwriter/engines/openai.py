"""The OpenAI-compatible API that vLLM, llama.cpp's llama-server, TGI and LM Studio speak.

`POST /v1/chat/completions` streamed as Server-Sent Events (read with httpx-sse) ending in
`data: [DONE]` (a message's images go as `image_url` content parts carrying data URLs),
`GET /v1/models` for the model list, and `/health` at the server's root where the engine
answers it. The base URL includes the API's version prefix, e.g.
`http://vllm1:8000/v1`.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson
from httpx_sse import EventSource, SSEError

from .base import EngineClient, StreamClock, StreamEvent, timed_lines
from .errors import EngineError, MalformedResponse, StreamError, Unavailable, error_detail
from .thinking import ThinkTagSplitter
from .types import Chunk, Done, GenerationStats, ModelDetails, ModelInfo, Thinking, message_images

# Ollama-style option names the gateway uses, and their names in this API.
OPTION_NAMES = {
    "temperature": "temperature",
    "seed": "seed",
    "top_p": "top_p",
    "stop": "stop",
    "num_predict": "max_tokens",
}
# Fields of a `/v1/models` entry that carry the context window, by engine (vLLM, LM Studio, llama.cpp).
CONTEXT_FIELDS = ("max_model_len", "context_length", "max_context_length")
CHARS_PER_TOKEN = 4


class OpenAIClient(EngineClient):
    dialect = "openai"

    async def stream_chat(
        self, *, model: str, messages: list[dict], options: dict | None = None, think: bool = False
    ) -> AsyncIterator[StreamEvent]:
        payload = {
            "model": model,
            "messages": [_message(m) for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        payload.update(_options(options or {}))
        reply = _Reply(messages)
        clock = StreamClock(self.timeouts)
        url = f"{self.base_url}/chat/completions"
        async with self.opened("POST", url, payload=payload, model=model, limit=self.timeouts.first_token) as response:
            try:
                events = EventSource(response).aiter_sse()
                async for event in timed_lines(self, events, clock):
                    if event.data == "[DONE]":
                        break
                    pieces = reply.read(self._parse_event(event.data))
                    clock.line_read(text=bool(pieces))
                    for piece in pieces:
                        yield piece
                else:
                    if reply.finish_reason is None:
                        raise StreamError(f"The engine at {self.base_url} ended the reply without finishing it.")
            except SSEError as exc:
                raise MalformedResponse(f"The engine at {self.base_url} did not stream events: {exc}") from exc
        for piece in reply.finish():
            yield piece
        yield Done(reply.stats(clock))

    def _parse_event(self, data: str) -> dict:
        try:
            parsed = orjson.loads(data)
        except ValueError:
            raise MalformedResponse(
                f"The engine at {self.base_url} sent an event that is not JSON: {data[:80]!r}"
            ) from None
        if not isinstance(parsed, dict):
            raise MalformedResponse(f"The engine at {self.base_url} sent an event that is not an object.")
        if "error" in parsed:
            detail = error_detail(data.encode())
            raise StreamError(f"The engine at {self.base_url} stopped generating: {detail}", host=self.base_url)
        return parsed

    async def _model_entries(self) -> list[Mapping[str, Any]]:
        data = await self.get_json(f"{self.base_url}/models")
        entries = data.get("data") if isinstance(data, dict) else None
        if not isinstance(entries, list) or not all(
            isinstance(e, dict) and isinstance(e.get("id"), str) for e in entries
        ):
            raise MalformedResponse(f"The engine at {self.base_url} sent an unreadable list of models.")
        return entries

    async def _fetch_models(self) -> list[ModelInfo]:
        return [
            ModelInfo(name=entry["id"], family=str(entry.get("owned_by") or ""))
            for entry in await self._model_entries()
        ]

    async def model_details(self, model: str) -> ModelDetails:
        """The context window where the model list states it (vLLM, LM Studio, llama.cpp); else unknown,
        and an engine that finds the prompt too long says so itself (mapped to `too_large`).

        The API does not say which models read images, so the site's configuration does (`vision_models`).
        """
        vision = model in self.vision_models
        try:
            entries = await self._model_entries()
        except EngineError:
            return ModelDetails(vision=vision, known=False)
        entry = next((entry for entry in entries if entry["id"] == model), {})
        meta = entry.get("meta") if isinstance(entry.get("meta"), dict) else {}
        for value in [entry.get(name) for name in CONTEXT_FIELDS] + [meta.get("n_ctx"), meta.get("n_ctx_train")]:
            if isinstance(value, int) and value > 0:
                return ModelDetails(context_length=value, vision=vision)
        return ModelDetails(vision=vision)

    async def ping(self) -> str:
        """`/health` where the engine has it (vLLM, TGI, llama-server); the model list otherwise."""
        root = self.base_url.removesuffix("/v1")
        try:
            await self.get_json(f"{root}/health")
            return "healthy"
        except Unavailable:
            raise
        except EngineError:
            await self._model_entries()
            return "serving models"


class _Reply:
    """What the streamed events of one reply add up to."""

    def __init__(self, messages: list[dict]) -> None:
        self.splitter = ThinkTagSplitter()
        self.finish_reason: str | None = None
        self.usage: Mapping[str, Any] | None = None
        self.pieces = 0
        self.prompt_chars = sum(len(str(message.get("content", ""))) for message in messages)
        self.started = time.monotonic()

    def read(self, event: dict) -> list[Chunk | Thinking]:
        if isinstance(event.get("usage"), dict):
            self.usage = event["usage"]
        choices = event.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return []
        choice = choices[0]
        if isinstance(choice.get("finish_reason"), str):
            self.finish_reason = choice["finish_reason"]
        delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
        pieces: list[Chunk | Thinking] = []
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            pieces.append(Thinking(reasoning))
        content = delta.get("content")
        if isinstance(content, str) and content:
            self.pieces += 1
            pieces.extend(self.splitter.feed(content))
        return pieces

    def finish(self) -> list[Chunk | Thinking]:
        return self.splitter.finish()

    def stats(self, clock: StreamClock) -> GenerationStats:
        """Token counts from the engine's usage; counted from the stream (and marked so) without it."""
        now = time.monotonic()
        generating_since = clock.first_output_at or now
        usage = self.usage or {}
        prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
        estimated = not isinstance(completion, int)
        if estimated:
            prompt, completion = math.ceil(self.prompt_chars / CHARS_PER_TOKEN), self.pieces
        return GenerationStats(
            done_reason=self.finish_reason or "stop",
            total_duration_ns=round((now - self.started) * 1e9),
            prompt_eval_count=prompt if isinstance(prompt, int) else None,
            eval_count=completion,
            eval_duration_ns=round((now - generating_since) * 1e9) or None,
            tokens_estimated=estimated,
        )


def _message(message: dict) -> dict:
    """A chat message as this API reads it: with images, a content list of the text and one
    `image_url` part per image, each a `data:` URL."""
    images = message_images(message)
    if not images:
        return message
    parts: list[dict[str, Any]] = [{"type": "text", "text": str(message.get("content", ""))}]
    parts += [
        {"type": "image_url", "image_url": {"url": f"data:{image['media_type']};base64,{image['data']}"}}
        for image in images
    ]
    return {**{k: v for k, v in message.items() if k != "images"}, "content": parts}


def _options(options: Mapping[str, Any]) -> dict[str, Any]:
    mapped = {OPTION_NAMES[name]: value for name, value in options.items() if name in OPTION_NAMES}
    if isinstance(mapped.get("max_tokens"), int) and mapped["max_tokens"] <= 0:
        del mapped["max_tokens"]  # -1 means no limit in Ollama's terms
    return mapped

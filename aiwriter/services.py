"""The AI generation flow, shared by the WebSocket consumer, the SSE view and batch jobs.

`generation_events()` is an async generator of contract events (protocol.py): it checks the
editor's permission and the post and builds the prompt (`generation_prepare`, querying only for
what the request needs), takes a slot under the per-editor limits, streams the model's thinking and text through
the gateway, keeps the answer the editor received in the response cache and records a
`Generation`. Stopping early (closing the generator, or cancelling the task that reads it)
closes the upstream stream at once, so the engine stops generating, and the generation is
recorded as cancelled.
"""

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction

from blogsite.request_id import current_request_id
from posts.models import Post
from posts.selectors import tag_suggestions

from . import alt_text, gateway, limits, selectors
from .actions import ACTIONS, REWRITE_PRESETS, ActionSpec
from .engines import Chunk, Done, EngineError, GenerationStats, Thinking
from .gateway import CompletionRequest, Priority
from .models import ChatMessage, ChatRole, Generation, Outcome
from .output import OutputShaper
from .permissions import acan_use_aiwriter
from .prompts import build_messages
from .protocol import (
    GenerationRequest,
    RequestRefused,
    chunk_event,
    done_event,
    error_event,
    start_event,
    thinking_event,
)
from .records import record_writer

logger = logging.getLogger(__name__)

EXISTING_TAGS_IN_PROMPT = 200
NO_SUCH_POST = "That post does not exist or you cannot use the AI writer on it."
MODEL_OPTIONS = ("temperature", "seed")


@dataclass(slots=True)
class PreparedGeneration:
    """A request that passed every check, with the exact prompt to send."""

    request: GenerationRequest
    spec: ActionSpec
    post: Post | None
    completion: CompletionRequest
    max_output_chars: int | None
    input_hash: str


@dataclass(slots=True)
class GenerationRun:
    """What happened while streaming, for the done event and the audit record."""

    started: float = field(default_factory=time.monotonic)
    first_token: float | None = None
    text: list[str] = field(default_factory=list)
    stats: GenerationStats | None = None
    host: str = ""
    cached: bool = False

    def add(self, piece: str) -> None:
        if self.first_token is None:
            self.first_token = time.monotonic()
        self.text.append(piece)

    @property
    def time_to_first_token_ms(self) -> int | None:
        return None if self.first_token is None else round((self.first_token - self.started) * 1000)

    @property
    def duration_ms(self) -> int:
        return round((time.monotonic() - self.started) * 1000)


async def generation_prepare(*, user, request: GenerationRequest) -> PreparedGeneration:
    """Check permission and input, then build the prompt. Raises RequestRefused.

    Async, so that it queries only for what the request needs: the post it names, the chat history,
    the tags for a tags prompt, a prompt not read in the last few seconds. With the user's
    permissions loaded (the socket loads them at connect), a request about no saved post needs
    no query at all and never waits for one of Django's threads.
    """
    if not await acan_use_aiwriter(user):
        raise RequestRefused(
            "forbidden",
            "Your account cannot use the AI writer. Ask an editor for the author role.",
            request_id=request.request_id,
        )
    spec = ACTIONS[request.action]
    post = await _post(user=user, request=request)
    values = await _prompt_values(spec=spec, request=request, post=post, user=user)
    for name, message in spec.required.items():
        if not values[name].strip():
            raise RequestRefused("invalid", message, request_id=request.request_id)
    if spec.keeps_history and request.options.get("new_conversation"):
        await chat_history_clear(user=user, post=post)
    history = await selectors.chat_history(user=user, post=post) if spec.keeps_history else []
    system, template = await selectors.prompt_for_action(action=spec.action)
    model = request.model or settings.AIWRITER_DEFAULT_MODEL
    messages = build_messages(system=system, template=template, values=values, history=history)
    if spec.reads_image:
        messages = await alt_text.messages_with_image(user=user, request=request, messages=messages)
    completion = CompletionRequest(
        model=model,
        messages=messages,
        options={**spec.model_options, **{k: v for k, v in request.options.items() if k in MODEL_OPTIONS}},
        cacheable=spec.cacheable and not request.regenerate,
        action=spec.action,
        regenerate=request.regenerate,
    )
    return PreparedGeneration(
        request=request,
        spec=spec,
        post=post,
        completion=completion,
        max_output_chars=int(values["max_length"]) if spec.cut_to_max_length else None,
        input_hash=_input_hash(completion),
    )


async def _post(*, user, request: GenerationRequest) -> Post | None:
    """The post the request names; someone else's is refused as a missing one is, as the editor's
    views do, so that no answer tells whether a draft exists."""
    if request.post_id is None:
        return None
    post = await selectors.post_for_ai(user=user, post_id=request.post_id)
    if post is None:
        raise RequestRefused("invalid", NO_SUCH_POST, request_id=request.request_id)
    return post


async def _prompt_values(*, spec: ActionSpec, request: GenerationRequest, post: Post | None, user) -> dict[str, str]:
    """Placeholder values: the editor's unsaved input first, the saved post second."""
    options = request.options
    values = {
        "title": options.get("title") or (post.title if post else ""),
        "body": options.get("body") or (post.body if post else ""),
        "selection": "",
        "instruction": options.get("instruction", ""),
        "max_length": "",
        "existing_tags": "",
    }
    values[spec.text_fills] = request.text or values[spec.text_fills]
    if "preset" in options:
        values["instruction"] = REWRITE_PRESETS[options["preset"]].instruction
    if not values["instruction"].strip() and spec.default_instruction:
        values["instruction"] = spec.default_instruction
    if spec.max_length is not None:
        values["max_length"] = str(min(options.get("max_length", spec.max_length), spec.max_length_cap))
    if spec.action == "tags":
        tags = await sync_to_async(tag_suggestions)(user=user, limit=EXISTING_TAGS_IN_PROMPT)
        values["existing_tags"] = ", ".join(tags) or "(none yet)"
    return values


def _input_hash(completion: CompletionRequest) -> str:
    """Equal hashes mean the model was asked exactly the same thing."""
    payload = {"model": completion.model, "messages": completion.messages, "options": dict(completion.options)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


async def generation_events(*, user, request: GenerationRequest) -> AsyncIterator[dict]:
    """The events of one generation, ending with a done or an error event (or cancellation)."""
    run = GenerationRun()
    try:
        prepared = await generation_prepare(user=user, request=request)
        if prepared.spec.reads_image:
            await alt_text.model_check(model=prepared.completion.model, request_id=request.request_id)
        async with (
            limits.generation_slot(user_id=user.pk),
            aclosing(_stream(user=user, prepared=prepared, run=run)) as events,
        ):
            async for event in events:
                yield event
    except (RequestRefused, limits.LimitExceeded) as error:
        yield error_event(request.request_id, code=error.code, message=error.message)


def user_permissions_load(*, user) -> None:
    """Read the user's permissions once (Django keeps them on the user object) for later checks."""
    if user.is_authenticated and user.is_active:
        user.get_all_permissions()


async def completion_events(
    *, prepared: PreparedGeneration, run: GenerationRun, priority: Priority | None = None
) -> AsyncIterator[Chunk | Thinking]:
    """The completion's thinking and its shaped answer, piece by piece, noted in `run` as they come.

    When the answer reaches the action's length limit, the stream is closed there, so the model
    stops. The answer as received, cut or whole, is what the response cache keeps. Raises the
    client's EngineError; the editor's stream and batch jobs each report it their way.
    """
    shaper = OutputShaper(limit=prepared.max_output_chars)
    completion = gateway.completion_open(prepared.completion, priority=priority)
    try:
        async with aclosing(completion):
            async for item in completion.events:
                if isinstance(item, Done):
                    run.stats = item.stats
                elif isinstance(item, Thinking):
                    yield item
                elif piece := shaper.feed(item.text):
                    run.add(piece)
                    yield Chunk(piece)
                if shaper.full:
                    run.stats = GenerationStats(done_reason="length")
                    break
    finally:
        # Known once the stream ends: a retry may have moved it to another host.
        run.host, run.cached = completion.host, completion.cached
    tail = shaper.finish()
    if tail:
        run.add(tail)
        yield Chunk(tail)
    if not run.cached and run.text:
        await gateway.remember(prepared.completion, text="".join(run.text), stats=run.stats or GenerationStats())


async def completion_pieces(
    *, prepared: PreparedGeneration, run: GenerationRun, priority: Priority | None = None
) -> AsyncIterator[str]:
    """Only the answer's text, for batch jobs: a model's thinking never reaches a post."""
    async with aclosing(completion_events(prepared=prepared, run=run, priority=priority)) as events:
        async for item in events:
            if isinstance(item, Chunk):
                yield item.text


async def _stream(*, user, prepared: PreparedGeneration, run: GenerationRun) -> AsyncIterator[dict]:
    request_id = prepared.request.request_id
    yield start_event(request_id, model=prepared.completion.model)
    try:
        async with aclosing(completion_events(prepared=prepared, run=run)) as events:
            async for item in events:
                if isinstance(item, Thinking):
                    yield thinking_event(request_id, text=item.text)
                else:
                    yield chunk_event(request_id, text=item.text)
    except EngineError as error:
        # Operators get the details; the editor gets plain words.
        logger.warning("AI generation %s failed on %s: %s", request_id, error.host or "-", error.message)
        await _record(user=user, prepared=prepared, run=run, outcome=Outcome.ERROR, error_code=error.code)
        yield error_event(request_id, code=error.code, message=error.editor_message)
        return
    except (asyncio.CancelledError, GeneratorExit):
        # Written by a task of its own, so that the stop ends at once (the editor's slot is free
        # again for their next request) and a second cancel cannot lose the record.
        _record_soon(user=user, prepared=prepared, run=run, outcome=Outcome.CANCELLED)
        raise
    except Exception:
        logger.exception("AI generation %s failed", request_id)
        await _record(user=user, prepared=prepared, run=run, outcome=Outcome.ERROR, error_code="internal")
        yield error_event(request_id, code="internal", message="The AI writer failed unexpectedly. Try again.")
        return
    await _record(user=user, prepared=prepared, run=run, outcome=Outcome.DONE)
    yield done_event(request_id, cached=run.cached, stats=_done_stats(run))


def _done_stats(run: GenerationRun) -> dict:
    stats = (run.stats or GenerationStats()).as_dict()
    stats["time_to_first_token_ms"] = run.time_to_first_token_ms
    stats["duration_ms"] = run.duration_ms
    return stats


# Records of stopped generations still being written (the loop holds tasks only weakly).
_recording: set[asyncio.Task] = set()


def _record_soon(**record) -> None:
    task = asyncio.get_running_loop().create_task(_record(**record), name="aiwriter:record")
    _recording.add(task)
    task.add_done_callback(_recording.discard)


async def _record(
    *, user, prepared: PreparedGeneration, run: GenerationRun, outcome: str, error_code: str = ""
) -> None:
    if prepared.spec.keeps_history and outcome == Outcome.DONE and run.text:
        # A chat turn joins the history the editor's next question reads, so it is written at once.
        await database_sync_to_async(generation_record)(
            user=user, prepared=prepared, run=run, outcome=outcome, error_code=error_code
        )
        return
    row = _generation_row(user=user, prepared=prepared, run=run, outcome=outcome, error_code=error_code)
    await record_writer().write(row)


@transaction.atomic
def generation_record(
    *, user, prepared: PreparedGeneration, run: GenerationRun, outcome: str, error_code: str = ""
) -> Generation:
    """The audit record of a finished generation; a finished chat turn also joins the history."""
    generation = _generation_row(user=user, prepared=prepared, run=run, outcome=outcome, error_code=error_code)
    generation.save(force_insert=True)
    text = "".join(run.text)
    if prepared.spec.keeps_history and outcome == Outcome.DONE and text:
        chat_turn_save(user=user, post=prepared.post, question=prepared.request.text, answer=text)
    return generation


def _generation_row(
    *, user, prepared: PreparedGeneration, run: GenerationRun, outcome: str, error_code: str = ""
) -> Generation:
    """The unsaved audit record; building it needs no query."""
    stats = run.stats or GenerationStats()
    text = "".join(run.text)
    return Generation(
        request_id=prepared.request.request_id,
        http_request_id=current_request_id(),
        user_id=user.pk,
        post=prepared.post,
        action=prepared.spec.action,
        model=prepared.completion.model,
        host=run.host,
        input_hash=prepared.input_hash,
        prompt_tokens=stats.prompt_eval_count,
        completion_tokens=stats.eval_count,
        tokens_estimated=stats.tokens_estimated,
        output_chars=len(text),
        time_to_first_token_ms=run.time_to_first_token_ms,
        duration_ms=run.duration_ms,
        outcome=outcome,
        error_code=error_code,
        cached=run.cached,
    )


def chat_turn_save(*, user, post: Post | None, question: str, answer: str) -> None:
    """Add one question and answer to the conversation, keeping only the newest turns."""
    ChatMessage.objects.bulk_create(
        [
            ChatMessage(user=user, post=post, role=ChatRole.USER, content=question),
            ChatMessage(user=user, post=post, role=ChatRole.ASSISTANT, content=answer),
        ]
    )
    conversation = ChatMessage.objects.filter(user=user, post=post)
    keep = conversation.order_by("-created_at", "-pk").values_list("pk", flat=True)[
        : settings.AIWRITER_CHAT_HISTORY_MESSAGES
    ]
    conversation.exclude(pk__in=list(keep)).delete()


async def chat_history_clear(*, user, post: Post | None) -> int:
    """Forget the editor's conversation about a post; returns how many messages were removed."""
    deleted, _ = await ChatMessage.objects.filter(user=user, post=post).adelete()
    return deleted

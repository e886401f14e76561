"""The AI generation flow, shared by the WebSocket consumer and the SSE view.

`generation_events()` is an async generator of contract events (protocol.py): it checks the
editor's permission and the post, takes a slot under the per-editor limits, builds the prompt,
streams the model's text through the gateway and records a `Generation`. Stopping early
(closing the generator, or cancelling the task that reads it) closes the upstream stream at
once, so Ollama stops generating, and the generation is recorded as cancelled. The socket calls
`generation_begin()` first, as it reads the message, so that the checks and the slot request
happen before the generation's own task first runs.
"""

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.exceptions import SynchronousOnlyOperation
from django.db import transaction

from posts.models import Post
from posts.selectors import tag_suggestions

from . import gateway, limits, selectors
from .actions import ACTIONS, ActionSpec
from .gateway import CompletionRequest, CompletionStream
from .models import ChatMessage, ChatRole, Generation, Outcome
from .engines import Done, GenerationStats, EngineError
from .output import OutputShaper
from .permissions import can_use_aiwriter
from .prompts import build_messages
from .protocol import (
    GenerationRequest,
    RequestRefused,
    chunk_event,
    done_event,
    error_event,
    start_event,
)
from .records import record_writer

logger = logging.getLogger(__name__)

EXISTING_TAGS_IN_PROMPT = 200
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


def generation_prepare(*, user, request: GenerationRequest) -> PreparedGeneration:
    """Check permission and input, then build the prompt. Raises RequestRefused."""
    if not can_use_aiwriter(user):
        raise RequestRefused(
            "forbidden",
            "Your account cannot use the AI writer. Ask an editor for the author role.",
            request_id=request.request_id,
        )
    spec = ACTIONS[request.action]
    post = _post(user=user, request=request)
    values = _prompt_values(spec=spec, request=request, post=post)
    for name, message in spec.required.items():
        if not values[name].strip():
            raise RequestRefused("invalid", message, request_id=request.request_id)
    if spec.keeps_history and request.options.get("new_conversation"):
        chat_history_clear(user=user, post=post)
    history = selectors.chat_history(user=user, post=post) if spec.keeps_history else []
    system, template = selectors.prompt_for_action(action=spec.action)
    completion = CompletionRequest(
        model=request.model or settings.AIWRITER_DEFAULT_MODEL,
        messages=build_messages(system=system, template=template, values=values, history=history),
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


def _post(*, user, request: GenerationRequest) -> Post | None:
    if request.post_id is None:
        return None
    post = selectors.post_for_ai(user=user, post_id=request.post_id)
    if post is not None:
        return post
    if Post.objects.filter(pk=request.post_id).exists():
        raise RequestRefused(
            "forbidden", "You can use the AI writer only on posts you may edit.", request_id=request.request_id
        )
    raise RequestRefused("invalid", "That post does not exist (any more).", request_id=request.request_id)


def _prompt_values(*, spec: ActionSpec, request: GenerationRequest, post: Post | None) -> dict[str, str]:
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
    if not values["instruction"].strip() and spec.default_instruction:
        values["instruction"] = spec.default_instruction
    if spec.max_length is not None:
        values["max_length"] = str(min(options.get("max_length", spec.max_length), spec.max_length_cap))
    if spec.action == "tags":
        values["existing_tags"] = ", ".join(tag_suggestions(limit=EXISTING_TAGS_IN_PROMPT)) or "(none yet)"
    return values


def _input_hash(completion: CompletionRequest) -> str:
    """Equal hashes mean the model was asked exactly the same thing."""
    payload = {"model": completion.model, "messages": completion.messages, "options": dict(completion.options)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@dataclass(slots=True)
class EarlyStart:
    """What `generation_begin` did before the generation's task first runs.

    `failure` is the prepare's exception (a refusal, say), for the generation to report; `slot`
    is the editor's slot, asked for already, until the generation takes it over.
    """

    prepared: PreparedGeneration | None = None
    failure: Exception | None = None
    slot: limits.GenerationSlot | None = None

    def take_slot(self) -> limits.GenerationSlot | None:
        slot, self.slot = self.slot, None
        return slot

    def abandon(self) -> None:
        """Gives back the slot if no generation took it: its task was cancelled before it ever ran."""
        slot = self.take_slot()
        if slot is not None:
            slot.release_soon()


def generation_begin(*, user, request: GenerationRequest) -> EarlyStart:
    """Prepare the generation and ask for the editor's slot now, when that needs no query.

    A task created now first runs a turn of the event loop later, and under load that turn is a
    good part of the time before Ollama is asked (measured at 200 streams: 1.5 to 3 ms at p50),
    so Redis answers the slot meanwhile. The checks are the same and in the same order: a request
    refused or failing here asks for no slot. The caller passes the result to `generation_events`
    and calls `abandon()` once the task that would have run it is done.
    """
    try:
        prepared = _prepare_in_loop(user=user, request=request)
    except Exception as error:
        return EarlyStart(failure=error)
    if prepared is None:
        return EarlyStart()  # the task prepares it on the sync thread
    return EarlyStart(prepared=prepared, slot=limits.GenerationSlot(user_id=user.pk))


async def generation_events(
    *, user, request: GenerationRequest, early: EarlyStart | None = None
) -> AsyncIterator[dict]:
    """The events of one generation, ending with a done or an error event (or cancellation)."""
    run = GenerationRun()
    # Taken before any await, so that a generation closed from here on gives its slot back itself.
    asked = early.take_slot() if early is not None else None
    try:
        if early is None:
            prepared = await _prepare(user=user, request=request)
        elif early.failure is not None:
            raise early.failure
        else:
            # generation_begin tried the event loop already: what it left needs the sync thread.
            prepared = early.prepared or await _prepare_on_thread(user=user, request=request)
        async with limits.generation_slot(user_id=user.pk, asked=asked) as slot:
            # The gateway gets the generation ready while Redis answers; it asks Ollama only once granted.
            completion = gateway.completion_open(prepared.completion, after=slot.granted)
            async with aclosing(completion):
                await slot.granted()
                async with aclosing(_stream(user=user, prepared=prepared, run=run, completion=completion)) as events:
                    async for event in events:
                        yield event
    except RequestRefused as error:
        yield error_event(request.request_id, code=error.code, message=error.message)
    except limits.LimitExceeded as error:
        yield error_event(request.request_id, code=error.code, message=error.message)


async def _prepare(*, user, request: GenerationRequest) -> PreparedGeneration:
    """Prepare in the event loop when nothing needs the database, else on Django's sync thread.

    That thread is one per process: a hop to it waits behind every other editor's queries, which
    is most of the time to first token when many editors start at once. With the user's
    permissions loaded at connect (aiwriter.auth) and the prompt cached, a request about no saved
    post and without chat history needs no query.
    """
    return _prepare_in_loop(user=user, request=request) or await _prepare_on_thread(user=user, request=request)


def _prepare_in_loop(*, user, request: GenerationRequest) -> PreparedGeneration | None:
    """The prepared request when the event loop can prepare it; None when it needs the sync thread."""
    if _prepare_needs_database(request=request):
        return None
    try:
        return generation_prepare(user=user, request=request)
    except SynchronousOnlyOperation:
        # Something was not loaded after all (permissions of a user object loaded elsewhere);
        # the query raised before running, so preparing again on the sync thread repeats nothing.
        return None


async def _prepare_on_thread(*, user, request: GenerationRequest) -> PreparedGeneration:
    return await database_sync_to_async(generation_prepare)(user=user, request=request)


def _prepare_needs_database(*, request: GenerationRequest) -> bool:
    spec = ACTIONS.get(request.action)
    return (
        spec is None
        or request.post_id is not None
        or spec.keeps_history
        or spec.action == "tags"
        or selectors.prompt_for_action_cached(action=spec.action) is None
    )


def user_permissions_load(*, user) -> None:
    """Read the user's permissions once (Django keeps them on the user object) for later checks."""
    if user.is_authenticated and user.is_active:
        user.get_all_permissions()


async def completion_pieces(
    *, prepared: PreparedGeneration, run: GenerationRun, completion: CompletionStream | None = None
) -> AsyncIterator[str]:
    """The shaped text of a completion piece by piece, noted in `run` as it comes.

    Opens the completion unless given one. Raises the client's EngineError; the editor's stream and
    batch jobs each report it their way.
    """
    shaper = OutputShaper(limit=prepared.max_output_chars)
    if completion is None:
        completion = gateway.completion_open(prepared.completion)
    try:
        async with aclosing(completion):
            async for item in completion.events:
                if isinstance(item, Done):
                    run.stats = item.stats
                    continue
                piece = shaper.feed(item.text)
                if piece:
                    run.add(piece)
                    yield piece
                if shaper.full:
                    # Leaving the block closes the upstream response, so the model stops here.
                    run.stats = GenerationStats(done_reason="length")
                    break
    finally:
        # Known once the stream ends: a retry may have moved it to another host.
        run.host, run.cached = completion.host, completion.cached
    tail = shaper.finish()
    if tail:
        run.add(tail)
        yield tail


async def _stream(
    *, user, prepared: PreparedGeneration, run: GenerationRun, completion: CompletionStream
) -> AsyncIterator[dict]:
    request_id = prepared.request.request_id
    yield start_event(request_id, model=prepared.completion.model)
    try:
        async with aclosing(completion_pieces(prepared=prepared, run=run, completion=completion)) as pieces:
            async for piece in pieces:
                yield chunk_event(request_id, text=piece)
    except EngineError as error:
        await _record(user=user, prepared=prepared, run=run, outcome=Outcome.ERROR, error_code=error.code)
        yield error_event(request_id, code=error.code, message=error.message)
        return
    except (asyncio.CancelledError, GeneratorExit):
        # Shielded so that the record is written even if the task is cancelled again meanwhile.
        await asyncio.shield(_record(user=user, prepared=prepared, run=run, outcome=Outcome.CANCELLED))
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
        user_id=user.pk,
        post=prepared.post,
        action=prepared.spec.action,
        model=prepared.completion.model,
        host=run.host,
        input_hash=prepared.input_hash,
        prompt_tokens=stats.prompt_eval_count,
        completion_tokens=stats.eval_count,
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


def chat_history_clear(*, user, post: Post | None) -> int:
    """Forget the editor's conversation about a post; returns how many messages were removed."""
    deleted, _ = ChatMessage.objects.filter(user=user, post=post).delete()
    return deleted

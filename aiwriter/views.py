"""HTTP side of the AI writer: the SSE fallback for streaming, and the model list for the panel's picker."""

import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import close_old_connections
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from blogsite.json_input import JsonInputError, json_parse
from posts.models import Post

from . import gateway, protocol, selectors, services
from .engines.errors import EDITOR_UNAVAILABLE
from .health import engines_accepting
from .jobs import selectors as job_selectors
from .jobs import serializers as job_serializers
from .jobs import services as job_services
from .models import BatchJob
from .refusals import SIGN_IN, auser_refusal, json_refusal, user_refusal

logger = logging.getLogger(__name__)

# An error found before anything streamed gets a status that says what kind it is.
ERROR_STATUS = {"invalid": 400, "unauthorized": 401, "forbidden": 403, "too_large": 413, "rate_limited": 429}


def sse_message(event: dict) -> bytes:
    """One Server-Sent Event: the event's type as its name, the whole event as JSON data."""
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


def _sse_error(event: dict) -> HttpResponse:
    return HttpResponse(
        sse_message(event), status=ERROR_STATUS.get(event["code"], 400), content_type="text/event-stream"
    )


def _read_request(request: HttpRequest) -> protocol.GenerationRequest:
    try:
        message = protocol.message_decode(request.body)
    except RequestDataTooBig:
        raise protocol.RequestRefused("too_large", "The request is far too large for the AI writer.") from None
    if message.get("type", "generate") != "generate":
        raise protocol.RequestRefused(
            "invalid",
            "This address only starts generations; to stop one, close the request.",
            request_id=protocol.safe_request_id(message),
        )
    return protocol.generation_request_parse(message)


async def _sse_stream(first: dict, events: AsyncGenerator[dict]) -> AsyncIterator[bytes]:
    async with aclosing(events):
        yield sse_message(first)
        async for event in events:
            yield sse_message(event)


@never_cache
@require_POST
async def generation_stream(request: HttpRequest) -> HttpResponse:
    """The WebSocket's generation over Server-Sent Events: same JSON in, same events out.

    Closing the request stops the generation: Django cancels this view's task when the client
    disconnects, and the service closes the upstream stream as it unwinds.
    """
    user = await request.auser()
    if not user.is_authenticated:
        return _sse_error(protocol.error_event(None, code="unauthorized", message=SIGN_IN))
    try:
        generation_request = _read_request(request)
    except protocol.RequestRefused as error:
        return _sse_error(protocol.error_event(error.request_id, code=error.code, message=error.message))
    events = services.generation_events(user=user, request=generation_request)
    first = await anext(events)
    if first["type"] == "error":
        await events.aclose()
        return _sse_error(first)
    # Django gives the request's database connection back when the response ends, minutes from now for
    # a stream; the stream needs none (its audit record has a connection of its own), so it goes back
    # to the pool now, as at the end of any request.
    await sync_to_async(close_old_connections)()
    response = StreamingHttpResponse(_sse_stream(first, events), content_type="text/event-stream")
    # Proxies such as nginx would otherwise hold the tokens back until their buffer fills.
    response["X-Accel-Buffering"] = "no"
    return response


@never_cache
@require_GET
async def models_list(request: HttpRequest) -> JsonResponse:
    """The models every host serves, for the panel's picker.

    Engine trouble is for operators (logs, /readyz); the editor reads plain words. While the local
    model that the run command started is still loading, the answer says it is starting.
    """
    user = await request.auser()
    refusal = await auser_refusal(user)
    if refusal:
        return refusal
    hosts = await gateway.models_list()
    models: dict[str, dict] = {}
    for host in hosts:
        for model in host.models:
            entry = models.setdefault(model.name, _model_json(model))
            entry["vision"] = entry["vision"] or model.vision
    failing = [host for host in hosts if host.error is not None]
    for host in failing:
        logger.warning("AI engine %s (%s) could not list its models: %s", host.host, host.dialect, host.error.message)
    body = {
        "default": settings.AIWRITER_DEFAULT_MODEL,
        "models": sorted(models.values(), key=lambda m: m["name"]),
        # False while some engine is missing from the list: the panel asks again to fill it in once it is back.
        "complete": not failing,
    }
    if failing and not models:
        return JsonResponse({**body, **_unavailable(failing)}, status=503)
    if not engines_accepting():
        return JsonResponse({**body, "code": "unavailable", "message": EDITOR_UNAVAILABLE}, status=503)
    return JsonResponse(body)


def _unavailable(failing: list[gateway.HostModels]) -> dict:
    local = settings.AIWRITER_LOCAL_ENGINE_URL.rstrip("/")
    if local and any(host.host == local for host in failing):
        return {"code": "starting", "message": "The local AI model is starting…"}
    return {"code": "unavailable", "message": EDITOR_UNAVAILABLE}


def _model_json(model) -> dict:
    return {
        "name": model.name,
        "family": model.family,
        "parameter_size": model.parameter_size,
        "quantization_level": model.quantization_level,
        "size": model.size,
        "vision": model.vision,
    }


# The chat's conversation: shown in the panel, and forgotten on request. Django's CSRF check covers the POST.


async def _chat_post(user, raw_id) -> tuple[Post | None, JsonResponse | None]:
    """The post a conversation is about (None: a post not saved yet), or the refusal to send instead."""
    if raw_id in (None, ""):
        return None, None
    post_id = int(raw_id) if isinstance(raw_id, str) and raw_id.isdigit() else raw_id
    if isinstance(post_id, bool) or not isinstance(post_id, int) or post_id < 1:
        return None, json_refusal("invalid", "post_id must be the number of a saved post, or empty.", 400)
    post = await selectors.post_for_ai(user=user, post_id=post_id)
    if post is None:
        return None, json_refusal("not_found", services.NO_SUCH_POST, 404)
    return post, None


@never_cache
@require_GET
async def chat_history(request: HttpRequest) -> JsonResponse:
    """The editor's remembered conversation about a post (`?post_id=`), oldest message first."""
    user = await request.auser()
    refusal = await auser_refusal(user)
    if refusal:
        return refusal
    post, refusal = await _chat_post(user, request.GET.get("post_id"))
    if refusal:
        return refusal
    return JsonResponse({"messages": await selectors.chat_transcript(user=user, post=post)})


@never_cache
@require_POST
async def chat_clear(request: HttpRequest) -> JsonResponse:
    """Forget the editor's conversation about a post: `{"post_id": <id or null>}`."""
    user = await request.auser()
    refusal = await auser_refusal(user)
    if refusal:
        return refusal
    try:
        data = json_parse(request.body or b"{}")
    except JsonInputError as error:
        return json_refusal("invalid", str(error), 400)
    if not isinstance(data, dict):
        return json_refusal("invalid", 'Send a JSON object such as {"post_id": 12}.', 400)
    post, refusal = await _chat_post(user, data.get("post_id"))
    if refusal:
        return refusal
    removed = await services.chat_history_clear(user=user, post=post)
    return JsonResponse({"removed": removed})


# Batch jobs (aiwriter/jobs/): JSON in and out; Django's CSRF check covers the POSTs.


def _job_request(body: bytes) -> dict:
    """The keyword arguments for job_services.batch_start from a JSON body; raises JobError."""
    try:
        data = json_parse(body or b"null")
    except JsonInputError as error:
        raise job_services.JobError(str(error)) from None
    if not isinstance(data, dict):
        raise job_services.JobError('Send a JSON object such as {"action": "summarize", "missing": true}.')
    missing, overwrite = data.get("missing", False), data.get("overwrite", False)
    if not isinstance(missing, bool) or not isinstance(overwrite, bool):
        raise job_services.JobError("missing and overwrite must be true or false.")
    post_ids = data.get("post_ids")
    if missing and post_ids:
        raise job_services.JobError("Send either post_ids or missing, not both.")
    if post_ids is not None and (
        not isinstance(post_ids, list) or not all(isinstance(pk, int) and not isinstance(pk, bool) for pk in post_ids)
    ):
        raise job_services.JobError("post_ids must be a list of post numbers.")
    return {"action": data.get("action"), "post_ids": post_ids, "missing": missing, "overwrite": overwrite}


@never_cache
@require_POST
def job_start(request: HttpRequest) -> JsonResponse:
    """Start a batch job; it runs on the workers, and this answers at once with its state."""
    refusal = user_refusal(request.user)
    if refusal:
        return refusal
    try:
        job = job_services.batch_start(user=request.user, **_job_request(request.body))
    except job_services.JobDuplicate as duplicate:
        body = {"code": "conflict", "message": duplicate.message, "job": job_serializers.job_summary(duplicate.job)}
        return JsonResponse(body, status=409)
    except job_services.JobLimitReached as error:
        return json_refusal("rate_limited", error.message, 429)
    except job_services.JobsUnavailable as error:
        return json_refusal("unavailable", error.message, 503)
    except job_services.JobError as error:
        return json_refusal("invalid", error.message, 400)
    return JsonResponse({"job": job_serializers.job_summary(job)}, status=202)


def _owned_job(request: HttpRequest, job_id: int) -> tuple[BatchJob | None, JsonResponse | None]:
    """The signed-in user's job with this id, or the refusal to send instead."""
    refusal = user_refusal(request.user)
    if refusal:
        return None, refusal
    job = job_selectors.job_for_user(user=request.user, job_id=job_id)
    if job is None:
        return None, json_refusal("not_found", "There is no such job among yours.", 404)
    return job, None


@never_cache
@require_GET
def job_detail(request: HttpRequest, job_id: int) -> JsonResponse:
    job, refusal = _owned_job(request, job_id)
    if refusal:
        return refusal
    return JsonResponse({"job": job_serializers.job_state(job)})


@never_cache
@require_POST
def job_cancel(request: HttpRequest, job_id: int) -> JsonResponse:
    job, refusal = _owned_job(request, job_id)
    if refusal:
        return refusal
    try:
        job = job_services.batch_cancel(job=job, by=request.user)
    except job_services.JobError as error:
        return json_refusal("conflict", error.message, 409)
    return JsonResponse({"job": job_serializers.job_summary(job)})

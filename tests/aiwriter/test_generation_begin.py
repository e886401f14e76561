"""The part of a generation done as its message is read, before the generation's task runs."""

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model

from aiwriter import protocol, selectors, services
from tests.aiwriter.fixtures import (  # noqa: F401 (fixtures)
    aiwriter_settings,
    collect,
    generate_message,
    running_slots,
    shared_clients,
    transactional,
    websocket,
)

pytestmark = [transactional, pytest.mark.usefixtures("aiwriter_settings", "shared_clients")]


def draft(title: str = "T") -> protocol.GenerationRequest:
    return protocol.generation_request_parse(generate_message(options={"title": title}))


async def ready(user):
    """The user and prompt as a socket has them after its first generation: nothing left to query."""
    await sync_to_async(services.user_permissions_load)(user=user)
    await sync_to_async(selectors.prompt_for_action)(action="draft")
    return user


async def test_a_request_needing_no_query_is_prepared_and_asks_for_its_slot_at_once(author, ollama_sim):
    user = await ready(await get_user_model().objects.aget(pk=author.pk))
    request = draft()
    early = services.generation_begin(user=user, request=request)
    assert early.prepared is not None and early.slot is not None
    await early.slot.granted()
    assert await running_slots(user) == 1, "the slot is held before the generation itself has run"
    events = [event async for event in services.generation_events(user=user, request=request, early=early)]
    assert events[-1]["type"] == "done"
    assert await running_slots(user) == 0
    assert len(ollama_sim.requests_to("/api/chat")) == 1


async def test_a_user_whose_permissions_are_not_loaded_is_prepared_by_the_generation(author, ollama_sim):
    """Checking them would query the database from the event loop: the generation's task does it instead."""
    user = await get_user_model().objects.aget(pk=author.pk)
    await sync_to_async(selectors.prompt_for_action)(action="draft")
    request = draft()
    early = services.generation_begin(user=user, request=request)
    assert early.prepared is None and early.slot is None and early.failure is None
    events = [event async for event in services.generation_events(user=user, request=request, early=early)]
    assert events[-1]["type"] == "done"


async def test_a_refused_request_asks_for_no_slot(author, ollama_sim):
    user = await ready(await get_user_model().objects.aget(pk=author.pk))
    request = draft(title="")
    early = services.generation_begin(user=user, request=request)
    assert early.slot is None and isinstance(early.failure, protocol.RequestRefused)
    events = [event async for event in services.generation_events(user=user, request=request, early=early)]
    assert [(event["type"], event["code"]) for event in events] == [("error", "invalid")]
    assert await running_slots(user) == 0
    assert ollama_sim.requests_to("/api/chat") == []


async def test_refused_requests_do_not_use_up_the_editors_generations_a_minute(author, settings, ollama_sim):
    settings.AIWRITER_RATE_LIMIT = 1
    await sync_to_async(selectors.prompt_for_action)(action="draft")  # refused as the message is read
    async with websocket(author) as socket:
        await socket.send_json_to(generate_message("a", options={"title": ""}))
        refused = await collect(socket, "a")
        await socket.send_json_to(generate_message("b", options={"title": "T"}))
        allowed = await collect(socket, "b")
    assert refused[-1]["code"] == "invalid"
    assert allowed[-1]["type"] == "done"

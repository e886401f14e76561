"""The engine clients of both dialects against the simulator: streaming, thinking, models, health, cancel."""

import asyncio
from contextlib import aclosing

import pytest

from aiwriter.engines import Backend, Chunk, Done, Thinking, Timeouts
from tests.aiwriter.conftest import CHAT_PATHS, backend_of
from tests.aiwriter.fixtures import both_dialects  # noqa: F401 (fixture)

MODEL = "llama3.2:1b"
MESSAGES = [{"role": "user", "content": "Write about tea."}]


@pytest.fixture
async def client(engine):
    client = Backend.from_setting(backend_of(engine)).client(timeouts=Timeouts(first_token=5, idle=5, total=10))
    yield client
    await client.aclose()


async def events_of(stream) -> list:
    async with aclosing(stream) as events:
        return [event async for event in events]


async def test_a_chat_streams_the_reply_piece_by_piece_then_done(client, engine):
    events = await events_of(client.stream_chat(model=MODEL, messages=MESSAGES, options={"temperature": 0.2}))

    (record,) = engine.requests_to(CHAT_PATHS[engine.dialect])
    assert "".join(event.text for event in events if isinstance(event, Chunk)) == record.reply
    assert len([event for event in events if isinstance(event, Chunk)]) > 3
    assert isinstance(events[-1], Done) and events[-1].stats.done_reason == "stop"
    assert (
        record.body["messages"] == MESSAGES and record.body["temperature" if engine.dialect == "openai" else "options"]
    )


async def test_token_counts_come_from_the_engine_or_are_counted_and_marked(engine_factory, dialect):
    for usage in (True, False):
        engine = engine_factory(usage=usage)
        client = Backend.from_setting(backend_of(engine)).client(timeouts=Timeouts())
        try:
            *_, done = await events_of(client.stream_chat(model=MODEL, messages=MESSAGES))
        finally:
            await client.aclose()
        stats = done.stats
        assert stats.eval_count and stats.eval_count > 3
        assert stats.tokens_estimated is (dialect == "openai" and not usage)


async def test_the_reply_budget_ends_the_reply_with_length(client):
    *chunks, done = await events_of(client.stream_chat(model=MODEL, messages=MESSAGES, options={"num_predict": 3}))

    assert done.stats.done_reason == "length" and len(chunks) == 3


async def test_thinking_streams_apart_from_the_answer_in_every_style(engine_factory, dialect):
    styles = ["field", "tags"] if dialect == "openai" else ["field"]
    for style in styles:
        engine = engine_factory(thinking="Let me weigh the tea leaves.", thinking_style=style)
        client = Backend.from_setting(backend_of(engine)).client(timeouts=Timeouts())
        try:
            events = await events_of(client.stream_chat(model=MODEL, messages=MESSAGES, think=True))
        finally:
            await client.aclose()
        thinking = "".join(event.text for event in events if isinstance(event, Thinking))
        answer = "".join(event.text for event in events if isinstance(event, Chunk))
        assert thinking.strip() == "Let me weigh the tea leaves."
        assert "<think>" not in answer and "tea leaves" not in answer and answer


async def test_closing_the_stream_early_closes_the_upstream_connection(client, engine):
    engine.tokens_per_second = 50
    stream = client.stream_chat(model=MODEL, messages=MESSAGES)
    async with aclosing(stream):
        await anext(stream)
        await anext(stream)

    disconnect = await engine.wait_for_disconnect_async(timeout=1.0)
    assert disconnect.chunks_sent < 10


async def test_cancelling_the_reading_task_closes_the_upstream_connection(client, engine):
    engine.tokens_per_second = 50

    async def read() -> None:
        async with aclosing(client.stream_chat(model=MODEL, messages=MESSAGES)) as stream:
            async for _ in stream:
                pass

    task = asyncio.create_task(read())
    await engine.wait_for_in_flight_async(1)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await engine.wait_for_disconnect_async(timeout=1.0)


async def test_models_are_listed_and_cached_briefly(client, engine):
    first = await client.models()
    await client.models()

    assert {model.name for model in first} == set(engine.models)
    paths = {"ollama": "/api/tags", "openai": "/v1/models"}
    assert len(engine.requests_to(paths[engine.dialect])) == 1


async def test_model_details_give_the_context_window_where_the_engine_tells_it(engine_factory, dialect):
    engine = engine_factory(context_length=8192)
    client = Backend.from_setting(backend_of(engine)).client(timeouts=Timeouts())
    try:
        details = await client.cached_details(MODEL)
        await client.cached_details(MODEL)
    finally:
        await client.aclose()
    if dialect == "ollama":
        assert details.context_length == 8192 and len(engine.requests_to("/api/show")) == 1
    else:
        assert details.context_length in (8192, None)


async def test_health_uses_the_health_endpoint_or_the_model_list(engine_factory, dialect):
    for health in (True, False):
        engine = engine_factory(health=health)
        client = Backend.from_setting(backend_of(engine)).client(timeouts=Timeouts())
        try:
            assert await client.ping()
        finally:
            await client.aclose()

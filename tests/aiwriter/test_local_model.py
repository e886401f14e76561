"""End to end against a real model: the editor's WebSocket, the site's OpenAI-compatible client and
llama-cpp-python's server running SmolLM2-135M-Instruct (tests/local_model.py).

Generations are kept short (greedy sampling and a brief answer asked for), so each test takes about
a second of the model's time on two cores.
"""

import asyncio
import re
import time

import pytest
from django.test import AsyncClient

from aiwriter.models import Generation, Outcome
from tests.aiwriter.fixtures import (  # noqa: F401 (fixtures)
    collect,
    generate_message,
    receive,
    shared_clients,
    streamed_text,
    transactional,
    websocket,
)
from tests.local_model import MODEL_ALIAS, local_engine, local_engine_server  # noqa: F401 (fixtures)

pytestmark = [
    pytest.mark.integration,
    transactional,
    pytest.mark.usefixtures("local_model_settings", "shared_clients"),
]

# The longest wait for the model's next event. A real model on a busy 2-core machine can take
# seconds for its first token, the first one after the server starts above all (its weights are
# still being read in); the tests check what it writes, not how fast.
MODEL_TIMEOUT = 30
# With greedy sampling the model answers these in about 40 tokens.
SHORT_DRAFT = {"text": "Write two sentences only.", "options": {"title": "Morning walks", "temperature": 0}}
# And rambles on this one until the draft's token limit, so it is still generating when cancelled.
LONG_DRAFT = {
    "text": "One short paragraph about caching pages in Redis, no headings.",
    "options": {"title": "Caching a blog", "temperature": 0},
}
# Common English words that the simulator's vocabulary lacks: a real model's sentences are full of them.
FUNCTION_WORDS = {"an", "of", "to", "is", "are", "in", "it", "this", "for", "on", "as", "be", "can", "you", "we", "i"}
POST_BODY = (
    "Our blog was slow, so we cached every public page in Redis. A page is stored the first time a reader "
    "asks for it and removed the moment an editor changes the post. Pages now load in a few milliseconds."
)


@pytest.fixture
def local_model_settings(settings, local_engine):  # noqa: F811 (the fixture imported above)
    settings.AIWRITER_BACKENDS = [{"dialect": "openai", "url": local_engine, "api_key_env": ""}]
    settings.AIWRITER_DEFAULT_MODEL = MODEL_ALIAS
    settings.AIWRITER_TIMEOUTS = {"connect": 2.0, "first_token": 10.0, "idle": 10.0, "total": 60.0}
    settings.AIWRITER_RATE_LIMIT = 100
    return local_engine


async def test_a_draft_streams_real_english_with_token_counts(author):
    async with websocket(author) as socket:
        await socket.send_json_to(generate_message(**SHORT_DRAFT))
        events = await collect(socket, timeout=MODEL_TIMEOUT)
    start, done = events[0], events[-1]
    chunks = [event for event in events if event["type"] == "chunk"]
    assert start == {"type": "start", "request_id": "r1", "model": MODEL_ALIAS}
    assert done["type"] == "done" and done["cached"] is False, done
    assert len(chunks) >= 5, "the text arrives token by token"
    text = streamed_text(events)
    words = re.findall(r"[A-Za-z']+", text)
    assert len(words) >= 10 and re.search(r"[A-Za-z]+ [A-Za-z]+ [A-Za-z]+", text), text
    assert len({word.lower() for word in words} & FUNCTION_WORDS) >= 3, f"not English sentences: {text!r}"
    stats = done["stats"]
    assert stats["eval_count"] > 0 and stats["prompt_eval_count"] > 0
    # llama-cpp-python's server sends no usage in a stream, even asked with stream_options.include_usage,
    # so the site counts the streamed pieces and says the counts are estimated.
    assert stats["tokens_estimated"] is True
    generation = await Generation.objects.aget(request_id="r1")
    assert generation.outcome == Outcome.DONE and generation.model == MODEL_ALIAS


async def test_cancel_ends_the_stream_at_once_and_the_model_stops(author, local_engine_server):  # noqa: F811
    async with websocket(author) as socket:
        await socket.send_json_to(generate_message(**LONG_DRAFT))
        assert (await receive(socket, MODEL_TIMEOUT))["type"] == "start"
        assert (await receive(socket, MODEL_TIMEOUT))["type"] == "chunk"
        cancelled_at = time.monotonic()
        await socket.send_json_to({"type": "cancel", "request_id": "r1"})
        stopped = await collect(socket, timeout=MODEL_TIMEOUT)
        stopped_after = time.monotonic() - cancelled_at
        await asyncio.sleep(0.3)  # the server notices the closed stream at its next token
        cpu_before = local_engine_server.cpu_seconds()
        await asyncio.sleep(0.5)
        cpu_used = local_engine_server.cpu_seconds() - cpu_before

        asked_at = time.monotonic()
        await socket.send_json_to(generate_message("r2", **SHORT_DRAFT))
        assert (await receive(socket, MODEL_TIMEOUT))["type"] == "start"
        assert (await receive(socket, MODEL_TIMEOUT))["type"] == "chunk"
        next_first_text_after = time.monotonic() - asked_at
        finished = await collect(socket, "r2", timeout=MODEL_TIMEOUT)
    assert stopped[-1]["type"] == "error" and stopped[-1]["code"] == "cancelled", stopped[-1]
    assert stopped_after < 0.1
    assert cpu_used < 0.1, f"the model kept generating: {cpu_used:.2f} s of CPU in 0.5 s after the cancel"
    assert next_first_text_after < 2, "the next generation waited for the cancelled one"
    assert finished[-1]["type"] == "done"


async def test_the_model_picker_lists_the_local_model(author):
    client = AsyncClient()
    await client.aforce_login(author)
    response = await client.get("/aiwriter/models/")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["default"] == MODEL_ALIAS
    assert MODEL_ALIAS in [model["name"] for model in data["models"]]


async def test_the_answer_holds_no_thinking_text(author):
    """What the editor inserts into the post is the chunks' text; reasoning would come apart as thinking events."""
    options = {"title": "Caching a blog", "max_length": 120, "temperature": 0}
    async with websocket(author) as socket:
        await socket.send_json_to(generate_message(action="summarize", text=POST_BODY, options=options))
        events = await collect(socket, timeout=MODEL_TIMEOUT)
    assert events[-1]["type"] == "done", events[-1]
    answer = streamed_text(events)
    assert re.search(r"[A-Za-z]+ [A-Za-z]+ [A-Za-z]+", answer), answer
    assert "<think>" not in answer and "</think>" not in answer
    thinking = [event for event in events if event["type"] == "thinking"]
    assert all(event.keys() == {"type", "request_id", "text"} for event in thinking)
    assert all(event["text"].strip() not in answer for event in thinking if event["text"].strip())

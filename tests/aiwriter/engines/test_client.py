import asyncio
import contextlib
import time

import pytest

from aiwriter.engines import Chunk, Done, OllamaClient, Timeout, Timeouts, close_clients, get_client
from tests.ollama_simulator import deterministic_reply

MODEL = "llama3.2:1b"
USER_MESSAGES = [
    {"role": "system", "content": "You write short blog posts."},
    {"role": "user", "content": "Write about tea."},
]


@pytest.fixture
async def client(ollama_sim):
    client = OllamaClient(ollama_sim.url, timeouts=Timeouts(connect=2, first_token=5, idle=5, total=10))
    yield client
    await client.aclose()


async def collect(stream) -> tuple[list[Chunk], Done]:
    events = [event async for event in stream]
    *chunks, done = events
    assert all(isinstance(chunk, Chunk) and chunk.text for chunk in chunks)
    assert isinstance(done, Done)
    return chunks, done


async def test_chat_streams_the_reply_token_by_token(client, ollama_sim):
    chunks, done = await collect(client.chat(model=MODEL, messages=USER_MESSAGES, options={"temperature": 0}))

    expected = deterministic_reply("You write short blog posts.\nWrite about tea.")
    assert "".join(chunk.text for chunk in chunks) == expected
    assert len(chunks) == len(expected.split())
    assert done.stats.done_reason == "stop"
    assert done.stats.eval_count == len(chunks)
    sent = ollama_sim.requests_to("/api/chat")[0].body
    assert sent == {"model": MODEL, "messages": USER_MESSAGES, "options": {"temperature": 0}, "stream": True}


async def test_chat_into_hands_each_piece_to_the_receiver_and_returns_done(client):
    pieces: list[str] = []

    done = await client.chat_into(pieces.append, model=MODEL, messages=USER_MESSAGES, options={"temperature": 0})

    expected = deterministic_reply("You write short blog posts.\nWrite about tea.")
    assert "".join(pieces) == expected and len(pieces) == len(expected.split())
    assert done.stats.done_reason == "stop" and done.stats.eval_count == len(pieces)


async def test_a_stream_longer_than_the_idle_limit_runs_while_text_keeps_coming(ollama_sim):
    ollama_sim.tokens_per_second = 20
    client = OllamaClient(ollama_sim.url, timeouts=Timeouts(first_token=2, idle=0.25, total=10))
    pieces: list[str] = []
    started = time.monotonic()
    try:
        done = await client.chat_into(pieces.append, model=MODEL, messages=USER_MESSAGES)
    finally:
        await client.aclose()

    assert time.monotonic() - started > 0.5, "the reply took several idle limits"
    assert done.stats.done_reason == "stop" and len(pieces) == done.stats.eval_count


async def test_chat_into_stops_at_the_idle_limit_keeping_what_arrived(ollama_sim):
    ollama_sim.stall_after(2)
    client = OllamaClient(ollama_sim.url, timeouts=Timeouts(first_token=5, idle=0.2))
    pieces: list[str] = []
    try:
        with pytest.raises(Timeout) as caught:
            await client.chat_into(pieces.append, model=MODEL, messages=USER_MESSAGES)
    finally:
        await client.aclose()

    assert len(pieces) == 2
    assert caught.value.phase == "idle" and caught.value.output_started
    assert ollama_sim.wait_for_disconnect(timeout=1.0).chunks_sent == 2


async def test_generate_streams_with_system_prompt_and_keep_alive(client, ollama_sim):
    chunks, done = await collect(client.generate(model=MODEL, prompt="Tea.", system="Be brief.", keep_alive="10m"))

    assert "".join(chunk.text for chunk in chunks) == deterministic_reply("Be brief.\nTea.")
    assert done.stats.done_reason == "stop"
    body = ollama_sim.requests_to("/api/generate")[0].body
    assert body["system"] == "Be brief." and body["keep_alive"] == "10m" and body["stream"] is True


async def test_done_carries_statistics_and_tokens_per_second(client, ollama_sim):
    ollama_sim.tokens_per_second = 400
    ollama_sim.first_token_delay = 0.02

    chunks, done = await collect(client.chat(model=MODEL, messages=USER_MESSAGES))

    stats = done.stats
    assert stats.prompt_eval_count == len(["You", "write", "short", "blog", "posts.", "Write", "about", "tea."])
    assert stats.prompt_eval_duration_ns >= 20_000_000
    assert stats.total_duration_ns > stats.eval_duration_ns > 0
    assert stats.tokens_per_second == pytest.approx(stats.eval_count / stats.eval_duration_ns * 1e9)
    # Paced at 400 tokens/s; a loaded machine can only make it slower.
    assert 0 < stats.tokens_per_second <= 440
    assert stats.as_dict()["eval_count"] == len(chunks)


async def test_unicode_line_separators_in_text_survive_streaming(client, ollama_sim):
    # U+0085 and U+2028 are line breaks for str.splitlines(); a JSON encoder may leave them raw.
    ollama_sim.reply = "caf\u00e9 \u65e5\u672c next\u0085line para\u2028graph \U0001f375 end"

    chunks, _ = await collect(client.generate(model=MODEL, prompt="x"))

    assert "".join(chunk.text for chunk in chunks) == ollama_sim.reply


async def test_num_predict_limit_ends_with_length(client, ollama_sim):
    chunks, done = await collect(client.chat(model=MODEL, messages=USER_MESSAGES, options={"num_predict": 5}))

    assert len(chunks) == 5
    assert done.stats.done_reason == "length"


async def test_sequential_streams_reuse_one_pooled_connection(client, ollama_sim):
    await collect(client.chat(model=MODEL, messages=USER_MESSAGES))
    await collect(client.generate(model=MODEL, prompt="again"))

    first, second = ollama_sim.requests
    assert first.connection_id == second.connection_id


async def test_concurrent_streams_run_in_parallel(client, ollama_sim):
    ollama_sim.num_parallel = 3
    ollama_sim.tokens_per_second = 100

    results = await asyncio.gather(*(collect(client.generate(model=MODEL, prompt=f"p{i}")) for i in range(3)))

    texts = ["".join(chunk.text for chunk in chunks) for chunks, _ in results]
    assert texts == [deterministic_reply(f"p{i}") for i in range(3)]
    assert ollama_sim.max_in_flight == 3


async def test_closing_the_stream_early_closes_the_upstream_connection(client, ollama_sim):
    ollama_sim.tokens_per_second = 50
    stream = client.chat(model=MODEL, messages=USER_MESSAGES)
    assert isinstance(await anext(stream), Chunk)
    assert isinstance(await anext(stream), Chunk)

    closed_at = time.monotonic()
    await stream.aclose()

    disconnect = await ollama_sim.wait_for_disconnect_async(timeout=1.0)
    assert disconnect.at - closed_at < 0.1
    assert disconnect.path == "/api/chat"
    assert disconnect.chunks_sent < len(ollama_sim.requests[0].reply.split())


async def test_cancelling_the_reading_task_closes_the_upstream_connection(client, ollama_sim):
    ollama_sim.tokens_per_second = 50
    received = asyncio.Event()

    async def read_all():
        async with contextlib.aclosing(client.generate(model=MODEL, prompt="long")) as stream:
            async for _ in stream:
                received.set()

    task = asyncio.create_task(read_all())
    await asyncio.wait_for(received.wait(), 2)
    cancelled_at = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    disconnect = await ollama_sim.wait_for_disconnect_async(timeout=1.0)
    assert disconnect.at - cancelled_at < 0.1
    assert disconnect.chunks_sent >= 1


async def test_cancelling_while_waiting_for_the_first_token_closes_the_connection(client, ollama_sim):
    ollama_sim.hang()
    task = asyncio.create_task(anext(client.chat(model=MODEL, messages=USER_MESSAGES)))
    await ollama_sim.wait_for_in_flight_async(1)
    await asyncio.sleep(0.05)

    cancelled_at = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    disconnect = await ollama_sim.wait_for_disconnect_async(timeout=1.0)
    assert disconnect.at - cancelled_at < 0.1
    assert disconnect.chunks_sent == 0


async def test_tags_lists_models_and_is_cached_briefly(ollama_sim):
    client = OllamaClient(ollama_sim.url, tags_ttl=0.2)
    try:
        first = await client.tags()
        ollama_sim.models = ["llama3.2:1b", "mistral:7b"]
        second = await client.tags()
        assert len(ollama_sim.requests_to("/api/tags")) == 1
        assert second == first

        await asyncio.sleep(0.25)
        third = await client.tags()
    finally:
        await client.aclose()

    assert [model.name for model in first] == ["llama3.2:1b", "qwen2.5:0.5b"]
    assert first[0].family == "llama" and first[0].parameter_size == "1B" and first[0].size > 0
    assert first[0].quantization_level == "Q4_K_M" and first[0].modified_at.endswith("Z")
    assert [model.name for model in third] == ["llama3.2:1b", "mistral:7b"]
    assert len(ollama_sim.requests_to("/api/tags")) == 2


async def test_concurrent_tags_reads_share_one_upstream_call(client, ollama_sim):
    results = await asyncio.gather(*(client.tags() for _ in range(5)))

    assert all(result == results[0] for result in results)
    assert len(ollama_sim.requests_to("/api/tags")) == 1


async def test_version(client, ollama_sim):
    ollama_sim.version = "0.13.1"

    assert await client.version() == "0.13.1"


async def test_ps_lists_models_loaded_by_a_generation(client, ollama_sim):
    assert await client.ps() == []

    await collect(client.generate(model=MODEL, prompt="load me", keep_alive="5m"))

    loaded = await client.ps()
    assert [model["name"] for model in loaded] == [MODEL]
    assert loaded[0]["expires_at"].endswith("Z") and loaded[0]["size_vram"] > 0


async def test_get_client_shares_one_client_per_host_in_a_loop(ollama_sim_factory):
    first, second = ollama_sim_factory(), ollama_sim_factory()
    shared = get_client(first.url)
    try:
        assert get_client(first.url + "/") is shared
        assert get_client(second.url) is not shared
        assert await get_client(second.url).version() == second.version
    finally:
        await close_clients()

    assert shared.is_closed
    replacement = get_client(first.url)
    assert replacement is not shared and not replacement.is_closed
    await close_clients()


def test_get_client_replaces_a_client_bound_to_a_closed_loop(ollama_sim):
    async def shared_client():
        return get_client(ollama_sim.url)

    async def version_with_fresh_client(stale):
        client = get_client(ollama_sim.url)
        try:
            return client is not stale, await client.version()
        finally:
            await close_clients()

    stale = asyncio.run(shared_client())
    replaced, version = asyncio.run(version_with_fresh_client(stale))

    assert replaced and not stale.is_closed
    assert version == ollama_sim.version


def test_invalid_base_url_is_refused():
    with pytest.raises(ValueError, match="invalid Ollama URL"):
        OllamaClient("localhost:11434")

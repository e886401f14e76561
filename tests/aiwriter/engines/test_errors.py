import socket
import time

import pytest

from aiwriter.engines import (
    Backend,
    BadRequest,
    Chunk,
    ConfigurationError,
    EngineError,
    MalformedResponse,
    ModelNotFound,
    RateLimited,
    ServerBusy,
    ServerError,
    StreamError,
    Timeout,
    Timeouts,
    Unavailable,
)
from tests.aiwriter.conftest import backend_of
from tests.aiwriter.fixtures import both_dialects  # noqa: F401 (fixture)

MODEL = "llama3.2:1b"
MESSAGES = [{"role": "user", "content": "Write about tea."}]
MODELS_PATHS = {"ollama": "/api/tags", "openai": "/v1/models"}


def client_of(engine, **timeouts):
    return Backend.from_setting(backend_of(engine)).client(timeouts=Timeouts(**timeouts))


@pytest.fixture
async def client(engine):
    client = client_of(engine, connect=2, first_token=5, idle=5, total=10)
    yield client
    await client.aclose()


async def drain(stream) -> list[str]:
    """The texts received before the stream ended or failed; the failure is re-raised."""
    texts = []
    async for event in stream:
        if isinstance(event, Chunk):
            texts.append(event.text)
    return texts


async def chunks_then_error(stream, error_type) -> tuple[list[str], EngineError]:
    texts = []
    with pytest.raises(error_type) as caught:
        async for event in stream:
            if isinstance(event, Chunk):
                texts.append(event.text)
    return texts, caught.value


async def test_unknown_model_is_model_not_found_in_plain_words(client):
    with pytest.raises(ModelNotFound) as caught:
        await drain(client.stream_chat(model="mistral:7b", messages=MESSAGES))

    error = caught.value
    assert "mistral:7b" in error.message and "mistral:7b" in error.editor_message
    assert error.code == "model_not_found" and error.status == 404 and error.model == "mistral:7b"
    assert error.retryable is False and error.host == client.base_url


async def test_invalid_request_is_bad_request(client):
    with pytest.raises(BadRequest) as caught:
        await drain(client.stream_chat(model=MODEL, messages=MESSAGES, options={"num_predict": "ten"}))

    assert caught.value.code == "invalid" and caught.value.status in (400, 422)


async def test_request_that_cannot_be_encoded_is_bad_request_and_never_sent(client, engine):
    with pytest.raises(BadRequest):
        await drain(client.stream_chat(model=MODEL, messages=MESSAGES, options={"seed": object()}))

    assert engine.requests == []


async def test_too_many_requests_is_rate_limited_and_retryable(client, engine):
    engine.fail_with(429)

    with pytest.raises(RateLimited) as caught:
        await drain(client.stream_chat(model=MODEL, messages=MESSAGES))

    assert caught.value.code == "busy" and caught.value.retryable and caught.value.status == 429
    # The fault applied once; the next request succeeds.
    assert await drain(client.stream_chat(model=MODEL, messages=MESSAGES))


async def test_full_queue_is_server_busy(client, engine):
    engine.num_parallel = 1
    engine.max_queue = 0
    engine.tokens_per_second = 20
    holder = client.stream_chat(model=MODEL, messages=[{"role": "user", "content": "hold the only slot"}])
    await anext(holder)

    with pytest.raises(ServerBusy) as caught:
        await drain(client.stream_chat(model=MODEL, messages=[{"role": "user", "content": "no room"}]))
    await holder.aclose()

    assert caught.value.code == "busy" and caught.value.retryable and caught.value.status == 503


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_server_failures_are_retryable_server_errors(client, engine, status):
    engine.fail_with(status, "llama runner process has terminated")

    with pytest.raises(ServerError) as caught:
        await drain(client.stream_chat(model=MODEL, messages=MESSAGES))

    assert caught.value.code == "upstream" and caught.value.retryable and caught.value.status == status
    assert f"HTTP {status}" in caught.value.message and "llama runner process has terminated" in caught.value.message


async def test_error_line_after_streaming_began_is_a_stream_error(client, engine):
    engine.error_after(3, "out of memory")

    texts, error = await chunks_then_error(client.stream_chat(model=MODEL, messages=MESSAGES), StreamError)

    assert len(texts) == 3
    assert "out of memory" in error.message and error.code == "upstream" and not error.retryable
    assert "out of memory" not in "".join(texts)


async def test_line_that_is_not_json_is_a_malformed_response(client, engine):
    engine.malformed_after(2)

    texts, error = await chunks_then_error(client.stream_chat(model=MODEL, messages=MESSAGES), MalformedResponse)

    assert len(texts) == 2 and error.code == "upstream"


async def test_connection_lost_mid_reply_is_a_stream_error(client, engine):
    engine.drop_after(4)

    texts, error = await chunks_then_error(client.stream_chat(model=MODEL, messages=MESSAGES), StreamError)

    assert len(texts) == 4 and not error.retryable


async def test_connection_lost_before_any_output_is_unavailable(client, engine):
    engine.drop_after(0)

    texts, error = await chunks_then_error(client.stream_chat(model=MODEL, messages=MESSAGES), Unavailable)

    assert texts == [] and error.retryable and error.code == "unavailable"


async def test_connection_refused_is_unavailable(make_client_for_closed_port):
    client = make_client_for_closed_port
    with pytest.raises(Unavailable) as caught:
        await drain(client.stream_chat(model=MODEL, messages=MESSAGES))
    with pytest.raises(Unavailable):
        await client.ping()

    assert caught.value.code == "unavailable" and caught.value.retryable
    assert "Cannot connect" in caught.value.message


async def test_connect_timeout(unresponsive_listener):
    client = Backend(dialect="ollama", url=unresponsive_listener).client(timeouts=Timeouts(connect=0.2, first_token=5))
    started = time.monotonic()
    try:
        with pytest.raises(Timeout) as caught:
            await drain(client.stream_chat(model=MODEL, messages=MESSAGES))
    finally:
        await client.aclose()

    assert caught.value.phase == "connect" and caught.value.retryable and caught.value.code == "timeout"
    assert time.monotonic() - started < 2


async def test_first_token_timeout_closes_the_connection(engine):
    engine.hang()
    client = client_of(engine, first_token=0.2)
    try:
        texts, error = await chunks_then_error(client.stream_chat(model=MODEL, messages=MESSAGES), Timeout)
    finally:
        await client.aclose()

    assert texts == [] and error.phase == "first_token" and error.retryable
    assert engine.wait_for_disconnect(timeout=1.0).chunks_sent == 0


async def test_first_token_timeout_covers_slow_prompt_processing(engine):
    engine.first_token_delay = 1.0
    client = client_of(engine, first_token=0.2)
    try:
        _, error = await chunks_then_error(client.stream_chat(model=MODEL, messages=MESSAGES), Timeout)
    finally:
        await client.aclose()

    assert error.phase == "first_token"


async def test_idle_timeout_after_text_started_is_not_retryable(engine):
    engine.stall_after(2)
    client = client_of(engine, first_token=5, idle=0.2)
    try:
        texts, error = await chunks_then_error(client.stream_chat(model=MODEL, messages=MESSAGES), Timeout)
    finally:
        await client.aclose()

    assert len(texts) == 2 and error.phase == "idle" and not error.retryable and error.output_started
    assert engine.wait_for_disconnect(timeout=1.0).chunks_sent == 2


async def test_total_timeout_bounds_a_slow_but_steady_stream(engine):
    engine.tokens_per_second = 20
    client = client_of(engine, first_token=5, idle=5, total=0.3)
    started = time.monotonic()
    try:
        texts, error = await chunks_then_error(client.stream_chat(model=MODEL, messages=MESSAGES), Timeout)
    finally:
        await client.aclose()

    assert error.phase == "total" and not error.retryable
    assert 1 <= len(texts) < 10
    assert time.monotonic() - started < 2


async def test_credentials_refused_are_a_configuration_error_for_operators(engine_factory, dialect):
    engine = engine_factory(api_key="right")
    client = client_of(engine)
    try:
        with pytest.raises(ConfigurationError) as caught:
            await drain(client.stream_chat(model=MODEL, messages=MESSAGES))
    finally:
        await client.aclose()

    assert caught.value.status == 401 and "API key" in caught.value.message
    assert "unavailable" in caught.value.editor_message and "401" not in caught.value.editor_message


async def test_the_api_key_is_read_from_the_variable_the_setting_names(engine_factory, monkeypatch):
    engine = engine_factory(api_key="s3cret")
    monkeypatch.setenv("TEST_ENGINE_KEY", "s3cret")
    client = Backend.from_setting({**backend_of(engine), "api_key_env": "TEST_ENGINE_KEY"}).client(timeouts=Timeouts())
    try:
        assert await drain(client.stream_chat(model=MODEL, messages=MESSAGES))
    finally:
        await client.aclose()
    assert engine.requests[-1].has_authorization


async def test_metadata_calls_map_errors_too(client, engine):
    engine.fail_with(500, paths=[MODELS_PATHS[engine.dialect]])

    with pytest.raises(ServerError):
        await client.models()


@pytest.fixture
async def make_client_for_closed_port(dialect):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = Backend(dialect=dialect, url=f"http://127.0.0.1:{port}").client(timeouts=Timeouts())
    yield client
    await client.aclose()


@pytest.fixture
def unresponsive_listener():
    """A port whose accept queue is full: connection attempts get no answer until they time out."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    for sock in [*fillers, server]:
        sock.close()

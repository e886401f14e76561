import base64
import io
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests import engine_simulator
from tests.engine_simulator import (
    BUSY_MESSAGE,
    OPENAI_BUSY_MESSAGE,
    EngineSimulator,
    RequestRecord,
    deterministic_reply,
    split_tokens,
)

MODEL = "llama3.2:1b"
QUESTION = "Write about tea."
CHAT = {"model": MODEL, "messages": [{"role": "user", "content": QUESTION}]}
OPENAI_CHAT = {**CHAT, "stream": True}
STAT_FIELDS = ("total_duration", "prompt_eval_count", "prompt_eval_duration", "eval_count", "eval_duration")
DIALECTS = ["ollama", "openai"]


@pytest.fixture
def engine():
    """Starts simulators with EngineSimulator's keyword arguments; all are stopped at teardown."""
    started: list[EngineSimulator] = []

    def start(**config) -> EngineSimulator:
        simulator = EngineSimulator(**config).start()
        started.append(simulator)
        return simulator

    yield start
    for simulator in started:
        simulator.stop()


def client(simulator: EngineSimulator, **kw) -> httpx.Client:
    return httpx.Client(base_url=simulator.url, **{"timeout": 5, **kw})


def generation(dialect: str, **extra) -> tuple[str, dict]:
    """The path and body of a streamed chat in the dialect."""
    if dialect == "openai":
        return "/v1/chat/completions", {**OPENAI_CHAT, **extra}
    return "/api/chat", {**CHAT, **extra}


def stream_payloads(http: httpx.Client, dialect: str, path: str, body: dict) -> tuple[httpx.Response, list[str]]:
    """The NDJSON lines, or the `data:` payloads of the Server-Sent Events, as text."""
    with http.stream("POST", path, json=body) as response:
        lines = [line for line in response.iter_lines() if line]
    if dialect == "openai":
        assert all(line.startswith("data: ") for line in lines)
        lines = [line.removeprefix("data: ") for line in lines]
    return response, lines


def content_of(dialect: str, payloads: list[str]) -> str:
    if dialect == "openai":
        chunks = [json.loads(payload) for payload in payloads if payload != "[DONE]"]
        return "".join(choice["delta"].get("content", "") for chunk in chunks for choice in chunk["choices"])
    return "".join(json.loads(line)["message"]["content"] for line in payloads)


def raw_request(simulator: EngineSimulator, path: str, body: dict) -> socket.socket:
    """Sends a request on a plain socket and leaves the answer unread."""
    data = json.dumps(body).encode()
    sock = socket.create_connection(("127.0.0.1", simulator.port), timeout=2)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: engine\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    sock.sendall(head.encode() + data)
    return sock


def assert_silent(sock: socket.socket, seconds: float = 0.2) -> None:
    sock.settimeout(seconds)
    with pytest.raises(TimeoutError):
        sock.recv(1)


# The Ollama dialect


def test_ollama_chat_streams_ndjson_lines_ending_with_done_and_statistics(engine):
    simulator = engine()
    with client(simulator) as http:
        response, lines = stream_payloads(http, "ollama", "/api/chat", CHAT)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    assert response.headers["transfer-encoding"] == "chunked"
    *pieces, done = [json.loads(line) for line in lines]
    assert all(line["done"] is False and line["message"]["role"] == "assistant" for line in pieces)
    assert "".join(line["message"]["content"] for line in pieces) == deterministic_reply(QUESTION)
    assert done["done"] is True and done["message"] == {"role": "assistant", "content": ""}
    assert done["done_reason"] == "stop" and done["model"] == MODEL and done["created_at"].endswith("Z")
    assert all(isinstance(done[name], int) and done[name] > 0 for name in STAT_FIELDS)
    assert done["eval_count"] == len(pieces) == simulator.requests[0].chunks_sent


def test_ollama_generate_without_streaming_answers_one_object(engine):
    simulator = engine()
    body = {"model": MODEL, "prompt": "Tea?", "system": "Be brief.", "stream": False, "options": {"num_predict": 4}}

    with client(simulator) as http:
        response = http.post("/api/generate", json=body)

    assert response.headers["content-type"] == "application/json; charset=utf-8"
    answer = response.json()
    assert answer["response"] == "".join(split_tokens(deterministic_reply("Be brief.\nTea?"))[:4])
    assert answer["done"] is True and answer["done_reason"] == "length" and answer["eval_count"] == 4


@pytest.mark.parametrize("path", ["/api/chat", "/api/generate"])
@pytest.mark.parametrize("text", ["plain", ' "quoted" <b>&amp;</b>\u2028\u2029', "été 🍵\n\t\\"])
def test_ollama_piece_lines_are_the_messages_go_would_encode(monkeypatch, path, text):
    monkeypatch.setattr(engine_simulator, "rfc3339_now", lambda: "2026-11-23T16:40:01.5Z")
    record = RequestRecord(1, "POST", path, {}, 0.0, 1)
    output = engine_simulator._OllamaOutput(None, record, model='m<"1">', stream=True)

    line = output.piece_line(text)

    assert line == engine_simulator.go_json(output._message(text, done=False))
    assert json.loads(line)["created_at"] == "2026-11-23T16:40:01.5Z"


def test_ollama_show_reports_the_context_length_of_a_known_model(engine):
    simulator = engine(context_length=8192, thinking="Hmm.")
    with client(simulator) as http:
        shown = http.post("/api/show", json={"model": MODEL}).json()
        missing = http.post("/api/show", json={"model": "mistral:7b"})

    assert shown["model_info"]["llama.context_length"] == 8192
    assert shown["details"]["family"] == "llama" and shown["capabilities"] == ["completion", "thinking"]
    assert missing.status_code == 404 and missing.json() == {"error": 'model "mistral:7b" not found'}


def test_ollama_tags_version_ps_and_root(engine):
    simulator = engine()
    with client(simulator) as http:
        http.post("/api/generate", json={"model": MODEL, "prompt": "x", "stream": False, "keep_alive": "1h"})
        tags = http.get("/api/tags").json()["models"]
        (loaded,) = http.get("/api/ps").json()["models"]
        assert http.get("/api/version").json() == {"version": simulator.version}
        assert http.get("/").text == "Ollama is running"
        assert http.get("/api/nothing").status_code == 404
        assert http.get("/api/chat").status_code == 405

    assert [model["name"] for model in tags] == list(simulator.models)
    assert loaded["name"] == MODEL and loaded["expires_at"].endswith("Z") and loaded["size_vram"] > 0


@pytest.mark.parametrize(
    ("options", "words", "num_ctx", "truncated", "evaluated"),
    [
        ({"num_ctx": 8}, 20, 8, True, 8),
        ({"num_ctx": 64}, 20, 64, False, 20),
        ({}, 2100, None, True, 2048),
        ({}, 2000, None, False, 2000),
    ],
    ids=["over-num_ctx", "within-num_ctx", "over-default", "within-default"],
)
def test_ollama_drops_the_start_of_a_prompt_beyond_the_window_and_records_it(
    engine, options, words, num_ctx, truncated, evaluated
):
    simulator = engine()
    body = {"model": MODEL, "prompt": " ".join(["word"] * words), "stream": False, "options": options}

    with client(simulator) as http:
        answer = http.post("/api/generate", json=body).json()

    (record,) = simulator.requests
    assert (record.num_ctx, record.truncated, record.prompt_tokens) == (num_ctx, truncated, words)
    assert answer["done"] is True and answer["prompt_eval_count"] == evaluated


def test_ollama_streams_thinking_before_the_content_when_asked(engine):
    simulator = engine(thinking=lambda body: "First, the kettle.")
    with client(simulator) as http:
        _, lines = stream_payloads(http, "ollama", "/api/chat", {**CHAT, "think": True})
        plain = http.post("/api/chat", json={**CHAT, "stream": False}).json()

    messages = [json.loads(line)["message"] for line in lines[:-1]]
    thinking = [message for message in messages if message.get("thinking")]
    assert messages[: len(thinking)] == thinking and all(message["content"] == "" for message in thinking)
    assert "".join(message["thinking"] for message in thinking) == "First, the kettle."
    assert "".join(message["content"] for message in messages) == deterministic_reply(QUESTION)
    assert "thinking" not in plain["message"]
    first = simulator.requests[0]
    assert first.thinking_sent == "First, the kettle." and first.chunks_sent == len(messages)


def test_ollama_think_for_a_model_that_does_not_reason_is_400(engine):
    simulator = engine()
    with client(simulator) as http:
        response = http.post("/api/chat", json={**CHAT, "think": True})

    assert response.status_code == 400
    assert response.json() == {"error": f'"{MODEL}" does not support thinking'}


def test_ollama_thinking_in_tags_arrives_inside_the_content(engine):
    simulator = engine(thinking="Steep it.", thinking_style="tags")
    with client(simulator) as http:
        answer = http.post("/api/chat", json={**CHAT, "stream": False}).json()

    assert answer["message"]["content"] == f"<think>\nSteep it.\n</think>\n\n{deterministic_reply(QUESTION)}"


def test_ollama_api_key_is_asked_for_when_set(engine):
    simulator = engine(api_key="sesame")
    with client(simulator) as http:
        refused = http.get("/api/tags")
        allowed = http.get("/api/tags", headers={"Authorization": "Bearer sesame"})

    assert refused.status_code == 401 and refused.json() == {"error": "unauthorized"}
    assert allowed.status_code == 200


# The OpenAI-compatible dialect


def openai_chunks(payloads: list[str]) -> list[dict]:
    assert payloads[-1] == "[DONE]"
    return [json.loads(payload) for payload in payloads[:-1]]


def test_openai_streams_chunks_ending_with_a_finish_reason_and_done(engine):
    simulator = engine(dialect="openai")
    with client(simulator) as http:
        response, payloads = stream_payloads(http, "openai", "/v1/chat/completions", OPENAI_CHAT)

    assert response.status_code == 200 and response.headers["content-type"] == "text/event-stream"
    *pieces, final = openai_chunks(payloads)
    assert {chunk["id"] for chunk in pieces + [final]} == {pieces[0]["id"]} and pieces[0]["id"].startswith("chatcmpl-")
    assert all(chunk["object"] == "chat.completion.chunk" and chunk["model"] == MODEL for chunk in pieces)
    assert all(chunk["choices"][0]["finish_reason"] is None for chunk in pieces)
    assert pieces[0]["choices"][0]["delta"]["role"] == "assistant"
    assert content_of("openai", payloads) == deterministic_reply(QUESTION)
    assert final["choices"] == [{"index": 0, "delta": {}, "finish_reason": "stop"}] and "usage" not in final
    assert simulator.requests[0].chunks_sent == len(pieces)


@pytest.mark.parametrize("usage", [True, False])
def test_openai_usage_comes_last_when_asked_for_and_reported(engine, usage):
    simulator = engine(dialect="openai", usage=usage)
    body = {**OPENAI_CHAT, "stream_options": {"include_usage": True}}

    with client(simulator) as http:
        _, payloads = stream_payloads(http, "openai", "/v1/chat/completions", body)

    chunks = openai_chunks(payloads)
    pieces = len(split_tokens(deterministic_reply(QUESTION)))
    if usage:
        assert chunks[-1]["choices"] == [] and chunks[-2]["choices"][0]["finish_reason"] == "stop"
        assert chunks[-1]["usage"] == {"prompt_tokens": 3, "completion_tokens": pieces, "total_tokens": 3 + pieces}
    else:
        assert all("usage" not in chunk for chunk in chunks) and chunks[-1]["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize("usage", [True, False])
def test_openai_without_streaming_answers_one_chat_completion(engine, usage):
    simulator = engine(dialect="openai", usage=usage)
    with client(simulator) as http:
        answer = http.post("/v1/chat/completions", json={**CHAT, "max_tokens": 5}).json()

    assert answer["object"] == "chat.completion" and answer["model"] == MODEL
    (choice,) = answer["choices"]
    assert choice["message"] == {
        "role": "assistant",
        "content": "".join(split_tokens(deterministic_reply(QUESTION))[:5]),
    }
    assert choice["finish_reason"] == "length"
    assert ("usage" in answer) is usage
    if usage:
        assert answer["usage"] == {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}


def test_openai_max_tokens_ends_the_stream_with_length(engine):
    simulator = engine(dialect="openai")
    with client(simulator) as http:
        _, payloads = stream_payloads(http, "openai", "/v1/chat/completions", {**OPENAI_CHAT, "max_tokens": 3})

    *pieces, final = openai_chunks(payloads)
    assert len(pieces) == 3 and final["choices"][0]["finish_reason"] == "length"


def test_openai_lists_its_models(engine):
    simulator = engine(dialect="openai", models=["Qwen/Qwen3-0.6B", "smollm2"])
    with client(simulator) as http:
        listing = http.get("/v1/models").json()

    assert listing["object"] == "list"
    assert [model["id"] for model in listing["data"]] == ["Qwen/Qwen3-0.6B", "smollm2"]
    assert all(model["object"] == "model" and model["owned_by"] and model["created"] > 0 for model in listing["data"])


@pytest.mark.parametrize(("health", "status"), [(True, 200), (False, 404)])
def test_openai_health_answers_only_where_the_engine_has_it(engine, health, status):
    simulator = engine(dialect="openai", health=health)
    with client(simulator) as http:
        response = http.get("/health")

    assert response.status_code == status
    if health:
        assert response.json() == {"status": "ok"}


def test_openai_api_key_is_required_on_the_api_but_not_for_health(engine):
    simulator = engine(dialect="openai", api_key="sesame")
    with client(simulator) as http:
        missing = http.get("/v1/models")
        wrong = http.post("/v1/chat/completions", json=CHAT, headers={"Authorization": "Bearer nope"})
        right = http.post("/v1/chat/completions", json=CHAT, headers={"Authorization": "Bearer sesame"})
        health = http.get("/health")

    assert missing.status_code == wrong.status_code == 401
    error = missing.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "invalid_api_key" and error["message"]
    assert right.status_code == 200 and health.status_code == 200
    assert [record.has_authorization for record in simulator.requests] == [False, True, True, False]
    assert simulator.requests[2].headers["authorization"] == "Bearer sesame"


def test_openai_unknown_model_is_404_model_not_found(engine):
    simulator = engine(dialect="openai")
    with client(simulator) as http:
        response = http.post("/v1/chat/completions", json={**CHAT, "model": "gpt-5"})

    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "message": "The model `gpt-5` does not exist.",
            "type": "invalid_request_error",
            "code": "model_not_found",
        }
    }


def test_openai_request_beyond_the_context_window_is_400(engine):
    simulator = engine(dialect="openai", context_length=10)
    with client(simulator) as http:
        too_long = http.post("/v1/chat/completions", json={**CHAT, "max_tokens": 8})
        fits = http.post("/v1/chat/completions", json={**CHAT, "max_tokens": 7})

    assert too_long.status_code == 400
    assert "maximum context length is 10 tokens" in too_long.json()["error"]["message"]
    assert fits.status_code == 200 and fits.json()["usage"]["completion_tokens"] == 7


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": MODEL}, "messages"),
        ({**CHAT, "max_tokens": 0}, "max_tokens"),
        ({**CHAT, "stream_options": {"include_usage": True}}, "stream=True"),
    ],
)
def test_openai_invalid_requests_are_400(engine, body, message):
    simulator = engine(dialect="openai")
    with client(simulator) as http:
        response = http.post("/v1/chat/completions", json=body)

    assert response.status_code == 400
    assert message in response.json()["error"]["message"]


def test_openai_streams_reasoning_content_before_the_content(engine):
    simulator = engine(dialect="openai", thinking="Boil first.")
    with client(simulator) as http:
        _, payloads = stream_payloads(http, "openai", "/v1/chat/completions", OPENAI_CHAT)
        off = {**CHAT, "chat_template_kwargs": {"enable_thinking": False}}
        plain = http.post("/v1/chat/completions", json=off).json()

    deltas = [chunk["choices"][0]["delta"] for chunk in openai_chunks(payloads)[:-1]]
    reasoning = [delta for delta in deltas if "reasoning_content" in delta]
    assert deltas[: len(reasoning)] == reasoning and all("content" not in delta for delta in reasoning)
    assert "".join(delta["reasoning_content"] for delta in reasoning) == "Boil first."
    assert content_of("openai", payloads) == deterministic_reply(QUESTION)
    assert "reasoning_content" not in plain["choices"][0]["message"]


def test_openai_thinking_in_tags_arrives_inside_the_content(engine):
    simulator = engine(dialect="openai", thinking="Boil first.", thinking_style="tags")
    with client(simulator) as http:
        _, payloads = stream_payloads(http, "openai", "/v1/chat/completions", OPENAI_CHAT)

    assert content_of("openai", payloads) == f"<think>\nBoil first.\n</think>\n\n{deterministic_reply(QUESTION)}"
    assert all("reasoning_content" not in chunk["choices"][0]["delta"] for chunk in openai_chunks(payloads)[:-1])


def test_openai_unknown_path_is_fastapis_404(engine):
    simulator = engine(dialect="openai")
    with client(simulator) as http:
        response = http.get("/api/tags")

    assert response.status_code == 404 and response.json() == {"detail": "Not Found"}


# Both dialects: faults, the queue, disconnects, pacing


@pytest.mark.parametrize(
    ("dialect", "body"),
    [
        ("ollama", {"error": "boom"}),
        ("openai", {"error": {"message": "boom", "type": "server_error", "code": None}}),
    ],
)
def test_status_fault_applies_to_the_next_requests_only(engine, dialect, body):
    simulator = engine(dialect=dialect)
    simulator.fail_with(500, "boom", times=2)
    path, request = generation(dialect, stream=False)

    with client(simulator) as http:
        responses = [http.post(path, json=request) for _ in range(3)]

    assert [response.status_code for response in responses] == [500, 500, 200]
    assert responses[0].json() == body
    assert [record.fault for record in simulator.requests] == ["status", "status", None]


def test_status_fault_can_target_other_paths(engine):
    simulator = engine(dialect="openai")
    simulator.fail_with(502, times=None, paths=["/v1/models"])

    with client(simulator) as http:
        responses = [http.get("/v1/models") for _ in range(2)]

    assert {response.status_code for response in responses} == {502}
    assert responses[0].json()["error"]["message"] == "bad gateway"


def test_error_after_chunks_keeps_status_200(engine):
    ollama, openai = engine(), engine(dialect="openai")
    ollama.error_after(3, "out of memory")
    openai.error_after(3, "out of memory")

    with client(ollama) as http:
        response, lines = stream_payloads(http, "ollama", *generation("ollama"))
        assert response.status_code == 200
    with client(openai) as http:
        response, payloads = stream_payloads(http, "openai", *generation("openai"))
        assert response.status_code == 200

    assert len(lines) == 4 and json.loads(lines[-1]) == {"error": "out of memory"}
    # An error event ends the stream: no finish reason and no [DONE] after it.
    assert len(payloads) == 4 and "[DONE]" not in payloads
    assert json.loads(payloads[-1]) == {"error": {"message": "out of memory", "type": "server_error", "code": None}}
    assert ollama.requests[0].fault == openai.requests[0].fault == "error_line"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_malformed_line_after_chunks(engine, dialect):
    simulator = engine(dialect=dialect)
    simulator.malformed_after(2)

    with client(simulator) as http:
        _, payloads = stream_payloads(http, dialect, *generation(dialect))

    assert len(payloads) == 3
    json.loads(payloads[1])
    with pytest.raises(ValueError):
        json.loads(payloads[-1])


@pytest.mark.parametrize("dialect", DIALECTS)
def test_dropped_connection_breaks_the_chunked_body_and_is_no_client_disconnect(engine, dialect):
    simulator = engine(dialect=dialect)
    simulator.drop_after(2)

    with pytest.raises(httpx.RemoteProtocolError), client(simulator) as http:
        stream_payloads(http, dialect, *generation(dialect))

    simulator.wait_for_in_flight(0)
    assert simulator.disconnects == [] and simulator.requests[0].chunks_sent == 2


@pytest.mark.parametrize("dialect", DIALECTS)
def test_stall_pauses_the_stream_then_it_goes_on(engine, dialect):
    simulator = engine(dialect=dialect, reply="one two three four")
    simulator.stall_after(2, 0.2)

    started = time.monotonic()
    with client(simulator) as http:
        _, payloads = stream_payloads(http, dialect, *generation(dialect))

    assert time.monotonic() - started >= 0.2
    assert content_of(dialect, payloads[:-1] if dialect == "ollama" else payloads) == "one two three four"
    times = simulator.requests[0].piece_times
    assert times[2] - times[1] >= 0.19


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_stall_without_end_lasts_until_the_client_gives_up(engine, dialect):
    simulator = engine(dialect=dialect)
    simulator.stall_after(1)

    with pytest.raises(httpx.ReadTimeout), client(simulator, timeout=0.3) as http:
        stream_payloads(http, dialect, *generation(dialect))

    disconnect = simulator.wait_for_disconnect()
    assert disconnect.chunks_sent == 1 and simulator.requests[0].fault == "stall"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_hang_sends_nothing_until_the_client_leaves(engine, dialect):
    simulator = engine(dialect=dialect)
    simulator.hang()
    sock = raw_request(simulator, *generation(dialect))
    simulator.wait_for_in_flight(1)
    assert_silent(sock)

    closed_at = time.monotonic()
    sock.close()

    disconnect = simulator.wait_for_disconnect()
    assert disconnect.chunks_sent == 0 and disconnect.at - closed_at < 0.1
    simulator.wait_for_in_flight(0)
    assert simulator.requests[0].status is None


@pytest.mark.parametrize(
    ("dialect", "error"),
    [
        ("ollama", {"error": BUSY_MESSAGE}),
        ("openai", {"error": {"message": OPENAI_BUSY_MESSAGE, "type": "server_error", "code": None}}),
    ],
)
def test_full_queue_answers_503(engine, dialect, error):
    simulator = engine(dialect=dialect, num_parallel=1, max_queue=1, tokens_per_second=20)
    running = raw_request(simulator, *generation(dialect))
    queued = raw_request(simulator, *generation(dialect))
    simulator.wait_for_in_flight(2)

    path, body = generation(dialect)
    with client(simulator) as http:
        response = http.post(path, json=body)

    assert response.status_code == 503 and response.json() == error
    running.close()
    queued.close()
    simulator.wait_for_in_flight(0)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_queued_request_starts_when_a_slot_frees(engine, dialect):
    simulator = engine(dialect=dialect, tokens_per_second=20)
    running = raw_request(simulator, *generation(dialect))
    queued = raw_request(simulator, *generation(dialect))
    simulator.wait_for_in_flight(2)
    assert running.recv(1024).startswith(b"HTTP/1.1 200 OK")
    assert_silent(queued)

    running.close()

    queued.settimeout(2)
    assert queued.recv(1024).startswith(b"HTTP/1.1 200 OK")
    queued.close()
    assert simulator.wait_for_disconnect(count=2).request_id == 2


def test_parallel_slots_serve_requests_at_once(engine):
    simulator = engine(num_parallel=2, tokens_per_second=20)
    sockets = [raw_request(simulator, "/api/generate", {"model": MODEL, "prompt": f"p{i}"}) for i in range(3)]
    simulator.wait_for_in_flight(3)

    assert [sock.recv(1024).startswith(b"HTTP/1.1 200") for sock in sockets[:2]] == [True, True]
    assert_silent(sockets[2])
    for sock in sockets:
        sock.close()
    assert simulator.max_in_flight == 3


@pytest.mark.parametrize("dialect", DIALECTS)
def test_client_disconnect_mid_stream_is_noticed_at_once_and_generation_stops(engine, dialect):
    simulator = engine(dialect=dialect, tokens_per_second=20)
    path, body = generation(dialect)
    sock = raw_request(simulator, path, body)
    assert sock.recv(4096).startswith(b"HTTP/1.1 200 OK")

    closed_at = time.monotonic()
    sock.close()

    disconnect = simulator.wait_for_disconnect()
    assert disconnect.at - closed_at < 0.1
    assert disconnect.path == path and disconnect.request_id == 1
    simulator.wait_for_in_flight(0)
    record = simulator.requests[0]
    assert record.disconnected and 1 <= record.chunks_sent < len(split_tokens(record.reply))
    assert disconnect.chunks_sent == record.chunks_sent


async def test_async_clients_wait_for_a_disconnect_without_blocking_their_loop(engine):
    simulator = engine(dialect="openai", tokens_per_second=50)
    async with httpx.AsyncClient(base_url=simulator.url, timeout=5) as http:
        async with http.stream("POST", "/v1/chat/completions", json=OPENAI_CHAT) as response:
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    break
        # Leaving the stream early closes the connection.
        disconnect = await simulator.wait_for_disconnect_async()

    assert disconnect.chunks_sent >= 1
    await simulator.wait_for_in_flight_async(0)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_tokens_are_paced_at_the_configured_rate_after_the_delays(engine, dialect):
    simulator = engine(dialect=dialect, tokens_per_second=100, first_token_delay=0.05, load_delay=0.05)
    simulator.reply = "one two three four five six seven eight nine ten"

    with client(simulator) as http:
        started = time.monotonic()
        stream_payloads(http, dialect, *generation(dialect))
        stream_payloads(http, dialect, *generation(dialect))

    assert time.monotonic() - started >= 0.19 + 0.14
    loading, loaded = simulator.requests
    # The model loads once; each request waits for its first token; then a token every 10 ms.
    assert loading.piece_times[0] - loading.received_at >= 0.1
    assert loaded.piece_times[0] - loaded.received_at >= 0.05
    times = loading.piece_times
    assert 0.08 <= times[-1] - times[0] < 0.5 and times == sorted(times)
    assert loaded.connection_id == loading.connection_id


def test_ollama_reports_load_duration_only_when_it_loaded_the_model(engine):
    simulator = engine(load_delay=0.01)
    body = {"model": MODEL, "prompt": "x", "stream": False}

    with client(simulator) as http:
        first = http.post("/api/generate", json=body).json()
        second = http.post("/api/generate", json=body).json()

    assert first["load_duration"] >= 10_000_000 and "load_duration" not in second


def test_each_request_is_recorded_as_it_arrives_and_each_connection_is_numbered(engine):
    ended = []
    simulator = engine(dialect="openai", on_request_end=ended.append)
    with client(simulator) as http:
        http.get("/v1/models")
        http.post("/v1/chat/completions", json=CHAT)
    with client(simulator) as http:
        http.get("/health?full=1")

    first, second, third = simulator.wait_for_requests(3)
    simulator.wait_until(lambda: len(ended) == 3, what="three answers")
    assert [(record.method, record.path, record.status) for record in ended] == [
        ("GET", "/v1/models", 200),
        ("POST", "/v1/chat/completions", 200),
        ("GET", "/health", 200),
    ]
    assert second.body == CHAT and second.reply == deterministic_reply(QUESTION) == second.text_sent
    assert first.received_at <= second.received_at <= second.finished_at <= third.received_at
    assert first.connection_id == second.connection_id != third.connection_id


def test_a_long_running_simulator_remembers_only_its_latest_requests():
    with EngineSimulator(keep_records=3) as simulator:
        for n in range(5):
            httpx.get(f"{simulator.url}/api/version?n={n}", timeout=5)

        assert [record.id for record in simulator.requests] == [3, 4, 5]
        simulator.clear_records()
        assert simulator.requests == [] and simulator.requests_to("/api/version") == []


def test_stopping_while_a_client_waits_is_prompt_and_records_no_disconnect():
    simulator = EngineSimulator(dialect="openai").start()
    simulator.hang()
    sock = raw_request(simulator, *generation("openai"))
    simulator.wait_for_in_flight(1)

    started = time.monotonic()
    simulator.stop()

    assert time.monotonic() - started < 0.5
    assert simulator.disconnects == []
    sock.settimeout(1)
    assert sock.recv(1) == b""
    sock.close()


def test_runs_from_the_command_line_in_either_dialect(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = Path(__file__).resolve().parents[1]
    timings = tmp_path / "timings.jsonl"
    command = [sys.executable, "-m", "tests.engine_simulator", "--port", str(port), "--tps", "500"]
    process = subprocess.Popen(
        [*command, "--dialect", "openai", "--timings", timings, "--first-token-delay", "0"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            _wait_for_health(http)
            _, payloads = stream_payloads(http, "openai", *generation("openai"))
        assert content_of("openai", payloads) == deterministic_reply(QUESTION)
        deadline = time.monotonic() + 5
        while not timings.read_text() and time.monotonic() < deadline:
            time.sleep(0.02)
        (timing,) = [json.loads(line) for line in timings.read_text().splitlines()]
        assert timing["path"] == "/v1/chat/completions" and len(timing["pieces"]) == len(payloads) - 2
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0


def _wait_for_health(http: httpx.Client) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            http.get("/health").raise_for_status()
            return
        except httpx.ConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


# Images for vision models

VISION_MODEL = "llava:7b"


def png_bytes(size: tuple[int, int] = (4, 3)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def chat_with_image(dialect: str, model: str, image: str) -> tuple[str, dict]:
    """A chat about one image, in the dialect's form: base64 in `images`, or a data URL part."""
    if dialect == "openai":
        parts = [{"type": "text", "text": "Describe it."}, {"type": "image_url", "image_url": {"url": image}}]
        return "/v1/chat/completions", {"model": model, "messages": [{"role": "user", "content": parts}]}
    message = {"role": "user", "content": "Describe it.", "images": [image]}
    return "/api/chat", {"model": model, "messages": [message], "stream": False}


def encoded(dialect: str, data: bytes) -> str:
    text = base64.b64encode(data).decode()
    return f"data:image/png;base64,{text}" if dialect == "openai" else text


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_vision_model_reads_the_image_and_the_record_keeps_its_bytes(engine, dialect):
    simulator = engine(dialect=dialect, models=[MODEL, VISION_MODEL], vision_models=[VISION_MODEL])
    image = png_bytes()
    path, body = chat_with_image(dialect, VISION_MODEL, encoded(dialect, image))
    with client(simulator) as http:
        response = http.post(path, json=body)

    assert response.status_code == 200
    (record,) = simulator.requests_to(path)
    assert record.images == [image]
    assert record.reply == deterministic_reply("Describe it.")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_an_image_for_a_text_only_model_is_400(engine, dialect):
    simulator = engine(dialect=dialect, models=[MODEL, VISION_MODEL], vision_models=[VISION_MODEL])
    path, body = chat_with_image(dialect, MODEL, encoded(dialect, png_bytes()))
    with client(simulator) as http:
        response = http.post(path, json=body)

    assert response.status_code == 400
    error = response.json()["error"]
    message = error["message"] if dialect == "openai" else error
    assert MODEL in message and ("vision" in message or "multimodal" in message)


@pytest.mark.parametrize(
    ("dialect", "image", "message"),
    [
        ("ollama", "not base64!", "illegal base64 data at input byte 3"),
        ("ollama", base64.b64encode(b"plain text, not a picture").decode(), "unknown format"),
        ("openai", "https://example.com/cat.png", "data:image/<type>;base64"),
        ("openai", "data:image/png;base64,@@@@", "illegal base64 data"),
        ("openai", "data:image/png;base64," + base64.b64encode(b"GIF? no").decode(), "unknown format"),
    ],
)
def test_images_are_checked_as_the_engines_check_them(engine, dialect, image, message):
    simulator = engine(dialect=dialect, models=[VISION_MODEL], vision_models=[VISION_MODEL])
    path, body = chat_with_image(dialect, VISION_MODEL, image)
    with client(simulator) as http:
        response = http.post(path, json=body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert message in (error["message"] if dialect == "openai" else error)
    assert simulator.requests_to(path)[0].reply is None, "nothing was generated"


def test_ollama_show_lists_vision_only_for_the_models_that_read_images(engine):
    simulator = engine(models=[MODEL, VISION_MODEL], vision_models=[VISION_MODEL])
    with client(simulator) as http:
        vision = http.post("/api/show", json={"model": VISION_MODEL}).json()
        text_only = http.post("/api/show", json={"model": MODEL}).json()

    assert vision["capabilities"] == ["completion", "vision"]
    assert text_only["capabilities"] == ["completion"]

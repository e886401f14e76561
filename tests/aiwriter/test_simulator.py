import json
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests import ollama_simulator
from tests.ollama_simulator import BUSY_MESSAGE, OllamaSimulator, deterministic_reply, split_tokens

MODEL = "llama3.2:1b"
CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "Write about tea."}]}
STAT_FIELDS = ("total_duration", "prompt_eval_count", "prompt_eval_duration", "eval_count", "eval_duration")


@pytest.fixture
def http(ollama_sim):
    with httpx.Client(base_url=ollama_sim.url, timeout=5) as client:
        yield client


def stream_lines(http: httpx.Client, path: str, body: dict) -> tuple[httpx.Response, list[dict]]:
    with http.stream("POST", path, json=body) as response:
        lines = [json.loads(line) for line in response.iter_lines() if line]
    return response, lines


def raw_request(sim, path: str, body: dict) -> socket.socket:
    """Sends a request on a plain socket and leaves the answer unread."""
    data = json.dumps(body).encode()
    sock = socket.create_connection(("127.0.0.1", sim.port), timeout=2)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: ollama\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    sock.sendall(head.encode() + data)
    return sock


def assert_silent(sock: socket.socket, seconds: float = 0.3) -> None:
    sock.settimeout(seconds)
    with pytest.raises(TimeoutError):
        sock.recv(1)


def test_chat_streams_ndjson_lines_ending_with_done_and_statistics(http):
    response, lines = stream_lines(http, "/api/chat", CHAT)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    assert response.headers["transfer-encoding"] == "chunked"
    *pieces, done = lines
    assert all(line["done"] is False and line["message"]["role"] == "assistant" for line in pieces)
    assert "".join(line["message"]["content"] for line in pieces) == deterministic_reply("Write about tea.")
    assert done["done"] is True and done["message"] == {"role": "assistant", "content": ""}
    assert done["done_reason"] == "stop" and done["model"] == MODEL and done["created_at"].endswith("Z")
    assert all(isinstance(done[field], int) and done[field] > 0 for field in STAT_FIELDS)
    assert done["eval_count"] == len(pieces)


def test_generate_lines_carry_the_response_field(http):
    _, lines = stream_lines(http, "/api/generate", {"model": MODEL, "prompt": "Tea?", "system": "Be brief."})

    *pieces, done = lines
    assert "".join(line["response"] for line in pieces) == deterministic_reply("Be brief.\nTea?")
    assert done["response"] == "" and done["done_reason"] == "stop" and "message" not in done


@pytest.mark.parametrize("path", ["/api/chat", "/api/generate"])
@pytest.mark.parametrize("text", ["plain", ' "quoted" <b>&amp;</b>\u2028\u2029', "été 🍵\n\t\\"])
def test_piece_lines_are_the_messages_go_would_encode(monkeypatch, path, text):
    monkeypatch.setattr(ollama_simulator, "rfc3339_now", lambda: "2026-11-23T16:40:01.5Z")
    output = ollama_simulator._StreamOutput(None, None, path=path, model='m<"1">', stream=True)

    line = output.piece_line(text)

    assert line == ollama_simulator.go_json(output._message(text, done=False))
    assert json.loads(line)["created_at"] == "2026-11-23T16:40:01.5Z"


def test_created_at_is_utc_with_nanoseconds_and_no_trailing_zeros():
    stamp = ollama_simulator.rfc3339_now()

    moment = datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    fraction = stamp.removesuffix("Z").partition(".")[2]
    assert stamp.endswith("Z") and abs((moment - datetime.now(UTC)).total_seconds()) < 2
    assert len(fraction) <= 9 and not fraction.endswith("0")


def test_stream_false_answers_one_json_object(http):
    response = http.post("/api/chat", json={**CHAT, "stream": False})

    assert response.headers["content-type"].startswith("application/json")
    answer = response.json()
    assert answer["message"]["content"] == deterministic_reply("Write about tea.")
    assert answer["done"] is True and answer["eval_count"] == len(split_tokens(answer["message"]["content"]))


def test_num_predict_cuts_the_reply_with_done_reason_length(http):
    _, lines = stream_lines(http, "/api/generate", {"model": MODEL, "prompt": "x", "options": {"num_predict": 4}})

    assert len(lines) == 5
    assert lines[-1]["done_reason"] == "length" and lines[-1]["eval_count"] == 4


def test_stop_sequence_ends_the_reply_before_it(http, ollama_sim):
    ollama_sim.reply = "First part. STOP Second part."

    body = {"model": MODEL, "prompt": "x", "stream": False, "options": {"stop": ["STOP"]}}

    response = http.post("/api/generate", json=body)

    assert response.json()["response"] == "First part. "
    assert response.json()["done_reason"] == "stop"


def test_reply_can_be_computed_from_the_request(http, ollama_sim):
    ollama_sim.reply = lambda body: f"Echo: {body['prompt']}"

    response = http.post("/api/generate", json={"model": MODEL, "prompt": "hello there", "stream": False})

    assert response.json()["response"] == "Echo: hello there"


def test_tokens_are_paced_at_the_configured_rate(http, ollama_sim):
    ollama_sim.tokens_per_second = 50
    ollama_sim.reply = "one two three four five six seven eight nine ten"

    started = time.monotonic()
    _, lines = stream_lines(http, "/api/generate", {"model": MODEL, "prompt": "x"})

    assert time.monotonic() - started >= 0.19
    assert lines[-1]["eval_duration"] >= 190_000_000


def test_unknown_model_is_404_with_ollamas_message(http):
    response = http.post("/api/chat", json={**CHAT, "model": "mistral:7b"})

    assert response.status_code == 404
    assert response.json() == {"error": 'model "mistral:7b" not found, try pulling it first'}


def test_models_can_change_while_running(http, ollama_sim):
    ollama_sim.models = ["mistral"]

    assert [model["name"] for model in http.get("/api/tags").json()["models"]] == ["mistral"]
    assert http.post("/api/chat", json={**CHAT, "model": "mistral:latest", "stream": False}).status_code == 200
    assert http.post("/api/chat", json={**CHAT, "stream": False}).status_code == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "missing request body"),
        (b"{not json", "invalid request body"),
        (b'{"messages": []}', "model is required"),
        (b'{"model": "llama3.2:1b", "prompt": "x", "options": {"num_predict": "ten"}}', "num_predict"),
        (b'{"model": "llama3.2:1b", "prompt": "x", "keep_alive": "soon"}', "invalid duration"),
    ],
)
def test_invalid_requests_are_400_with_an_error(http, body, message):
    response = http.post("/api/generate", content=body)

    assert response.status_code == 400
    assert message in response.json()["error"]


def test_a_chunked_request_body_is_read(http):
    body = json.dumps({**CHAT, "stream": False}).encode()

    response = http.post("/api/chat", content=iter([body[:10], body[10:]]))

    assert response.status_code == 200 and response.json()["done"] is True


def test_full_queue_answers_503_server_busy(http, ollama_sim):
    ollama_sim.num_parallel = 1
    ollama_sim.max_queue = 1
    ollama_sim.tokens_per_second = 20
    running = raw_request(ollama_sim, "/api/chat", CHAT)
    queued = raw_request(ollama_sim, "/api/chat", CHAT)
    ollama_sim.wait_for_in_flight(2)

    response = http.post("/api/chat", json=CHAT)

    assert response.status_code == 503
    assert response.json() == {"error": BUSY_MESSAGE}
    running.close()
    queued.close()


def test_queued_request_starts_when_a_slot_frees(ollama_sim):
    ollama_sim.tokens_per_second = 20
    running = raw_request(ollama_sim, "/api/chat", CHAT)
    queued = raw_request(ollama_sim, "/api/chat", CHAT)
    ollama_sim.wait_for_in_flight(2)
    assert running.recv(1024).startswith(b"HTTP/1.1 200 OK")
    assert_silent(queued)

    running.close()

    queued.settimeout(2)
    assert queued.recv(1024).startswith(b"HTTP/1.1 200 OK")
    queued.close()


def test_parallel_slots_serve_requests_at_once(ollama_sim):
    ollama_sim.num_parallel = 2
    ollama_sim.tokens_per_second = 20
    sockets = [raw_request(ollama_sim, "/api/generate", {"model": MODEL, "prompt": f"p{i}"}) for i in range(3)]
    ollama_sim.wait_for_in_flight(3)

    assert [sock.recv(1024).startswith(b"HTTP/1.1 200") for sock in sockets[:2]] == [True, True]
    assert_silent(sockets[2])
    for sock in sockets:
        sock.close()


def test_status_fault_applies_to_the_next_requests_only(http, ollama_sim):
    ollama_sim.fail_with(500, "boom", times=2)

    statuses = [http.post("/api/chat", json={**CHAT, "stream": False}).status_code for _ in range(3)]

    assert statuses == [500, 500, 200]
    assert [record.fault for record in ollama_sim.requests] == ["status", "status", None]


def test_status_fault_can_apply_always(http, ollama_sim):
    ollama_sim.fail_with(502, times=None)

    responses = [http.post("/api/generate", json={"model": MODEL, "prompt": "x"}) for _ in range(3)]

    assert {response.status_code for response in responses} == {502}
    assert responses[0].json() == {"error": "bad gateway"}


def test_error_line_after_chunks_keeps_status_200(http, ollama_sim):
    ollama_sim.error_after(3, "out of memory")

    response, lines = stream_lines(http, "/api/chat", CHAT)

    assert response.status_code == 200
    assert len(lines) == 4 and lines[-1] == {"error": "out of memory"}


def test_malformed_line_after_chunks(http, ollama_sim):
    ollama_sim.malformed_after(2)

    with http.stream("POST", "/api/chat", json=CHAT) as response:
        lines = [line for line in response.iter_lines() if line]

    assert len(lines) == 3
    with pytest.raises(ValueError):
        json.loads(lines[-1])


def test_dropped_connection_breaks_the_chunked_body(http, ollama_sim):
    ollama_sim.drop_after(2)

    with pytest.raises(httpx.RemoteProtocolError), http.stream("POST", "/api/chat", json=CHAT) as response:
        response.read()

    assert ollama_sim.disconnects == []


def test_hang_sends_nothing_until_the_client_leaves(ollama_sim):
    ollama_sim.hang()
    sock = raw_request(ollama_sim, "/api/chat", CHAT)
    ollama_sim.wait_for_in_flight(1)
    assert_silent(sock)

    sock.close()

    disconnect = ollama_sim.wait_for_disconnect(timeout=1.0)
    assert disconnect.chunks_sent == 0
    ollama_sim.wait_for_in_flight(0)


def test_client_disconnect_mid_stream_is_noticed_at_once_and_generation_stops(ollama_sim):
    ollama_sim.tokens_per_second = 20
    sock = raw_request(ollama_sim, "/api/chat", CHAT)
    assert sock.recv(4096).startswith(b"HTTP/1.1 200 OK")

    closed_at = time.monotonic()
    sock.close()

    disconnect = ollama_sim.wait_for_disconnect(timeout=1.0)
    assert disconnect.at - closed_at < 0.1
    assert disconnect.path == "/api/chat" and disconnect.request_id == 1
    ollama_sim.wait_for_in_flight(0)
    record = ollama_sim.requests[0]
    assert record.disconnected and 1 <= record.chunks_sent < len(split_tokens(record.reply))


def test_every_request_is_recorded_in_order(http, ollama_sim):
    http.get("/api/version")
    http.post("/api/generate", json={"model": MODEL, "prompt": "x", "stream": False})

    first, second = ollama_sim.wait_for_requests(2)
    # A request is recorded as it arrives and finished just after its answer has gone out.
    ollama_sim.wait_until(lambda: second.finished_at is not None, what="the second request's end")
    assert (first.method, first.path, first.body, first.status) == ("GET", "/api/version", None, 200)
    assert (second.path, second.body["prompt"], second.status) == ("/api/generate", "x", 200)
    assert first.received_at <= second.received_at <= second.finished_at
    assert second.connection_id == first.connection_id


def test_tags_version_and_root(http, ollama_sim):
    tags = http.get("/api/tags").json()["models"]

    assert [model["name"] for model in tags] == list(ollama_sim.models)
    assert set(tags[0]) == {"name", "model", "modified_at", "size", "digest", "details"}
    assert tags[0]["details"]["family"] == "llama" and tags[0]["details"]["parameter_size"] == "1B"
    assert http.get("/api/version").json() == {"version": ollama_sim.version}
    assert http.get("/").text == "Ollama is running"
    assert http.get("/api/nothing").status_code == 404


def test_ps_lists_loaded_models_until_keep_alive_zero_unloads_them(http):
    assert http.get("/api/ps").json() == {"models": []}
    http.post("/api/generate", json={"model": MODEL, "prompt": "x", "stream": False, "keep_alive": "1h"})

    (loaded,) = http.get("/api/ps").json()["models"]
    assert loaded["name"] == MODEL and loaded["expires_at"].endswith("Z") and loaded["size_vram"] > 0

    unload = http.post("/api/generate", json={"model": MODEL, "keep_alive": 0}).json()
    assert unload["done_reason"] == "unload" and unload["done"] is True
    assert http.get("/api/ps").json() == {"models": []}


def test_first_request_reports_load_duration_and_later_ones_omit_it(http):
    body = {"model": MODEL, "prompt": "x", "stream": False}

    first = http.post("/api/generate", json=body).json()
    second = http.post("/api/generate", json=body).json()

    assert first["load_duration"] > 0
    assert "load_duration" not in second


def test_several_simulators_run_side_by_side(ollama_sim_factory):
    first, second = ollama_sim_factory(version="0.1.0"), ollama_sim_factory(version="0.2.0")

    assert first.url != second.url
    assert httpx.get(f"{first.url}/api/version").json() == {"version": "0.1.0"}
    assert httpx.get(f"{second.url}/api/version").json() == {"version": "0.2.0"}


def test_the_pace_it_kept_is_recorded_for_each_streamed_response():
    ended = []
    with OllamaSimulator(tokens_per_second=100, on_request_end=ended.append) as simulator:
        with httpx.Client(base_url=simulator.url, timeout=5) as http:
            _, lines = stream_lines(http, "/api/chat", CHAT)
        simulator.wait_until(lambda: ended, what="the end of the response")

    (record,) = ended
    pieces = record.piece_times
    assert len(pieces) == len(lines) - 1 == record.chunks_sent
    gaps = [later - earlier for earlier, later in zip(pieces, pieces[1:], strict=False)]
    assert record.received_at < pieces[0] and all(0.005 < gap < 0.05 for gap in gaps)


@pytest.mark.parametrize("loop", [[], ["--uvloop"]], ids=["asyncio", "uvloop"])
def test_runs_from_the_command_line(tmp_path, loop):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = Path(__file__).resolve().parents[2]
    timings = tmp_path / "timings.jsonl"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.ollama_simulator",
            "--port",
            str(port),
            "--tps",
            "500",
            "--timings",
            timings,
            *loop,
        ],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        response = _wait_for_answer(f"http://127.0.0.1:{port}", {"model": MODEL, "prompt": "hi", "stream": False})
        assert response["response"] == deterministic_reply("hi")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            _, lines = stream_lines(http, "/api/generate", {"model": MODEL, "prompt": "hi"})
        deadline = time.monotonic() + 5
        while (not timings.exists() or not timings.read_text()) and time.monotonic() < deadline:
            time.sleep(0.02)
        # Only streamed responses have a pace: one line, for the second request.
        (timing,) = [json.loads(line) for line in timings.read_text().splitlines()]
        assert timing["path"] == "/api/generate" and len(timing["pieces"]) == len(lines) - 1
        assert timing["received"] < timing["pieces"][0] <= time.monotonic()
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0


def _wait_for_answer(url: str, body: dict) -> dict:
    deadline = time.monotonic() + 10
    while True:
        try:
            return httpx.post(f"{url}/api/generate", json=body, timeout=5).json()
        except httpx.ConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_a_long_running_simulator_remembers_only_its_latest_requests():
    with OllamaSimulator(keep_records=3) as simulator:
        for n in range(5):
            # Each request is recorded when it arrives, before its answer.
            httpx.get(f"{simulator.url}/api/version?n={n}", timeout=5)

        assert [record.path for record in simulator.requests] == ["/api/version"] * 3
        assert [record.id for record in simulator.requests] == [3, 4, 5]

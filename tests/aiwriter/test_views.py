import json
import time

import pytest
from asgiref.sync import sync_to_async
from asgiref.testing import ApplicationCommunicator
from django.db import connection
from django.test import AsyncClient

from aiwriter import services
from aiwriter.gateway import get_gateway
from aiwriter.models import ChatMessage, Generation, Outcome
from blogsite.asgi import application
from posts.models import Post
from tests.aiwriter.conftest import backend_of, chat_requests
from tests.aiwriter.fixtures import (  # noqa: F401 (fixtures)
    aiwriter_settings,
    generate_message,
    parse_sse,
    recorded_generation,
    session_cookie,
    shared_clients,
    streamed_text,
    transactional,
)
from tests.factories import PostFactory
from tests.posts.readers import session_cookies, site

pytestmark = [transactional, pytest.mark.usefixtures("aiwriter_settings", "shared_clients")]

STREAM_URL = "/aiwriter/stream/"
MODELS_URL = "/aiwriter/models/"


async def client_for(user=None, **kwargs) -> AsyncClient:
    client = AsyncClient(**kwargs)
    if user is not None:
        await client.aforce_login(user)
    return client


async def post_stream(client: AsyncClient, message) -> tuple[int, str, list[dict]]:
    body = message if isinstance(message, str) else json.dumps(message)
    response = await client.post(STREAM_URL, data=body, content_type="application/json")
    content = b"".join([part async for part in response.streaming_content]) if response.streaming else response.content
    return response.status_code, response["Content-Type"], parse_sse(content)


async def test_sse_streams_the_same_events_as_the_socket(author, engine):
    client = await client_for(author)
    status, content_type, events = await post_stream(
        client, generate_message(text="Some notes", options={"title": "Streaming in Django"})
    )
    assert status == 200 and content_type == "text/event-stream"
    assert events[0] == {"type": "start", "request_id": "r1", "model": "llama3.2:1b"}
    assert events[-1]["type"] == "done" and events[-1]["cached"] is False
    assert streamed_text(events) == chat_requests(engine)[0].reply
    assert (await Generation.objects.aget(request_id="r1")).outcome == Outcome.DONE


async def test_sse_refuses_anonymous_requests(engine):
    status, _, events = await post_stream(await client_for(), generate_message(options={"title": "T"}))
    assert status == 401
    assert events[0]["code"] == "unauthorized"
    assert engine.requests == []


async def test_sse_refuses_readers(reader, engine):
    status, _, events = await post_stream(await client_for(reader), generate_message(options={"title": "T"}))
    assert status == 403
    assert events == [
        {
            "type": "error",
            "request_id": "r1",
            "code": "forbidden",
            "message": "Your account cannot use the AI writer. Ask an editor for the author role.",
        }
    ]
    assert engine.requests == []


async def test_sse_requires_the_csrf_token(author, engine):
    client = await client_for(author, enforce_csrf_checks=True)
    response = await client.post(STREAM_URL, data=json.dumps(generate_message()), content_type="application/json")
    assert response.status_code == 403
    assert engine.requests == []


async def test_sse_only_accepts_post(author):
    response = await (await client_for(author)).get(STREAM_URL)
    assert response.status_code == 405


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("{not json", 400, "invalid"),
        ({"request_id": "x", "action": "limerick", "text": ""}, 400, "invalid"),
        ({"type": "cancel", "request_id": "x"}, 400, "invalid"),
        ("[" * 100_000, 400, "invalid"),
        (json.dumps({"request_id": "x", "action": "draft", "text": "", "post_id": 2**70}), 400, "invalid"),
        ({"request_id": "x", "action": "continue", "text": "word " * 2000}, 413, "too_large"),
    ],
)
async def test_sse_validates_like_the_socket(author, settings, body, status, code):
    settings.AIWRITER_MAX_INPUT_CHARS = 5000
    got_status, _, events = await post_stream(await client_for(author), body)
    assert got_status == status
    assert events[0]["type"] == "error" and events[0]["code"] == code


async def test_sse_answers_someone_elses_draft_as_a_missing_post(author, other_author, engine):
    post = await sync_to_async(PostFactory)(author=other_author)
    client = await client_for(author)
    draft = await post_stream(client, generate_message(action="summarize", post_id=post.pk))
    missing = await post_stream(client, generate_message(action="summarize", post_id=post.pk + 1000))
    assert draft == missing
    status, _, (event,) = draft
    assert (status, event["code"]) == (400, "invalid")
    assert event["message"] == "That post does not exist or you cannot use the AI writer on it."
    assert chat_requests(engine) == []


async def test_sse_answers_429_when_over_the_rate_limit(author, settings):
    settings.AIWRITER_RATE_LIMIT = 1
    client = await client_for(author)
    first, _, _ = await post_stream(client, generate_message(options={"title": "T"}))
    second, _, events = await post_stream(client, generate_message(options={"title": "T"}))
    assert (first, second) == (200, 429)
    assert events[0]["code"] == "rate_limited"


async def test_sse_reports_upstream_errors_in_the_stream(author):
    status, _, events = await post_stream(
        await client_for(author), generate_message(model="gemma:2b", options={"title": "T"})
    )
    assert status == 200
    assert [e["type"] for e in events] == ["start", "error"]
    assert events[1]["code"] == "model_not_found" and "gemma:2b" in events[1]["message"]


async def test_sse_reports_an_unreachable_engine_without_its_address(author, settings):
    settings.AIWRITER_BACKENDS = [{"dialect": "openai", "url": "http://127.0.0.1:9/v1", "api_key_env": ""}]
    status, _, events = await post_stream(await client_for(author), generate_message(options={"title": "T"}))
    assert (status, events[-1]["code"]) == (200, "unavailable")
    assert "your text is safe" in events[-1]["message"] and "127.0.0.1" not in str(events)


def sse_request(cookie: str, message: dict) -> tuple[ApplicationCommunicator, bytes]:
    """A POST to the SSE view through the whole ASGI application, and its body to send."""
    token = "a" * 32
    body = json.dumps(message).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": STREAM_URL,
        "raw_path": STREAM_URL.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"cookie", f"sessionid={cookie}; csrftoken={token}".encode()),
            (b"x-csrftoken", token.encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    return ApplicationCommunicator(application, scope), body


async def test_closing_the_sse_request_closes_upstream(author, engine):
    engine.tokens_per_second = 20
    cookie = await sync_to_async(session_cookie)(author)
    request, body = sse_request(cookie, generate_message(options={"title": "T"}))
    try:
        await request.send_input({"type": "http.request", "body": body, "more_body": False})
        start = await request.receive_output(timeout=3)
        assert start["status"] == 200
        received = b""
        while b"event: chunk" not in received:
            received += (await request.receive_output(timeout=3))["body"]
        closed_at = time.monotonic()
        await request.send_input({"type": "http.disconnect"})
        disconnect = await engine.wait_for_disconnect_async()
    finally:
        await request.wait(timeout=3)
    assert disconnect.at - closed_at < 0.1
    assert (await recorded_generation("r1")).outcome == Outcome.CANCELLED


@pytest.mark.postgresql
async def test_open_sse_streams_hold_no_pooled_database_connection(author, engine, monkeypatch):
    """A stream lasts as long as the model writes: more streams than the pool has connections still
    leave connections for every other request."""
    engine.tokens_per_second = 5
    small_pool = {**connection.settings_dict["OPTIONS"]["pool"], "min_size": 1, "max_size": 2, "timeout": 2}
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "pool", small_pool)
    await sync_to_async(connection.close_pool)()  # the next connection borrowed opens the small pool
    cookie = await sync_to_async(session_cookie)(author)
    streams = [sse_request(cookie, generate_message(f"s{n}", options={"title": "T"})) for n in range(3)]
    try:
        for request, body in streams:
            await request.send_input({"type": "http.request", "body": body, "more_body": False})
            assert (await request.receive_output(timeout=5))["status"] == 200
            assert b"event: start" in (await request.receive_output(timeout=5))["body"]
        # Another thread, as another request would be, borrows a connection without waiting.
        assert await sync_to_async(Post.objects.count, thread_sensitive=False)() == 0
    finally:
        for request, _ in streams:
            await request.send_input({"type": "http.disconnect"})
            await request.wait(timeout=3)


async def test_models_lists_what_the_hosts_have_installed(author):
    response = await (await client_for(author)).get(MODELS_URL)
    assert response.status_code == 200
    data = response.json()
    assert data["default"] == "llama3.2:1b"
    assert [model["name"] for model in data["models"]] == ["llama3.2:1b", "qwen2.5:0.5b"]
    assert data["models"][0]["parameter_size"] == "1B"


async def test_models_says_in_plain_words_when_no_engine_answers(author, settings):
    settings.AIWRITER_BACKENDS = [{"dialect": "ollama", "url": "http://127.0.0.1:9", "api_key_env": ""}]
    response = await (await client_for(author)).get(MODELS_URL)
    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"
    assert "your text is safe" in response.json()["message"] and "127.0.0.1" not in response.json()["message"]


async def test_models_says_the_local_model_is_starting_while_it_loads(author, settings):
    settings.AIWRITER_BACKENDS = [{"dialect": "openai", "url": "http://127.0.0.1:9/v1", "api_key_env": ""}]
    settings.AIWRITER_LOCAL_ENGINE_URL = "http://127.0.0.1:9/v1"
    response = await (await client_for(author)).get(MODELS_URL)
    assert response.status_code == 503
    assert response.json() | {"models": None} == {
        "default": settings.AIWRITER_DEFAULT_MODEL,
        "models": None,
        "complete": False,
        "code": "starting",
        "message": "The local AI model is starting…",
    }


async def test_models_lists_every_hosts_models_across_dialects(author, settings, engine, engine_factory):
    other = engine_factory(dialect="openai", models=["smollm2-135m"])
    settings.AIWRITER_BACKENDS = [backend_of(engine), backend_of(other)]
    response = await (await client_for(author)).get(MODELS_URL)
    names = [model["name"] for model in response.json()["models"]]
    assert names == ["llama3.2:1b", "qwen2.5:0.5b", "smollm2-135m"]


async def test_models_is_for_ai_writer_users_only(reader):
    assert (await (await client_for()).get(MODELS_URL)).status_code == 401
    assert (await (await client_for(reader)).get(MODELS_URL)).status_code == 403


async def test_sse_generations_keep_the_requests_id_for_audit(author, engine):
    cookies = {**await sync_to_async(session_cookies)(author), "csrftoken": "a" * 32}
    body = generate_message(text="Some notes", options={"title": "T"})
    async with site(cookies=cookies) as client:
        response = await client.post(
            STREAM_URL, json=body, headers={"X-CSRFToken": "a" * 32, "X-Request-ID": "sse-req-1"}
        )
    assert response.status_code == 200 and response.headers["x-request-id"] == "sse-req-1"
    assert (await recorded_generation("r1")).http_request_id == "sse-req-1"


CHAT_URL = "/aiwriter/chat/"
CHAT_CLEAR_URL = "/aiwriter/chat/clear/"


def summarize_message(request_id: str, **fields) -> dict:
    return generate_message(request_id, action="summarize", text="A body about brewing green tea.", **fields)


async def test_sse_try_again_asks_the_engine_instead_of_the_cache(author, engine):
    client = await client_for(author)
    await post_stream(client, summarize_message("r1"))
    _, _, repeated = await post_stream(client, summarize_message("r2"))
    _, _, again = await post_stream(client, summarize_message("r3", regenerate=True))
    assert repeated[-1]["cached"] is True
    assert again[-1] == {**again[-1], "type": "done", "cached": False}
    assert len(chat_requests(engine)) == 2


async def test_sse_rewrites_with_the_presets_instruction(author, engine):
    _, _, events = await post_stream(
        await client_for(author),
        generate_message(action="rewrite", text="Their going too the shop.", options={"preset": "fix_grammar"}),
    )
    assert events[-1]["type"] == "done"
    prompt = chat_requests(engine)[0].body["messages"][-1]["content"]
    assert "Correct only the spelling, grammar and punctuation" in prompt
    assert "Their going too the shop." in prompt


async def test_models_says_when_an_engine_is_missing_from_the_list(author, settings, engine):
    settings.AIWRITER_BACKENDS = [
        backend_of(engine),
        {"dialect": "ollama", "url": "http://127.0.0.1:9", "api_key_env": ""},
    ]
    response = await (await client_for(author)).get(MODELS_URL)
    assert response.status_code == 200
    assert response.json()["complete"] is False
    assert [model["name"] for model in response.json()["models"]] == ["llama3.2:1b", "qwen2.5:0.5b"]


async def test_models_is_complete_when_every_engine_answers(author):
    response = await (await client_for(author)).get(MODELS_URL)
    assert response.json()["complete"] is True


async def test_models_stays_unavailable_while_a_returned_engine_cools_down(author, settings):
    """An engine that lists its models again is not used until its breaker lets a request through,
    so the panel must not say it is ready meanwhile."""
    settings.AIWRITER_BREAKER_COOLDOWN = 60
    for host in get_gateway().hosts:
        for _ in range(10):
            host.breaker.failure()
    response = await (await client_for(author)).get(MODELS_URL)
    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"
    assert response.json()["message"].startswith("The AI writer is unavailable right now; your text is safe.")
    _, _, events = await post_stream(await client_for(author), generate_message(options={"title": "T"}))
    assert events[-1]["code"] == "unavailable"


async def test_models_is_unavailable_after_a_generation_found_the_engine_gone(author, settings, engine):
    """The engine's model list is kept for a few seconds, so it still answers just after the engine
    stopped; what the last request to the engine found decides until the engine answers again."""
    client = await client_for(author)
    assert (await client.get(MODELS_URL)).status_code == 200
    engine.stop()
    _, _, events = await post_stream(client, generate_message(options={"title": "T"}))
    assert events[-1]["code"] == "unavailable"
    assert (await client.get(MODELS_URL)).status_code == 503

    engine.start()
    await get_gateway().registry.refresh()
    assert (await client.get(MODELS_URL)).status_code == 200


async def test_editors_never_read_an_engines_address_or_configuration(author, settings, engine_factory):
    guarded = engine_factory(api_key="a-secret-key")
    settings.AIWRITER_BACKENDS = [backend_of(guarded)]
    _, _, events = await post_stream(await client_for(author), generate_message(options={"title": "T"}))
    message = events[-1]["message"]
    assert events[-1]["code"] == "unavailable"
    assert message == "The AI writer is unavailable right now; your text is safe. Try again in a minute."
    for operator_detail in (str(guarded.port), "127.0.0.1", "AIWRITER", "API key", "ollama serve"):
        assert operator_detail not in message


async def chat_turns(user, post, *pairs) -> None:
    for question, answer in pairs:
        await sync_to_async(services.chat_turn_save)(user=user, post=post, question=question, answer=answer)


async def test_chat_history_shows_the_conversation_about_the_post_oldest_first(author, other_author):
    post = await sync_to_async(PostFactory)(author=author)
    other = await sync_to_async(PostFactory)(author=author)
    await chat_turns(author, post, ("Is the intro too long?", "A little."), ("What should go?", "The second sentence."))
    await chat_turns(author, other, ("Another post?", "Yes."))
    await chat_turns(other_author, None, ("Not mine", "No."))

    response = await (await client_for(author)).get(CHAT_URL, {"post_id": post.pk})
    assert response.status_code == 200
    assert [(m["role"], m["content"]) for m in response.json()["messages"]] == [
        ("user", "Is the intro too long?"),
        ("assistant", "A little."),
        ("user", "What should go?"),
        ("assistant", "The second sentence."),
    ]
    unsaved = await (await client_for(author)).get(CHAT_URL)
    assert unsaved.json()["messages"] == []


async def test_chat_history_of_someone_elses_post_is_refused_as_missing(author, other_author):
    post = await sync_to_async(PostFactory)(author=other_author)
    await chat_turns(other_author, post, ("Mine", "Yes."))
    response = await (await client_for(author)).get(CHAT_URL, {"post_id": post.pk})
    assert response.status_code == 404
    assert "Mine" not in response.content.decode()
    bad = await (await client_for(author)).get(CHAT_URL, {"post_id": "twelve"})
    assert bad.status_code == 400


async def test_chat_history_is_for_ai_writer_users_only(reader):
    assert (await (await client_for()).get(CHAT_URL)).status_code == 401
    assert (await (await client_for(reader)).get(CHAT_URL)).status_code == 403
    assert (
        await (await client_for(reader)).post(CHAT_CLEAR_URL, "{}", content_type="application/json")
    ).status_code == 403


async def test_clearing_the_chat_forgets_only_that_conversation(author, other_author):
    post = await sync_to_async(PostFactory)(author=author)
    other = await sync_to_async(PostFactory)(author=author)
    await chat_turns(author, post, ("Question", "Answer"))
    await chat_turns(author, other, ("Kept", "Kept too"))
    client = await client_for(author)

    response = await client.post(CHAT_CLEAR_URL, json.dumps({"post_id": post.pk}), content_type="application/json")

    assert response.status_code == 200 and response.json() == {"removed": 2}
    assert (await client.get(CHAT_URL, {"post_id": post.pk})).json()["messages"] == []
    assert len((await client.get(CHAT_URL, {"post_id": other.pk})).json()["messages"]) == 2


async def test_clearing_someone_elses_chat_is_refused(author, other_author):
    post = await sync_to_async(PostFactory)(author=other_author)
    await chat_turns(other_author, post, ("Mine", "Yes."))
    client = await client_for(author)
    response = await client.post(CHAT_CLEAR_URL, json.dumps({"post_id": post.pk}), content_type="application/json")
    assert response.status_code == 404
    assert await ChatMessage.objects.filter(post=post).acount() == 2


async def test_clearing_the_chat_requires_the_csrf_token(author):
    client = await client_for(author, enforce_csrf_checks=True)
    response = await client.post(CHAT_CLEAR_URL, "{}", content_type="application/json")
    assert response.status_code == 403

import asyncio
import json
import time

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group, Permission

from accounts import services as account_services
from accounts.roles import Role
from aiwriter import auth
from aiwriter.models import Generation, Outcome
from blogsite.asgi import application
from tests.aiwriter.conftest import backend_of, chat_requests
from tests.aiwriter.fixtures import (  # noqa: F401 (fixtures)
    aiwriter_settings,
    both_dialects,
    collect,
    generate_message,
    receive,
    recorded_generation,
    running_slots,
    shared_clients,
    signed_in,
    streamed_text,
    transactional,
    until,
    websocket,
)
from tests.factories import PostFactory

NO_SUCH_POST = "That post does not exist or you cannot use the AI writer on it."

pytestmark = [transactional, pytest.mark.usefixtures("aiwriter_settings", "shared_clients")]


async def test_anonymous_socket_is_closed_with_policy_code():
    async with websocket() as socket:
        closed = await socket.receive_output(timeout=2)
    assert closed["type"] == "websocket.close"
    assert closed["code"] == 4401


async def test_socket_from_a_foreign_origin_is_refused():
    headers = [(b"origin", b"https://evil.example")]
    communicator = WebsocketCommunicator(application, "/ws/aiwriter/", headers=headers)
    try:
        connected, _ = await communicator.connect()
    finally:
        await communicator.disconnect()
    assert not connected


async def test_reader_gets_forbidden_and_nothing_reaches_ollama(reader, engine):
    async with websocket(reader) as socket:
        await socket.send_json_to(generate_message(options={"title": "Hello"}))
        event = await receive(socket)
    assert event["type"] == "error"
    assert event["code"] == "forbidden"
    assert event["request_id"] == "r1"
    assert chat_requests(engine) == []


async def test_author_streams_a_draft_from_title_and_notes(author, engine):
    async with websocket(author) as socket:
        await socket.send_json_to(
            generate_message(text="Cover pooling and timeouts.", options={"title": "Async HTTP in Django"})
        )
        events = await collect(socket)
    assert events[0] == {"type": "start", "request_id": "r1", "model": "llama3.2:1b"}
    assert [e["type"] for e in events[1:-1]] == ["chunk"] * (len(events) - 2)
    assert len(events) > 4, "the text arrives in many pieces"
    done = events[-1]
    assert done["type"] == "done" and done["cached"] is False
    assert done["stats"]["eval_count"] > 0 and done["stats"]["tokens_per_second"] > 0
    (request,) = chat_requests(engine)
    assert streamed_text(events) == request.reply
    prompt = request.body["messages"][-1]["content"]
    assert "Async HTTP in Django" in prompt and "Cover pooling and timeouts." in prompt
    assert request.body["stream"] is True


@pytest.mark.parametrize(
    ("action", "text", "expected_in_prompt"),
    [
        ("continue", "The draft so far ends here.", "The draft so far ends here."),
        ("rewrite", "A clumsy sentence that rambles.", "Make it shorter"),
        ("summarize", "A long body about caching.", "at most 300 characters"),
        ("titles", "A body about sourdough.", "five titles"),
        ("meta_description", "A body about Redis.", "A body about Redis."),
        ("tags", "A body about Python.", "Python, Testing"),
        ("chat", "Is the intro too long?", "Is the intro too long?"),
    ],
)
async def test_each_action_streams_and_is_recorded(author, engine, action, text, expected_in_prompt):
    await sync_to_async(_make_tags)(["Python", "Testing"])
    options = {"title": "A post", "body": "Body of the post.", "instruction": "Make it shorter"}
    async with websocket(author) as socket:
        await socket.send_json_to(generate_message(action=action, text=text, options=options))
        events = await collect(socket)
    assert events[-1]["type"] == "done", events[-1]
    assert streamed_text(events)
    (request,) = chat_requests(engine)
    sent = "\n".join(message["content"] for message in request.body["messages"])
    assert expected_in_prompt in sent
    generation = await Generation.objects.aget(request_id="r1")
    assert generation.action == action and generation.outcome == Outcome.DONE


def _make_tags(names):
    """Tags on a public post, which the tags prompt names."""
    from tests.factories import TagFactory

    PostFactory(tags=[TagFactory(name=name) for name in names])


async def test_the_editor_can_pick_another_installed_model(author, engine):
    async with websocket(author) as socket:
        await socket.send_json_to(generate_message(model="qwen2.5:0.5b", options={"title": "T"}))
        events = await collect(socket)
    assert events[0]["model"] == "qwen2.5:0.5b"
    assert events[-1]["type"] == "done"
    assert chat_requests(engine)[0].body["model"] == "qwen2.5:0.5b"


async def test_missing_title_for_a_draft_is_explained(author, engine):
    async with websocket(author) as socket:
        await socket.send_json_to(generate_message(text="notes only"))
        event = await receive(socket)
    assert event["code"] == "invalid"
    assert "title" in event["message"]
    assert chat_requests(engine) == []


@pytest.mark.parametrize(
    ("raw", "code", "request_id"),
    [
        ("this is not json", "invalid", None),
        ('["a", "list"]', "invalid", None),
        ('{"type": "generate", "action": "draft", "text": ""}', "invalid", None),
        ('{"type": "generate", "request_id": "x", "text": ""}', "invalid", "x"),
        ('{"type": "generate", "request_id": "x", "action": "poem", "text": ""}', "invalid", "x"),
        ('{"type": "generate", "request_id": "x", "action": "draft"}', "invalid", "x"),
        (
            '{"type": "generate", "request_id": "x", "action": "draft", "text": "", "options": {"colour": 1}}',
            "invalid",
            "x",
        ),
        ('{"type": "dance", "request_id": "x"}', "invalid", "x"),
        ("[" * 100_000, "invalid", None),
        (
            json.dumps({"type": "generate", "request_id": "x", "action": "draft", "text": "", "post_id": 2**70}),
            "invalid",
            None,
        ),
    ],
)
async def test_bad_messages_get_errors_and_the_socket_stays_usable(author, raw, code, request_id):
    async with websocket(author) as socket:
        await socket.send_to(text_data=raw)
        error = await receive(socket)
        await socket.send_json_to(generate_message("after", options={"title": "Still works"}))
        events = await collect(socket, "after")
    assert error["type"] == "error"
    assert error["code"] == code
    assert error["request_id"] == request_id
    assert error["message"]
    assert events[-1]["type"] == "done"


async def test_input_over_the_size_limit_is_too_large(author, settings, engine):
    settings.AIWRITER_MAX_INPUT_CHARS = 1000
    async with websocket(author) as socket:
        await socket.send_json_to(generate_message(action="continue", text="word " * 300))
        event = await receive(socket)
    assert event["code"] == "too_large"
    assert "1,000" in event["message"]
    assert chat_requests(engine) == []


async def test_a_model_no_engine_serves_is_named_in_plain_words(author):
    async with websocket(author) as socket:
        await socket.send_json_to(generate_message(model="mistral:7b", options={"title": "T"}))
        events = await collect(socket)
    error = events[-1]
    assert error["code"] == "model_not_found"
    assert "mistral:7b" in error["message"] and "Pick another model" in error["message"]
    generation = await Generation.objects.aget(request_id="r1")
    assert (generation.outcome, generation.error_code, generation.model) == ("error", "model_not_found", "mistral:7b")


@pytest.mark.parametrize(
    ("status", "code"), [(400, "invalid"), (429, "busy"), (503, "busy"), (500, "upstream"), (502, "upstream")]
)
async def test_http_errors_from_ollama_become_error_events(author, engine, status, code):
    engine.fail_with(status)
    async with websocket(author) as socket:
        await socket.send_json_to(generate_message(options={"title": "T"}))
        events = await collect(socket)
    assert events[-1]["type"] == "error"
    assert events[-1]["code"] == code
    assert events[-1]["message"]


async def test_error_line_mid_stream_keeps_the_text_and_reports_it(author, engine):
    engine.error_after(3, "out of memory")
    async with websocket(author) as socket:
        await socket.send_json_to(generate_message(options={"title": "T"}))
        events = await collect(socket)
    assert [e["type"] for e in events[1:4]] == ["chunk"] * 3
    assert events[-1]["code"] == "upstream"
    assert "your text is safe" in events[-1]["message"] and "out of memory" not in events[-1]["message"]


async def test_malformed_line_is_an_upstream_error(author, engine):
    engine.malformed_after(2)
    async with websocket(author) as socket:
        await socket.send_json_to(generate_message(options={"title": "T"}))
        events = await collect(socket)
    assert events[-1]["code"] == "upstream"


async def test_no_engine_running_is_reported_as_unavailable_in_plain_words(author, settings):
    settings.AIWRITER_BACKENDS = [{"dialect": "ollama", "url": "http://127.0.0.1:9", "api_key_env": ""}]
    async with websocket(author) as socket:
        await socket.send_json_to(generate_message(options={"title": "T"}))
        events = await collect(socket)
    assert events[-1]["code"] == "unavailable"
    assert "127.0.0.1" not in events[-1]["message"] and "your text is safe" in events[-1]["message"]


async def test_no_first_token_in_time_is_a_timeout(author, settings, engine):
    settings.AIWRITER_TIMEOUTS = {"connect": 1.0, "first_token": 0.3, "idle": 0.3, "total": 5.0}
    engine.hang()
    async with websocket(author) as socket:
        await socket.send_json_to(generate_message(options={"title": "T"}))
        events = await collect(socket)
    assert events[-1]["code"] == "timeout"
    await engine.wait_for_disconnect_async()


async def test_stall_between_tokens_is_a_timeout(author, settings, engine):
    settings.AIWRITER_TIMEOUTS = {"connect": 1.0, "first_token": 2.0, "idle": 0.3, "total": 5.0}
    engine.stall_after(2)
    async with websocket(author) as socket:
        await socket.send_json_to(generate_message(options={"title": "T"}))
        events = await collect(socket)
    assert streamed_text(events)
    assert events[-1]["code"] == "timeout"


async def test_cancel_stops_the_generation_and_closes_upstream_at_once(author, engine):
    engine.tokens_per_second = 20
    async with websocket(author) as socket:
        await socket.send_json_to(generate_message(options={"title": "T"}))
        assert (await receive(socket))["type"] == "start"
        assert (await receive(socket))["type"] == "chunk"
        cancelled_at = time.monotonic()
        await socket.send_json_to({"type": "cancel", "request_id": "r1"})
        events = await collect(socket)
        acknowledged_at = time.monotonic()
        disconnect = await engine.wait_for_disconnect_async()
    assert acknowledged_at - cancelled_at < 0.1, "the editor hears of the stop at once"
    assert events[-1] == {
        "type": "error",
        "request_id": "r1",
        "code": "cancelled",
        "message": "Stopped. The text so far is kept.",
    }
    assert disconnect.at - cancelled_at < 0.1
    generation = await recorded_generation("r1")
    assert generation.outcome == Outcome.CANCELLED
    assert generation.time_to_first_token_ms is not None


async def test_a_cancel_read_with_its_generate_stops_it_before_it_runs(author, settings, engine):
    """Both messages are read in one turn, so the generation's task is cancelled before it ever runs."""
    settings.AIWRITER_MAX_CONCURRENT_PER_USER = 1
    async with websocket(author) as socket:
        await socket.send_json_to(generate_message(options={"title": "T"}))
        await socket.send_json_to({"type": "cancel", "request_id": "r1"})
        stopped = await collect(socket)
        await until(
            lambda: no_slot_held(author),
            timeout=2.0,
            message="the slot asked for the cancelled generation was never given back",
        )
        await socket.send_json_to(generate_message(options={"title": "T"}))
        again = await collect(socket)
    assert stopped == [
        {"type": "error", "request_id": "r1", "code": "cancelled", "message": "Stopped. The text so far is kept."}
    ]
    assert again[-1]["type"] == "done", "the request_id and the editor's only slot are free again"
    assert len(chat_requests(engine)) == 1, "the cancelled one never reached Ollama"


async def no_slot_held(user) -> bool:
    return await running_slots(user) == 0


async def test_closing_the_socket_closes_upstream(author, engine):
    engine.tokens_per_second = 20
    async with websocket(author) as socket:
        await socket.send_json_to(generate_message(options={"title": "T"}))
        assert (await receive(socket))["type"] == "start"
        assert (await receive(socket))["type"] == "chunk"
        closed_at = time.monotonic()
    disconnect = await engine.wait_for_disconnect_async()
    assert disconnect.at - closed_at < 0.1
    assert (await recorded_generation("r1")).outcome == Outcome.CANCELLED


async def test_cancelling_an_unknown_request_is_harmless(author):
    async with websocket(author) as socket:
        await socket.send_json_to({"type": "cancel", "request_id": "never-started"})
        await socket.send_json_to(generate_message(options={"title": "T"}))
        events = await collect(socket)
    assert events[-1]["type"] == "done"


async def test_several_generations_run_at_once_on_one_socket(author, engine):
    engine.tokens_per_second = 200
    engine.num_parallel = 2
    async with websocket(author) as socket:
        await socket.send_json_to(generate_message("a", options={"title": "First"}))
        await socket.send_json_to(generate_message("b", action="titles", text="Body", options={"title": "Second"}))
        events: dict[str, list[dict]] = {"a": [], "b": []}
        while not all(e and e[-1]["type"] in ("done", "error") for e in events.values()):
            event = await receive(socket)
            events[event["request_id"]].append(event)
    assert events["a"][-1]["type"] == "done" and events["b"][-1]["type"] == "done"
    assert engine.max_in_flight == 2
    replies = {r.body["messages"][-1]["content"]: r.reply for r in chat_requests(engine)}
    assert streamed_text(events["a"]) in replies.values()
    assert streamed_text(events["a"]) != streamed_text(events["b"])


async def test_a_request_id_in_use_is_refused(author, engine):
    engine.tokens_per_second = 20
    async with websocket(author) as socket:
        await socket.send_json_to(generate_message(options={"title": "T"}))
        assert (await receive(socket))["type"] == "start"
        await socket.send_json_to(generate_message(options={"title": "T"}))
        event = await receive(socket)
        while event["type"] == "chunk":
            event = await receive(socket)
        await socket.send_json_to({"type": "cancel", "request_id": "r1"})
    assert event["code"] == "invalid"
    assert "still running" in event["message"]


async def test_concurrent_generations_per_user_are_limited(author, settings, engine):
    settings.AIWRITER_MAX_CONCURRENT_PER_USER = 1
    engine.tokens_per_second = 20
    async with websocket(author) as first, websocket(author) as second:
        await first.send_json_to(generate_message("a", options={"title": "T"}))
        assert (await receive(first))["type"] == "start"
        await second.send_json_to(generate_message("b", options={"title": "T"}))
        refused = await receive(second)
        await asyncio.sleep(0.2)
        asked = len(chat_requests(engine))
        await first.send_json_to({"type": "cancel", "request_id": "a"})
        await collect(first, "a")
        await second.send_json_to(generate_message("c", options={"title": "T"}))
        after = await receive(second)
    assert refused["code"] == "rate_limited"
    assert "1 AI generations running" in refused["message"]
    assert after["type"] == "start", "the slot is free again once the first one stopped"
    assert asked == 1, "a refused generation never reaches Ollama"


async def test_generations_per_minute_are_limited(author, settings):
    settings.AIWRITER_RATE_LIMIT = 2
    async with websocket(author) as socket:
        outcomes = []
        for request_id in ("a", "b", "c"):
            await socket.send_json_to(generate_message(request_id, options={"title": "T"}))
            outcomes.append((await collect(socket, request_id))[-1])
    assert [o["type"] for o in outcomes] == ["done", "done", "error"]
    assert outcomes[2]["code"] == "rate_limited"
    assert "2 AI generations a minute" in outcomes[2]["message"]


async def test_each_generation_is_recorded_for_audit(author, engine):
    post = await sync_to_async(PostFactory)(author=author, title="Saved post", body="Saved body text.")
    async with websocket(author) as socket:
        await socket.send_json_to(generate_message(action="summarize", text="", post_id=post.pk))
        events = await collect(socket)
    generation = await Generation.objects.select_related("user", "post").aget(request_id="r1")
    assert generation.user == author and generation.post == post
    assert generation.action == "summarize" and generation.model == "llama3.2:1b"
    assert generation.host == backend_of(engine)["url"]
    assert len(generation.input_hash) == 64
    assert generation.prompt_tokens == events[-1]["stats"]["prompt_eval_count"] > 0
    assert generation.completion_tokens == events[-1]["stats"]["eval_count"] > 0
    assert generation.output_chars == len(streamed_text(events))
    assert generation.time_to_first_token_ms is not None and generation.duration_ms >= 0
    assert (generation.outcome, generation.error_code, generation.cached) == ("done", "", False)
    sent = chat_requests(engine)[0].body["messages"][-1]["content"]
    assert "Saved body text." in sent, "the saved post fills in what the editor did not send"


async def test_someone_elses_draft_answers_as_a_missing_post_does(author, other_author, engine):
    post = await sync_to_async(PostFactory)(author=other_author)
    async with websocket(author) as socket:
        await socket.send_json_to(generate_message("draft", action="summarize", post_id=post.pk))
        draft = await receive(socket)
        await socket.send_json_to(generate_message("missing", action="summarize", post_id=post.pk + 1000))
        missing = await receive(socket)
    assert draft == {**missing, "request_id": "draft"}
    assert (draft["code"], draft["message"]) == ("invalid", NO_SUCH_POST)
    assert chat_requests(engine) == []


async def test_meta_description_is_cut_to_160_characters_on_a_word_boundary(author, engine):
    engine.reply = "A meta description that keeps going " * 12
    async with websocket(author) as socket:
        await socket.send_json_to(generate_message(action="meta_description", text="Some body text."))
        events = await collect(socket)
    text = streamed_text(events)
    assert events[-1]["type"] == "done"
    assert 140 < len(text) <= 160
    assert ("A meta description that keeps going " * 12).startswith(text + " ")
    await engine.wait_for_disconnect_async()


async def test_chat_remembers_the_conversation_per_post(author, engine):
    post = await sync_to_async(PostFactory)(author=author)
    async with websocket(author) as socket:
        await socket.send_json_to(generate_message("q1", action="chat", text="First question?", post_id=post.pk))
        first = streamed_text(await collect(socket, "q1"))
        await socket.send_json_to(generate_message("q2", action="chat", text="Second question?", post_id=post.pk))
        await collect(socket, "q2")
        await socket.send_json_to(
            generate_message(
                "q3", action="chat", text="Fresh start", post_id=post.pk, options={"new_conversation": True}
            )
        )
        await collect(socket, "q3")
    requests = chat_requests(engine)
    second = [(m["role"], m["content"]) for m in requests[1].body["messages"][1:]]
    assert second == [("user", "First question?"), ("assistant", first), ("user", "Second question?")]
    third = [(m["role"], m["content"]) for m in requests[2].body["messages"][1:]]
    assert third == [("user", "Fresh start")]


async def test_chat_history_is_trimmed_to_fit_the_prompt(author, settings, engine):
    settings.AIWRITER_CHAT_HISTORY_CHARS = 400
    engine.reply = "x" * 150
    async with websocket(author) as socket:
        for number in range(4):
            request_id = f"q{number}"
            await socket.send_json_to(generate_message(request_id, action="chat", text=f"Question {number}"))
            await collect(socket, request_id)
    last = chat_requests(engine)[-1].body["messages"][1:]
    history = last[:-1]
    assert sum(len(m["content"]) for m in history) <= 400
    assert history[0]["role"] == "user"
    assert history[-2:] == [{"role": "user", "content": "Question 2"}, {"role": "assistant", "content": "x" * 150}]


async def test_generation_events_stop_when_the_task_is_cancelled_mid_prompt(author, engine):
    engine.first_token_delay = 5
    async with websocket(author) as socket:
        await socket.send_json_to(generate_message(options={"title": "T"}))
        assert (await receive(socket))["type"] == "start"
        await engine.wait_for_in_flight_async(1)
        await socket.send_json_to({"type": "cancel", "request_id": "r1"})
        events = await collect(socket)
    assert events[-1]["code"] == "cancelled"
    await engine.wait_for_disconnect_async()
    generation = await recorded_generation("r1")
    assert generation.outcome == Outcome.CANCELLED and generation.time_to_first_token_ms is None


async def test_generations_still_run_when_the_limits_store_is_unreachable(author, settings):
    settings.REDIS_URL = "redis://127.0.0.1:9/0"
    settings.AIWRITER_RATE_LIMIT = 0
    async with websocket(author) as socket:
        await socket.send_json_to(generate_message(options={"title": "T"}))
        events = await collect(socket)
    assert events[-1]["type"] == "done"


async def test_one_socket_cannot_start_more_generations_than_the_limit(author, settings, engine):
    settings.AIWRITER_MAX_CONCURRENT_PER_USER = 2
    engine.tokens_per_second = 20
    async with websocket(author) as socket:
        for request_id in ("a", "b", "c"):
            await socket.send_json_to(generate_message(request_id, options={"title": "T"}))
        refused = await collect(socket, "c")
        for request_id in ("a", "b"):
            await socket.send_json_to({"type": "cancel", "request_id": request_id})
    assert refused == [
        {
            "type": "error",
            "request_id": "c",
            "code": "rate_limited",
            "message": "You already have 2 AI generations running. Wait for one to finish, or stop one.",
        }
    ]


async def test_generations_ending_together_are_all_recorded(author, engine):
    async with websocket(author) as socket:
        for request_id in ("a", "b", "c"):
            await socket.send_json_to(generate_message(request_id, text=f"Notes {request_id}", options={"title": "T"}))
        outcomes = {}
        while len(outcomes) < 3:
            event = await receive(socket)
            if event["type"] in ("done", "error"):
                outcomes[event["request_id"]] = event["type"]
    assert outcomes == {"a": "done", "b": "done", "c": "done"}
    records = [g async for g in Generation.objects.filter(user=author).order_by("request_id")]
    assert [(g.request_id, g.outcome, g.action) for g in records] == [
        ("a", Outcome.DONE, "draft"),
        ("b", Outcome.DONE, "draft"),
        ("c", Outcome.DONE, "draft"),
    ]


async def test_a_prompt_saved_by_staff_is_used_by_the_next_generation(author, engine):
    async with websocket(author) as socket:
        await socket.send_json_to(generate_message("r1", text="First notes.", options={"title": "T"}))
        await collect(socket, "r1")
        await sync_to_async(_set_draft_template)("Write it as a limerick: {title}")
        await socket.send_json_to(generate_message("r2", text="Second notes.", options={"title": "Hello"}))
        events = await collect(socket, "r2")
    assert events[-1]["type"] == "done"
    first, second = chat_requests(engine)
    assert "limerick" not in first.body["messages"][-1]["content"]
    assert second.body["messages"][-1]["content"] == "Write it as a limerick: Hello"


def _set_draft_template(template):
    from aiwriter.models import PromptTemplate

    prompt = PromptTemplate.objects.get(action="draft")
    prompt.template = template
    prompt.save()


async def test_an_answer_cut_at_its_length_is_cached_as_the_editor_received_it(author, engine):
    engine.reply = "Steeped leaves " * 60
    message = generate_message("r1", action="meta_description", text="A body about tea.")
    async with websocket(author) as socket:
        await socket.send_json_to(message)
        first = await collect(socket, "r1")
        await socket.send_json_to({**message, "request_id": "r2"})
        second = await collect(socket, "r2")
    assert 0 < len(streamed_text(first)) <= 160
    assert second[-1]["cached"] is True and streamed_text(second) == streamed_text(first)
    assert len(chat_requests(engine)) == 1


async def test_thinking_streams_apart_and_never_joins_the_answer(author, engine):
    engine.thinking = "Consider who reads this."
    async with websocket(author) as socket:
        await socket.send_json_to(generate_message(options={"title": "Tea"}))
        events = await collect(socket)
    thinking = "".join(event["text"] for event in events if event["type"] == "thinking")
    assert thinking.strip() == "Consider who reads this."
    assert streamed_text(events) and "Consider" not in streamed_text(events)
    assert events[-1]["type"] == "done"


# Access that changes while the socket is open


def _revoke_role(user):
    account_services.role_revoke(user=user, role=Role.AUTHOR)


def _leave_the_group(user):
    Group.objects.get(name=Role.AUTHOR).user_set.remove(user)


def _clear_groups(user):
    user.groups.clear()


def _role_loses_the_permission(user):
    Group.objects.get(name=Role.AUTHOR).permissions.remove(Permission.objects.get(codename="use_aiwriter"))


def _sign_out(client, user):
    client.logout()


def _deactivate(client, user):
    user.is_active = False
    user.save()


def _new_password(client, user):
    user.set_password("a new password 123")
    user.save()


async def generate_and_finish(socket, request_id: str) -> dict:
    await socket.send_json_to(generate_message(request_id, options={"title": "T"}))
    return (await collect(socket, request_id))[-1]


@pytest.mark.parametrize("revoke", [_revoke_role, _leave_the_group, _clear_groups, _role_loses_the_permission])
async def test_a_role_taken_away_forbids_the_next_generate_on_an_open_socket(author, engine, revoke):
    async with websocket(author) as socket:
        assert (await generate_and_finish(socket, "before"))["type"] == "done"
        await sync_to_async(revoke)(author)
        refused = await generate_and_finish(socket, "after")
    assert refused["code"] == "forbidden"
    assert len(chat_requests(engine)) == 1


async def test_a_role_given_while_the_socket_is_open_is_used_at_once(reader, engine):
    async with websocket(reader) as socket:
        assert (await generate_and_finish(socket, "before"))["code"] == "forbidden"
        await sync_to_async(account_services.role_grant)(user=reader, role=Role.AUTHOR)
        assert (await generate_and_finish(socket, "after"))["type"] == "done"


@pytest.mark.parametrize("end", [_sign_out, _deactivate, _new_password])
async def test_a_signed_out_or_deactivated_user_is_signed_out_of_the_open_socket(author, engine, end):
    client = await sync_to_async(signed_in)(author)
    async with websocket(client=client) as socket:
        assert (await generate_and_finish(socket, "before"))["type"] == "done"
        await sync_to_async(end)(client, author)
        await socket.send_json_to(generate_message("after", options={"title": "T"}))
        refused = await receive(socket, timeout=1)
        closed = await socket.receive_output(timeout=1)
    assert (refused["type"], refused["code"], refused["request_id"]) == ("error", "unauthorized", "after")
    assert (closed["type"], closed["code"]) == ("websocket.close", 4401)
    assert len(chat_requests(engine)) == 1


async def test_the_user_is_read_again_only_after_a_change(author, engine, monkeypatch):
    reads = []
    monkeypatch.setattr(auth, "user_with_permissions", _counted(auth.user_with_permissions, reads))
    async with websocket(author) as socket:
        for request_id in ("one", "two", "three"):
            assert (await generate_and_finish(socket, request_id))["type"] == "done"
        assert len(reads) == 1  # at connect
        await sync_to_async(account_services.user_profile_update)(user=author, data={"display_name": "Ann"})
        for request_id in ("four", "five"):
            assert (await generate_and_finish(socket, request_id))["type"] == "done"
    assert len(reads) == 2


def _counted(function, calls: list):
    async def counted(scope):
        calls.append(scope)
        return await function(scope)

    return counted


async def test_a_sockets_generations_keep_its_request_id_for_audit(author, engine):
    async with websocket(author, headers=[(b"x-request-id", b"socket-req-1")]) as socket:
        await socket.send_json_to(generate_message("first", text="Some notes", options={"title": "T"}))
        await collect(socket, "first")
        await socket.send_json_to(generate_message("second", action="chat", text="Is this clear?"))
        await collect(socket, "second")
    ids = [id async for id in Generation.objects.order_by("request_id").values_list("http_request_id", flat=True)]
    assert ids == ["socket-req-1", "socket-req-1"]

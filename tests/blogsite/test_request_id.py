"""Request ids (blogsite/request_id.py) through the whole ASGI application, and the JSON log lines that carry them."""

import io
import json
import logging
import re

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.utils.module_loading import import_string

from blogsite.asgi import application
from blogsite.request_id import (
    RequestContextFilter,
    celery_headers_add,
    celery_task_finished,
    celery_task_started,
    current_request_id,
)
from posts.tasks import posts_publish_due
from tests.aiwriter.fixtures import transactional, websocket
from tests.factories import PostFactory
from tests.posts.readers import session_cookies, site

MADE_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def json_log():
    """What the production handler writes: the settings' JSON formatter behind the request filter."""
    options = dict(settings.LOGGING["formatters"]["json"])
    formatter = import_string(options.pop("()"))(**options)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(RequestContextFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)

    def lines() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    yield lines
    root.removeHandler(handler)
    root.setLevel(level)


def request_lines(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["logger"] == "blogsite.requests"]


async def test_a_request_without_an_id_gets_one_made_and_returned():
    async with site() as client:
        first, second = await client.get("/healthz"), await client.get("/healthz")
    assert MADE_ID.fullmatch(first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_the_callers_request_id_is_kept_and_returned():
    async with site() as client:
        response = await client.get("/healthz", headers={"X-Request-ID": "edge-7f3a.42"})
    assert response.headers.get_list("x-request-id") == ["edge-7f3a.42"]


@pytest.mark.parametrize("sent", ["", "has spaces", "x" * 65, "<script>", "-starts-with-a-dash"])
async def test_an_unusable_request_id_is_replaced(sent):
    async with site() as client:
        response = await client.get("/healthz", headers={"X-Request-ID": sent})
    assert MADE_ID.fullmatch(response.headers["x-request-id"])


@transactional
async def test_pages_from_the_page_cache_carry_their_own_request_id():
    post = await sync_to_async(PostFactory)()
    async with site() as client:
        await client.get(post.get_absolute_url(), headers={"X-Request-ID": "rendered-1"})
        hit = await client.get(post.get_absolute_url(), headers={"X-Request-ID": "cached-1"})
    assert hit.headers["x-cache"] == "HIT"
    assert hit.headers.get_list("x-request-id") == ["cached-1"]


async def test_each_request_is_one_json_line_with_its_id_path_status_and_duration(json_log):
    async with site() as client:
        await client.get("/healthz", headers={"X-Request-ID": "line-1"})
    (line,) = request_lines(json_log())
    assert line["request_id"] == "line-1"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/healthz", 200)
    assert line["level"] == "INFO" and line["message"].startswith("GET /healthz 200 ")
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00", line["time"])
    assert "user_id" not in line  # nobody signed in


@transactional
async def test_a_signed_in_users_lines_carry_their_id(json_log, author):
    cookies = await sync_to_async(session_cookies)(author)
    async with site(cookies=cookies) as client:
        response = await client.get("/editor/", headers={"X-Request-ID": "editor-1"})
    assert response.status_code == 200
    (line,) = request_lines(json_log())
    assert (line["request_id"], line["user_id"], line["status"]) == ("editor-1", author.pk, 200)


@transactional
async def test_lines_logged_while_serving_carry_the_request_id(json_log):
    async with site() as client:
        await client.get("/posts/no-such-post/", headers={"X-Request-ID": "missing-1"})
    not_found = next(line for line in json_log() if line["logger"] == "django.request")
    assert (not_found["level"], not_found["message"]) == ("WARNING", "Not Found: /posts/no-such-post/")
    assert (not_found["request_id"], not_found["path"]) == ("missing-1", "/posts/no-such-post/")


@transactional
async def test_a_websocket_is_one_line_from_its_handshake_to_its_close(json_log, author):
    async with websocket(author, headers=[(b"x-request-id", b"socket-1")]):
        pass
    (line,) = request_lines(json_log())
    assert (line["request_id"], line["method"], line["path"]) == ("socket-1", "WEBSOCKET", "/ws/aiwriter/")
    assert (line["status"], line["user_id"]) == (101, author.pk)


async def test_a_refused_websocket_is_logged_as_refused(json_log):
    headers = [(b"origin", b"https://elsewhere.example")]
    communicator = WebsocketCommunicator(application, "/ws/aiwriter/", headers=headers)
    connected, _ = await communicator.connect()
    await communicator.disconnect()
    assert not connected
    (line,) = request_lines(json_log())
    assert (line["method"], line["status"]) == ("WEBSOCKET", 403)


def test_a_task_enqueued_outside_any_request_carries_no_id():
    headers = {}
    celery_headers_add(headers=headers)
    assert headers == {} and current_request_id() == ""


@pytest.mark.parametrize(("headers", "expected"), [({"x_request_id": "from-web-1"}, "from-web-1"), ({}, MADE_ID)])
def test_a_worker_runs_each_task_under_its_request_id_or_one_of_its_own(headers, expected):
    posts_publish_due.push_request(is_eager=False, **headers)
    try:
        celery_task_started(task=posts_publish_due)
        running_under = current_request_id()
        celery_task_finished(task=posts_publish_due)
    finally:
        posts_publish_due.pop_request()
    assert running_under == expected if isinstance(expected, str) else expected.fullmatch(running_under)
    assert current_request_id() == ""  # the next task starts without it


def test_a_task_run_eagerly_stays_under_its_callers_id():
    posts_publish_due.push_request(is_eager=True)
    try:
        celery_task_started(task=posts_publish_due)
        assert current_request_id() == ""
    finally:
        posts_publish_due.pop_request()

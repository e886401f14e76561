"""The AI writer socket's sign-in: the session's user, with the permissions every generation checks."""

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.db.backends.signals import connection_created
from django.utils.module_loading import import_string

from aiwriter.auth import AiwriterAuthMiddlewareStack, user_with_permissions
from aiwriter.permissions import can_use_aiwriter
from tests.aiwriter.fixtures import session_cookie, signed_in, transactional, websocket


def scope_for(key: str) -> dict:
    store: SessionBase = import_string(f"{settings.SESSION_ENGINE}.SessionStore")(key)
    return {"session": store}


def test_the_user_comes_with_the_permissions_a_generation_checks(author, django_assert_num_queries):
    user = user_with_permissions.func(scope_for(session_cookie(author)))
    assert user.pk == author.pk
    with django_assert_num_queries(0):
        assert can_use_aiwriter(user)


def test_a_reader_is_signed_in_without_the_ai_writer(reader, django_assert_num_queries):
    user = user_with_permissions.func(scope_for(session_cookie(reader)))
    assert user.pk == reader.pk
    with django_assert_num_queries(0):
        assert not can_use_aiwriter(user)


def test_no_session_means_an_anonymous_user(db):
    user = user_with_permissions.func(scope_for("no-such-session"))
    assert not user.is_authenticated


@transactional
async def test_the_socket_is_signed_in_and_sends_straight_to_the_server(author):
    cookie = await database_sync_to_async(session_cookie)(author)
    seen = {}

    async def consumer(scope, receive, send):
        seen.update(user=scope["user"], session=scope["session"], send=send)

    async def server_send(message):
        raise AssertionError("nothing is sent")

    scope = {"type": "websocket", "path": "/ws/aiwriter/", "headers": [(b"cookie", f"sessionid={cookie}".encode())]}
    await AiwriterAuthMiddlewareStack(consumer)(scope, None, server_send)

    assert seen["user"].pk == author.pk and seen["session"].session_key == cookie
    # Channels' session wrapper saves only with HTTP responses; a socket's frames skip it.
    assert seen["send"] is server_send


@pytest.mark.postgresql
@transactional
async def test_sockets_signing_in_share_pooled_database_connections(author):
    """Each socket's sign-in reads its user and permissions; the reads borrow a pooled connection
    instead of opening a PostgreSQL session per socket."""
    client = await sync_to_async(signed_in)(author)
    borrowed: list[int] = []

    def note_session(sender, connection, **kwargs) -> None:
        borrowed.append(connection.connection.info.backend_pid)

    connection_created.connect(note_session)
    try:
        for _ in range(10):
            async with websocket(client=client) as socket:
                await socket.send_json_to({"type": "cancel", "request_id": "nothing"})
    finally:
        connection_created.disconnect(note_session)
    assert len(borrowed) >= 9  # the sign-ins borrowed (the first may find the thread's own still open)
    assert len(set(borrowed)) <= settings.DATABASES["default"]["OPTIONS"]["pool"]["min_size"]

"""The AI writer socket's sign-in: the session's user, with the permissions every generation checks."""

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.utils.module_loading import import_string

from aiwriter.auth import user_with_permissions
from aiwriter.permissions import can_use_aiwriter
from tests.aiwriter.fixtures import session_cookie


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

"""What tells open AI writer sockets that a user's access changed: tokens and signed-out sessions in Redis."""

import pytest
from channels.db import database_sync_to_async

from accounts import services as account_services
from accounts.roles import Role
from aiwriter import access
from tests.aiwriter.fixtures import shared_clients, signed_in, transactional  # noqa: F401 (fixture)
from tests.redis_server import free_port

pytestmark = pytest.mark.usefixtures("shared_clients")


def token(user) -> str:
    return access.access_token_read(user_id=user.pk)


@pytest.mark.django_db
def test_a_role_change_replaces_the_token_once_committed_and_a_sign_in_does_not(
    author, client, django_capture_on_commit_callbacks
):
    before = token(author)
    client.force_login(author)  # saves last_login only
    assert token(author) == before

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        account_services.role_revoke(user=author, role=Role.AUTHOR)
        assert token(author) == before
    assert callbacks and token(author) not in ("", before)


@transactional
async def test_a_sign_out_ends_its_own_session_only(author):
    first, second = await database_sync_to_async(signed_in)(author), await database_sync_to_async(signed_in)(author)
    keys = [client.cookies["sessionid"].value for client in (first, second)]

    await database_sync_to_async(first.logout)()

    states = [await access.access_state(user_id=author.pk, session_key=key) for key in keys]
    assert [state.session_ended for state in states] == [True, False]


async def test_the_check_is_skipped_while_redis_is_unreachable(settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    assert await access.access_state(user_id=1, session_key="any") is None

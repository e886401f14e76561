"""Who is on the AI writer's socket: the session's user and their permissions, read in one hop.

Channels' AuthMiddleware reads the session and the user on Django's sync thread, one per
process; the consumer then needed a second hop for the permissions every generation checks.
Each hop waits behind every other editor's queries, so when many editors open the editor at once
each connection took several of them. Here the user and their permissions are read together,
and Django keeps the permissions on the user object while nothing about the user changes; before
each generation `socket_user_current` asks Redis whether something did (aiwriter/access.py).
"""

from importlib import import_module

from channels.auth import AuthMiddleware, CookieMiddleware, get_user
from channels.db import database_sync_to_async
from channels.sessions import InstanceSessionWrapper, SessionMiddleware
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import AnonymousUser

from blogsite.request_id import user_noted

from . import access
from .services import user_permissions_load

# The scope's key for the user's access token as it was just before the user was read.
ACCESS_TOKEN = "aiwriter_access_token"


@database_sync_to_async
def user_with_permissions(scope):
    # The token first: a change committed after this read, even one the user read below already
    # shows, makes the token differ at the next generation, never the other way round.
    user_id = scope["session"].get(SESSION_KEY)
    scope[ACCESS_TOKEN] = access.access_token_read(user_id=user_id) if user_id is not None else None
    # get_user's own function, run inside this hop instead of a hop of its own.
    user = get_user.func(scope)
    user_permissions_load(user=user)
    return user


async def socket_user_current(scope):
    """The socket's user as of now: the one it has while nothing changed, else read again from its session.

    A signed-out session, a deactivated account or a changed password give an anonymous user.
    """
    user = scope["user"]
    session_key = scope["session"].session_key or ""
    state = await access.access_state(user_id=user.pk, session_key=session_key)
    if state is None or (state.token == scope.get(ACCESS_TOKEN) and not state.session_ended):
        return user
    if state.session_ended:
        return AnonymousUser()
    fresh = {**scope, "session": import_module(settings.SESSION_ENGINE).SessionStore(session_key)}
    user = await user_with_permissions(fresh)
    if user.is_authenticated:  # the same user: a session key belongs to one user only
        scope[ACCESS_TOKEN] = fresh[ACCESS_TOKEN]
        scope["user"]._wrapped = user
    return user


class UserWithPermissionsMiddleware(AuthMiddleware):
    async def resolve_scope(self, scope):
        scope["user"]._wrapped = await user_with_permissions(scope)
        user_noted(scope["user"].pk)  # the socket's log lines name its user


class SocketSessionMiddleware(SessionMiddleware):
    """Channels' session middleware without its wrapper around every message the socket sends.

    Channels saves a changed session only with an `http.response.start`, which a WebSocket never
    sends, yet its wrapper looked into the session for every frame: thousands of times a second
    while many editors stream.
    """

    async def __call__(self, scope, receive, send):
        wrapper = InstanceSessionWrapper(scope, send)
        await wrapper.resolve_session()
        return await self.inner(wrapper.scope, receive, send)


def AiwriterAuthMiddlewareStack(inner):  # named like Channels' AuthMiddlewareStack
    return CookieMiddleware(SocketSessionMiddleware(UserWithPermissionsMiddleware(inner)))

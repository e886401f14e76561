"""Who is on the AI writer's socket: the session's user and their permissions, read in one hop.

Channels' AuthMiddleware reads the session and the user on Django's sync thread, one per
process; the consumer then needed a second hop for the permissions every generation checks.
Each hop waits behind every other editor's queries, so when many editors open the editor at once
each connection took several of them. Here the user and their permissions are read together,
and Django keeps the permissions on the user object for the socket's lifetime.
"""

from channels.auth import AuthMiddleware, CookieMiddleware, get_user
from channels.db import database_sync_to_async
from channels.sessions import InstanceSessionWrapper, SessionMiddleware

from .services import user_permissions_load


@database_sync_to_async
def user_with_permissions(scope):
    # get_user's own function, run inside this hop instead of a hop of its own.
    user = get_user.func(scope)
    user_permissions_load(user=user)
    return user


class UserWithPermissionsMiddleware(AuthMiddleware):
    async def resolve_scope(self, scope):
        scope["user"]._wrapped = await user_with_permissions(scope)


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

"""Whether an open AI writer socket may still act for its user, checked with one Redis read.

A socket reads its user and their permissions once, when it connects (aiwriter/auth.py). What can
change while it stays open is noted in Redis for the socket to see before each generation:

- each user has an access token, a random value replaced after every committed change to their
  account, groups or permissions (signals.py): a role taken away, a deactivation, a new password.
  A socket keeps the token it read just before it loaded its user; when the current token differs,
  it loads the user again from a fresh read of its session, as at connect;
- each signed-out session is marked ended, which signs the socket out at once. A mark, rather than
  the token, because Django sends `user_logged_out` before it deletes the session, and a socket
  reading the session in between would still find it.

While Redis cannot be reached the check is skipped (fail open), as the generation limits are:
failing closed would refuse every editor's generations for as long as Redis is away. A change made
during an outage reaches sockets that were already open only when they reconnect.
"""

import hashlib
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django_redis import get_redis_connection
from redis.exceptions import RedisError

from .limits import redis_client

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AccessState:
    token: str  # "" when the user's access has not changed for as long as Redis keeps tokens
    session_ended: bool


def _token_key(user_id: int | str) -> str:
    return f"blogsite:aiwriter:access:{user_id}"


def _ended_key(session_key: str) -> str:
    # Hashed: the key names in Redis must not be usable as session cookies.
    return f"blogsite:aiwriter:session-ended:{hashlib.sha256(session_key.encode()).hexdigest()}"


def _keep_seconds() -> int:
    """As long as a session lives: no socket can outlast it with the same session."""
    return settings.SESSION_COOKIE_AGE


def access_changed(*, user_ids: Iterable[int]) -> None:
    """Make every open socket of these users load them again before its next generation."""
    try:
        with get_redis_connection("default").pipeline(transaction=False) as pipeline:
            for user_id in set(user_ids):
                pipeline.set(_token_key(user_id), uuid.uuid4().hex, ex=_keep_seconds())
            pipeline.execute()
    except RedisError:
        logger.warning("AI writer sockets not told of an access change: Redis is unreachable", exc_info=True)


def session_ended(*, session_key: str) -> None:
    """Sign out the sockets opened with this session at their next generation."""
    try:
        get_redis_connection("default").set(_ended_key(session_key), 1, ex=_keep_seconds())
    except RedisError:
        logger.warning("AI writer sockets not told of a sign-out: Redis is unreachable", exc_info=True)


def access_token_read(*, user_id: int | str) -> str | None:
    """The user's current token, read on Django's sync thread before the user is; None if Redis is unreachable."""
    try:
        token = get_redis_connection("default").get(_token_key(user_id))
    except RedisError:
        logger.warning("AI writer access token not read: Redis is unreachable", exc_info=True)
        return None
    return (token or b"").decode()


async def access_state(*, user_id: int, session_key: str) -> AccessState | None:
    """The user's token and whether the session was signed out, in one read; None if Redis is unreachable."""
    try:
        token, ended = await redis_client().mget(_token_key(user_id), _ended_key(session_key))
    except RedisError:
        logger.warning("AI writer access check skipped: Redis is unreachable", exc_info=True)
        return None
    return AccessState(token=(token or b"").decode(), session_ended=ended is not None)

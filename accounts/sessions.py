"""Cached database sessions that keep working while the cache is unreachable.

Django's cached_db store already survives a failed cache write on save, but not a failed
read in exists(), the cache write in load() or the cache delete on logout, so sign-in and
sign-out would answer 500 while Redis is down. Here every cache step may fail and the
database, which always holds the session, answers alone.
"""

import logging

from django.contrib.sessions.backends import cached_db
from django.contrib.sessions.backends.db import SessionStore as DatabaseStore

from .throttle import CACHE_ERRORS

logger = logging.getLogger(__name__)

STALE_SESSION_WARNING = "A session was deleted from the database but not from the cache; clear the session cache."


class SessionStore(cached_db.SessionStore):
    def load(self):
        try:
            return super().load()
        except CACHE_ERRORS:
            return DatabaseStore.load(self)

    async def aload(self):
        try:
            return await super().aload()
        except CACHE_ERRORS:
            return await DatabaseStore.aload(self)

    def exists(self, session_key):
        try:
            return super().exists(session_key)
        except CACHE_ERRORS:
            return DatabaseStore.exists(self, session_key)

    async def aexists(self, session_key):
        try:
            return await super().aexists(session_key)
        except CACHE_ERRORS:
            return await DatabaseStore.aexists(self, session_key)

    def delete(self, session_key=None):
        # The database row goes first. A cached copy that outlives an outage would still be read
        # until it expires, so the warning tells operators to clear the session cache.
        try:
            super().delete(session_key)
        except CACHE_ERRORS:
            logger.warning(STALE_SESSION_WARNING, exc_info=True)

    async def adelete(self, session_key=None):
        try:
            await super().adelete(session_key)
        except CACHE_ERRORS:
            logger.warning(STALE_SESSION_WARNING, exc_info=True)

"""redis-py asyncio clients for the project's own Redis calls (page cache, AI writer limits and cache).

Their pool waits for a free connection instead of failing: redis-py's default pool raises
"Too many connections" once its 100 are in use, and a burst of readers or editors would take
that for Redis being down (pages rendered uncached, editors' limits skipped). Waiting is bounded
by the same timeout as every command, so a Redis that is really away still fails fast.
"""

import redis.asyncio as redis
from django.conf import settings


def async_redis(url: str, *, timeout: float, **options) -> redis.Redis:
    """A client whose pool holds up to REDIS_MAX_CONNECTIONS per event loop and waits up to `timeout` for one."""
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=settings.REDIS_MAX_CONNECTIONS,
        timeout=timeout,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        **options,
    )
    return redis.Redis.from_pool(pool)

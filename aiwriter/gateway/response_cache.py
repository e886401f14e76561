"""Finished generations in Redis, for requests that would get the same answer again.

A request qualifies when its output is reproducible (temperature 0 or a fixed seed) or its
action is marked cacheable, and the editor did not ask to regenerate. The key covers the
model, the full messages and the options, so any change in the prompt is a different entry.
Redis trouble only means no cache: a lookup that fails is a miss.
"""

import hashlib
import json
import logging
from dataclasses import dataclass

from django.conf import settings
from redis.exceptions import RedisError

from blogsite.pipelined_redis import PipelinedRedis

from ..engines import GenerationStats
from .request import CompletionRequest

logger = logging.getLogger(__name__)

KEY_PREFIX = "blogsite:aiwriter:response:"


def request_key(request: CompletionRequest) -> str:
    payload = {"model": request.model, "messages": request.messages, "options": dict(request.options)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def reproducible(request: CompletionRequest) -> bool:
    options = request.options
    return options.get("temperature") == 0 or options.get("seed") is not None


def shareable(request: CompletionRequest) -> bool:
    """Whether the answer may come from the cache or from an identical generation in flight."""
    return not request.regenerate and (request.cacheable or reproducible(request))


def ttl_for(action: str) -> int:
    return int(settings.AIWRITER_CACHE_TTLS.get(action, settings.AIWRITER_CACHE_TTL))


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    text: str
    stats: GenerationStats


class ResponseCache:
    """Finished answers in Redis, over one pipelined connection per event loop.

    Every cacheable generation looks here before its first token; with redis-py's pool, a burst
    of them (100 editors asking at once) opened a connection each, a handshake apiece.
    """

    def __init__(self, connection: PipelinedRedis) -> None:
        self.redis = connection

    async def aclose(self) -> None:
        await self.redis.aclose()

    async def get(self, key: str) -> CachedAnswer | None:
        try:
            raw = await self.redis.execute("GET", KEY_PREFIX + key)
        except RedisError:
            logger.warning("AI response cache lookup failed: Redis is unreachable", exc_info=True)
            return None
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            return CachedAnswer(text=data["text"], stats=GenerationStats(**data["stats"]))
        except (ValueError, KeyError, TypeError):
            return None

    async def put(self, key: str, *, text: str, stats: GenerationStats, ttl: int) -> None:
        if ttl <= 0 or not text:
            return
        stats_data = {name: getattr(stats, name) for name in GenerationStats.__dataclass_fields__}
        try:
            await self.redis.execute(
                "SET", KEY_PREFIX + key, json.dumps({"text": text, "stats": stats_data}), "EX", ttl
            )
        except RedisError:
            logger.warning("AI response not cached: Redis is unreachable", exc_info=True)

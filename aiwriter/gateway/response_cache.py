"""Finished answers in Redis, for requests that would get the same answer again.

A request qualifies when its output is reproducible (temperature 0 or a fixed seed) or its
action is marked cacheable, and the editor did not ask to regenerate. The key covers the
model, the full messages and the options, so any change in the prompt is a different entry.
What is stored is the answer the editor received, also when it was cut at its length limit.
Redis trouble only means no cache: a lookup that fails is a miss.
"""

import hashlib
import json
import logging
from dataclasses import asdict, dataclass

from django.conf import settings
from redis.exceptions import RedisError

from blogsite.redis_clients import async_redis

from ..engines import GenerationStats
from .request import CompletionRequest

logger = logging.getLogger(__name__)

KEY_PREFIX = "blogsite:aiwriter:response:"
# A lookup that takes longer counts as a miss.
REDIS_TIMEOUT_SECONDS = 0.5


def request_key(request: CompletionRequest) -> str:
    payload = {"model": request.model, "messages": request.messages, "options": dict(request.options)}
    return KEY_PREFIX + hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def reproducible(request: CompletionRequest) -> bool:
    options = request.options
    return options.get("temperature") == 0 or options.get("seed") is not None


def shareable(request: CompletionRequest) -> bool:
    """Whether the answer may come from the cache, and be kept there."""
    return not request.regenerate and (request.cacheable or reproducible(request))


def ttl_for(action: str) -> int:
    return int(settings.AIWRITER_CACHE_TTLS.get(action, settings.AIWRITER_CACHE_TTL))


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    text: str
    stats: GenerationStats


class ResponseCache:
    def __init__(self, url: str) -> None:
        self.redis = async_redis(url, timeout=REDIS_TIMEOUT_SECONDS)

    async def aclose(self) -> None:
        await self.redis.aclose()

    async def get(self, request: CompletionRequest) -> CachedAnswer | None:
        try:
            raw = await self.redis.get(request_key(request))
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

    async def put(self, request: CompletionRequest, *, text: str, stats: GenerationStats) -> None:
        ttl = ttl_for(request.action)
        if ttl <= 0 or not text:
            return
        try:
            await self.redis.set(request_key(request), json.dumps({"text": text, "stats": asdict(stats)}), ex=ttl)
        except RedisError:
            logger.warning("AI response not cached: Redis is unreachable", exc_info=True)

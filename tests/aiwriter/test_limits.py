"""The per-editor limits on AI generations, against the tests' real redis-server."""

import asyncio

import pytest

from aiwriter import limits
from tests.aiwriter.fixtures import until

USER_ID = 424242


@pytest.fixture(autouse=True)
async def concurrent_one(settings):
    settings.AIWRITER_MAX_CONCURRENT_PER_USER = 1
    settings.AIWRITER_RATE_LIMIT = 1000
    yield
    client, _ = limits._client()
    await client.delete(*limits._keys(USER_ID))


async def test_a_held_slot_refuses_the_next_until_it_is_released():
    async with limits.generation_slot(user_id=USER_ID):
        with pytest.raises(limits.LimitExceeded, match="1 AI generations running"):
            async with limits.generation_slot(user_id=USER_ID):
                pass
    async with limits.generation_slot(user_id=USER_ID):
        pass


async def test_a_slot_is_released_when_its_block_fails():
    with pytest.raises(RuntimeError):
        async with limits.generation_slot(user_id=USER_ID):
            raise RuntimeError("the generation failed")
    async with limits.generation_slot(user_id=USER_ID):
        pass


async def test_the_rate_limit_says_when_to_try_again(settings):
    settings.AIWRITER_MAX_CONCURRENT_PER_USER = 10
    settings.AIWRITER_RATE_LIMIT = 2
    for _ in range(2):
        async with limits.generation_slot(user_id=USER_ID):
            pass
    with pytest.raises(limits.LimitExceeded, match=r"2 AI generations a minute\. Try again in \d+ seconds"):
        async with limits.generation_slot(user_id=USER_ID):
            pass


async def test_an_unreachable_redis_skips_the_limits_rather_than_the_editor(settings):
    reachable = settings.REDIS_URL
    settings.REDIS_URL = "redis://127.0.0.1:9/0"
    try:
        async with limits.generation_slot(user_id=USER_ID), limits.generation_slot(user_id=USER_ID):
            pass
    finally:
        settings.REDIS_URL = reachable


async def test_a_burst_beyond_the_connection_pool_waits_rather_than_skipping_the_limits(settings):
    """redis-py's default pool refuses past its size, which the limits would take for Redis being down."""
    settings.REDIS_MAX_CONNECTIONS = 10
    release = asyncio.Event()

    async def take() -> str:
        try:
            async with limits.generation_slot(user_id=USER_ID):
                await release.wait()
                return "held"
        except limits.LimitExceeded:
            return "refused"

    tasks = [asyncio.create_task(take()) for _ in range(150)]
    await until(lambda: sum(task.done() for task in tasks) == 149, message="every request but one was answered")
    release.set()
    outcomes = await asyncio.gather(*tasks)
    assert outcomes.count("held") == 1 and outcomes.count("refused") == 149

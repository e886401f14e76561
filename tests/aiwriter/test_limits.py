"""The per-editor limits on AI generations, against the tests' real redis-server."""

import asyncio

import pytest

from aiwriter import limits

pytestmark = pytest.mark.usefixtures("concurrent_one")

USER_ID = 424242


@pytest.fixture
async def concurrent_one(settings):
    settings.AIWRITER_MAX_CONCURRENT_PER_USER = 1
    settings.AIWRITER_RATE_LIMIT = 1000
    yield
    await limits._client().execute("DEL", *limits._keys(USER_ID))


async def test_a_held_slot_refuses_the_next_until_it_is_released():
    async with limits.generation_slot(user_id=USER_ID) as first:
        await first.granted()
        async with limits.generation_slot(user_id=USER_ID) as second:
            with pytest.raises(limits.LimitExceeded, match="1 AI generations running"):
                await second.granted()
    async with limits.generation_slot(user_id=USER_ID) as third:
        await third.granted()


async def test_a_slot_given_up_before_its_verdict_is_read_is_released():
    """An editor who stops a generation at once must not lose a slot until it goes stale (minutes)."""
    async with limits.generation_slot(user_id=USER_ID):
        pass  # stopped before anything awaited the verdict
    async with limits.generation_slot(user_id=USER_ID) as slot:
        await slot.granted()


async def test_every_task_awaiting_the_verdict_learns_it():
    async with limits.generation_slot(user_id=USER_ID) as held:
        await held.granted()
        async with limits.generation_slot(user_id=USER_ID) as refused:
            outcomes = await asyncio.gather(refused.granted(), refused.granted(), return_exceptions=True)
    assert [type(outcome) for outcome in outcomes] == [limits.LimitExceeded, limits.LimitExceeded]

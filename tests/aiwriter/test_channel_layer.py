"""The channel layer that carries batch-job progress to the editors' sockets."""

import asyncio

from channels.layers import get_channel_layer


async def test_a_receive_waits_on_an_idle_channel_past_the_layers_blocking_pop():
    """channels-redis blocks in Redis for a few seconds at a time while nothing arrives; the wait
    must go on across those blocks, not fail when one of them ends."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    receiving = asyncio.ensure_future(layer.receive(channel))
    try:
        await asyncio.sleep(layer.brpop_timeout + 1.5)
        assert not receiving.done(), f"the idle receive ended: {receiving.exception()!r}"
        await layer.send(channel, {"type": "aiwriter.job_progress", "job": {"id": 1}})
        message = await asyncio.wait_for(receiving, 5)
    finally:
        receiving.cancel()
    assert message == {"type": "aiwriter.job_progress", "job": {"id": 1}}


async def test_a_burst_of_sockets_joining_their_groups_is_never_refused():
    """Each socket joins its user's group at connect; a burst must not run out of Redis connections."""
    layer = get_channel_layer()
    channels = [await layer.new_channel() for _ in range(150)]
    try:
        await asyncio.gather(*(layer.group_add("aiwriter.burst", channel) for channel in channels))
    finally:
        await asyncio.gather(*(layer.group_discard("aiwriter.burst", channel) for channel in channels))

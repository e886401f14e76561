"""The page cache's Redis client, against real redis-server processes."""

import asyncio
import os
import socket

import pytest
from redis.exceptions import ConnectionError, ResponseError, TimeoutError

from blogsite.pipelined_redis import PipelinedRedis, pack_command
from tests.redis_server import free_port, start_redis, stop_redis


@pytest.fixture
async def redis():
    client = PipelinedRedis(os.environ["REDIS_URL"], timeout=1.0)
    await client.execute("FLUSHDB")
    yield client
    await client.aclose()


def test_commands_are_packed_as_arrays_of_bulk_strings():
    assert (
        pack_command(["SET", "clé", b"\x00\r\n", 5])
        == b"*4\r\n$3\r\nSET\r\n$4\r\ncl\xc3\xa9\r\n$3\r\n\x00\r\n\r\n$1\r\n5\r\n"
    )


async def test_replies_come_back_to_the_command_that_asked(redis):
    await redis.pipeline([("SET", f"key:{n}", f"value {n}") for n in range(50)])
    replies = await asyncio.gather(*(redis.execute("GET", f"key:{n}") for n in reversed(range(50))))
    assert replies == [f"value {n}".encode() for n in reversed(range(50))]
    assert await redis.execute("MGET", "key:1", "missing", "key:2") == [b"value 1", None, b"value 2"]
    counted = [("INCR", "count"), ("INCR", "count"), ("SET", "x", 1, "NX"), ("SET", "x", 2, "NX")]
    assert await redis.pipeline(counted) == [1, 2, b"OK", None]


async def test_an_error_reply_raises_and_leaves_the_connection_usable(redis):
    await redis.execute("SET", "text", "abc")
    with pytest.raises(ResponseError, match="not an integer"):
        await redis.execute("INCR", "text")
    assert await redis.execute("GET", "text") == b"abc"


async def test_an_unreachable_server_raises_connection_error():
    client = PipelinedRedis(f"redis://127.0.0.1:{free_port()}/0", timeout=1.0)
    with pytest.raises(ConnectionError, match="Cannot connect"):
        await client.execute("PING")


async def test_a_restarted_server_is_reconnected_to():
    process, port = start_redis()
    client = PipelinedRedis(f"redis://127.0.0.1:{port}/3", timeout=1.0)
    try:
        await client.execute("SET", "where", "db3")
        stop_redis(process)
        with pytest.raises(ConnectionError):
            await client.execute("GET", "where")
        process, _ = start_redis(port)
        assert await client.execute("SET", "where", "db3 again") == b"OK"
        assert await client.pipeline([("SELECT", 3), ("GET", "where")]) == [b"OK", b"db3 again"]
    finally:
        await client.aclose()
        stop_redis(process)


async def test_a_server_that_does_not_answer_times_out():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        client = PipelinedRedis(f"redis://127.0.0.1:{silent.getsockname()[1]}/0", timeout=0.2)
        with pytest.raises(TimeoutError):
            await client.execute("PING")
        await client.aclose()

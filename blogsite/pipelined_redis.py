"""A small async Redis client that pipelines every command on one connection per event loop.

The page cache answers each hit with one MGET, thousands of times a second per process.
redis.asyncio spends most of a hit's time checking a connection out of its pool and parsing the
reply in Python; here concurrent requests share one connection, their commands are written as
they come and the replies, which Redis sends back in the same order, are parsed by hiredis's C
reader and handed to the waiting requests in that order. Measured under daphne, a cached page
goes from about half of a bare ASGI app's requests per second to three quarters.

Errors are redis-py's: ConnectionError when Redis cannot be reached or the connection drops
(every pending command fails with it, and the next command connects again), TimeoutError when a
reply takes longer than `timeout` (the connection is dropped too, as it is no longer trusted),
ResponseError for an error reply.
"""

import asyncio
import collections
import ssl
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

import hiredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

Arg = bytes | str | int | float


def pack_command(args: Sequence[Arg]) -> bytes:
    """A command in the Redis protocol (RESP): an array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            arg = arg.encode()
        elif not isinstance(arg, bytes):
            arg = str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(parts)


class _RespProtocol(asyncio.Protocol):
    """Replies arrive in the order commands were sent; each goes to the oldest waiting future."""

    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.waiting: collections.deque[asyncio.Future] = collections.deque()
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while True:
            try:
                reply = self.reader.gets()
            except hiredis.ProtocolError as error:
                self.fail(RedisConnectionError(f"Redis sent a reply that could not be read: {error}"))
                return
            if reply is False:
                return
            future = self.waiting.popleft()
            if future.done():  # a command that timed out still gets its reply, and drops it
                continue
            if isinstance(reply, hiredis.ReplyError):
                future.set_exception(ResponseError(str(reply)))
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail_waiting(RedisConnectionError(f"Connection to Redis lost: {exc or 'closed by the server'}"))

    def send(self, commands: bytes, count: int) -> list[asyncio.Future]:
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in range(count)]
        self.waiting.extend(futures)
        self.transport.write(commands)
        return futures

    def fail(self, error: Exception) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
        self._fail_waiting(error)

    def _fail_waiting(self, error: Exception) -> None:
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(error)


class PipelinedRedis:
    """One connection, opened on first use and again after it is lost; use it from one event loop."""

    def __init__(self, url: str, *, timeout: float):
        self.url = url
        self.timeout = timeout
        self._protocol: _RespProtocol | None = None
        self._connecting: asyncio.Future | None = None

    async def execute(self, *args: Arg) -> Any:
        """Run one command and return its reply (bytes, int, list, None)."""
        return (await self.pipeline([args]))[0]

    async def pipeline(self, commands: Sequence[Sequence[Arg]]) -> list[Any]:
        """Run several commands in one write; their replies in the same order."""
        protocol = self._open_protocol() or await self._connect()
        futures = self._send(protocol, commands)
        # gather also collects the failures of the others when one fails, so none goes unread
        return [await futures[0]] if len(futures) == 1 else await asyncio.gather(*futures)

    def submit(self, *args: Arg) -> asyncio.Future:
        """Send one command now and return a future for its reply, which any number of tasks may await.

        For overlapping a round trip with other work: when connected, the command is written before
        this returns, and whoever awaits the reply wakes as soon as it is read, without a task of its
        own in between. While not connected, a task connects and sends it.
        """
        protocol = self._open_protocol()
        if protocol is None:
            return asyncio.ensure_future(self.execute(*args))
        return self._send(protocol, [args])[0]

    def _open_protocol(self) -> _RespProtocol | None:
        """The connection's protocol while it is open."""
        return self._protocol if self._protocol is not None and not self._protocol.closed else None

    def _send(self, protocol: _RespProtocol, commands: Sequence[Sequence[Arg]]) -> list[asyncio.Future]:
        futures = protocol.send(b"".join(pack_command(command) for command in commands), len(commands))
        deadline = asyncio.get_running_loop().call_later(self.timeout, self._time_out, protocol, futures[-1])
        futures[-1].add_done_callback(lambda _future: deadline.cancel())
        return futures

    async def aclose(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
        self._protocol = None

    def _time_out(self, protocol: _RespProtocol, future: asyncio.Future) -> None:
        if not future.done():
            protocol.fail(RedisTimeoutError(f"Redis did not answer within {self.timeout} s"))

    async def _connect(self) -> _RespProtocol:
        """Open the connection once for all the commands waiting on it."""
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._open())
        connecting = self._connecting
        try:
            self._protocol = await asyncio.shield(connecting)
        finally:
            if self._connecting is connecting and connecting.done():
                self._connecting = None
        return self._protocol

    async def _open(self) -> _RespProtocol:
        loop = asyncio.get_running_loop()
        target = urlsplit(self.url)
        try:
            if target.scheme == "unix":
                connecting = loop.create_unix_connection(_RespProtocol, target.path)
            else:
                context = ssl.create_default_context() if target.scheme == "rediss" else None
                connecting = loop.create_connection(_RespProtocol, target.hostname, target.port or 6379, ssl=context)
            _, protocol = await asyncio.wait_for(connecting, self.timeout)
        except (OSError, TimeoutError) as error:
            where = target.hostname or target.path
            raise RedisConnectionError(f"Cannot connect to Redis at {where}: {error}") from error
        self._protocol = protocol
        await self._handshake(target)
        return protocol

    async def _handshake(self, target) -> None:
        """AUTH and SELECT as the URL says, like redis-py's URLs."""
        commands = []
        if target.password:
            user = [unquote(target.username)] if target.username else []
            commands.append(("AUTH", *user, unquote(target.password)))
        database = target.path.strip("/") if target.scheme != "unix" else ""
        if database and database != "0":
            commands.append(("SELECT", database))
        if commands:
            await self.pipeline(commands)

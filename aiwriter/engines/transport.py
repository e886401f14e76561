"""An HTTP/1.1 transport for httpx on an asyncio protocol, made for many long NDJSON streams.

httpx stays the client API (URLs, requests, responses, exceptions); this replaces only httpcore
underneath. The reason is measured: profiles of one daphne process streaming 200 concurrent
generations at 20 tokens per second spent about half of the event loop's busy samples in
httpcore (anyio stream wrappers, h11 event parsing, `current_async_library`, the connection
pool), and httpcore's pool scans every queued request against every connection on each open and
release, a cost that grows with the square of the open streams. Here each piece of a body costs
one socket read and a small chunk parser (and, with `ResponseStream.stream_to`, no task wake-up
either), and the pool takes and gives back in O(1): idle connections in a deque per origin,
waiting requests in a FIFO of futures.

Only what the Ollama client needs: plain http and https, bodies sent whole, no proxies, no HTTP/2.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import ssl
from collections import deque
from collections.abc import AsyncIterator, Callable

import httpx

MAX_HEADER_BYTES = 64 * 1024
# A chunk-size line is a hex number and perhaps extensions; anything longer is a broken server.
MAX_CHUNK_LINE_BYTES = 1024
READ_SIZE = 64 * 1024
DEFAULT_PORTS = {"http": 80, "https": 443}

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEX = re.compile(rb"[0-9A-Fa-f]+")

Origin = tuple[str, str, int]


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection, as an asyncio protocol.

    Bytes wait in a buffer for `read()`, except while a response body streams to a listener
    (`listen()`): then each piece goes to the listener from the socket's own callback, so no task
    wakes up per piece. Under 1,000 streams, that wake-up per NDJSON line (a task resumed through
    the client's and this transport's generators, a future and a timer each) was most of the cost
    of reading. A listener may also leave the bytes in the socket for a while (`hold()`) and take
    them in one read when it wants them (`pull()`); see `PacedReads`.
    """

    def __init__(self, origin: Origin) -> None:
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.idle_since = 0.0
        self.reused = False
        self._buffer = bytearray()
        self._eof = False
        self._error: Exception | None = None
        self._reading_paused = False
        self._readable: asyncio.Future[None] | None = None
        self._writing_paused = False
        self._writable: asyncio.Future[None] | None = None
        self._listener: _Delivery | None = None
        # The socket's descriptor, for reads taken directly while held: plain TCP only, since
        # TLS records must go through the transport.
        self._fd: int | None = None
        self._held = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None and transport.get_extra_info("sslcontext") is None:
            self._fd = sock.fileno()

    def data_received(self, data: bytes) -> None:
        if self._listener is not None:
            self._listener.data(data)
            return
        self._buffer += data
        if len(self._buffer) > READ_SIZE and not self._reading_paused:
            # Nobody reads for now: let the kernel's buffers push back on the server.
            self._reading_paused = True
            self.transport.pause_reading()
        _wake(self._readable)

    def eof_received(self) -> bool:
        self._eof = True
        self._ended()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        if exc is not None and self._error is None:
            self._error = exc
        self._ended()
        _wake(self._writable)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        _wake(self._writable)

    # Use

    def usable(self, now: float, expiry: float | None) -> bool:
        """False when the server has closed it (EOF seen) or it has been idle too long."""
        if self.transport.is_closing() or self._eof or self._error is not None:
            return False
        return expiry is None or now - self.idle_since < expiry

    def write(self, data: bytes) -> None:
        self.transport.write(data)

    async def drain(self) -> None:
        """Waits while the socket's send buffer is full; raises once the connection is lost."""
        while True:
            if self._error is not None:
                raise self._error
            if self.transport.is_closing():
                raise ConnectionResetError("Connection lost")
            if not self._writing_paused:
                return
            self._writable = asyncio.get_running_loop().create_future()
            try:
                await self._writable
            finally:
                self._writable = None

    async def read(self) -> bytes:
        """The bytes received so far (waiting for some), or b"" at EOF; raises the connection's error."""
        while not self._buffer:
            if self._error is not None:
                raise self._error
            if self._eof:
                return b""
            self._readable = asyncio.get_running_loop().create_future()
            try:
                await self._readable
            finally:
                self._readable = None
        return self._take_buffer()

    def listen(self, listener: _Delivery) -> None:
        """From now on, bytes go to `listener`: first those already buffered, then each piece as it arrives."""
        self._listener = listener
        if self._buffer:
            listener.data(self._take_buffer())
        if self._eof and self._listener is listener:
            self._ended()

    def unlisten(self) -> None:
        self._listener = None
        self.release()

    def hold(self) -> None:
        """Leaves what arrives next in the socket until `pull()`, `release()` or `unlisten()`."""
        if self._fd is not None and not self._held and not self._reading_paused:
            self._held = True
            self.transport.pause_reading()

    def pull(self) -> None:
        """Hands the listener what arrived while held, in one read; when nothing has, stops holding."""
        if not self._held:
            return
        if self.transport.is_closing():
            # Aborted: the descriptor is about to close (and may then be reused); read nothing from it.
            self._held = False
            return
        try:
            data = os.read(self._fd, READ_SIZE)
        except (BlockingIOError, InterruptedError):
            data = b""
        except OSError as exc:
            self._held = False
            self._error = self._error or exc
            self.transport.abort()  # connection_lost follows and reports the error to the listener
            return
        if data:
            self.data_received(data)
        else:
            # Nothing yet, or the end of the stream: the transport reads again and sees either itself.
            self.release()

    def release(self) -> None:
        """Lets pieces through as they arrive again."""
        if self._held:
            self._held = False
            self.transport.resume_reading()

    def abort(self) -> None:
        """Closes at once, without flushing: closing is how a server learns to stop a generation.

        asyncio closes the socket itself only on the loop's next turn; the shutdown tells the server now.
        """
        transport = self.transport
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None and not transport.is_closing():
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        transport.abort()

    def _take_buffer(self) -> bytes:
        data = bytes(self._buffer)
        self._buffer.clear()
        if self._reading_paused:
            self._reading_paused = False
            self.transport.resume_reading()
        return data

    def _ended(self) -> None:
        _wake(self._readable)
        if self._listener is not None:
            self._listener.ended(self._error)


def _wake(future: asyncio.Future | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)


class _StaleConnection(Exception):
    """A reused connection failed before any byte of the response: the server had closed it."""


class StreamTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 with a keep-alive pool per origin, bounded like httpx's own limits.

    `max_connections` bounds the open connections of the transport; requests beyond it wait in
    arrival order, each for at most its `pool` timeout. `max_keepalive_connections` bounds the idle
    ones, and an idle connection older than `keepalive_expiry` seconds is not reused.
    """

    def __init__(
        self,
        *,
        max_connections: int = 100,
        max_keepalive_connections: int | None = None,
        keepalive_expiry: float | None = 5.0,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self.max_connections = max_connections
        self.max_keepalive_connections = (
            max_connections if max_keepalive_connections is None else max_keepalive_connections
        )
        self.keepalive_expiry = keepalive_expiry
        self._idle: dict[Origin, deque[_Connection]] = {}
        self._idle_count = 0
        # Connections open or being opened: each holds one of the max_connections slots.
        self._slots_taken = 0
        self._connections: set[_Connection] = set()
        # A waiter's future gets an idle connection of its origin, or None: a slot to open one in.
        self._waiters: deque[tuple[Origin, asyncio.Future[_Connection | None]]] = deque()
        self._ssl_context: ssl.SSLContext | None = None
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise RuntimeError("The transport has been closed.")
        origin = _origin(request.url)
        timeouts = request.extensions.get("timeout", {})
        data = _request_bytes(request, await request.aread())
        connection = await self._acquire(origin, timeouts.get("pool"), request)
        try:
            if connection is None:
                connection = await self._connect(origin, timeouts.get("connect"), request)
            try:
                return await self._exchange(connection, data, request, timeouts)
            except _StaleConnection:
                connection.abort()
                self._connections.discard(connection)
                # Once, on a fresh connection in the same slot.
                connection = await self._connect(origin, timeouts.get("connect"), request)
                return await self._exchange(connection, data, request, timeouts)
        except BaseException:
            if connection is not None:
                self._close(connection)
            raise

    async def aclose(self) -> None:
        """Closes every connection, busy or idle; requests waiting for one are refused."""
        self._closed = True
        for connection in list(self._connections):
            connection.abort()
        self._connections.clear()
        self._idle.clear()
        self._idle_count = 0
        self._slots_taken = 0
        while self._waiters:
            _, future = self._waiters.popleft()
            if not future.done():
                future.set_exception(RuntimeError("The transport has been closed."))

    # The pool

    async def _acquire(self, origin: Origin, timeout: float | None, request: httpx.Request) -> _Connection | None:
        """An idle connection to `origin`, or None once a slot for a new one is held."""
        connection = self._take_idle(origin)
        if connection is not None:
            return connection
        if self._slots_taken >= self.max_connections and self._idle_count:
            self._evict_one_idle()
        if self._slots_taken < self.max_connections:
            self._slots_taken += 1
            return None
        return await self._wait(origin, timeout, request)

    def _take_idle(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        if not idle:
            return None
        now = asyncio.get_running_loop().time()
        while idle:
            connection = idle.pop()
            self._idle_count -= 1
            if connection.usable(now, self.keepalive_expiry):
                connection.reused = True
                return connection
            self._close(connection)
        return None

    def _evict_one_idle(self) -> None:
        # Only when the pool is full and this origin has none idle; one deque per host, so few to look at.
        for idle in self._idle.values():
            if idle:
                self._idle_count -= 1
                self._close(idle.popleft())
                return

    async def _wait(self, origin: Origin, timeout: float | None, request: httpx.Request) -> _Connection | None:
        future: asyncio.Future[_Connection | None] = asyncio.get_running_loop().create_future()
        self._waiters.append((origin, future))
        try:
            async with asyncio.timeout(timeout):
                return await future
        except BaseException as exc:
            if future.done() and not future.cancelled() and future.exception() is None:
                # Handed a connection or a slot just as the wait ended: pass it on.
                self._give_back(origin, future.result())
            else:
                future.cancel()
            if isinstance(exc, TimeoutError):
                raise httpx.PoolTimeout("Timed out waiting for a free connection.", request=request) from None
            raise

    def _give_back(self, origin: Origin, connection: _Connection | None) -> None:
        if connection is not None:
            self._release(connection, reusable=True)
        else:
            self._slots_taken -= 1
            self._pass_slot()

    def _next_waiter(self) -> tuple[Origin, asyncio.Future[_Connection | None]] | None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter[1].done():
                return waiter
        return None

    def _pass_slot(self) -> None:
        """A slot was freed: the oldest waiter gets it to open a connection."""
        waiter = self._next_waiter()
        if waiter is not None:
            self._slots_taken += 1
            waiter[1].set_result(None)

    def _close(self, connection: _Connection) -> None:
        connection.abort()
        if connection in self._connections:
            self._connections.remove(connection)
            self._slots_taken -= 1
            self._pass_slot()

    def _release(self, connection: _Connection, *, reusable: bool) -> None:
        if not reusable or self._closed or connection not in self._connections:
            self._close(connection)
            return
        waiter = self._next_waiter()
        if waiter is not None:
            origin, future = waiter
            if origin == connection.origin:
                connection.reused = True
                future.set_result(connection)
            else:
                # The slot moves to a waiter for another host.
                connection.abort()
                self._connections.remove(connection)
                future.set_result(None)
            return
        if self._idle_count >= self.max_keepalive_connections:
            self._close(connection)
            return
        now = asyncio.get_running_loop().time()
        connection.idle_since = now
        idle = self._idle.setdefault(connection.origin, deque())
        idle.append(connection)
        self._idle_count += 1
        # Taken from the right, so the expired ones gather on the left.
        while idle and self.keepalive_expiry is not None and now - idle[0].idle_since >= self.keepalive_expiry:
            self._idle_count -= 1
            self._close(idle.popleft())

    # Connections

    async def _connect(self, origin: Origin, timeout: float | None, request: httpx.Request) -> _Connection:
        """Opens a connection in a slot already held; the slot is freed if that fails."""
        scheme, host, port = origin
        try:
            async with asyncio.timeout(timeout):
                _, connection = await asyncio.get_running_loop().create_connection(
                    lambda: _Connection(origin),
                    host,
                    port,
                    ssl=self._tls() if scheme == "https" else None,
                    server_hostname=host if scheme == "https" else None,
                )
        except BaseException as exc:
            self._slots_taken -= 1
            self._pass_slot()
            if isinstance(exc, TimeoutError):
                raise httpx.ConnectTimeout(f"Timed out connecting to {host}:{port}.", request=request) from None
            if isinstance(exc, OSError):
                raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from exc
            raise
        if self._closed:
            connection.abort()
            raise RuntimeError("The transport has been closed.")
        self._connections.add(connection)
        return connection

    def _tls(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context()
        return self._ssl_context

    async def _exchange(self, connection: _Connection, data: bytes, request: httpx.Request, timeouts: dict):
        await self._send(connection, data, request, timeouts.get("write"))
        read_timeout = timeouts.get("read")
        buffer = bytearray()
        while True:
            head = await self._read_head(connection, buffer, request, read_timeout)
            version, status, reason, headers = _parse_head(head, request)
            # Interim answers (100 Continue, 103 Early Hints) come before the real one.
            if not 100 <= status < 200 or status == 101:
                break
        body = _body_framing(request, status, headers)
        keep_alive = _keeps_alive(version, request, headers) and status != 101
        stream = ResponseStream(self, connection, body, bytes(buffer), keep_alive, read_timeout, request)
        return httpx.Response(
            status,
            headers=headers,
            stream=stream,
            extensions={"http_version": version, "reason_phrase": reason},
        )

    async def _send(self, connection: _Connection, data: bytes, request: httpx.Request, timeout: float | None) -> None:
        try:
            connection.write(data)
            async with asyncio.timeout(timeout):
                await connection.drain()
        except TimeoutError:
            raise httpx.WriteTimeout("Timed out sending the request.", request=request) from None
        except OSError as exc:
            if connection.reused:
                raise _StaleConnection from exc
            raise httpx.WriteError(str(exc) or type(exc).__name__, request=request) from exc

    async def _read_head(
        self, connection: _Connection, buffer: bytearray, request: httpx.Request, timeout: float | None
    ) -> bytes:
        """The status line and headers; what follows them stays in `buffer`."""
        searched = 0
        while True:
            end = buffer.find(b"\r\n\r\n", searched)
            if end > MAX_HEADER_BYTES:
                raise httpx.RemoteProtocolError("The response headers are too large.", request=request)
            if end >= 0:
                head = bytes(buffer[:end])
                del buffer[: end + 4]
                return head
            if len(buffer) > MAX_HEADER_BYTES:
                raise httpx.RemoteProtocolError("The response headers are too large.", request=request)
            searched = max(len(buffer) - 3, 0)
            try:
                data = await _receive(connection, timeout, request)
            except httpx.ReadError:
                if connection.reused and not buffer:
                    raise _StaleConnection from None
                raise
            if not data:
                if connection.reused and not buffer:
                    raise _StaleConnection
                raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)
            buffer += data


class ResponseStream(httpx.AsyncByteStream):
    """A response body, yielded piece by piece as the socket delivers it, or handed to a receiver."""

    def __init__(
        self,
        transport: StreamTransport,
        connection: _Connection,
        body: _Body,
        buffered: bytes,
        keep_alive: bool,
        read_timeout: float | None,
        request: httpx.Request,
    ) -> None:
        self._transport = transport
        self._connection: _Connection | None = connection
        self._body = body
        self._buffered = buffered
        self._keep_alive = keep_alive
        self._read_timeout = read_timeout
        self._request = request
        if body.complete:
            self._finish(reusable=keep_alive and not buffered)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        body = self._body
        connection = self._connection
        if connection is None:
            return
        try:
            if self._buffered:
                data, self._buffered = self._buffered, b""
                piece = body.feed(data, self._request)
                if piece:
                    yield piece
            while not body.complete:
                data = await _receive(connection, self._read_timeout, self._request)
                if not data:
                    body.ended(self._request)
                    break
                piece = body.feed(data, self._request)
                if piece:
                    yield piece
        except BaseException:
            self._finish(reusable=False)
            raise
        self._finish(reusable=self._keep_alive and not body.closes_connection)

    async def stream_to(self, receive: Callable[[bytes], None], pacing: PacedReads | None = None) -> None:
        """Hands each piece of the body to `receive` as the socket delivers it; returns at its end.

        `receive` runs in the socket's own callback, or in `pacing.pull()`, so it must not block;
        an exception it raises ends the stream with that exception. With `pacing`, the receiver
        decides when the socket is read. The read timeout does not apply here: the caller times
        the stream as a whole.
        """
        connection = self._connection
        if connection is None:
            return
        delivery = _Delivery(self._body, receive, self._request, asyncio.get_running_loop().create_future())
        if pacing is not None:
            pacing.connection = connection
        try:
            if self._buffered:
                data, self._buffered = self._buffered, b""
                delivery.data(data)
            if not delivery.finished.done():
                connection.listen(delivery)
            await delivery.finished
        except BaseException:
            self._finish(reusable=False)
            raise
        finally:
            if pacing is not None:
                pacing.connection = None
            connection.unlisten()
        self._finish(reusable=self._keep_alive and not self._body.closes_connection)

    async def aclose(self) -> None:
        # Before the end of the body, the socket is closed rather than drained.
        self._finish(reusable=False)

    def _finish(self, *, reusable: bool) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            self._transport._release(connection, reusable=reusable and self._body.complete)


class PacedReads:
    """Lets the receiver of a streamed body (`ResponseStream.stream_to`) choose when the socket is read.

    After `hold()`, what the server sends waits in the kernel's socket buffer; `pull()` takes all
    of it in one read, or, when nothing has come, lets pieces through as they arrive again, as
    `release()` does. A receiver that passes text on at intervals thus reads each socket once
    per interval instead of once per piece. Before the body streams, after it ends and on TLS
    connections, all three do nothing: pieces arrive as they come.
    """

    __slots__ = ("connection",)

    def __init__(self) -> None:
        self.connection: _Connection | None = None

    def hold(self) -> None:
        if self.connection is not None:
            self.connection.hold()

    def pull(self) -> None:
        if self.connection is not None:
            self.connection.pull()

    def release(self) -> None:
        if self.connection is not None:
            self.connection.release()


class _Delivery:
    """A body streaming to `receive`: framing undone piece by piece, `finished` resolved at its end.

    The connection calls `data` with each piece it receives and `ended` once, at EOF or loss.
    """

    def __init__(
        self, body: _Body, receive: Callable[[bytes], None], request: httpx.Request, finished: asyncio.Future[None]
    ) -> None:
        self.body = body
        self.receive = receive
        self.request = request
        self.finished = finished

    def data(self, data: bytes) -> None:
        if self.finished.done():
            return
        try:
            piece = self.body.feed(data, self.request)
            if piece:
                self.receive(piece)
            if self.body.complete:
                self.finished.set_result(None)
        except Exception as exc:
            self.finished.set_exception(exc)

    def ended(self, error: Exception | None) -> None:
        if self.finished.done():
            return
        if error is not None:
            failure = httpx.ReadError(str(error) or type(error).__name__, request=self.request)
            failure.__cause__ = error
            self.finished.set_exception(failure)
            return
        try:
            self.body.ended(self.request)
        except Exception as exc:
            self.finished.set_exception(exc)
        else:
            self.finished.set_result(None)


class _Body:
    """Body framing: chunked, Content-Length, until the server closes, or none at all."""

    complete = False
    # The connection cannot carry another response: bytes came after the body, or the body ends with it.
    closes_connection = False

    def feed(self, data: bytes, request: httpx.Request) -> bytes:
        raise NotImplementedError

    def ended(self, request: httpx.Request) -> None:
        raise httpx.RemoteProtocolError(
            "peer closed connection without sending complete message body: incomplete chunked read", request=request
        )


class _NoBody(_Body):
    complete = True

    def feed(self, data: bytes, request: httpx.Request) -> bytes:
        self.closes_connection = True
        return b""


class _UntilClose(_Body):
    closes_connection = True

    def feed(self, data: bytes, request: httpx.Request) -> bytes:
        return data

    def ended(self, request: httpx.Request) -> None:
        self.complete = True


class _LengthBody(_Body):
    def __init__(self, length: int) -> None:
        self.length = length
        self.remaining = length
        self.complete = length == 0

    def feed(self, data: bytes, request: httpx.Request) -> bytes:
        if len(data) >= self.remaining:
            self.closes_connection = len(data) > self.remaining
            data = data[: self.remaining]
            self.complete = True
        self.remaining -= len(data)
        return data

    def ended(self, request: httpx.Request) -> None:
        received = self.length - self.remaining
        raise httpx.RemoteProtocolError(
            f"peer closed connection without sending complete message body: "
            f"received {received} bytes, expected {self.length}",
            request=request,
        )


class _ChunkedBody(_Body):
    """A chunked body's data as it arrives, including parts of chunks not yet complete."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._remaining = 0  # data bytes left in the current chunk
        self._state = "size"  # size, data, data-end, trailer

    def feed(self, data: bytes, request: httpx.Request) -> bytes:
        buffer = self._buffer
        buffer += data
        pieces = []
        while buffer:
            if self._state == "data":
                piece = bytes(buffer[: self._remaining])
                del buffer[: len(piece)]
                pieces.append(piece)
                self._remaining -= len(piece)
                if not self._remaining:
                    self._state = "data-end"
            elif self._state == "size":
                line = self._line(request)
                if line is None:
                    break
                size = _chunk_size(line, request)
                self._state, self._remaining = ("data", size) if size else ("trailer", 0)
            elif self._state == "data-end":
                if len(buffer) < 2:
                    break
                if buffer[:2] != b"\r\n":
                    raise httpx.RemoteProtocolError("A chunk of the response ends without CRLF.", request=request)
                del buffer[:2]
                self._state = "size"
            else:
                line = self._line(request)
                if line is None:
                    break
                if not line:
                    self.complete = True
                    self.closes_connection = bool(buffer)
                    break
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def _line(self, request: httpx.Request) -> bytes | None:
        buffer = self._buffer
        end = buffer.find(b"\r\n")
        if end < 0:
            if len(buffer) > MAX_CHUNK_LINE_BYTES:
                raise httpx.RemoteProtocolError("A chunk-size or trailer line is too long.", request=request)
            return None
        if end > MAX_CHUNK_LINE_BYTES:
            raise httpx.RemoteProtocolError("A chunk-size or trailer line is too long.", request=request)
        line = bytes(buffer[:end])
        del buffer[: end + 2]
        return line


async def _receive(connection: _Connection, timeout: float | None, request: httpx.Request) -> bytes:
    """The bytes the socket has now (waiting for some), or b"" at EOF."""
    try:
        if timeout is None:
            return await connection.read()
        async with asyncio.timeout(timeout):
            return await connection.read()
    except TimeoutError:
        raise httpx.ReadTimeout("Timed out reading the response.", request=request) from None
    except OSError as exc:
        raise httpx.ReadError(str(exc) or type(exc).__name__, request=request) from exc


def _origin(url: httpx.URL) -> Origin:
    scheme = url.scheme
    if scheme not in DEFAULT_PORTS:
        raise httpx.UnsupportedProtocol(f"Request URL has an unsupported protocol '{scheme}://'.")
    if not url.host:
        raise httpx.UnsupportedProtocol("Request URL is missing a host.")
    return scheme, url.host, url.port or DEFAULT_PORTS[scheme]


def _request_bytes(request: httpx.Request, body: bytes) -> bytes:
    headers = request.headers
    lines = [request.method.encode("ascii"), b" ", request.url.raw_path, b" HTTP/1.1\r\n"]
    if "host" not in headers:
        lines += [b"Host: ", request.url.netloc, b"\r\n"]
    for name, value in headers.raw:
        lines += [name, b": ", value, b"\r\n"]
    chunked = "transfer-encoding" in headers
    if body and not chunked and "content-length" not in headers:
        lines.append(b"Content-Length: %d\r\n" % len(body))
    lines.append(b"\r\n")
    if chunked:
        lines += [b"%x\r\n" % len(body), body, b"\r\n0\r\n\r\n"] if body else [b"0\r\n\r\n"]
    else:
        lines.append(body)
    return b"".join(lines)


def _parse_head(head: bytes, request: httpx.Request) -> tuple[bytes, int, bytes, list[tuple[bytes, bytes]]]:
    status_line, *header_lines = head.split(b"\r\n")
    version, _, rest = status_line.partition(b" ")
    code, _, reason = rest.partition(b" ")
    if version not in (b"HTTP/1.1", b"HTTP/1.0") or len(code) != 3 or not code.isdigit():
        raise httpx.RemoteProtocolError(f"Malformed status line {status_line[:80]!r}.", request=request)
    headers = []
    for line in header_lines:
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):
            raise httpx.RemoteProtocolError(f"Malformed response header {line[:80]!r}.", request=request)
        headers.append((name, value.strip(b" \t")))
    return version, int(code), reason, headers


def _header_values(headers: list[tuple[bytes, bytes]], name: bytes) -> list[bytes]:
    return [value for key, value in headers if key.lower() == name]


def _body_framing(request: httpx.Request, status: int, headers: list[tuple[bytes, bytes]]) -> _Body:
    if request.method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return _NoBody()
    codings = [
        coding.strip().lower()
        for value in _header_values(headers, b"transfer-encoding")
        for coding in value.split(b",")
    ]
    if codings:
        return _ChunkedBody() if codings[-1] == b"chunked" else _UntilClose()
    lengths = {part.strip() for value in _header_values(headers, b"content-length") for part in value.split(b",")}
    if not lengths:
        return _UntilClose()
    if len(lengths) != 1 or not next(iter(lengths)).isdigit():
        raise httpx.RemoteProtocolError("The response has an invalid Content-Length.", request=request)
    return _LengthBody(int(next(iter(lengths))))


def _keeps_alive(version: bytes, request: httpx.Request, headers: list[tuple[bytes, bytes]]) -> bool:
    if "close" in request.headers.get("connection", "").lower():
        return False
    tokens = {token.strip().lower() for value in _header_values(headers, b"connection") for token in value.split(b",")}
    if b"close" in tokens:
        return False
    return version == b"HTTP/1.1" or b"keep-alive" in tokens


def _chunk_size(line: bytes, request: httpx.Request) -> int:
    size = line.split(b";", 1)[0].strip(b" \t")
    if not _HEX.fullmatch(size) or len(size) > 16:
        raise httpx.RemoteProtocolError(f"Malformed chunk size {line[:80]!r}.", request=request)
    return int(size, 16)

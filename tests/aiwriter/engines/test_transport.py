import asyncio
import contextlib
import json
import os
import socket
import time

import httpx
import pytest

from aiwriter.engines import PacedReads, StreamTransport

MODEL = "llama3.2:1b"


class RawServer:
    """A loopback HTTP server whose every byte the test writes, counting the connections it accepts."""

    def __init__(self, handler) -> None:
        self.handler = handler
        self.accepted = 0
        self.closed_by_client = asyncio.Event()

    async def start(self) -> "RawServer":
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def serve():
    servers = []

    async def start(handler) -> RawServer:
        server = await RawServer(handler).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.server.close()


@pytest.fixture
async def make_client():
    clients = []

    def make(url: str, **limits) -> httpx.AsyncClient:
        client = httpx.AsyncClient(base_url=url, transport=StreamTransport(**limits), timeout=5)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def read_request(reader: asyncio.StreamReader) -> bytes | None:
    """One request's head (its body, if any, is read and dropped); None when the client closed."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            await reader.readexactly(int(line.split(b":")[1]))
    return head


def answer(body: bytes, *, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


async def keep_answering(reader, writer, body=b"ok"):
    while await read_request(reader) is not None:
        writer.write(answer(body))
        await writer.drain()


def two_chunks(next_piece: asyncio.Event, then):
    """A handler that answers with a chunk, a second one once `next_piece` is set, then calls `then`."""

    async def handler(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nfirst\n\r\n")
        await writer.drain()
        await next_piece.wait()
        writer.write(b"7\r\nsecond\n\r\n0\r\n\r\n")
        await writer.drain()
        await then(reader, writer)

    return handler


async def test_chunked_pieces_reach_the_caller_before_the_next_is_sent(serve, make_client):
    next_piece = asyncio.Event()
    server = await serve(two_chunks(next_piece, lambda reader, writer: read_request(reader)))
    client = make_client(server.url)
    async with client.stream("POST", "/api/chat", content=b"{}") as response:
        pieces = response.aiter_raw()
        assert await asyncio.wait_for(anext(pieces), 1) == b"first\n"
        next_piece.set()
        assert [piece async for piece in pieces] == [b"second\n"]
    assert response.http_version == "HTTP/1.1"


async def test_chunk_split_across_reads_is_yielded_as_it_arrives(serve, make_client):
    async def handler(reader, writer):
        await read_request(reader)
        for part in (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"a\r\nhello",
            b" tea\n\r",
            b"\n0\r\n\r\n",
        ):
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(0.02)
        await read_request(reader)

    server = await serve(handler)
    response = await make_client(server.url).get("/")

    assert response.content == b"hello tea\n"


async def test_content_length_body_and_request_framing(serve, make_client):
    seen = []

    async def handler(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        seen.append(head)
        seen.append(await reader.readexactly(13))
        writer.write(answer(b'{"version":"0.13.1"}', extra=b"Content-Type: application/json\r\n"))
        await writer.drain()
        await read_request(reader)

    server = await serve(handler)
    response = await make_client(server.url).post("/api/show?verbose=1", content=b'{"model":"x"}')

    assert response.status_code == 200 and response.json() == {"version": "0.13.1"}
    head = seen[0].decode()
    assert head.startswith("POST /api/show?verbose=1 HTTP/1.1\r\n")
    assert f"Host: {server.url.removeprefix('http://')}\r\n" in head and "Content-Length: 13\r\n" in head
    assert seen[1] == b'{"model":"x"}'


async def test_sequential_requests_reuse_one_connection(serve, make_client):
    server = await serve(keep_answering)
    client = make_client(server.url)

    for _ in range(3):
        assert (await client.get("/")).text == "ok"

    assert server.accepted == 1


async def test_streams_to_the_simulator_reuse_its_connection(ollama_sim, make_client):
    client = make_client(ollama_sim.url)
    for prompt in ("one", "two"):
        async with client.stream("POST", "/api/generate", json={"model": MODEL, "prompt": prompt}) as response:
            lines = [json.loads(line) async for line in response.aiter_lines()]
        assert lines[-1]["done"] is True and len(lines) > 2

    first, second = ollama_sim.requests
    assert first.connection_id == second.connection_id


async def test_idle_connection_closed_by_the_server_is_not_used(serve, make_client):
    async def answer_once(reader, writer):
        await read_request(reader)
        writer.write(answer(b"ok"))
        await writer.drain()

    server = await serve(answer_once)
    client = make_client(server.url)

    assert (await client.get("/")).text == "ok"
    await asyncio.sleep(0.05)  # the server's close has arrived
    assert (await client.get("/")).text == "ok"
    assert server.accepted == 2


async def test_request_on_a_connection_the_server_dropped_is_retried_once(serve, make_client):
    requests = []

    async def drop_the_second_request(reader, writer):
        while (head := await read_request(reader)) is not None:
            requests.append(head)
            if len(requests) == 2:
                return  # closed without a byte of response
            writer.write(answer(b"ok"))
            await writer.drain()

    server = await serve(drop_the_second_request)
    client = make_client(server.url)

    assert (await client.get("/")).text == "ok"
    assert (await client.get("/")).text == "ok"
    assert len(requests) == 3 and server.accepted == 2


async def test_fresh_connection_closed_before_a_response_is_not_retried(serve, make_client):
    async def close_at_once(reader, writer):
        await read_request(reader)

    server = await serve(close_at_once)

    with pytest.raises(httpx.RemoteProtocolError, match="Server disconnected without sending a response"):
        await make_client(server.url).get("/")
    assert server.accepted == 1


async def test_connection_refused_is_a_connect_error(make_client):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    with pytest.raises(httpx.ConnectError):
        await make_client(f"http://127.0.0.1:{port}").get("/")


async def test_connect_timeout(make_client):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    # Fill the accept queue: further connection attempts get no answer.
    fillers = [socket.socket() for _ in range(4)]
    for filler in fillers:
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
    await asyncio.sleep(0.05)
    client = make_client(f"http://127.0.0.1:{port}")
    started = time.monotonic()
    try:
        with pytest.raises(httpx.ConnectTimeout):
            await client.get("/", timeout=httpx.Timeout(5, connect=0.2))
    finally:
        for sock in [*fillers, server]:
            sock.close()
    assert time.monotonic() - started < 2


async def test_read_timeout(serve, make_client):
    async def never_answer(reader, writer):
        await read_request(reader)
        await asyncio.sleep(5)

    server = await serve(never_answer)

    with pytest.raises(httpx.ReadTimeout):
        await make_client(server.url).get("/", timeout=httpx.Timeout(5, read=0.1))


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nonly part",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nwhole\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
    ],
    ids=["mid-chunk", "between-chunks", "content-length"],
)
async def test_body_cut_short_is_a_protocol_error(serve, make_client, reply):
    async def cut(reader, writer):
        await read_request(reader)
        writer.write(reply)
        await writer.drain()

    server = await serve(cut)

    with pytest.raises(httpx.RemoteProtocolError, match="peer closed connection"):
        await make_client(server.url).get("/")


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (70 * 1024) + b"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"0" * 2000,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nBad Header: x\r\nContent-Length: 2\r\n\r\nok",
        b"ICY 200 OK\r\nContent-Length: 2\r\n\r\nok",
    ],
    ids=["headers-too-large", "chunk-size-line-too-long", "bad-chunk-size", "bad-length", "bad-header", "status"],
)
async def test_malformed_responses_are_protocol_errors(serve, make_client, reply):
    async def send(reader, writer):
        await read_request(reader)
        writer.write(reply)
        await writer.drain()
        await read_request(reader)

    server = await serve(send)

    with pytest.raises(httpx.RemoteProtocolError):
        await make_client(server.url).get("/")


async def test_closing_a_response_early_closes_its_socket(ollama_sim, make_client):
    ollama_sim.tokens_per_second = 50
    client = make_client(ollama_sim.url)

    async with client.stream("POST", "/api/generate", json={"model": MODEL, "prompt": "long"}) as response:
        lines = response.aiter_lines()
        await anext(lines)
        closed_at = time.monotonic()
    disconnect = await ollama_sim.wait_for_disconnect_async(timeout=1.0)
    assert disconnect.at - closed_at < 0.1 and disconnect.chunks_sent < 10

    assert (await client.get("/api/version")).status_code == 200
    first, second = ollama_sim.requests
    assert first.connection_id != second.connection_id


async def test_server_that_says_close_is_not_reused(serve, make_client):
    async def answer_and_close(reader, writer):
        while await read_request(reader) is not None:
            writer.write(answer(b"ok", extra=b"Connection: close\r\n"))
            await writer.drain()

    server = await serve(answer_and_close)
    client = make_client(server.url)

    assert (await client.get("/")).text == "ok"
    assert (await client.get("/")).text == "ok"
    assert server.accepted == 2


async def test_a_full_pool_makes_the_next_request_wait_for_a_release(serve, make_client):
    release = asyncio.Event()

    async def hold_first_answer(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab\n\r\n")
        await writer.drain()
        await release.wait()
        writer.write(b"0\r\n\r\n")
        await keep_answering(reader, writer, body=b"second")

    server = await serve(hold_first_answer)
    client = make_client(server.url, max_connections=1)

    async with client.stream("GET", "/") as first:
        pieces = first.aiter_raw()
        await anext(pieces)
        waiting = asyncio.create_task(client.get("/"))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        release.set()
        assert [piece async for piece in pieces] == []
    assert (await asyncio.wait_for(waiting, 1)).text == "second"
    assert server.accepted == 1


async def test_a_full_pool_gives_a_closed_connections_slot_to_the_waiter(serve, make_client):
    async def hold_the_first(reader, writer):
        if server.accepted == 1:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab\n\r\n")
        await keep_answering(reader, writer)

    server = await serve(hold_the_first)
    client = make_client(server.url, max_connections=1)

    async with client.stream("GET", "/") as first:
        pieces = first.aiter_raw()
        await anext(pieces)
        waiting = asyncio.create_task(client.get("/"))
        await asyncio.sleep(0.05)
        assert not waiting.done()
    assert (await asyncio.wait_for(waiting, 1)).status_code == 200
    assert server.accepted == 2


async def test_pool_timeout(serve, make_client):
    async def hold(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab\n\r\n")
        await asyncio.sleep(5)

    server = await serve(hold)
    client = make_client(server.url, max_connections=1)

    async with client.stream("GET", "/") as first:
        pieces = first.aiter_raw()
        await anext(pieces)
        with pytest.raises(httpx.PoolTimeout):
            await client.get("/", timeout=httpx.Timeout(5, pool=0.1))


async def test_idle_connections_beyond_the_keepalive_limit_are_closed(serve, make_client):
    server = await serve(keep_answering)
    client = make_client(server.url, max_connections=3, max_keepalive_connections=1)

    await asyncio.gather(*(client.get("/") for _ in range(3)))
    await asyncio.gather(*(client.get("/") for _ in range(3)))

    # Of three connections, one stayed idle and was reused by the second round.
    assert server.accepted == 5


async def test_no_body_responses_are_complete_without_reading(serve, make_client):
    async def no_content(reader, writer):
        while await read_request(reader) is not None:
            writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            await writer.drain()

    server = await serve(no_content)
    client = make_client(server.url)

    for _ in range(2):
        response = await client.delete("/")
        assert response.status_code == 204 and response.content == b""
    assert server.accepted == 1


async def test_closing_the_transport_closes_its_connections(serve, make_client):
    eofs = []

    async def hold(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab\n\r\n")
        await writer.drain()
        eofs.append(await reader.read())

    server = await serve(hold)
    transport = StreamTransport()
    client = httpx.AsyncClient(base_url=server.url, transport=transport)
    response = await client.send(client.build_request("GET", "/"), stream=True)
    pieces = response.aiter_raw()
    await anext(pieces)
    await asyncio.sleep(0.05)
    assert eofs == []

    await transport.aclose()

    for _ in range(50):
        if eofs:
            break
        await asyncio.sleep(0.01)
    assert eofs == [b""]
    with contextlib.suppress(httpx.HTTPError):
        await response.aclose()


@pytest.fixture
async def transport():
    """A transport used without httpx's client, as the Ollama client uses it; closed after the test."""
    transport = StreamTransport()
    yield transport
    await transport.aclose()


async def send(transport: StreamTransport, method: str, url: str) -> httpx.Response:
    return await transport.handle_async_request(httpx.Request(method, url, content=b"{}" if method == "POST" else None))


async def test_a_body_streamed_to_a_receiver_arrives_piece_by_piece_and_frees_its_connection(serve, transport):
    next_piece = asyncio.Event()
    server = await serve(two_chunks(next_piece, keep_answering))
    received = []

    def receive(piece: bytes) -> None:
        received.append(piece)
        next_piece.set()

    response = await send(transport, "POST", f"{server.url}/api/chat")
    await asyncio.wait_for(response.stream.stream_to(receive), 2)

    assert received == [b"first\n", b"second\n"], "each piece reaches the receiver before the next is sent"
    assert await (await send(transport, "GET", server.url)).aread() == b"ok"
    assert server.accepted == 1, "the connection went back to the pool"


async def test_a_receiver_that_fails_ends_the_stream_and_its_connection(serve, transport):
    async def handler(reader, writer):
        if server.accepted == 1:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbad\n\r\n")
            await writer.drain()
        await keep_answering(reader, writer)

    server = await serve(handler)

    def receive(piece: bytes) -> None:
        raise ValueError(f"cannot use {piece!r}")

    response = await send(transport, "POST", f"{server.url}/api/chat")
    with pytest.raises(ValueError, match="cannot use"):
        await asyncio.wait_for(response.stream.stream_to(receive), 2)

    assert await (await send(transport, "GET", server.url)).aread() == b"ok"
    assert server.accepted == 2, "a body left half read is never reused"


async def test_a_body_cut_off_while_streaming_to_a_receiver_is_an_error(serve, transport):
    async def handler(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nfirst\n\r\n")
        await writer.drain()

    server = await serve(handler)
    received = []

    response = await send(transport, "POST", f"{server.url}/api/chat")
    with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
        await asyncio.wait_for(response.stream.stream_to(received.append), 2)
    assert received == [b"first\n"]


def chunk(text: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(text), text)


async def test_held_reads_wait_in_the_socket_and_come_in_one_read_when_pulled(serve, transport):
    sent = asyncio.Queue()

    async def handler(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(b"first\n"))
        while (piece := await sent.get()) is not None:
            writer.write(piece)
            await writer.drain()
        await keep_answering(reader, writer)

    server = await serve(handler)
    pacing = PacedReads()
    received = []
    holding = True

    def receive(piece: bytes) -> None:
        received.append(piece)
        if holding:
            pacing.hold()

    response = await send(transport, "POST", f"{server.url}/api/chat")
    streaming = asyncio.create_task(response.stream.stream_to(receive, pacing))
    await until(lambda: received == [b"first\n"])
    for text in (b"second\n", b"third\n"):
        sent.put_nowait(chunk(text))
        await asyncio.sleep(0.05)
    assert received == [b"first\n"], "held: the pieces wait in the socket"

    pacing.pull()
    assert received == [b"first\n", b"second\nthird\n"], "one read takes in everything that waited"

    holding = False
    pacing.pull()  # nothing waits now: pieces come through as they arrive again
    received.clear()
    sent.put_nowait(chunk(b"fourth\n"))
    await until(lambda: received == [b"fourth\n"])
    sent.put_nowait(b"0\r\n\r\n")
    sent.put_nowait(None)
    await asyncio.wait_for(streaming, 2)

    assert await (await send(transport, "GET", server.url)).aread() == b"ok", "a held connection is read again"
    assert server.accepted == 1, "the connection went back to the pool"


async def held_after_one_piece(serve, transport, then) -> tuple[PacedReads, list[bytes], asyncio.Task]:
    """A stream whose server sends one piece, then awaits `then(reader)`; its receiver holds the reads."""

    async def handler(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(b"first\n"))
        await writer.drain()
        await then(reader)

    server = await serve(handler)
    pacing = PacedReads()
    received = []

    def receive(piece: bytes) -> None:
        received.append(piece)
        pacing.hold()

    response = await send(transport, "POST", f"{server.url}/api/chat")
    streaming = asyncio.create_task(response.stream.stream_to(receive, pacing))
    await until(lambda: received)
    return pacing, received, streaming


async def test_a_stream_cut_off_while_held_ends_with_an_error_on_the_next_pull(serve, transport):
    cut = asyncio.Event()
    pacing, received, streaming = await held_after_one_piece(serve, transport, lambda reader: cut.wait())
    cut.set()  # the server closes the connection mid-body
    await asyncio.sleep(0.05)
    assert not streaming.done(), "held: the end waits in the socket too"

    pacing.pull()
    with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
        await asyncio.wait_for(streaming, 2)
    assert received == [b"first\n"]


async def test_a_read_that_fails_while_held_ends_the_stream_with_that_error(serve, transport, monkeypatch):
    # The server waits until the client closes the connection.
    pacing, _, streaming = await held_after_one_piece(serve, transport, lambda reader: reader.read())

    def reset(fd: int, size: int) -> bytes:
        raise ConnectionResetError("Connection reset by peer")

    with monkeypatch.context() as patch:
        patch.setattr(os, "read", reset)  # only for the pull: the socket itself stays sound
        pacing.pull()
    with pytest.raises(httpx.ReadError, match="reset by peer"):
        await asyncio.wait_for(streaming, 2)


async def until(condition, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.005)

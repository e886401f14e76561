"""blogsite.reactor: daphne's Twisted reactor sends WebSocket frames at once when the socket can take them."""

import asyncio
import contextlib
import socket
import subprocess
import sys

import pytest
from autobahn.twisted.websocket import WebSocketServerProtocol
from twisted.internet import protocol

from blogsite.reactor import EagerWriteReactor


class Held(protocol.Protocol):
    """An HTTP connection, as far as the reactor can tell."""

    def connectionMade(self) -> None:
        self.factory.connections.append(self)


class HeldWebSocket(WebSocketServerProtocol):
    """A WebSocket connection (daphne's protocol is one), without autobahn's handshake."""

    def connectionMade(self) -> None:
        self.factory.connections.append(self)


class HeldFactory(protocol.ServerFactory):
    def __init__(self, kind: type[protocol.Protocol]) -> None:
        self.protocol = kind
        self.connections: list[protocol.Protocol] = []


def connect(kind: type[protocol.Protocol]):
    """A server-side Twisted transport on the reactor and the client's socket, both on loopback."""
    loop = asyncio.new_event_loop()
    reactor = EagerWriteReactor(loop)
    factory = HeldFactory(kind)
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    client = socket.create_connection(("127.0.0.1", port.getHost().port))
    for _ in range(100):
        if factory.connections:
            break
        loop.run_until_complete(asyncio.sleep(0.01))
    (server,) = factory.connections
    yield reactor, loop, server.transport, client
    client.close()
    server.transport.abortConnection()
    port.stopListening()
    loop.run_until_complete(asyncio.sleep(0.01))
    loop.close()


@pytest.fixture
def connected():
    yield from connect(HeldWebSocket)


@pytest.fixture
def connected_http():
    yield from connect(Held)


def test_a_write_leaves_at_once_without_registering_the_socket(connected):
    reactor, _loop, transport, client = connected

    transport.write(b"a frame")

    client.settimeout(1)
    assert client.recv(100) == b"a frame", "sent before the event loop ran again"
    assert transport not in reactor.getWriters()


def test_what_the_socket_cannot_take_yet_is_written_by_the_loop(connected):
    reactor, loop, transport, client = connected
    data = bytes(range(256)) * 40_000  # 10 MB, far beyond the socket buffers

    transport.write(data)

    assert transport in reactor.getWriters(), "the rest waits for the socket to be writable"
    client.setblocking(False)
    received = bytearray()
    for _ in range(2_000):
        if len(received) == len(data):
            break
        loop.run_until_complete(asyncio.sleep(0))
        with contextlib.suppress(BlockingIOError):
            received += client.recv(1 << 20)
    assert received == data
    loop.run_until_complete(asyncio.sleep(0))
    assert transport not in reactor.getWriters()


def test_an_http_response_keeps_twisteds_next_turn_write_which_sends_its_pieces_together(connected_http):
    reactor, loop, transport, client = connected_http

    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(b"body")

    assert transport in reactor.getWriters()
    loop.run_until_complete(asyncio.sleep(0.05))
    client.settimeout(1)
    assert client.recv(100) == b"HTTP/1.1 200 OK\r\n\r\nbody"


def test_a_connection_with_a_paused_producer_keeps_twisteds_usual_path(connected):
    reactor, loop, transport, client = connected

    class Producer:
        def pauseProducing(self) -> None: ...
        def resumeProducing(self) -> None: ...
        def stopProducing(self) -> None: ...

    transport.registerProducer(Producer(), True)
    transport.producerPaused = True  # as Twisted marks it once the buffer is full

    transport.write(b"later")

    assert transport in reactor.getWriters()
    loop.run_until_complete(asyncio.sleep(0.05))
    client.settimeout(1)
    assert client.recv(100) == b"later"


def test_daphne_keeps_this_reactor_once_installed():
    # In a process of its own: a Twisted reactor is installed once per process.
    script = (
        "from blogsite import reactor; reactor.install();"
        "import daphne.cli;"
        "from twisted.internet import reactor; print(type(reactor).__name__)"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "EagerWriteReactor"

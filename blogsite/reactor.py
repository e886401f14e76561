"""The Twisted reactor daphne runs on: asyncio's, sending WebSocket frames at once.

Twisted's asyncio reactor never writes from inside `transport.write()`: it registers the socket
for writing and sends on the event loop's next turn, then unregisters it. For every WebSocket
frame that is two `epoll_ctl` calls, a loop callback through Twisted's logging context, and one
more loop turn before the editor's text leaves. Measured with py-spy on one daphne process
streaming to 1,000 editors, that machinery was about a tenth of the process's busy time on top
of the `send` itself, and the extra turn is a whole loop iteration of delay per frame when the
loop is busy. This reactor sends a WebSocket connection's data at once; only what the socket
cannot take yet is left to the loop, exactly as before.

Only upgraded WebSocket connections, where autobahn writes each message as one piece: an HTTP
response is written in several (head, body, end), and Twisted's next-turn write sends those
together; sending each at once cost cached pages about a fifth more CPU per request. Connections
with TLS, a paused or non-streaming producer, or a close or half-close under way also take
Twisted's usual path.
"""

import asyncio

from autobahn.twisted.websocket import WebSocketServerProtocol
from twisted.internet import tcp
from twisted.internet.asyncioreactor import AsyncioSelectorReactor
from twisted.internet.main import installReactor


class EagerWriteReactor(AsyncioSelectorReactor):
    def addWriter(self, writer) -> None:
        if writer not in self._writers and _plain_websocket(writer) and _write_now(writer):
            return
        super().addWriter(writer)


def _plain_websocket(writer) -> bool:
    return (
        isinstance(writer, tcp.Connection)
        and isinstance(writer.protocol, WebSocketServerProtocol)
        and not writer.TLS
        and writer.connected
        # Daphne's HTTP channel stays registered as the streaming producer of an upgraded WebSocket;
        # while it is not paused, a complete write asks nothing of it.
        and (writer.producer is None or (writer.streamingProducer and not writer.producerPaused))
        and not writer.disconnecting
        and not writer._writeDisconnecting
    )


def _write_now(connection: tcp.Connection) -> bool:
    """Sends what the socket takes now; True when nothing is left to wait for.

    `doWrite` ends with `stopWriting()`, which is a no-op for a socket that is not registered.
    A failed send leaves the data buffered, so the reactor's own `doWrite` meets the failure on
    the next turn and closes the connection the usual way.
    """
    failure = connection.doWrite()
    return failure is None and not connection.dataBuffer and not connection._tempDataLen


def install() -> EagerWriteReactor:
    """Installs the reactor on a new event loop; call before daphne (or anything using Twisted) is imported."""
    reactor = EagerWriteReactor(asyncio.new_event_loop())
    installReactor(reactor)
    return reactor

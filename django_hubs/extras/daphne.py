"""``python -m django_hubs.extras.daphne``: the ``daphne`` command, with backpressure and a redacted access log.

daphne's command line writes its access log straight to a stream (stdout, or the
``--access-log`` file), not through ``logging``, and its HTTP lines carry the full URL:
``GET /hubs/chat?id=...&access_token=...``. Under plain ``daphne`` the app's ``ready()``
already replaces that writer (:func:`django_hubs.security.redaction.cover_daphne_access_log`); this
entry point, which takes exactly daphne's arguments and runs daphne's own server, also
wraps the access logger it hands to the server, whatever application it loads.

It also gives daphne backpressure. daphne's ``send`` never waits: what a client does not
read piles up in Twisted's write buffer, without bound. Here ``websocket.send`` and
streamed ``http.response.body`` (Server-Sent Events) wait while that buffer is over
Twisted's 64 KiB mark, as uvicorn's do, so a hub connection's own bounds apply
(``HUBS_MAX_OUTGOING_BUFFER``, ``HUBS_TRANSPORT_SEND_TIMEOUT``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from daphne.cli import CommandLineInterface
from daphne.http_protocol import WebRequest
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol

from ..security.redaction import redact_value

ActionLogger = Callable[[str, str, dict[str, Any]], None]


def redacting(action_logger: ActionLogger) -> ActionLogger:
    def log_action(protocol: str, action: str, details: dict[str, Any]) -> None:
        action_logger(protocol, action, redact_value(details))

    return log_action


class SocketBuffer:
    """A Twisted push producer on one socket: Twisted pauses it while its write buffer is full.

    The socket already has a producer, the HTTP channel the WebSocket was upgraded from,
    which stops reading while writes are stalled: it keeps getting every call.
    """

    def __init__(self, previous: Any) -> None:
        self.previous = previous
        self.writable = asyncio.Event()
        self.writable.set()

    def pauseProducing(self) -> None:
        self.writable.clear()
        if self.previous is not None:
            self.previous.pauseProducing()

    def resumeProducing(self) -> None:
        self.writable.set()
        if self.previous is not None:
            self.previous.resumeProducing()

    def stopProducing(self) -> None:  # the connection is gone: nobody may wait any more
        self.writable.set()
        if self.previous is not None:
            self.previous.stopProducing()


def socket_buffer(transport: Any) -> SocketBuffer | None:
    """The transport's :class:`SocketBuffer`, registered on first use; ``None`` if it cannot be."""
    if hasattr(transport, "_hubs_socket_buffer"):
        known: SocketBuffer | None = transport._hubs_socket_buffer
        return known
    previous = getattr(transport, "producer", None)
    buffer: SocketBuffer | None = SocketBuffer(previous)
    try:
        if previous is not None:
            transport.unregisterProducer()
        transport.registerProducer(buffer, True)
    except (RuntimeError, AttributeError):  # a transport that does not take producers
        buffer = None
    transport._hubs_socket_buffer = buffer
    return buffer


def transport_of(protocol: Any, message: dict[str, Any]) -> Any:
    """The socket a message was written to, when the writer should wait for it to drain."""
    kind = message.get("type")
    if kind == "websocket.send" and isinstance(protocol, WebSocketProtocol):
        return protocol.transport
    if kind == "http.response.body" and message.get("more_body") and isinstance(protocol, WebRequest):
        channel = protocol.channel
        return channel.transport if channel is not None else None
    return None


class RedactingServer(Server):
    def __init__(self, *args: Any, action_logger: ActionLogger | None = None, **kwargs: Any) -> None:
        super().__init__(*args, action_logger=redacting(action_logger) if action_logger else None, **kwargs)

    def application_checker(self) -> None:
        """daphne's reaper, then: what it has just forgotten is left in no reference cycle.

        An upgraded request and its HTTP channel point at each other, the socket's
        :class:`SocketBuffer` at that channel, which points at the socket, and autobahn resolves
        a WebSocket's ``is_closed`` with the protocol itself: only the cyclic GC would free them,
        which Python 3.13 runs far later than 3.11 did, so a server churning sockets grew.
        """
        known = list(self.connections)
        super().application_checker()
        for protocol in known:
            if protocol in self.connections:
                continue
            if isinstance(protocol, WebSocketProtocol):
                protocol.is_closed = None
                buffer = getattr(protocol.transport, "_hubs_socket_buffer", None)
                if buffer is not None:
                    buffer.previous = None
            elif isinstance(protocol, WebRequest):
                protocol.channel = None

    async def handle_reply(self, protocol: Any, message: dict[str, Any]) -> None:
        await super().handle_reply(protocol, message)
        transport = transport_of(protocol, message)
        if transport is not None and (buffer := socket_buffer(transport)) is not None:
            await buffer.writable.wait()


class RedactingCommandLineInterface(CommandLineInterface):
    server_class = RedactingServer


def main() -> None:
    RedactingCommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()

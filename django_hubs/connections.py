"""Raw connection handlers: the transports without the hub protocol (``MapConnectionHandler<T>``).

A handler listed in ``HUBS`` is served like a hub (negotiate, WebSockets, Server-Sent
Events, long polling; the same origin check, authentication, CORS and bounds), but
there is no handshake, no record separator, no ping: each transport message (a
WebSocket message, the body of a POST) reaches :meth:`ConnectionHandler.receive` as it
came, and each :meth:`ConnectionHandler.send` goes out as data. That is what the
official clients' transport layer speaks (the JavaScript client's ``HttpConnection``).
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from .hub import Requirement, consumer_for


class RawTransport(Protocol):
    """What a handler needs of its connection (``server.raw.RawConnection`` is one), without importing it."""

    connection_id: str
    user: Any
    user_identifier: str | None
    items: dict[Any, Any]
    scope: dict[str, Any]
    transport: str

    def send(self, data: str | bytes) -> None: ...

    def close_nowait(self) -> None: ...


class ConnectionHandler:
    """Subclass it and list it in ``HUBS``; one instance serves one connection for its whole life.

    ``receive`` gets ``str`` for a text message (a WebSocket text frame, a POST sent as
    text, anything over Server-Sent Events) and ``bytes`` for a binary one. Calls to
    ``on_connected``, ``receive`` and ``on_disconnected`` come one at a time, in order;
    an exception in any of them ends the connection (and is logged), not the server.
    """

    #: Requirements set by ``@authorize`` on the class, as for a hub.
    authorization: ClassVar[tuple[Requirement, ...]] = ()

    connection: RawTransport

    @classmethod
    def get_user_identifier(cls, user: Any) -> str | None:
        """The user a connection belongs to: only that user may use its transport requests.

        The primary key, as text, by default (as ``Hub.get_user_identifier``).
        """
        if user is None or not getattr(user, "is_authenticated", False):
            return None
        pk = getattr(user, "pk", None)
        return None if pk is None else str(pk)

    @classmethod
    def as_asgi(cls) -> Any:
        """This handler as a Channels consumer for a ``URLRouter``, as ``Hub.as_asgi()``."""
        return consumer_for(cls)

    # --- what the connection is --------------------------------------------------------

    @property
    def connection_id(self) -> str:
        return self.connection.connection_id

    @property
    def user(self) -> Any:
        return self.connection.user

    @property
    def user_identifier(self) -> str | None:
        return self.connection.user_identifier

    @property
    def scope(self) -> dict[str, Any]:
        return self.connection.scope

    @property
    def transport(self) -> str:
        """``"WebSockets"``, ``"ServerSentEvents"`` or ``"LongPolling"``."""
        return self.connection.transport

    @property
    def items(self) -> dict[Any, Any]:
        """Per-connection state of your own."""
        return self.connection.items

    # --- what it does ------------------------------------------------------------------

    async def send(self, data: str | bytes) -> None:
        """Queue one message: a text frame for ``str``, a binary frame for ``bytes`` (WebSockets).

        Server-Sent Events carry text only: ``bytes`` there are a ``TypeError``. Long
        polling hands the client everything queued since its last poll as one message,
        as the official server does; on WebSockets each ``send`` is one message.
        A client that does not read closes the connection once ``HUBS_MAX_OUTGOING_BUFFER``
        bytes wait.
        """
        self.connection.send(data)

    async def close(self) -> None:
        """End the connection once what is queued is sent; the client sees its connection close."""
        self.connection.close_nowait()

    # --- override these ----------------------------------------------------------------

    async def on_connected(self) -> None:
        """Called once the transport is connected, before the first ``receive``."""

    async def receive(self, data: str | bytes) -> None:
        """One message from the client: ``str`` for text, ``bytes`` for binary."""

    async def on_disconnected(self, exception: BaseException | None) -> None:
        """Called when the connection ends; ``exception`` is why, or ``None`` for a clean close."""

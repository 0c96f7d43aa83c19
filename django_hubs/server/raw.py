"""One raw connection: a :class:`~django_hubs.connections.ConnectionHandler` on a transport.

The transports feed it whole messages (a WebSocket message, a POST body) and drain its
:class:`~django_hubs.server.outbox.Outbox`, as for a hub connection; there is no
handshake, framing or keep-alive. The bounds are the hub connection's: a message over
``HUBS_MAX_MESSAGE_SIZE`` and a peer that does not read (``HUBS_MAX_OUTGOING_BUFFER``,
``HUBS_TRANSPORT_SEND_TIMEOUT``) end the connection, so does an expired access token.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .. import errors
from ..errors import HubError
from ..protocol.errors import MessageTooLargeError
from .connection import State, scope_expiry
from .heartbeat import heartbeat
from .outbox import Outbox, OutboxOverflow, TextRecord

if TYPE_CHECKING:
    from .endpoints import HandlerEndpoint

logger = logging.getLogger("django_hubs.connection")


def message_size(data: str | bytes) -> int:
    """Bytes on the wire: UTF-8 for text, counted only when the text could be over a bound."""
    return len(data.encode("utf-8")) if isinstance(data, str) else len(data)


class RawConnection:
    """What the transports see of a raw connection; the handler sees it through ``RawTransport``."""

    #: No stateful reconnect: one socket for the connection's whole life.
    generation = 0
    stateful = None

    def __init__(
        self,
        endpoint: HandlerEndpoint,
        connection_id: str,
        scope: dict[str, Any],
        user: Any,
        transport: str,
        outbox: Outbox,
    ) -> None:
        self.endpoint = endpoint
        self.options = endpoint.options
        self.connection_id = connection_id
        self.scope = scope
        self.user = user
        self.user_identifier = endpoint.user_identifier(user)
        self.transport = transport
        self.outbox = outbox
        outbox.framed = True
        self.items: dict[Any, Any] = {}
        self.state = State.CONNECTED
        self.close_reason: BaseException | None = None
        self.expires_at = scope_expiry(scope)
        self.opened = False
        self.handler = endpoint.handler_class()
        self.handler.connection = self
        heartbeat.add(self)

    def __repr__(self) -> str:
        return f"<RawConnection {self.connection_id} {self.transport} {self.state.value}>"

    # --- the handler's calls, each guarded: a failing handler ends its connection only -----

    async def open(self) -> None:
        """The transport is connected: run ``on_connected`` (once)."""
        if self.opened or self.state is not State.CONNECTED:
            return
        self.opened = True
        logger.info(
            "connected %s handler=%s user=%s transport=%s",
            self.connection_id,
            self.endpoint.path,
            self.user_identifier,
            self.transport,
        )
        try:
            await self.handler.on_connected()
        except Exception as exc:
            logger.exception("on_connected failed for %s", self.connection_id)
            self._failed(exc)

    async def receive_message(self, data: str | bytes) -> None:
        """One transport message from the client, whole."""
        if self.state is not State.CONNECTED:
            return
        limit = self.options.max_message_size
        if limit is not None and (len(data) > limit or (isinstance(data, str) and len(data) * 4 > limit)):
            size = message_size(data)
            if size > limit:
                logger.warning(
                    "closing %s: a message of %d bytes, limit %d (HUBS_MAX_MESSAGE_SIZE)",
                    self.connection_id,
                    size,
                    limit,
                )
                self.close_reason = MessageTooLargeError(limit)
                self.close_nowait()
                return
        try:
            await self.handler.receive(data)
        except Exception as exc:
            logger.exception("receive failed for %s", self.connection_id)
            self._failed(exc)

    def _failed(self, exc: BaseException) -> None:
        # A WebSocket closes with 1000 all the same: daphne (autobahn) refuses 1011 from an application.
        self.close_reason = exc
        self.close_nowait()

    # --- output ------------------------------------------------------------------------

    def send(self, data: str | bytes) -> None:
        if isinstance(data, str):
            record: bytes = TextRecord(data.encode("utf-8"))
        elif isinstance(data, bytes | bytearray | memoryview):
            if self.transport == "ServerSentEvents":
                raise TypeError("Server-Sent Events carry text only: send a str, not bytes.")
            record = bytes(data)
        else:
            raise TypeError(f"send() takes str or bytes, not {type(data).__name__}.")
        if self.state is not State.CONNECTED:
            return  # closing: what the client will not get is no error, as for a hub's send
        try:
            self.outbox.put(record)
        except OutboxOverflow as exc:
            self._overflow(exc)

    def _overflow(self, exc: OutboxOverflow) -> None:
        logger.warning("closing %s: the client is not reading (%s)", self.connection_id, exc)
        self.close_reason = exc
        self.state = State.CLOSING
        self.outbox.abort()

    # --- closing -----------------------------------------------------------------------

    def close_nowait(self) -> None:
        """End the transport once what is queued is written."""
        if self.state is not State.CONNECTED:
            return
        self.state = State.CLOSING
        self.outbox.close()

    async def transport_closed(self, exception: BaseException | None = None) -> None:
        """The transport has ended: tell the handler. Safe to call more than once."""
        if self.state is State.CLOSED:
            return
        self.state = State.CLOSED
        self.outbox.close()
        heartbeat.discard(self)
        if exception is not None and self.close_reason is None:
            self.close_reason = exception
        if not self.opened:
            return
        reason = self.close_reason
        logger.info(
            "disconnected %s handler=%s user=%s%s",
            self.connection_id,
            self.endpoint.path,
            self.user_identifier,
            f" reason={errors.exception_name(reason)}" if reason is not None else "",
        )
        try:
            await self.handler.on_disconnected(reason)
        except Exception:
            logger.exception("on_disconnected failed for %s", self.connection_id)

    # --- driven by the heartbeat -------------------------------------------------------

    def tick(self, now: float, wall_now: float) -> None:
        options = self.options
        since = self.outbox.sending_since
        if since is not None and now - since > options.transport_send_timeout and not self.outbox.aborted:
            self._overflow(OutboxOverflow(f"a send did not complete within {options.transport_send_timeout:g} s"))
            return
        if self.state is not State.CONNECTED:
            return
        if self.expires_at is not None and options.close_on_token_expiry and wall_now >= self.expires_at:
            logger.info("closing %s: its access token expired", self.connection_id)
            self.close_reason = HubError("The access token expired.")
            self.close_nowait()

    @property
    def tick_interval(self) -> float:
        return max(0.05, min(1.0, self.options.transport_send_timeout / 4))

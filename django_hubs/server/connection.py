"""One hub connection: handshake, framing, keep-alive, close; the dispatcher does the rest.

A connection is fed bytes by its transport (``receive``) and writes whole records to
its :class:`~django_hubs.server.outbox.Outbox`; it knows nothing of sockets or HTTP.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from typing import TYPE_CHECKING, Any

from .. import errors
from ..clients import GroupManager, HubCallerClients
from ..conf import stateful_reconnect_total_buffer
from ..errors import HubError
from ..hub import HubCallerContext
from ..protocol import PROTOCOLS, HubProtocol
from ..protocol.errors import MessageTooLargeError, ProtocolError
from ..protocol.handshake import (
    HANDSHAKE_CANCELED,
    HANDSHAKE_SUCCESS,
    HANDSHAKE_UNEXPECTED,
    HandshakeFormatError,
    handshake_error,
    parse_handshake,
)
from ..protocol.messages import (
    PING_MESSAGE,
    TRACKABLE_TYPES,
    AckMessage,
    CloseMessage,
    HubMessage,
    Payload,
    SequenceMessage,
)
from .dispatcher import Dispatcher
from .heartbeat import heartbeat
from .outbox import Outbox, OutboxOverflow
from .stateful import MessageBuffer, budget

if TYPE_CHECKING:
    from .endpoints import HubEndpoint

logger = logging.getLogger("django_hubs.connection")

MAX_HANDSHAKE_VERSION = 2


def printable(text: str) -> str:
    """``text`` with control characters escaped, so client-chosen text cannot start a log line of its own."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


class State(enum.Enum):
    HANDSHAKING = "handshaking"
    CONNECTED = "connected"
    CLOSING = "closing"
    CLOSED = "closed"


class ClientTimeoutError(TimeoutError):
    def __init__(self) -> None:
        super().__init__("Client hasn't sent a message/ping within the configured HUBS_CLIENT_TIMEOUT.")


def scope_expiry(scope: dict[str, Any]) -> float | None:
    """The access token's expiry the authentication layer put in ``scope``, as a ``time.time()`` value."""
    expires_at: float | None = getattr(scope.get("user"), "token_expires_at", None) or scope.get(
        "hubs_token_expires_at"
    )
    return expires_at


class HubConnection:
    def __init__(
        self,
        endpoint: HubEndpoint,
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
        self.user_identifier = endpoint.hub_class.get_user_identifier(user)
        self.transport = transport
        self.outbox = outbox
        self.items: dict[Any, Any] = {}
        self.group_names: set[str] = set()
        self.protocol: HubProtocol | None = None
        self.state = State.HANDSHAKING
        #: Why the connection ended, for ``on_disconnected``; ``None`` for a clean close.
        self.close_reason: BaseException | None = None
        #: Token expiry as a ``time.time()`` value, set by the authentication layer.
        self.expires_at = scope_expiry(scope)
        self._buffer = bytearray()
        loop = asyncio.get_running_loop()
        self._loop = loop
        self.created = self.last_received = self.last_sent = loop.time()
        self.received_ping = False
        self.busy = False
        self.in_on_connected = False
        self.pings = transport != "LongPolling"
        #: Negotiate granted stateful reconnect; it is active once the handshake asks for version 2.
        self.allow_stateful = False
        self.stateful: MessageBuffer | None = None
        #: Whether a transport is attached; a stateful connection survives without one for a while.
        self.attached = True
        #: Bumped each time a new socket takes the connection over.
        self.generation = 0

        hub = endpoint.hub_class()
        hub.context = HubCallerContext(self)
        hub.clients = HubCallerClients(endpoint.lifetime, connection_id)
        hub.groups = GroupManager(endpoint.lifetime)
        self.hub = hub
        self.dispatcher = Dispatcher(self)
        #: The hub's counters (process-wide), held here so that sends after the close need no dispatcher.
        self.metrics = self.dispatcher.metrics
        heartbeat.add(self)

    def __repr__(self) -> str:
        return f"<HubConnection {self.connection_id} {self.transport} {self.state.value}>"

    @property
    def detailed_errors(self) -> bool:
        return self.options.detailed_errors

    # --- input ----------------------------------------------------------------------

    async def receive(self, data: bytes) -> None:
        """Bytes from the transport, in order; records may be split or batched freely."""
        if self.state is State.CLOSED or self.state is State.CLOSING:
            return
        self._buffer += data
        self.metrics.bytes_in += len(data)
        self.busy = True
        try:
            if self.state is State.HANDSHAKING and not await self._handshake():
                return
            if not self._buffer or self.protocol is None:
                return
            try:
                messages = self.protocol.parse(self._buffer, self.options.max_message_size)
            except ProtocolError as exc:
                for message in getattr(exc, "parsed", ()):
                    await self._dispatch(message)
                self.fail(exc)
                return
            for message in messages:
                await self._dispatch(message)
        except ProtocolError as exc:  # a bad Sequence
            self.fail(exc)
        finally:
            self.busy = False
            self.last_received = self._loop.time()

    async def _dispatch(self, message: HubMessage) -> None:
        buffer = self.stateful
        if buffer is not None:
            if message.type in TRACKABLE_TYPES:
                if not buffer.accept():
                    return  # already processed before the reconnect
            elif isinstance(message, AckMessage):
                for data in buffer.acknowledge(message.sequence_id, self._loop.time()):
                    self._write(data)
                return
            elif isinstance(message, SequenceMessage):
                buffer.restart_at(message.sequence_id)
                return
        await self.dispatcher.dispatch(message)

    async def _handshake(self) -> bool:
        max_size = self.options.max_message_size
        try:
            request = parse_handshake(self._buffer, max_size)
        except MessageTooLargeError:
            self._refuse_handshake(HANDSHAKE_CANCELED, "handshake larger than HUBS_MAX_MESSAGE_SIZE")
            return False
        except HandshakeFormatError as exc:
            text = errors.error_text(HANDSHAKE_UNEXPECTED, exc, self.detailed_errors)
            self._refuse_handshake(text, str(exc))
            return False
        if request is None:
            return False
        protocol = PROTOCOLS.get(request.protocol)
        if protocol is None or request.protocol not in self.options.protocols:
            self._refuse_handshake(f"The protocol '{request.protocol}' is not supported.")
            return False
        if request.version > MAX_HANDSHAKE_VERSION:
            self._refuse_handshake(
                f"The server does not support version {request.version} of the '{request.protocol}' protocol."
            )
            return False
        if protocol.binary and self.transport == "ServerSentEvents":
            self._refuse_handshake(
                f"Cannot use the '{request.protocol}' protocol on the current transport. "
                "The transport does not support 'Binary' transfer format."
            )
            return False
        self.protocol = protocol
        self.handshake_version = request.version
        if self.allow_stateful and request.version >= 2 and self.transport == "WebSockets":
            self.stateful = MessageBuffer(self.options.stateful_reconnect_buffer_size)
        self.outbox.binary = protocol.binary
        self.outbox.put(HANDSHAKE_SUCCESS)
        self.last_sent = self._loop.time()
        self.state = State.CONNECTED
        await self.endpoint.lifetime.add_connection(self)
        logger.info(
            "connected %s hub=%s user=%s transport=%s protocol=%s",
            self.connection_id,
            self.endpoint.path,
            self.user_identifier,
            self.transport,
            protocol.name,
        )
        self.in_on_connected = True
        try:
            await self.dispatcher.connected()  # the hub's on_connected, through the filters
        except Exception as exc:
            logger.exception("on_connected failed for %s", self.connection_id)
            self.close_reason = exc
            self.close_nowait(errors.error_text(errors.CONNECTION_ERROR, exc, self.detailed_errors))
            return False
        finally:
            self.in_on_connected = False
        return True

    def _refuse_handshake(self, text: str, reason: str | None = None) -> None:
        # The text names the client's protocol: escaped, so a newline in it cannot forge a log line.
        logger.info("handshake refused for %s: %s", self.connection_id, printable(reason or text))
        self.outbox.put(handshake_error(text))
        self.state = State.CLOSING
        self.outbox.close()

    # --- output ---------------------------------------------------------------------

    def send(self, message: HubMessage) -> None:
        """Encode and queue one message; encoding errors (unserialisable values) propagate."""
        if self.protocol is None:
            return
        self._put(self.protocol.encode(message), message.type in TRACKABLE_TYPES)

    def send_payload(self, payload: Payload) -> None:
        """Queue a message shared by many connections, encoded once per protocol."""
        protocol = self.protocol
        if protocol is None or self.state is not State.CONNECTED:
            return
        data = payload.encoded.get(protocol.name)
        if data is None:
            data = payload.encoded[protocol.name] = protocol.encode(payload.message)
        self._put(data, True)

    def _put(self, data: bytes, trackable: bool = False) -> None:
        buffer = self.stateful
        if buffer is not None and trackable:
            if not buffer.window_open:
                self._hold(buffer, data)
                return
            buffer.add(data)
        self._write(data)

    def _hold(self, buffer: MessageBuffer, data: bytes) -> None:
        """Backpressure: the peer has a window's worth unacknowledged; keep ``data`` for later, within bounds."""
        limit = self.options.max_outgoing_buffer
        if limit is not None and buffer.held_bytes + len(data) > limit:
            self._overflow(
                OutboxOverflow(
                    f"{buffer.held_bytes + len(data)} bytes waiting for acknowledgements, "
                    f"limit {limit} (HUBS_MAX_OUTGOING_BUFFER)"
                ),
                "the client is not acknowledging",
            )
            return
        total = stateful_reconnect_total_buffer()
        if budget.used + len(data) > total:
            self._overflow(
                OutboxOverflow(
                    f"the process holds {budget.used} bytes waiting for acknowledgements, "
                    f"limit {total} (HUBS_STATEFUL_RECONNECT_TOTAL_BUFFER)"
                ),
                "the client is not acknowledging",
            )
            return
        buffer.hold(data, self._loop.time())

    async def writable(self) -> None:
        """Wait while stateful reconnect holds messages for this peer: a producer (a stream) slows to its pace.

        Only the connection's own producers wait here, never a broadcast; a closing connection wakes them.
        """
        buffer = self.stateful
        if buffer is not None:
            await buffer.room.wait()

    def _write(self, data: bytes) -> None:
        if not self.attached:
            return  # kept in the stateful buffer until the client reconnects
        try:
            self.outbox.put(data)
        except OutboxOverflow as exc:
            self._overflow(exc)
            return
        self.last_sent = self._loop.time()
        metrics = self.metrics
        metrics.messages_out += 1
        metrics.bytes_out += len(data)

    def _overflow(self, exc: OutboxOverflow, why: str = "the client is not reading") -> None:
        logger.warning("closing %s: %s (%s)", self.connection_id, why, exc)
        self.close_reason = exc
        self.state = State.CLOSING
        self._end_stateful()
        self.outbox.abort()

    def _end_stateful(self) -> None:
        """No resume after this: what waited for acknowledgements is given back."""
        if self.stateful is not None:
            self.stateful.discard()
            self.stateful = None

    # --- stateful reconnect ----------------------------------------------------------

    def detach(self) -> None:
        """The socket dropped without a close: keep the connection for a reconnect."""
        self.attached = False
        self.outbox.close()
        logger.info("connection %s lost its socket; waiting for a stateful reconnect", self.connection_id)

    def resume(self, outbox: Outbox, expires_at: float | None = None) -> int:
        """A new socket takes over: Sequence first, then every unacknowledged message.

        ``expires_at`` is the expiry of the token the new socket authenticated with: the old
        token's no longer applies (a client reconnects with a fresh one).
        """
        assert self.stateful is not None and self.protocol is not None
        self.expires_at = expires_at
        self.outbox.close()
        self.generation += 1
        self.outbox = outbox
        outbox.binary = self.protocol.binary
        outbox.put(self.protocol.encode(SequenceMessage(self.stateful.replay_from())))
        for data in self.stateful.unacknowledged():
            outbox.put(data)
        self.attached = True
        self.last_sent = self.last_received = self._loop.time()
        if self.stateful.stalled_since is not None:
            self.stateful.stalled_since = self.last_sent  # the new socket gets the whole wait for an Ack
        logger.info("connection %s resumed (stateful reconnect)", self.connection_id)
        return self.generation

    # --- authentication refresh --------------------------------------------------------

    async def refresh_authentication(self, user: Any, expires_at: float | None) -> None:
        """A fresh token for the same user: the hub's hook first, then the new user and expiry.

        ``HUBS_CLOSE_ON_TOKEN_EXPIRY`` then closes the connection at ``expires_at``, not at the
        old token's expiry. The user identifier, and so user routing and groups, stay as they
        are; ``PermissionDenied`` from the hook leaves everything unchanged.
        """
        await self.hub.on_authentication_refreshed(self.user, user)
        self.user = user
        self.scope["user"] = user
        self.scope["hubs_token_expires_at"] = expires_at
        self.expires_at = expires_at

    # --- closing --------------------------------------------------------------------

    def close_nowait(self, error: str | None = None, allow_reconnect: bool = False) -> None:
        """Send a Close message and end the transport once it is written."""
        if self.state is State.CLOSING or self.state is State.CLOSED:
            return
        self._end_stateful()  # closing is final: no resume after this
        if self.protocol is not None and self.state is State.CONNECTED:
            self.send(CloseMessage(error, allow_reconnect))
        self.state = State.CLOSING
        self.outbox.close()

    async def close(self, error: str | None = None, allow_reconnect: bool = False) -> None:
        self.close_nowait(error, allow_reconnect)

    def fail(self, exc: BaseException) -> None:
        """End the connection after a protocol error or a timeout; the client may reconnect."""
        logger.warning("closing %s with an error: %s", self.connection_id, errors.describe(exc))
        self.close_reason = exc
        self.close_nowait(errors.error_text(errors.CONNECTION_ERROR, exc, self.detailed_errors), allow_reconnect=True)

    async def transport_closed(self, exception: BaseException | None = None) -> None:
        """The transport has ended: clean up and tell the hub. Safe to call more than once."""
        if self.state is State.CLOSED:
            return
        was_connected = self.protocol is not None and self.state is not State.HANDSHAKING
        self.state = State.CLOSED
        self._end_stateful()
        self.outbox.close()
        heartbeat.discard(self)
        if exception is not None and self.close_reason is None:
            self.close_reason = exception
        try:
            await self.dispatcher.shutdown()
            if not was_connected:
                return
            await self.endpoint.lifetime.remove_connection(self)
            reason = self.close_reason
            logger.info(
                "disconnected %s hub=%s user=%s%s",
                self.connection_id,
                self.endpoint.path,
                self.user_identifier,
                f" reason={errors.exception_name(reason)}" if reason is not None else "",
            )
            try:
                await self.dispatcher.disconnected(reason)  # the hub's on_disconnected, through the filters
            except Exception:
                logger.exception("on_disconnected failed for %s", self.connection_id)
        finally:
            self._release()

    def _release(self) -> None:
        """Drop this connection's references to its hub and dispatcher: both point back at it.

        Without the cycles a closed connection is freed by reference counting at once, not at
        the cyclic GC's next full pass, which Python 3.13 runs far later (issue #16). Late users
        keep working: a method still running holds the dispatcher, which holds this connection;
        a hub that user code kept still reads its context.
        """
        self.dispatcher.release()
        del self.hub, self.dispatcher

    # --- driven by the heartbeat ------------------------------------------------------

    def tick(self, now: float, wall_now: float) -> None:
        options = self.options
        if self.state is State.HANDSHAKING:
            if now - self.created > options.handshake_timeout:
                self._refuse_handshake(HANDSHAKE_CANCELED, "no handshake within HUBS_HANDSHAKE_TIMEOUT")
            return
        since = self.outbox.sending_since
        if since is not None and now - since > options.transport_send_timeout and not self.outbox.aborted:
            self._overflow(OutboxOverflow(f"a send did not complete within {options.transport_send_timeout:g} s"))
            return
        if self.state is not State.CONNECTED or not self.attached:
            return
        buffer = self.stateful
        if buffer is not None:
            if (ack := buffer.ack_due()) is not None:
                self._put(self.protocol.encode(AckMessage(ack)) if self.protocol else b"")
            stalled = buffer.stalled_since
            if stalled is not None and now - stalled > options.stateful_reconnect_ack_timeout:
                logger.warning(
                    "closing %s: the client did not acknowledge within %g s (HUBS_STATEFUL_RECONNECT_ACK_TIMEOUT); "
                    "%d bytes unacknowledged, %d waiting",
                    self.connection_id,
                    options.stateful_reconnect_ack_timeout,
                    buffer.buffered_bytes,
                    buffer.held_bytes,
                )
                self.close_reason = HubError("The client did not acknowledge messages in time.")
                self.close_nowait(allow_reconnect=True)
                return
        if self.expires_at is not None and options.close_on_token_expiry and wall_now >= self.expires_at:
            logger.info("closing %s: its access token expired", self.connection_id)
            self.close_reason = HubError("The access token expired.")
            self.close_nowait(allow_reconnect=True)
            return
        if self.pings:
            if self.received_ping and not self.busy and now - self.last_received > options.client_timeout:
                self.fail(ClientTimeoutError())
                return
            if now - self.last_sent >= options.keep_alive_interval:
                self._put(self.protocol.encode(PING_MESSAGE) if self.protocol else b"")

    @property
    def tick_interval(self) -> float:
        options = self.options
        shortest = min(
            options.keep_alive_interval / 2,
            options.client_timeout / 4,
            options.handshake_timeout / 4,
            options.stateful_reconnect_ack_timeout / 4,
        )
        return max(0.05, min(1.0, shortest))

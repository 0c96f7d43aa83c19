"""The WebSockets transport, as a plain ASGI application.

A Channels consumer would add a channel-layer subscription and a thread hop per
message (``aclose_old_connections``) that a hub connection does not need: delivery
goes through the in-process registry, and database connections are handled around
sync hub methods only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from ..server.authorization import is_authorized
from ..server.connection import HubConnection, State, scope_expiry
from ..server.endpoints import Endpoint, HandlerEndpoint, find_served
from ..server.outbox import Outbox, TextRecord
from ..server.raw import RawConnection
from ..server.scope import RAW_SEND, deny, query_value, scope_query, scope_user
from .manager import ConnectionRecord, manager, new_id

logger = logging.getLogger("django_hubs.transport")

Send = Any
Receive = Any


#: Records are batched into WebSocket messages of about this size: daphne never delivered
#: a 1 MB batch to the official JS client (a burst of 1,000 x 1 KB arrived as nothing).
MAX_BATCH = 64 * 1024


async def write(send: Send, outbox: Outbox) -> None:
    """Send everything the connection queues, one WebSocket message per batch, then close.

    The server's ``send`` may wait while its socket buffer is full (uvicorn does);
    ``sending_since`` lets the heartbeat see a send that never completes.
    """
    loop = asyncio.get_running_loop()
    try:
        while (data := await (outbox.take_one() if outbox.framed else outbox.take(MAX_BATCH))) is not None:
            outbox.sending_since = loop.time()
            if outbox.binary if not outbox.framed else not isinstance(data, TextRecord):
                await send({"type": "websocket.send", "bytes": data})
            else:
                await send({"type": "websocket.send", "text": data.decode("utf-8")})
            outbox.sending_since = None
        await send({"type": "websocket.close", "code": 1000})
    except Exception as exc:  # the socket is gone: the reader sees the disconnect
        logger.debug("websocket write ended: %r", exc)
        outbox.close()  # unless it waits for an invocation slot: this tells it (Dispatcher._take_slot)
    finally:
        outbox.sending_since = None


class Stop:
    """Ends a socket whose peer stopped reading: its writer is stuck and its reader waits.

    Cancelling the reader is safe only while it waits for the next event, never while
    the connection handles one; otherwise it stops before reading the next.
    """

    __slots__ = ("canceled_reader", "reader", "receiving", "requested", "writer")

    def __init__(self, reader: asyncio.Task[Any], writer: asyncio.Task[None]) -> None:
        self.reader = reader
        self.writer = writer
        self.receiving = False
        self.requested = False
        self.canceled_reader = False

    def __call__(self) -> None:
        if self.requested:
            return
        self.requested = True
        self.writer.cancel()
        if self.receiving:
            self.canceled_reader = True
            self.reader.cancel()


class WebSocketTransport:
    """Serves every hub listed in ``HUBS`` over WebSockets; other paths go to ``fallback``."""

    def __init__(self, fallback: Any = None) -> None:
        self.fallback = fallback

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        endpoint = find_served(path)
        if endpoint is None:
            if self.fallback is not None:
                return await self.fallback(scope, receive, send)
            await receive()
            await deny(scope, send, 404, "No hub at this path")
            return
        await self.serve(endpoint, scope, receive, send)

    async def serve(self, endpoint: Endpoint, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        event = await receive()
        if event["type"] != "websocket.connect":
            return
        if "WebSockets" not in endpoint.options.transports:
            await deny(scope, send, 404, "WebSockets transport not supported by this end point type")
            return
        user = scope_user(scope)
        if not await is_authorized(endpoint.authorization, user):
            logger.info("websocket refused on %s: unauthorized", endpoint.path)
            await deny(scope, send, 401, "Unauthorized")
            return

        token = query_value(scope_query(scope), "id")
        record: ConnectionRecord | None = None
        resuming: HubConnection | None = None
        if token:
            record = manager.get(token)
            if record is None or record.endpoint is not endpoint:
                await deny(scope, send, 404, "No Connection with that ID")
                return
            if record.transport not in (None, "WebSockets"):
                await deny(scope, send, 400, "Cannot change transports mid-connection")
                return
            if record.user_id != endpoint.user_identifier(user):
                logger.warning("websocket refused for %s: not the user who negotiated it", record.connection_id)
                await deny(scope, send, 403, "Forbidden")
                return
            existing = record.connection
            if (
                isinstance(existing, HubConnection)
                and existing.stateful is not None
                and existing.state is State.CONNECTED
            ):
                resuming = existing  # stateful reconnect: this socket replaces the old one
            elif record.active or existing is not None:
                await deny(scope, send, 409)
                return
            record.transport = "WebSockets"
            record.active += 1
            connection_id = record.connection_id
        else:
            connection_id = new_id()  # skipNegotiation: id and token are one, and nobody else knows it

        await send({"type": "websocket.accept"})
        outbox = Outbox(endpoint.options.max_outgoing_buffer)
        connection: HubConnection | RawConnection
        if resuming is not None:
            connection = resuming
            generation = connection.resume(outbox, scope_expiry(scope))
        elif isinstance(endpoint, HandlerEndpoint):
            connection = RawConnection(endpoint, connection_id, scope, user, "WebSockets", outbox)
            generation = 0
            if record is not None:
                record.connection = connection
        else:
            connection = HubConnection(endpoint, connection_id, scope, user, "WebSockets", outbox)
            connection.allow_stateful = record is not None and record.stateful
            generation = connection.generation
            if record is not None:
                record.connection = connection
        writer = asyncio.get_running_loop().create_task(write(scope.get(RAW_SEND, send), outbox))
        stop = outbox.on_abort = Stop(asyncio.current_task(), writer)  # type: ignore[arg-type]
        error: BaseException | None = None
        dropped = False
        try:
            if isinstance(connection, RawConnection):
                await connection.open()
            while not stop.requested:
                stop.receiving = True
                try:
                    event = await receive()
                finally:
                    stop.receiving = False
                kind = event["type"]
                if kind == "websocket.receive":
                    if connection.generation != generation:
                        break  # a newer socket took this connection over
                    data = event.get("bytes")
                    if isinstance(connection, RawConnection):
                        await connection.receive_message(data if data is not None else event.get("text") or "")
                        continue
                    if data is None:
                        data = (event.get("text") or "").encode("utf-8")
                    await connection.receive(data)
                elif kind == "websocket.disconnect":
                    code = event.get("code") or 1005  # daphne says None for a close without a status
                    dropped = code not in (1000, 1001)
                    if code not in (1000, 1001, 1005) and connection.state is State.CONNECTED:
                        error = ConnectionError(f"WebSocket closed with status code {code}.")
                    break
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not stop.canceled_reader or (task is not None and task.uncancel() > 0):
                error = ConnectionError("The server stopped the connection.")
                raise
            # Stopped by the outbox's abort: clean up below, then return normally.
        finally:
            outbox.close()
            if record is not None:
                record.active -= 1
                record.touch()
            if connection.generation != generation:
                pass  # replaced by a newer socket, which owns the connection now
            elif (
                dropped
                and isinstance(connection, HubConnection)
                and connection.stateful is not None
                and connection.state is State.CONNECTED
                and record
            ):
                connection.detach()  # the record's inactivity timeout disposes it if nobody comes back
            else:
                if record is not None:
                    manager.remove(record)
                await connection.transport_closed(error)
            if not writer.done():
                # Give the writer a moment to flush a final Close; then the socket is gone anyway.
                with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(writer, 1.0)
            if stop.requested and writer.cancelled():
                # Not flushed: the peer does not read. daphne drops the socket when the closing
                # handshake times out; uvicorn's send may wait for a buffer that never drains.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(send({"type": "websocket.close", "code": 1008}), 1.0)

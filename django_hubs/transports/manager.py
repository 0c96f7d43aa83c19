"""Negotiated connections of this process, looked up by their secret token.

A negotiated connection waits for a transport; one that no transport uses for
``HUBS_DISCONNECT_TIMEOUT`` seconds is disposed, as the official server reaps them.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..security.redaction import forget_connection_id, hide_connection_id
from ..server.heartbeat import heartbeat

if TYPE_CHECKING:
    from ..server.connection import HubConnection
    from ..server.endpoints import Endpoint
    from ..server.outbox import Outbox
    from ..server.raw import RawConnection

logger = logging.getLogger("django_hubs.connection")


def new_id() -> str:
    """16 random bytes, base64url without padding: 22 URL-safe characters."""
    return secrets.token_urlsafe(16)


@dataclass(eq=False)
class ConnectionRecord:
    endpoint: Endpoint
    connection_id: str
    token: str
    negotiate_version: int
    stateful: bool
    user_id: str | None
    last_seen: float
    transport: str | None = None
    connection: HubConnection | RawConnection | None = None
    outbox: Outbox | None = None
    #: Requests of this connection's transport now in flight (a poll, an SSE stream, a socket).
    active: int = 0
    #: Serialises POSTs, as the official server does.
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: Bytes POSTed before the transport started (signalrcore sends its handshake before the first poll).
    early_input: bytearray = field(default_factory=bytearray)
    #: The same for a raw connection, message by message.
    early_messages: list[str | bytes] = field(default_factory=list)
    #: Set to release the long poll now waiting, when a newer poll replaces it.
    current_poll: asyncio.Event | None = None

    def touch(self) -> None:
        self.last_seen = asyncio.get_running_loop().time()


class ConnectionManager:
    def __init__(self) -> None:
        self.records: dict[str, ConnectionRecord] = {}
        heartbeat.hooks.append(self.reap)

    def create(
        self, endpoint: Endpoint, negotiate_version: int, stateful: bool, user_id: str | None
    ) -> ConnectionRecord:
        connection_id = new_id()
        token = new_id() if negotiate_version >= 1 else connection_id
        record = ConnectionRecord(
            endpoint, connection_id, token, negotiate_version, stateful, user_id, asyncio.get_running_loop().time()
        )
        self.records[token] = record
        if token == connection_id:  # version 0: the id is the secret, and every log line names it
            hide_connection_id(connection_id)
        heartbeat.ensure_running()
        return record

    def get(self, token: str | None) -> ConnectionRecord | None:
        return self.records.get(token) if token else None

    def remove(self, record: ConnectionRecord) -> None:
        if self.records.get(record.token) is record:
            del self.records[record.token]
            if record.token == record.connection_id:
                forget_connection_id(record.connection_id)

    def reap(self, now: float, wall_now: float) -> None:
        for record in list(self.records.values()):
            if record.active or now - record.last_seen <= record.endpoint.options.disconnect_timeout:
                continue
            logger.info("disposing %s: no transport for HUBS_DISCONNECT_TIMEOUT", record.connection_id)
            self.remove(record)
            if record.connection is not None:
                record.connection.close_nowait()
                asyncio.get_running_loop().create_task(record.connection.transport_closed())
            elif record.outbox is not None:
                record.outbox.close()


manager = ConnectionManager()

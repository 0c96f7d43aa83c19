"""Long polling: each GET takes what the connection has buffered (spec section 2.3).

Between polls the connection is inactive; one that nobody polls for
``HUBS_DISCONNECT_TIMEOUT`` seconds is reaped by the connection manager. Long polling
has an inherent keep-alive, so the hub connection sends no pings on it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from django.http import HttpResponse

from ..server.connection import HubConnection
from ..server.raw import RawConnection
from .manager import ConnectionRecord, manager

logger = logging.getLogger("django_hubs.transport")

NO_CACHE = {
    "Cache-Control": "no-cache, no-store",
    "Pragma": "no-cache",
    "Expires": "Thu, 01 Jan 1970 00:00:00 GMT",
}


def no_cache(response: HttpResponse) -> HttpResponse:
    """Every long-poll answer, errors included, must never come from a cache."""
    for name, value in NO_CACHE.items():
        response[name] = value
    return response


def poll_response(status: int = 200, body: bytes = b"") -> HttpResponse:
    response = HttpResponse(body, status=status, content_type="application/octet-stream")
    response["Content-Length"] = str(len(body))
    return no_cache(response)


async def dispose(record: ConnectionRecord) -> None:
    """Forget the connection and end it; a poll still waiting answers 204."""
    manager.remove(record)
    if record.connection is not None:
        await record.connection.transport_closed()


async def poll(record: ConnectionRecord, connection: HubConnection | RawConnection) -> HttpResponse:
    """Wait up to ``HUBS_LONG_POLL_TIMEOUT`` for data; a newer poll releases this one with 204."""
    if record.current_poll is not None:
        record.current_poll.set()
    replaced = record.current_poll = asyncio.Event()
    record.active += 1
    outbox = connection.outbox
    try:
        if not outbox.size and not outbox.closed:
            await _first_of(outbox.wait(connection.options.long_poll_timeout), replaced.wait())
        if replaced.is_set():
            return poll_response(204)
        if outbox.size:
            return poll_response(200, outbox.take_nowait())
        if outbox.closed:
            logger.debug("long polling of %s ended: the connection is finished", record.connection_id)
            await dispose(record)
            return poll_response(204)
        return poll_response(200)
    finally:
        record.active -= 1
        record.touch()
        if record.current_poll is replaced:
            record.current_poll = None


async def _first_of(*waits: Coroutine[Any, Any, Any]) -> None:
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


async def terminate(record: ConnectionRecord) -> HttpResponse:
    """``DELETE``: the client stopped; end the connection without a Close message."""
    logger.debug("long polling of %s terminated by the client", record.connection_id)
    await dispose(record)
    return HttpResponse(status=202, content_type="text/plain")

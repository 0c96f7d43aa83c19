"""Server-Sent Events: the server-to-client half of the SSE transport (spec section 2.2).

The response is a Django ``StreamingHttpResponse`` over an async generator, so Django's
middleware (CORS, authentication) applies as to any view. When the client goes away,
Django cancels the generator; that ends the hub connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from django.http import StreamingHttpResponse

from ..server.connection import HubConnection
from ..server.raw import RawConnection
from .manager import ConnectionRecord, manager

logger = logging.getLogger("django_hubs.transport")

#: Sent first and at once: browsers (and Node's EventSource) fire ``open`` on the first bytes.
OPENING_COMMENT = b":\r\n"

#: Caching, compression and proxy buffering (nginx reads ``X-Accel-Buffering``) would hold events back.
HEADERS = {
    "Cache-Control": "no-cache,no-store",
    "Pragma": "no-cache",
    "Content-Encoding": "identity",
    "X-Accel-Buffering": "no",
}


def format_event(data: bytes) -> bytes:
    """One batch as one event: a ``data:`` line per LF-separated piece, then an empty line."""
    if not data:
        return b"\r\n"
    lines = []
    for line in data.split(b"\n"):
        if line.endswith(b"\r"):
            line = line[:-1]
        lines.append(b"data: " + line + b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


def event_stream(record: ConnectionRecord, connection: HubConnection | RawConnection) -> StreamingHttpResponse:
    connection.outbox.on_abort = lambda: _abandon(record, connection)
    response = StreamingHttpResponse(_events(record, connection), content_type="text/event-stream")
    for name, value in HEADERS.items():
        response[name] = value
    return response


#: Cleanups of abandoned streams, referenced until they finish.
_abandoning: set[asyncio.Task[None]] = set()


def _abandon(record: ConnectionRecord, connection: HubConnection | RawConnection) -> None:
    """The client stopped reading: end the hub connection now, not when the stream ends.

    The response stays blocked in the server's ``send`` until the client goes away; the
    connection must not wait for that.
    """
    manager.remove(record)
    task = asyncio.get_running_loop().create_task(connection.transport_closed())
    _abandoning.add(task)
    task.add_done_callback(_abandoning.discard)


async def _events(record: ConnectionRecord, connection: HubConnection | RawConnection) -> AsyncIterator[bytes]:
    # The stream counts as the connection's transport request only once it runs: a response
    # Django never starts sending leaves the record inactive, so the reaper disposes it.
    # A client closing its EventSource is a normal end, as on the official server: the JS
    # client's stop() does not even wait for its Close message to be posted first.
    # Each yield returns once the server has sent the event: ``sending_since`` lets the
    # heartbeat see a client that stopped reading (HUBS_TRANSPORT_SEND_TIMEOUT).
    outbox = connection.outbox
    loop = asyncio.get_running_loop()
    record.active += 1
    try:
        yield OPENING_COMMENT
        while (data := await (outbox.take_one() if outbox.framed else outbox.take())) is not None:
            outbox.sending_since = loop.time()
            yield format_event(data)
            outbox.sending_since = None
    except asyncio.CancelledError:
        logger.debug("event stream of %s closed by the client", record.connection_id)
        raise
    finally:
        outbox.sending_since = None
        record.active -= 1
        record.touch()
        manager.remove(record)
        await connection.transport_closed()

"""Requests to the hub path that are not WebSocket upgrades (spec sections 2.0 to 2.5).

``GET`` with ``Accept: text/event-stream`` opens Server-Sent Events, any other ``GET`` is a
long poll, ``POST`` carries client data for both, ``DELETE`` ends a long-polling
connection. These are async Django views, so Django's middleware (CORS, sessions,
authentication) runs for them as for the rest of the site.

Every request must come from the identity that negotiated the connection: the token in
``id`` alone does not let another user read or write it.
"""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from ..security.auth import authenticate
from ..server.authorization import is_authorized
from ..server.connection import HubConnection
from ..server.endpoints import Endpoint, HandlerEndpoint, find_served
from ..server.outbox import Outbox
from ..server.raw import RawConnection
from ..server.scope import query_value, request_user
from . import longpolling, sse
from .manager import ConnectionRecord, manager
from .negotiate import plain

logger = logging.getLogger("django_hubs.transport")

SSE = "ServerSentEvents"
LONG_POLLING = "LongPolling"

#: Bytes a connection may receive before its transport starts (the official server's
#: ``ApplicationMaxBufferSize``): enough for a handshake and a few messages.
EARLY_INPUT_LIMIT = 64 * 1024
#: POST bodies are fed to the connection in pieces of this size.
CHUNK_SIZE = 64 * 1024


@csrf_exempt
@authenticate
async def hub_endpoint(request: HttpRequest, hub_path: str) -> HttpResponse:
    endpoint = find_served(hub_path)
    if endpoint is None:
        return plain(404)
    if request.method == "GET":
        if "text/event-stream" in request.headers.get("Accept", "").lower():
            return await open_event_stream(request, endpoint)
        return longpolling.no_cache(await long_poll(request, endpoint))
    if request.method == "POST":
        return await send(request, endpoint)
    if request.method == "DELETE":
        return await terminate(request, endpoint)
    return plain(405, "Method not allowed")


# --- the requests -------------------------------------------------------------------


async def open_event_stream(request: HttpRequest, endpoint: Endpoint) -> HttpResponse:
    found = find_record(request, endpoint, SSE)
    if isinstance(found, HttpResponse):
        return found
    user, refused = await check_user(request, found)
    if refused is not None:
        return refused
    # No await from here on: two GETs racing for one connection cannot both pass.
    if found.transport not in (None, SSE):
        return plain(400, "Cannot change transports mid-connection")
    if found.connection is not None:
        return plain(409)
    connection = start(request, found, user, SSE)
    await begin(found, connection)
    return sse.event_stream(found, connection)


async def long_poll(request: HttpRequest, endpoint: Endpoint) -> HttpResponse:
    found = find_record(request, endpoint, LONG_POLLING)
    if isinstance(found, HttpResponse):
        return found
    user, refused = await check_user(request, found)
    if refused is not None:
        return refused
    if found.transport not in (None, LONG_POLLING):
        return plain(400, "Cannot change transports mid-connection")
    connection = found.connection
    if connection is None:
        # The first poll only starts the connection, and answers at once.
        connection = start(request, found, user, LONG_POLLING)
        await begin(found, connection)
        return longpolling.poll_response(200)
    expires_at = getattr(request, "hubs_token_expires_at", None)
    if expires_at is not None and (connection.expires_at is None or expires_at > connection.expires_at):
        # Each poll may carry a newer token; one the client got before a POST to /refresh never shortens it.
        connection.expires_at = expires_at
    return await longpolling.poll(found, connection)


async def send(request: HttpRequest, endpoint: Endpoint) -> HttpResponse:
    found = find_record(request, endpoint)
    if isinstance(found, HttpResponse):
        return found
    if found.transport == "WebSockets":
        return plain(405, "POST requests are not allowed for WebSocket connections.")
    _, refused = await check_user(request, found)
    if refused is not None:
        return refused
    async with found.send_lock:
        disposed = manager.get(found.token) is not found  # while this request waited for its turn
        if disposed:
            return no_connection(request)
        connection = found.connection
        if isinstance(found.endpoint, HandlerEndpoint):
            return await send_message(request, found, connection)
        if connection is None:
            body = request.read()
            if len(found.early_input) + len(body) > EARLY_INPUT_LIMIT:
                logger.warning("refused a send to %s: too much data before the transport", found.connection_id)
                return plain(413, "Too much data sent before the transport started.")
            found.early_input += body
        else:
            assert not isinstance(connection, RawConnection)  # only a hub's record gets here
            while chunk := request.read(CHUNK_SIZE):
                await connection.receive(chunk)
    return plain(200)


async def send_message(
    request: HttpRequest, record: ConnectionRecord, connection: HubConnection | RawConnection | None
) -> HttpResponse:
    """A POST to a raw connection: its body is one message (text if sent as text), under the send lock."""
    limit = record.endpoint.options.max_message_size
    body = request.read() if limit is None else request.read(limit + 1)
    data: str | bytes = body
    if record.transport == SSE or request.content_type.startswith("text/"):
        try:
            data = body.decode("utf-8")
        except UnicodeDecodeError:
            logger.warning("refused a send to %s: text that is not UTF-8", record.connection_id)
            return plain(400, "Text messages must be UTF-8.")
    if connection is None:
        if sum(map(len, record.early_messages)) + len(body) > EARLY_INPUT_LIMIT:
            logger.warning("refused a send to %s: too much data before the transport", record.connection_id)
            return plain(413, "Too much data sent before the transport started.")
        record.early_messages.append(data)
        return plain(200)
    assert isinstance(connection, RawConnection)
    await connection.receive_message(data)  # over the bound, it closes the connection
    if limit is not None and len(body) > limit:
        return plain(413, "The message is larger than HUBS_MAX_MESSAGE_SIZE.")
    return plain(200)


async def terminate(request: HttpRequest, endpoint: Endpoint) -> HttpResponse:
    found = find_record(request, endpoint)
    if isinstance(found, HttpResponse):
        return found
    if found.transport != LONG_POLLING:
        return plain(400, "Cannot terminate this connection using the DELETE endpoint.")
    _, refused = await check_user(request, found)
    if refused is not None:
        return refused
    return await longpolling.terminate(found)


# --- shared steps ---------------------------------------------------------------------


def find_record(
    request: HttpRequest, endpoint: Endpoint, transport: str | None = None
) -> ConnectionRecord | HttpResponse:
    """The negotiated connection named by ``id``, or the official server's refusal."""
    token = query_value(request.GET, "id")
    if not token:
        return plain(400, "Connection ID required")
    record = manager.get(token)
    if record is None or record.endpoint is not endpoint:
        return no_connection(request)
    if transport is not None and transport not in endpoint.options.transports:
        return plain(404, f"{transport} transport not supported by this end point type")
    return record


def no_connection(request: HttpRequest) -> HttpResponse:
    """The official server's 404 for an id without a connection, logged once, at DEBUG.

    A clean stop gets it routinely: the JS client posts its Close message without waiting and
    then closes its EventSource, or sends its long-polling DELETE after the last poll already
    ended the connection. Django's ``django.request`` would log each as a "Not Found" warning
    (twice where a root handler exists too), so the response is marked as logged.
    """
    logger.debug("%s %s: no connection with that id (it has ended, or never existed)", request.method, request.path)
    response = plain(404, "No Connection with that ID")
    response._has_been_logged = True  # read by django.utils.log.log_response
    return response


async def check_user(request: HttpRequest, record: ConnectionRecord) -> tuple[Any, HttpResponse | None]:
    """The request's user, and a refusal unless it may use the hub and negotiated this connection."""
    user = await request_user(request)
    endpoint = record.endpoint
    if not await is_authorized(endpoint.authorization, user):
        logger.info("%s refused for %s: unauthorized", request.method, record.connection_id)
        return user, plain(401)
    if endpoint.user_identifier(user) != record.user_id:
        logger.warning("%s refused for %s: not the user who negotiated it", request.method, record.connection_id)
        return user, plain(403, "Forbidden")
    return user, None


def start(request: HttpRequest, record: ConnectionRecord, user: Any, transport: str) -> HubConnection | RawConnection:
    """Bind the record to its transport and create the hub or raw connection (no await: see callers)."""
    endpoint = record.endpoint
    scope: dict[str, Any] = {**request.scope, "user": user}
    expires_at = getattr(request, "hubs_token_expires_at", None)
    if expires_at is not None:
        scope["hubs_token_expires_at"] = expires_at
    outbox = Outbox(endpoint.options.max_outgoing_buffer)
    connection: HubConnection | RawConnection
    if isinstance(endpoint, HandlerEndpoint):
        connection = RawConnection(endpoint, record.connection_id, scope, user, transport, outbox)
    else:
        connection = HubConnection(endpoint, record.connection_id, scope, user, transport, outbox)
    record.transport = transport
    record.connection = connection
    record.outbox = outbox
    record.touch()
    return connection


async def begin(record: ConnectionRecord, connection: HubConnection | RawConnection) -> None:
    """Hand the connection what was POSTed before its transport started, in order.

    A raw connection's handler learns of it first (``on_connected``).
    """
    async with record.send_lock:
        if isinstance(connection, RawConnection):
            await connection.open()
            messages, record.early_messages = record.early_messages, []
            for message in messages:
                await connection.receive_message(message)
            return
        if record.early_input:
            data = bytes(record.early_input)
            record.early_input.clear()
            await connection.receive(data)

"""``POST <hub>/refresh?id=<connectionToken>``: a fresh access token for a live connection (.NET 11).

With ``HUBS_AUTH_REFRESH`` on, negotiate tells the client how long its token lasts
(``tokenLifetimeSeconds``) and the client posts a new one here, in ``Authorization:
Bearer``, before it runs out: the connection takes the new token's user and expiry without
reconnecting, and ``HUBS_CLOSE_ON_TOKEN_EXPIRY`` closes it at the new expiry. The answers
are the official server's: ``200`` with ``{connectionId, refreshedAt, tokenLifetimeSeconds}``,
else ``{error, error_description}`` with ``refresh_disabled`` (404),
``missing_connection_token`` (400), ``connection_not_found`` (404) or ``invalid_token`` (401);
``405`` for any method but POST.

Stricter than the official server, which takes whatever user the request authenticates as:
the token must be a bearer token (a cookie is ambient authority a cross-site form could
send), its user must still pass the hub's ``@authorize`` requirements, and it must be the user
that negotiated the connection (``get_user_identifier``), or the answer is ``invalid_token``:
a connection token alone never lets another user take a connection over, the rule every
other hub request follows. The hub's ``on_authentication_refreshed`` may refuse too.
The connection token travels in the URL; only the connection id is ever logged.
"""

from __future__ import annotations

import datetime
import json
import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from ..security.auth import InvalidTokenError, authenticate_request
from ..server.authorization import is_authorized
from ..server.connection import HubConnection, State
from ..server.endpoints import find_endpoint
from ..server.scope import query_value
from .manager import manager
from .negotiate import plain, token_lifetime

logger = logging.getLogger("django_hubs.auth")


def json_response(status: int, body: dict[str, Any]) -> HttpResponse:
    return HttpResponse(json.dumps(body, separators=(",", ":")), status=status, content_type="application/json")


def refresh_error(status: int, error: str, description: str) -> HttpResponse:
    return json_response(status, {"error": error, "error_description": description})


def invalid_token(connection_id: str, description: str) -> HttpResponse:
    logger.warning("authentication refresh refused for %s: %s", connection_id, description)
    return refresh_error(401, "invalid_token", description)


@csrf_exempt
async def refresh(request: HttpRequest, hub_path: str) -> HttpResponse:
    endpoint = find_endpoint(hub_path)
    if endpoint is None:
        return plain(404)
    if request.method != "POST":
        return plain(405)
    if not endpoint.options.auth_refresh:
        return refresh_error(404, "refresh_disabled", "Auth refresh is not enabled for this endpoint.")
    token = query_value(request.GET, "id")
    if not token:
        return refresh_error(400, "missing_connection_token", "The 'id' query string parameter is required.")
    record = manager.get(token)
    if record is None or record.endpoint is not endpoint:
        return refresh_error(404, "connection_not_found", "No active connection with the specified ID.")
    connection_id = record.connection_id
    try:
        identity = await authenticate_request(request)
    except InvalidTokenError as exc:
        return invalid_token(connection_id, str(exc))
    if identity is None:
        return invalid_token(connection_id, "No access token was sent (Authorization: Bearer).")
    hub_class = endpoint.hub_class
    user = identity.user
    if not await is_authorized(hub_class.authorization, user):
        return invalid_token(connection_id, "The token's user may not use this hub.")
    if hub_class.get_user_identifier(user) != record.user_id:
        return invalid_token(connection_id, "The token is for another user than the connection's.")
    connection = record.connection
    # Only hubs are found above (find_endpoint): a raw connection handler's connection is never refreshed here.
    if isinstance(connection, HubConnection) and connection.state in (State.HANDSHAKING, State.CONNECTED):
        try:
            await connection.refresh_authentication(user, identity.expires_at)
        except PermissionDenied as exc:
            return invalid_token(connection_id, str(exc) or "The hub refused the refreshed identity.")
    # A connection whose transport has not started yet: that transport's request brings its own token.
    lifetime = token_lifetime(identity.expires_at)
    logger.info(
        "authentication refreshed for %s user=%s%s",
        connection_id,
        record.user_id,
        "" if lifetime is None else f" lifetime={lifetime}s",
    )
    body: dict[str, Any] = {
        "connectionId": connection_id,
        "refreshedAt": datetime.datetime.now(datetime.UTC).isoformat(),
    }
    if lifetime is not None:
        body["tokenLifetimeSeconds"] = lifetime
    return json_response(200, body)
